"""Typed input: claims, history entries and authorizations, and the parsers that read them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from .read import _text, read_date, read_days, read_ndc, read_quantity
from .texts import message
from .values import (
    CODE_BIRTH_DATE,
    CODE_CHANNEL,
    CODE_DATE_OF_SERVICE,
    CODE_DAYS_SUPPLY,
    CODE_PRODUCT,
    CODE_QUANTITY,
    CODE_RECORD,
    CODE_UNIT_MISSING,
    UNIT_ALIASES,
    _positional,
    _record,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)

# ---------------------------------------------------------------------------------------------
# Typed input: claims, history, authorizations


@_record(kw_only=True)
class HistoryEntry:
    """One of the member's earlier claims; only `paid` entries count against a limit."""

    date_of_service: date
    quantity: Decimal
    status: str  # "paid" or "reversed"
    claim_id: str | None = None
    product: str | None = None
    ndc: str | None = None
    days_supply: int | None = None
    channel: str | None = None
    package_size: Decimal | None = None  # billing units per package, from the drug file
    # The unit `quantity` is in, read through the NCPDP aliases (GM → g); None: the product's
    # billing unit. Another unit is converted or refused (docs/semantics.md §3.1), never counted.
    unit: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"claim_id": self.claim_id, "date_of_service": _plain(self.date_of_service),
                "product": self.product, "ndc": self.ndc, "quantity": _plain(self.quantity),
                "days_supply": self.days_supply, "channel": self.channel, "status": self.status,
                "package_size": _plain(self.package_size), "unit": self.unit}


@_record(kw_only=True)
class GrantedLimit:
    """An explicit limit an authorization carries for one channel: per window, or per fill."""

    channel: str
    quantity: Decimal
    unit: str
    days: int | None = None  # None: per fill

    def to_dict(self) -> dict[str, object]:
        return {"quantity": _plain(self.quantity), "unit": self.unit, "days": self.days}


@_record(kw_only=True)
class Authorization:
    """An approved exception on file: it names a criterion (or carries limits) for products."""

    id: str
    products: tuple[str, ...]  # product ids, group ids or NDC-11s
    effective_from: date
    effective_through: date  # inclusive
    criterion: str | None = None
    channels: tuple[str, ...] = ()  # empty: every channel the criterion approves
    status: str = "active"  # or "revoked"
    max_fills: int | None = None  # a one-time approval is max_fills 1
    limits: tuple[GrantedLimit, ...] = ()

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"id": self.id, "criterion": self.criterion,
                               "products": list(self.products),
                               "effective_from": _plain(self.effective_from),
                               "effective_through": _plain(self.effective_through)}
        if self.channels:
            out["channels"] = list(self.channels)
        if self.status != "active":
            out["status"] = self.status
        if self.max_fills is not None:
            out["max_fills"] = self.max_fills
        if self.limits:
            out["limits"] = {g.channel: g.to_dict() for g in self.limits}
        return out


@_record(kw_only=True)
class Claim:
    """A point-of-service claim, as `parse_claim` accepted it."""

    date_of_service: date
    quantity: Decimal
    unit: str  # a billing unit ("g", "mL", "each") when recognised, else as sent
    days_supply: int
    channel: str
    claim_id: str | None = None
    product: str | None = None
    ndc: str | None = None
    package: str | None = None
    birth_date: date | None = None
    history: tuple[HistoryEntry, ...] = ()
    authorizations: tuple[Authorization, ...] = ()
    # Billing units per package, from the payer's drug file (NCPDP claims do not carry it): needed
    # for a product whose limits count packages sized `from drug file`.
    package_size: Decimal | None = None
    # `member.exclusions`: what exempts the member from the edits that name it (hospice, ...)
    exclusions: frozenset[str] = frozenset()
    # DUR/PPS entries (NCPDP 439-E4 reason, 440-E5 professional service, 441-E6 result of
    # service) as (reason, service, result), each None when not sent: they pass soft edits
    dur_pps: tuple[tuple[str | None, str | None, str | None], ...] = ()

    def to_dict(self) -> dict[str, object]:
        member: dict[str, object] = {"birth_date": _plain(self.birth_date)}
        if self.exclusions:
            member["exclusions"] = sorted(self.exclusions)
        out = {"claim_id": self.claim_id, "date_of_service": _plain(self.date_of_service),
               "product": self.product, "ndc": self.ndc, "package": self.package,
               "package_size": _plain(self.package_size),
               "quantity": _plain(self.quantity), "unit": self.unit,
               "days_supply": self.days_supply, "channel": self.channel,
               "member": member,
               "history": _as_data_list(self.history),
               "authorizations": _as_data_list(self.authorizations)}
        if self.dur_pps:
            out["dur_pps"] = [{"reason": r, "professional_service": p, "result": o}
                              for r, p, o in self.dur_pps]
        return out


