"""Effective-dated versions: which version of a policy is in force on a day, and its trace step."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from .claims import Claim
from .decisions import not_applicable
from .read import read_date
from .review import Problem, ReviewResult, review_refused
from .texts import BY_AS_OF, BY_REQUEST, BY_SERVICE, validated_step, version_json

__all__ = ["BY_AS_OF", "BY_REQUEST", "BY_SERVICE", "before_first_version", "period_text",
           "request_day", "review_before_first_version", "version_index", "version_step"]


def version_index(day: str, first: str | None, lasts: Sequence[str]) -> int:
    """The version in force on `day` (ISO text): its index among the kept versions (named by
    their last days, oldest first), len(lasts) for the live one, -1 before the first version.

    ISO dates compare as text; a string that is not one picks some version, which refuses the
    claim as malformed exactly as every other version would.
    """
    if first is not None and day < first:
        return -1
    for index, last in enumerate(lasts):
        if day <= last:
            return index
    return len(lasts)


def period_text(first: date | None, last: date | None) -> str:
    """When a version is in force, in words: `from D through E`, `through E`, `from D`."""
    if first is not None and last is not None:
        return f"from {first.isoformat()} through {last.isoformat()}"
    if last is not None:
        return f"through {last.isoformat()}"
    if first is not None:
        return f"from {first.isoformat()}"
    return "at every date"


def version_step(decision: dict, basis: str, day: str, period: str,
                 source: str | None) -> dict:
    """The decision with a `version` step saying which version decided and why: after the
    `validate` step when chosen by the claim's date, first when the day was forced."""
    decision["trace"].insert(0 if basis == BY_AS_OF else 1,
                             version_json(basis, day, period, source))
    return decision


def before_first_version(claim: Claim, policy_id: str, policy_hash: str, day: str, first: str,
                         source: str | None) -> dict:
    """A claim dated before the first version of its policy took effect: not applicable. The
    hash is the first version's, the one the claim's date precedes."""
    reason = ("version", "skip",
              f"date of service {day} is before {policy_id} took effect on {first}", source)
    return not_applicable(claim, policy_id, policy_hash, (validated_step(source),), reason)


def review_before_first_version(policy_id: str, policy_hash: str, day: str,
                                first: str) -> ReviewResult:
    """A request dated before the first version of its policy took effect: nothing reviews it
    (the hash is the first version's)."""
    problem = Problem("request_date",
                      f"request date {day} is before {policy_id} took effect on {first}")
    return review_refused((problem,), policy_id, policy_hash)


def request_day(request: object) -> str | None:
    """A review request's `request_date` as ISO text, or None when it has none that is a date
    (the live version then refuses the request as it would any other)."""
    raw = request.get("request_date") if isinstance(request, dict) else getattr(
        request, "request_date", None)
    day = read_date(raw)
    return None if day is None else day.isoformat()
