"""Standard-library runtime of the DQM evaluators: typed claims, parsing, decisions as JSON."""

# This module is copied verbatim into the generated package as `dqm_policies/_runtime.py`, so it
# imports nothing outside the standard library. The IR interpreter (`dqmc.interpreter`) and the
# generated policy modules share it: it owns everything that does not depend on a policy's rules —
# reading claims and review requests, the reject codes of malformed input, the wording of messages
# and trace steps, how a set of rule checks becomes one decision, and the bookkeeping of reviews.
# The rules themselves (which limits apply, what counts in a window, which authorization wins) are
# decided by each evaluator: the interpreter walking the IR, generated modules through the
# decision code at the end of this module, which reads their constant tables and takes claims
# their own readers took apart into plain values (see "Support for generated policy modules").
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
#       `product` not a non-empty string; `package` not a non-empty string; `package_size`
#       present but not a quantity as for `quantity` ("M/I PACKAGE SIZE"); no `package_size`
#       for a product whose package size comes from the drug file ("PACKAGE SIZE NEEDED")
# 26    `unit` missing or not a string (``g``/``mL``/``each`` or NCPDP ``GM``/``ML``/``EA``)
# U7    `channel` missing or not a non-empty string (NCPDP U7, M/I Pharmacy Service Type: the
#       channel stands for the pharmacy's service type); a channel the policy does not know is
#       rejected with U7 by the policy
# 09    `member` not an object, or `member.birth_date` present but not a real date on or before
#       the date of service (NCPDP 09, M/I Date Of Birth); a missing birth date is rejected with 09
#       only by a policy whose age bands need it
# 85    `history` or `authorizations` not a list, or any entry of them malformed; the message names
#       the entry ("BAD HISTORY ENTRY 2 C-0"), because a record we cannot read might hide a fill
#       (also, by the policy: a paid prior fill a therapy rule must measure that has no
#       `days_supply`, see `therapy_supplies`)
# ====  ==========================================================================================
#
# Well-formed claims are rejected with the policy's `reject_code` (76 unless it says otherwise)
# for a limit exceeded, 70 (Product/Service Not Covered) at a channel where a `not covered` line
# excludes the product, and 75 (Prior Authorization Required) for a product that requires
# authorization when no active authorization on the claim covers it.
#
# History entries need `date_of_service`, `product` and/or `ndc`, `quantity` (as for claims) and
# `status` (``paid`` or ``reversed``); `claim_id`, `days_supply`, `channel` and `package_size` are
# optional but checked when present. A paid entry of a product whose package size comes from the
# drug file needs its `package_size` unless it has the claim's NDC (an NDC names one package);
# without it the claim is rejected with 85, as for any entry that might hide a fill. Authorizations need `id`, `products` (product, group or NDC ids),
# `effective_from` ≤ `effective_through`, and a `criterion` or explicit `limits`
# (``{"retail": {"quantity": "60", "unit": "g", "days": 30}}``; without `days` a limit is per
# fill); optional `channels`, `status` (``active``/``revoked``) and `max_fills` (≥ 1). Unknown keys
# are ignored everywhere, so producers may send more than we read.
#
# Quantities are Decimal; all arithmetic on them is exact because parsing bounds them to ten
# digits with at most three decimals, and `evaluation_context()` makes sure the decimal context
# is one under which that holds.

from __future__ import annotations

import decimal
import math
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal

# Imports are few and light on purpose: a service's first decision pays for them (cold start).
# `dataclasses` (which imports inspect and ast), `typing`, `re` and `calendar` are each more
# than the rest of this module takes to load, so value classes come from `_record` below,
# texts are checked with str methods, and month lengths are computed here.

# ---------------------------------------------------------------------------------------------
# Value classes
#
# `@_record` is what `@dataclass(frozen=True, slots=True)` does for these classes: fields from
# the class's annotations (in order, defaults from their values), an __init__ (keyword-only with
# kw_only=True), and comparison, hashing and repr by fields; instances cannot be changed.
# `@_named` makes a class a collections.namedtuple from its annotations, like typing.NamedTuple.

_new = object.__new__
_set = object.__setattr__


