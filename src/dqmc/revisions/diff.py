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
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

from dqmc.lang.diagnostics import Diagnostic
from dqmc.lang.ir import nodes
from dqmc.lang.ir.canonical import decimal_text, to_data
from dqmc.lang.printers import english as words

STRICTER, LOOSER, MIXED, UNKNOWN, UNCHANGED = "stricter", "looser", "mixed", "unknown", "unchanged"
HISTORY_ROOT = Path("policy_specs/history")
ALL_CHANNELS = "all"  # how keys and verdicts name a rule written for every channel

# Rough lengths, only to rank two approval durations against each other.
_DAYS_PER_UNIT = {"days": Decimal(1), "weeks": Decimal(7), "months": Decimal("30.4375"),
                  "years": Decimal("365.25")}
_PRODUCT_FIELDS = (("brand", "brand"), ("generic", "generic name"), ("strength", "strength"),
                   ("form", "form"), ("unit", "billing unit"), ("gpi", "GPI"),
                   ("label", "row name"))


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Change:
    """One difference between two versions, located by ids, with its sentence and effect."""

    area: str  # policy, channel, product, group, limit, fact, criterion, section, reference,
    # or history
    kind: str  # added, removed, changed
    key: tuple[str, ...]  # the ids that locate it: ("anzupgo-2pct-cream", "retail", "per_window")
    field: str | None  # the attribute that changed, for kind "changed"
    old: Any  # JSON data of the old value (None when added)
    new: Any  # JSON data of the new value (None when removed)
    sentence: str
    effect: str | None = None  # stricter, looser, mixed, unknown; None when members do not notice
    in_summary: bool = True  # whether the revision history's summary repeats it

    def to_data(self) -> dict[str, Any]:
        return {"area": self.area, "kind": self.kind, "key": list(self.key), "field": self.field,
                "old": self.old, "new": self.new, "effect": self.effect,
                "sentence": self.sentence, "in_summary": self.in_summary}


@dataclass(frozen=True)
class Verdict:
    """Whether the new version is stricter or looser for one product or group at one channel."""

    target: str
    name: str
    channel: str
    point_of_service: str  # from the base limits
    on_review: str  # from the criteria that approve exceptions

    def to_data(self) -> dict[str, Any]:
        return {"target": self.target, "name": self.name, "channel": self.channel,
                "point_of_service": self.point_of_service, "on_review": self.on_review}


@dataclass(frozen=True)
class PolicyDiff:
    old: nodes.Policy
    new: nodes.Policy
    changes: tuple[Change, ...]
    verdicts: tuple[Verdict, ...]

    @property
    def identical(self) -> bool:
        return not self.changes

    def verdict_sentences(self) -> list[str]:
        return _verdict_sentences(self.new, self.verdicts)

    def sentences(self, *, summary: bool = False) -> list[str]:
        """Every change in words, then the verdicts; `summary` keeps what a history row needs."""
        picked = [c.sentence for c in self.changes if c.in_summary or not summary]
        return picked + self.verdict_sentences() if picked else picked

    def to_data(self) -> dict[str, Any]:
        return {"old": _version_data(self.old), "new": _version_data(self.new),
                "identical": self.identical,
                "changes": [c.to_data() for c in self.changes],
                "verdicts": [v.to_data() for v in self.verdicts],
                "summary": self.sentences(summary=True)}


def _version_data(policy: nodes.Policy) -> dict[str, Any]:
    return {"id": policy.id, "title": policy.title,
            "review_date": policy.review_date.isoformat() if policy.review_date else None}


# ---------------------------------------------------------------------------------------------
# Public API


def diff_policies(old: nodes.Policy, new: nodes.Policy) -> PolicyDiff:
    """The changes from `old` to `new` and the verdict per product and channel."""
    differ = _Differ(old, new)
    return PolicyDiff(old, new, tuple(differ.changes()), tuple(_verdicts(old, new)))


def revision_summaries(versions: Sequence[nodes.Policy]) -> list[str]:
    """One summary per consecutive pair of versions (oldest first), for the revision table."""
    summaries = []
    for old, new in pairwise(versions):
        sentences = diff_policies(old, new).sentences(summary=True)
        summaries.append(" ".join(sentences) if sentences
                         else "No changes other than the review date and history.")
    return summaries


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
    from dqmc.lang.pipeline import compile_paths, display_path, is_spec
    from dqmc.lang.source import Span

    folder = root / policy_id
    if not folder.is_dir():
        return [], []
    versions: list[EarlierVersion] = []
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
        result = compile_paths([path])
        problems += result.diagnostics
        if not result.ok:
            continue
        compiled = result.compiled[0]
        if compiled.policy.id != policy_id:
            problems.append(Diagnostic("policy.duplicate-id", f"{path.name} is policy "
                                       f"'{compiled.policy.id}', not '{policy_id}'", here))
            continue
        versions.append(EarlierVersion(last_day, compiled.source, compiled.policy))
    return sorted(versions, key=lambda v: v.last_day), problems


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
    for version, text in zip(ordered, texts):
        index = next((i for i in rows if policy.history[i].date > version.last_day), None)
        if index is not None and index not in found and policy.history[index].summary is None:
            found[index] = text
    return found


# ---------------------------------------------------------------------------------------------
# Words


def _name(old: nodes.Policy, new: nodes.Policy, target: str) -> str:
    """A product or group as documents name it, from whichever version still has it."""
    policy = new if (new.product(target) or new.group(target)) else old
    return words.target_name(policy, target)


def _products(old: nodes.Policy, new: nodes.Policy, target: str) -> tuple[nodes.Product, ...]:
    return words.target_products(new, target) or words.target_products(old, target)


def _channel_words(policy: nodes.Policy, channel: str | None) -> str:
    if channel is None:
        return "all-channel"
    return words.channel_in_sentence(words.channel_label(policy, channel))


def _at_channel(policy: nodes.Policy, channel: str | None) -> str:
    if channel is None:
        return "at every channel"
    return f"at {words.channel_in_sentence(words.channel_label(policy, channel))}"


def _selector_words(selectors: Sequence[nodes.Selector], products: Sequence[nodes.Product]) -> str:
    if not selectors:
        return ""
    return " for " + ", ".join(words.selector_phrase(s, products) for s in selectors)


def _rule_words(rule: nodes.Rule, products: Sequence[nodes.Product]) -> str:
    return words.rule_phrase(rule, products)


def _duration_words(duration: nodes.Duration | None) -> str:
    return words.duration_phrase(duration) if duration is not None else "no set duration"


