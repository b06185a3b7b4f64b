"""The IR interpreter, the reference evaluator: design §5's worked cases and every rule kind."""

from __future__ import annotations

import copy
import dataclasses
from decimal import Decimal

import pytest
from ir_samples import (
    ACTIVE_OVERRIDE,
    ALL,
    ANZUPGO,
    ANZUPGO_CASES,
    DAILY,
    KITCHEN,
    SOLUTION_NDC,
    TABS_10_BOTTLE_30_NDC,
    TABS_10_BOTTLE_90_NDC,
    TABS_20_NDC,
    anzupgo_claim,
    paid_fill,
)

from dqmc import interpreter
from dqmc import runtime as rt
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.ir.canonical import content_hash

CONTRACT_FIELDS = {"outcome", "reject_code", "messages", "policy_id", "policy_hash", "channel",
                   "limit", "window", "prior_quantity", "requested_quantity", "total_quantity",
                   "max_allowed_quantity", "max_allowed_packages", "trace"}


def assert_fields(decision: dict, expected: dict) -> None:
    assert set(decision) >= CONTRACT_FIELDS
    for key, value in expected.items():
        assert decision[key] == value, (key, decision)


@pytest.mark.parametrize("name, claim, expected", ANZUPGO_CASES, ids=[c[0] for c in ANZUPGO_CASES])
def test_anzupgo_worked_cases(name: str, claim: dict, expected: dict) -> None:
    decision = interpreter.evaluate(ANZUPGO, claim)
    assert_fields(decision, expected)
    assert decision["policy_id"] == "anzupgo-dqm"
    across = interpreter.evaluate_many(ALL, claim)
    assert_fields(across, expected)
    if across["policy_id"] is not None:  # matched: the same decision as the policy's own
        assert across == decision


def test_a_decision_carries_every_contract_field_and_a_trace_citing_the_spec() -> None:
    decision = interpreter.evaluate(ANZUPGO, anzupgo_claim(history=[paid_fill(20)]))
    assert decision["policy_hash"] == ANZUPGO.content_hash
    assert decision["channel"] == "retail"
    assert [step["step"] for step in decision["trace"]] == ["validate", "match", "select",
                                                            "accumulate", "decide"]
    accumulate = decision["trace"][3]
    assert accumulate == {
        "step": "accumulate", "result": "fail", "source": "policy_specs/anzupgo.dqm:17",
        "detail": "window 2026-01-31..2026-03-01: prior 30 g + requested 30 g = 60 g > 30 g"}
    assert decision["trace"][-1]["source"] == "policy_specs/anzupgo.dqm:17"
    for line in decision["messages"]:
        assert len(line) <= 40 and line == line.upper()


def test_the_override_is_cited_in_the_trace() -> None:
    decision = interpreter.evaluate(ANZUPGO, anzupgo_claim("60", authorizations=[ACTIVE_OVERRIDE]))
    steps = {step["step"]: step for step in decision["trace"]}
    assert steps["authorize"]["result"] == "pass"
    assert steps["authorize"]["source"] == "policy_specs/anzupgo.dqm:26"
    assert steps["select"]["detail"].startswith("authorization pa-7 (additional-quantity) replaces")
    assert steps["accumulate"]["source"] == "policy_specs/anzupgo.dqm:30"


def test_the_typed_decision_mirrors_the_json() -> None:
    claim = anzupgo_claim("60")
    typed = interpreter.decide(ANZUPGO, claim)
    assert isinstance(typed, rt.Decision)
    assert typed.max_allowed_quantity == Decimal(30)
    assert typed.to_dict() == interpreter.evaluate(ANZUPGO, claim)


def test_typed_claims_are_accepted_like_dicts() -> None:
    claim = anzupgo_claim(history=[paid_fill(20)], authorizations=[ACTIVE_OVERRIDE])
    parsed = rt.parse_claim(claim)
    assert isinstance(parsed, rt.Claim)
    assert interpreter.evaluate(ANZUPGO, parsed) == interpreter.evaluate(ANZUPGO, claim)


def test_evaluation_does_not_change_its_input() -> None:
    claim = anzupgo_claim(history=[paid_fill(20)], authorizations=[ACTIVE_OVERRIDE])
    before = copy.deepcopy(claim)
    interpreter.evaluate(ANZUPGO, claim)
    assert claim == before


# ---------------------------------------------------------------------------------------------
# Matching: products, NDCs, units, channels


