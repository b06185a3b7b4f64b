"""Standard-library runtime of the DQM evaluators: typed claims, parsing, decisions as JSON."""

# This module is copied verbatim into the generated package as `dqm_policies/_runtime.py`, so it
# imports nothing outside the standard library. The IR interpreter (`dqmc.interpreter`) and the
# generated policy modules share it: it owns everything that does not depend on a policy's rules —
# reading claims and review requests, the reject codes of malformed input, the wording of messages
# and trace steps, how a set of rule checks becomes one decision, and the bookkeeping of reviews.
# The rules themselves (which limits apply, what counts in a window, which authorization wins) are
# decided by each evaluator: the interpreter on its own, generated modules with the table-driven
# helpers at the end of this module.
#
# Input contract (design §5, §6). Plain dicts (decoded JSON) and instances of the classes below are
# both accepted; parsing never raises and never guesses. The first problem found, in this order,
# decides the reject code:
#
# ====  ==========================================================================================
# code  when
# ====  ==========================================================================================
# 85    the claim is not an object; `claim_id` present but not a non-empty string (NCPDP 85, Claim
#       Not Processed: we fail closed on records we cannot read)
# E7    `quantity` missing, not a plain ASCII decimal string (``"30"``, ``"30.5"``; no sign, no
#       exponent, no spaces) nor a finite JSON number (a boolean is not a number), ≤ 0, more than
#       three decimals (NCPDP 442-E7 carries three), or above 9999999.999
# 19    `days_supply` missing, not a JSON integer (booleans and floats are not), < 1 or > 999
# 15    `date_of_service` missing or not a real calendar date written ``YYYY-MM-DD``
# 21    neither `product` (a non-empty string) nor `ndc` given; `ndc` not exactly 11 ASCII digits;
#       `product` not a non-empty string; `package` not a non-empty string
# 26    `unit` missing or not a string (``g``/``mL``/``each`` or NCPDP ``GM``/``ML``/``EA``)
# U7    `channel` missing or not a non-empty string (NCPDP U7, M/I Pharmacy Service Type: the
#       channel stands for the pharmacy's service type); a channel the policy does not know is
#       rejected with U7 by the policy
# 09    `member` not an object, or `member.birth_date` present but not a real date on or before
#       the date of service (NCPDP 09, M/I Date Of Birth); a missing birth date is rejected with 09
#       only by a policy whose age bands need it
# 85    `history` or `authorizations` not a list, or any entry of them malformed; the message names
#       the entry ("BAD HISTORY ENTRY 2 C-0"), because a record we cannot read might hide a fill
# ====  ==========================================================================================
#
# History entries need `date_of_service`, `product` and/or `ndc`, `quantity` (as for claims) and
# `status` (``paid`` or ``reversed``); `claim_id`, `days_supply` and `channel` are optional but
# checked when present. Authorizations need `id`, `products` (product, group or NDC ids),
# `effective_from` ≤ `effective_through`, and a `criterion` or explicit `limits`
# (``{"retail": {"quantity": "60", "unit": "g", "days": 30}}``; without `days` a limit is per
# fill); optional `channels`, `status` (``active``/``revoked``) and `max_fills` (≥ 1). Unknown keys
# are ignored everywhere, so producers may send more than we read.
#
# Quantities are Decimal; all arithmetic on them is exact because parsing bounds them to ten
# digits with at most three decimals, and `evaluation_context()` makes sure the decimal context
# is one under which that holds.

from __future__ import annotations

import calendar
import contextlib
import decimal
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

# ---------------------------------------------------------------------------------------------
# Reject codes (NCPDP 511-FB) and units

CODE_RECORD = "85"  # Claim Not Processed: claim, history or authorization records we cannot read
CODE_QUANTITY = "E7"  # M/I Quantity Dispensed
CODE_DAYS_SUPPLY = "19"  # M/I Days Supply
CODE_DATE_OF_SERVICE = "15"  # M/I Date of Service
CODE_PRODUCT = "21"  # M/I Product/Service ID (also: product and NDC disagree, package unknown)
CODE_UNIT_MISSING = "26"  # M/I Unit of Measure
CODE_UNIT_MISMATCH = "PZ"  # Non-Matched Unit of Measure to Product/Service ID
CODE_CHANNEL = "U7"  # M/I Pharmacy Service Type
CODE_BIRTH_DATE = "09"  # M/I Date of Birth

# The billing units (IR names) and their NCPDP 600-28 spellings, which claims may use as well.
UNIT_ALIASES = {"g": "g", "mL": "mL", "each": "each", "GM": "g", "ML": "mL", "EA": "each"}
_UNIT_MESSAGE = {"g": "G", "mL": "ML", "each": "EA"}

MAX_QUANTITY = Decimal("9999999.999")  # NCPDP 442-E7 is 9(7)v999
MAX_DAYS_SUPPLY = 999  # NCPDP 405-D5 is three digits
MESSAGE_WIDTH = 40  # NCPDP 526-FQ Additional Message Information is x(40)
DEFAULT_ONE_TIME_DAYS = 30  # how long a one-time approval stays usable when it does not say

ZERO = Decimal(0)
_MILLI = Decimal("0.001")
_CONTEXT = decimal.Context(
    prec=34, rounding=decimal.ROUND_HALF_EVEN, Emax=999999, Emin=-999999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])

_DECIMAL_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_SIGNED_DECIMAL_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NDC_TEXT = re.compile(r"[0-9]{11}")


def evaluation_context() -> contextlib.AbstractContextManager:
    """A decimal context fit for one evaluation, whatever the caller's thread has set.

    Evaluation adds, subtracts, multiplies and compares quantities of at most ten digits, which
    is exact, and so signals nothing, under any context with 28 digits of precision and the
    usual exponent range; only then is the caller's context kept (the common case, and the
    cheap one). The few operations that round name their context explicitly.
    """
    current = decimal.getcontext()
    if current.prec >= 28 and current.Emax >= 999999 and current.Emin <= -999999:
        return _KEEP_CONTEXT
    return decimal.localcontext(_CONTEXT)


_KEEP_CONTEXT = contextlib.nullcontext()


# ---------------------------------------------------------------------------------------------
# Small value readers: each returns None for anything it does not accept, and never raises


def read_quantity(value: object) -> Decimal | None:
    """A claim quantity: a plain decimal or finite number, > 0, ≤ 9999999.999, ≤ 3 decimals."""
    kind = type(value)
    if kind is str:
        known = _QUANTITY_READ.get(value)  # type: ignore[call-overload]
        if known is not None or value in _QUANTITY_READ:
            return known
        quantity = _read_quantity_text(value)  # type: ignore[arg-type]
        _remember(_QUANTITY_READ, value, quantity)
        return quantity
    if kind is int:
        return Decimal(value) if 0 < value <= 9999999 else None  # type: ignore[operator]
    elif kind is float:
        if not 0.0 < value <= 9999999.999:  # type: ignore[operator]  # NaN fails every comparison
            return None
        quantity = Decimal(repr(value))
    elif kind is Decimal:
        if not value.is_finite() or value.adjusted() > 7:  # type: ignore[union-attr]
            return None
        quantity = value  # type: ignore[assignment]
    else:
        return None
    return _bounded(quantity)


