"""Readers of claim values (quantities, dates, days, NDCs): None for a refused value, no raise."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

from .values import (
    _CONTEXT,
    _MILLI,
    MAX_DAYS_SUPPLY,
    MAX_QUANTITY,
    ZERO,
    _date_text,
    _digits,
    _plain_decimal,
)

# ---------------------------------------------------------------------------------------------
# Small value readers: each returns None for anything it does not accept, and never raises


def read_quantity(value: object) -> Decimal | None:
    """A claim quantity: a plain decimal or finite number, > 0, ≤ 9999999.999, ≤ 3 decimals."""
    kind = type(value)
    if kind is str:
        known = _QUANTITY_READ.get(value)  # type: ignore[call-overload]
        if known is not None or value in _QUANTITY_READ:
            return known
        known = _read_quantity_text(value)  # type: ignore[arg-type]
        _remember(_QUANTITY_READ, value, known)
        return known
    if kind is int:
        return Decimal(value) if 0 < value <= 9999999 else None  # type: ignore[arg-type, operator]
    elif kind is float:
        if not 0.0 < value <= 9999999.999:  # type: ignore[operator]  # NaN fails every comparison
            return None
        quantity = Decimal(repr(value))
    elif kind is Decimal:
        if not value.is_finite() or value.adjusted() > 7:  # type: ignore[attr-defined]
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


def _remember(cache: dict, key: object, value: object) -> None:
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
        return value if value.is_finite() else None  # type: ignore[attr-defined, return-value]
    if kind is str and len(value) <= 40 and _plain_decimal(value.removeprefix("-")):  # type: ignore[arg-type, attr-defined]
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
        _remember(_DATE_READ, value, parsed)
        return parsed
    if kind is date:
        return value  # type: ignore[return-value]
    return None


def read_days(value: object, maximum: int = MAX_DAYS_SUPPLY) -> int | None:
    """A whole number of days from 1 to maximum; a boolean or a float is not one."""
    if type(value) is int and 1 <= value <= maximum:
        return value
    return None


def read_ndc(value: object) -> str | None:
    """An NDC-11: exactly eleven ASCII digits, no hyphens."""
    if type(value) is str and len(value) == 11 and _digits(value):
        return value
    return None


def _text(value: object) -> str | None:
    return value if type(value) is str and value else None


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
        _remember(MILLI, value, milli)
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
    _remember(ORDINAL, value, ordinal)
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
        _remember(_MILLI_TEXT, value, text)
    return text


def day_text(ordinal: int) -> str:
    """An ordinal as an ISO date."""
    text = _DAY_TEXT.get(ordinal)
    if text is None:
        text = date.fromordinal(ordinal).isoformat()
        _remember(_DAY_TEXT, ordinal, text)
    return text
