"""Rule checks in thousandths and ordinals: each rule applied to a claim and its kept history."""

from __future__ import annotations

from collections.abc import Sequence

from .history import Kept
from .read import _DAY_TEXT, _FIRST_DAY, _MILLI_TEXT, day_text, milli_text
from .tables import Product, Rule
from .texts import (
    _days,
    dose_detail,
    dose_lines,
    dose_share,
    dur_codes_text,
    dur_match,
    first_fill_detail,
    message,
    therapy_detail,
)

# A rule applied to a claim: (its trace step, passed, allowed or None, prior or None, window
# start (ISO text) or None, message, rule) — quantities in thousandths. The trace step is the
# dict the decision lists (step, result, detail, source), made once here. `decide.judge` turns a
# list of them into the decision; `authorizations.override` compares lists by passed and allowed.
TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from collections.abc import Callable

    Check = tuple[dict[str, object], bool, int | None, int | None, str | None, str | None, Rule]
    # What daily-dose and soft edits read of a claim: (its prior fills of the dose rules' scope
    # whose supply may be active, as (first day, last day, product, ndc, thousandths), its
    # member's exclusions, its DUR/PPS entries as (reason, service, result), and an empty list
    # in which `_dose_check` keeps the active fills' shares per terms for the claim's next line).
    Member = tuple[Sequence[tuple], frozenset[str], Sequence[tuple], list[tuple]]
else:
    Check = tuple
    Member = tuple


def check_rules(rules: Sequence[Rule], requested: int, asked: str, days_supply: int, end: int,
                end_text: str, history: Sequence[Kept], daily_rate: bool,
                own: Product | None = None, supplies: Sequence[tuple] | None = None,
                member: Member | None = None) -> list[Check]:
    """Every rule's check, then (where the policy declares it) every window rule's daily rate.

    `asked` is `requested` as text, `end` the date of service (an ordinal) and `end_text` the
    same date in ISO form. A fill
    count's prior quantity adds only the fills of `own`'s scope (the claim's product and the
    members of its group billed in its unit): a group of mixed units counts fills, not amounts.
    `supplies` are the prior supply periods therapy rules measure (`therapy_supplies`);
    `member` what daily-dose and soft edits read (`Member`), for products that have them.
    """
    checks = []  # a loop, not a comprehension: cheaper for the one or two rules of most plans
    for r in rules:
        if r.exempt and member is not None and not r.exempt.isdisjoint(member[1]):
            checks.append(_exempt(r, member[1]))
            continue
        check = CHECKS[r.kind](r, requested, asked, days_supply, end, end_text, history,
                               own, supplies, member)
        if not check[1] and r.overrides and member is not None:
            passed_by = dur_match(r.overrides, member[2])
            if passed_by is not None:
                check = _overridden(check, passed_by)
        checks.append(check)
    if daily_rate:
        for r in rules:
            if r.kind == "per_window":
                limit, days = r.limit, r.days
                passed = requested * days <= limit * days_supply  # type: ignore[operator]
                detail = (f"requested {asked} {r.unit} / {days_supply} days"
                          f" {'<=' if passed else '>'} {r.limit_text} {r.unit} / {days} days")
                checks.append(({"step": "daily_rate", "result": "pass" if passed else "fail",
                                "detail": detail, "source": r.source},
                               passed, limit * days_supply // days, None, None,  # type: ignore[operator]
                               r.daily_message, r))
    return checks


# Each rule kind's check: (rule, requested, its text, days supply, end, its text, history,
# the claim's product, therapy supplies) → its Check. A new kind adds its function to CHECKS.