def _read_quantity_text(text: str) -> Decimal | None:
    if len(text) > 24 or not _DECIMAL_TEXT.fullmatch(text):
        return None
    return _bounded(Decimal(text))


def _bounded(quantity: Decimal) -> Decimal | None:
    # An explicit context: rounding to 0.001 must not trip a caller's Inexact or Rounded trap.
    if not ZERO < quantity <= MAX_QUANTITY:
        return None
    return quantity if quantity.quantize(_MILLI, context=_CONTEXT) == quantity else None


# Claims repeat the same few dates and quantities; reading each text once pays for itself.
_QUANTITY_READ: dict[str, Decimal | None] = {}
_DATE_READ: dict[str, date | None] = {}
_CACHE_LIMIT = 4096


def _remember(cache: dict, key: str, value: object) -> None:
    if len(cache) >= _CACHE_LIMIT:  # a bound, so odd inputs cannot grow the cache forever
        cache.clear()
    cache[key] = value


def read_number(value: object) -> Decimal | None:
    """A number fact's answer: a finite JSON number, Decimal or signed plain decimal string."""
    kind = type(value)
    if kind is int:
        return Decimal(value)  # type: ignore[arg-type]
    if kind is float:
        return Decimal(repr(value)) if math.isfinite(value) else None  # type: ignore[arg-type]
    if kind is Decimal:
        return value if value.is_finite() else None  # type: ignore[union-attr,return-value]
    if kind is str and len(value) <= 40 and _SIGNED_DECIMAL_TEXT.fullmatch(value):  # type: ignore[arg-type]
        return Decimal(value)  # type: ignore[arg-type]
    return None


def read_date(value: object) -> date | None:
    """A calendar date written YYYY-MM-DD (ASCII digits only), or a `datetime.date` itself."""
    kind = type(value)
    if kind is str:
        known = _DATE_READ.get(value)  # type: ignore[call-overload]
        if known is not None or value in _DATE_READ:
            return known
        parsed = None
        if len(value) == 10 and _DATE_TEXT.fullmatch(value):  # type: ignore[arg-type]
            try:
                parsed = date.fromisoformat(value)  # type: ignore[arg-type]
            except ValueError:
                parsed = None
        _remember(_DATE_READ, value, parsed)  # type: ignore[arg-type]
        return parsed
    if kind is date:
        return value  # type: ignore[return-value]
    return None


def read_days(value: object, maximum: int = MAX_DAYS_SUPPLY) -> int | None:
    """A whole number of days from 1 to maximum; a boolean or a float is not one."""
    if type(value) is int and 1 <= value <= maximum:  # type: ignore[operator]
        return value  # type: ignore[return-value]
    return None


def read_ndc(value: object) -> str | None:
    """An NDC-11: exactly eleven ASCII digits, no hyphens."""
    if type(value) is str and len(value) == 11 and _NDC_TEXT.fullmatch(value):  # type: ignore[arg-type]
        return value  # type: ignore[return-value]
    return None


def _text(value: object) -> str | None:
    return value if type(value) is str and value else None  # type: ignore[return-value]


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
        _remember(_QUANTITY_TEXT, value, text)  # type: ignore[arg-type]
    return text


def message(text: str) -> str:
    """A 526-FQ message line: printable ASCII, upper-case, at most 40 characters."""
    if not (text.isascii() and text.isprintable()):
        text = "".join(c if " " <= c <= "~" else "?" for c in text)
    return text.upper()[:MESSAGE_WIDTH].rstrip()


def unit_message(unit: str) -> str:
    return _UNIT_MESSAGE.get(unit, unit.upper())


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
    else:
        text = f"DAYS SUPPLY LIMIT {days}"
    return message(text)


def daily_rate_message(quantity: Decimal, unit: str, days: int) -> str:
    return message(f"DAILY RATE OVER {quantity_text(quantity)} {unit_message(unit)}/{days} DAYS")


# ---------------------------------------------------------------------------------------------
# Typed input: claims, history, authorizations


@dataclass(frozen=True, slots=True, kw_only=True)
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

    def to_dict(self) -> dict[str, Any]:
        return {"claim_id": self.claim_id, "date_of_service": _plain(self.date_of_service),
                "product": self.product, "ndc": self.ndc, "quantity": _plain(self.quantity),
                "days_supply": self.days_supply, "channel": self.channel, "status": self.status}


@dataclass(frozen=True, slots=True, kw_only=True)
class GrantedLimit:
    """An explicit limit an authorization carries for one channel: per window, or per fill."""

    channel: str
    quantity: Decimal
    unit: str
    days: int | None = None  # None: per fill

    def to_dict(self) -> dict[str, Any]:
        return {"quantity": _plain(self.quantity), "unit": self.unit, "days": self.days}


@dataclass(frozen=True, slots=True, kw_only=True)
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

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "criterion": self.criterion,
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


@dataclass(frozen=True, slots=True, kw_only=True)
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

    def to_dict(self) -> dict[str, Any]:
        return {"claim_id": self.claim_id, "date_of_service": _plain(self.date_of_service),
                "product": self.product, "ndc": self.ndc, "package": self.package,
                "quantity": _plain(self.quantity), "unit": self.unit,
                "days_supply": self.days_supply, "channel": self.channel,
                "member": {"birth_date": _plain(self.birth_date)},
                "history": _as_data_list(self.history),
                "authorizations": _as_data_list(self.authorizations)}


# Parsing builds a Claim and a HistoryEntry per history row on every evaluation. Setting the
# slots directly costs about half of the keyword-argument __init__ of a frozen dataclass; the
# instances are the same (frozen, equal, hashable), only built faster.
_new = object.__new__
_set = object.__setattr__


def _history_entry(date_of_service: date, quantity: Decimal, status: str, claim_id: str | None,
                   product: str | None, ndc: str | None, days_supply: int | None,
                   channel: str | None) -> HistoryEntry:
    entry = _new(HistoryEntry)
    _set(entry, "date_of_service", date_of_service)
    _set(entry, "quantity", quantity)
    _set(entry, "status", status)
    _set(entry, "claim_id", claim_id)
    _set(entry, "product", product)
    _set(entry, "ndc", ndc)
    _set(entry, "days_supply", days_supply)
    _set(entry, "channel", channel)
    return entry