def kitchen_claim(product: str | None = "tabs-10mg", quantity: str = "30", days_supply: int = 30,
                  channel: str = "retail", **changes: object) -> dict:
    """A claim for the kitchen-sink policy; tabs-10mg claims name their package unless told."""
    claim = {"claim_id": "k-1", "date_of_service": "2026-03-01", "product": product,
             "quantity": quantity, "unit": "each", "days_supply": days_supply, "channel": channel,
             "member": {"birth_date": "1990-06-15"}, "history": [], "authorizations": []}
    if product == "tabs-10mg" and "ndc" not in changes:
        claim["package"] = "bottle-30"
    claim.update(changes)
    return claim


def tab_fill(days_before: int, product: str = "tabs-10mg", quantity: str = "30",
             **changes: object) -> dict:
    from datetime import date, timedelta
    entry = {"claim_id": f"h-{days_before}-{product}", "product": product, "quantity": quantity,
             "date_of_service": (date(2026, 3, 1) - timedelta(days=days_before)).isoformat(),
             "status": "paid"}
    entry.update(changes)
    return entry


@pytest.mark.parametrize("changes, code", [
    ({"product": None, "ndc": "99999000000"}, None),  # an NDC no policy knows: not applicable
    ({"product": "tabs-10mg", "ndc": TABS_20_NDC}, "21"),  # the NDC is another product's
    ({"product": "tabs-20mg", "ndc": "99999000000"}, "21"),  # the product lists NDCs, not this one
    ({"product": "no-such", "ndc": TABS_20_NDC}, "21"),  # the NDC is ours, the product is not
    ({"package": "bottle-7"}, "21"),  # no such package
    ({"ndc": TABS_10_BOTTLE_30_NDC, "package": "bottle-90"}, "21"),  # package and NDC disagree
    ({"unit": "mL"}, "PZ"),
    ({"unit": "kg"}, "PZ"),
    ({"channel": "mail"}, "U7"),
])
def test_matching_fails_closed(changes: dict, code: str | None) -> None:
    decision = interpreter.evaluate(KITCHEN, kitchen_claim(**changes))
    if code is None:
        assert decision["outcome"] == "not_applicable"
    else:
        assert (decision["outcome"], decision["reject_code"]) == ("rejected", code)
        assert decision["trace"][-2]["step"] == "match"


def test_ncpdp_unit_codes_are_accepted() -> None:
    assert interpreter.evaluate(KITCHEN, kitchen_claim(unit="EA"))["outcome"] == "paid"
    assert interpreter.evaluate(ANZUPGO, anzupgo_claim(unit="GM"))["outcome"] == "paid"


def test_a_product_named_by_ndc_alone_matches_and_sets_its_package() -> None:
    decision = interpreter.evaluate(KITCHEN, kitchen_claim(product=None, ndc=TABS_10_BOTTLE_90_NDC,
                                                           quantity="90", days_supply=90,
                                                           channel="home_delivery"))
    assert decision["outcome"] == "paid"
    assert decision["max_allowed_quantity"] == "180"
    assert decision["max_allowed_packages"] == 2  # counted in bottles of 90, the claim's package


def test_a_known_channel_without_a_limit_is_not_applicable() -> None:
    decision = interpreter.evaluate(ANZUPGO, anzupgo_claim(channel="specialty"))
    assert (decision["outcome"], decision["reject_code"]) == ("rejected", "U7")  # unknown here
    decision = interpreter.evaluate(KITCHEN, kitchen_claim("tabs-20mg", channel="specialty"))
    assert decision["outcome"] == "not_applicable"
    assert decision["trace"][-2]["detail"] == "no limit for tabs-20mg at specialty"


# ---------------------------------------------------------------------------------------------
# Every rule kind


def test_a_group_limit_counts_every_product_of_the_group() -> None:
    history = [tab_fill(10, "tabs-20mg", "30"), tab_fill(5, quantity="10")]
    claim = kitchen_claim(quantity="30", history=history)
    decision = interpreter.evaluate(KITCHEN, claim)
    assert decision["outcome"] == "rejected"
    assert decision["prior_quantity"] == "40"
    assert decision["max_allowed_quantity"] == "20"


def test_history_matches_by_ndc_too() -> None:
    claim = kitchen_claim(quantity="40", history=[tab_fill(3, product="x", ndc=TABS_20_NDC)])
    claim["history"][0].pop("product")
    decision = interpreter.evaluate(KITCHEN, claim)
    assert decision["prior_quantity"] == "30" and decision["outcome"] == "rejected"