def _size_words(package: nodes.Package) -> str:
    """`30 g`, or `its size from the drug file`."""
    if package.size is None:
        return "its size from the drug file"
    return f"{decimal_text(package.size.amount)} {package.size.unit}"


def _quote(text: str) -> str:
    return f"“{words.one_line(text)}”"


def _criterion_name(criterion: nodes.Criterion) -> str:
    return _quote(words.criterion_heading(criterion))


def _leaf_words(expr: nodes.Expr, policy: nodes.Policy) -> str:
    view = words.condition_view(expr, policy)
    if view.children:
        from dqmc.lang.ir.queries import condition_text

        return condition_text(expr)
    return view.text


def _values_words(values: Sequence[str]) -> str:
    return words.join_words_or([words.value_words(v) for v in values])


def _dose_words(dose: nodes.Quantity | None, product: nodes.Product) -> str:
    return "not stated" if dose is None else words.amount_phrase(dose.amount, dose.unit,
                                                                 [product])


def _date_words(value: nodes.PolicyDate | None) -> str:
    return words.date_view(value).text if value is not None else "none"


# ---------------------------------------------------------------------------------------------
# Direction


def _sign(old: Decimal | int | None, new: Decimal | int | None) -> int:
    """+1 when `new` allows more, -1 when less; None means unbounded."""
    if old == new:
        return 0
    if old is None:
        return -1
    if new is None:
        return 1
    return 1 if new > old else -1


def _from_signs(*signs: int) -> str | None:
    if all(s == 0 for s in signs):
        return None
    if all(s <= 0 for s in signs):
        return STRICTER
    if all(s >= 0 for s in signs):
        return LOOSER
    return MIXED


def _comparable(old: nodes.Quantity, new: nodes.Quantity) -> bool:
    """Whether two amounts measure alike: one billing unit, or counts of one package whose
    size the drug file gives (a count of such packages and an amount cannot be ranked)."""
    if old.per_package or new.per_package:
        return old.per_package and new.per_package and old.package == new.package
    return old.unit == new.unit


def rule_effect(old: nodes.Rule, new: nodes.Rule) -> str | None:
    """Stricter, looser or mixed from `old` to `new` (same kind): by quantity and daily rate."""
    match old, new:
        case nodes.PerWindow(), nodes.PerWindow():
            if not _comparable(old.quantity, new.quantity):
                return UNKNOWN
            old_amount, new_amount = old.quantity.amount, new.quantity.amount
            return _from_signs(_sign(old_amount, new_amount),
                               _sign(old_amount / old.days, new_amount / new.days))
        case nodes.PerFill(), nodes.PerFill():
            if not _comparable(old.quantity, new.quantity):
                return UNKNOWN
            return _from_signs(_sign(old.quantity.amount, new.quantity.amount))
        case nodes.PerDay(), nodes.PerDay():
            if not _comparable(old.quantity, new.quantity):
                return UNKNOWN
            return _from_signs(_sign(old.quantity.amount, new.quantity.amount),
                               _sign(old.max_days, new.max_days))
        case nodes.FillsPerWindow(), nodes.FillsPerWindow():
            return _from_signs(_sign(old.fills, new.fills),
                               _sign(Decimal(old.fills) / old.days, Decimal(new.fills) / new.days))
        case (nodes.DaysSupplyMax(), nodes.DaysSupplyMax()) | (
                nodes.TherapyMax(), nodes.TherapyMax()):
            return _from_signs(_sign(old.days, new.days))
    return UNKNOWN


def combine(effects: Iterable[str | None]) -> str:
    """One verdict from many effects: both directions is mixed; an unrankable change is unknown."""
    found = {e for e in effects if e is not None}
    if not found:
        return UNCHANGED
    if MIXED in found or {STRICTER, LOOSER} <= found:
        return MIXED
    if UNKNOWN in found:
        return UNKNOWN
    return found.pop()


def _duration_days(duration: nodes.Duration) -> Decimal:
    if duration.kind == "one_time":
        return Decimal(0)
    return duration.amount * _DAYS_PER_UNIT[duration.unit or "days"]


def _effective_duration(policy: nodes.Policy, criterion: nodes.Criterion) -> nodes.Duration:
    return (criterion.duration or policy.approval_duration
            or nodes.Duration(kind="fixed", amount=1, unit="years"))


def _duration_effect(old: nodes.Duration, new: nodes.Duration) -> str | None:
    if old.kind in nodes.REQUESTED_DURATIONS or new.kind in nodes.REQUESTED_DURATIONS:
        # The request's end date cannot be ranked against a stated length; adding it to a
        # one-time approval only allows more.
        if old.kind == new.kind:
            return None
        if (old.kind, new.kind) == ("one_time", "one_time_or_requested"):
            return LOOSER
        if (old.kind, new.kind) == ("one_time_or_requested", "one_time"):
            return STRICTER
        return UNKNOWN
    return _from_signs(_sign(_duration_days(old), _duration_days(new)))


# ---------------------------------------------------------------------------------------------
# Matching rules by key


def _canon(value: Any) -> str:
    return json.dumps(_wordless(to_data(value)), sort_keys=True)


def _wordless(data: Any) -> Any:
    """Canonical data without the word an `each` count was written in: "60 tablets" and
    "60 each" are one limit."""
    if isinstance(data, dict):
        return {k: _wordless(v) for k, v in data.items()
                if not (k == "noun" and "amount" in data and "unit" in data)}
    if isinstance(data, list):
        return [_wordless(v) for v in data]
    return data


def _selectors_key(selectors: Sequence[nodes.Selector]) -> str:
    return json.dumps(sorted(_canon(s) for s in selectors))


def _snake(rule: nodes.Rule) -> str:
    from dqmc.lang.ir.canonical import snake

    return snake(type(rule).__name__)


def _window(rule: nodes.Rule) -> int | None:
    return getattr(rule, "days", None)


def pair_rules(old: Sequence[Any], new: Sequence[Any], rule_of=lambda item: item
               ) -> tuple[list[tuple[Any, Any]], list[Any], list[Any]]:
    """Pair items of one key (same target, channel, selectors and rule kind) across versions.

    Equal rules pair first, then rules over the same window, then the rest in order of window
    and quantity; what is left was added or removed.
    """
    old_left, new_left = list(old), list(new)
    pairs: list[tuple[Any, Any]] = []

    def take(match) -> None:
        for o in list(old_left):
            partner = next((n for n in new_left if match(rule_of(o), rule_of(n))), None)
            if partner is not None:
                pairs.append((o, partner))
                old_left.remove(o)
                new_left.remove(partner)

    take(lambda a, b: _canon(a) == _canon(b))
    take(lambda a, b: _window(a) is not None and _window(a) == _window(b))

    def order(item: Any) -> tuple:
        rule = rule_of(item)
        quantity = getattr(rule, "quantity", None)
        return (_window(rule) or 0, quantity.amount if quantity is not None else 0)

    old_left.sort(key=order)
    new_left.sort(key=order)
    while old_left and new_left:
        pairs.append((old_left.pop(0), new_left.pop(0)))
    return pairs, old_left, new_left