def _claim(date_of_service: date, quantity: Decimal, unit: str, days_supply: int, channel: str,
           claim_id: str | None, product: str | None, ndc: str | None, package: str | None,
           birth_date: date | None, history: tuple[HistoryEntry, ...],
           authorizations: tuple[Authorization, ...]) -> Claim:
    claim = _new(Claim)
    _set(claim, "date_of_service", date_of_service)
    _set(claim, "quantity", quantity)
    _set(claim, "unit", unit)
    _set(claim, "days_supply", days_supply)
    _set(claim, "channel", channel)
    _set(claim, "claim_id", claim_id)
    _set(claim, "product", product)
    _set(claim, "ndc", ndc)
    _set(claim, "package", package)
    _set(claim, "birth_date", birth_date)
    _set(claim, "history", history)
    _set(claim, "authorizations", authorizations)
    return claim


@dataclass(frozen=True, slots=True)
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
        return value.isoformat()  # type: ignore[union-attr]
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
    if claim_id is not None and _text(claim_id) is None:
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
    if product is not None and _text(product) is None:
        return _reject(CODE_PRODUCT, "M/I PRODUCT/SERVICE ID", "product is not a non-empty string")
    if ndc is not None and read_ndc(ndc) is None:
        return _reject(CODE_PRODUCT, "M/I PRODUCT/SERVICE ID",
                       _problem("ndc", ndc, "exactly 11 ASCII digits"))
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
    if package is not None and _text(package) is None:
        return _reject(CODE_PRODUCT, "M/I PACKAGE", "package is not a non-empty string")
    birth_date = None
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
    raw_history = get("history")
    history: tuple[HistoryEntry, ...] = ()
    if raw_history is not None:
        if not isinstance(raw_history, (list, tuple)):
            return _reject(CODE_RECORD, "HISTORY IS NOT A LIST", "history is not a list")
        entries = []
        for index, raw in enumerate(raw_history, 1):
            entry = parse_history_entry(raw)
            if type(entry) is str:
                return _reject(CODE_RECORD,
                               f"BAD HISTORY ENTRY {index} {_record_id(raw, 'claim_id')}",
                               f"history entry {index}{_record_label(raw, 'claim_id')}: {entry}")
            entries.append(entry)
        history = tuple(entries)  # type: ignore[arg-type]
    raw_authorizations = get("authorizations")
    authorizations: tuple[Authorization, ...] = ()
    if raw_authorizations is not None:
        if not isinstance(raw_authorizations, (list, tuple)):
            return _reject(CODE_RECORD, "AUTHORIZATIONS IS NOT A LIST",
                           "authorizations is not a list")
        found = []
        for index, raw in enumerate(raw_authorizations, 1):
            authorization = parse_authorization(raw)
            if type(authorization) is str:
                return _reject(CODE_RECORD, f"BAD AUTHORIZATION {index} {_record_id(raw, 'id')}",
                               f"authorization {index}{_record_label(raw, 'id')}: {authorization}")
            found.append(authorization)
        authorizations = tuple(found)  # type: ignore[arg-type]
    return _claim(date_of_service, quantity, UNIT_ALIASES.get(unit, unit), days_supply, channel,
                  claim_id, product, ndc, package, birth_date, history, authorizations)


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
    if claim_id is not None and _text(claim_id) is None:
        return "claim_id is not a non-empty string"
    date_of_service = read_date(get("date_of_service"))
    if date_of_service is None:
        return _problem("date_of_service", get("date_of_service"), "a date YYYY-MM-DD")
    product, ndc = get("product"), get("ndc")
    if product is not None and _text(product) is None:
        return "product is not a non-empty string"
    if ndc is not None and read_ndc(ndc) is None:
        return _problem("ndc", ndc, "exactly 11 ASCII digits")
    if product is None and ndc is None:
        return "neither product nor ndc is given"
    quantity = read_quantity(get("quantity"))
    if quantity is None:
        return _problem("quantity", get("quantity"), "a decimal > 0 with at most 3 decimals")
    days_supply = get("days_supply")
    if days_supply is not None and read_days(days_supply) is None:
        return _problem("days_supply", days_supply, "a whole number from 1 to 999")
    channel = get("channel")
    if channel is not None and _text(channel) is None:
        return "channel is not a non-empty string"
    status = get("status")
    if status != "paid" and status != "reversed":
        return _problem("status", status, "paid or reversed")
    return _history_entry(date_of_service, quantity, status, claim_id, product, ndc,  # type: ignore[arg-type]
                          days_supply, channel)


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
    if criterion is not None and _text(criterion) is None:
        return "criterion is not a non-empty string"
    channels: tuple[str, ...] = ()
    if get("channels") is not None:
        channels = _text_list(get("channels"))  # type: ignore[assignment]
        if not channels:
            return "channels is not a non-empty list of channel ids"
    status = get("status", "active")
    if status is None:
        status = "active"
    if status != "active" and status != "revoked":
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
            if type(granted) is str:
                return granted  # type: ignore[return-value]
            limits.append(granted)  # type: ignore[arg-type]
    if criterion is None and not limits:
        return "it names no criterion and carries no limits"
    return Authorization(id=auth_id, products=products, effective_from=effective_from,  # type: ignore[arg-type]
                         effective_through=effective_through, criterion=criterion,
                         channels=channels, status=status, max_fills=max_fills,
                         limits=tuple(limits))


def _parse_granted_limit(channel: object, raw: object) -> GrantedLimit | str:
    if _text(channel) is None:
        return "limits has a channel that is not a non-empty string"
    if isinstance(raw, GrantedLimit):
        raw = raw.to_dict()
    if not isinstance(raw, Mapping):
        return f"limits.{channel} is not an object"
    quantity = read_quantity(raw.get("quantity"))
    if quantity is None:
        return _problem(f"limits.{channel}.quantity", raw.get("quantity"), "a decimal > 0")
    unit = UNIT_ALIASES.get(raw.get("unit")) if type(raw.get("unit")) is str else None
    if unit is None:
        return _problem(f"limits.{channel}.unit", raw.get("unit"), "g, mL or each")
    days = raw.get("days")
    if days is not None and read_days(days, 9999) is None:
        return _problem(f"limits.{channel}.days", days, "a whole number of days")
    return GrantedLimit(channel=channel, quantity=quantity, unit=unit, days=days)  # type: ignore[arg-type]


def _text_list(value: object) -> tuple[str, ...] | None:
    if not isinstance(value, (list, tuple)) or not value:
        return None
    if not all(type(item) is str and item for item in value):
        return None
    return tuple(value)


# ---------------------------------------------------------------------------------------------
# Dates


def window_start(end: date, days: int) -> date:
    """The first day of an inclusive window of `days` days ending on `end` (clamped at year 1)."""
    ordinal = end.toordinal() - (days - 1)
    return date.fromordinal(ordinal) if ordinal >= 1 else date.min


