"""Wording both evaluators share: quantities, messages (NCPDP 526-FQ), rule texts, trace steps."""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from .read import _LAST_DAY, _remember, day_text, milli_text
from .values import _CONTEXT, _MILLI, _UNIT_MESSAGE, MAX_DAYS_SUPPLY, MESSAGE_WIDTH, Step

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from .claims import Authorization, HistoryEntry

# ---------------------------------------------------------------------------------------------
# Text: quantities, messages, rule wording


_QUANTITY_TEXT: dict[Decimal, str] = {}


def quantity_text(value: Decimal) -> str:
    """A quantity as plain decimal text without exponent or trailing zeros: 30.000 → "30"."""
    text = _QUANTITY_TEXT.get(value)
    if text is None:
        if value == value.to_integral_value():
            text = str(int(value))
        else:
            text = format(value.normalize(), "f")
        _remember(_QUANTITY_TEXT, value, text)
    return text


def message(text: str) -> str:
    """A 526-FQ message line: printable ASCII, upper-case, at most 40 characters."""
    if not (text.isascii() and text.isprintable()):
        text = "".join(c if " " <= c <= "~" else "?" for c in text)
    return text.upper()[:MESSAGE_WIDTH].rstrip()


def unit_message(unit: str) -> str:
    return _UNIT_MESSAGE.get(unit, unit.upper())


# Rejects repeat the same few maxima: each line is made once (by (quantity text, unit)).
_MAX_ALLOWED: dict[tuple[str, str], str] = {}


def max_allowed_message(allowed_text: str, unit: str) -> str:
    """The line a reject by a rule adds after the rule's own: "MAX ALLOWED NOW 15 G"."""
    line = _MAX_ALLOWED.get((allowed_text, unit))
    if line is None:
        line = message(f"MAX ALLOWED NOW {allowed_text} {unit_message(unit)}")
        _remember(_MAX_ALLOWED, (allowed_text, unit), line)
    return line


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def rule_text(kind: str, quantity: Decimal | None, unit: str | None, days: int | None,
              fills: int | None = None, max_days: int | None = None) -> str:
    """How a rule reads in a trace or a review result, e.g. "30 g per 30 days"."""
    if kind == "per_window":
        return f"{quantity_text(quantity)} {unit} per {_days(days)}"  # type: ignore[arg-type]
    if kind == "per_fill":
        return f"{quantity_text(quantity)} {unit} per fill"  # type: ignore[arg-type]
    if kind == "per_day":
        text = f"{quantity_text(quantity)} {unit} per day"  # type: ignore[arg-type]
        return text if max_days is None else f"{text} for up to {_days(max_days)}"
    if kind == "fills_per_window":
        return f"{fills} fill{'' if fills == 1 else 's'} per {_days(days)}"  # type: ignore[arg-type]
    if kind == "not_covered":
        return "not covered"
    if kind == "no_limit":
        return "no limit"
    if kind == "therapy_max":
        return f"therapy at most {_days(days)}"  # type: ignore[arg-type]
    if kind in DOSE_KINDS:
        # `unit` is the dose's unit with what it measures: "mme", "mg acetaminophen"
        word = "below" if kind == "daily_dose_below" else "at most"
        return f"daily dose {word} {quantity_text(quantity)} {unit}"  # type: ignore[arg-type]
    if kind == "first_fill":
        return f"days supply at most {days} without a fill in {_days(max_days)}"  # type: ignore[arg-type]
    return f"days supply at most {days}"


def rule_message(kind: str, quantity: Decimal | None, unit: str | None, days: int | None,
                 fills: int | None = None, max_days: int | None = None) -> str:
    """The 526-FQ line stating a rule, e.g. "QL 30 G PER 30 DAYS"."""
    if kind == "per_window":
        text = f"QL {quantity_text(quantity)} {unit_message(unit)} PER {days} DAYS"  # type: ignore[arg-type]
    elif kind == "per_fill":
        text = f"QL {quantity_text(quantity)} {unit_message(unit)} PER FILL"  # type: ignore[arg-type]
    elif kind == "per_day":
        text = f"QL {quantity_text(quantity)} {unit_message(unit)} PER DAY"  # type: ignore[arg-type]
        if max_days is not None:
            text += f" UP TO {max_days} DAYS"
    elif kind == "fills_per_window":
        text = f"QL {fills} FILL{'' if fills == 1 else 'S'} PER {days} DAYS"
    elif kind == "not_covered":
        text = "NOT COVERED"
    elif kind == "no_limit":
        text = "NO LIMIT"
    elif kind == "therapy_max":
        text = f"THERAPY LIMIT {days} DAYS"
    elif kind in DOSE_KINDS:
        text = (f"{unit} {'<' if kind == 'daily_dose_below' else '<='}"
                f" {quantity_text(quantity)} PER DAY")  # type: ignore[arg-type]
    elif kind == "first_fill":
        text = f"FIRST FILL DAYS SUPPLY LIMIT {days}"
    else:
        text = f"DAYS SUPPLY LIMIT {days}"
    return message(text)