def _limit_key(limit: nodes.Limit) -> tuple[str, str, str, str]:
    return (limit.target, limit.channel or ALL_CHANNELS, _selectors_key(limit.when),
            _snake(limit.rule))


def _approval_key(approval: nodes.Approval) -> tuple[str, str, str]:
    return (approval.target, approval.channel or ALL_CHANNELS, _snake(approval.rule))


def _grouped(items: Iterable[Any], key) -> dict[Any, list[Any]]:
    found: dict[Any, list[Any]] = {}
    for item in items:
        found.setdefault(key(item), []).append(item)
    return found


def _keys_in_order(old: dict, new: dict) -> list:
    """Keys of the new version in its order, then keys only the old version has."""
    return list(new) + [k for k in old if k not in new]


# ---------------------------------------------------------------------------------------------
# The change list


class _Differ:
    def __init__(self, old: nodes.Policy, new: nodes.Policy) -> None:
        self.old, self.new = old, new
        self.found: list[Change] = []

    def add(self, area: str, kind: str, key: Sequence[str], sentence: str, *,
            field: str | None = None, old: Any = None, new: Any = None,
            effect: str | None = None, in_summary: bool = True) -> None:
        self.found.append(Change(area, kind, tuple(key), field, to_data(old), to_data(new),
                                 sentence, effect, in_summary))

    def changes(self) -> list[Change]:
        self._limits()
        self._products()
        self._groups()
        self._criteria()
        self._facts()
        self._policy()
        self._channels()
        self._sections()
        self._references()
        self._history()
        return self.found

    # -- policy settings --------------------------------------------------------------------

    def _policy(self) -> None:
        old, new = self.old, self.new
        if old.id != new.id:
            self.add("policy", "changed", (), f"The policy id changed from {old.id} to {new.id}.",
                     field="id", old=old.id, new=new.id)
        if words.one_line(old.title) != words.one_line(new.title):
            self.add("policy", "changed", (), f"The title changed from {_quote(old.title)} to "
                     f"{_quote(new.title)}.", field="title", old=old.title, new=new.title)
        if old.type != new.type:
            self.add("policy", "changed", (), f"The policy type changed from "
                     f"{words.humanize(old.type)} to {words.humanize(new.type)}.",
                     field="type", old=old.type, new=new.type)
        if old.review_date != new.review_date:
            # Each history row has its own date, so the row's summary does not repeat it.
            self.add("policy", "changed", (), f"The review date changed from "
                     f"{_date_words(old.review_date)} to {_date_words(new.review_date)}.",
                     field="review_date", old=old.review_date, new=new.review_date,
                     in_summary=False)
        if old.effective_date != new.effective_date:
            self.add("policy", "changed", (), f"The effective date changed from "
                     f"{_date_words(old.effective_date)} to {_date_words(new.effective_date)}.",
                     field="effective_date", old=old.effective_date, new=new.effective_date)
        if old.approval_duration != new.approval_duration:
            effect = None
            if old.approval_duration is not None and new.approval_duration is not None:
                effect = _duration_effect(old.approval_duration, new.approval_duration)
            if new.approval_duration is None:
                text = (f"The policy no longer sets how long approvals last (before: "
                        f"{_duration_words(old.approval_duration)}).")
            elif old.approval_duration is None:
                text = (f"Approvals now last {_duration_words(new.approval_duration)} (before, "
                        "the policy set no duration).")
            else:
                text = (f"Approvals now last {_duration_words(new.approval_duration)} (before: "
                        f"{_duration_words(old.approval_duration)}).")
            # Without criteria on both sides the duration governs nothing a member would notice;
            # added or removed criteria state their own durations.
            self.add("policy", "changed", (), text, field="approval_duration",
                     old=old.approval_duration, new=new.approval_duration, effect=effect,
                     in_summary=bool(old.criteria) and bool(new.criteria))
        if old.reject_code != new.reject_code:
            self.add("policy", "changed", (), f"Claims over a limit are now rejected with code "
                     f"{new.reject_code} (before: {old.reject_code}).", field="reject_code",
                     old=old.reject_code, new=new.reject_code)
        if old.requires_authorization != new.requires_authorization:
            state = ("now need prior authorization (claims without one are rejected with 75)"
                     if new.requires_authorization else "no longer need prior authorization")
            self.add("policy", "changed", (), f"All products of the policy {state}.",
                     field="requires_authorization", old=old.requires_authorization,
                     new=new.requires_authorization,
                     effect=STRICTER if new.requires_authorization else LOOSER)
        if old.daily_rate_check != new.daily_rate_check:
            state = "now checked" if new.daily_rate_check else "no longer checked"
            self.add("policy", "changed", (), f"The daily rate (quantity ÷ days supply) is {state} "
                     "against each window limit.", field="daily_rate_check",
                     old=old.daily_rate_check, new=new.daily_rate_check,
                     effect=STRICTER if new.daily_rate_check else LOOSER)
        if old.fallback != new.fallback:
            # Requests for products whose own policy has no criteria could not be approved there.
            text = ("The policy now also reviews requests for any product without criteria of its "
                    "own." if new.fallback else "The policy no longer reviews requests for products "
                    "without criteria of their own.")
            self.add("policy", "changed", (), text, field="fallback", old=old.fallback,
                     new=new.fallback, effect=LOOSER if new.fallback else STRICTER)

    def _channels(self) -> None:
        old = {c.id: c for c in self.old.channels}
        new = {c.id: c for c in self.new.channels}
        for cid in _keys_in_order(old, new):
            o, n = old.get(cid), new.get(cid)
            if o is None:
                self.add("channel", "added", (cid,), f"New channel: {n.label}.", new=n)
            elif n is None:
                self.add("channel", "removed", (cid,), f"Channel removed: {o.label}.", old=o)
            elif o.label != n.label:
                self.add("channel", "changed", (cid,), f"The channel {o.label} is now called "
                         f"{n.label}.", field="label", old=o.label, new=n.label)

    # -- products and groups ----------------------------------------------------------------

    def _products(self) -> None:
        old = {p.id: p for p in self.old.products}
        new = {p.id: p for p in self.new.products}
        for pid in _keys_in_order(old, new):
            o, n = old.get(pid), new.get(pid)
            if o is None:
                sold = words.join_words_or([p.description for p in n.packages])
                self.add("product", "added", (pid,), f"New product: {words.product_name(n)}"
                         f"{f', sold as {sold}' if sold else ''}.", new=n)
            elif n is None:
                self.add("product", "removed", (pid,),
                         f"Product removed: {words.product_name(o)}.", old=o)
            else:
                self._product_fields(o, n)

    def _product_fields(self, o: nodes.Product, n: nodes.Product) -> None:
        name = words.product_name(n)
        for attr, label in _PRODUCT_FIELDS:
            before, after = getattr(o, attr), getattr(n, attr)
            if before != after:
                self.add("product", "changed", (n.id,), f"{name}: the {label} changed from "
                         f"{_quote(before or 'none')} to {_quote(after or 'none')}.",
                         field=attr, old=before, new=after)
        if o.requires_authorization != n.requires_authorization:
            state = ("now needs prior authorization (claims without one are rejected with 75)"
                     if n.requires_authorization else "no longer needs prior authorization")
            self.add("product", "changed", (n.id,), f"{name} {state}.",
                     field="requires_authorization", old=o.requires_authorization,
                     new=n.requires_authorization,
                     effect=STRICTER if n.requires_authorization else LOOSER)
        if o.dose != n.dose:
            # limits written in doses change their amounts with it, and say so themselves
            self.add("product", "changed", (n.id,), f"{name}: one dose is now "
                     f"{_dose_words(n.dose, n)} (before: {_dose_words(o.dose, o)}).",
                     field="dose", old=o.dose, new=n.dose)
        self._ndcs((n.id,), name, o.ndcs, n.ndcs)
        old_packages = {p.id: p for p in o.packages}
        new_packages = {p.id: p for p in n.packages}
        for pkg in _keys_in_order(old_packages, new_packages):
            a, b = old_packages.get(pkg), new_packages.get(pkg)
            if a is None:
                self.add("product", "added", (n.id, "package", pkg), f"{name}: new package "
                         f"{b.description} ({_size_words(b)}).", field="package", new=b)
            elif b is None:
                self.add("product", "removed", (n.id, "package", pkg),
                         f"{name}: the {a.description} package was removed.",
                         field="package", old=a)
            else:
                if a.size != b.size:
                    self.add("product", "changed", (n.id, "package", pkg), f"{name}: the "
                             f"{b.description} package now holds {_size_words(b)} "
                             f"(before: {_size_words(a)}).", field="size", old=a.size,
                             new=b.size)
                if words.one_line(a.description) != words.one_line(b.description):
                    self.add("product", "changed", (n.id, "package", pkg), f"{name}: the "
                             f"package {_quote(a.description)} is now described as "
                             f"{_quote(b.description)}.", field="description",
                             old=a.description, new=b.description)
                if a.noun != b.noun:
                    self.add("product", "changed", (n.id, "package", pkg), f"{name}: limits "
                             f"now count the {b.description} as {_quote(b.noun or 'package')} "
                             f"(before: {_quote(a.noun or 'package')}).", field="noun",
                             old=a.noun, new=b.noun)
                self._ndcs((n.id, "package", pkg), f"{name}, {b.description}", a.ndcs, b.ndcs)

    def _ndcs(self, key: tuple[str, ...], name: str, old: Sequence[str],
              new: Sequence[str]) -> None:
        added = sorted(set(new) - set(old))
        removed = sorted(set(old) - set(new))
        if added:
            self.add("product", "added", key, f"{name}: NDCs added: {', '.join(added)}.",
                     field="ndcs", new=added)
        if removed:
            self.add("product", "removed", key, f"{name}: NDCs removed: {', '.join(removed)}.",
                     field="ndcs", old=removed)

    def _groups(self) -> None:
        old = {g.id: g for g in self.old.groups}
        new = {g.id: g for g in self.new.groups}
        for gid in _keys_in_order(old, new):
            o, n = old.get(gid), new.get(gid)
            if o is None:
                members = words.join_words([_name(self.old, self.new, p) for p in n.products])
                self.add("group", "added", (gid,), f"New group {_quote(n.title)}: {members} "
                         "count together.", new=n)
            elif n is None:
                self.add("group", "removed", (gid,), f"Group removed: {_quote(o.title)}; its "
                         "products no longer count together.", old=o)
            else:
                if words.one_line(o.title) != words.one_line(n.title):
                    self.add("group", "changed", (gid,), f"The group {_quote(o.title)} is now "
                             f"called {_quote(n.title)}.", field="title", old=o.title, new=n.title)
                joined = [p for p in n.products if p not in o.products]
                left = [p for p in o.products if p not in n.products]
                if joined:
                    names = words.join_words([_name(self.old, self.new, p) for p in joined])
                    self.add("group", "added", (gid,), f"{names} now count toward the "
                             f"{_quote(n.title)} limits.", field="products", new=joined,
                             effect=STRICTER)
                if left:
                    names = words.join_words([_name(self.old, self.new, p) for p in left])
                    self.add("group", "removed", (gid,), f"{names} no longer count toward the "
                             f"{_quote(n.title)} limits.", field="products", old=left,
                             effect=LOOSER)

    # -- limits -----------------------------------------------------------------------------

    def _limits(self) -> None:
        old = _grouped(self.old.limits, _limit_key)
        new = _grouped(self.new.limits, _limit_key)
        for key in _keys_in_order(old, new):
            pairs, removed, added = pair_rules(old.get(key, []), new.get(key, []),
                                               lambda limit: limit.rule)
            for o, n in pairs:
                self._limit_pair(key, o, n)
            for n in added:
                self._limit_alone(key, n, "added")
            for o in removed:
                self._limit_alone(key, o, "removed")

    def _limit_subject(self, limit: nodes.Limit) -> tuple[str, Sequence[nodes.Product]]:
        products = _products(self.old, self.new, limit.target)
        policy = self.new if self.new.channel(limit.channel or "") is not None else self.old
        subject = (f"{_name(self.old, self.new, limit.target)}: "
                   f"{_channel_words(policy, limit.channel)} limit"
                   f"{_selector_words(limit.when, products)}")
        return subject, products

    def _limit_alone(self, key: tuple, limit: nodes.Limit, kind: str) -> None:
        subject, products = self._limit_subject(limit)
        if isinstance(limit.rule, nodes.NotCovered):
            policy = self.new if kind == "added" else self.old
            where = (f"{_name(self.old, self.new, limit.target)} "
                     f"{_at_channel(policy, limit.channel)}"
                     f"{_selector_words(limit.when, products)}")
            if kind == "added":
                self.add("limit", kind, key[:2] + key[3:], f"{words.sentence_case(where)} is "
                         "no longer covered: claims there are rejected.", new=limit,
                         effect=STRICTER)
            else:
                self.add("limit", kind, key[:2] + key[3:], f"{words.sentence_case(where)} is "
                         "no longer excluded as not covered.", old=limit, effect=LOOSER)
            return
        rule = _rule_words(limit.rule, products) + (" (hard limit)" if limit.hard else "")
        if limit.since is not None:
            rule += f" (from {_date_words(limit.since)})"
        if kind == "added":
            self.add("limit", kind, key[:2] + key[3:], f"{words.sentence_case(subject)} of "
                     f"{rule} added.", new=limit, effect=STRICTER)
        else:
            self.add("limit", kind, key[:2] + key[3:], f"{words.sentence_case(subject)} of "
                     f"{rule} removed.", old=limit, effect=LOOSER)

    def _limit_pair(self, key: tuple, o: nodes.Limit, n: nodes.Limit) -> None:
        subject, products = self._limit_subject(n)
        short_key = key[:2] + key[3:]
        if _canon(o.rule) != _canon(n.rule):
            self.add("limit", "changed", short_key, f"{subject} changed from "
                     f"{_rule_words(o.rule, products)} to {_rule_words(n.rule, products)}.",
                     field="rule", old=o.rule, new=n.rule, effect=rule_effect(o.rule, n.rule))
        rule = _rule_words(n.rule, products)
        if o.hard != n.hard:
            state = "is now a hard limit (no exception may pass it)" if n.hard else \
                "is no longer a hard limit (approved exceptions may pass it)"
            self.add("limit", "changed", short_key, f"{subject} of {rule} {state}.",
                     field="hard", old=o.hard, new=n.hard, effect=STRICTER if n.hard else LOOSER)
        if o.since != n.since:
            if n.since is None:
                text = f"now applies on every date (before: from {_date_words(o.since)})"
            elif o.since is None:
                text = f"now applies only from {_date_words(n.since)} (before: on every date)"
            else:
                text = (f"now applies from {_date_words(n.since)} (before: from "
                        f"{_date_words(o.since)})")
            later = o.since is None or (n.since is not None and n.since > o.since)
            self.add("limit", "changed", short_key, f"{subject} of {rule} {text}.",
                     field="since", old=o.since, new=n.since, effect=LOOSER if later else STRICTER)
        if (o.note or "") != (n.note or ""):
            self.add("limit", "changed", short_key, f"{subject} of {rule}: the note changed "
                     f"from {_quote(o.note or 'none')} to {_quote(n.note or 'none')}.",
                     field="note", old=o.note, new=n.note)

    # -- facts and criteria -----------------------------------------------------------------

    def _facts(self) -> None:
        from dqmc.lang.ir.queries import condition_facts

        def used_by(policy: nodes.Policy, ids: set[str]) -> set[str]:
            return {f for c in policy.criteria if c.id in ids for f in condition_facts(c.when)}

        old_ids = {c.id for c in self.old.criteria}
        new_ids = {c.id for c in self.new.criteria}
        used_old_elsewhere = used_by(self.old, old_ids & new_ids)
        used_new_elsewhere = used_by(self.new, new_ids & old_ids)
        old = {f.id: f for f in self.old.facts}
        new = {f.id: f for f in self.new.facts}
        for fid in _keys_in_order(old, new):
            o, n = old.get(fid), new.get(fid)
            if o is None:
                # A question that only new criteria ask is part of those criteria's sentence.
                self.add("fact", "added", (fid,), f"New review question: {_quote(n.question)}",
                         new=n, in_summary=fid in used_new_elsewhere)
            elif n is None:
                self.add("fact", "removed", (fid,), f"Review question removed: "
                         f"{_quote(o.question)}", old=o, in_summary=fid in used_old_elsewhere)
            else:
                if words.one_line(o.question) != words.one_line(n.question):
                    self.add("fact", "changed", (fid,), f"The review question "
                             f"{_quote(o.question)} now reads {_quote(n.question)}.",
                             field="question", old=o.question, new=n.question)
                if o.type != n.type:
                    self.add("fact", "changed", (fid,), f"The answer to {_quote(n.question)} is "
                             f"now a {n.type} (before: {o.type}).", field="type",
                             old=o.type, new=n.type)
                added = [v for v in n.values if v not in o.values]
                removed = [v for v in o.values if v not in n.values]
                if added:
                    self.add("fact", "added", (fid,), f"{_quote(n.question)} may now also be "
                             f"answered {_values_words(added)}.",
                             field="values", new=added)
                if removed:
                    self.add("fact", "removed", (fid,), f"{_quote(n.question)} may no longer "
                             f"be answered {_values_words(removed)}.",
                             field="values", old=removed)

    def _approvals_words(self, policy: nodes.Policy, approvals: Sequence[nodes.Approval]) -> str:
        parts = []
        for target in dict.fromkeys(a.target for a in approvals):
            products = _products(self.old, self.new, target)
            at = [f"{_rule_words(a.rule, products)} {_at_channel(policy, a.channel)}"
                  for a in approvals if a.target == target]
            parts.append(f"{words.join_words(at)} for {_name(self.old, self.new, target)}")
        return "; ".join(parts)

    def _criteria(self) -> None:
        old = {c.id: c for c in self.old.criteria}
        new = {c.id: c for c in self.new.criteria}
        for cid in _keys_in_order(old, new):
            o, n = old.get(cid), new.get(cid)
            if o is None:
                duration = _effective_duration(self.new, n)
                how_long = ("as a one-time approval" if duration.kind == "one_time"
                            else words.duration_phrase(duration)
                            if duration.kind in nodes.REQUESTED_DURATIONS
                            else f"for {words.duration_phrase(duration)}")
                renews = f" (renewal of {_quote(n.renews)})" if n.renews else ""
                if n.serves:
                    renews += f" (for {n.serves} requests only)"
                # The common revision: lower the base limits and keep the old ones on review.
                former = "; these were the limits before this revision" \
                    if self._were_base_limits(n.approves) else ""
                self.add("criterion", "added", (cid,), f"New criterion {_criterion_name(n)}"
                         f"{renews}: approve {self._approvals_words(self.new, n.approves)}, "
                         f"{how_long}{former}.", new=n, effect=LOOSER)
            elif n is None:
                self.add("criterion", "removed", (cid,), f"Criterion {_criterion_name(o)} was "
                         f"removed; it approved {self._approvals_words(self.old, o.approves)}.",
                         old=o, effect=STRICTER)
            else:
                self._criterion_pair(o, n)

    def _were_base_limits(self, approvals: Sequence[nodes.Approval]) -> bool:
        """Whether the old version's base limits were exactly what these approvals grant."""
        for target, channel in dict.fromkeys((a.target, a.channel) for a in approvals):
            granted = sorted(_canon(a.rule) for a in approvals
                             if (a.target, a.channel) == (target, channel))
            before = sorted(_canon(x.rule) for x in self.old.limits
                            if (x.target, x.channel) == (target, channel) and not x.when)
            if granted != before:
                return False
        return bool(approvals)

    def _criterion_pair(self, o: nodes.Criterion, n: nodes.Criterion) -> None:
        name = _criterion_name(n)
        key = (n.id,)
        if (o.title or "") != (n.title or ""):
            self.add("criterion", "changed", key, f"Criterion {_criterion_name(o)} is now "
                     f"titled {name}.", field="title", old=o.title, new=n.title)
        self._condition(o, n)
        old_groups = _grouped(o.approves, _approval_key)
        new_groups = _grouped(n.approves, _approval_key)
        for akey in _keys_in_order(old_groups, new_groups):
            pairs, removed, added = pair_rules(old_groups.get(akey, []), new_groups.get(akey, []),
                                               lambda a: a.rule)
            for a, b in pairs:
                if _canon(a.rule) != _canon(b.rule):
                    products = _products(self.old, self.new, b.target)
                    self.add("criterion", "changed", key + akey[:2],
                             f"Criterion {name} now approves {_rule_words(b.rule, products)} "
                             f"{_at_channel(self.new, b.channel)} for "
                             f"{_name(self.old, self.new, b.target)} (before: "
                             f"{_rule_words(a.rule, products)}).", field="approves",
                             old=a, new=b, effect=rule_effect(a.rule, b.rule))
            for b in added:
                self.add("criterion", "added", key + akey[:2], f"Criterion {name} now also "
                         f"approves {self._approvals_words(self.new, [b])}.", field="approves",
                         new=b, effect=LOOSER)
            for a in removed:
                self.add("criterion", "removed", key + akey[:2], f"Criterion {name} no longer "
                         f"approves {self._approvals_words(self.old, [a])}.", field="approves",
                         old=a, effect=STRICTER)
        before, after = _effective_duration(self.old, o), _effective_duration(self.new, n)
        if o.duration != n.duration or before != after:
            self.add("criterion", "changed", key, f"Approvals under criterion {name} now last "
                     f"{words.duration_phrase(after)} (before: {words.duration_phrase(before)}).",
                     field="duration", old=o.duration, new=n.duration,
                     effect=_duration_effect(before, after), in_summary=before != after)
        if o.approves_requested != n.approves_requested:
            text = (f"Criterion {name} now approves the quantity requested." if
                    n.approves_requested else
                    f"Criterion {name} no longer approves the quantity requested.")
            self.add("criterion", "changed", key, text, field="approves_requested",
                     old=o.approves_requested, new=n.approves_requested,
                     effect=LOOSER if n.approves_requested else STRICTER)
        if o.renews != n.renews:
            text = (f"Criterion {name} now renews {_quote(n.renews)}." if n.renews
                    else f"Criterion {name} no longer renews {_quote(o.renews or '')}.")
            self.add("criterion", "changed", key, text, field="renews", old=o.renews,
                     new=n.renews, effect=UNKNOWN)
        if o.serves != n.serves:
            text = (f"Criterion {name} now serves {n.serves} requests only (before: "
                    f"{_serves_words(o.serves)})." if n.serves else
                    f"Criterion {name} now serves initial and renewal requests (before: "
                    f"{o.serves} requests only).")
            self.add("criterion", "changed", key, text, field="serves", old=o.serves,
                     new=n.serves, effect=_serves_effect(o.serves, n.serves))

    def _condition(self, o: nodes.Criterion, n: nodes.Criterion) -> None:
        if _expr_key(o.when) == _expr_key(n.when):
            return
        name = _criterion_name(n)
        key = (n.id,)
        old_leaves, new_leaves = _leaves_by_fact(o.when), _leaves_by_fact(n.when)
        if old_leaves is None or new_leaves is None:
            from dqmc.lang.ir.queries import condition_text

            self.add("criterion", "changed", key, f"Criterion {name}: the condition changed from "
                     f"“{condition_text(o.when)}” to “{condition_text(n.when)}”.",
                     field="when", old=o.when, new=n.when, effect=UNKNOWN)
            return
        for fact in _keys_in_order(old_leaves, new_leaves):
            a, b = old_leaves.get(fact), new_leaves.get(fact)
            if a is None:
                self.add("criterion", "added", key + (fact,), f"Criterion {name} now also "
                         f"requires: {_leaf_words(b, self.new)}.", field="when", new=b,
                         effect=STRICTER)
            elif b is None:
                self.add("criterion", "removed", key + (fact,), f"Criterion {name} no longer "
                         f"requires: {_leaf_words(a, self.old)}.", field="when", old=a,
                         effect=LOOSER)
            elif _expr_key(a) != _expr_key(b):
                self.add("criterion", "changed", key + (fact,), f"Criterion {name} now requires "
                         f"{_leaf_words(b, self.new)} (before: {_leaf_words(a, self.old)}).",
                         field="when", old=a, new=b, effect=_leaf_effect(a, b))

    # -- prose, references, history ---------------------------------------------------------

    def _sections(self) -> None:
        def keyed(policy: nodes.Policy) -> dict[tuple[str, str], nodes.Section]:
            found: dict[tuple[str, str], nodes.Section] = {}
            for section in policy.sections:
                # The standard kinds appear once; other sections are known by their titles.
                title = words.one_line(section.title) if section.kind == "other" else ""
                key = (section.kind, title)
                index = 2
                while key in found:
                    key, index = (section.kind, f"{title}#{index}"), index + 1
                found[key] = section
            return found

        old, new = keyed(self.old), keyed(self.new)
        for key in _keys_in_order(old, new):
            o, n = old.get(key), new.get(key)
            if o is None:
                self.add("section", "added", key, f"A {_quote(n.title)} section was added.", new=n)
            elif n is None:
                self.add("section", "removed", key, f"The {_quote(o.title)} section was removed.",
                         old=o)
            else:
                if words.one_line(o.title) != words.one_line(n.title):
                    self.add("section", "changed", key, f"The {_quote(o.title)} section is now "
                             f"titled {_quote(n.title)}.", field="title", old=o.title, new=n.title)
                if words.paragraphs(o.text) != words.paragraphs(n.text):
                    self.add("section", "changed", key, f"The {_quote(n.title)} section was "
                             "revised.", field="text", old=o.text, new=n.text)

    def _references(self) -> None:
        old = {words.one_line(r.text): r for r in self.old.references}
        new = {words.one_line(r.text): r for r in self.new.references}
        for text in _keys_in_order(old, new):
            if text not in old:
                self.add("reference", "added", (), f"Reference added: {text}", new=new[text])
            elif text not in new:
                self.add("reference", "removed", (), f"Reference removed: {text}", old=old[text])

    def _history(self) -> None:
        def keyed(policy: nodes.Policy) -> dict[tuple[str, str], nodes.Revision]:
            return {(r.date.isoformat(), words.one_line(r.type)): r for r in policy.history}

        old, new = keyed(self.old), keyed(self.new)
        for key in _keys_in_order(old, new):
            o, n = old.get(key), new.get(key)
            label = f"{words.date_view((o or n).date).text} ({key[1]})"  # type: ignore[union-attr]
            if o is None:
                self.add("history", "added", key, f"Revision row {label} added.", new=n,
                         in_summary=False)
            elif n is None:
                self.add("history", "removed", key, f"Revision row {label} removed.", old=o,
                         in_summary=False)
            elif words.one_line(o.summary or "") != words.one_line(n.summary or ""):
                self.add("history", "changed", key, f"The summary of revision row {label} "
                         "changed.", field="summary", old=o.summary, new=n.summary,
                         in_summary=False)