def age_on(birth_date: date, day: date) -> int:
    """Age in whole years on `day`; someone born on 29 February ages on 1 March in other years."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def approval_through(start: date, amount: int, unit: str) -> date:
    """The last day of an approval of `amount` `unit` starting on `start` (inclusive both ends).

    Days and weeks count days: 30 days from 2026-01-15 run through 2026-02-13. Months and years
    run to the day before the same day of the month that many months later, and when that day
    does not exist (31 February) through the last day of that month: 1 year from 2026-01-15 runs
    through 2027-01-14, 1 month from 2026-01-31 through 2026-02-28, 1 year from 2024-02-29
    through 2025-02-28. Dates past 9999-12-31 clamp to it.
    """
    if unit in ("days", "weeks"):
        ordinal = start.toordinal() + amount * (7 if unit == "weeks" else 1) - 1
        return date.fromordinal(ordinal) if ordinal <= date.max.toordinal() else date.max
    months = start.year * 12 + (start.month - 1) + amount * (12 if unit == "years" else 1)
    year, month_index = divmod(months, 12)
    if year > 9999:
        return date.max
    month = month_index + 1
    last_day = calendar.monthrange(year, month)[1]
    if start.day > last_day:  # no such day that month: the approval runs to the month's end
        return date(year, month, last_day)
    return date(year, month, start.day) - timedelta(days=1)


def approval_period(start: date, kind: str, amount: int,
                    unit: str | None) -> tuple[date, int | None]:
    """(effective_through, max_fills) of an approval granted on `start`.

    A fixed duration ends as `approval_through` says. A one-time approval is good for one paid
    fill, used within its stated duration or else within 30 days.
    """
    if kind == "one_time":
        if amount >= 1 and unit is not None:
            return approval_through(start, amount, unit), 1
        return approval_through(start, DEFAULT_ONE_TIME_DAYS, "days"), 1
    return approval_through(start, max(amount, 1), unit or "days"), None


# ---------------------------------------------------------------------------------------------
# Decisions
#
# Evaluators build the JSON form of a decision directly (that is what `evaluate()` returns, and
# building it once is the fast path); `Decision.from_dict` gives the typed view. While a claim is
# evaluated, trace steps are plain (step, result, detail, source) tuples, so that evaluators can
# hoist the steps that never change.

Step = tuple  # (step, result, detail, source)


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One step of an evaluation: what was checked, how it came out, and the spec line behind it."""

    step: str
    result: str  # "pass", "fail", "skip" or "info"
    detail: str
    source: str | None  # "file:line" of the spec text that decided

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "result": self.result, "detail": self.detail,
                "source": self.source}


@dataclass(frozen=True, slots=True)
class AppliedLimit:
    """The limit a decision reports: the rule that decided, and whether an authorization set it."""

    kind: str  # per_window, per_fill, per_day, fills_per_window, days_supply_max
    quantity: Decimal | None
    unit: str | None
    days: int | None  # the window; 1 for a per-day rule; None for a per-fill rule
    text: str
    source: str = "base"  # or "override"
    authorization_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"quantity": None if self.quantity is None else quantity_text(self.quantity),
                "unit": self.unit, "days": self.days, "source": self.source,
                "authorization_id": self.authorization_id, "kind": self.kind, "text": self.text}


