"""One `dqmc build` (or `--check`) from spec paths to a `BuildResult`: what happened, in words.

The command line prints the result and exits with its code; the watcher and tests call `run`
directly. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dqmc import __version__
from dqmc.build import cache as build_cache
from dqmc.build.tree import BuildError, Staleness, artifacts, compare, load_histories, write_tree
from dqmc.build.wheel import write_wheel
from dqmc.codegen.docs_emit import DOCS_CONFIG_FILE, docs_config_diagnostics, resolve_docs_config
from dqmc.lang.diagnostics import Diagnostic, Severity, summary
from dqmc.lang.pipeline import compile_paths
from dqmc.lang.source import SourceFile

EXIT_OK, EXIT_ERRORS = 0, 1

# How a written build names each kind of difference it resolved (`--check` names the kind).
_WRITTEN_LABELS = {"stale": "updated", "missing": "created", "orphaned": "removed"}


@dataclass(frozen=True)
class BuildResult:
    """The outcome of one build: the diagnostics to show, the lines to print, the exit code."""

    exit_code: int
    lines: tuple[str, ...]  # for standard output, in order
    diagnostics: tuple[Diagnostic, ...] = ()  # for standard error: warnings, or the errors
    sources: Mapping[str, SourceFile] = field(default_factory=dict)
    error_lines: tuple[str, ...] = ()  # for standard error, after the diagnostics


def run(paths: Sequence[str], out_dir: Path, *, check: bool = False, use_cache: bool = True,
        docs_config: Path | None = None, wheel_dir: Path | None = None) -> BuildResult:
    """Compile `paths`, then write `out_dir` atomically (or, with `check`, compare it).

    `docs_config`: the documents' settings file; None reads docs.config.yaml when it exists.
    `wheel_dir`: also pack the evaluator package as a wheel there (never into `out_dir`).

    Raises `dqmc.codegen.docs_emit.DocsConfigError` for an unusable documents' settings file (a
    usage error) and RuntimeError when a generator produced something unusable (a compiler bug).
    """
    # Taken before compiling: an input edited during the build must not look recorded.
    key = build_cache.current_key(paths, out_dir, docs_config or Path(DOCS_CONFIG_FILE))
    if check and use_cache and wheel_dir is None and build_cache.known_up_to_date(key, out_dir):
        return BuildResult(EXIT_OK, (f"{out_dir}/ is up to date (specs, compiler and files "
                                     f"unchanged since the last build; --no-cache compiles "
                                     f"anyway)",))
    result = compile_paths(paths)
    if not result.ok:
        return BuildResult(EXIT_ERRORS, (), tuple(result.diagnostics), result.sources,
                           (f"{summary(result.diagnostics, len(result.files))}; "
                            f"{out_dir}/ left untouched",))
    # Notes are for `dqmc check`; a build only repeats what needs attention.
    shown = [d for d in result.diagnostics if d.severity is Severity.WARNING]
    shown += docs_config_diagnostics(resolve_docs_config(docs_config))
    try:
        outputs = artifacts(result.compiled, histories=load_histories(result.compiled),
                            docs_config=docs_config)
    except BuildError as exc:
        raise RuntimeError(str(exc)) from exc
    packed = () if wheel_dir is None else (
        f"wheel: {write_wheel(outputs, wheel_dir, version=__version__).as_posix()}",)
    if check:
        staleness = compare(outputs, out_dir)
        if staleness.clean:
            build_cache.remember(key, outputs, result.shared_files)
            return BuildResult(EXIT_OK, (*packed,
                                         f"{out_dir}/ is up to date ({len(outputs)} files)"),
                               tuple(shown), result.sources)
        return BuildResult(EXIT_ERRORS, (*staleness.lines(out_dir),
                                         f"{out_dir}/ is out of date: run `dqmc build`"),
                           tuple(shown), result.sources)
    changes = write_tree(outputs, out_dir)
    build_cache.remember(key, outputs, result.shared_files)
    return BuildResult(EXIT_OK, (*changes.lines(out_dir, _WRITTEN_LABELS), *packed,
                                 _built_line(len(result.compiled), out_dir, changes, len(outputs))),
                       tuple(shown), result.sources)


def _built_line(policies: int, out_dir: Path, changes: Staleness, files: int) -> str:
    changed = len(changes.stale) + len(changes.missing) + len(changes.orphaned)
    return (f"built {policies} polic{'y' if policies == 1 else 'ies'} into {out_dir}/: "
            f"{changed} file{'s' * (changed != 1)} changed, {files} in all")
