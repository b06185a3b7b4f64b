"""The constant tables generated policy modules decide from: rules, products, plans, packages."""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal

from .claims import Claim, HistoryEntry, _claim, _history_entry
from .dates import age_on
from .read import milli, milli_text
from .texts import (
    DOSE_KINDS,
    daily_rate_message,
    matched_step,
    message,
    quantity_text,
    rule_message,
    rule_text,
    select_step,
    therapy_history_days,
)
from .values import _CONTEXT, Step, _named, _NamedTuple

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    # A generated module's selector: (birth ordinal, package, date of service ordinal) → the
    # rules that apply, or the Refusal when the claim cannot tell.
    Selector = Callable[[int | None, str | None, int], "tuple[Rule, ...] | Refusal"]

# ---------------------------------------------------------------------------------------------
# Support for generated policy modules
#
# A claim that arrives as plain decoded JSON is read straight into local values
# (`decide.decide_plain`) and decided from a generated module's constant tables of its products,
# plans and rules (its policy's plan, dqmc.lang.plan); no Claim or HistoryEntry is built. Quantities
# on this path are whole thousandths (int): parsing bounds claim quantities to three decimals, so
# integer arithmetic is exact, needs no decimal context and is several times cheaper than Decimal.
# Dates are proleptic ordinals. Claims of any other shape (typed instances, Mappings, tuples,
# Decimal or float quantities) and malformed ones go through `parse_claim`, and their typed fields
# are converted to the same values, so both ways in reach the same tables and the same decision
# code. The semantics are those of the interpreter (dqmc.interpreter), implemented again here over
# precomputed tables; the differential tests hold the two to agreement on every field.



def step_json(step: Step) -> dict[str, object]:
    """A trace step as the decision writes it. Generated modules keep their constant steps in
    this form and copy them into each decision, which is cheaper than building them."""
    return {"step": step[0], "result": step[1], "detail": step[2], "source": step[3]}


def age_between(birth: int, day: int) -> int:
    """age_on for two ordinals."""
    return age_on(date.fromordinal(birth), date.fromordinal(day))


@_named
class Rule(_NamedTuple):
    """A base limit or an approval as generated modules carry it: numbers in thousandths, texts
    written once. Built by `rule()` when the module is imported."""

    kind: str  # per_window, per_fill, per_day, fills_per_window, days_supply_max, therapy_max
    limit: int | None  # the quantity in thousandths (per day: the daily quantity)
    limit_text: str | None
    unit: str | None
    days: int | None  # the window; 1 for a per-day rule; None for a per-fill rule
    fills: int | None
    max_days: int | None
    scope: frozenset[str]  # products whose history counts
    ndcs: frozenset[str]  # and their NDCs
    source: str | None  # "file:line" the trace cites
    message: str  # the 526-FQ line stating the rule
    text: str  # as the select step lists it ("(hard)" marks a hard ceiling)
    hard: bool
    applied: dict[str, object]  # the decision's "limit" (copied into each decision)
    daily_message: str | None  # the daily-rate check's line, when the policy declares it
    # The package noun when `limit` counts packages sized by the drug file (thousandths of
    # packages, not of billing units): `sized_rule` turns it into billing units for one claim.
    noun: str | None
    # A window rule's trace wording around the claim's numbers, written once (checks.py):
    # " g + requested ", " g = ", " g <= 30 g", " g > 30 g"; () for other kinds.
    words: tuple[str, ...]
    # Daily-dose rules: what one billing unit of each product (by id and by NDC) adds to the
    # measure per day of supply, as an exact (numerator, denominator)
    terms: Mapping[str, tuple[int, int]] | None
    # A soft edit's DUR/PPS code sets (reason, service, result; None: any) that pass it
    overrides: tuple[tuple[str | None, str | None, str | None], ...]
    exempt: frozenset[str]  # member exclusions that exempt a claim from the rule
    reject_code: str | None  # the code it rejects with; None: the policy's


_NONE: frozenset[str] = frozenset()
_TERMS: dict[frozenset, dict[str, tuple[int, int]]] = {}