class RuleCheck(NamedTuple):
    """One rule applied to one claim; `conclude` turns a list of them into a decision."""

    step: str  # the trace step: accumulate, per_fill, per_day, fills, days_supply, daily_rate
    passed: bool
    limit: AppliedLimit
    allowed: Decimal | None  # the most this rule lets the claim have now; None: no quantity bound
    prior: Decimal | None  # paid quantity already in the window, for windowed rules
    window_start: date | None
    window_end: date | None
    detail: str
    source: str | None
    message: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one claim, with every number that explains it (design §5)."""

    outcome: str  # "paid", "rejected" or "not_applicable"
    reject_code: str | None
    messages: tuple[str, ...]
    policy_id: str | None
    policy_hash: str | None
    channel: str | None
    limit: AppliedLimit | None
    window_start: date | None
    window_end: date | None
    prior_quantity: Decimal | None
    requested_quantity: Decimal | None
    total_quantity: Decimal | None
    max_allowed_quantity: Decimal | None
    max_allowed_packages: int | None
    trace: tuple[TraceStep, ...]

    def to_dict(self) -> dict[str, Any]:
        """The decision as JSON data; the field names are the contract of design §5."""
        return {
            "outcome": self.outcome,
            "reject_code": self.reject_code,
            "messages": list(self.messages),
            "policy_id": self.policy_id,
            "policy_hash": self.policy_hash,
            "channel": self.channel,
            "limit": None if self.limit is None else self.limit.to_dict(),
            "window": None if self.window_start is None else {
                "start": self.window_start.isoformat(), "end": self.window_end.isoformat()},  # type: ignore[union-attr]
            "prior_quantity": _quantity_or_none(self.prior_quantity),
            "requested_quantity": _quantity_or_none(self.requested_quantity),
            "total_quantity": _quantity_or_none(self.total_quantity),
            "max_allowed_quantity": _quantity_or_none(self.max_allowed_quantity),
            "max_allowed_packages": self.max_allowed_packages,
            "trace": [step.to_dict() for step in self.trace],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        """The typed view of a decision an evaluator returned as JSON data."""
        limit = data["limit"]
        window = data["window"]
        return cls(
            data["outcome"], data["reject_code"], tuple(data["messages"]), data["policy_id"],
            data["policy_hash"], data["channel"],
            None if limit is None else AppliedLimit(
                limit["kind"], _decimal_or_none(limit["quantity"]), limit["unit"], limit["days"],
                limit["text"], limit["source"], limit["authorization_id"]),
            None if window is None else date.fromisoformat(window["start"]),
            None if window is None else date.fromisoformat(window["end"]),
            _decimal_or_none(data["prior_quantity"]), _decimal_or_none(data["requested_quantity"]),
            _decimal_or_none(data["total_quantity"]),
            _decimal_or_none(data["max_allowed_quantity"]), data["max_allowed_packages"],
            tuple(TraceStep(t["step"], t["result"], t["detail"], t["source"])
                  for t in data["trace"]))


def _quantity_or_none(value: Decimal | None) -> str | None:
    return None if value is None else quantity_text(value)


def _decimal_or_none(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _trace(steps: Sequence[Step]) -> list[dict[str, Any]]:
    return [{"step": s[0], "result": s[1], "detail": s[2], "source": s[3]} for s in steps]


def rejected_input(rejection: Rejection, policy_id: str | None, policy_hash: str | None,
                   source: str | None, *, claim: Claim | None = None,
                   steps: Sequence[Step] = (), step: str = "validate") -> dict[str, Any]:
    """A claim refused before any limit applied (malformed, or unusable for this policy)."""
    trace = _trace(steps)
    trace.append({"step": step, "result": "fail", "detail": rejection.detail, "source": source})
    trace.append({"step": "decide", "result": "fail", "detail": f"rejected {rejection.code}",
                  "source": source})
    return {"outcome": "rejected", "reject_code": rejection.code, "messages": [rejection.message],
            "policy_id": policy_id, "policy_hash": policy_hash,
            "channel": None if claim is None else claim.channel, "limit": None, "window": None,
            "prior_quantity": None,
            "requested_quantity": None if claim is None else quantity_text(claim.quantity),
            "total_quantity": None, "max_allowed_quantity": None, "max_allowed_packages": None,
            "trace": trace}


def not_applicable(claim: Claim, policy_id: str | None, policy_hash: str | None,
                   steps: Sequence[Step], reason: Step) -> dict[str, Any]:
    """No limit of this policy (or of any policy) applies to the claim: not a reject."""
    trace = _trace(steps)
    trace.append({"step": reason[0], "result": reason[1], "detail": reason[2], "source": reason[3]})
    trace.append({"step": "decide", "result": "info", "detail": "not applicable",
                  "source": reason[3]})
    return {"outcome": "not_applicable", "reject_code": None, "messages": [],
            "policy_id": policy_id, "policy_hash": policy_hash, "channel": claim.channel,
            "limit": None, "window": None, "prior_quantity": None,
            "requested_quantity": quantity_text(claim.quantity), "total_quantity": None,
            "max_allowed_quantity": None, "max_allowed_packages": None, "trace": trace}


def conclude(claim: Claim, policy_id: str, policy_hash: str, reject_code: str, unit: str,
             package_size: Decimal | None, steps: Sequence[Step],
             checks: Sequence[RuleCheck]) -> dict[str, Any]:
    """The decision from every rule check: paid when all pass, else rejected by the first failure.

    Max allowed now is the smallest `allowed` of the checks; the reported limit, window and
    prior are those of the first failing check, or else of the check that allows the least.
    """
    failed = None
    allowed = None
    tightest = None
    for check in checks:
        if failed is None and not check.passed:
            failed = check
        bound = check.allowed
        if bound is not None and (allowed is None or bound < allowed):
            allowed, tightest = bound, check
    headline = failed or tightest or checks[0]
    prior = ZERO if headline.prior is None else headline.prior
    requested = claim.quantity
    trace = _trace(steps)
    for check in checks:
        trace.append({"step": check.step, "result": "pass" if check.passed else "fail",
                      "detail": check.detail, "source": check.source})
    if allowed is None:
        allowed_text = packages = None
        suffix = ""
    else:
        allowed_text = quantity_text(allowed)
        packages = int(allowed // package_size) if package_size else None
        suffix = f"; max allowed now {allowed_text} {unit}"
    if failed is None:
        outcome = "paid"
        code = None
        messages = [headline.message]
        trace.append({"step": "decide", "result": "pass", "detail": "paid" + suffix,
                      "source": headline.source})
    else:
        outcome = "rejected"
        code = reject_code
        messages = [failed.message]
        if allowed_text is not None:
            messages.append(message(f"MAX ALLOWED NOW {allowed_text} {unit_message(unit)}"))
        trace.append({"step": "decide", "result": "fail",
                      "detail": f"rejected {reject_code}: {failed.limit.text} exceeded{suffix}",
                      "source": failed.source})
    start = headline.window_start
    return {
        "outcome": outcome,
        "reject_code": code,
        "messages": messages,
        "policy_id": policy_id,
        "policy_hash": policy_hash,
        "channel": claim.channel,
        "limit": headline.limit.to_dict(),
        "window": None if start is None else {"start": start.isoformat(),
                                              "end": headline.window_end.isoformat()},  # type: ignore[union-attr]
        "prior_quantity": quantity_text(prior),
        "requested_quantity": quantity_text(requested),
        "total_quantity": quantity_text(prior + requested),
        "max_allowed_quantity": allowed_text,
        "max_allowed_packages": packages,
        "trace": trace,
    }


# Trace wording both evaluators share, so their decisions agree to the letter.


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


def daily_rate_detail(requested: Decimal, days_supply: int, limit: Decimal, days: int, unit: str,
                      passed: bool) -> str:
    return (f"requested {quantity_text(requested)} {unit} / {days_supply} days"
            f" {'<=' if passed else '>'} {quantity_text(limit)} {unit} / {days} days")


def daily_rate_allowed(limit: Decimal, days: int, days_supply: int) -> Decimal:
    """limit × days supply ÷ window, rounded down to the 0.001 a claim quantity can carry."""
    return _CONTEXT.divide(limit * days_supply, days).quantize(_MILLI, rounding=decimal.ROUND_FLOOR,
                                                               context=_CONTEXT)


# ---------------------------------------------------------------------------------------------
# Exception review (design §6)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewRequest:
    """An exception request: the answers to a policy's facts, for a product, on a date."""

    request_date: date
    facts: Mapping[str, object]
    policy: str | None = None
    product: str | None = None
    channels: tuple[str, ...] = ()
    prior_authorization: Authorization | None = None
    authorization_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"policy": self.policy, "product": self.product,
                               "request_date": _plain(self.request_date),
                               "facts": ({k: _plain(v) for k, v in self.facts.items()}
                                         if isinstance(self.facts, Mapping) else self.facts)}
        if self.channels:
            out["channels"] = list(self.channels)
        if self.prior_authorization is not None:
            out["prior_authorization"] = _as_data(self.prior_authorization)
        if self.authorization_id is not None:
            out["authorization_id"] = self.authorization_id
        return out


@dataclass(frozen=True, slots=True)
class Problem:
    """An input a review could not use: a request field, or a fact answer."""

    field: str  # "request_date", "facts.severity", ...
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Unmet:
    """A condition of a criterion that the answers do not satisfy."""

    criterion: str
    condition: str  # the condition as the spec writes it
    facts: tuple[str, ...]
    questions: tuple[str, ...]
    answers: tuple[object, ...]  # JSON data, as the request gave them

    def to_dict(self) -> dict[str, Any]:
        return {"criterion": self.criterion, "condition": self.condition, "facts": list(self.facts),
                "questions": list(self.questions), "answers": list(self.answers)}


@dataclass(frozen=True, slots=True)
class Missing:
    """A fact whose answer is missing (or unusable) and could change the outcome."""

    fact: str
    question: str
    criteria: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"fact": self.fact, "question": self.question, "criteria": list(self.criteria)}


@dataclass(frozen=True, slots=True)
class ApprovedLimit:
    """One limit an approval grants: what the authorization's criterion puts in place."""

    target: str
    channel: str | None  # None: every channel
    kind: str
    quantity: Decimal | None
    unit: str | None
    days: int | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "channel": self.channel, "kind": self.kind,
                "quantity": None if self.quantity is None else quantity_text(self.quantity),
                "unit": self.unit, "days": self.days, "text": self.text}