def test_a_limit_for_every_channel_applies_at_each_channel() -> None:
    for channel in ("retail", "home_delivery", "specialty"):
        decision = interpreter.evaluate(KITCHEN, kitchen_claim(days_supply=91, channel=channel))
        if channel == "specialty":
            assert decision["limit"]["kind"] == "days_supply_max"
        assert decision["reject_code"] == "76"
        assert {"step": "days_supply", "result": "fail", "detail": "days supply 91 > 90",
                "source": "policy_specs/kitchen-sink.yaml:29"} in decision["trace"]


def test_per_day_with_a_therapy_length() -> None:
    ok = interpreter.evaluate(KITCHEN, kitchen_claim("tabs-20mg", "20", 10))
    assert ok["outcome"] == "paid" and ok["max_allowed_quantity"] == "20"
    too_many = interpreter.evaluate(KITCHEN, kitchen_claim("tabs-20mg", "21", 10))
    assert too_many["outcome"] == "rejected" and too_many["limit"]["kind"] == "per_day"
    too_long = interpreter.evaluate(KITCHEN, kitchen_claim("tabs-20mg", "20", 12))
    assert too_long["outcome"] == "rejected"
    assert too_long["max_allowed_quantity"] == "20"  # 2 a day for the 10 days the therapy may last
    assert too_long["messages"][0] == "QL 2 EA PER DAY UP TO 10 DAYS"


def test_per_day_without_a_therapy_length_and_per_fill_at_a_declared_channel() -> None:
    claim = {"claim_id": "s-1", "date_of_service": "2026-03-01", "ndc": SOLUTION_NDC,
             "quantity": "150", "unit": "mL", "days_supply": 15, "channel": "specialty"}
    decision = interpreter.evaluate(KITCHEN, claim)
    assert decision["outcome"] == "paid"
    assert decision["max_allowed_quantity"] == "150"  # both 10 mL/day × 15 and 150 per fill
    claim["quantity"] = "151"
    decision = interpreter.evaluate(KITCHEN, claim)
    assert decision["outcome"] == "rejected" and decision["limit"]["kind"] == "per_day"


def test_fills_per_window_counts_paid_claims_with_a_package_selector() -> None:
    bottle_90 = {"ndc": TABS_10_BOTTLE_90_NDC, "quantity": "90", "days_supply": 90,
                 "channel": "home_delivery"}
    history = [tab_fill(100, quantity="90"), tab_fill(200, quantity="90")]
    decision = interpreter.evaluate(KITCHEN, kitchen_claim(**bottle_90, history=history))
    assert decision["outcome"] == "rejected"
    assert decision["limit"]["kind"] == "fills_per_window"
    assert decision["max_allowed_quantity"] == "0"
    assert decision["messages"][0] == "QL 2 FILLS PER 365 DAYS"
    one_fill = interpreter.evaluate(KITCHEN, kitchen_claim(**bottle_90, history=history[:1]))
    assert one_fill["outcome"] == "paid"


def test_a_package_selector_without_a_known_package_fails_closed() -> None:
    decision = interpreter.evaluate(KITCHEN, kitchen_claim(package=None))  # no NDC, no package
    assert (decision["outcome"], decision["reject_code"]) == ("rejected", "21")
    assert decision["messages"] == ["PACKAGE NOT IDENTIFIED"]
    named = interpreter.evaluate(KITCHEN, kitchen_claim(package="bottle-30"))
    assert named["outcome"] == "paid"


@pytest.mark.parametrize("birth_date, limit", [("2010-03-02", "300"), ("2008-03-01", "150"),
                                              ("1960-01-01", "150")])
def test_age_bands_select_the_limit(birth_date: str, limit: str) -> None:
    claim = kitchen_claim("test-strips", "100", member={"birth_date": birth_date})
    decision = interpreter.evaluate(KITCHEN, claim)
    assert decision["outcome"] == "paid"
    assert decision["limit"]["quantity"] == limit


def test_an_age_band_needs_the_birth_date() -> None:
    claim = kitchen_claim("test-strips", "100")
    del claim["member"]
    decision = interpreter.evaluate(KITCHEN, claim)
    assert (decision["outcome"], decision["reject_code"]) == ("rejected", "09")
    assert decision["trace"][-2]["source"] == "policy_specs/kitchen-sink.yaml:35"