def rule(kind: str, quantity: str | None = None, unit: str | None = None, days: int | None = None,
         fills: int | None = None, max_days: int | None = None, scope: frozenset[str] = _NONE,
         ndcs: frozenset[str] = _NONE, source: str | None = None, *, hard: bool = False,
         daily_rate: bool = False, origin: str = "base", authorization_id: str | None = None,
         noun: str | None = None, note: str = "", terms: Mapping[str, str] | None = None,
         overrides: tuple[tuple[str | None, str | None, str | None], ...] = (),
         exempt: frozenset[str] = _NONE, reject_code: str | None = None) -> Rule:
    """A Rule from its spec values (`quantity` as decimal text); `origin` is base or override.
    Generated modules name every argument not at its default.

    With `noun`, `quantity` counts packages whose size the drug file gives; `note` follows the
    rule's text (`sized_rule` says there how many packages of which size the limit is)."""
    amount = None if quantity is None else Decimal(quantity)
    # Texts of quantities normalise them, which rounds to the context's precision: an
    # authorization's limits are read here while the caller's context is in force.
    with decimal.localcontext(_CONTEXT):
        if noun is None:
            text = rule_text(kind, amount, unit, days, fills, max_days) + note
        else:
            text = rule_text(kind, amount, noun, days, fills, max_days) + " (drug file sizes)"
        limit_text = None if amount is None else quantity_text(amount)
        line = rule_message(kind, amount, unit, days, fills, max_days)
        daily = None
        if daily_rate and kind == "per_window":
            daily = daily_rate_message(amount, unit, days)  # type: ignore[arg-type]
    applied: dict[str, object] = {
        "quantity": limit_text, "unit": None if kind in DOSE_KINDS else unit, "days": days,
        "source": origin, "authorization_id": authorization_id, "kind": kind, "text": text}
    words = ((f" {unit} + requested ", f" {unit} = ", f" {unit} <= {limit_text} {unit}",
              f" {unit} > {limit_text} {unit}") if kind == "per_window" else ())
    exact = None
    if terms is not None:
        exact = {named: Decimal(term).as_integer_ratio() for named, term in terms.items()}
        # one mapping for equal terms: a claim's lines of the same terms share their fills'
        # shares (checks._dose_check)
        exact = _TERMS.setdefault(frozenset(exact.items()), exact)
    return Rule(kind, None if amount is None or kind in DOSE_KINDS else milli(amount),
                limit_text, unit, days, fills, max_days, scope, ndcs, source, line,
                text + (" (hard)" if hard else ""), hard, applied, daily, noun, words, exact,
                overrides, exempt, reject_code)


def package_count_note(packages: str, noun: str, size: str, unit: str) -> str:
    """What a limit counted in drug-file packages is for one claim: " (3 × 10 mL vial)"."""
    return f" ({packages} × {size} {unit} {noun})"