def _window_check(r: Rule, requested: int, asked: str, days_supply: int, end: int,
                  end_text: str, history: Sequence[Kept], own: Product | None,
                  supplies: Sequence[tuple] | None, member: Member | None = None) -> Check:
    """Q per N days: the paid fills of the rule's scope in the window ending on the date of
    service, plus this claim, at most the quantity."""
    start = end - r.days + 1  # type: ignore[operator]
    if start < _FIRST_DAY:
        start = _FIRST_DAY
    prior = 0
    if history:
        scope, ndcs = r.scope, r.ndcs
        for day, amount, named, ndc in history:
            if start <= day <= end and (named in scope or ndc in ndcs):
                prior += amount
    limit, total = r.limit, prior + requested
    plus, equals, within, over = r.words
    passed = total <= limit  # type: ignore[operator]
    first = _DAY_TEXT.get(start) or day_text(start)
    detail = (f"window {first}..{end_text}: prior"
              f" {(_MILLI_TEXT.get(prior) or milli_text(prior)) if prior else '0'}{plus}{asked}"
              f"{equals}{_MILLI_TEXT.get(total) or milli_text(total)}{within if passed else over}")
    return ({"step": "accumulate", "result": "pass" if passed else "fail", "detail": detail,
             "source": r.source},
            passed, limit - prior if prior < limit else 0, prior, first, r.message, r)  # type: ignore[operator]


def _fill_check(r: Rule, requested: int, asked: str, days_supply: int, end: int,
                end_text: str, history: Sequence[Kept], own: Product | None,
                supplies: Sequence[tuple] | None, member: Member | None = None) -> Check:
    """Q per fill: this claim's quantity alone."""
    limit, unit = r.limit, r.unit
    passed = requested <= limit  # type: ignore[operator]
    detail = f"requested {asked} {unit} {'<=' if passed else '>'} {r.limit_text} {unit} per fill"
    return ({"step": "per_fill", "result": "pass" if passed else "fail", "detail": detail,
             "source": r.source}, passed, limit, None, None, r.message, r)


def _day_check(r: Rule, requested: int, asked: str, days_supply: int, end: int,
               end_text: str, history: Sequence[Kept], own: Product | None,
               supplies: Sequence[tuple] | None, member: Member | None = None) -> Check:
    """Q per day: the quantity times the days supply, for up to `max_days` days if stated."""
    limit, unit, max_days = r.limit, r.unit, r.max_days
    allows = limit * days_supply  # type: ignore[operator]
    if max_days is None:
        passed = requested <= allows
        allowed = allows
        tail = ""
    else:
        passed = requested <= allows and days_supply <= max_days
        allowed = limit * min(days_supply, max_days)  # type: ignore[operator]
        tail = f", for up to {_days(max_days)}"
    detail = (f"requested {asked} {unit} for {days_supply} days supply, {r.limit_text}"
              f" {unit} per day allows {milli_text(allows)} {unit}{tail}"
              f"{'' if passed else ': exceeded'}")
    return ({"step": "per_day", "result": "pass" if passed else "fail", "detail": detail,
             "source": r.source}, passed, allowed, None, None, r.message, r)


def _fills_check(r: Rule, requested: int, asked: str, days_supply: int, end: int,
                 end_text: str, history: Sequence[Kept], own: Product | None,
                 supplies: Sequence[tuple] | None, member: Member | None = None) -> Check:
    """F fills per N days: the paid fills of the rule's scope in the window, plus this one."""
    start = end - r.days + 1  # type: ignore[operator]
    start = max(start, _FIRST_DAY)
    scope, ndcs, fills = r.scope, r.ndcs, r.fills
    same = (own.scope, own.ndcs) if own is not None else (scope, ndcs)
    count = prior = 0
    for day, amount, named, ndc in history:
        if start <= day <= end and (named in scope or ndc in ndcs):
            count += 1
            if named in same[0] or ndc in same[1]:
                prior += amount
    passed = count + 1 <= fills  # type: ignore[operator]
    first = day_text(start)
    detail = (f"window {first}..{end_text}: {count} prior fills + this claim"
              f" = {count + 1} {'<=' if passed else '>'} {fills}")
    return ({"step": "fills", "result": "pass" if passed else "fail", "detail": detail,
             "source": r.source},
            passed, None if count < fills else 0, prior, first, r.message, r)  # type: ignore[operator]