# ---------------------------------------------------------------------------------------------
# Conditions


def _expr_key(expr: nodes.Expr) -> str:
    """A condition's identity, blind to the order of and/or operands and of listed values."""
    if isinstance(expr, (nodes.And, nodes.Or)):
        inner = sorted(_expr_key(e) for e in expr.operands)
        return f"{type(expr).__name__}({','.join(inner)})"
    if isinstance(expr, nodes.Not):
        return f"Not({_expr_key(expr.operand)})"
    if isinstance(expr, (nodes.InSet, nodes.Subset)):
        return f"{type(expr).__name__}({expr.fact}:{sorted(expr.values)})"
    return _canon(expr)


def _leaves_by_fact(expr: nodes.Expr) -> dict[str, nodes.Expr] | None:
    """A conjunction's tests by fact, when each fact is tested once; None for other shapes."""
    operands = expr.operands if isinstance(expr, nodes.And) else (expr,)
    found: dict[str, nodes.Expr] = {}
    for operand in operands:
        if not isinstance(operand, (nodes.FactRef, nodes.Compare, nodes.InSet, nodes.Subset)):
            return None
        if operand.fact in found:
            return None
        found[operand.fact] = operand
    return found


def _leaf_effect(old: nodes.Expr, new: nodes.Expr) -> str:
    """Whether a test of one fact admits more answers (looser) or fewer (stricter)."""
    if type(old) is type(new) and isinstance(old, (nodes.InSet, nodes.Subset)):
        before, after = set(old.values), set(new.values)  # type: ignore[union-attr]
        if before < after:
            return LOOSER
        if after < before:
            return STRICTER
        return MIXED
    if isinstance(old, nodes.Compare) and isinstance(new, nodes.Compare) and old.op == new.op \
            and old.op in ("<", "<=", ">", ">=") and type(old.value) is type(new.value):
        raised = new.value > old.value  # type: ignore[operator]
        admits_more = raised if old.op in ("<", "<=") else not raised
        return LOOSER if admits_more else STRICTER
    return UNKNOWN