def test_an_age_band_over_65_adds_a_fill_limit_at_retail() -> None:
    history = [tab_fill(10, "test-strips", "50")]
    claim = kitchen_claim("test-strips", "50", member={"birth_date": "1950-01-01"}, history=history)
    decision = interpreter.evaluate(KITCHEN, claim)
    assert decision["outcome"] == "rejected" and decision["limit"]["kind"] == "fills_per_window"
    younger = interpreter.evaluate(KITCHEN, dict(claim, member={"birth_date": "1980-01-01"}))
    assert younger["outcome"] == "paid"


def test_a_claim_no_age_band_selects_is_not_applicable() -> None:
    children_only = dataclasses.replace(KITCHEN.policy, limits=tuple(
        lim for lim in KITCHEN.policy.limits
        if lim.target != "test-strips" or lim.when[0].max_years == 17))  # type: ignore[union-attr]
    compiled = CompiledPolicy(children_only, KITCHEN.source, content_hash(children_only))
    adult = kitchen_claim("test-strips", "100", member={"birth_date": "1980-01-01"})
    decision = interpreter.evaluate(compiled, adult)
    assert decision["outcome"] == "not_applicable"
    assert decision["trace"][-2] == {
        "step": "select", "result": "skip", "source": "policy_specs/kitchen-sink.yaml:35",
        "detail": "no limit for test-strips at retail applies to this claim"}
    child = kitchen_claim("test-strips", "100", member={"birth_date": "2015-01-01"})
    assert interpreter.evaluate(compiled, child)["outcome"] == "paid"


def test_a_hard_ceiling_holds_under_an_override() -> None:
    authorization = {"id": "pa-1", "criterion": "initial", "products": ["oral-solution"],
                     "effective_from": "2026-01-01", "effective_through": "2026-12-31"}
    claim = {"claim_id": "s-2", "date_of_service": "2026-03-01", "product": "oral-solution",
             "quantity": "450", "unit": "mL", "days_supply": 30, "channel": "retail",
             "authorizations": [authorization]}
    decision = interpreter.evaluate(KITCHEN, claim)
    assert decision["outcome"] == "rejected"
    assert decision["limit"] == {"quantity": "10", "unit": "mL", "days": 1, "source": "base",
                                 "authorization_id": None, "kind": "per_day",
                                 "text": "10 mL per day"}
    select = next(step for step in decision["trace"] if step["step"] == "select")
    assert select["detail"] == ("authorization pa-1 (initial) replaces the base limits: "
                                "20 mL per day; 10 mL per day (hard)")


def test_the_daily_rate_check_only_where_declared() -> None:
    claim = {"claim_id": "d-1", "date_of_service": "2026-03-01", "product": "daily-cream",
             "quantity": "45", "unit": "g", "days_supply": 14, "channel": "retail"}
    decision = interpreter.evaluate(DAILY, claim)
    assert (decision["outcome"], decision["reject_code"]) == ("rejected", "75")  # its own code
    assert decision["messages"] == ["DAILY RATE OVER 45 G/30 DAYS", "MAX ALLOWED NOW 21 G"]
    assert decision["max_allowed_packages"] == 0
    assert interpreter.evaluate(DAILY, dict(claim, days_supply=30))["outcome"] == "paid"
    # Anzupgo declares no daily-rate check: 30 g for 14 days pays (design §5 case 10).
    assert interpreter.evaluate(ANZUPGO, anzupgo_claim("30", 14))["outcome"] == "paid"


# ---------------------------------------------------------------------------------------------
# Authorizations


def override(**changes: object) -> dict:
    authorization = dict(ACTIVE_OVERRIDE)
    authorization.update(changes)
    return authorization


@pytest.mark.parametrize("authorization, why", [
    (override(status="revoked"), "revoked"),
    (override(effective_from="2026-03-02"), "not effective until 2026-03-02"),
    (override(effective_through="2026-02-28"), "expired on 2026-02-28"),
    (override(channels=["home_delivery"]), "not for channel retail"),
    (override(criterion="other-criterion"), "criterion other-criterion is not in this policy"),
    (override(criterion=None,
              limits={"home_delivery": {"quantity": "180", "unit": "g", "days": 90}}),
     "grants no limit at retail"),
    (override(criterion=None, limits={"retail": {"quantity": "60", "unit": "mL", "days": 30}}),
     "grants mL, but anzupgo-2pct-cream is billed in g"),
])
def test_authorizations_that_do_not_apply_are_ignored(authorization: dict, why: str) -> None:
    decision = interpreter.evaluate(ANZUPGO, anzupgo_claim("60", authorizations=[authorization]))
    assert decision["reject_code"] == "76" and decision["limit"]["source"] == "base"
    step = next(step for step in decision["trace"] if step["step"] == "authorize")
    assert step["result"] == "skip" and step["detail"] == f"authorization pa-7: {why}"