def _days_supply_check(r: Rule, requested: int, asked: str, days_supply: int, end: int,
                       end_text: str, history: Sequence[Kept], own: Product | None,
                       supplies: Sequence[tuple] | None, member: Member | None = None) -> Check:
    """At most D days supply."""
    passed = days_supply <= r.days  # type: ignore[operator]
    detail = f"days supply {days_supply} {'<=' if passed else '>'} {r.days}"
    return ({"step": "days_supply", "result": "pass" if passed else "fail", "detail": detail,
             "source": r.source}, passed, None, None, None, r.message, r)


def _therapy(r: Rule, requested: int, asked: str, days_supply: int, end: int,
             end_text: str, history: Sequence[Kept], own: Product | None,
             supplies: Sequence[tuple] | None, member: Member | None = None) -> Check:
    return _therapy_check(r, days_supply, end, supplies or ())


def _therapy_check(r: Rule, days_supply: int, end: int, supplies: Sequence[tuple]) -> Check:
    """A therapy rule: the run of contiguous or overlapping supply periods (each from its fill
    date) that holds this claim's, from its first day to the last day of this claim's supply,
    at most `r.days` days. Only fills whose supply reaches one of the `r.days` days before the
    claim's date take part (`therapy_history_days`)."""
    reach, scope, ndcs = end - r.days, r.scope, r.ndcs  # type: ignore[operator]
    last = end + days_supply - 1
    spans = sorted([(first, through) for first, through, named, ndc in supplies
                    if through >= reach and (named in scope or ndc in ndcs)] + [(end, last)])
    # Runs of spans in order of their first day; every span starts on or before `end`, and the
    # claim's is among them, so the run still open at the end holds the claim.
    start, covered = spans[0]
    for first, through in spans:
        if first > covered + 1:
            start, covered = first, through
        elif through > covered:
            covered = through
    passed, detail = therapy_detail(start, last, r.days)  # type: ignore[arg-type]
    return ({"step": "therapy", "result": "pass" if passed else "fail", "detail": detail,
             "source": r.source}, passed, None, None, None, r.message, r)


def _dose_check(r: Rule, requested: int, asked: str, days_supply: int, end: int,
                end_text: str, history: Sequence[Kept], own: Product | None,
                supplies: Sequence[tuple] | None, member: Member | None = None) -> Check:
    """A cumulative daily dose: each active prior fill's quantity × its product's term ÷ its
    days supply, plus this claim's, below (or at most) the limit. Exact: every share is an
    integer fraction (thousandths × term ÷ days), the total their sum over a common
    denominator, so a total at the threshold is at it, not a rounding away."""
    terms = r.terms
    # The active fills' shares are the same for every line of the same terms (90 and 200 MME):
    # worked out for the first, kept in the claim's `Member` for the others.
    shared = member[3] if member is not None else []
    found = next((s for s in shared if s[0] is terms), None)
    if found is None:
        shares = []
        total_n, total_d = 0, 1
        for first, last, named, ndc, amount in (member[0] if member is not None else ()):
            term = terms.get(named) or terms.get(ndc)  # type: ignore[union-attr]
            if term is not None and first <= end <= last:
                share = (amount * term[0], 1000 * term[1] * (last - first + 1))
                shares.append(dose_share(f"{day_text(first)} {named or ndc}", share))
                total_n, total_d = total_n * share[1] + share[0] * total_d, total_d * share[1]
        found = (terms, shares, total_n, total_d)
        shared.append(found)
    _, others, others_n, others_d = found
    total_n, total_d = others_n, others_d
    term = terms.get(own.id) if own is not None else None  # type: ignore[union-attr]
    unit_n, unit_d = term if term is not None else (0, 1)
    mine = (requested * unit_n, 1000 * unit_d * days_supply)
    total_n, total_d = total_n * mine[1] + mine[0] * total_d, total_d * mine[1]
    limit_n, limit_d = _ratio(r.limit_text)  # type: ignore[arg-type]
    below = r.kind == "daily_dose_below"
    # total <= limit  ⟺  total_n × limit_d <= limit_n × total_d (denominators are positive)
    left, right = total_n * limit_d, limit_n * total_d
    passed = left < right if below else left <= right
    allowed = None
    if unit_n:
        # The most thousandths q with others + q × unit ÷ (1000 × days) within the limit:
        # q <= (limit - others) × 1000 × days ÷ unit
        room_n = (limit_n * others_d - others_n * limit_d) * days_supply * unit_d * 1000
        room_d = limit_d * others_d * unit_n
        most = room_n // room_d
        if below and most * room_d == room_n:
            most -= 1
        if own is not None and own.unit == "each":  # a pharmacy dispenses whole tablets
            most -= most % 1000
        allowed = max(most, 0)
    detail = dose_detail(r.unit, [*others, dose_share("this claim", mine)],  # type: ignore[arg-type]
                         (total_n, total_d), below, r.limit_text, passed)  # type: ignore[arg-type]
    line = r.message if passed else r.message + "\n" + dose_lines(
        r.unit, (total_n, total_d), r.overrides[0] if r.overrides else None)  # type: ignore[arg-type]
    return ({"step": "daily_dose", "result": "pass" if passed else "fail", "detail": detail,
             "source": r.source}, passed, allowed, None, None, line, r)


