"""Date arithmetic: rolling windows, ages on a day, approval periods."""

from __future__ import annotations

from datetime import date, timedelta

from .values import DEFAULT_ONE_TIME_DAYS

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