# The rule kinds of cumulative daily-dose limits: at most (<=) and below (<) the limit.
DOSE_KINDS = ("daily_dose", "daily_dose_below")


def dose_text(value: tuple[int, int]) -> str:
    """A daily dose, exact as (numerator, denominator >= 1) of a value >= 0, as text rounded
    half up to three decimals."""
    numerator, denominator = value
    return milli_text((numerator * 2000 + denominator) // (2 * denominator))


def dose_share(label: str, share: tuple[int, int]) -> str:
    """A fill's share of a daily dose as the trace lists it: `2026-08-01 oxycodone-10mg-tab 45`."""
    return f"{label} {dose_text(share)}"


def dose_detail(unit: str, shares: Sequence[str], total: tuple[int, int], below: bool,
                limit: str, passed: bool) -> str:
    """The trace of a daily-dose check: each active fill's share and this claim's (`dose_share`),
    the total."""
    sign = ("<" if below else "<=") if passed else (">=" if below else ">")
    return f"{unit} per day: {' + '.join(shares)} = {dose_text(total)} {sign} {limit}"


def dose_lines(unit: str, total: tuple[int, int], override: tuple | None) -> str:
    """The 526-FQ lines of a failed daily-dose check (newline-separated): the cumulative dose,
    and for a soft edit the DUR/PPS codes that pass it."""
    text = message(f"TOTAL {dose_text(total)} {unit}/DAY")
    if override is not None:
        text += "\n" + message("SOFT EDIT: RESUBMIT WITH DUR/PPS " + dur_codes_text(override))
    return text


def dur_codes_text(override: Sequence[str | None]) -> str:
    """DUR/PPS codes as a pharmacist sends them: "M0/1G", reason/service/result, "*" for any."""
    return "/".join(code or "*" for code in override)


def dur_match(overrides: Sequence[tuple], sent: Sequence[tuple]) -> tuple | None:
    """The first of a soft edit's code sets that some DUR/PPS entry of the claim carries (a code
    the set leaves out matches any value); None when none does."""
    for wanted in overrides:
        for entry in sent:
            if all(w is None or w == e for w, e in zip(wanted, entry, strict=True)):
                return wanted
    return None


def first_fill_detail(last: int | None, lookback: int, days_supply: int, days: int,
                      passed: bool) -> str:
    """The trace of a first-fill check: the latest fill in the look-back, or the claim's days
    supply against the first-fill limit."""
    if last is not None:
        return f"not a first fill: a fill on {day_text(last)} is within {_days(lookback)}"
    return (f"no fill in the {_days(lookback)} before: days supply {days_supply}"
            f" {'<=' if passed else '>'} {days}")


def not_covered_texts(product_id: str, channel: str) -> tuple[str, str]:
    """(message line, trace detail) of a claim at a channel where its product is not covered."""
    return message(f"NOT COVERED AT {channel}"), f"{product_id} is not covered at {channel}"


def authorization_required_texts(product_id: str, channel: str, day: str) -> tuple[str, str]:
    """(message line, trace detail) of a claim for a product that needs prior authorization
    when no authorization on the claim covers it."""
    detail = (f"{product_id} requires prior authorization and no active authorization on the"
              f" claim covers it at {channel} on {day}")
    return message("PRIOR AUTHORIZATION REQUIRED"), detail


def authorization_held_step(authorization_id: str, product_id: str, source: str | None) -> Step:
    """The trace step of a prior authorization requirement that an authorization meets."""
    return ("authorize", "pass",
            f"prior authorization required for {product_id}: {authorization_id} covers it",
            source)


def daily_rate_message(quantity: Decimal, unit: str, days: int) -> str:
    return message(f"DAILY RATE OVER {quantity_text(quantity)} {unit_message(unit)}/{days} DAYS")


# Trace wording both evaluators share, so their decisions agree to the letter.


# What a version is chosen by: a claim's date of service, a review's request date, or a day the
# caller forces (`dqmc eval --as-of`).
BY_SERVICE, BY_REQUEST, BY_AS_OF = "date of service", "request date", "as of"


def version_json(basis: str, day: str, period: str, source: str | None) -> dict[str, object]:
    """The trace step saying which version decided and why (docs/semantics.md §2.7)."""
    return {"step": "version", "result": "info", "detail": version_detail(basis, day, period),
            "source": source}


def version_detail(basis: str, day: str, period: str) -> str:
    return f"{basis} {day}: the version in force {period}"


def validated_step(source: str | None) -> Step:
    return ("validate", "pass", "the claim is well-formed", source)


def matched_step(product: str, channel: str, source: str | None) -> Step:
    return ("match", "pass", f"product {product} at channel {channel}", source)


def select_step(texts: Sequence[str], authorization: Authorization | None,
                source: str | None) -> Step:
    """The rules the claim is held to: the base limits, or an authorization's instead."""
    rules = "; ".join(texts)
    if authorization is None:
        return ("select", "info", f"base limits: {rules}", source)
    named = f" ({authorization.criterion})" if authorization.criterion else ""
    return ("select", "info",
            f"authorization {authorization.id}{named} replaces the base limits: {rules}", source)


def authorization_step(authorization: Authorization, applies: bool, why: str,
                       source: str | None) -> Step:
    return ("authorize", "pass" if applies else "skip", f"authorization {authorization.id}: {why}",
            source)


def window_detail(start: date, end: date, prior: Decimal, requested: Decimal, limit: Decimal,
                  unit: str, passed: bool) -> str:
    total = prior + requested
    return (f"window {start.isoformat()}..{end.isoformat()}: prior {quantity_text(prior)} {unit}"
            f" + requested {quantity_text(requested)} {unit} = {quantity_text(total)} {unit}"
            f" {'<=' if passed else '>'} {quantity_text(limit)} {unit}")


def per_fill_detail(requested: Decimal, limit: Decimal, unit: str, passed: bool) -> str:
    return (f"requested {quantity_text(requested)} {unit} {'<=' if passed else '>'}"
            f" {quantity_text(limit)} {unit} per fill")


def per_day_detail(requested: Decimal, days_supply: int, daily: Decimal, unit: str,
                   max_days: int | None, passed: bool) -> str:
    allows = quantity_text(daily * days_supply)
    text = (f"requested {quantity_text(requested)} {unit} for {days_supply} days supply,"
            f" {quantity_text(daily)} {unit} per day allows {allows} {unit}")
    if max_days is not None:
        text += f", for up to {_days(max_days)}"
    return text + ("" if passed else ": exceeded")


def fills_detail(start: date, end: date, prior_fills: int, fills: int, passed: bool) -> str:
    return (f"window {start.isoformat()}..{end.isoformat()}: {prior_fills} prior fills + this claim"
            f" = {prior_fills + 1} {'<=' if passed else '>'} {fills}")


def days_supply_detail(days_supply: int, days: int, passed: bool) -> str:
    return f"days supply {days_supply} {'<=' if passed else '>'} {days}"


def therapy_detail(first: int, last: int, days: int) -> tuple[bool, str]:
    """(passed, trace detail) of a therapy rule whose course runs from the ordinal `first` to
    the last day of the claim's supply `last` (which may lie past 9999-12-31: the text then
    stops there, the count does not)."""
    length = last - first + 1
    passed = length <= days
    shown = date.max.isoformat() if last > _LAST_DAY else day_text(last)
    return passed, (f"course {day_text(first)}..{shown} (through the end of this claim's supply):"
                    f" {_days(length)} {'<=' if passed else '>'} {days}")


def therapy_history_days(days: int) -> int:
    """The history a `therapy <= D days` rule needs, as an inclusive window of days ending on
    the date of service: D + 999. A course longer than D days covers each of the D days before
    the claim's date, so only fills whose supply reaches one of them can decide it; a fill
    reaches back at most its days supply, at most 999 (NCPDP 405-D5), so each such fill is
    dated no earlier than the date of service − D − 998."""
    return days + MAX_DAYS_SUPPLY


def missing_supply_texts(index: int, entry: HistoryEntry, source: str | None
                         ) -> tuple[str, str]:
    """(message line, trace detail) when a prior fill a therapy rule measures has no
    days_supply: the claim is rejected 85, as for any record that might hide a fill."""
    label = entry.claim_id or ""
    detail = (f"history entry {index}{f' ({label})' if label else ''}: days_supply is missing;"
              f" the therapy rule at {source} measures each prior fill's supply")
    return message(f"BAD HISTORY ENTRY {index} {label}".rstrip()), detail


def daily_rate_detail(requested: Decimal, days_supply: int, limit: Decimal, days: int, unit: str,
                      passed: bool) -> str:
    return (f"requested {quantity_text(requested)} {unit} / {days_supply} days"
            f" {'<=' if passed else '>'} {quantity_text(limit)} {unit} / {days} days")


def daily_rate_allowed(limit: Decimal, days: int, days_supply: int) -> Decimal:
    """limit × days supply ÷ window, rounded down to the 0.001 a claim quantity can carry."""
    return _CONTEXT.divide(limit * days_supply, days).quantize(_MILLI, rounding=decimal.ROUND_FLOOR,
                                                               context=_CONTEXT)