# ---------------------------------------------------------------------------------------------
# Verdicts per product and channel


def _channels(old: nodes.Policy, new: nodes.Policy) -> list[str]:
    from dqmc.lang.ir.queries import known_channels

    return list(dict.fromkeys([*known_channels(new), *known_channels(old)]))


def _verdicts(old: nodes.Policy, new: nodes.Policy) -> list[Verdict]:
    targets = list(dict.fromkeys(
        [x.target for x in new.limits] + [a.target for c in new.criteria for a in c.approves]
        + [x.target for x in old.limits] + [a.target for c in old.criteria for a in c.approves]))
    verdicts = []
    for target in targets:
        for channel in _channels(old, new):
            at = (channel, None)
            old_limits = [x for x in old.limits if x.target == target and x.channel in at]
            new_limits = [x for x in new.limits if x.target == target and x.channel in at]
            old_approved = _approvals_at(old, target, at)
            new_approved = _approvals_at(new, target, at)
            if not (old_limits or new_limits or old_approved or new_approved):
                continue
            service, review = _limit_effects(old_limits, new_limits)
            service += _policy_effects(old, new, target, old_limits, new_limits)
            review += _review_effects(old, new, old_approved, new_approved)
            verdicts.append(Verdict(target, _name(old, new, target), channel,
                                    combine(service), combine(review)))
    return verdicts


