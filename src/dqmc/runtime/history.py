"""History as the checks read it: one pass over a claim's history, keeping what may count."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from .claims import HistoryEntry, _history_entry
from .read import _FIRST_DAY, MILLI, ORDINAL, milli, read_milli, read_ndc, read_ordinal
from .tables import Plan, Product
from .texts import message, unit_message
from .values import MAX_DAYS_SUPPLY

# History as the checks read it: (ordinal, thousandths, product, ndc) of each paid entry that
# may count — not the claim itself (a rebill), and dated and scoped where some rule looks.
Kept = tuple


# A paid prior fill (not the claim itself) as the supply rules read it: (ordinal, thousandths,
# product, ndc, days supply or None, index from 1 in the claim's history).
Paid = tuple


def keep_history(entries: object, claim_id: str | None, end: int, reach: Product | None,
                 everything: bool, paid: list[Paid] | None = None) -> list[Kept] | None:
    """Read a claim's JSON history in one pass; None when an entry is not plain, valid JSON.

    Every entry is checked as `parse_history_entry` checks it (a bad record must not hide a
    fill); only the paid ones inside the product's reach are kept, unless `everything` (an
    authorization on file may count fills at other dates and products). Given a `paid` list,
    every paid fill but the claim itself is added to it as well (`Paid`), for the therapy and
    daily-dose rules (`supply_periods`).
    """
    if entries is None:
        return []
    if entries.__class__ is not list:
        return None
    if everything:
        first, last, scope, ndcs = _FIRST_DAY, 10 ** 7, None, None
    elif reach is None or not reach.reach:
        first, last, scope, ndcs = 1, 0, None, None  # nothing counts: only check the entries
    else:
        first, last = end - reach.reach + 1, end
        scope, ndcs = reach.reach_scope, reach.reach_ndcs
    kept = []
    read_day, read_amount, get = ORDINAL.get, MILLI.get, dict.get
    # Required fields by subscript, optional ones by get: this loop is most of a long history's
    # cost. A missing required field ends it with KeyError, an unhashable date or quantity with
    # TypeError (the caches hold only texts read before; anything else is read in full): the
    # entry is malformed either way.
    try:
        for entry in entries:
            if entry.__class__ is not dict:
                return None
            value = entry["date_of_service"]
            day = read_day(value)
            if day is None:
                day = read_ordinal(value)
                if day is None:
                    return None
            value = entry["quantity"]
            amount = read_amount(value)
            if amount is None:
                amount = read_milli(value)
                if amount is None:
                    return None
            status = entry["status"]
            entry_id = get(entry, "claim_id")
            if entry_id is not None and (entry_id.__class__ is not str or not entry_id):
                return None
            named = get(entry, "product")
            ndc = get(entry, "ndc")
            if ndc is not None:
                if read_ndc(ndc) is None:
                    return None
            elif named is None:
                return None
            if named is not None and (named.__class__ is not str or not named):
                return None
            value = get(entry, "days_supply")
            if value is not None and (value.__class__ is not int or not 1 <= value <= 999):
                return None
            value = get(entry, "channel")
            if value is not None and (value.__class__ is not str or not value):
                return None
            value = get(entry, "package_size")
            if value is not None and read_milli(value) is None:
                return None  # malformed, or a float: the typed reader decides
            if get(entry, "unit") is not None:
                return None  # a stated unit is held to the billing unit by `billed_history`
            if status == "paid":
                if (first <= day <= last and (claim_id is None or entry_id != claim_id)
                        and (scope is None or named in scope or ndc in ndcs)):  # type: ignore[operator]
                    kept.append((day, amount, named, ndc))
                if paid is not None and (claim_id is None or entry_id != claim_id):
                    # the index is not needed: a fill without its supply sends the claim to
                    # `decide_claim`, which names the entry
                    paid.append((day, amount, named, ndc, get(entry, "days_supply"), 0))
            elif status != "reversed":
                return None
    except (KeyError, TypeError):
        return None
    return kept


def keep_typed(entries: Sequence[HistoryEntry], claim_id: str | None, end: int,
               reach: Product | None, everything: bool) -> list[Kept]:
    """keep_history for parsed entries."""
    kept = []
    for entry in entries:
        if entry.status == "paid" and (claim_id is None or entry.claim_id != claim_id):
            kept.append((entry.date_of_service.toordinal(), milli(entry.quantity), entry.product,
                         entry.ndc))
    if everything:
        return kept
    if reach is None or not reach.reach:
        return []
    first, scope, ndcs = end - reach.reach + 1, reach.reach_scope, reach.reach_ndcs
    return [k for k in kept if first <= k[0] <= end and (k[2] in scope or k[3] in ndcs)]


def paid_fills(entries: Sequence[HistoryEntry], claim_id: str | None) -> list[Paid]:
    """The paid fills of parsed entries, not the claim itself, as `keep_history` lists them."""
    return [(entry.date_of_service.toordinal(), milli(entry.quantity), entry.product, entry.ndc,
             entry.days_supply, index)
            for index, entry in enumerate(entries, 1)
            if entry.status == "paid" and (claim_id is None or entry.claim_id != claim_id)]


def therapy_supplies(paid: Sequence[Paid], end: int,
                     therapy: tuple[int, frozenset[str], frozenset[str], str | None]
                     ) -> list[tuple[int, int, str | None, str | None]] | int:
    """The supply periods a plan's therapy rules measure: (first day, last day, product, ndc)
    of each paid fill of their scope dated within the look-back (`Plan.therapy`) and on or
    before the date of service `end`; or the index of the first such fill without a
    days_supply (its supply cannot be measured: 85)."""
    reach, scope, ndcs, _ = therapy
    return supply_periods(paid, end - reach + 1, end, scope, ndcs, counted=False)


def dose_fills(paid: Sequence[Paid], end: int, scope: frozenset[str]
               ) -> list[tuple[int, int, str | None, str | None, int]] | int:
    """The prior fills daily-dose rules may count: (first day, last day of supply, product, ndc,
    thousandths) of each paid fill of `scope` (product ids and NDCs) dated on or before the
    date of service `end` and at most 998 days before it (a supply lasts at most 999 days); or
    the index of the first such fill without a days_supply (whether it is active cannot be
    told: 85)."""
    return supply_periods(paid, end - MAX_DAYS_SUPPLY + 1, end, scope, scope, counted=True)


def plan_supplies(paid: Sequence[Paid], end: int, chosen: Plan
                  ) -> tuple[list[tuple] | None, Sequence[tuple]] | tuple[int, str | None]:
    """What a plan's therapy and daily-dose rules measure of a claim's paid fills: (the therapy
    supply periods or None, the dose fills that may be active); or (the index from 1 of the first
    fill whose supply cannot be measured, the spec line of the rule that needs it)."""
    supplies = None
    if chosen.therapy is not None:
        periods = therapy_supplies(paid, end, chosen.therapy)
        if isinstance(periods, int):
            return periods, chosen.therapy[3]
        supplies = periods
    fills: Sequence[tuple] = ()
    if chosen.dose is not None:
        found = dose_fills(paid, end, chosen.dose[0])
        if isinstance(found, int):
            return found, chosen.dose[1]
        fills = found
    return supplies, fills


def supply_periods(paid: Sequence[Paid], first: int, end: int, scope: frozenset[str],
                   ndcs: frozenset[str], *, counted: bool) -> list[tuple] | int:
    """The supply periods of the paid fills of `scope` (by product) or `ndcs` dated in
    first..end, each with its thousandths when `counted`; or the index of the first such fill
    without a days_supply."""
    found: list[tuple] = []
    for day, amount, named, ndc, days, index in paid:
        if first <= day <= end and (named in scope or ndc in ndcs):
            if days is None:
                return index
            period = (day, day + days - 1, named, ndc)
            found.append((*period, amount) if counted else period)
    return found


def billed_history(entries: Sequence[HistoryEntry], claim_id: str | None,
                   products: Mapping[str, Product], ndcs: Mapping[str, tuple[str, str | None]]
                   ) -> tuple[HistoryEntry, ...] | tuple[int, HistoryEntry, Product]:
    """A claim's history with every paid fill of a product of the policy (not the claim itself)
    in that product's billing unit (docs/semantics.md §3.1): a fill whose `unit` is another is
    counted in packages when it is `each` and the policy states the size of its package (its
    NDC's, else the product's one size), rounded up to a thousandth; or (index from 1, entry,
    product) of the first fill that cannot be (PZ). A fill is never counted in another unit."""
    out = []
    for index, entry in enumerate(entries, 1):
        unit = entry.unit
        if (unit is not None and entry.status == "paid"
                and (claim_id is None or entry.claim_id != claim_id)):
            item = products.get(entry.product) if entry.product is not None else None
            coded = ndcs.get(entry.ndc) if entry.ndc is not None else None
            if item is None and coded is not None:
                item = products.get(coded[0])
            if item is not None and unit != item.unit:
                package = coded[1] if coded is not None and coded[0] == item.id else None
                size = item.sizes.get(package) if package is not None else item.size
                if unit != "each" or size is None:
                    return index, entry, item
                amount = -(-milli(entry.quantity) * size // 1000)
                entry = _history_entry(entry.date_of_service, Decimal(amount).scaleb(-3),
                                       entry.status, entry.claim_id, entry.product, entry.ndc,
                                       entry.days_supply, entry.channel, entry.package_size,
                                       item.unit)
        out.append(entry)
    return tuple(out)


def history_unit_texts(index: int, entry: HistoryEntry, product_id: str,
                       billed: str) -> tuple[str, str]:
    """(message line, trace detail) when a prior fill is in a unit it cannot be counted in."""
    label = entry.claim_id or ""
    why = ("the policy states no package size to count it by" if entry.unit == "each"
           else "only a count of packages (each) can be converted")
    detail = (f"history entry {index}{f' ({label})' if label else ''}: unit {entry.unit} is not"
              f" {billed}, the billing unit of {product_id}, and {why}")
    return message(f"HISTORY ENTRY {index} UNIT MUST BE {unit_message(billed)}"), detail
