"""Decisions: the typed and JSON forms of an outcome, and how rule checks become one decision."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

from .claims import Claim, Rejection
from .texts import max_allowed_message, quantity_text
from .values import ZERO, Step, _named, _NamedTuple, _record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any

# ---------------------------------------------------------------------------------------------
# Decisions
#
# Evaluators build the JSON form of a decision directly (that is what `evaluate()` returns, and
# building it once is the fast path); `Decision.from_dict` gives the typed view. While a claim is
# evaluated, trace steps are plain (step, result, detail, source) tuples, so that evaluators can
# hoist the steps that never change.



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
class RuleCheck(_NamedTuple):
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
    """The outcome for one claim, with every number that explains it (docs/semantics.md §8.1)."""

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
        """The decision as JSON data; the field names are the contract of docs/semantics.md §8.1."""
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
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:  # Any: decoded JSON
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
        # A check's message may hold several 526-FQ lines (a daily dose's), newline-separated;
        # a soft edit passed by DUR/PPS codes says so.
        messages = headline.message.split("\n")
        messages += [c.message for c in checks
                     if c.step == "dur_override" and c.message != headline.message]
        trace.append({"step": "decide", "result": "pass", "detail": "paid" + suffix,
                      "source": headline.source})
    else:
        outcome = "rejected"
        code = reject_code
        messages = failed.message.split("\n")
        if allowed_text is not None:
            messages.append(max_allowed_message(allowed_text, unit))
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