class _Value:
    """The methods every @_record class shares."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def _values(self) -> tuple:
        return tuple([getattr(self, name) for name in self._fields])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{self.__class__.__qualname__}({shown})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple:  # copy and pickle: set the slots as __init__ would
        return _restore, (self.__class__, self._values())


def _restore(cls: type, values: tuple) -> object:
    value = _new(cls)
    for name, item in zip(cls._fields, values):  # type: ignore[attr-defined]
        _set(value, name, item)
    return value


def _record(*, kw_only: bool = False) -> Callable[[type], type]:
    def build(cls: type) -> type:
        # The class's own annotations, in order (inspect.get_annotations would import inspect).
        names = tuple(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063
        defaults = {name: cls.__dict__[name] for name in names if name in cls.__dict__}
        namespace = {key: value for key, value in cls.__dict__.items()
                     if key not in names and key not in ("__dict__", "__weakref__")}
        # Field names are this module's own identifiers, never data.
        params = ", ".join(name + (f"=_default_{name}" if name in defaults else "")
                           for name in names)
        body = "".join(f"    _set(self, {name!r}, {name})\n" for name in names)
        scope: dict[str, object] = {"_set": _set}
        scope.update({f"_default_{name}": value for name, value in defaults.items()})
        init = f"def __init__(self, {'*, ' if kw_only else ''}{params}):\n{body}"
        exec(init, scope)  # noqa: S102  # as dataclasses does; the text holds only field names
        namespace.update(__slots__=names, _fields=names, __init__=scope["__init__"])
        made = type(cls.__name__, (_Value,), namespace)
        made.__qualname__ = cls.__qualname__
        return made

    return build


def _named(cls: type) -> type:
    names = tuple(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063  # as in _record
    base = namedtuple(cls.__name__, names)  # type: ignore[misc]
    namespace = {key: value for key, value in cls.__dict__.items()
                 if key not in ("__dict__", "__weakref__", "__annotations__")}
    made = type(cls.__name__, (base,), dict(namespace, __slots__=()))
    made.__qualname__ = cls.__qualname__
    return made


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
# NCPDP 70, Product/Service Not Covered: a limit line `not covered` (e.g. "not available by
# mail"). domain.md §1.3 lists no code for a product a plan excludes at one channel; 76 (Plan
# Limitations Exceeded) would tell the pharmacy a smaller quantity could pay, which is untrue.
CODE_NOT_COVERED = "70"
CODE_PRIOR_AUTHORIZATION = "75"  # Prior Authorization Required (domain.md §1.3)

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



def _digits(text: str) -> bool:
    """One or more ASCII digits (str.isdigit alone also accepts other scripts' digits)."""
    return text.isdigit() and text.isascii()


def _plain_decimal(text: str) -> bool:
    """Digits, optionally a point and more digits: "30", "30.5"; no sign, exponent or space."""
    whole, point, part = text.partition(".")
    return _digits(whole) and (not point or _digits(part))


def _date_text(text: str) -> bool:
    """Written YYYY-MM-DD in ASCII digits."""
    return (len(text) == 10 and text[4] == "-" and text[7] == "-"
            and _digits(text[:4] + text[5:7] + text[8:]))


class _KeepContext:
    """A context manager that changes nothing (contextlib.nullcontext, without the import)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def evaluation_context() -> object:
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


_KEEP_CONTEXT = _KeepContext()


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
    if len(text) > 24 or not _plain_decimal(text):
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
    if kind is str and len(value) <= 40 and _plain_decimal(value.removeprefix("-")):  # type: ignore[union-attr]
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
        if _date_text(value):  # type: ignore[arg-type]
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
    if type(value) is str and len(value) == 11 and _digits(value):  # type: ignore[arg-type]
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
    if kind == "not_covered":
        return "not covered"
    if kind == "therapy_max":
        return f"therapy at most {_days(days)}"  # type: ignore[arg-type]
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
    elif kind == "therapy_max":
        text = f"THERAPY LIMIT {days} DAYS"
    else:
        text = f"DAYS SUPPLY LIMIT {days}"
    return message(text)


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

    def to_dict(self) -> dict[str, object]:
        return {"claim_id": self.claim_id, "date_of_service": _plain(self.date_of_service),
                "product": self.product, "ndc": self.ndc, "quantity": _plain(self.quantity),
                "days_supply": self.days_supply, "channel": self.channel, "status": self.status,
                "package_size": _plain(self.package_size)}


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

    def to_dict(self) -> dict[str, object]:
        return {"claim_id": self.claim_id, "date_of_service": _plain(self.date_of_service),
                "product": self.product, "ndc": self.ndc, "package": self.package,
                "package_size": _plain(self.package_size),
                "quantity": _plain(self.quantity), "unit": self.unit,
                "days_supply": self.days_supply, "channel": self.channel,
                "member": {"birth_date": _plain(self.birth_date)},
                "history": _as_data_list(self.history),
                "authorizations": _as_data_list(self.authorizations)}


# Parsing builds a Claim and a HistoryEntry per history row on every evaluation. Setting the
# slots directly costs about half of the keyword-argument __init__; the instances are the same
# (frozen, equal, hashable), only built faster.


def _history_entry(date_of_service: date, quantity: Decimal, status: str, claim_id: str | None,
                   product: str | None, ndc: str | None, days_supply: int | None,
                   channel: str | None, package_size: Decimal | None = None) -> HistoryEntry:
    entry = _new(HistoryEntry)
    _set(entry, "date_of_service", date_of_service)
    _set(entry, "quantity", quantity)
    _set(entry, "status", status)
    _set(entry, "claim_id", claim_id)
    _set(entry, "product", product)
    _set(entry, "ndc", ndc)
    _set(entry, "days_supply", days_supply)
    _set(entry, "channel", channel)
    _set(entry, "package_size", package_size)
    return entry


def _claim(date_of_service: date, quantity: Decimal, unit: str, days_supply: int, channel: str,
           claim_id: str | None, product: str | None, ndc: str | None, package: str | None,
           birth_date: date | None, history: tuple[HistoryEntry, ...],
           authorizations: tuple[Authorization, ...], package_size: Decimal | None) -> Claim:
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
    _set(claim, "package_size", package_size)
    return claim


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
    package_size = get("package_size")
    if package_size is not None:
        package_size = read_quantity(package_size)
        if package_size is None:
            return _reject(CODE_PRODUCT, "M/I PACKAGE SIZE", _problem(
                "package_size", get("package_size"), "a decimal > 0, at most 3 decimals"))
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
                  claim_id, product, ndc, package, birth_date, history, authorizations,
                  package_size)


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
    package_size = get("package_size")
    if package_size is not None:
        package_size = read_quantity(package_size)
        if package_size is None:
            return _problem("package_size", get("package_size"),
                            "a decimal > 0 with at most 3 decimals")
    return _history_entry(date_of_service, quantity, status, claim_id, product, ndc,  # type: ignore[arg-type]
                          days_supply, channel, package_size)


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


def _month_days(year: int, month: int) -> int:
    """The number of days of a month (calendar.monthrange, without the import)."""
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - date(year, month, 1)).days


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
    last_day = _month_days(year, month)
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


@_record()
class TraceStep:
    """One step of an evaluation: what was checked, how it came out, and the spec line behind it."""

    step: str
    result: str  # "pass", "fail", "skip" or "info"
    detail: str
    source: str | None  # "file:line" of the spec text that decided

    def to_dict(self) -> dict[str, object]:
        return {"step": self.step, "result": self.result, "detail": self.detail,
                "source": self.source}


@_record()
class AppliedLimit:
    """The limit a decision reports: the rule that decided, and whether an authorization set it."""

    kind: str  # per_window, per_fill, per_day, fills_per_window, days_supply_max, therapy_max
    quantity: Decimal | None
    unit: str | None
    days: int | None  # the window; 1 for a per-day rule; None for a per-fill rule
    text: str
    source: str = "base"  # or "override"
    authorization_id: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"quantity": None if self.quantity is None else quantity_text(self.quantity),
                "unit": self.unit, "days": self.days, "source": self.source,
                "authorization_id": self.authorization_id, "kind": self.kind, "text": self.text}


@_named
class RuleCheck:
    """One rule applied to one claim; `conclude` turns a list of them into a decision."""

    step: str  # the trace step: accumulate, per_fill, per_day, fills, days_supply, therapy,
    # daily_rate
    passed: bool
    limit: AppliedLimit
    allowed: Decimal | None  # the most this rule lets the claim have now; None: no quantity bound
    prior: Decimal | None  # paid quantity already in the window, for windowed rules
    window_start: date | None
    window_end: date | None
    detail: str
    source: str | None
    message: str


@_record()
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

    def to_dict(self) -> dict[str, object]:
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
    def from_dict(cls, data: Mapping[str, object]) -> Decision:
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


def _trace(steps: Sequence[Step]) -> list[dict[str, object]]:
    return [{"step": s[0], "result": s[1], "detail": s[2], "source": s[3]} for s in steps]


def rejected_input(rejection: Rejection, policy_id: str | None, policy_hash: str | None,
                   source: str | None, *, claim: Claim | None = None,
                   steps: Sequence[Step] = (), step: str = "validate") -> dict[str, object]:
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
                   steps: Sequence[Step], reason: Step) -> dict[str, object]:
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
             checks: Sequence[RuleCheck]) -> dict[str, object]:
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


# ---------------------------------------------------------------------------------------------
# Exception review (design §6)


@_record(kw_only=True)
class RequestedLimit:
    """The limit an exception request asks for: what an `approve requested` criterion grants."""

    quantity: Decimal
    unit: str
    days: int | None = None  # None: per fill
    through: date | None = None  # the last day asked for, if the request says

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"quantity": _plain(self.quantity), "unit": self.unit,
                                  "days": self.days}
        if self.through is not None:
            out["through"] = _plain(self.through)
        return out


REQUESTED_FIELDS = ("quantity", "unit", "days", "through")


def parse_requested_limit(raw: object) -> RequestedLimit | str:
    """A request's `requested` limit, or why it cannot be read."""
    if isinstance(raw, RequestedLimit):
        raw = raw.to_dict()
    if not isinstance(raw, Mapping):
        return "requested is not an object with quantity, unit and days"
    unknown = [str(k) for k in raw if k not in REQUESTED_FIELDS]
    if unknown:
        return f"requested has unknown fields {', '.join(sorted(unknown))}"
    quantity = read_quantity(raw.get("quantity"))
    if quantity is None:
        return _problem("requested.quantity", raw.get("quantity"), "a decimal > 0")
    unit = UNIT_ALIASES.get(raw.get("unit")) if type(raw.get("unit")) is str else None  # type: ignore[arg-type]
    if unit is None:
        return _problem("requested.unit", raw.get("unit"), "g, mL or each")
    days = raw.get("days")
    if days is not None and read_days(days, 9999) is None:
        return _problem("requested.days", days, "a whole number of days (none: per fill)")
    through = raw.get("through")
    if through is not None:
        through = read_date(through)
        if through is None:
            return _problem("requested.through", raw.get("through"), "a date YYYY-MM-DD")
    return RequestedLimit(quantity=quantity, unit=unit, days=days, through=through)  # type: ignore[arg-type]


@_record(kw_only=True)
class ReviewRequest:
    """An exception request: the answers to a policy's facts, for a product, on a date."""

    request_date: date
    facts: Mapping[str, object]
    policy: str | None = None
    product: str | None = None
    channels: tuple[str, ...] = ()
    prior_authorization: Authorization | None = None
    authorization_id: str | None = None
    requested: RequestedLimit | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"policy": self.policy, "product": self.product,
                               "request_date": _plain(self.request_date),
                               "facts": ({k: _plain(v) for k, v in self.facts.items()}
                                         if isinstance(self.facts, Mapping) else self.facts)}
        if self.channels:
            out["channels"] = list(self.channels)
        if self.prior_authorization is not None:
            out["prior_authorization"] = _as_data(self.prior_authorization)
        if self.authorization_id is not None:
            out["authorization_id"] = self.authorization_id
        if self.requested is not None:
            out["requested"] = self.requested.to_dict()
        return out


