"""`dqmc diff`: what one policy version changes against another, as data and as plain sentences.

Two versions are compared by ids and keys, never by position, on the IR: formatting, the order
of declarations and the choice of YAML or DSL make no difference. Every change carries the
sentence the revision history shows and, where the rules allow it, its effect on members:

* point of service (base limits): a lower quantity or daily rate, a new rule, a new member of a
  group or the daily-rate check switched on is *stricter*; the opposite is *looser*;
* exception review (criteria): a new criterion, a larger approval, a longer approval or a
  condition that admits more answers is *looser*; the opposite is *stricter*.

Per product (or group) and channel the effects combine into a verdict: stricter, looser, mixed
(some of each), unchanged, or unknown when a change cannot be ranked (a reworded condition, a
rule in another unit).

The work is split by what it answers: `changes` lists the differences, `verdicts` ranks them
per product and channel, `direction` says which way one change goes, `matching` pairs the parts
of two versions, `wording` names things in sentences. This module holds the result, the public
API, the kept earlier versions and the command line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dqmc.lang.diagnostics import Diagnostic
from dqmc.lang.ir import nodes
from dqmc.lang.printers import english as words
from dqmc.lang.source import Span
from dqmc.revisions.changes import Change, find_changes
from dqmc.revisions.verdicts import Verdict, find_verdicts, verdicts_in_words
from dqmc.revisions.witnesses import Witness, check_verdicts, decided_claims, witnesses_for

if TYPE_CHECKING:
    from dqmc.lang.frontend.shared_factors import Reader

__all__ = [
    "HISTORY_ROOT", "DiffInputError", "EarlierVersion", "PolicyDiff", "add_arguments",
    "diff_policies", "load_history", "revision_summaries", "run", "summaries_for_revisions",
]

HISTORY_ROOT = Path("policy_specs/history")


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class PolicyDiff:
    old: nodes.Policy
    new: nodes.Policy
    changes: tuple[Change, ...]
    verdicts: tuple[Verdict, ...]
    # full claims with each version's decision: one or more per changed limit, and each claim
    # that made a stricter or looser verdict mixed (revisions/witnesses.py)
    witnesses: tuple[Witness, ...] = ()

    @property
    def identical(self) -> bool:
        return not self.changes

    def verdict_sentences(self) -> list[str]:
        return verdicts_in_words(self.new, self.verdicts)

    def sentences(self, *, summary: bool = False) -> list[str]:
        """Every change in words, then the verdicts; `summary` keeps what a history row needs."""
        picked = [c.sentence for c in self.changes if c.in_summary or not summary]
        return picked + self.verdict_sentences() if picked else picked

    def to_data(self) -> dict[str, Any]:
        return {"old": _version_data(self.old), "new": _version_data(self.new),
                "identical": self.identical,
                "changes": [c.to_data() for c in self.changes],
                "verdicts": [v.to_data() for v in self.verdicts],
                "witnesses": [w.to_data() for w in self.witnesses],
                "summary": self.sentences(summary=True)}


def _version_data(policy: nodes.Policy) -> dict[str, Any]:
    return {"id": policy.id, "title": policy.title,
            "review_date": policy.review_date.isoformat() if policy.review_date else None}


# ---------------------------------------------------------------------------------------------
# Public API


def diff_policies(old: nodes.Policy, new: nodes.Policy) -> PolicyDiff:
    """The changes from `old` to `new`, the verdict per product and channel, and the witnesses:
    both versions' boundary claims decided by each, so that "stricter at the point of service"
    holds for every one of them (a verdict one contradicts is "mixed")."""
    changes = tuple(find_changes(old, new))
    if not changes:
        return PolicyDiff(old, new, changes, tuple(find_verdicts(old, new)))
    decided = decided_claims(old, new)
    verdicts, against = check_verdicts(old, new, find_verdicts(old, new), decided)
    return PolicyDiff(old, new, changes, tuple(verdicts),
                      tuple(witnesses_for(old, new, changes, decided, against)))


def revision_summaries(versions: Sequence[nodes.Policy]) -> list[str]:
    """One summary per consecutive pair of versions (oldest first), for the revision table."""
    summaries = []
    for old, new in pairwise(versions):
        sentences = diff_policies(old, new).sentences(summary=True)
        summaries.append(shorten_names(" ".join(sentences), (old, new)) if sentences
                         else "No changes other than the review date and history.")
    return summaries


def shorten_names(text: str, versions: Sequence[nodes.Policy]) -> str:
    """A summary that names each product in full once, then by its brand alone.

    One history cell reads as one paragraph: "Anzupgo (delgocitinib 2% cream)" five times
    over says nothing the first mention did not. A brand that two products share keeps
    the full names, which are then what tells them apart.
    """
    products = {p.id: p for version in versions for p in version.products}
    brands = [p.brand.casefold() for p in products.values()]
    for product in products.values():
        full = words.product_name(product)
        short = product.brand
        if full == short or brands.count(short.casefold()) > 1 or product.label:
            continue
        first = text.find(full)
        if first >= 0:
            head = first + len(full)
            text = text[:head] + text[head:].replace(full, short)
    return text


@dataclass(frozen=True)
class EarlierVersion:
    """A kept earlier version: `policy_specs/history/<policy-id>/<last day in force>.dqm|.yaml`."""

    last_day: dt.date
    source: str
    policy: nodes.Policy


def load_history(policy_id: str, root: Path = HISTORY_ROOT
                 ) -> tuple[list[EarlierVersion], list[Diagnostic]]:
    """The earlier versions of a policy kept under `root/<policy-id>/`, oldest first.

    A file must be named by a date (the last day that version was in force) and must compile
    to the same policy id; anything else is reported, not guessed.
    """
    from dqmc.lang.pipeline import kept_versions

    kept, results, problems = kept_versions(policy_id, root / policy_id)
    problems += [d for result in results for d in result.diagnostics]
    return [EarlierVersion(v.last_day, v.source, v.policy) for v in kept
            if v.last_day is not None], problems


def summaries_for_revisions(policy: nodes.Policy, earlier: Sequence[EarlierVersion]
                            ) -> dict[int, str]:
    """Generated summaries for the policy's revision rows, by index in `policy.history`.

    The version in force through day D explains the first revision row dated after D: that
    row's summary is the diff of it against the next version (the next earlier version, else
    the live policy). Only rows whose summary the spec omits are filled.
    """
    ordered = sorted(earlier, key=lambda v: v.last_day)
    texts = revision_summaries([v.policy for v in ordered] + [policy])
    found: dict[int, str] = {}
    rows = sorted(range(len(policy.history)), key=lambda i: policy.history[i].date)
    for version, text in zip(ordered, texts, strict=True):
        index = next((i for i in rows if policy.history[i].date > version.last_day), None)
        if index is not None and index not in found and policy.history[index].summary is None:
            found[index] = text
    return found


# ---------------------------------------------------------------------------------------------
# Command line


class DiffInputError(Exception):
    """A version that cannot be read or compiled; the message says which and why."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", metavar="OLD",
                        help="the earlier spec (or, with --against, the spec)")
    parser.add_argument("new", metavar="NEW", nargs="?", help="the later spec")
    parser.add_argument("--against", metavar="GIT-REV",
                        help="compare OLD's text at this git revision with OLD as it is now")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--summary", action="store_true",
                        help="only what a revision-history row says (no review date, no history)")


