"""Shared factor files: each `use factors ID from "PATH"` of a policy bound to the table the file
defines, lowered into the policy as if it were written there (docs/language.md, Shared factors).

A shared factor file holds `factors` blocks and nothing else, so it cannot use another file: a
reference never leads to a cycle. The table keeps its origin (the path as the policy writes it),
which the canonical IR and the content hash cover along with the factors themselves, so editing
the shared file changes every policy that uses it.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from dqmc.lang.diagnostics import Diagnostic, has_errors
from dqmc.lang.frontend.dsl_lower import lower_factors_file
from dqmc.lang.ir import nodes
from dqmc.lang.ir.check_dose import check_table
from dqmc.lang.source import SourceFile

# Reads a shared file by the path a policy writes (relative to the policy's folder): its source,
# or None and why; None and no diagnostic when there is no such file.
Reader = Callable[[str], tuple[SourceFile | None, list[Diagnostic]]]

SHARED_SUFFIX = ".dqm"
# The first word of a shared factor file, after blank lines and comments, is `factors`.
# (A comment runs to the end of its line: a word inside one is not the first word.)
_LEADING = r"\A(?:\s|#[^\n]*(?=\n|\Z))*"
_FACTORS_FILE = re.compile(_LEADING + r"factors\b")
_POLICY_FILE = re.compile(_LEADING + r"policy\b")


def is_factors_file(source: SourceFile) -> bool:
    """Whether a `.dqm` file is a shared factor file rather than a policy."""
    return source.path.endswith(SHARED_SUFFIX) and bool(_FACTORS_FILE.match(source.text))


@dataclass(frozen=True)
class FactorFile:
    """What reading and checking one shared factor file gave."""

    source: SourceFile
    tables: tuple[nodes.FactorTable, ...] | None  # None when it does not parse
    diagnostics: tuple[Diagnostic, ...]


@functools.lru_cache(maxsize=64)
def load_factors_file(source: SourceFile) -> FactorFile:
    """Parse, lower and check a shared factor file on its own: its tables and its findings, at
    its own positions. Remembered by path and text (the result is immutable): every policy that
    uses a file reads it, and a library shares one file between many policies."""
    tables, diagnostics = lower_factors_file(source)
    if tables is None:
        return FactorFile(source, None, tuple(diagnostics))
    seen: set[str] = set()
    for table in tables:
        if table.id in seen:
            diagnostics.append(Diagnostic("factors.duplicate",
                                          f"factor table '{table.id}' is already defined in this "
                                          "file; keep one", table.span))
        seen.add(table.id)
        diagnostics += check_table(table)
    return FactorFile(source, tables, tuple(diagnostics))


def use_shared_factors(policy: nodes.Policy, read: Reader
                       ) -> tuple[nodes.Policy, list[Diagnostic], list[SourceFile]]:
    """The policy with every used table taken from its shared file; what is wrong with the
    references and the files; the files read (to show their diagnostics and key build caches).

    A table that cannot be taken keeps its id and origin and no factors; the diagnostics then
    hold an error at its `use` line.
    """
    if all(t.origin is None for t in policy.factor_tables):
        return policy, [], []
    loaded: dict[str, FactorFile | None] = {}
    problems: list[Diagnostic] = []
    tables: list[nodes.FactorTable] = []
    for table in policy.factor_tables:
        if table.origin is None:
            tables.append(table)
            continue
        if (wrong := _path_problem(table)) is not None:
            problems.append(wrong)
            tables.append(table)
            continue
        key = posixpath.normpath(table.origin)
        if key not in loaded:
            loaded[key] = _read(key, read, problems)
        found = _take(table, loaded[key], problems)
        tables.append(table if found is None else found)
    files = [f.source for f in loaded.values() if f is not None]
    return replace(policy, factor_tables=tuple(tables)), problems, files


def _path_problem(table: nodes.FactorTable) -> Diagnostic | None:
    assert table.origin is not None
    origin = table.origin
    if origin.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", origin) or "\\" in origin:
        return Diagnostic("factors.path",
                          f"\"{origin}\": write the shared file's path relative to this spec's "
                          "folder, with forward slashes (e.g. \"shared/cdc-2022-mme.dqm\"), so "
                          "the policy compiles the same on every machine", table.span)
    if not origin.endswith(SHARED_SUFFIX):
        return Diagnostic("factors.path",
                          f"\"{origin}\" is not a shared factor file: those are DSL files of "
                          f"`factors` blocks, named *{SHARED_SUFFIX}", table.span)
    return None


def _read(path: str, read: Reader, problems: list[Diagnostic]) -> FactorFile | None:
    """The shared file at `path`, read and checked once per policy however many tables it
    gives; its own findings join `problems`."""
    source, unreadable = read(path)
    if source is None:
        problems += unreadable
        return None
    if (policy := _is_policy(source)) is not None:
        file = FactorFile(source, None, (policy,))
    else:
        file = load_factors_file(source)
    problems += file.diagnostics
    return file


def _is_policy(source: SourceFile) -> Diagnostic | None:
    """A policy is not a factor file; saying so beats the syntax error its first line gives."""
    if (found := _POLICY_FILE.match(source.text)) is None:
        return None
    return Diagnostic("factors.shared-file",
                      "this file is a policy, not a shared factor file: a shared file holds "
                      "`factors` blocks and nothing else",
                      source.span(found.end() - len("policy"), found.end()))


def _take(table: nodes.FactorTable, file: FactorFile | None, problems: list[Diagnostic]
          ) -> nodes.FactorTable | None:
    """The table `table` uses from `file`, as this policy holds it; None (and an error at the
    `use` line) when it cannot be taken."""
    origin = table.origin
    if file is None:
        problems.append(Diagnostic("factors.no-file",
                                   f"no shared factor file \"{origin}\" can be read from this "
                                   "spec's folder", table.span))
        return None
    if file.tables is None or has_errors(list(file.diagnostics)):
        what = ("does not parse as a shared factor file (`factors` blocks only)"
                if file.tables is None else "has errors")
        problems.append(Diagnostic("factors.shared-file",
                                   f"\"{origin}\" {what}: see {file.source.path}", table.span))
        return None
    shared = next((t for t in file.tables if t.id == table.id), None)
    if shared is None:
        known = ", ".join(t.id for t in file.tables) or "none"
        problems.append(Diagnostic("factors.unknown-table",
                                   f"\"{origin}\" defines no factor table '{table.id}' "
                                   f"(it defines: {known})", table.span))
        return None
    return replace(shared, id=table.id, origin=origin, defined_at=shared.span, span=table.span)