def _approvals_at(policy: nodes.Policy, target: str, at: tuple[str | None, ...]
                  ) -> dict[str, list[nodes.Approval]]:
    """criterion id → what it approves for the target at the channel."""
    found: dict[str, list[nodes.Approval]] = {}
    for criterion in policy.criteria:
        approvals = [a for a in criterion.approves if a.target == target and a.channel in at]
        if approvals:
            found[criterion.id] = approvals
    return found


def _limit_effects(old: list[nodes.Limit], new: list[nodes.Limit]) -> tuple[list, list]:
    service: list[str | None] = []
    review: list[str | None] = []

    def key(limit: nodes.Limit) -> tuple[str, str]:
        return _selectors_key(limit.when), _snake(limit.rule)

    old_groups, new_groups = _grouped(old, key), _grouped(new, key)
    every_added: list[nodes.Limit] = []
    every_removed: list[nodes.Limit] = []
    for k in _keys_in_order(old_groups, new_groups):
        pairs, removed, added = pair_rules(old_groups.get(k, []), new_groups.get(k, []),
                                           lambda limit: limit.rule)
        for o, n in pairs:
            changed = _canon(o.rule) != _canon(n.rule)
            service.append(rule_effect(o.rule, n.rule) if changed else None)
            if o.since != n.since:  # a later implementation date leaves more claims free
                later = o.since is None or (n.since is not None and n.since > o.since)
                service.append(LOOSER if later else STRICTER)
            if o.hard != n.hard:
                review.append(STRICTER if n.hard else LOOSER)
        every_added += added
        every_removed += removed
    service += _cap_and_course(every_removed, every_added)
    service += [STRICTER] * len(every_added) + [LOOSER] * len(every_removed)
    return service, review


