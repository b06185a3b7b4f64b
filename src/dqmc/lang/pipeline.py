"""The compile pipeline, in order: read → parse/validate → lower → resolve → check → (cross-file)
→ compiled.

Each stage collects all of its diagnostics; a file stops after the first stage with an error.
Generators only ever see the CompiledPolicy values this module returns.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.diagnostics import Diagnostic, has_errors, sorted_unique
from dqmc.lang.ir import nodes
from dqmc.lang.ir.canonical import content_hash
from dqmc.lang.ir.check import check_policy
from dqmc.lang.ir.resolve import ResolvedPolicy, resolve
from dqmc.lang.source import SourceFile, Span

if TYPE_CHECKING:  # the front ends load on first use (lower_source): a cold start skips Lark
    from dqmc.lang.frontend.shared_factors import Reader

DSL_SUFFIXES = (".dqm",)
YAML_SUFFIXES = (".yaml", ".yml")
# Files next to specs that are not specs: policy tests and earlier versions kept for history.
NOT_SPEC_SUFFIXES = (".tests.yaml", ".tests.yml")
MAX_SPEC_BYTES = 1 << 20  # 1 MiB: far above any real policy, well below what hurts the parser


@dataclass
class FileResult:
    """What compiling one spec file gave."""

    source: SourceFile | None
    path: str
    policy: nodes.Policy | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # the policy's references bound to their definitions (None when lowering failed); its
    # `policy` is `policy`
    resolved: ResolvedPolicy | None = None
    # the shared factor files the policy uses (`use factors`), as read: their diagnostics are
    # shown from them, and a build's cache records them as inputs
    shared: tuple[SourceFile, ...] = ()


@dataclass
class CompileResult:
    """What compiling a set of specs gave: per-file results, cross-file findings, the policies."""

    files: list[FileResult]
    diagnostics: list[Diagnostic]  # all, sorted and de-duplicated
    # one per policy id, in id order; empty when compiling found an error (verify_paths keeps
    # them when only verification did)
    compiled: list[CompiledPolicy]
    kept: list[FileResult] = field(default_factory=list)  # the earlier versions under history/

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)

    @property
    def sources(self) -> dict[str, SourceFile]:
        found = {s.path: s for f in (*self.files, *self.kept) for s in f.shared}
        found.update((f.path, f.source) for f in (*self.files, *self.kept)
                     if f.source is not None)
        return found

    @property
    def shared_files(self) -> list[SourceFile]:
        """Every shared factor file a compiled spec used, each once, by path."""
        found = {s.path: s for f in (*self.files, *self.kept) for s in f.shared}
        return [found[path] for path in sorted(found)]


def display_path(path: Path) -> str:
    """Paths in diagnostics and generated headers: relative to the working directory, posix."""
    try:
        return Path(os.path.relpath(path)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def is_spec(path: Path) -> bool:
    name = path.name
    if name.endswith(NOT_SPEC_SUFFIXES) or name.startswith("."):
        return False
    return name.endswith(DSL_SUFFIXES + YAML_SUFFIXES)


HISTORY_FOLDER = "history"  # beside the specs: <folder>/history/<policy-id>/<last day>.dqm


def history_folder(spec: Path) -> Path:
    """Where a spec's kept earlier versions live: compiled with it, they decide the claims of
    their days (docs/semantics.md §2.7), and `dqmc diff` explains the revisions between them."""
    return spec.parent / HISTORY_FOLDER


def kept_version_files(specs: Iterable[Path]) -> list[Path]:
    """Every spec file kept under the history folders of these specs, sorted."""
    found: set[Path] = set()
    for folder in {history_folder(spec) for spec in specs}:
        if folder.is_dir():
            found.update(p for p in folder.rglob("*") if p.is_file() and is_spec(p))
    return sorted(found)


def discover(paths: Sequence[str | Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Spec files under the given files and folders, sorted, each once.

    Folders are searched one level deep: earlier versions under `history/` and test data in
    subfolders are not policies of the plan.
    """
    found: set[Path] = set()
    problems: list[Diagnostic] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.update(p for p in path.iterdir() if p.is_file() and is_spec(p))
        elif path.is_file():
            if path.name.endswith(DSL_SUFFIXES + YAML_SUFFIXES):
                found.add(path)
            else:
                problems.append(Diagnostic(
                    "io.unknown-kind",
                    f"{path.name} is not a spec: name DSL specs *.dqm and YAML specs *.yaml",
                    Span.point(display_path(path), 1, 1)))
        else:
            problems.append(Diagnostic("io.read", f"no such file or folder: {raw}",
                                       Span.point(str(raw), 1, 1)))
    return sorted(found, key=lambda p: p.as_posix()), problems