@_record()
class Problem:
    """An input a review could not use: a request field, or a fact answer."""

    field: str  # "request_date", "facts.severity", ...
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"field": self.field, "reason": self.reason}


@_record()
class Unmet:
    """A condition of a criterion that the answers do not satisfy."""

    criterion: str
    condition: str  # the condition as the spec writes it
    facts: tuple[str, ...]
    questions: tuple[str, ...]
    answers: tuple[object, ...]  # JSON data, as the request gave them

    def to_dict(self) -> dict[str, object]:
        return {"criterion": self.criterion, "condition": self.condition, "facts": list(self.facts),
                "questions": list(self.questions), "answers": list(self.answers)}


@_record()
class Missing:
    """A fact whose answer is missing (or unusable) and could change the outcome."""

    fact: str
    question: str
    criteria: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"fact": self.fact, "question": self.question, "criteria": list(self.criteria)}


@_record()
class ApprovedLimit:
    """One limit an approval grants: what the authorization's criterion puts in place."""

    target: str | None  # None: `approve requested` for a request that names no product
    channel: str | None  # None: every channel
    kind: str
    quantity: Decimal | None
    unit: str | None
    days: int | None
    text: str

    def to_dict(self) -> dict[str, object]:
        return {"target": self.target, "channel": self.channel, "kind": self.kind,
                "quantity": None if self.quantity is None else quantity_text(self.quantity),
                "unit": self.unit, "days": self.days, "text": self.text}


@_record()
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

    def to_dict(self) -> dict[str, object]:
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
    (an unreadable `prior_authorization`, `channels`, `authorization_id` or `requested`) drop
    that field.
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
    requested = None
    if data.get("requested") is not None:
        read = parse_requested_limit(data.get("requested"))
        if type(read) is str:
            problems.append(Problem("requested", read))  # type: ignore[arg-type]
        else:
            requested = read
    if request_date is None or facts is None:
        return None, tuple(problems)
    request = ReviewRequest(request_date=request_date, facts=dict(facts), policy=policy,
                            product=product, channels=channels, prior_authorization=prior,  # type: ignore[arg-type]
                            authorization_id=authorization_id, requested=requested)  # type: ignore[arg-type]
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


# `for initial requests` / `for renewal requests`: which requests a criterion serves. A renewal
# request brings an earlier authorization for the product; the question and condition texts
# explain an undecided one (an unreadable `prior_authorization`).
EARLIER_QUESTION = "Is there an earlier authorization for the product?"
SERVES_CONDITION = {"initial": "an initial request (no earlier authorization for the product)",
                    "renewal": "a renewal request (an earlier authorization for the product)"}


def authorization_id_for(policy_id: str, criterion: str, product: str | None, start: date) -> str:
    """A deterministic id for an approval, when the request does not bring its own."""
    return f"{policy_id}/{criterion}/{product or 'all'}/{start.isoformat()}"


# ---------------------------------------------------------------------------------------------
# Review of a request against one policy. The evaluators differ in how a criterion's condition
# is computed (`ReviewCriterion.when`: a walk of the IR, or a generated function); the rest —
# checking the request, choosing the outcome, writing the authorization — is this one function.


@_record()
class ReviewCriterion:
    """What a review needs to know about one criterion of a policy."""

    id: str
    when: Callable[[Mapping[str, object]], Node]  # answers by fact id → three-valued node
    renews: str | None
    approves: tuple[ApprovedLimit, ...]
    # (kind, amount, unit) in force for this criterion; None only for `approve requested` with
    # no duration in the spec: the request's `requested.through` ends the approval
    duration: tuple[str, int, str | None] | None
    requested: bool = False  # `approve requested`: it grants the request's `requested` limit
    serves: str | None = None  # "initial" or "renewal": the only requests it is tried for


def review_policy(request: object, *, policy_id: str, policy_hash: str,
                  facts: Mapping[str, tuple[str, tuple[str, ...], str]], channels: Sequence[str],
                  targets: Mapping[str, tuple[str, ...]],
                  criteria: Sequence[ReviewCriterion],
                  units: Mapping[str, str] | None = None,
                  routed: tuple[tuple[str, ...], str | None] | None = None) -> ReviewResult:
    """Decide an exception request; never raises on request data.

    `facts` maps each fact id to (type, values, question); `targets` maps every name a request
    may use for a product (its id, a group id, an NDC) to (the product or group id, then the
    group it accumulates in, if any); `channels` are the channels the policy knows; `units`
    maps a product or group id to the one billing unit its limits count in. `routed` is set
    when this is the fallback guideline and the registry sent it a request for another policy's
    product: that product's (product or group id, its group) and billing unit.
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
        if not related and routed is not None:
            related = routed[0]
            if routed[1] is not None:
                units = {**(units or {}), related[0]: routed[1]}
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

    # None: cannot tell (the prior authorization is unreadable)
    renewal = None if prior_broken else _earlier_authorization(parsed, related)
    outcomes = []
    passed_over = []  # criteria that serve only the other kind of request
    for criterion in criteria:
        if related and not criterion.requested and not any(a.target in related
                                                           for a in criterion.approves):
            continue  # it approves nothing for the requested product
        if criterion.serves is not None and renewal is not None \
                and (criterion.serves == "renewal") is not renewal:
            passed_over.append(criterion)
            continue  # not tried for this kind of request
        node = criterion.when(answers)
        if criterion.serves is not None and renewal is None:
            questions.setdefault(PRIOR_AUTHORIZATION, EARLIER_QUESTION)
            node = all_of(leaf(None, (SERVES_CONDITION[criterion.serves],
                                      (PRIOR_AUTHORIZATION,))), node)
        if criterion.renews is not None:
            questions[PRIOR_AUTHORIZATION] = RENEWAL_QUESTION
            eligible = None if prior_broken else _renewable(criterion, parsed, related)
            condition = (renewal_condition(criterion.renews), (PRIOR_AUTHORIZATION,))
            node = all_of(leaf(eligible, condition), node)
        outcomes.append((criterion.id, node))
    if not outcomes and passed_over:  # no criterion serves this kind of request
        questions[PRIOR_AUTHORIZATION] = EARLIER_QUESTION
        outcomes = [(c.id, leaf(False, (SERVES_CONDITION[c.serves],  # type: ignore[index]
                                         (PRIOR_AUTHORIZATION,))))
                    for c in passed_over]
    outcome, chosen, unmet, missing = review_verdict(outcomes, questions, shown)
    listed = tuple([p for p in problems if p.field == PRIOR_AUTHORIZATION] + blocking + invalid)
    if blocking:
        return review_refused(listed, policy_id, policy_hash, missing)
    if outcome != "approved":
        return ReviewResult(outcome, policy_id, policy_hash, None, None, (), unmet, missing, listed)
    criterion = next(c for c in criteria if c.id == chosen)
    target = related[0] if related else None
    granted: tuple[GrantedLimit, ...] = ()
    if criterion.requested:
        asked = _requested_problems(criterion, parsed, target, units or {})
        if asked:
            return review_refused(listed + asked, policy_id, policy_hash)
        limit: RequestedLimit = parsed.requested  # type: ignore[assignment]
        duration = _requested_duration(criterion.duration, limit)
        if duration is None:
            through, max_fills = limit.through, None
        else:
            through, max_fills = approval_period(parsed.request_date, *duration)
            if limit.through is not None and limit.through < through:  # type: ignore[operator]
                through = limit.through
        kind = "per_fill" if limit.days is None else "per_window"
        text = rule_text(kind, limit.quantity, limit.unit, limit.days)
        approved = tuple(ApprovedLimit(target, channel, kind, limit.quantity, limit.unit,
                                       limit.days, text) for channel in parsed.channels)
        granted = tuple(GrantedLimit(channel=channel, quantity=limit.quantity, unit=limit.unit,
                                     days=limit.days) for channel in parsed.channels)
    else:
        through, max_fills = approval_period(parsed.request_date, *criterion.duration)  # type: ignore[misc]
        approved = tuple(a for a in criterion.approves
                         if (not related or a.target in related)
                         and (not parsed.channels or a.channel is None
                              or a.channel in parsed.channels))
    products = ((target,) if target is not None
                else tuple(dict.fromkeys(a.target for a in criterion.approves)))
    authorization = Authorization(
        id=parsed.authorization_id or authorization_id_for(policy_id, criterion.id, target,
                                                           parsed.request_date),
        products=products, effective_from=parsed.request_date, effective_through=through,  # type: ignore[arg-type]
        criterion=criterion.id, channels=parsed.channels, max_fills=max_fills, limits=granted)
    return ReviewResult("approved", policy_id, policy_hash, criterion.id, authorization, approved,
                        (), (), listed)


def _requested_duration(duration: tuple[str, int, str | None] | None,
                        limit: RequestedLimit) -> tuple[str, int, str | None] | None:
    """The stated duration an `approve requested` approval runs for; None: it ends on the
    request's `requested.through`. `as requested` always ends there; `one time or as requested`
    does when the request gives the date, and is one fill when it does not."""
    if duration is None or duration[0] == "as_requested":
        return None
    if duration[0] == "one_time_or_requested":
        return None if limit.through is not None else ("one_time", 0, None)
    return duration


def _requested_problems(criterion: ReviewCriterion, request: ReviewRequest, target: str | None,
                        units: Mapping[str, str]) -> tuple[Problem, ...]:
    """What an approval under an `approve requested` criterion still needs from the request."""
    found = []
    limit = request.requested
    if limit is None:
        found.append(Problem("requested", f"criterion {criterion.id} approves the quantity "
                             "requested; give requested: quantity, unit and days (none: per fill)"))
    if not request.channels:
        found.append(Problem("channels", f"criterion {criterion.id} approves the quantity "
                             "requested at the channels the request names; give channels"))
    if limit is None:
        return tuple(found)
    billed = units.get(target) if target is not None else None
    if billed is not None and limit.unit != billed:
        found.append(Problem("requested.unit", f"{target} is billed in {billed}, not {limit.unit}"))
    if limit.through is not None and limit.through < request.request_date:
        found.append(Problem("requested.through", "requested.through is before the request date"))
    elif limit.through is None and criterion.duration is None:
        found.append(Problem("requested.through", "the policy states no approval duration; give "
                             "the last day the request asks for"))
    elif limit.through is None and criterion.duration[0] == "as_requested":  # type: ignore[index]
        found.append(Problem("requested.through", f"approvals under criterion {criterion.id} "
                             "last as requested; give the last day the request asks for"))
    return tuple(found)


def _renewable(criterion: ReviewCriterion, request: ReviewRequest,
               related: tuple[str, ...]) -> bool:
    """Whether the request's prior authorization is one this renewal criterion may renew."""
    prior = request.prior_authorization
    if prior is None or prior.criterion not in (criterion.renews, criterion.id):
        return False
    return _earlier_authorization(request, related)


