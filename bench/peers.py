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
# A hand-written outcome: what the peers answer


def hand_outcome(context: dict[str, Any]) -> dict[str, Any]:
    """What the peers answer, by hand: outcome, reject code and max allowed now."""
    limit = LIMITS[(context["channel"], context["override"])][0]
    window = context["window_quantity"]
    if context["quantity"] + window <= limit:
        return {"outcome": "paid", "reject_code": None, "max_allowed": max(0, limit - window)}
    return {"outcome": "rejected", "reject_code": "76", "max_allowed": max(0, limit - window)}


# ---------------------------------------------------------------------------------------------
# The floor: the Anzupgo decision written by hand from the raw claim, as fast as we can write it
#
# What a programmer would write for this one policy: every field of the claim, its history and
# its authorizations checked as docs/semantics.md §1 says (a malformed record must reject),
# integers in thousandths, texts of dates and quantities remembered, every decision field and
# the trace built inline. It takes the claims the bench measures (well-formed, the product
# named, an additional-quantity authorization or none) and answers None for any other claim;
# the bench asserts it returns the generated evaluator's dict for every claim it is timed on.

_SPEC = "policy_specs/anzupgo.dqm"
_VALIDATE, _MATCH, _CRITERION = f"{_SPEC}:3", f"{_SPEC}:8", f"{_SPEC}:26"


def _floor_rule(limit: int, days: int, line: int, origin: str) -> tuple:
    text = f"{limit} g per {days} days"
    return (limit * 1000, days, text, f"QL {limit} G PER {days} DAYS", f"{_SPEC}:{line}",
            f" g <= {limit} g", f" g > {limit} g",
            {"quantity": str(limit), "unit": "g", "days": days, "source": origin,
             "authorization_id": None, "kind": "per_window", "text": text})


# channel → (base limit, the limit the additional-quantity criterion approves)
_FLOOR = {"retail": (_floor_rule(30, 30, 17, "base"), _floor_rule(60, 30, 30, "override")),
          "home_delivery": (_floor_rule(90, 90, 18, "base"),
                            _floor_rule(180, 90, 31, "override"))}
_MATCHED = {channel: f"product {PRODUCT} at channel {channel}" for channel in _FLOOR}
_DAYS: dict[str, int] = {}  # date text → ordinal
_MILLIS: dict[str, int] = {}  # quantity text → thousandths
_TEXTS: dict[int, str] = {}  # thousandths → text
_ISO: dict[int, str] = {}  # ordinal → date text


def _day(text: object) -> int | None:
    if text.__class__ is not str or len(text) != 10 or text[4] != "-" or text[7] != "-":
        return None
    if not (text[:4] + text[5:7] + text[8:]).isdigit() or not text.isascii():
        return None
    try:
        day = dt.date.fromisoformat(text).toordinal()
    except ValueError:
        return None
    _DAYS[text] = day
    return day


def _millis(value: object) -> int | None:
    if value.__class__ is int:
        return value * 1000 if 0 < value <= 9999999 else None
    if value.__class__ is not str or not value.isascii() or len(value) > 24:
        return None
    whole, _, part = value.partition(".")
    if not whole.isdigit() or (part and (not part.isdigit() or len(part) > 3)):
        return None
    amount = int(whole) * 1000 + (int(part.ljust(3, "0")) if part else 0)
    if not 0 < amount <= 9999999999:
        return None
    _MILLIS[value] = amount
    return amount


def _text_of(amount: int) -> str:
    text = _TEXTS.get(amount)
    if text is None:
        whole, part = divmod(amount, 1000)
        text = _TEXTS[amount] = str(whole) if not part else f"{whole}.{part:03d}".rstrip("0")
    return text


def _iso(day: int) -> str:
    text = _ISO.get(day)
    if text is None:
        text = _ISO[day] = dt.date.fromordinal(day).isoformat()
    return text


def _floor_authorization(record: object, end: int, channel: str) -> bool | None:
    """Whether an additional-quantity authorization record applies; None when it is malformed
    or one the floor does not write (another criterion, explicit limits, not applying)."""
    if record.__class__ is not dict:
        return None
    get = record.get
    auth_id, products = get("id"), get("products")
    if auth_id.__class__ is not str or not auth_id or products.__class__ is not list:
        return None
    if not products:
        return None
    for named in products:
        if named.__class__ is not str or not named:
            return None
    first, last = get("effective_from"), get("effective_through")
    first = _DAYS.get(first) or _day(first)  # type: ignore[arg-type]
    last = _DAYS.get(last) or _day(last)  # type: ignore[arg-type]
    if first is None or last is None or last < first:
        return None
    criterion, channels, status = get("criterion"), get("channels"), get("status")
    if criterion != "additional-quantity" or get("limits") is not None:
        return None
    if channels is not None:
        if channels.__class__ is not list or not channels:
            return None
        for named in channels:
            if named.__class__ is not str or not named:
                return None
    if status is not None and status != "active":
        return None
    if get("max_fills") is not None:
        return None
    if PRODUCT not in products:
        return False
    return (first <= end <= last and (channels is None or channel in channels)) or None


