"""`dqmc fmt`: DSL spec files → canonical DSL text, written only when it provably means the same."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from dqmc.lang.diagnostics import Diagnostic, has_errors, render_all, sorted_unique
from dqmc.lang.frontend.dsl_lower import lower_dsl, lower_factors_file
from dqmc.lang.frontend.shared_factors import is_factors_file
from dqmc.lang.ir import nodes
from dqmc.lang.ir.canonical import canonical_json
from dqmc.lang.printers.dsl_fragments import PrintError
from dqmc.lang.printers.dsl_print import (
    Comment,
    collect_comments,
    print_factors_file,
    print_policy,
    read_layout,
)
from dqmc.lang.source import SourceFile, Span

DSL_SUFFIX = ".dqm"


class InternalFormatError(RuntimeError):
    """The printer produced text that would change the policy or lose a comment (a dqmc bug)."""


def format_source(source: SourceFile) -> tuple[str | None, list[Diagnostic]]:
    """The canonical text of a DSL spec, or None and the diagnostics when it does not lower.

    Canonical but for what the IR does not record and the author chose: the comments, and how
    conditions are laid out (line breaks that fit, grouping parentheses; see `read_layout`).
    Before returning, the printed text is lowered again: it must give an equal IR and keep
    every comment. If not, InternalFormatError is raised and nothing should be written.
    """
    if is_factors_file(source):
        return _format_factors_file(source)
    policy, diagnostics = lower_dsl(source)
    if policy is None or has_errors(diagnostics):
        return None, diagnostics
    layout = read_layout(source)
    comments = layout.comments
    try:
        text = print_policy(policy, comments, conditions=layout.conditions)
    except PrintError as exc:
        raise InternalFormatError(f"the policy cannot be printed: {exc}") from exc
    _check_printed(SourceFile(source.path, text), policy, comments, "start")
    return text, diagnostics


def _format_factors_file(source: SourceFile) -> tuple[str | None, list[Diagnostic]]:
    """`format_source` for a shared factor file: its tables must lower equal again."""
    tables, diagnostics = lower_factors_file(source)
    if tables is None or has_errors(diagnostics):
        return None, diagnostics
    comments = read_layout(source, "factors_file").comments
    try:
        text = print_factors_file(tables, comments)
    except PrintError as exc:
        raise InternalFormatError(f"the factor file cannot be printed: {exc}") from exc
    _check_printed(SourceFile(source.path, text), tables, comments, "factors_file")
    return text, diagnostics


def _check_printed(printed: SourceFile, meant: nodes.Policy | tuple[nodes.FactorTable, ...],
                   comments: Sequence[Comment], start_rule: str) -> None:
    """Raise InternalFormatError unless the printed text lowers to what the source meant (a
    policy, or a shared file's tables) and keeps every comment of the source."""
    again: nodes.Policy | tuple[nodes.FactorTable, ...] | None
    if isinstance(meant, nodes.Policy):
        again, found = lower_dsl(printed)
    else:
        again, found = lower_factors_file(printed)
    if again is None or has_errors(found):
        first = found[0].concise() if found else "nothing"
        raise InternalFormatError(f"the formatted text does not lower: {first}")
    if again != meant:
        if isinstance(meant, nodes.Policy) and isinstance(again, nodes.Policy):
            raise InternalFormatError(
                "the formatted text lowers to a different policy:\n"
                + _first_difference(canonical_json(meant), canonical_json(again)))
        raise InternalFormatError("the formatted text lowers to different factor tables")
    kept = Counter(c.text for c in collect_comments(printed, start_rule))
    if kept != Counter(c.text for c in comments):
        raise InternalFormatError("the formatted text would lose or duplicate a comment")


def _first_difference(before: str, after: str) -> str:
    for old, new in zip(before.splitlines(), after.splitlines(), strict=False):
        if old != new:
            return f"  was: {old.strip()}\n  now: {new.strip()}"
    return "  (the canonical JSON differs in length)"


@dataclass
class FormatReport:
    """What `format_paths` did: files changed (or, with check, that would change), and why not."""

    check: bool = False
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)  # files left untouched
    internal_errors: list[str] = field(default_factory=list)  # "path: what went wrong"
    sources: dict[str, SourceFile] = field(default_factory=dict)  # to render diagnostics

    @property
    def exit_code(self) -> int:
        """2 internal error, 1 diagnostics or (with check) files to reformat, else 0."""
        if self.internal_errors:
            return 2
        if has_errors(self.diagnostics) or (self.check and self.changed):
            return 1
        return 0