def _cap_and_course(removed: list[nodes.Limit], added: list[nodes.Limit]) -> list[str]:
    """A days-supply cap replaced by a therapy rule on the same claims, or back: one ranked
    change instead of a rule removed (looser) and one added (stricter). `therapy <= D days`
    rejects every claim `days supply <= D2` (D2 >= D) does, and the second of two contiguous
    claims too. The pairs found are taken out of `removed` and `added`."""
    effects = []
    for old in list(removed):
        for new in added:
            if (_selectors_key(old.when), old.since, old.hard) != (
                    _selectors_key(new.when), new.since, new.hard):
                continue
            tighter = (isinstance(old.rule, nodes.DaysSupplyMax)
                       and isinstance(new.rule, nodes.TherapyMax)
                       and new.rule.days <= old.rule.days)
            wider = (isinstance(old.rule, nodes.TherapyMax)
                     and isinstance(new.rule, nodes.DaysSupplyMax)
                     and new.rule.days >= old.rule.days)
            if tighter or wider:
                effects.append(STRICTER if tighter else LOOSER)
                removed.remove(old)
                added.remove(new)
                break
    return effects


def _policy_effects(old: nodes.Policy, new: nodes.Policy, target: str,
                    old_limits: list[nodes.Limit], new_limits: list[nodes.Limit]
                    ) -> list[str | None]:
    effects: list[str | None] = []
    has_window = any(isinstance(x.rule, nodes.PerWindow) for x in old_limits + new_limits)
    if old.daily_rate_check != new.daily_rate_check and has_window:
        effects.append(STRICTER if new.daily_rate_check else LOOSER)
    def needs_authorization(policy: nodes.Policy) -> bool:
        products = words.target_products(policy, target)
        return bool(products) and all(policy.requires_authorization or p.requires_authorization
                                      for p in products)

    if needs_authorization(old) != needs_authorization(new):
        effects.append(STRICTER if needs_authorization(new) else LOOSER)
    old_group, new_group = old.group(target), new.group(target)
    if old_group is not None and new_group is not None:
        if set(new_group.products) - set(old_group.products):
            effects.append(STRICTER)
        if set(old_group.products) - set(new_group.products):
            effects.append(LOOSER)
    return effects