def _earlier_authorization(request: ReviewRequest, related: tuple[str, ...]) -> bool:
    """Whether the request is a renewal request: its prior authorization covers the product (or
    its group, or any product when the request names none) and began on or before the request
    date. Its criterion, dates of end and status do not matter: it was granted."""
    prior = request.prior_authorization
    if prior is None or prior.effective_from > request.request_date:
        return False
    return not related or any(name in related for name in prior.products)


# ---------------------------------------------------------------------------------------------
# Support for generated policy modules
#
# A generated module reads a claim that arrives as plain decoded JSON straight into local values
# and decides it from constant tables of its products, plans and rules; it builds no Claim or
# HistoryEntry. Quantities on this path are whole thousandths (int): parsing bounds claim
# quantities to three decimals, so integer arithmetic is exact, needs no decimal context and is
# several times cheaper than Decimal. Dates are proleptic ordinals. Claims of any other shape
# (typed instances, Mappings, tuples, Decimal or float quantities) and malformed ones go through
# `parse_claim`, and their typed fields are converted to the same values, so both ways in reach
# the same tables and the same decision code. The semantics are those of the interpreter
# (dqmc.interpreter), implemented again here over precomputed tables; the differential tests
# hold the two to agreement on every field.

# Texts read before, by value: only usable values are kept (a miss re-reads through read_*).
MILLI: dict[str, int] = {}  # quantity text → thousandths
ORDINAL: dict[str, int] = {}  # date text → date.toordinal()
_MILLI_TEXT: dict[int, str] = {}
_DAY_TEXT: dict[int, str] = {}
_THOUSAND = Decimal(1000)
_FIRST_DAY = date.min.toordinal()
_LAST_DAY = date.max.toordinal()


def read_milli(value: object) -> int | None:
    """A claim quantity in thousandths when it is JSON text or a JSON integer, else None."""
    kind = value.__class__
    if kind is str:
        quantity = read_quantity(value)
        if quantity is None:
            return None
        milli = int(_CONTEXT.multiply(quantity, _THOUSAND))
        _remember(MILLI, value, milli)  # type: ignore[arg-type]
        return milli
    if kind is int:
        return value * 1000 if 0 < value <= 9999999 else None  # type: ignore[operator]
    return None


def read_ordinal(value: object) -> int | None:
    """A date of service written YYYY-MM-DD as its ordinal, else None."""
    if value.__class__ is not str:
        return None
    day = read_date(value)
    if day is None:
        return None
    ordinal = day.toordinal()
    _remember(ORDINAL, value, ordinal)  # type: ignore[arg-type]
    return ordinal


def milli(quantity: Decimal) -> int:
    """A parsed quantity (at most three decimals) in thousandths."""
    return int(_CONTEXT.multiply(quantity, _THOUSAND))


def milli_text(value: int) -> str:
    """Thousandths as quantity_text writes the quantity: 30000 → "30", 12500 → "12.5"."""
    text = _MILLI_TEXT.get(value)
    if text is None:
        whole, part = divmod(value, 1000)
        text = str(whole) if not part else f"{whole}.{part:03d}".rstrip("0")
        _remember(_MILLI_TEXT, value, text)  # type: ignore[arg-type]
    return text


def day_text(ordinal: int) -> str:
    """An ordinal as an ISO date."""
    text = _DAY_TEXT.get(ordinal)
    if text is None:
        text = date.fromordinal(ordinal).isoformat()
        _remember(_DAY_TEXT, ordinal, text)  # type: ignore[arg-type]
    return text


def step_json(step: Step) -> dict[str, object]:
    """A trace step as the decision writes it. Generated modules keep their constant steps in
    this form and copy them into each decision, which is cheaper than building them."""
    return {"step": step[0], "result": step[1], "detail": step[2], "source": step[3]}


def age_between(birth: int, day: int) -> int:
    """age_on for two ordinals."""
    return age_on(date.fromordinal(birth), date.fromordinal(day))


@_named
class Rule:
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


