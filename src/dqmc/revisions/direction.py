"""Stricter or looser: which way one change goes (rule, duration, condition, kind of request)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from dqmc.lang.ir import nodes

STRICTER, LOOSER, MIXED, UNKNOWN, UNCHANGED = "stricter", "looser", "mixed", "unknown", "unchanged"

# Rough lengths, only to rank two approval durations against each other.
_DAYS_PER_UNIT = {"days": Decimal(1), "weeks": Decimal(7), "months": Decimal("30.4375"),
                  "years": Decimal("365.25")}


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
        case nodes.DaysSupplyMax(), nodes.DaysSupplyMax():
            return _from_signs(_sign(old.days, new.days))
        case nodes.TherapyMax(), nodes.TherapyMax():
            return _from_signs(_sign(old.days, new.days))
        case nodes.DailyDose(), nodes.DailyDose():
            if (old.measure, old.unit) != (new.measure, new.unit):
                return UNKNOWN
            # At one limit, `<=` allows the total that `<` rejects
            return _from_signs(_sign(old.limit, new.limit),
                               _sign(int(old.op == "<="), int(new.op == "<=")))
        case nodes.FirstFill(), nodes.FirstFill():
            # A longer look-back finds more earlier fills: fewer members are new to the drug
            return _from_signs(_sign(old.days, new.days), _sign(old.lookback, new.lookback))
    return UNKNOWN


def more_is_stricter(old: Decimal | None, new: Decimal | None) -> str | None:
    """The effect of an amount that makes a daily dose larger (a content, a factor): more is
    stricter; None when unchanged."""
    return _from_signs(_sign(new or Decimal(0), old or Decimal(0)))


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


def effective_duration(policy: nodes.Policy, criterion: nodes.Criterion) -> nodes.Duration:
    """The criterion's duration as lowering states it (its own, else the policy's); as requested
    for an IR built by hand that states neither, as a reviewer then reads it."""
    return (criterion.duration or policy.approval_duration
            or nodes.Duration(kind="as_requested"))


def duration_effect(old: nodes.Duration, new: nodes.Duration) -> str | None:
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


def serves_effect(old: str | None, new: str | None) -> str:
    """Serving fewer kinds of request approves less; initial ↔ renewal cannot be ranked."""
    if old is None:
        return STRICTER
    return LOOSER if new is None else UNKNOWN


def leaf_effect(old: nodes.Expr, new: nodes.Expr) -> str:
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