_RATIOS: dict[str, tuple[int, int]] = {}


def _ratio(text: str) -> tuple[int, int]:
    """A decimal text as an exact (numerator, denominator), remembered."""
    found = _RATIOS.get(text)
    if found is None:
        from decimal import Decimal  # only the first claim under a dose rule pays for it

        found = _RATIOS[text] = Decimal(text).as_integer_ratio()
    return found


def _first_fill_check(r: Rule, requested: int, asked: str, days_supply: int, end: int,
                      end_text: str, history: Sequence[Kept], own: Product | None,
                      supplies: Sequence[tuple] | None, member: Member | None = None) -> Check:
    """A first fill: with no paid fill of the rule's scope in the look-back (`max_days` days
    before the date of service), at most `days` days supply."""
    scope, ndcs, first = r.scope, r.ndcs, end - r.max_days  # type: ignore[operator]
    last = max((day for day, _, named, ndc in history
                if first <= day < end and (named in scope or ndc in ndcs)), default=None)
    passed = last is not None or days_supply <= r.days  # type: ignore[operator]
    return ({"step": "first_fill", "result": "pass" if passed else "fail",
             "detail": first_fill_detail(last, r.max_days, days_supply, r.days, passed),  # type: ignore[arg-type]
             "source": r.source}, passed, None, None, None, r.message, r)


def _exempt(r: Rule, exclusions: frozenset[str]) -> Check:
    """A rule the member is exempt from: it passes, and bounds nothing."""
    named = ", ".join(sorted(r.exempt & exclusions))
    return ({"step": "exempt", "result": "pass",
             "detail": f"{r.text}: the member is exempt ({named})", "source": r.source},
            True, None, None, None, r.message, r)


def _overridden(check: Check, codes: tuple) -> Check:
    """A failed soft edit the claim's DUR/PPS codes pass: paid, and the decision says so."""
    step, _, _, prior, start, _, r = check
    sent = dur_codes_text(codes)
    detail = f"{step['detail']}; passed by DUR/PPS {sent}"
    return ({"step": "dur_override", "result": "pass", "detail": detail, "source": r.source},
            True, None, prior, start, message(f"SOFT EDIT PASSED BY DUR/PPS {sent}"), r)


if TYPE_CHECKING:
    CheckFunction = Callable[[Rule, int, str, int, int, str, Sequence[Kept], "Product | None",
                              "Sequence[tuple] | None", "Member | None"], Check]

# The check of each rule kind (tables.Rule.kind). `not_covered` has none: a claim under it is
# refused before the checks (decide.judge).
CHECKS: dict[str, CheckFunction] = {
    "per_window": _window_check,
    "per_fill": _fill_check,
    "per_day": _day_check,
    "fills_per_window": _fills_check,
    "days_supply_max": _days_supply_check,
    "therapy_max": _therapy,
    "daily_dose": _dose_check,
    "daily_dose_below": _dose_check,
    "first_fill": _first_fill_check,
}