def sized_rule(r: Rule, size: int) -> Rule:
    """A rule counted in packages sized by the drug file, in billing units for a claim whose
    package holds `size` thousandths: the count times the size, rounded down to a thousandth
    (a limit is never rounded up). Other rules are returned as they are."""
    if r.noun is None:
        return r
    note = package_count_note(r.limit_text, r.noun, milli_text(size), r.unit)  # type: ignore[arg-type]
    return rule(r.kind, milli_text(r.limit * size // 1000), r.unit, r.days, r.fills,  # type: ignore[operator]
                r.max_days, r.scope, r.ndcs, r.source, hard=r.hard,
                daily_rate=r.daily_message is not None, origin=r.applied["source"],  # type: ignore[arg-type]
                authorization_id=r.applied["authorization_id"], note=note,  # type: ignore[arg-type]
                overrides=r.overrides, exempt=r.exempt, reject_code=r.reject_code)


def sized_history_amount(amount: int, size: int, own_size: int) -> int:
    """A prior fill of `amount` thousandths from packages of `own_size`, counted in packages of
    the claim's `size`: rounded up to a thousandth (a prior fill is never counted short)."""
    if own_size == size:
        return amount
    return -(-amount * size // own_size)


def sized_history(entries: Sequence[HistoryEntry], claim_id: str | None, claim_ndc: str | None,
                  scope: frozenset[str] | tuple[str, ...], ndcs: frozenset[str] | tuple[str, ...],
                  size: int) -> tuple[HistoryEntry, ...] | tuple[int, HistoryEntry]:
    """A claim's history with the paid fills of `scope` (products and NDCs counted in packages
    sized by the drug file) converted to the claim's package size; or (index from 1, entry) of
    the first such fill that has no `package_size` and not the claim's NDC."""
    out = []
    for index, entry in enumerate(entries, 1):
        if (entry.status == "paid" and (claim_id is None or entry.claim_id != claim_id)
                and (entry.product in scope or entry.ndc in ndcs)):
            if entry.package_size is not None:
                own = milli(entry.package_size)
            elif entry.ndc is not None and entry.ndc == claim_ndc:
                own = size
            else:
                return index, entry
            if own != size:
                amount = sized_history_amount(milli(entry.quantity), size, own)
                entry = _history_entry(entry.date_of_service, Decimal(amount).scaleb(-3),
                                       entry.status, entry.claim_id, entry.product, entry.ndc,
                                       entry.days_supply, entry.channel, entry.package_size,
                                       entry.unit)
        out.append(entry)
    return tuple(out)


def with_history(claim: Claim, history: tuple[HistoryEntry, ...]) -> Claim:
    """The claim with another history (sized_history's)."""
    return _claim(claim.date_of_service, claim.quantity, claim.unit, claim.days_supply,
                  claim.channel, claim.claim_id, claim.product, claim.ndc, claim.package,
                  claim.birth_date, history, claim.authorizations, claim.package_size,
                  claim.exclusions, claim.dur_pps)


def unsized_history_texts(index: int, entry: HistoryEntry, product_id: str) -> tuple[str, str]:
    """(message line, trace detail) when a prior fill cannot be counted in packages."""
    label = entry.claim_id or ""
    detail = (f"history entry {index}{f' ({label})' if label else ''}: package_size is missing;"
              f" the package size of {product_id} comes from the drug file, and this fill has"
              " another NDC than the claim (or none)")
    return message(f"BAD HISTORY ENTRY {index} {label}".rstrip()), detail


@_named
class Plan(_NamedTuple):
    """The limits of one product at one channel, with what the trace says about them."""

    matched: dict[str, object]  # the match step (step_json)
    rules: tuple[Rule, ...]  # every base limit that may apply here
    select: Selector | None  # picks among rules by selectors
    selected: dict[str, object] | None  # the select step, when no selector decides
    approvals: Mapping[str, tuple[Rule, ...]]  # criterion → the approvals that replace the base
    first_source: str | None  # the first candidate limit's spec line
    # When a therapy rule (base or approved) is stated here: (the days of history its longest
    # look-back needs, every product and NDC those rules count, the first one's spec line).
    therapy: tuple[int, frozenset[str], frozenset[str], str | None] | None
    hard: tuple[Rule, ...]  # the hard ones of `rules`: they hold under every authorization
    # The first `not covered` rule of `rules` (None: none), for a plan without selectors.
    not_covered: Rule | None
    approved_texts: Mapping[str, str]  # criterion → its approvals' texts, as steps list them
    # When a daily-dose rule (base or approved) is stated here: (every product id and NDC those
    # rules count, the first one's spec line); the claim's active fills are read for them.
    dose: tuple[frozenset[str], str | None] | None
    # The plan's one rule when, with no selector, the whole check is that rule's own (no
    # daily rate, exemption or DUR/PPS override): `judge` calls its check and nothing else.
    lone: Rule | None


def _lone(rules: tuple[Rule, ...], select: Selector | None) -> Rule | None:
    if select is not None or len(rules) != 1:
        return None
    r = rules[0]
    return r if r.daily_message is None and not r.exempt and not r.overrides else None


def plan(product_id: str, channel: str, location: str, rules: tuple[Rule, ...],
         approvals: Mapping[str, tuple[Rule, ...]], select: Selector | None = None) -> Plan:
    """A Plan; `select` is the module's selector function when any of the rules has selectors."""
    selected = None if select is not None else step_json(
        select_step([r.text for r in rules], None, rules[0].source))
    courses = [r for r in rules + tuple(r for a in approvals.values() for r in a)
               if r.kind == "therapy_max"]
    therapy = None
    if courses:
        therapy = (max(therapy_history_days(r.days) for r in courses),  # type: ignore[arg-type]
                   frozenset().union(*(r.scope for r in courses)),
                   frozenset().union(*(r.ndcs for r in courses)), courses[0].source)
    doses = [r for r in rules + tuple(r for a in approvals.values() for r in a)
             if r.terms is not None]
    dose = None
    if doses:
        dose = (frozenset().union(*(r.terms for r in doses)), doses[0].source)  # type: ignore[arg-type]
    return Plan(step_json(matched_step(product_id, channel, location)), rules, select, selected,
                approvals, rules[0].source, therapy, tuple(r for r in rules if r.hard),
                next((r for r in rules if r.kind == "not_covered"), None),
                _approved_texts(approvals), dose, _lone(rules, select))


def _approved_texts(approvals: Mapping[str, tuple[Rule, ...]]) -> dict[str, str]:
    return {criterion: "; ".join(r.text for r in rules) for criterion, rules in approvals.items()}


def sized_plan(chosen: Plan, size: int) -> Plan:
    """A plan whose rules count packages sized by the drug file, for a claim whose package holds
    `size` thousandths of a billing unit (see `sized_rule`)."""
    def sized(rules: Sequence[Rule]) -> tuple[Rule, ...]:
        return tuple(sized_rule(r, size) for r in rules)

    select = chosen.select
    if select is not None:
        pick = select

        def select(birth: int | None, package: str | None, end: int
                   ) -> tuple[Rule, ...] | Refusal:
            rules = pick(birth, package, end)
            return rules if isinstance(rules, Refusal) else sized(rules)

    rules = sized(chosen.rules)
    selected = None if select is not None else step_json(
        select_step([r.text for r in rules], None, rules[0].source))
    approvals = {c: sized(a) for c, a in chosen.approvals.items()}
    return chosen._replace(rules=rules, select=select, selected=selected, approvals=approvals,
                           approved_texts=_approved_texts(approvals),
                           hard=tuple(r for r in rules if r.hard),
                           not_covered=next((r for r in rules if r.kind == "not_covered"), None),
                           lone=_lone(rules, select))


@_named
class Product(_NamedTuple):
    """A product of a generated module: its unit, its names, its packages and its plans."""

    id: str
    unit: str
    location: str
    cover: frozenset[str]  # the ids an authorization may name it by
    scope: frozenset[str]  # its group's products (or itself): explicit limits and fills count these
    ndcs: frozenset[str]
    lists_ndcs: bool  # an NDC it does not list is refused
    sizes: Mapping[str, int | None]  # package id → size in thousandths (None: the drug file's)
    size: int | None  # the size when the claim names no package: the only one, if one
    plans: Mapping[str, Plan]  # channel → its limits
    reach: int  # the longest window of its base limits, in days (0: none counts history)
    reach_scope: frozenset[str]  # every product those limits count
    reach_ndcs: frozenset[str]
    authorization: str | None  # the spec line requiring prior authorization, or None
    drug_file: bool  # its package size comes from the drug file: claims bring `package_size`
    # A therapy or daily-dose rule, an exclusion or a soft edit is stated for it: deciding its
    # claims takes each prior fill's supply and the member's exclusions and DUR/PPS codes
    # (`keep_history`'s paid fills, `supply_periods`).
    therapy: bool


def product(product_id: str, unit: str, location: str, *, group: str | None = None,
            ndcs: tuple[str, ...] = (), scope: frozenset[str] | None = None,
            scope_ndcs: frozenset[str] = _NONE, sizes: Mapping[str, str | None] | None = None,
            authorization: str | None = None, plans: Mapping[str, Mapping]) -> Product:
    """A Product from its spec values: its group, its own NDCs, its group's products (scope)
    and their NDCs, package sizes as decimal text, the spec line that requires prior
    authorization for it (if any), and per channel the arguments of its `plan` (`rules`,
    `approvals` by criterion, and `select` where selectors choose). What an authorization may
    call it, the plans' steps and the history it can count are worked out here."""
    cover = frozenset((product_id,) + ((group,) if group is not None else ()) + ndcs)
    millis = {package: None if size is None else milli(Decimal(size))
              for package, size in (sizes or {}).items()}
    distinct = set(millis.values())
    drug_file = None in distinct
    made = {channel: plan(product_id, channel, location, **entry)
            for channel, entry in plans.items()}
    counting = [r for p in made.values() for r in p.rules
                if r.kind in ("per_window", "fills_per_window", "first_fill")]
    # A first-fill rule looks at the `max_days` days before the date of service
    reach = 0
    for r in counting:
        days = (r.max_days or 0) + 1 if r.kind == "first_fill" else r.days or 0
        reach = max(reach, days)
    return Product(product_id, unit, location, cover,
                   frozenset((product_id,)) if scope is None else scope, scope_ndcs, bool(ndcs),
                   millis, distinct.pop() if len(distinct) == 1 else None, made, reach,
                   frozenset().union(*(r.scope for r in counting)),
                   frozenset().union(*(r.ndcs for r in counting)), authorization,
                   drug_file, any(p.therapy is not None or p.dose is not None
                                  or any(r.exempt or r.overrides for r in p.rules)
                                  for p in made.values()))


@_named
class Refusal(_NamedTuple):
    """A selector that cannot be told from the claim: the reject, at the select step."""

    code: str
    text: str
    detail: str
    source: str
