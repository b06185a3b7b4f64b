"""The Anzupgo decision outside dqmc: GoRules Zen, Cedar, Rego, and two hand-written floors."""

# Each peer gets what it can use: the channel, whether an override is on file, the requested
# quantity and the paid quantity already in the window ("window total passed in"), all computed
# before the clock starts. Peers answer the outcome (and, where they can, max allowed now); the
# generated evaluator answers every field of the decision contract from the raw claim. The peers
# whose package is missing are None, so the bench runs without the `bench` extra.

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

# (channel, override on file) → (limit in grams, window in days): Anzupgo's base limits and the
# limits its additional-quantity criterion approves (policy_specs/anzupgo.dqm).
LIMITS = {("retail", False): (30, 30), ("home_delivery", False): (90, 90),
          ("retail", True): (60, 30), ("home_delivery", True): (180, 90)}
PRODUCT = "anzupgo-2pct-cream"


def peer_input(channel: str, override: bool, quantity: int, window: int) -> dict[str, Any]:
    """What the decision-table and policy peers are given."""
    return {"channel": channel, "override": override, "quantity": quantity,
            "window_quantity": window}


# ---------------------------------------------------------------------------------------------
# GoRules Zen: one JSON decision table (first hit) over channel, override and the total


def zen_decision() -> Callable[[dict], dict] | None:
    """An evaluate(context) → {"outcome", "reject_code", "max_allowed"} function, or None."""
    try:
        import zen
    except ImportError:
        return None
    rules = []
    for (channel, override), (limit, _) in LIMITS.items():
        for passed in (True, False):
            rules.append({
                "_id": f"{channel}-{override}-{passed}", "channel": json.dumps(channel),
                "override": "true" if override else "false",
                "total": f"<= {limit}" if passed else f"> {limit}",
                "outcome": '"paid"' if passed else '"rejected"',
                "code": "null" if passed else '"76"',
                "max": f"max([0, {limit} - window_quantity])"})
    table = {
        "hitPolicy": "first",
        "inputs": [{"id": "channel", "name": "channel", "type": "expression", "field": "channel"},
                   {"id": "override", "name": "override", "type": "expression",
                    "field": "override"},
                   {"id": "total", "name": "total", "type": "expression",
                    "field": "quantity + window_quantity"}],
        "outputs": [{"id": "outcome", "name": "outcome", "type": "expression", "field": "outcome"},
                    {"id": "code", "name": "code", "type": "expression", "field": "reject_code"},
                    {"id": "max", "name": "max", "type": "expression", "field": "max_allowed"}],
        "rules": rules}
    content = {
        "contentType": "application/vnd.gorules.decision",
        "nodes": [{"id": "in", "type": "inputNode", "name": "Claim", "position": {"x": 0, "y": 0}},
                  {"id": "ql", "type": "decisionTableNode", "name": "Quantity limit",
                   "position": {"x": 1, "y": 0}, "content": table},
                  {"id": "out", "type": "outputNode", "name": "Decision",
                   "position": {"x": 2, "y": 0}}],
        "edges": [{"id": "e1", "sourceId": "in", "targetId": "ql", "type": "edge"},
                  {"id": "e2", "sourceId": "ql", "targetId": "out", "type": "edge"}]}
    decision = zen.ZenEngine().create_decision(zen.ZenDecisionContent(json.dumps(content)))
    return lambda context: decision.evaluate(context)["result"]


# ---------------------------------------------------------------------------------------------
# Cedar: one permit per (channel, override) whose context total is within the limit

CEDAR_POLICIES = "".join(
    f'permit(principal, action == Action::"dispense", resource == Product::"{PRODUCT}")\n'
    f'when {{ context.channel == "{channel}" && {"" if override else "!"}context.override'
    f" && context.total <= {limit} }};\n"
    for (channel, override), (limit, _) in LIMITS.items())