def read_source(path: Path, *, max_bytes: int = MAX_SPEC_BYTES
                ) -> tuple[SourceFile | None, list[Diagnostic]]:
    shown = display_path(path)
    here = Span.point(shown, 1, 1)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return None, [Diagnostic("io.too-large",
                                     f"the file has {size} bytes; specs are limited to {max_bytes}",
                                     here)]
        data = path.read_bytes()
    except OSError as exc:
        return None, [Diagnostic("io.read", f"cannot read the file: {exc.strerror or exc}", here)]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Diagnostic("io.encoding",
                                 f"the file is not UTF-8 (byte {exc.start}); save it as UTF-8",
                                 here)]
    if text.startswith("\ufeff"):
        text = text[1:]
    # One newline convention, so columns and the carets under them are the same on every OS.
    return SourceFile(shown, text.replace("\r\n", "\n").replace("\r", "\n")), []


def lower_source(source: SourceFile) -> tuple[nodes.Policy | None, list[Diagnostic]]:
    """Parse and lower one spec by its kind; no semantic checks."""
    if source.path.endswith(DSL_SUFFIXES):
        from dqmc.lang.frontend.dsl_lower import lower_dsl

        return lower_dsl(source)
    from dqmc.lang.frontend.yaml_lower import lower_yaml

    return lower_yaml(source)


def no_policy(spec: str) -> str:
    """Why a command that needs a policy refuses a spec that compiled clean to none."""
    return f"{spec} holds no policy (a shared factor file?): give the spec of a policy"


def folder_reader(spec_path: str) -> Reader:
    """Reads the shared files a spec uses from the file system, relative to the spec's folder."""
    folder = Path(spec_path).parent

    def read(relative: str) -> tuple[SourceFile | None, list[Diagnostic]]:
        path = folder / relative
        try:
            if not path.is_file():
                return None, []
        except (OSError, ValueError):  # a name too long, or with a NUL: no such file either
            return None, []
        return read_source(path)

    return read


def compile_source(source: SourceFile, read: Reader | None = None) -> FileResult:
    """Lower, resolve and check one spec; the policy is None when lowering failed.

    `read`: how to read the shared factor files the spec uses (`folder_reader` of its path
    unless given: `dqmc diff --against` reads them at a git revision)."""
    from dqmc.lang.frontend.shared_factors import (
        is_factors_file,
        load_factors_file,
        use_shared_factors,
    )

    if is_factors_file(source):
        # A shared factor file checked on its own (`dqmc check policy_specs/shared/`): no policy.
        return FileResult(source, source.path, None, list(load_factors_file(source).diagnostics))
    lowered, diagnostics = lower_source(source)
    if lowered is None:
        return FileResult(source, source.path, None, diagnostics)
    lowered, found, shared = use_shared_factors(lowered, read or folder_reader(source.path))
    diagnostics = diagnostics + found
    # Resolved even when lowering reported errors, so an editor can navigate a broken spec;
    # its findings and the checks' only for a spec that lowered cleanly.
    resolved, unresolved = resolve(lowered)
    if has_errors(diagnostics):
        return FileResult(source, source.path, resolved.policy, diagnostics, resolved,
                          tuple(shared))
    diagnostics = diagnostics + unresolved + check_policy(resolved.policy)
    return FileResult(source, source.path, resolved.policy, diagnostics, resolved, tuple(shared))


def compile_text(path: str, text: str, read: Reader | None = None) -> FileResult:
    """Compile spec text held in memory (editors, tests); `path` decides DSL or YAML and where
    the shared files it uses are read from (unless `read` says how)."""
    return compile_source(SourceFile(path, text), read)


def compile_file(path: Path) -> FileResult:
    """Read, lower and check one spec file (pure: the same file gives the same result)."""
    source, read_problems = read_source(path)
    if source is None:
        return FileResult(None, display_path(path), None, read_problems)
    return compile_source(source)


def compile_paths(paths: Sequence[str | Path]) -> CompileResult:
    from dqmc.lang.parallel import ordered_map

    spec_paths, problems = discover(paths)
    files = ordered_map(compile_file, spec_paths)
    cross, compiled = link([f for f in files
                            if f.policy is not None and not has_errors(f.diagnostics)])
    versioned, kept, dated = attach_versions(compiled)
    diagnostics = sorted_unique(problems + cross + dated
                                + [d for f in (*files, *kept) for d in f.diagnostics])
    compiled = versioned
    if has_errors(diagnostics):
        compiled = []
    return CompileResult(files, diagnostics, compiled, kept)