def test_an_authorization_for_another_product_is_not_traced() -> None:
    claim = anzupgo_claim(authorizations=[override(products=["x"])])
    decision = interpreter.evaluate(ANZUPGO, claim)
    assert decision["outcome"] == "paid"
    assert all(step["step"] != "authorize" for step in decision["trace"])


def test_explicit_limits_on_an_authorization() -> None:
    per_fill = override(criterion=None, limits={"retail": {"quantity": "75", "unit": "g"}})
    decision = interpreter.evaluate(ANZUPGO, anzupgo_claim("75", history=[paid_fill(3)],
                                                           authorizations=[per_fill]))
    assert decision["outcome"] == "paid"
    assert decision["limit"]["kind"] == "per_fill" and decision["limit"]["source"] == "override"
    windowed = override(criterion=None,
                        limits={"retail": {"quantity": "45", "unit": "GM", "days": 30}})
    claim = anzupgo_claim(history=[paid_fill(3)], authorizations=[windowed])
    decision = interpreter.evaluate(ANZUPGO, claim)
    assert decision["outcome"] == "rejected" and decision["max_allowed_quantity"] == "15"


def test_the_most_generous_authorization_wins() -> None:
    small = override(id="small", criterion=None,
                     limits={"retail": {"quantity": "45", "unit": "g", "days": 30}})
    large = override(id="large")
    for order in ([small, large], [large, small]):
        decision = interpreter.evaluate(ANZUPGO, anzupgo_claim("50", authorizations=order))
        assert decision["outcome"] == "paid" and decision["limit"]["authorization_id"] == "large"
    tie = [override(id="first"), override(id="second")]
    decision = interpreter.evaluate(ANZUPGO, anzupgo_claim(authorizations=tie))
    assert decision["limit"]["authorization_id"] == "first"


def test_a_one_time_authorization_is_used_up_by_one_fill() -> None:
    one_time = {"id": "t-1", "criterion": "titration", "products": ["tabs-10mg"], "max_fills": 1,
                "effective_from": "2026-02-20", "effective_through": "2026-03-21"}
    claim = kitchen_claim(quantity="100", package="bottle-30", authorizations=[one_time])
    assert interpreter.evaluate(KITCHEN, claim)["outcome"] == "paid"
    used = dict(claim, history=[tab_fill(5, "tabs-20mg", quantity="10")])
    decision = interpreter.evaluate(KITCHEN, used)
    assert decision["outcome"] == "rejected"
    step = next(step for step in decision["trace"] if step["step"] == "authorize")
    assert step["detail"] == "authorization t-1: used 1 of 1 fills"


# ---------------------------------------------------------------------------------------------
# Malformed input: never raises, never pays


@pytest.mark.parametrize("changes, code", [
    ({"quantity": "-5"}, "E7"), ({"quantity": "1e3"}, "E7"), ({"quantity": "٣٠"}, "E7"),
    ({"quantity": float("nan")}, "E7"), ({"quantity": float("inf")}, "E7"),
    ({"quantity": True}, "E7"),
    ({"quantity": "30.0001"}, "E7"), ({"quantity": 10 ** 400}, "E7"), ({"quantity": " 30"}, "E7"),
    ({"days_supply": True}, "19"), ({"days_supply": 30.0}, "19"), ({"days_supply": 1000}, "19"),
    ({"days_supply": "30"}, "19"),
    ({"date_of_service": "2026-02-30"}, "15"), ({"date_of_service": "20260301"}, "15"),
    ({"date_of_service": "２０２６-03-01"}, "15"), ({"date_of_service": None}, "15"),
    ({"product": None}, "21"), ({"product": ""}, "21"), ({"ndc": "1234567890"}, "21"),
    ({"ndc": "1234567890a"}, "21"), ({"package": 7}, "21"),
    ({"unit": None}, "26"), ({"unit": 5}, "26"),
    ({"channel": None}, "U7"), ({"channel": ["retail"]}, "U7"),
    ({"claim_id": 17}, "85"),
    ({"member": "1980-01-01"}, "09"), ({"member": {"birth_date": "2027-01-01"}}, "09"),
    ({"member": {"birth_date": "1980-02-30"}}, "09"),
    ({"history": "none"}, "85"), ({"history": [None]}, "85"),
    ({"history": [dict(paid_fill(3), status="pending")]}, "85"),
    ({"history": [dict(paid_fill(3), quantity="0")]}, "85"),
    ({"history": [dict(paid_fill(3), date_of_service="2026-02-31")]}, "85"),
    ({"history": [dict(paid_fill(3), product=None)]}, "85"),
    ({"authorizations": {}}, "85"),
    ({"authorizations": [dict(ACTIVE_OVERRIDE, products=[])]}, "85"),
    ({"authorizations": [dict(ACTIVE_OVERRIDE, effective_through="2025-01-01")]}, "85"),
    ({"authorizations": [dict(ACTIVE_OVERRIDE, criterion=None)]}, "85"),
    ({"authorizations": [dict(ACTIVE_OVERRIDE, max_fills=0)]}, "85"),
    ({"authorizations": [dict(ACTIVE_OVERRIDE, status="paused")]}, "85"),
])
def test_malformed_claims_are_rejected_with_their_code(changes: dict, code: str) -> None:
    decision = interpreter.evaluate(ANZUPGO, anzupgo_claim(**changes))
    assert (decision["outcome"], decision["reject_code"]) == ("rejected", code)
    assert decision["policy_id"] == "anzupgo-dqm"