def rule(kind: str, quantity: str | None, unit: str | None, days: int | None, fills: int | None,
         max_days: int | None, scope: frozenset[str], ndcs: frozenset[str], source: str | None,
         *, hard: bool = False, daily_rate: bool = False, origin: str = "base",
         authorization_id: str | None = None, noun: str | None = None, note: str = "") -> Rule:
    """A Rule from its spec values (`quantity` as decimal text); `origin` is base or override.

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
    applied = {"quantity": limit_text, "unit": unit, "days": days, "source": origin,
               "authorization_id": authorization_id, "kind": kind, "text": text}
    return Rule(kind, None if amount is None else milli(amount), limit_text, unit, days, fills,
                max_days, scope, ndcs, source, line, text + (" (hard)" if hard else ""), hard,
                applied, daily, noun)


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
                authorization_id=r.applied["authorization_id"], note=note)  # type: ignore[arg-type]


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
                                       entry.days_supply, entry.channel, entry.package_size)
        out.append(entry)
    return tuple(out)


def with_history(claim: Claim, history: tuple[HistoryEntry, ...]) -> Claim:
    """The claim with another history (sized_history's)."""
    return _claim(claim.date_of_service, claim.quantity, claim.unit, claim.days_supply,
                  claim.channel, claim.claim_id, claim.product, claim.ndc, claim.package,
                  claim.birth_date, history, claim.authorizations, claim.package_size)


def unsized_history_texts(index: int, entry: HistoryEntry, product_id: str) -> tuple[str, str]:
    """(message line, trace detail) when a prior fill cannot be counted in packages."""
    label = entry.claim_id or ""
    detail = (f"history entry {index}{f' ({label})' if label else ''}: package_size is missing;"
              f" the package size of {product_id} comes from the drug file, and this fill has"
              " another NDC than the claim (or none)")
    return message(f"BAD HISTORY ENTRY {index} {label}".rstrip()), detail


@_named
class Plan:
    """The limits of one product at one channel, with what the trace says about them."""

    matched: dict[str, object]  # the match step (step_json)
    rules: tuple[Rule, ...]  # every base limit that may apply here
    select: Callable[[int | None, str | None, int], object] | None  # picks among rules by selectors
    selected: dict[str, object] | None  # the select step, when no selector decides
    approvals: Mapping[str, tuple[Rule, ...]]  # criterion → the approvals that replace the base
    first_source: str | None  # the first candidate limit's spec line
    window: Rule | None  # the one rule, when it is a window rule alone (see `judge`)
    # When a therapy rule (base or approved) is stated here: (the days of history its longest
    # look-back needs, every product and NDC those rules count, the first one's spec line).
    therapy: tuple[int, frozenset[str], frozenset[str], str | None] | None


def plan(product_id: str, channel: str, location: str, rules: tuple[Rule, ...],
         approvals: Mapping[str, tuple[Rule, ...]], select: Callable | None = None) -> Plan:
    """A Plan; `select` is the module's selector function when any of the rules has selectors."""
    selected = None if select is not None else step_json(
        select_step([r.text for r in rules], None, rules[0].source))
    window = None
    if select is None and len(rules) == 1 and rules[0].kind == "per_window" and (
            rules[0].daily_message is None):
        window = rules[0]
    courses = [r for r in rules + tuple(r for a in approvals.values() for r in a)
               if r.kind == "therapy_max"]
    therapy = None
    if courses:
        therapy = (max(therapy_history_days(r.days) for r in courses),  # type: ignore[arg-type]
                   frozenset().union(*(r.scope for r in courses)),
                   frozenset().union(*(r.ndcs for r in courses)), courses[0].source)
    return Plan(step_json(matched_step(product_id, channel, location)), rules, select, selected,
                approvals, rules[0].source, window, therapy)


def sized_plan(chosen: Plan, size: int) -> Plan:
    """A plan whose rules count packages sized by the drug file, for a claim whose package holds
    `size` thousandths of a billing unit (see `sized_rule`)."""
    def sized(rules: Sequence[Rule]) -> tuple[Rule, ...]:
        return tuple(sized_rule(r, size) for r in rules)

    select = chosen.select
    if select is not None:
        pick = select

        def select(birth: int | None, package: str | None, end: int) -> object:
            rules = pick(birth, package, end)
            return rules if rules.__class__ is Refusal else sized(rules)  # type: ignore[arg-type]

    rules = sized(chosen.rules)
    selected = None if select is not None else step_json(
        select_step([r.text for r in rules], None, rules[0].source))
    window = rules[0] if chosen.window is not None else None
    return chosen._replace(rules=rules, select=select, selected=selected, window=window,
                           approvals={c: sized(a) for c, a in chosen.approvals.items()})


@_named
class Product:
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
    therapy: bool  # a therapy rule is stated for it: claims are decided by `decide_claim`


_NONE: frozenset[str] = frozenset()


def product(product_id: str, unit: str, location: str, *, group: str | None = None,
            ndcs: tuple[str, ...] = (), scope: frozenset[str] | None = None,
            scope_ndcs: frozenset[str] = _NONE, sizes: Mapping[str, str | None] | None = None,
            authorization: str | None = None, plans: Mapping[str, tuple]) -> Product:
    """A Product from its spec values: its group, its own NDCs, its group's products (scope)
    and their NDCs, package sizes as decimal text, the spec line that requires prior
    authorization for it (if any), and per channel (base limits, criterion →
    approvals[, selector function]). What an authorization may call it, the plans' steps and
    the history it can count are worked out here."""
    cover = frozenset((product_id,) + ((group,) if group is not None else ()) + ndcs)
    millis = {package: None if size is None else milli(Decimal(size))
              for package, size in (sizes or {}).items()}
    distinct = set(millis.values())
    drug_file = None in distinct
    made = {channel: plan(product_id, channel, location, *entry)
            for channel, entry in plans.items()}
    counting = [r for p in made.values() for r in p.rules
                if r.kind in ("per_window", "fills_per_window")]
    return Product(product_id, unit, location, cover,
                   frozenset((product_id,)) if scope is None else scope, scope_ndcs, bool(ndcs),
                   millis, distinct.pop() if len(distinct) == 1 else None, made,
                   max((r.days for r in counting), default=0),  # type: ignore[type-var]
                   frozenset().union(*(r.scope for r in counting)),
                   frozenset().union(*(r.ndcs for r in counting)), authorization,
                   drug_file, any(p.therapy is not None for p in made.values()))


@_named
class Refusal:
    """A selector that cannot be told from the claim: the reject, at the select step."""

    code: str
    text: str
    detail: str
    source: str


# History as the checks read it: (ordinal, thousandths, product, ndc) of each paid entry that
# may count — not the claim itself (a rebill), and dated and scoped where some rule looks.
Kept = tuple


def keep_history(entries: object, claim_id: str | None, end: int, reach: Product | None,
                 everything: bool) -> list[Kept] | None:
    """Read a claim's JSON history in one pass; None when an entry is not plain, valid JSON.

    Every entry is checked as `parse_history_entry` checks it (a bad record must not hide a
    fill); only the paid ones inside the product's reach are kept, unless `everything` (an
    authorization on file may count fills at other dates and products).
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
    # cost. A missing required field ends it with KeyError: the entry is malformed.
    try:
        for entry in entries:
            if entry.__class__ is not dict:
                return None
            value = entry["date_of_service"]
            day = read_day(value) if value.__class__ is str else None
            if day is None:
                day = read_ordinal(value)
                if day is None:
                    return None
            value = entry["quantity"]
            amount = read_amount(value) if value.__class__ is str else None
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
            if named is None:
                if ndc is None:
                    return None
            elif named.__class__ is not str or not named:
                return None
            if ndc is not None and read_ndc(ndc) is None:
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
            if status == "paid":
                if (first <= day <= last and (claim_id is None or entry_id != claim_id)
                        and (scope is None or named in scope or ndc in ndcs)):  # type: ignore[operator]
                    kept.append((day, amount, named, ndc))
            elif status != "reversed":
                return None
    except KeyError:
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


def therapy_supplies(entries: Sequence[HistoryEntry], claim_id: str | None, end: int,
                     therapy: tuple[int, frozenset[str], frozenset[str], str | None]
                     ) -> list[tuple[int, int, str | None, str | None]] | tuple[int, HistoryEntry]:
    """The supply periods a plan's therapy rules measure: (first day, last day, product, ndc)
    of each paid fill of their scope dated within the look-back (`Plan.therapy`) and on or
    before the date of service `end`, not the claim itself; or (index from 1, entry) of the
    first such fill without a days_supply (its supply cannot be measured: 85)."""
    reach, scope, ndcs, _ = therapy
    first = end - reach + 1
    found = []
    for index, entry in enumerate(entries, 1):
        if (entry.status == "paid" and (claim_id is None or entry.claim_id != claim_id)
                and (entry.product in scope or entry.ndc in ndcs)):
            day = entry.date_of_service.toordinal()
            if first <= day <= end:
                if entry.days_supply is None:
                    return index, entry
                found.append((day, day + entry.days_supply - 1, entry.product, entry.ndc))
    return found


# A rule applied to a claim: (step, passed, allowed or None, prior or None, window start (ISO
# text) or None, detail, source, message, rule) — quantities in thousandths. `decision` turns a
# list of them into the decision.
Check = tuple


def check_rules(rules: Sequence[Rule], requested: int, days_supply: int, end: int,
                end_text: str, history: Sequence[Kept], daily_rate: bool,
                own: Product | None = None, supplies: Sequence[tuple] | None = None
                ) -> list[Check]:
    """Every rule's check, then (where the policy declares it) every window rule's daily rate.

    `end` is the date of service (an ordinal) and `end_text` the same date in ISO form. A fill
    count's prior quantity adds only the fills of `own`'s scope (the claim's product and the
    members of its group billed in its unit): a group of mixed units counts fills, not amounts.
    `supplies` are the prior supply periods therapy rules measure (`therapy_supplies`).
    """
    checks = []
    asked = _MILLI_TEXT.get(requested) or milli_text(requested)
    for r in rules:
        kind, limit, limit_text, unit = r.kind, r.limit, r.limit_text, r.unit
        if kind == "per_window":
            start = end - r.days + 1  # type: ignore[operator]
            start = max(start, _FIRST_DAY)
            scope, ndcs = r.scope, r.ndcs
            prior = 0
            for day, amount, named, ndc in history:
                if start <= day <= end and (named in scope or ndc in ndcs):
                    prior += amount
            total = prior + requested
            passed = total <= limit  # type: ignore[operator]
            first = _DAY_TEXT.get(start) or day_text(start)
            detail = (f"window {first}..{end_text}: prior {milli_text(prior) if prior else '0'}"
                      f" {unit} + requested {asked} {unit} ="
                      f" {_MILLI_TEXT.get(total) or milli_text(total)} {unit}"
                      f" {'<=' if passed else '>'} {limit_text} {unit}")
            checks.append(("accumulate", passed, limit - prior if prior < limit else 0, prior,  # type: ignore[operator]
                           first, detail, r.source, r.message, r))
        elif kind == "per_fill":
            passed = requested <= limit  # type: ignore[operator]
            checks.append((
                "per_fill", passed, limit, None, None,
                f"requested {asked} {unit} {'<=' if passed else '>'} {limit_text} {unit} per fill",
                r.source, r.message, r))
        elif kind == "per_day":
            max_days = r.max_days
            allows = limit * days_supply  # type: ignore[operator]
            if max_days is None:
                passed = requested <= allows
                allowed = allows
                tail = ""
            else:
                passed = requested <= allows and days_supply <= max_days
                allowed = limit * min(days_supply, max_days)  # type: ignore[operator]
                tail = f", for up to {_days(max_days)}"
            detail = (f"requested {asked} {unit} for {days_supply} days supply, {limit_text}"
                      f" {unit} per day allows {milli_text(allows)} {unit}{tail}"
                      f"{'' if passed else ': exceeded'}")
            checks.append(("per_day", passed, allowed, None, None, detail, r.source, r.message, r))
        elif kind == "fills_per_window":
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
            checks.append(("fills", passed, None if count < fills else 0, prior, first,  # type: ignore[operator]
                           detail, r.source, r.message, r))
        elif kind == "therapy_max":
            checks.append(_therapy_check(r, days_supply, end, supplies or ()))
        else:
            passed = days_supply <= r.days  # type: ignore[operator]
            checks.append(("days_supply", passed, None, None, None,
                           f"days supply {days_supply} {'<=' if passed else '>'} {r.days}",
                           r.source, r.message, r))
    if daily_rate:
        for r in rules:
            if r.kind == "per_window":
                limit, days = r.limit, r.days
                passed = requested * days <= limit * days_supply  # type: ignore[operator]
                detail = (f"requested {asked} {r.unit} / {days_supply} days"
                          f" {'<=' if passed else '>'} {r.limit_text} {r.unit} / {days} days")
                checks.append(("daily_rate", passed, limit * days_supply // days, None, None,  # type: ignore[operator]
                               detail, r.source, r.daily_message, r))
    return checks


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
    return ("therapy", passed, None, None, None, detail, r.source, r.message, r)


def decision(policy_id: str, policy_hash: str, reject_code: str, unit: str,
             package_size: int | None, steps: Sequence[dict], checks: Sequence[Check],
             channel: str, requested: int, end_text: str) -> dict[str, object]:
    """`conclude` for checks in thousandths: paid when all pass, else the first failure rejects."""
    failed = allowed = tightest = None
    for check in checks:
        if failed is None and not check[1]:
            failed = check
        bound = check[2]
        if bound is not None and (allowed is None or bound < allowed):
            allowed, tightest = bound, check
    headline = failed or tightest or checks[0]
    asked = _MILLI_TEXT.get(requested) or milli_text(requested)
    prior = headline[3]
    if prior:
        prior_text, total_text = milli_text(prior), milli_text(prior + requested)
    else:
        prior_text, total_text = "0", asked
    trace = [s.copy() for s in steps]
    for check in checks:
        trace.append({"step": check[0], "result": "pass" if check[1] else "fail",
                      "detail": check[5], "source": check[6]})
    if allowed is None:
        allowed_text = packages = None
        suffix = ""
    else:
        allowed_text = milli_text(allowed)
        packages = allowed // package_size if package_size else None
        suffix = f"; max allowed now {allowed_text} {unit}"
    if failed is None:
        outcome = "paid"
        code = None
        messages = [headline[7]]
        trace.append({"step": "decide", "result": "pass", "detail": "paid" + suffix,
                      "source": headline[6]})
    else:
        outcome = "rejected"
        code = reject_code
        messages = [failed[7]]
        if allowed_text is not None:
            messages.append(message(f"MAX ALLOWED NOW {allowed_text} {unit_message(unit)}"))
        trace.append({"step": "decide", "result": "fail",
                      "detail": f"rejected {reject_code}: {failed[8].applied['text']} exceeded"
                                f"{suffix}",
                      "source": failed[6]})
    start = headline[4]
    return {
        "outcome": outcome,
        "reject_code": code,
        "messages": messages,
        "policy_id": policy_id,
        "policy_hash": policy_hash,
        "channel": channel,
        "limit": dict(headline[8].applied),
        "window": None if start is None else {"start": start, "end": end_text},
        "prior_quantity": prior_text,
        "requested_quantity": asked,
        "total_quantity": total_text,
        "max_allowed_quantity": allowed_text,
        "max_allowed_packages": packages,
        "trace": trace,
    }


@_named
class Policy:
    """What the decision code needs to know about the policy of a generated module."""

    id: str
    hash: str
    reject_code: str
    daily_rate: bool  # the policy declares the daily-rate check
    at: str  # the policy's spec line
    channels: tuple[str, ...]  # every channel it knows
    products: Mapping[str, Product]  # by product id
    ndcs: Mapping[str, tuple[str, str | None]]  # NDC → (product id, package id or None)
    criteria_at: Mapping[str, str]  # criterion id → its spec line
    validated: dict[str, object]  # the validate step (step_json)


def policy(policy_id: str, policy_hash: str, reject_code: str, daily_rate: bool, at: str,
           channels: tuple[str, ...], products: Mapping[str, Product],
           ndcs: Mapping[str, tuple[str, str | None]],
           criteria_at: Mapping[str, str]) -> Policy:
    return Policy(policy_id, policy_hash, reject_code, daily_rate, at, channels, products, ndcs,
                  criteria_at, step_json(validated_step(at)))


def decide_claim(policy: Policy, claim: Claim) -> dict[str, object]:
    """The decision for a parsed claim (design §5, steps 2-6): match its product, unit and
    channel, then `judge`. Generated modules decide here the claims that are not plain JSON,
    and the ones their plain reader leaves (no product or limit of theirs, malformed)."""
    requested, channel = milli(claim.quantity), claim.channel
    product, ndc, package = claim.product, claim.ndc, claim.package
    steps = [policy.validated]

    def refuse(text: str, detail: str, code: str = CODE_PRODUCT,
               source: str | None = policy.at) -> dict[str, object]:
        return refused(policy.id, policy.hash, steps, "match", code, text, detail, source,
                       channel, requested)

    def skip(step: str, detail: str) -> dict[str, object]:
        return skipped(policy.id, policy.hash, steps, (step, "skip", detail, policy.at), channel,
                       requested)

    coded = policy.ndcs.get(ndc) if ndc is not None else None
    if product is not None:
        item = policy.products.get(product)
        if item is None:
            if coded is None:
                return skip("match", f"no product of this policy is product {product}")
            return refuse("PRODUCT/NDC MISMATCH", f"ndc {ndc} is {coded[0]}, not {product}")
        if coded is not None and coded[0] != product:
            return refuse("PRODUCT/NDC MISMATCH", f"ndc {ndc} is {coded[0]}, not {product}")
        if coded is None and ndc is not None and item.lists_ndcs:
            return refuse("NDC NOT FOR PRODUCT", f"ndc {ndc} is not an NDC of {product}")
    elif coded is None:
        return skip("match", f"no product of this policy is ndc {ndc}")
    else:
        item = policy.products[coded[0]]
    coded_package = coded[1] if coded is not None else None
    if package is None:
        package = coded_package
    else:
        if package not in item.sizes:
            return refuse("UNKNOWN PACKAGE", f"package {package} is not a package of {item.id}")
        if coded_package is not None and package != coded_package:
            return refuse("PACKAGE/NDC MISMATCH",
                          f"ndc {ndc} is package {coded_package}, not {package}")
    if claim.unit != item.unit:
        return refuse(f"UNIT MUST BE {unit_message(item.unit)}",
                      f"unit {claim.unit} is not {item.unit}, the billing unit of {item.id}",
                      CODE_UNIT_MISMATCH, item.location)
    chosen = item.plans.get(channel)
    if chosen is None:
        if channel in policy.channels:
            steps.append(step_json(matched_step(item.id, channel, item.location)))
            return skip("select", f"no limit for {item.id} at {channel}")
        return refuse("UNKNOWN CHANNEL",
                      f"channel {channel} is not one of {', '.join(policy.channels)}",
                      CODE_CHANNEL)
    end = claim.date_of_service.toordinal()
    birth = None if claim.birth_date is None else claim.birth_date.toordinal()
    entries, size = claim.history, None
    if item.drug_file:
        steps.append(chosen.matched)
        if claim.package_size is None:
            return refuse("PACKAGE SIZE NEEDED",
                          f"the package size of {item.id} comes from the drug file; the claim"
                          " has no package_size", source=item.location)
        size = milli(claim.package_size)
        sized = sized_history(entries, claim.claim_id, claim.ndc, item.scope, item.ndcs, size)
        if sized and sized[0].__class__ is int:
            text, detail = unsized_history_texts(sized[0], sized[1], item.id)  # type: ignore[arg-type]
            return refuse(text, detail, CODE_RECORD, item.location)
        entries, chosen = sized, sized_plan(chosen, size)  # type: ignore[assignment]
    supplies = None
    if chosen.therapy is not None:
        supplies = therapy_supplies(entries, claim.claim_id, end, chosen.therapy)
        if supplies.__class__ is tuple:
            if not item.drug_file:
                steps.append(chosen.matched)
            text, detail = missing_supply_texts(supplies[0], supplies[1], chosen.therapy[3])  # type: ignore[arg-type]
            return refuse(text, detail, CODE_RECORD, chosen.therapy[3])
    history = keep_typed(entries, claim.claim_id, end, item, bool(claim.authorizations))
    return judge(policy, item, chosen, package, requested, claim.days_supply, end, day_text(end),
                 birth, channel, history, claim.authorizations, size, supplies)  # type: ignore[arg-type]


def judge(policy: Policy, item: Product, chosen: Plan, package: str | None, requested: int,
          days_supply: int, end: int, end_text: str, birth: int | None, channel: str,
          history: Sequence[Kept] | None, authorizations: Sequence[Authorization] | None,
          package_size: int | None = None, supplies: Sequence[tuple] | None = None
          ) -> dict[str, object]:
    """Steps 3-6 of design §5 for a claim matched to a product and channel: select the limits,
    apply authorizations, check every rule and decide.

    Quantities are thousandths and dates ordinals (`end` is the date of service, `end_text` the
    same date in ISO form); no history and no authorizations may be given as None.
    `package_size` is the claim's, for a product whose package size comes from the drug file;
    `supplies` the prior supply periods its therapy rules measure (`therapy_supplies`).
    """
    history = history or ()
    size = item.sizes.get(package, item.size) if package_size is None else package_size
    if chosen.window is not None and not authorizations and item.authorization is None:
        return _decide_window(policy, item, chosen, chosen.window, size, requested, end,
                              end_text, channel, history)
    steps = [policy.validated, chosen.matched]
    base = chosen.rules
    if chosen.select is not None:
        base = chosen.select(birth, package, end)
        if base.__class__ is Refusal:
            return refused(policy.id, policy.hash, steps, "select", base.code, base.text,
                           base.detail, base.source, channel, requested)
        if not base:
            return skipped(policy.id, policy.hash, steps, (
                "select", "skip", f"no limit for {item.id} at {channel} applies to this claim",
                chosen.first_source), channel, requested)
    for r in base:
        if r.kind == "not_covered":  # before authorizations: none can make it covered
            text, detail = not_covered_texts(item.id, channel)
            return refused(policy.id, policy.hash, steps, "select", CODE_NOT_COVERED, text,
                           detail, r.source, channel, requested)
    if item.authorization is not None:
        holder = next((a for a in authorizations or ()
                       if _covers(a, item, channel, end, history)), None)
        if holder is None:
            text, detail = authorization_required_texts(item.id, channel, end_text)
            return refused(policy.id, policy.hash, steps, "authorize", CODE_PRIOR_AUTHORIZATION,
                           text, detail, item.authorization, channel, requested)
        steps.append(step_json(authorization_held_step(holder.id, item.id, item.authorization)))
    checks = None
    if authorizations:
        checks = override(authorizations, steps, item, chosen, base, channel, requested,
                          days_supply, end, end_text, history, policy.criteria_at,
                          policy.daily_rate, supplies)
    if checks is None:
        steps.append(chosen.selected or step_json(
            select_step([r.text for r in base], None, base[0].source)))
        checks = check_rules(base, requested, days_supply, end, end_text, history,
                             policy.daily_rate, item, supplies)
    return decision(policy.id, policy.hash, policy.reject_code, item.unit, size, steps, checks,
                    channel, requested, end_text)


def _decide_window(policy: Policy, item: Product, chosen: Plan, r: Rule, size: int | None,
                   requested: int, end: int, end_text: str, channel: str,
                   history: Sequence[Kept]) -> dict[str, object]:
    """`check_rules` and `decision` fused for the commonest plan: one window rule, no
    authorization on file (most limits of real policies are "Q per N days" alone)."""
    start = end - r.days + 1  # type: ignore[operator]
    start = max(start, _FIRST_DAY)
    prior = 0
    if history:
        scope, ndcs = r.scope, r.ndcs
        for day, amount, named, ndc in history:
            if start <= day <= end and (named in scope or ndc in ndcs):
                prior += amount
    limit, unit, source = r.limit, r.unit, r.source
    total = prior + requested
    asked = _MILLI_TEXT.get(requested) or milli_text(requested)
    if prior:
        prior_text, total_text = milli_text(prior), milli_text(total)
    else:
        prior_text, total_text = "0", asked
    first = _DAY_TEXT.get(start) or day_text(start)
    allowed = limit - prior if prior < limit else 0  # type: ignore[operator]
    allowed_text = _MILLI_TEXT.get(allowed) or milli_text(allowed)
    trace = [policy.validated.copy(), chosen.matched.copy(), chosen.selected.copy()]  # type: ignore[union-attr]
    if total <= limit:  # type: ignore[operator]
        trace.append({"step": "accumulate", "result": "pass",
                      "detail": f"window {first}..{end_text}: prior {prior_text} {unit} + requested"
                                f" {asked} {unit} = {total_text} {unit} <= {r.limit_text} {unit}",
                      "source": source})
        trace.append({"step": "decide", "result": "pass",
                      "detail": f"paid; max allowed now {allowed_text} {item.unit}",
                      "source": source})
        outcome, code, messages = "paid", None, [r.message]
    else:
        trace.append({"step": "accumulate", "result": "fail",
                      "detail": f"window {first}..{end_text}: prior {prior_text} {unit} + requested"
                                f" {asked} {unit} = {total_text} {unit} > {r.limit_text} {unit}",
                      "source": source})
        code = policy.reject_code
        trace.append({"step": "decide", "result": "fail",
                      "detail": f"rejected {code}: {r.applied['text']} exceeded; max allowed now"
                                f" {allowed_text} {item.unit}",
                      "source": source})
        outcome = "rejected"
        messages = [r.message,
                    message(f"MAX ALLOWED NOW {allowed_text} {unit_message(item.unit)}")]
    return {
        "outcome": outcome,
        "reject_code": code,
        "messages": messages,
        "policy_id": policy.id,
        "policy_hash": policy.hash,
        "channel": channel,
        "limit": r.applied.copy(),
        "window": {"start": first, "end": end_text},
        "prior_quantity": prior_text,
        "requested_quantity": asked,
        "total_quantity": total_text,
        "max_allowed_quantity": allowed_text,
        "max_allowed_packages": allowed // size if size else None,
        "trace": trace,
    }


def refused(policy_id: str, policy_hash: str, steps: Sequence[dict], step: str, code: str,
            text: str, detail: str, source: str | None, channel: str,
            requested: int) -> dict[str, object]:
    """`rejected_input` for a well-formed claim this policy cannot use (match and select steps)."""
    trace = [s.copy() for s in steps]
    trace.append({"step": step, "result": "fail", "detail": detail, "source": source})
    trace.append({"step": "decide", "result": "fail", "detail": f"rejected {code}",
                  "source": source})
    return {"outcome": "rejected", "reject_code": code, "messages": [message(text)],
            "policy_id": policy_id, "policy_hash": policy_hash, "channel": channel, "limit": None,
            "window": None, "prior_quantity": None, "requested_quantity": milli_text(requested),
            "total_quantity": None, "max_allowed_quantity": None, "max_allowed_packages": None,
            "trace": trace}


def skipped(policy_id: str | None, policy_hash: str | None, steps: Sequence[dict], reason: Step,
            channel: str, requested: int) -> dict[str, object]:
    """`not_applicable` for a claim read into local values."""
    trace = [s.copy() for s in steps]
    trace.append({"step": reason[0], "result": reason[1], "detail": reason[2], "source": reason[3]})
    trace.append({"step": "decide", "result": "info", "detail": "not applicable",
                  "source": reason[3]})
    return {"outcome": "not_applicable", "reject_code": None, "messages": [],
            "policy_id": policy_id, "policy_hash": policy_hash, "channel": channel,
            "limit": None, "window": None, "prior_quantity": None,
            "requested_quantity": milli_text(requested), "total_quantity": None,
            "max_allowed_quantity": None, "max_allowed_packages": None, "trace": trace}


def read_authorizations(raw: object) -> tuple[Authorization, ...] | None:
    """A claim's JSON `authorizations`, each read by parse_authorization; None when any is bad."""
    if raw is None:
        return ()
    if raw.__class__ is not list:
        return None
    found = []
    for record in raw:  # type: ignore[attr-defined]
        authorization = parse_authorization(record)
        if authorization.__class__ is not Authorization:
            return None
        found.append(authorization)
    return tuple(found)


def override(authorizations: Sequence[Authorization], steps: list[dict], item: Product,
             chosen: Plan, base: Sequence[Rule], channel: str, requested: int, days_supply: int,
             end: int, end_text: str, history: Sequence[Kept], criteria_at: Mapping[str, str],
             daily_rate: bool, supplies: Sequence[tuple] | None = None) -> list[Check] | None:
    """The checks under the most generous authorization that applies, or None when none does.

    Records an `authorize` step for every authorization that covers the product and, when one
    applies, the `select` step naming it. Hard base limits hold under every authorization; of
    several that apply, the one under which the claim pays wins, then the larger max allowed
    now (no quantity bound counts as largest), then the earlier in the claim's list.
    """
    hard = tuple(r for r in base if r.hard)
    best = None
    for authorization in authorizations:
        if item.cover.isdisjoint(authorization.products):
            continue
        rules, why, source = _granted(authorization, item, chosen, channel, end, history,
                                      criteria_at, daily_rate)
        steps.append(step_json(authorization_step(authorization, rules is not None, why, source)))
        if rules is None:
            continue
        rules += hard
        checks = check_rules(rules, requested, days_supply, end, end_text, history, daily_rate,
                             item, supplies)
        bounds = [c[2] for c in checks if c[2] is not None]
        key = (all(c[1] for c in checks), not bounds, min(bounds) if bounds else 0)
        if best is None or key > best[0]:  # strictly better: ties stay with the earlier one
            best = (key, authorization, rules, checks)
    if best is None:
        return None
    _, authorization, rules, checks = best
    steps.append(step_json(select_step([r.text for r in rules], authorization,
                                       criteria_at.get(authorization.criterion))))  # type: ignore[arg-type]
    return checks


def _covers(authorization: Authorization, item: Product, channel: str, end: int,
            history: Sequence[Kept]) -> bool:
    """Whether an authorization meets a prior authorization requirement: it names the product
    (or its group or NDC), is active on the date of service at this channel and has fills left.
    It need not come from this policy's criteria nor grant limits here (a payer's PA program may
    sit outside its quantity-limit policy): then the base limits apply."""
    if item.cover.isdisjoint(authorization.products) or authorization.status == "revoked":
        return False
    first = authorization.effective_from.toordinal()
    last = authorization.effective_through.toordinal()
    if not first <= end <= last:
        return False
    if authorization.channels and channel not in authorization.channels:
        return False
    if authorization.max_fills is not None:
        scope, ndcs = item.scope, item.ndcs
        used = sum(1 for day, _, named, ndc in history
                   if first <= day <= last and (named in scope or ndc in ndcs))
        if used >= authorization.max_fills:
            return False
    return True


def _granted(authorization: Authorization, item: Product, chosen: Plan, channel: str, end: int,
             history: Sequence[Kept], criteria_at: Mapping[str, str],
             daily_rate: bool) -> tuple[tuple[Rule, ...] | None, str, str | None]:
    """(the rules an authorization grants here or None, why, the spec line behind it)."""
    criterion = authorization.criterion
    source = criteria_at.get(criterion)  # type: ignore[arg-type]
    if authorization.status == "revoked":
        return None, "revoked", source
    first, last = authorization.effective_from, authorization.effective_through
    if end < first.toordinal():
        return None, f"not effective until {first.isoformat()}", source
    if end > last.toordinal():
        return None, f"expired on {last.isoformat()}", source
    if authorization.channels and channel not in authorization.channels:
        return None, f"not for channel {channel}", source
    if authorization.limits:
        granted = next((g for g in authorization.limits if g.channel == channel), None)
        if granted is None:
            return None, f"grants no limit at {channel}", source
        if granted.unit != item.unit:
            return None, f"grants {granted.unit}, but {item.id} is billed in {item.unit}", source
        rules: tuple[Rule, ...] = (rule(
            "per_fill" if granted.days is None else "per_window", quantity_text(granted.quantity),
            item.unit, granted.days, None, None, item.scope, item.ndcs, source,
            daily_rate=daily_rate, origin="override", authorization_id=authorization.id),)
    else:
        if source is None:
            return None, f"criterion {criterion} is not in this policy", source
        approved = chosen.approvals.get(criterion)  # type: ignore[arg-type]
        if approved is None:
            why = f"criterion {criterion} approves nothing for {item.id} at {channel}"
            return None, why, source
        rules = tuple(r._replace(applied=dict(r.applied, authorization_id=authorization.id))
                      for r in approved)
    if authorization.max_fills is not None:
        first_day, last_day = first.toordinal(), last.toordinal()
        scope, ndcs = item.scope, item.ndcs
        used = sum(1 for day, _, named, ndc in history
                   if first_day <= day <= last_day and (named in scope or ndc in ndcs))
        if used >= authorization.max_fills:
            return None, f"used {used} of {authorization.max_fills} fills", source
    return rules, "applies: " + "; ".join(r.text for r in rules), source