def cedar_request(context: dict[str, Any]) -> dict[str, Any]:
    return {"principal": 'Member::"m-1"', "action": 'Action::"dispense"',
            "resource": f'Product::"{PRODUCT}"',
            "context": {"channel": context["channel"], "override": context["override"],
                        "total": context["quantity"] + context["window_quantity"]}}


def cedar_deciders() -> dict[str, Callable[[dict], bool]]:
    """is_authorized with the policies as text (parsed per call, cedarpy's classic call) and
    with a pre-parsed PolicySet and Entities (its fastest single-request call); {} without it."""
    try:
        import cedarpy
    except ImportError:
        return {}
    policy_set = cedarpy.PolicySet.from_str(CEDAR_POLICIES)
    entities = cedarpy.Entities.from_json_str("[]")
    return {
        "text": lambda request: cedarpy.is_authorized(request, CEDAR_POLICIES, []).allowed,
        "parsed": lambda request: cedarpy.is_authorized(request, policy_set, entities).allowed,
    }


# ---------------------------------------------------------------------------------------------
# Rego (rego-cpp through regopy): the limit by channel and override, the outcome and the maximum

REGO_POLICY = """
package dqm
limits := {"retail": {"false": 30, "true": 60}, "home_delivery": {"false": 90, "true": 180}}
limit := limits[input.channel][sprintf("%v", [input.override])]
outcome := "paid" if { input.quantity + input.window_quantity <= limit }
outcome := "rejected" if { input.quantity + input.window_quantity > limit }
max_allowed := max([0, limit - input.window_quantity])
"""


def rego_decision() -> Callable[[str], str] | None:
    """evaluate(JSON input) → the query result's text, or None without regopy."""
    try:
        from regopy import Interpreter
    except ImportError:
        return None
    rego = Interpreter()
    rego.add_module("dqm", REGO_POLICY)

    def decide(input_json: str) -> str:
        rego.set_input_term(input_json)
        return str(rego.query("[data.dqm.outcome, data.dqm.max_allowed]"))

    return decide


# ---------------------------------------------------------------------------------------------
# Hand-written floors, given parsed values


def hand_outcome(context: dict[str, Any]) -> dict[str, Any]:
    """What the peers answer, by hand: outcome, reject code and max allowed now."""
    limit = LIMITS[(context["channel"], context["override"])][0]
    window = context["window_quantity"]
    if context["quantity"] + window <= limit:
        return {"outcome": "paid", "reject_code": None, "max_allowed": max(0, limit - window)}
    return {"outcome": "rejected", "reject_code": "76", "max_allowed": max(0, limit - window)}


# The policy facts a hand-written evaluator would carry (no authorization on file).
_RULES = {"retail": (Decimal(30), 30, "30 g per 30 days", "QL 30 G PER 30 DAYS", 17),
          "home_delivery": (Decimal(90), 90, "90 g per 90 days", "QL 90 G PER 90 DAYS", 18)}
_SPEC = "policy_specs/anzupgo.dqm"
_TUBE = Decimal(30)


def _text(value: Decimal) -> str:
    return str(int(value)) if value == value.to_integral_value() else format(value.normalize(), "f")


_LIVE_FROM = "2025-11-12"  # the live Anzupgo spec's first day (its kept version ends 2025-11-11)


