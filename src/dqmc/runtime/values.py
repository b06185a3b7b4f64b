"""Value classes, reject codes, units and the decimal context the runtime computes in."""

from __future__ import annotations

import decimal
from collections import namedtuple
from collections.abc import Callable
from decimal import Decimal

# ---------------------------------------------------------------------------------------------
# Value classes
#
# `@_record` is what `@dataclass(frozen=True, slots=True)` does for these classes: fields from
# the class's annotations (in order, defaults from their values), an __init__ (keyword-only with
# kw_only=True), and comparison, hashing and repr by fields; instances cannot be changed.
# `@_named` makes a class a collections.namedtuple from its annotations, like typing.NamedTuple.
#
# Type checkers cannot follow either decorator, and the runtime may not import `typing` (cold
# start): `_record` is marked with typing.dataclass_transform, which is a no-op at run time, and
# an @_named class also names `_NamedTuple` as its base, which is typing.NamedTuple to a type
# checker and `object` at run time.

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from typing import Any, dataclass_transform
    from typing import NamedTuple as _NamedTuple
else:
    def dataclass_transform(**_options):  # typing's decorator, for type checkers only
        return lambda decorated: decorated

    _NamedTuple = object

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
        return self._values() == other._values()

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


def _restore(cls: type[_Value], values: tuple) -> _Value:
    value = _new(cls)
    for name, item in zip(cls._fields, values, strict=True):
        _set(value, name, item)
    return value


@dataclass_transform(frozen_default=True)  # so type checkers know the fields and __init__
def _record(*, kw_only: bool = False) -> Callable[[type], type]:
    def build(cls: type) -> type:
        # The class's own annotations, in order (inspect.get_annotations would import inspect).
        names = tuple(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063
        defaults = {name: cls.__dict__[name] for name in names if name in cls.__dict__}
        namespace = {key: value for key, value in cls.__dict__.items()
                     if key not in names and key not in ("__dict__", "__weakref__")}
        namespace.update(__slots__=names, _fields=names, _defaults=defaults)
        made = type(cls.__name__, (_Value,), namespace)
        made.__qualname__ = cls.__qualname__
        init = _setter_function(made, "__init__", "self", "", kw_only)
        init.__qualname__ = f"{cls.__qualname__}.__init__"
        made.__init__ = init  # type: ignore[misc]
        return made

    return build


def _positional(cls: type) -> Callable[..., Any]:
    """A constructor of an @_record class that takes every field positionally, in order (class
    defaults for the trailing ones): the readers make a record per claim, fill and
    authorization, and keyword arguments cost more than the record's slots."""
    return _setter_function(cls, "make", "made", "    made = _new(_cls)\n", False,
                            "    return made\n")


def _setter_function(cls: type, name: str, target: str, prologue: str, kw_only: bool,
                     epilogue: str = "") -> Callable[..., Any]:
    """A function taking an @_record class's fields (its defaults for the ones that have them)
    and setting each on `target` through its slot's own descriptor, which is cheaper than
    object.__setattr__ by name: `__init__(self, ...)`, or a constructor that makes `target`
    first. Field names are this module's own identifiers, never data."""
    names, defaults = cls._fields, cls._defaults  # type: ignore[attr-defined]
    params = ", ".join(field + (f"=_default_{field}" if field in defaults else "")
                       for field in names)
    if name == "__init__":
        params = f"self, {'*, ' if kw_only else ''}{params}" if names else "self"
    body = "".join(f"    _set_{field}({target}, {field})\n" for field in names)
    scope: dict[str, object] = {f"_set_{field}": getattr(cls, field).__set__ for field in names}
    scope.update({f"_default_{field}": value for field, value in defaults.items()},
                 _new=_new, _cls=cls)
    # as dataclasses does; the text holds only field names
    exec(f"def {name}({params}):\n{prologue}{body or '    pass'}\n{epilogue}", scope)
    return scope[name]  # type: ignore[return-value]


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


def evaluation_context() -> AbstractContextManager[object]:
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

# A trace step while a claim is evaluated: (step, result, detail, source); see decisions.
if TYPE_CHECKING:
    Step = tuple[str, str, str, str | None]
else:
    Step = tuple