def dsl_files(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[Diagnostic]]:
    """The `.dqm` files named or found under the named folders, in sorted order."""
    files: list[Path] = []
    diagnostics: list[Diagnostic] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*" + DSL_SUFFIX) if p.is_file()))
        elif not path.exists():
            diagnostics.append(Diagnostic("io.read", f"no such file or folder: {path}",
                                          Span.point(str(path), 1, 1)))
        elif path.suffix != DSL_SUFFIX:
            diagnostics.append(Diagnostic(
                "io.unknown-kind", f"fmt formats DSL specs (*{DSL_SUFFIX}); {path} is not one",
                Span.point(str(path), 1, 1)))
        else:
            files.append(path)
    return files, diagnostics


def format_files(paths: Iterable[str | os.PathLike[str]], *, check: bool) -> FormatReport:
    """Format DSL files in place; with `check`, write nothing and only report what would change.

    A file that does not lower, or that the formatter cannot reproduce faithfully, is left
    untouched. A file is written only when its text changes, atomically (no half-written spec).
    """
    files, diagnostics = dsl_files(paths)
    report = FormatReport(check=check, diagnostics=diagnostics)
    for path in files:
        name = str(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            report.diagnostics.append(Diagnostic(
                "io.encoding", f"not valid UTF-8 at byte {exc.start}", Span.point(name, 1, 1)))
            continue
        except OSError as exc:
            report.diagnostics.append(Diagnostic("io.read", f"cannot read: {exc.strerror}",
                                                 Span.point(name, 1, 1)))
            continue
        source = SourceFile(name, text)
        report.sources[name] = source
        try:
            formatted, file_diagnostics = format_source(source)
        except InternalFormatError as exc:
            report.internal_errors.append(f"{name}: {exc}")
            continue
        report.diagnostics.extend(file_diagnostics)
        if formatted is None:
            continue
        if formatted == text:
            report.unchanged.append(name)
            continue
        report.changed.append(name)
        if not check:
            _write_atomically(path, formatted)
    return report


def _write_atomically(path: Path, text: str) -> None:
    # A temporary file in the same folder, renamed over the spec: readers see old or new text,
    # never half of it.
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        shutil.copymode(path, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def format_paths(paths: Iterable[str | os.PathLike[str]], *, check: bool,
                 out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`dqmc fmt [--check] PATH...`: format (or check) the files, say what happened, exit code.

    Stdout names each file reformatted (with check: each that would be) and a summary; stderr
    has the diagnostics of files left untouched and any internal error.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    report = format_files(paths, check=check)
    if report.diagnostics:
        print(render_all(sorted_unique(report.diagnostics), report.sources), file=err)
    for problem in report.internal_errors:
        print(f"dqmc: error: INTERNAL ERROR: {problem}", file=err)
        print("the file was left unchanged; please report this with the spec", file=err)
    verb = "would reformat" if check else "reformatted"
    for name in report.changed:
        print(f"{verb} {name}", file=out)
    count = len(report.changed)
    files = f"{count} file{'s' * (count != 1)}"
    done = f"{files} would be reformatted" if check else f"{files} reformatted"
    print(f"{done}, {len(report.unchanged)} already formatted", file=out)
    return report.exit_code