def verify_paths(paths: Sequence[str | Path]) -> CompileResult:
    """`compile_paths`, then the claim-space analysis of every policy that compiled
    (lang/verify/claim_space.py): its findings join the diagnostics. The compiled policies are
    kept even when verification finds holes, so `dqmc verify --examples` can show their claims."""
    from dqmc.lang.verify.claim_space import verify_policy

    result = compile_paths(paths)
    found = [d for item in result.compiled for d in verify_policy(item.policy)]
    if not found:
        return result
    return CompileResult(result.files, sorted_unique(result.diagnostics + found),
                         result.compiled, result.kept)


def link(files: Iterable[FileResult]) -> tuple[list[Diagnostic], list[CompiledPolicy]]:
    """Cross-file checks: one policy per id (twin YAML/DSL spellings must agree), one owner per
    product."""
    problems: list[Diagnostic] = []
    by_id: dict[str, list[FileResult]] = {}
    for result in files:
        assert result.policy is not None
        by_id.setdefault(result.policy.id, []).append(result)
    compiled: list[CompiledPolicy] = []
    for policy_id in sorted(by_id):
        group = sorted(by_id[policy_id], key=_twin_order)
        primary = group[0]
        assert primary.policy is not None
        for other in group[1:]:
            assert other.policy is not None
            same_kind = Path(other.path).suffix == Path(primary.path).suffix
            if same_kind:
                problems.append(Diagnostic(
                    "policy.duplicate-id",
                    f"policy '{policy_id}' is also defined in {primary.path}; "
                    "policy ids are unique",
                    other.policy.span))
            elif other.policy != primary.policy:
                problems.append(Diagnostic(
                    "policy.twin-mismatch",
                    f"{other.path} and {primary.path} both spell policy '{policy_id}' but say "
                    "different things; run `dqmc convert` from the one that is right",
                    other.policy.span))
        compiled.append(CompiledPolicy(primary.policy, primary.path, content_hash(primary.policy)))
    problems += _check_product_owners(compiled)
    problems += _check_one_fallback(compiled)
    return problems, compiled


def _twin_order(result: FileResult) -> tuple[int, str]:
    # The DSL spelling is the primary source of twins: its spans go into traces and headers.
    return (0 if result.path.endswith(DSL_SUFFIXES) else 1, result.path)


def _check_one_fallback(compiled: list[CompiledPolicy]) -> list[Diagnostic]:
    """A request routed to "the" fallback guideline must find exactly one."""
    fallbacks = [c.policy for c in compiled if c.policy.fallback]
    return [Diagnostic("policy.second-fallback",
                       f"policy '{policy.id}' applies to any product without its own criteria, "
                       f"as policy '{fallbacks[0].id}' already does; a request could not say "
                       "which reviews it: keep one", policy.span)
            for policy in fallbacks[1:]]


def _check_product_owners(compiled: list[CompiledPolicy]) -> list[Diagnostic]:
    """A product id or NDC decides which policy's evaluator runs; two owners is ambiguous."""
    problems: list[Diagnostic] = []
    owner: dict[str, str] = {}
    for item in compiled:
        for product in item.policy.products:
            keys = [product.id, *product.ndcs, *(n for pk in product.packages for n in pk.ndcs)]
            for key in keys:
                previous = owner.setdefault(key, item.policy.id)
                if previous != item.policy.id:
                    problems.append(Diagnostic(
                        "product.in-two-policies",
                        f"'{key}' of product '{product.id}' is already covered by policy "
                        f"'{previous}'; a claim must match one policy", product.span))
    return problems


# -- effective-dated versions ---------------------------------------------------------------------