def run(args: argparse.Namespace) -> int:
    """`dqmc diff`: 0 when both versions compile (whether or not they differ), 1 on spec errors."""
    if (args.new is None) == (args.against is None):
        print("dqmc: error: give OLD and NEW, or one SPEC with --against GIT-REV", file=sys.stderr)
        return 2
    try:
        if args.against is not None:
            old = _compile_revision(args.old, args.against)
            new = _compile_file(args.old)
        else:
            old, new = _compile_file(args.old), _compile_file(args.new)
    except DiffInputError as exc:
        print(f"dqmc: error: {exc}", file=sys.stderr)
        return 2
    if old is None or new is None:
        return 1
    result = diff_policies(old, new)
    if args.format == "json":
        print(json.dumps(result.to_data(), indent=2, ensure_ascii=False))
    elif result.identical:
        print("No changes: both versions state the same policy.")
    else:
        print("\n".join(result.sentences(summary=args.summary)))
    return 0


def _report(result: Any) -> None:
    from dqmc.lang.diagnostics import render_all

    if result.diagnostics:
        print(render_all(result.diagnostics, result.sources), file=sys.stderr)


def _compile_file(path: str) -> nodes.Policy | None:
    from dqmc.lang.pipeline import compile_paths, no_policy

    if not Path(path).is_file():
        raise DiffInputError(f"no such spec file: {path}")
    result = compile_paths([path])
    _report(result)
    if result.ok and not result.compiled:  # a shared factor file checks clean but holds none
        raise DiffInputError(no_policy(path))
    return result.compiled[0].policy if result.ok else None


def _revision_reader(folder: Path, revision: str) -> Reader:
    """Reads the shared factor files a spec uses as they were at `revision`, so the old side of
    the diff counts by the factors of its day (`git show REV:./path`, from the spec's folder)."""
    from dqmc.lang.pipeline import display_path
    from dqmc.lang.source import SourceFile

    def read(relative: str) -> tuple[SourceFile | None, list[Diagnostic]]:
        shown = subprocess.run(["git", "show", f"{revision}:./{relative}"], cwd=folder,
                               capture_output=True, check=False)
        if shown.returncode != 0:
            return None, []  # not in that revision: the `use` line says no file could be read
        label = f"{revision}:{display_path(folder / relative)}"
        try:
            text = shown.stdout.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            return None, [Diagnostic("io.encoding", f"the file is not UTF-8 (byte {exc.start}); "
                                     "save it as UTF-8", Span.point(label, 1, 1))]
        return SourceFile(label, text.replace("\r\n", "\n")), []

    return read


def _compile_revision(path: str, revision: str) -> nodes.Policy | None:
    """The spec as it was at a git revision (`git show REV:./path`, from the spec's folder)."""
    from dqmc.lang.diagnostics import has_errors, render_all
    from dqmc.lang.pipeline import compile_text, display_path

    spec = Path(path)
    if not spec.parent.is_dir():
        raise DiffInputError(f"no such folder: {spec.parent}")
    try:
        shown = subprocess.run(["git", "show", f"{revision}:./{spec.name}"], cwd=spec.parent,
                               capture_output=True, check=False)
    except FileNotFoundError:
        raise DiffInputError("--against needs git, and git is not installed") from None
    if shown.returncode != 0:
        reason = shown.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DiffInputError(f"cannot read {path} at {revision}: "
                             f"{reason[-1] if reason else 'git show failed'}")
    try:
        text = shown.stdout.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise DiffInputError(f"{path} at {revision} is not UTF-8 (byte {exc.start})") from None
    # The label ends with the spec's own name, so its suffix still selects the front end.
    result = compile_text(f"{revision}:{display_path(spec)}", text.replace("\r\n", "\n"),
                          read=_revision_reader(spec.parent, revision))
    if result.diagnostics:
        sources = {s.path: s for s in result.shared}
        if result.source is not None:
            sources[result.path] = result.source
        print(render_all(result.diagnostics, sources), file=sys.stderr)
    if result.policy is None or has_errors(result.diagnostics):
        return None
    return result.policy