def _review_effects(old: nodes.Policy, new: nodes.Policy, old_approved: dict[str, list],
                    new_approved: dict[str, list]) -> list[str | None]:
    effects: list[str | None] = []
    old_criteria = {c.id: c for c in old.criteria}
    new_criteria = {c.id: c for c in new.criteria}
    for cid in _keys_in_order(old_approved, new_approved):
        if cid not in old_approved:
            effects.append(LOOSER)
            continue
        if cid not in new_approved:
            effects.append(STRICTER)
            continue
        o, n = old_criteria[cid], new_criteria[cid]

        def key(approval: nodes.Approval) -> str:
            return _snake(approval.rule)

        old_groups, new_groups = _grouped(old_approved[cid], key), _grouped(new_approved[cid], key)
        for k in _keys_in_order(old_groups, new_groups):
            pairs, removed, added = pair_rules(old_groups.get(k, []), new_groups.get(k, []),
                                               lambda a: a.rule)
            effects += [rule_effect(a.rule, b.rule) if _canon(a.rule) != _canon(b.rule) else None
                        for a, b in pairs]
            # An approval replaces the base limits: one more rule in it approves less.
            effects += [STRICTER] * len(added) + [LOOSER] * len(removed)
        effects.append(_duration_effect(_effective_duration(old, o), _effective_duration(new, n)))
        effects += _condition_effects(o.when, n.when)
        if o.renews != n.renews:
            effects.append(UNKNOWN)
        if o.serves != n.serves:
            effects.append(_serves_effect(o.serves, n.serves))
    return effects


def _serves_words(serves: str | None) -> str:
    return "initial and renewal requests" if serves is None else f"{serves} requests only"


def _serves_effect(old: str | None, new: str | None) -> str:
    """Serving fewer kinds of request approves less; initial ↔ renewal cannot be ranked."""
    if old is None:
        return STRICTER
    return LOOSER if new is None else UNKNOWN


def _condition_effects(old: nodes.Expr, new: nodes.Expr) -> list[str | None]:
    if _expr_key(old) == _expr_key(new):
        return []
    old_leaves, new_leaves = _leaves_by_fact(old), _leaves_by_fact(new)
    if old_leaves is None or new_leaves is None:
        return [UNKNOWN]
    effects: list[str | None] = []
    for fact in _keys_in_order(old_leaves, new_leaves):
        a, b = old_leaves.get(fact), new_leaves.get(fact)
        if a is None:
            effects.append(STRICTER)
        elif b is None:
            effects.append(LOOSER)
        elif _expr_key(a) != _expr_key(b):
            effects.append(_leaf_effect(a, b))
    return effects


_VERDICT_WORDS = {STRICTER: "stricter", LOOSER: "looser",
                  MIXED: "stricter in some ways and looser in others",
                  UNKNOWN: "changed in ways that cannot be ranked"}


def _verdict_sentences(policy: nodes.Policy, verdicts: Sequence[Verdict]) -> list[str]:
    """One sentence per product or group, naming the channels that share a verdict."""
    sentences = []
    for target in dict.fromkeys(v.target for v in verdicts):
        mine = [v for v in verdicts if v.target == target]
        by_outcome: dict[tuple[str, str], list[str]] = {}
        for v in mine:
            if (v.point_of_service, v.on_review) != (UNCHANGED, UNCHANGED):
                by_outcome.setdefault((v.point_of_service, v.on_review), []).append(v.channel)
        for (service, review), channels in by_outcome.items():
            where = words.join_words([_channel_words(policy, c) for c in channels])
            if review == UNCHANGED:
                how = _VERDICT_WORDS[service]
            elif service == UNCHANGED:
                how = (f"unchanged at the point of service and {_VERDICT_WORDS[review]} on "
                       "exception review")
            else:
                how = (f"{_VERDICT_WORDS[service]} at the point of service and "
                       f"{_VERDICT_WORDS[review]} on exception review")
            sentences.append(f"For {mine[0].name} at {where}, the new version is {how}.")
    return sentences


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
    from dqmc.lang.pipeline import compile_paths

    if not Path(path).is_file():
        raise DiffInputError(f"no such spec file: {path}")
    result = compile_paths([path])
    _report(result)
    return result.compiled[0].policy if result.ok else None


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
    result = compile_text(f"{revision}:{display_path(spec)}", text.replace("\r\n", "\n"))
    if result.diagnostics:
        print(render_all(result.diagnostics, {result.path: result.source}), file=sys.stderr)
    if result.policy is None or has_errors(result.diagnostics):
        return None
    return result.policy