# Parsing builds a Claim and a HistoryEntry per history row on every evaluation. Setting the
# slots directly costs about half of the keyword-argument __init__; the instances are the same
# (frozen, equal, hashable), only built faster.


# Records made by the readers, every field given positionally (values._positional)
if TYPE_CHECKING:
    def _history_entry(date_of_service: date, quantity: Decimal, status: str,
                       claim_id: str | None, product: str | None, ndc: str | None,
                       days_supply: int | None, channel: str | None,
                       package_size: Decimal | None = None,
                       unit: str | None = None) -> HistoryEntry: ...

    def _claim(date_of_service: date, quantity: Decimal, unit: str, days_supply: int,
               channel: str, claim_id: str | None, product: str | None, ndc: str | None,
               package: str | None, birth_date: date | None, history: tuple[HistoryEntry, ...],
               authorizations: tuple[Authorization, ...], package_size: Decimal | None,
               exclusions: frozenset[str] = frozenset(),
               dur_pps: tuple[tuple[str | None, str | None, str | None], ...] = ()) -> Claim: ...

    def _authorization(id: str, products: tuple[str, ...], effective_from: date,
                       effective_through: date, criterion: str | None,
                       channels: tuple[str, ...], status: str, max_fills: int | None,
                       limits: tuple[GrantedLimit, ...]) -> Authorization: ...
else:
    _history_entry = _positional(HistoryEntry)
    _claim = _positional(Claim)
    _authorization = _positional(Authorization)


@_record()
class Rejection:
    """Why input was refused: the reject code, a 526-FQ message line, a sentence for the trace."""

    code: str
    message: str
    detail: str


def _plain(value: object) -> object:
    """A typed field as JSON data, for re-reading hand-built instances through the same parser."""
    if type(value) is Decimal:
        return str(value)
    if type(value) is date:
        return value.isoformat()
    return value


def _as_data(value: object) -> object:
    return value.to_dict() if isinstance(value, (HistoryEntry, Authorization)) else value


def _as_data_list(value: object) -> object:
    # Anything but a sequence goes through as it is, for the parser to refuse.
    return [_as_data(v) for v in value] if isinstance(value, (tuple, list)) else value


def _reject(code: str, text: str, detail: str) -> Rejection:
    return Rejection(code, message(text), detail)