def hand_decision(policy_hash: str, channel: str, day: dt.date, quantity: Decimal,
                  claim_id: str | None, history: list[tuple]) -> dict[str, Any]:
    """The whole Anzupgo decision written by hand from parsed values: the same dict, every
    field and the trace, as dqm_policies.evaluate returns for a claim without authorizations.

    `history` holds (date, product, quantity, status, claim_id) tuples, already parsed.
    """
    limit, days, text, line, at = _RULES[channel]
    source = f"{_SPEC}:{at}"
    start = day - dt.timedelta(days=days - 1)
    prior = Decimal(0)
    for when, product, amount, status, entry_id in history:
        if (status == "paid" and product == PRODUCT and start <= when <= day
                and (claim_id is None or entry_id != claim_id)):
            prior += amount
    total = prior + quantity
    passed = total <= limit
    allowed = limit - prior if prior < limit else Decimal(0)
    window = {"start": start.isoformat(), "end": day.isoformat()}
    detail = (f"window {window['start']}..{window['end']}: prior {_text(prior)} g + requested"
              f" {_text(quantity)} g = {_text(total)} g {'<=' if passed else '>'} {_text(limit)} g")
    trace = [{"step": "validate", "result": "pass", "detail": "the claim is well-formed",
              "source": f"{_SPEC}:3"},
             # Anzupgo keeps its version of 2025-11-11: the trace says the live one decided.
             {"step": "version", "result": "info",
              "detail": f"date of service {day.isoformat()}: the version in force from "
              f"{_LIVE_FROM}", "source": f"{_SPEC}:3"},
             {"step": "match", "result": "pass",
              "detail": f"product {PRODUCT} at channel {channel}", "source": f"{_SPEC}:8"},
             {"step": "select", "result": "info", "detail": f"base limits: {text}",
              "source": source},
             {"step": "accumulate", "result": "pass" if passed else "fail", "detail": detail,
              "source": source}]
    if passed:
        trace.append({"step": "decide", "result": "pass",
                      "detail": f"paid; max allowed now {_text(allowed)} g", "source": source})
        outcome, code, messages = "paid", None, [line]
    else:
        trace.append({"step": "decide", "result": "fail",
                      "detail": f"rejected 76: {text} exceeded; max allowed now {_text(allowed)} g",
                      "source": source})
        outcome, code, messages = "rejected", "76", [line, f"MAX ALLOWED NOW {_text(allowed)} G"]
    return {"outcome": outcome, "reject_code": code, "messages": messages,
            "policy_id": "anzupgo-dqm", "policy_hash": policy_hash, "channel": channel,
            "limit": {"quantity": _text(limit), "unit": "g", "days": days, "source": "base",
                      "authorization_id": None, "kind": "per_window", "text": text},
            "window": window, "prior_quantity": _text(prior),
            "requested_quantity": _text(quantity), "total_quantity": _text(total),
            "max_allowed_quantity": _text(allowed), "max_allowed_packages": int(allowed // _TUBE),
            "trace": trace}


def assemble(parts: tuple) -> dict[str, Any]:
    """Only the building of a decision's dicts and lists, every value worked out beforehand: what
    returning the contract costs any Python evaluator, before it reads or decides anything."""
    (outcome, code, messages, policy_id, policy_hash, channel, limit, window, prior, requested,
     total, allowed, packages, trace) = parts
    return {"outcome": outcome, "reject_code": code, "messages": list(messages),
            "policy_id": policy_id, "policy_hash": policy_hash, "channel": channel,
            "limit": {"quantity": limit[0], "unit": limit[1], "days": limit[2],
                      "source": limit[3], "authorization_id": limit[4], "kind": limit[5],
                      "text": limit[6]},
            "window": {"start": window[0], "end": window[1]}, "prior_quantity": prior,
            "requested_quantity": requested, "total_quantity": total,
            "max_allowed_quantity": allowed, "max_allowed_packages": packages,
            "trace": [{"step": s[0], "result": s[1], "detail": s[2], "source": s[3]}
                      for s in trace]}


def parts_of(decision: dict[str, Any]) -> tuple:
    """The values `assemble` puts together, taken from a decision."""
    limit, window = decision["limit"], decision["window"]
    return (decision["outcome"], decision["reject_code"], tuple(decision["messages"]),
            decision["policy_id"], decision["policy_hash"], decision["channel"],
            (limit["quantity"], limit["unit"], limit["days"], limit["source"],
             limit["authorization_id"], limit["kind"], limit["text"]),
            (window["start"], window["end"]), decision["prior_quantity"],
            decision["requested_quantity"], decision["total_quantity"],
            decision["max_allowed_quantity"], decision["max_allowed_packages"],
            tuple((s["step"], s["result"], s["detail"], s["source"]) for s in decision["trace"]))