def floor_decision(policy_hash: str) -> Callable[[dict], dict | None]:
    """The hand-written floor for Anzupgo: evaluate(raw claim) → the full decision, or None."""

    def evaluate(claim: dict) -> dict | None:
        try:
            get = claim.get
            claim_id = get("claim_id")
            if claim_id is not None and (claim_id.__class__ is not str or not claim_id):
                return None
            value = get("quantity")
            requested = _MILLIS.get(value) or _millis(value)
            days_supply = get("days_supply")
            if (requested is None or days_supply.__class__ is not int
                    or not 1 <= days_supply <= 999):
                return None
            end_text = get("date_of_service")
            end = _DAYS.get(end_text) or _day(end_text)
            channel = get("channel")
            if (end is None or get("product") != PRODUCT or get("unit") not in ("g", "GM")
                    or channel not in _FLOOR):
                return None
            ndc, package = get("ndc"), get("package")
            if ndc is not None and (ndc.__class__ is not str or len(ndc) != 11
                                    or not ndc.isdigit() or not ndc.isascii()):
                return None
            if package is not None and package != "tube-30g":
                return None
            value = get("package_size")
            if value is not None and (_MILLIS.get(value) or _millis(value)) is None:
                return None
            member = get("member")
            if member is not None:
                if member.__class__ is not dict:
                    return None
                value = member.get("birth_date")
                if value is not None:
                    birth = _DAYS.get(value) or _day(value)
                    if birth is None or birth > end:
                        return None
            base, approved = _FLOOR[channel]
            granted = None
            records = get("authorizations")
            if records:
                if records.__class__ is not list:
                    return None
                for record in records:
                    applies = _floor_authorization(record, end, channel)
                    if applies is None or (applies and granted is not None):
                        return None
                    if applies:
                        granted = record["id"]
            elif records is not None and records.__class__ is not list:
                return None
            limit, days, text, line, source, within, over, applied = (
                base if granted is None else approved)
            start = end - days + 1
            prior = 0
            entries = get("history")
            if entries:
                if entries.__class__ is not list:
                    return None
                for entry in entries:
                    if entry.__class__ is not dict:
                        return None
                    value = entry["date_of_service"]
                    day = _DAYS.get(value) or _day(value)
                    value = entry["quantity"]
                    amount = _MILLIS.get(value) or _millis(value)
                    if day is None or amount is None:
                        return None
                    eget = entry.get
                    entry_id, named, code = eget("claim_id"), eget("product"), eget("ndc")
                    if entry_id is not None and (entry_id.__class__ is not str or not entry_id):
                        return None
                    if code is not None:
                        if (code.__class__ is not str or len(code) != 11 or not code.isdigit()
                                or not code.isascii()):
                            return None
                    elif named is None:
                        return None
                    if named is not None and (named.__class__ is not str or not named):
                        return None
                    value = eget("days_supply")
                    if value is not None and (value.__class__ is not int
                                              or not 1 <= value <= 999):
                        return None
                    value = eget("channel")
                    if value is not None and (value.__class__ is not str or not value):
                        return None
                    value = eget("package_size")
                    if value is not None and (_MILLIS.get(value) or _millis(value)) is None:
                        return None
                    status = entry["status"]
                    if status == "paid":
                        if (start <= day <= end and named == PRODUCT
                                and (claim_id is None or entry_id != claim_id)):
                            prior += amount
                    elif status != "reversed":
                        return None
            elif entries is not None and entries.__class__ is not list:
                return None
        except (KeyError, TypeError, AttributeError):
            return None
        total = prior + requested
        asked = _TEXTS.get(requested) or _text_of(requested)
        prior_text = (_TEXTS.get(prior) or _text_of(prior)) if prior else "0"
        total_text = (_TEXTS.get(total) or _text_of(total)) if prior else asked
        allowed = limit - prior if prior < limit else 0
        allowed_text = _TEXTS.get(allowed) or _text_of(allowed)
        first = _ISO.get(start) or _iso(start)
        trace = [{"step": "validate", "result": "pass", "detail": "the claim is well-formed",
                  "source": _VALIDATE},
                 {"step": "match", "result": "pass", "detail": _MATCHED[channel],
                  "source": _MATCH}]
        if granted is None:
            trace.append({"step": "select", "result": "info", "detail": f"base limits: {text}",
                          "source": source})
            limit_json = applied.copy()
        else:
            trace.append({"step": "authorize", "result": "pass",
                          "detail": f"authorization {granted}: applies: {text}",
                          "source": _CRITERION})
            trace.append({"step": "select", "result": "info",
                          "detail": f"authorization {granted} (additional-quantity) replaces the"
                                    f" base limits: {text}", "source": _CRITERION})
            limit_json = applied.copy()
            limit_json["authorization_id"] = granted
        detail = (f"window {first}..{end_text}: prior {prior_text} g + requested {asked} g ="
                  f" {total_text}")
        if total <= limit:
            trace.append({"step": "accumulate", "result": "pass", "detail": detail + within,
                          "source": source})
            trace.append({"step": "decide", "result": "pass",
                          "detail": f"paid; max allowed now {allowed_text} g", "source": source})
            outcome, code, messages = "paid", None, [line]
        else:
            trace.append({"step": "accumulate", "result": "fail", "detail": detail + over,
                          "source": source})
            trace.append({"step": "decide", "result": "fail",
                          "detail": f"rejected 76: {text} exceeded; max allowed now"
                                    f" {allowed_text} g", "source": source})
            outcome, code, messages = "rejected", "76", [line, f"MAX ALLOWED NOW {allowed_text} G"]
        return {"outcome": outcome, "reject_code": code, "messages": messages,
                "policy_id": "anzupgo-dqm", "policy_hash": policy_hash, "channel": channel,
                "limit": limit_json, "window": {"start": first, "end": end_text},
                "prior_quantity": prior_text, "requested_quantity": asked,
                "total_quantity": total_text, "max_allowed_quantity": allowed_text,
                "max_allowed_packages": allowed // 30000, "trace": trace}

    return evaluate


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