def parse_claim(data: object) -> Claim | Rejection:
    """A typed Claim from a decoded-JSON dict (or a Claim), or the Rejection of its first problem.

    Never raises; the order of the checks is the order of the table at the top of this module.
    """
    if type(data) is not dict:
        if isinstance(data, Claim):
            data = data.to_dict()  # a hand-built instance is checked like any other input
        elif not isinstance(data, Mapping):
            return _reject(CODE_RECORD, "CLAIM IS NOT A JSON OBJECT",
                           f"the claim is a {type(data).__name__}, not an object")
    get = data.get
    claim_id = get("claim_id")
    if claim_id is not None:
        claim_id = _text(claim_id)
        if claim_id is None:
            return _reject(CODE_RECORD, "M/I CLAIM ID", "claim_id is not a non-empty string")
    quantity = read_quantity(get("quantity"))
    if quantity is None:
        return _reject(CODE_QUANTITY, "M/I QUANTITY DISPENSED",
                       _problem("quantity", get("quantity"), "a decimal > 0, at most 3 decimals"))
    days_supply = read_days(get("days_supply"))
    if days_supply is None:
        return _reject(CODE_DAYS_SUPPLY, "M/I DAYS SUPPLY",
                       _problem("days_supply", get("days_supply"), "a whole number from 1 to 999"))
    date_of_service = read_date(get("date_of_service"))
    if date_of_service is None:
        return _reject(CODE_DATE_OF_SERVICE, "M/I DATE OF SERVICE",
                       _problem("date_of_service", get("date_of_service"), "a date YYYY-MM-DD"))
    product, ndc = get("product"), get("ndc")
    if product is not None:
        product = _text(product)
        if product is None:
            return _reject(CODE_PRODUCT, "M/I PRODUCT/SERVICE ID",
                           "product is not a non-empty string")
    if ndc is not None:
        ndc = read_ndc(ndc)
        if ndc is None:
            return _reject(CODE_PRODUCT, "M/I PRODUCT/SERVICE ID",
                           _problem("ndc", get("ndc"), "exactly 11 ASCII digits"))
    if product is None and ndc is None:
        return _reject(CODE_PRODUCT, "M/I PRODUCT/SERVICE ID", "neither product nor ndc is given")
    unit = get("unit")
    if type(unit) is not str or not unit:
        return _reject(CODE_UNIT_MISSING, "M/I UNIT OF MEASURE",
                       _problem("unit", unit, "g, mL or each (GM, ML, EA)"))
    channel = get("channel")
    if type(channel) is not str or not channel:
        return _reject(CODE_CHANNEL, "M/I PHARMACY SERVICE TYPE",
                       _problem("channel", channel, "a channel such as retail or home_delivery"))
    package = get("package")
    if package is not None:
        package = _text(package)
        if package is None:
            return _reject(CODE_PRODUCT, "M/I PACKAGE", "package is not a non-empty string")
    package_size = get("package_size")
    if package_size is not None:
        package_size = read_quantity(package_size)
        if package_size is None:
            return _reject(CODE_PRODUCT, "M/I PACKAGE SIZE", _problem(
                "package_size", get("package_size"), "a decimal > 0, at most 3 decimals"))
    birth_date = None
    exclusions: frozenset[str] = frozenset()
    member = get("member")
    if member is not None:
        if type(member) is not dict and not isinstance(member, Mapping):
            return _reject(CODE_BIRTH_DATE, "M/I DATE OF BIRTH", "member is not an object")
        raw_birth = member.get("birth_date")
        if raw_birth is not None:
            birth_date = read_date(raw_birth)
            if birth_date is None or birth_date > date_of_service:
                return _reject(CODE_BIRTH_DATE, "M/I DATE OF BIRTH", _problem(
                    "member.birth_date", raw_birth,
                    "a date YYYY-MM-DD on or before the date of service"))
        raw_exclusions = member.get("exclusions")
        if raw_exclusions is not None:
            if (not isinstance(raw_exclusions, (list, tuple))
                    or any(_text(e) is None for e in raw_exclusions)):
                return _reject(CODE_RECORD, "M/I MEMBER EXCLUSIONS",
                               "member.exclusions is not a list of non-empty strings")
            exclusions = frozenset(raw_exclusions)
    dur_pps = read_dur_pps(get("dur_pps"))
    if isinstance(dur_pps, Rejection):
        return dur_pps
    raw_history = get("history")
    history: tuple[HistoryEntry, ...] = ()
    if raw_history is not None:
        if not isinstance(raw_history, (list, tuple)):
            return _reject(CODE_RECORD, "HISTORY IS NOT A LIST", "history is not a list")
        entries = []
        for index, raw in enumerate(raw_history, 1):
            entry = parse_history_entry(raw)
            if isinstance(entry, str):
                return _reject(CODE_RECORD,
                               f"BAD HISTORY ENTRY {index} {_record_id(raw, 'claim_id')}",
                               f"history entry {index}{_record_label(raw, 'claim_id')}: {entry}")
            entries.append(entry)
        history = tuple(entries)
    raw_authorizations = get("authorizations")
    authorizations: tuple[Authorization, ...] = ()
    if raw_authorizations is not None:
        if not isinstance(raw_authorizations, (list, tuple)):
            return _reject(CODE_RECORD, "AUTHORIZATIONS IS NOT A LIST",
                           "authorizations is not a list")
        found = []
        for index, raw in enumerate(raw_authorizations, 1):
            authorization = parse_authorization(raw)
            if isinstance(authorization, str):
                return _reject(CODE_RECORD, f"BAD AUTHORIZATION {index} {_record_id(raw, 'id')}",
                               f"authorization {index}{_record_label(raw, 'id')}: {authorization}")
            found.append(authorization)
        authorizations = tuple(found)
    return _claim(date_of_service, quantity, UNIT_ALIASES.get(unit, unit), days_supply, channel,
                  claim_id, product, ndc, package, birth_date, history, authorizations,
                  package_size, exclusions, dur_pps)