@dataclass(frozen=True, slots=True)
class ReviewResult:
    """The answer to an exception request (design §6)."""

    outcome: str  # "approved", "denied" or "needs_information"
    policy_id: str | None
    policy_hash: str | None
    criterion: str | None
    authorization: Authorization | None
    approved: tuple[ApprovedLimit, ...]
    unmet: tuple[Unmet, ...]
    missing: tuple[Missing, ...]
    invalid: tuple[Problem, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "policy_id": self.policy_id,
            "policy_hash": self.policy_hash,
            "criterion": self.criterion,
            "authorization": None if self.authorization is None else self.authorization.to_dict(),
            "approved": [a.to_dict() for a in self.approved],
            "unmet": [u.to_dict() for u in self.unmet],
            "missing": [m.to_dict() for m in self.missing],
            "invalid": [p.to_dict() for p in self.invalid],
        }


def parse_review_request(data: object) -> tuple[ReviewRequest | None, tuple[Problem, ...]]:
    """A typed request and the problems found; the request is None when it cannot be used at all.

    A missing or unreadable `request_date` or `facts` makes the request unusable. Other problems
    (an unreadable `prior_authorization`, `channels` or `authorization_id`) drop that field.
    """
    if isinstance(data, ReviewRequest):
        data = data.to_dict()
    if not isinstance(data, Mapping):
        return None, (Problem("request", f"the request is a {type(data).__name__}, not an object"),)
    problems: list[Problem] = []
    request_date = read_date(data.get("request_date"))
    if request_date is None:
        problems.append(Problem("request_date", _problem("request_date", data.get("request_date"),
                                                          "a date YYYY-MM-DD")))
    facts = data.get("facts")
    if facts is None:
        facts = {}
    if not isinstance(facts, Mapping) or not all(type(k) is str for k in facts):
        problems.append(Problem("facts", "facts is not an object of answers by fact id"))
        facts = None
    policy = data.get("policy")
    if policy is not None and _text(policy) is None:
        problems.append(Problem("policy", "policy is not a non-empty string"))
        policy = None
    product = data.get("product")
    if product is not None and _text(product) is None:
        problems.append(Problem("product", "product is not a non-empty string"))
        product = None
    channels: tuple[str, ...] = ()
    raw_channels = data.get("channels", data.get("channel"))
    if type(raw_channels) is str:
        raw_channels = [raw_channels]
    if raw_channels is not None:
        channels = _text_list(raw_channels) or ()
        if not channels:
            problems.append(Problem("channels", "channels is not a non-empty list of channel ids"))
    prior = None
    if data.get("prior_authorization") is not None:
        parsed = parse_authorization(data.get("prior_authorization"))
        if type(parsed) is str:
            problems.append(Problem("prior_authorization", parsed))  # type: ignore[arg-type]
        else:
            prior = parsed
    authorization_id = data.get("authorization_id")
    if authorization_id is not None and _text(authorization_id) is None:
        problems.append(Problem("authorization_id", "authorization_id is not a non-empty string"))
        authorization_id = None
    if request_date is None or facts is None:
        return None, tuple(problems)
    request = ReviewRequest(request_date=request_date, facts=dict(facts), policy=policy,
                            product=product, channels=channels, prior_authorization=prior,  # type: ignore[arg-type]
                            authorization_id=authorization_id)
    return request, tuple(problems)


def read_answer(fact_type: str, values: Sequence[str], raw: object) -> tuple[object, str | None]:
    """A fact answer as (value, None), or (None, why it is unusable); None raw means unanswered."""
    if fact_type == "bool":
        return (raw, None) if type(raw) is bool else (None, "expected true or false")
    if fact_type == "enum":
        if type(raw) is str and raw in values:
            return raw, None
        return None, f"expected one of {', '.join(values)}"
    if fact_type == "set":
        if isinstance(raw, (list, tuple, set, frozenset)) and all(
                type(item) is str and item in values for item in raw):
            return frozenset(raw), None
        return None, f"expected a list of {', '.join(values)}"
    if fact_type == "number":
        number = read_number(raw)
        return (number, None) if number is not None else (None, "expected a number")
    parsed = read_date(raw)
    return (parsed, None) if parsed is not None else (None, "expected a date YYYY-MM-DD")


def answer_data(value: object) -> object:
    """An answer as JSON data for a result: sets sorted, decimals and dates as text."""
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, (list, tuple)):
        return [answer_data(v) for v in value]
    if type(value) is Decimal or type(value) is date:
        return _plain(value)
    return value


# Three-valued logic for criteria. A node is (truth, unmet, missing): truth is True, False or
# None (unknown); `unmet` names the leaves that make a False node false and `missing` the
# leaves whose unknown answers leave a None node undecided. Leaves are opaque to these helpers.

Node = tuple


def leaf(truth: bool | None, label: object) -> Node:
    if truth is None:
        return (None, (), (label,))
    return (truth, () if truth else (label,), ())


def all_of(*nodes: Node) -> Node:
    if any(node[0] is False for node in nodes):
        return (False, tuple(x for node in nodes if node[0] is False for x in node[1]), ())
    if any(node[0] is None for node in nodes):
        return (None, (), tuple(x for node in nodes if node[0] is None for x in node[2]))
    return (True, (), ())


def any_of(*nodes: Node) -> Node:
    if any(node[0] is True for node in nodes):
        return (True, (), ())
    if any(node[0] is None for node in nodes):
        return (None, (), tuple(x for node in nodes if node[0] is None for x in node[2]))
    return (False, tuple(x for node in nodes for x in node[1]), ())


def negation(node: Node, label: object) -> Node:
    """`not X`: when X holds, the unmet condition is the negation as a whole."""
    truth = node[0]
    if truth is None:
        return (None, (), node[2])
    return (not truth, (label,) if truth else (), ())


def review_verdict(criteria: Sequence[tuple[str, Node]], questions: Mapping[str, str],
                   shown: Mapping[str, object]
                   ) -> tuple[str, str | None, tuple[Unmet, ...], tuple[Missing, ...]]:
    """(outcome, criterion, unmet, missing) from each criterion's three-valued node, in spec order.

    The first criterion that holds approves. Otherwise, if any criterion is undecided, the
    outcome is needs_information and `missing` names the unanswered facts that could still make
    one hold. Otherwise the request is denied and `unmet` lists, criterion by criterion, each
    condition that failed. Leaf labels are (condition text, fact ids); `shown` holds the answers
    as the request gave them.
    """
    for criterion_id, node in criteria:
        if node[0] is True:
            return "approved", criterion_id, (), ()
    wanted: dict[str, list[str]] = {}
    for criterion_id, node in criteria:
        if node[0] is None:
            for _, facts in node[2]:
                for fact in facts:
                    named = wanted.setdefault(fact, [])
                    if criterion_id not in named:
                        named.append(criterion_id)
    if wanted:
        missing = tuple(Missing(fact, questions.get(fact, ""), tuple(named))
                        for fact, named in wanted.items())
        return "needs_information", None, (), missing
    unmet = tuple(
        Unmet(criterion_id, condition, facts, tuple(questions.get(f, "") for f in facts),
              tuple(answer_data(shown.get(f)) for f in facts))
        for criterion_id, node in criteria for condition, facts in node[1])
    return "denied", None, unmet, ()