def test_a_malformed_history_entry_is_named() -> None:
    history = [paid_fill(40), dict(paid_fill(3, claim_id="c-0"), quantity="NaN")]
    decision = interpreter.evaluate(ANZUPGO, anzupgo_claim(history=history))
    assert decision["messages"] == ["BAD HISTORY ENTRY 2 C-0"]
    assert decision["trace"][0]["detail"].startswith("history entry 2 ('c-0'): quantity 'NaN'")


@pytest.mark.parametrize("claim", [None, [], "claim", 7, 1.5, True, {"x": 1}, {}])
def test_anything_that_is_not_a_claim_is_rejected(claim: object) -> None:
    decision = interpreter.evaluate_many(ALL, claim)
    assert decision["outcome"] == "rejected" and decision["policy_id"] is None


def test_dates_at_the_ends_of_the_calendar() -> None:
    early = interpreter.evaluate(ANZUPGO, anzupgo_claim(date_of_service="0001-01-05", member=None))
    assert early["outcome"] == "paid" and early["window"]["start"] == "0001-01-01"
    last_fill = {"date_of_service": "9999-12-30", "product": "anzupgo-2pct-cream", "quantity": "1",
                 "status": "paid"}
    late = interpreter.evaluate(ANZUPGO, anzupgo_claim(date_of_service="9999-12-31",
                                                       history=[last_fill]))
    assert late["outcome"] == "rejected" and late["prior_quantity"] == "1"


def test_a_callers_decimal_context_does_not_change_decisions() -> None:
    import decimal

    claim = {"claim_id": "d", "date_of_service": "2026-03-01", "product": "daily-cream",
             "quantity": "12.345", "unit": "g", "days_supply": 7, "channel": "retail"}
    expected = interpreter.evaluate(DAILY, claim)
    with decimal.localcontext() as context:
        context.prec = 3
        context.traps[decimal.Inexact] = True
        again = interpreter.evaluate(DAILY, claim)
    assert again == expected
    assert expected["max_allowed_quantity"] == "10.5"
    for trap in (decimal.Inexact, decimal.Rounded):  # full precision, but rounding is an error
        with decimal.localcontext() as context:
            context.traps[trap] = True
            assert interpreter.evaluate(DAILY, claim) == expected
            finer = dict(claim, quantity="1.0001")
            assert interpreter.evaluate(DAILY, finer)["reject_code"] == "E7"


# ---------------------------------------------------------------------------------------------
# Dispatch across policies


def test_evaluate_many_dispatches_by_product_or_ndc() -> None:
    assert interpreter.evaluate_many(ALL, anzupgo_claim())["policy_id"] == "anzupgo-dqm"
    by_ndc = interpreter.evaluate_many(ALL, kitchen_claim(None, "2", 1, ndc=TABS_20_NDC))
    assert by_ndc["policy_id"] == "kitchen-sink" and by_ndc["outcome"] == "paid"
    mismatch = interpreter.evaluate_many(ALL, anzupgo_claim(ndc=TABS_20_NDC))
    assert (mismatch["reject_code"], mismatch["policy_id"]) == ("21", None)
    assert interpreter.evaluate_many([], anzupgo_claim())["outcome"] == "not_applicable"