# The DUR/PPS fields (NCPDP 473-7E segment) and the reject code of each when it is malformed
_DUR_FIELDS = (("reason", "E4", "REASON FOR SERVICE"),
               ("professional_service", "E5", "PROFESSIONAL SERVICE"),
               ("result", "E6", "RESULT OF SERVICE"))


def read_dur_pps(raw: object) -> tuple[tuple[str | None, str | None, str | None], ...] | Rejection:
    """A claim's `dur_pps` list as (reason, service, result) triples, or the Rejection of its
    first malformed entry: each field is absent, null or a code of 2 capital letters or digits."""
    if raw is None:
        return ()
    if not isinstance(raw, (list, tuple)):
        return _reject(CODE_RECORD, "DUR/PPS IS NOT A LIST", "dur_pps is not a list")
    entries = []
    for index, entry in enumerate(raw, 1):
        if not isinstance(entry, Mapping):
            return _reject(CODE_RECORD, f"BAD DUR/PPS ENTRY {index}",
                           f"dur_pps entry {index} is not an object")
        codes: list[str | None] = []
        for name, code, words in _DUR_FIELDS:
            value = entry.get(name)
            if value is not None and not (type(value) is str and len(value) == 2
                                          and value.isascii() and value.isalnum()
                                          and value == value.upper()):
                return _reject(code, f"M/I {words} CODE",
                               _problem(f"dur_pps[{index}].{name}", value,
                                        "a code of 2 capital letters or digits"))
            codes.append(value)
        entries.append((codes[0], codes[1], codes[2]))
    return tuple(entries)


def _problem(name: str, value: object, wanted: str) -> str:
    if value is None:
        return f"{name} is missing; expected {wanted}"
    shown = repr(value) if isinstance(value, (str, int, float, Decimal)) else type(value).__name__
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{name} {shown} is not {wanted}"


def _record_id(raw: object, key: str) -> str:
    value = raw.get(key) if isinstance(raw, Mapping) else getattr(raw, key, None)
    return value if type(value) is str else ""


def _record_label(raw: object, key: str) -> str:
    value = _record_id(raw, key)
    return f" ({value!r})" if value else ""


def parse_history_entry(data: object) -> HistoryEntry | str:
    """A typed history entry, or a sentence saying what is wrong with it."""
    if type(data) is not dict:
        if isinstance(data, HistoryEntry):
            data = data.to_dict()  # a hand-built instance is checked like any other input
        elif not isinstance(data, Mapping):
            return "not an object"
    get = data.get
    claim_id = get("claim_id")
    if claim_id is not None:
        claim_id = _text(claim_id)
        if claim_id is None:
            return "claim_id is not a non-empty string"
    date_of_service = read_date(get("date_of_service"))
    if date_of_service is None:
        return _problem("date_of_service", get("date_of_service"), "a date YYYY-MM-DD")
    product, ndc = get("product"), get("ndc")
    if product is not None:
        product = _text(product)
        if product is None:
            return "product is not a non-empty string"
    if ndc is not None:
        ndc = read_ndc(ndc)
        if ndc is None:
            return _problem("ndc", get("ndc"), "exactly 11 ASCII digits")
    if product is None and ndc is None:
        return "neither product nor ndc is given"
    quantity = read_quantity(get("quantity"))
    if quantity is None:
        return _problem("quantity", get("quantity"), "a decimal > 0 with at most 3 decimals")
    days_supply = get("days_supply")
    if days_supply is not None:
        days_supply = read_days(days_supply)
        if days_supply is None:
            return _problem("days_supply", get("days_supply"), "a whole number from 1 to 999")
    channel = get("channel")
    if channel is not None:
        channel = _text(channel)
        if channel is None:
            return "channel is not a non-empty string"
    status = get("status")
    if status != "paid" and status != "reversed":
        return _problem("status", status, "paid or reversed")
    package_size = get("package_size")
    if package_size is not None:
        package_size = read_quantity(package_size)
        if package_size is None:
            return _problem("package_size", get("package_size"),
                            "a decimal > 0 with at most 3 decimals")
    unit = get("unit")
    if unit is not None:
        unit = _text(unit)
        if unit is None:
            return "unit is not a non-empty string"
        unit = UNIT_ALIASES.get(unit, unit)
    return _history_entry(date_of_service, quantity, status, claim_id, product, ndc,
                          days_supply, channel, package_size, unit)