def review_refused(problems: Sequence[Problem], policy_id: str | None,
                   policy_hash: str | None, missing: Sequence[Missing] = ()) -> ReviewResult:
    """A request that cannot be decided as sent: what to fix, and what else is still unanswered."""
    return ReviewResult("needs_information", policy_id, policy_hash, None, None, (), (),
                        tuple(missing), tuple(problems))


PRIOR_AUTHORIZATION = "prior_authorization"  # the pseudo-fact a renewal criterion depends on


RENEWAL_QUESTION = "Is there an earlier authorization under the criterion being renewed?"


def renewal_condition(renews: str) -> str:
    return f"an earlier authorization under {renews}"


def authorization_id_for(policy_id: str, criterion: str, product: str | None, start: date) -> str:
    """A deterministic id for an approval, when the request does not bring its own."""
    return f"{policy_id}/{criterion}/{product or 'all'}/{start.isoformat()}"


# ---------------------------------------------------------------------------------------------
# Review of a request against one policy. The evaluators differ in how a criterion's condition
# is computed (`ReviewCriterion.when`: a walk of the IR, or a generated function); the rest —
# checking the request, choosing the outcome, writing the authorization — is this one function.


@dataclass(frozen=True, slots=True)
class ReviewCriterion:
    """What a review needs to know about one criterion of a policy."""

    id: str
    when: Callable[[Mapping[str, object]], Node]  # answers by fact id → three-valued node
    renews: str | None
    approves: tuple[ApprovedLimit, ...]
    duration: tuple[str, int, str | None]  # (kind, amount, unit) in force for this criterion


def review_policy(request: object, *, policy_id: str, policy_hash: str,
                  facts: Mapping[str, tuple[str, tuple[str, ...], str]], channels: Sequence[str],
                  targets: Mapping[str, tuple[str, ...]],
                  criteria: Sequence[ReviewCriterion]) -> ReviewResult:
    """Decide an exception request; never raises on request data.

    `facts` maps each fact id to (type, values, question); `targets` maps every name a request
    may use for a product (its id, a group id, an NDC) to (the product or group id, then the
    group it accumulates in, if any); `channels` are the channels the policy knows.
    """
    parsed, problems = parse_review_request(request)
    if parsed is None:
        return review_refused(problems, policy_id, policy_hash)
    prior_broken = any(p.field == PRIOR_AUTHORIZATION for p in problems)
    blocking = [p for p in problems if p.field != PRIOR_AUTHORIZATION]
    if parsed.policy is not None and parsed.policy != policy_id:
        blocking.append(Problem("policy", f"this is policy {policy_id}, not {parsed.policy}"))
    related: tuple[str, ...] = ()
    if parsed.product is not None:
        related = targets.get(parsed.product, ())
        if not related:
            blocking.append(Problem("product", f"{parsed.product} is not a product of this policy"))
    for channel in parsed.channels:
        if channel not in channels:
            blocking.append(Problem("channels", f"{channel} is not one of {', '.join(channels)}"))

    answers: dict[str, object] = {}
    invalid: list[Problem] = []
    for fact_id, raw in parsed.facts.items():
        fact = facts.get(fact_id)
        if fact is None:
            invalid.append(Problem(f"facts.{fact_id}", "not a fact of this policy"))
        elif raw is not None:
            value, why = read_answer(fact[0], fact[1], raw)
            if why is None:
                answers[fact_id] = value
            else:
                invalid.append(Problem(f"facts.{fact_id}", why))
    questions = {fact_id: fact[2] for fact_id, fact in facts.items()}
    shown = {k: v for k, v in parsed.facts.items() if k in facts}
    if parsed.prior_authorization is not None:
        shown[PRIOR_AUTHORIZATION] = parsed.prior_authorization.id

    outcomes = []
    for criterion in criteria:
        if related and not any(a.target in related for a in criterion.approves):
            continue  # it approves nothing for the requested product
        node = criterion.when(answers)
        if criterion.renews is not None:
            questions[PRIOR_AUTHORIZATION] = RENEWAL_QUESTION
            eligible = None if prior_broken else _renewable(criterion, parsed, related)
            condition = (renewal_condition(criterion.renews), (PRIOR_AUTHORIZATION,))
            node = all_of(leaf(eligible, condition), node)
        outcomes.append((criterion.id, node))
    outcome, chosen, unmet, missing = review_verdict(outcomes, questions, shown)
    listed = tuple([p for p in problems if p.field == PRIOR_AUTHORIZATION] + blocking + invalid)
    if blocking:
        return review_refused(listed, policy_id, policy_hash, missing)
    if outcome != "approved":
        return ReviewResult(outcome, policy_id, policy_hash, None, None, (), unmet, missing, listed)
    criterion = next(c for c in criteria if c.id == chosen)
    through, max_fills = approval_period(parsed.request_date, *criterion.duration)
    target = related[0] if related else None
    approved = tuple(a for a in criterion.approves
                     if (not related or a.target in related)
                     and (not parsed.channels or a.channel is None or a.channel in parsed.channels))
    products = ((target,) if target is not None
                else tuple(dict.fromkeys(a.target for a in criterion.approves)))
    authorization = Authorization(
        id=parsed.authorization_id or authorization_id_for(policy_id, criterion.id, target,
                                                           parsed.request_date),
        products=products, effective_from=parsed.request_date, effective_through=through,  # type: ignore[arg-type]
        criterion=criterion.id, channels=parsed.channels, max_fills=max_fills)
    return ReviewResult("approved", policy_id, policy_hash, criterion.id, authorization, approved,
                        (), (), listed)


def _renewable(criterion: ReviewCriterion, request: ReviewRequest,
               related: tuple[str, ...]) -> bool:
    """Whether the request's prior authorization is one this renewal criterion may renew."""
    prior = request.prior_authorization
    if prior is None or prior.criterion not in (criterion.renews, criterion.id):
        return False
    if prior.effective_from > request.request_date:
        return False
    return not related or any(name in related for name in prior.products)


# ---------------------------------------------------------------------------------------------
# Support for generated policy modules. A module compiles its limits into one check function
# per rule; these helpers apply the authorization semantics of design §5 step 3 to such
# functions through tables. (The interpreter implements the same semantics on its own.)


class RuleEntry(NamedTuple):
    """A rule a generated module applies: its check, its reported limit, its name in the trace."""

    check: Callable[[Claim, Sequence[HistoryEntry], AppliedLimit], RuleCheck]
    applied: AppliedLimit
    text: str  # as the select step lists it ("(hard)" marks a hard ceiling)
    daily: Callable[[Claim, AppliedLimit], RuleCheck] | None  # the daily-rate check, if declared
    hard: bool = False
    source: str | None = None  # "file:line" of the rule