def attach_versions(compiled: Sequence[CompiledPolicy]
                    ) -> tuple[list[CompiledPolicy], list[FileResult], list[Diagnostic]]:
    """Each policy with its kept earlier versions (`history/<policy-id>/<last day>.dqm|yaml`
    beside its spec), compiled and dated; the kept files' results; what is wrong with the dates.

    A kept version is in force through the day its file is named by, from its `effective_date`
    or else the day after the version before it (the first, without one, has no start); the live
    spec from its `effective_date` or else the day after the latest kept version. Versions must
    be one policy id and leave no day with two versions or, between the first and the live one,
    none (docs/semantics.md §2.7).
    """
    out: list[CompiledPolicy] = []
    files: list[FileResult] = []
    problems: list[Diagnostic] = []
    for item in compiled:
        kept, results, found = kept_versions(
            item.policy.id, history_folder(Path(item.source)) / item.policy.id)
        files += results
        problems += found
        if not kept:
            out.append(item)
            continue
        dated: list[CompiledPolicy] = []
        for version in kept:
            before = dated[-1].last_day if dated else None
            assert version.last_day is not None
            dated.append(replace(version, starts=None if before is None
                                 else before + dt.timedelta(days=1)))
            problems += _dating_problems(dated[-1], before, dated[-2] if len(dated) > 1 else None)
            if version.first_day is not None and version.first_day > version.last_day:
                problems.append(Diagnostic(
                    "version.empty",
                    f"this version takes effect on {version.first_day.isoformat()}, after "
                    f"{version.last_day.isoformat()}, the last day its file name says it was in "
                    "force: fix the effective date or the file name", version.policy.span))
        latest = dated[-1].last_day
        assert latest is not None
        live = replace(item, earlier=tuple(dated), starts=latest + dt.timedelta(days=1))
        problems += _dating_problems(live, latest, dated[-1])
        out.append(live)
    return out, files, problems


def _dating_problems(version: CompiledPolicy, before: dt.date | None,
                     previous: CompiledPolicy | None) -> list[Diagnostic]:
    """An effective date that overlaps the previous version or leaves a gap after it."""
    effective = version.policy.effective_date
    if effective is None or before is None or previous is None:
        return []
    if effective <= before:
        return [Diagnostic(
            "version.overlap",
            f"this version takes effect on {effective.isoformat()}, but {previous.source} is in "
            f"force through {before.isoformat()}: two versions would decide the claims of "
            f"{effective.isoformat()}..{before.isoformat()}; take effect on "
            f"{(before + dt.timedelta(days=1)).isoformat()} or rename the earlier version's file",
            version.policy.span)]
    if effective > before + dt.timedelta(days=1):
        return [Diagnostic(
            "version.gap",
            f"this version takes effect on {effective.isoformat()}, but {previous.source} is in "
            f"force only through {before.isoformat()}: no version would decide the claims of "
            f"{(before + dt.timedelta(days=1)).isoformat()}.."
            f"{(effective - dt.timedelta(days=1)).isoformat()}; take effect on "
            f"{(before + dt.timedelta(days=1)).isoformat()} or rename the earlier version's file",
            version.policy.span)]
    return []


def kept_versions(policy_id: str, folder: Path
                  ) -> tuple[list[CompiledPolicy], list[FileResult], list[Diagnostic]]:
    """The versions of a policy kept in `folder`, oldest first, each with its last day (from its
    file name), not yet dated against each other; each file's result; what is wrong with them."""
    if not folder.is_dir():
        return [], [], []
    kept: dict[dt.date, CompiledPolicy] = {}
    results: list[FileResult] = []
    problems: list[Diagnostic] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and is_spec(p)):
        here = Span.point(display_path(path), 1, 1)
        try:
            last_day = dt.date.fromisoformat(path.name.split(".", 1)[0])
        except ValueError:
            problems.append(Diagnostic("io.unknown-kind", f"{path.name}: name earlier versions "
                                       "by the last day they were in force, e.g. 2025-11-11.dqm",
                                       here))
            continue
        result = compile_file(path)
        results.append(result)
        if result.policy is None or has_errors(result.diagnostics):
            continue
        if result.policy.id != policy_id:
            problems.append(Diagnostic(
                "policy.duplicate-id", f"{path.name} is policy '{result.policy.id}', not "
                f"'{policy_id}': every version kept under history/{policy_id}/ must be that "
                "policy", here))
            continue
        if last_day in kept:
            problems.append(Diagnostic(
                "version.overlap", f"{kept[last_day].source} is already the version in force "
                f"through {last_day.isoformat()}: keep one file per version", here))
            continue
        # A kept version says what was in force: factors taken from a shared file would change
        # with the file, and with them the decisions of claims already dated in its days.
        shared = [t for t in result.policy.factor_tables if t.origin is not None]
        if shared:
            problems += [Diagnostic(
                "version.shared-factors",
                f"a kept version must state its factor table '{t.id}' itself, as it was while "
                f"the version was in force: \"{t.origin}\" may change since, and would change "
                "the decisions of claims dated then; write the table here in place of the "
                "`use` line", t.span) for t in shared]
            continue
        kept[last_day] = CompiledPolicy(result.policy, result.path,
                                        content_hash(result.policy), last_day=last_day)
    return [kept[day] for day in sorted(kept)], results, problems