def parse_authorization(data: object) -> Authorization | str:
    """A typed authorization, or a sentence saying what is wrong with it."""
    if type(data) is not dict:
        if isinstance(data, Authorization):
            data = data.to_dict()  # a hand-built instance is checked like any other input
        elif not isinstance(data, Mapping):
            return "not an object"
    get = data.get
    auth_id = _text(get("id"))
    if auth_id is None:
        return "id is not a non-empty string"
    products = _text_list(get("products"))
    if not products:
        return "products is not a non-empty list of ids"
    effective_from = read_date(get("effective_from"))
    if effective_from is None:
        return _problem("effective_from", get("effective_from"), "a date YYYY-MM-DD")
    effective_through = read_date(get("effective_through"))
    if effective_through is None:
        return _problem("effective_through", get("effective_through"), "a date YYYY-MM-DD")
    if effective_through < effective_from:
        return "effective_through is before effective_from"
    criterion = get("criterion")
    if criterion is not None:
        criterion = _text(criterion)
        if criterion is None:
            return "criterion is not a non-empty string"
    channels: tuple[str, ...] = ()
    listed = get("channels")
    if listed is not None:
        listed = _text_list(listed)
        if not listed:
            return "channels is not a non-empty list of channel ids"
        channels = listed
    status = get("status")
    if status is None:
        status = "active"
    elif status != "active" and status != "revoked":
        return _problem("status", status, "active or revoked")
    max_fills = get("max_fills")
    if max_fills is not None and not (type(max_fills) is int and max_fills >= 1):
        return _problem("max_fills", max_fills, "a whole number of at least 1")
    limits: list[GrantedLimit] = []
    raw_limits = get("limits")
    if raw_limits is not None:
        if not isinstance(raw_limits, Mapping) or not raw_limits:
            return "limits is not an object of limits per channel"
        for channel, raw in raw_limits.items():
            granted = _parse_granted_limit(channel, raw)
            if isinstance(granted, str):
                return granted
            limits.append(granted)
    if criterion is None and not limits:
        return "it names no criterion and carries no limits"
    return _authorization(auth_id, products, effective_from, effective_through, criterion,
                          channels, status, max_fills, tuple(limits))


def _parse_granted_limit(raw_channel: object, raw: object) -> GrantedLimit | str:
    channel = _text(raw_channel)
    if channel is None:
        return "limits has a channel that is not a non-empty string"
    if isinstance(raw, GrantedLimit):
        raw = raw.to_dict()
    if not isinstance(raw, Mapping):
        return f"limits.{channel} is not an object"
    quantity = read_quantity(raw.get("quantity"))
    if quantity is None:
        return _problem(f"limits.{channel}.quantity", raw.get("quantity"), "a decimal > 0")
    raw_unit = raw.get("unit")
    unit = UNIT_ALIASES.get(raw_unit) if type(raw_unit) is str else None
    if unit is None:
        return _problem(f"limits.{channel}.unit", raw_unit, "g, mL or each")
    days = raw.get("days")
    if days is not None and read_days(days, 9999) is None:
        return _problem(f"limits.{channel}.days", days, "a whole number of days")
    return GrantedLimit(channel=channel, quantity=quantity, unit=unit, days=days)


def _text_list(value: object) -> tuple[str, ...] | None:
    if (value.__class__ is not list and not isinstance(value, (list, tuple))) or not value:
        return None
    for item in value:
        if item.__class__ is not str or not item:
            return None
    return tuple(value)