def run_checks(entries: Sequence[RuleEntry], claim: Claim,
               history: Sequence[HistoryEntry]) -> list[RuleCheck]:
    """Every rule's check, then every daily-rate check, in rule order."""
    checks = [entry.check(claim, history, entry.applied) for entry in entries]
    for entry in entries:
        if entry.daily is not None:
            checks.append(entry.daily(claim, entry.applied))
    return checks


def choose_override(claim: Claim, history: Sequence[HistoryEntry], steps: list[Step],
                    hard: Sequence[RuleEntry], *, cover: frozenset[str], product: str, unit: str,
                    channel: str, approvals: Mapping[str, tuple[RuleEntry, ...]],
                    criteria_at: Mapping[str, str], own_scope: frozenset[str],
                    own_ndcs: frozenset[str], daily_rate: bool) -> list[RuleCheck] | None:
    """The checks under the most generous authorization that applies, or None when none does.

    Records an `authorize` step for every authorization that covers the product and, when one
    applies, the `select` step naming it.
    """
    options = []
    for authorization in claim.authorizations:
        if cover.isdisjoint(authorization.products):
            continue
        entries, why, source = _grant(authorization, claim, history, product, unit, channel,
                                      approvals, criteria_at, own_scope, own_ndcs, daily_rate)
        steps.append(authorization_step(authorization, entries is not None, why, source))
        if entries is not None:
            options.append((authorization, (*entries, *hard)))
    best = None
    for authorization, entries in options:
        checks = run_checks(entries, claim, history)
        key = _generosity(checks)
        if best is None or key > best[0]:  # strictly better: ties stay with the earlier one
            best = (key, authorization, entries, checks)
    if best is None:
        return None
    _, authorization, entries, checks = best
    steps.append(select_step([e.text for e in entries], authorization,
                             criteria_at.get(authorization.criterion)))  # type: ignore[arg-type]
    return checks


def _generosity(checks: Sequence[RuleCheck]) -> tuple[bool, bool, Decimal]:
    bounds = [c.allowed for c in checks if c.allowed is not None]
    return (all(c.passed for c in checks), not bounds, min(bounds) if bounds else ZERO)


def _grant(authorization: Authorization, claim: Claim, history: Sequence[HistoryEntry],
           product: str, unit: str, channel: str, approvals: Mapping[str, tuple[RuleEntry, ...]],
           criteria_at: Mapping[str, str], own_scope: frozenset[str], own_ndcs: frozenset[str],
           daily_rate: bool) -> tuple[tuple[RuleEntry, ...] | None, str, str | None]:
    criterion = authorization.criterion
    source = criteria_at.get(criterion)  # type: ignore[arg-type]
    day = claim.date_of_service
    if authorization.status == "revoked":
        return None, "revoked", source
    if day < authorization.effective_from:
        return None, f"not effective until {authorization.effective_from.isoformat()}", source
    if day > authorization.effective_through:
        return None, f"expired on {authorization.effective_through.isoformat()}", source
    if authorization.channels and channel not in authorization.channels:
        return None, f"not for channel {channel}", source
    if authorization.limits:
        granted = next((g for g in authorization.limits if g.channel == channel), None)
        if granted is None:
            return None, f"grants no limit at {channel}", source
        if granted.unit != unit:
            return None, f"grants {granted.unit}, but {product} is billed in {unit}", source
        entries: tuple[RuleEntry, ...] = (
            _granted_entry(granted, authorization.id, own_scope, own_ndcs, source, daily_rate),)
    else:
        if source is None:
            return None, f"criterion {criterion} is not in this policy", source
        approved = approvals.get(criterion)  # type: ignore[arg-type]
        if approved is None:
            return (None, f"criterion {criterion} approves nothing for {product} at {channel}",
                    source)
        entries = tuple(e._replace(applied=_overridden(e.applied, authorization.id))
                        for e in approved)
    if authorization.max_fills is not None:
        first, last = authorization.effective_from, authorization.effective_through
        used = 0
        for entry in history:
            if first <= entry.date_of_service <= last and (
                    entry.product in own_scope or entry.ndc in own_ndcs):
                used += 1
        if used >= authorization.max_fills:
            return None, f"used {used} of {authorization.max_fills} fills", source
    return entries, "applies: " + "; ".join(e.text for e in entries), source


def _overridden(applied: AppliedLimit, authorization_id: str) -> AppliedLimit:
    return AppliedLimit(applied.kind, applied.quantity, applied.unit, applied.days, applied.text,
                        "override", authorization_id)


def _granted_entry(granted: GrantedLimit, authorization_id: str, scope: frozenset[str],
                   ndcs: frozenset[str], source: str | None, daily_rate: bool) -> RuleEntry:
    """A rule for an authorization's explicit limit: per window when it has days, else per fill."""
    limit, unit, days = granted.quantity, granted.unit, granted.days
    if days is None:
        text = rule_text("per_fill", limit, unit, None)
        ql = rule_message("per_fill", limit, unit, None)

        def per_fill(claim: Claim, history: Sequence[HistoryEntry],
                     applied: AppliedLimit) -> RuleCheck:
            passed = claim.quantity <= limit
            return RuleCheck("per_fill", passed, applied, limit, None, None, None,
                             per_fill_detail(claim.quantity, limit, unit, passed), source, ql)

        return RuleEntry(per_fill, AppliedLimit("per_fill", limit, unit, None, text, "override",
                                                authorization_id), text, None, False, source)
    text = rule_text("per_window", limit, unit, days)
    ql = rule_message("per_window", limit, unit, days)

    def per_window(claim: Claim, history: Sequence[HistoryEntry],
                   applied: AppliedLimit) -> RuleCheck:
        end = claim.date_of_service
        start = window_start(end, days)
        prior = ZERO
        for entry in history:
            if start <= entry.date_of_service <= end and (
                    entry.product in scope or entry.ndc in ndcs):
                prior += entry.quantity
        passed = prior + claim.quantity <= limit
        return RuleCheck("accumulate", passed, applied, limit - prior if prior < limit else ZERO,
                         prior, start, end,
                         window_detail(start, end, prior, claim.quantity, limit, unit, passed),
                         source, ql)

    def daily(claim: Claim, applied: AppliedLimit) -> RuleCheck:
        passed = claim.quantity * days <= limit * claim.days_supply
        days_supply = claim.days_supply
        return RuleCheck("daily_rate", passed, applied,
                         daily_rate_allowed(limit, days, days_supply), None, None, None,
                         daily_rate_detail(claim.quantity, days_supply, limit, days, unit, passed),
                         source, daily_rate_message(limit, unit, days))

    applied = AppliedLimit("per_window", limit, unit, days, text, "override", authorization_id)
    return RuleEntry(per_window, applied, text, daily if daily_rate else None, False, source)
