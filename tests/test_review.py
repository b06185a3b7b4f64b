"""Exception review (design §6) in both evaluators: outcomes, approval dates, one-time, renewal."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from ir_samples import (
    ALL,
    ANZUPGO,
    DAILY,
    KITCHEN,
    TABS_20_NDC,
    anzupgo_claim,
    import_package,
    policy_module,
)

from dqmc import interpreter
from dqmc import runtime as rt
from dqmc.codegen.loader import write_generated
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.ir.canonical import content_hash

ANSWERS = {"needs_more": True, "diagnosis": "chronic_hand_eczema", "severity": "severe",
           "sites": ["hands"]}


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory):
    return import_package(write_generated(ALL, tmp_path_factory.mktemp("review") / "python"))


Review = Callable[[CompiledPolicy, object], dict]
Evaluate = Callable[[CompiledPolicy, object], dict]


@pytest.fixture(params=["interpreter", "generated"])
def evaluators(request: pytest.FixtureRequest, package) -> tuple[Review, Evaluate]:
    """(review, evaluate) of one evaluator; every test below runs against both."""
    if request.param == "interpreter":
        return interpreter.review, interpreter.evaluate
    return (lambda c, r: policy_module(package, c.policy.id).review(r),
            lambda c, claim: policy_module(package, c.policy.id).evaluate(claim))


def anzupgo_request(facts: dict | None = None, **changes: object) -> dict:
    request = {"policy": "anzupgo-dqm", "product": "anzupgo-2pct-cream",
               "request_date": "2026-01-15", "facts": ANSWERS if facts is None else facts}
    request.update(changes)
    return request


def both_agree(compiled: CompiledPolicy, request: object, package) -> dict:
    """The interpreter's answer, after checking the generated module gives the same."""
    expected = interpreter.review(compiled, request)
    assert policy_module(package, compiled.policy.id).review(request) == expected
    return expected


# ---------------------------------------------------------------------------------------------
# The three outcomes


def test_approved_returns_an_authorization_ready_to_load(evaluators) -> None:
    review, _ = evaluators
    result = review(ANZUPGO, anzupgo_request())
    assert result["outcome"] == "approved"
    assert result["criterion"] == "additional-quantity"
    assert result["authorization"] == {
        "id": "anzupgo-dqm/additional-quantity/anzupgo-2pct-cream/2026-01-15",
        "criterion": "additional-quantity", "products": ["anzupgo-2pct-cream"],
        "effective_from": "2026-01-15", "effective_through": "2027-01-14"}
    assert [(a["channel"], a["text"]) for a in result["approved"]] == [
        ("retail", "60 g per 30 days"), ("home_delivery", "180 g per 90 days")]
    assert result["unmet"] == [] and result["missing"] == [] and result["invalid"] == []
    assert result["policy_hash"] == ANZUPGO.content_hash


def test_the_request_may_bring_its_own_authorization_id(evaluators) -> None:
    review, _ = evaluators
    result = review(ANZUPGO, anzupgo_request(authorization_id="PA-2026-0042"))
    assert result["authorization"]["id"] == "PA-2026-0042"


def test_denied_lists_each_unmet_condition_with_its_question(evaluators) -> None:
    review, _ = evaluators
    facts = dict(ANSWERS, severity="mild", sites=["hands", "other"])
    result = review(ANZUPGO, anzupgo_request(facts))
    assert result["outcome"] == "denied" and result["authorization"] is None
    assert result["unmet"] == [
        {"criterion": "additional-quantity", "condition": "severity in {moderate, severe}",
         "facts": ["severity"], "questions": ["How severe is the chronic hand eczema?"],
         "answers": ["mild"]},
        {"criterion": "additional-quantity", "condition": "sites <= {hands, wrists}",
         "facts": ["sites"], "questions": ["Which body sites are treated?"],
         "answers": [["hands", "other"]]}]


def test_a_false_answer_decides_even_when_others_are_missing(evaluators) -> None:
    review, _ = evaluators
    result = review(ANZUPGO, anzupgo_request({"diagnosis": "other"}))
    assert result["outcome"] == "denied"
    assert [u["condition"] for u in result["unmet"]] == ["diagnosis == chronic_hand_eczema"]


def test_needs_information_lists_the_missing_facts_that_matter(evaluators) -> None:
    review, _ = evaluators
    result = review(ANZUPGO, anzupgo_request({"needs_more": True, "severity": "moderate"}))
    assert result["outcome"] == "needs_information"
    assert result["missing"] == [
        {"fact": "diagnosis", "question": "What condition is being treated?",
         "criteria": ["additional-quantity"]},
        {"fact": "sites", "question": "Which body sites are treated?",
         "criteria": ["additional-quantity"]}]


def test_answers_out_of_range_and_unknown_facts_are_reported_never_guessed(evaluators) -> None:
    review, _ = evaluators
    facts = dict(ANSWERS, severity="SEVERE", sites=["hands", "elbows"], needs_more="yes",
                 colour="blue")
    result = review(ANZUPGO, anzupgo_request(facts))
    assert result["outcome"] == "needs_information"
    assert {m["fact"] for m in result["missing"]} == {"severity", "sites", "needs_more"}
    assert result["invalid"] == [
        {"field": "facts.needs_more", "reason": "expected true or false"},
        {"field": "facts.severity", "reason": "expected one of mild, moderate, severe"},
        {"field": "facts.sites", "reason": "expected a list of hands, wrists, other"},
        {"field": "facts.colour", "reason": "not a fact of this policy"}]


@pytest.mark.parametrize("request_data, field", [
    (None, "request"), ([], "request"), ("anzupgo", "request"),
    (anzupgo_request(request_date="2026-02-30"), "request_date"),
    (anzupgo_request(request_date=None), "request_date"),
    (anzupgo_request(facts=["needs_more"]), "facts"),
    (anzupgo_request(policy="other-policy"), "policy"),
    (anzupgo_request(product="ointment-x"), "product"),
    (anzupgo_request(channels=["mail"]), "channels"),
    (anzupgo_request(channels="retail", authorization_id=5), "authorization_id"),
])
def test_unusable_requests_ask_for_information(evaluators, request_data: object,
                                                field: str) -> None:
    review, _ = evaluators
    result = review(ANZUPGO, request_data)
    assert result["outcome"] == "needs_information" and result["authorization"] is None
    assert field in [p["field"] for p in result["invalid"]]


def test_numbers_and_dates_as_answers(evaluators) -> None:
    review, _ = evaluators
    for answer, outcome in [("10.6", "approved"), (10.6, "approved"), (11, "approved"),
                            ("10.5", "denied"), (10, "denied"), ("-3", "denied"),
                            ("ten", "needs_information"), (True, "needs_information"),
                            (float("nan"), "needs_information")]:
        result = review(DAILY, {"product": "daily-cream", "request_date": "2026-01-15",
                                "facts": {"body_area": answer, "prescriber_justifies": False}})
        assert result["outcome"] == outcome, answer
    approved = review(DAILY, {"product": "daily-cream", "request_date": "2026-01-15",
                              "facts": {"body_area": 12}})
    assert approved["authorization"]["effective_through"] == "2026-03-11"  # 8 weeks


def test_or_not_and_inequality_conditions(evaluators) -> None:
    review, _ = evaluators
    base = {"product": "tabs-10mg", "request_date": "2026-01-15"}
    initial = {"diagnosis": "migraine", "tried": ["nsaid"], "crcl": 40}
    assert review(KITCHEN, dict(base, facts=initial))["criterion"] == "initial"
    # The OR holds through its other branch: a start before 2024.
    other_branch = dict(initial, tried=["triptan"], started="2023-05-01")
    assert review(KITCHEN, dict(base, facts=other_branch))["outcome"] == "approved"
    # NOT (crcl < 15) fails: the unmet condition is the negation, with its fact.
    low = review(KITCHEN, dict(base, facts=dict(initial, crcl=10, loading_dose=False)))
    assert low["outcome"] == "denied"
    assert {"criterion": "initial", "condition": "not crcl < 15", "facts": ["crcl"],
            "questions": ["What is the creatinine clearance (mL/min)?"],
            "answers": [10]} in low["unmet"]
    # An undecided OR asks for both of its facts.
    facts = dict(initial, tried=["triptan"], loading_dose=False)
    undecided = review(KITCHEN, dict(base, facts=facts))
    assert undecided["outcome"] == "needs_information"
    assert [m["fact"] for m in undecided["missing"]] == ["started"]


# ---------------------------------------------------------------------------------------------
# Approval dates


@pytest.mark.parametrize("start, amount, unit, through", [
    ("2026-01-15", 1, "years", "2027-01-14"),
    ("2026-01-01", 1, "years", "2026-12-31"),
    ("2024-02-29", 1, "years", "2025-02-28"),
    ("2024-02-29", 4, "years", "2028-02-28"),
    ("2026-01-31", 1, "months", "2026-02-28"),
    ("2026-01-30", 1, "months", "2026-02-28"),
    ("2026-01-28", 1, "months", "2026-02-27"),
    ("2026-03-31", 1, "months", "2026-04-30"),
    ("2026-08-15", 6, "months", "2027-02-14"),
    ("2026-01-15", 30, "days", "2026-02-13"),
    ("2026-01-15", 1, "days", "2026-01-15"),
    ("2026-01-15", 2, "weeks", "2026-01-28"),
    ("9999-06-01", 1, "years", "9999-12-31"),
    ("9999-12-20", 30, "days", "9999-12-31"),
])
def test_effective_through_is_the_day_before_the_anniversary(start: str, amount: int, unit: str,
                                                             through: str) -> None:
    assert rt.approval_through(dt.date.fromisoformat(start), amount, unit).isoformat() == through


def test_one_time_approval_is_one_fill_within_30_days(evaluators) -> None:
    review, evaluate = evaluators
    request = {"product": "tabs-10mg", "request_date": "2026-02-20",
               "facts": {"loading_dose": True, "crcl": 45}}
    result = review(KITCHEN, request)
    assert result["criterion"] == "titration"
    authorization = result["authorization"]
    assert authorization["max_fills"] == 1
    assert authorization["effective_from"] == "2026-02-20"
    assert authorization["effective_through"] == "2026-03-21"
    claim = {"claim_id": "t-1", "date_of_service": "2026-03-01", "product": "tabs-10mg",
             "package": "bottle-30", "quantity": "100", "unit": "each", "days_supply": 30,
             "channel": "retail", "authorizations": [authorization]}
    assert evaluate(KITCHEN, claim)["outcome"] == "paid"
    first_fill = {"claim_id": "t-1", "date_of_service": "2026-03-01", "product": "tabs-10mg",
                  "quantity": "100", "status": "paid"}
    again = dict(claim, claim_id="t-2", date_of_service="2026-03-05", quantity="10",
                 history=[first_fill])
    decision = evaluate(KITCHEN, again)
    assert decision["outcome"] == "rejected" and decision["limit"]["source"] == "base"


# ---------------------------------------------------------------------------------------------
# Renewal


RENEWAL_FACTS = {"improved": True, "adverse_effects": False, "diagnosis": "other"}
INITIAL_APPROVAL = {"id": "pa-1", "criterion": "initial", "products": ["tabs-10mg"],
                    "effective_from": "2025-07-01", "effective_through": "2025-12-31"}


def test_renewal_needs_an_earlier_authorization_of_the_renewed_criterion(evaluators) -> None:
    review, _ = evaluators
    request = {"product": "tabs-10mg", "request_date": "2026-01-15", "facts": RENEWAL_FACTS}
    without = review(KITCHEN, dict(request, facts=dict(RENEWAL_FACTS, loading_dose=False)))
    assert without["outcome"] == "denied"
    assert {"criterion": "renewal", "condition": "an earlier authorization under initial",
            "facts": ["prior_authorization"], "questions": [rt.RENEWAL_QUESTION],
            "answers": [None]} in without["unmet"]
    renewed = review(KITCHEN, dict(request, prior_authorization=INITIAL_APPROVAL))
    assert renewed["outcome"] == "approved" and renewed["criterion"] == "renewal"
    assert renewed["authorization"]["effective_through"] == "2027-01-14"  # 12 months
    renewed_before = dict(INITIAL_APPROVAL, criterion="renewal")
    again = review(KITCHEN, dict(request, prior_authorization=renewed_before))
    assert again["criterion"] == "renewal"  # a renewal renews itself too


@pytest.mark.parametrize("prior, outcome", [
    (dict(INITIAL_APPROVAL, criterion="titration"), "denied"),  # not the renewed criterion
    (dict(INITIAL_APPROVAL, effective_from="2026-02-01", effective_through="2026-12-31"), "denied"),
    (dict(INITIAL_APPROVAL, products=["test-strips"]), "denied"),  # another product
    (dict(INITIAL_APPROVAL, products=["tabexa"]), "approved"),  # the product's group
    (dict(INITIAL_APPROVAL, effective_through="2025-01-01"), "needs_information"),  # unreadable
])
def test_which_prior_authorizations_renew(evaluators, prior: dict, outcome: str) -> None:
    review, _ = evaluators
    facts = dict(RENEWAL_FACTS, loading_dose=False)
    result = review(KITCHEN, {"product": "tabs-10mg", "request_date": "2026-01-15", "facts": facts,
                              "prior_authorization": prior})
    assert result["outcome"] == outcome
    if outcome == "needs_information":
        assert [m["fact"] for m in result["missing"]] == ["prior_authorization"]
        assert result["invalid"][0]["field"] == "prior_authorization"


# ---------------------------------------------------------------------------------------------
# Review → evaluate: the approval makes the over-limit claim pay


@pytest.mark.parametrize("channel, quantity, days", [("retail", "60", 30),
                                                     ("home_delivery", "180", 90)])
def test_an_approval_makes_the_over_limit_claim_pay(evaluators, channel: str, quantity: str,
                                                    days: int) -> None:
    review, evaluate = evaluators
    claim = anzupgo_claim(quantity, days, channel, date_of_service="2026-06-01")
    assert evaluate(ANZUPGO, claim)["reject_code"] == "76"
    authorization = review(ANZUPGO, anzupgo_request())["authorization"]
    decision = evaluate(ANZUPGO, dict(claim, authorizations=[authorization]))
    assert decision["outcome"] == "paid"
    assert decision["limit"]["source"] == "override"
    assert decision["limit"]["authorization_id"] == authorization["id"]
    expired = evaluate(ANZUPGO, dict(claim, date_of_service="2027-01-15",
                                     authorizations=[authorization]))
    assert expired["reject_code"] == "76"


def test_an_approval_for_one_channel_covers_only_that_channel(evaluators) -> None:
    review, evaluate = evaluators
    result = review(ANZUPGO, anzupgo_request(channels=["retail"]))
    assert result["authorization"]["channels"] == ["retail"]
    assert [a["channel"] for a in result["approved"]] == ["retail"]
    authorization = result["authorization"]
    retail = anzupgo_claim("60", authorizations=[authorization])
    assert evaluate(ANZUPGO, retail)["outcome"] == "paid"
    home = anzupgo_claim("180", 90, "home_delivery", authorizations=[authorization])
    assert evaluate(ANZUPGO, home)["outcome"] == "rejected"


def test_the_registry_dispatches_reviews(package) -> None:
    titration = {"request_date": "2026-01-15", "facts": {"loading_dose": True, "crcl": 31}}
    for request in (anzupgo_request(), anzupgo_request(policy=None),
                    dict(titration, product=TABS_20_NDC), dict(titration, product="tabexa")):
        assert package.review(request) == interpreter.review_many(ALL, request)
        assert package.review(request)["outcome"] == "approved"
    nothing = {"product": "nothing", "request_date": "2026-01-15", "facts": {}}
    unknown = package.review(nothing)
    assert unknown == interpreter.review_many(ALL, nothing)
    assert unknown["outcome"] == "needs_information" and unknown["policy_id"] is None
    group = package.review(dict(titration, product="tabexa"))
    assert group["authorization"]["products"] == ["tabexa"]


def test_typed_requests_are_accepted(package) -> None:
    expected = interpreter.review(ANZUPGO, anzupgo_request())
    fields = {"request_date": dt.date(2026, 1, 15), "facts": ANSWERS, "policy": "anzupgo-dqm",
              "product": "anzupgo-2pct-cream"}
    assert interpreter.review(ANZUPGO, rt.ReviewRequest(**fields)) == expected
    # The generated package carries its own copy of the runtime, and accepts its own classes.
    assert package.review(package._runtime.ReviewRequest(**fields)) == expected


def test_reviews_never_raise_on_odd_facts(package) -> None:
    for facts in ({"sites": "hands"}, {"sites": [["hands"]]}, {"needs_more": None},
                  {"diagnosis": 3}, {"severity": {"a": 1}}, {1: True}):
        result = both_agree(ANZUPGO, anzupgo_request(facts), package)
        assert result["outcome"] in ("denied", "needs_information")


def test_a_generated_package_is_importable_twice(tmp_path: Path) -> None:
    first = import_package(write_generated([ANZUPGO], tmp_path / "a"))
    second = import_package(write_generated([ANZUPGO], tmp_path / "b"))
    assert first.review(anzupgo_request()) == second.review(anzupgo_request())


# ---------------------------------------------------------------------------------------------
# `approve requested` (daily-cream's as-requested criterion; the policy's approvals last 8 weeks)

ASKED = {"product": "daily-cream", "request_date": "2026-01-15", "channels": ["retail"],
         "facts": {"body_area": 5, "prescriber_justifies": True},
         "requested": {"quantity": "135", "unit": "g", "days": 30}}


def test_approve_requested_grants_the_requested_limit(evaluators) -> None:
    review, evaluate = evaluators
    result = review(DAILY, ASKED)
    assert result["outcome"] == "approved" and result["criterion"] == "as-requested"
    authorization = result["authorization"]
    assert authorization["limits"] == {"retail": {"quantity": "135", "unit": "g", "days": 30}}
    assert authorization["channels"] == ["retail"]
    assert authorization["effective_through"] == "2026-03-11"  # the policy's 8 weeks
    assert [a["text"] for a in result["approved"]] == ["135 g per 30 days"]
    claim = {"claim_id": "d-1", "date_of_service": "2026-02-01", "product": "daily-cream",
             "quantity": "135", "unit": "g", "days_supply": 30, "channel": "retail",
             "authorizations": [authorization]}
    decision = evaluate(DAILY, claim)
    assert decision["outcome"] == "paid"
    assert decision["limit"]["source"] == "override" and decision["limit"]["quantity"] == "135"
    assert evaluate(DAILY, dict(claim, quantity="136"))["outcome"] == "rejected"
    # only at the channel requested: home delivery keeps its base limit of 135 g per 90 days
    assert evaluate(DAILY, dict(claim, channel="home_delivery", quantity="136"))[
        "outcome"] == "rejected"


def test_approve_requested_per_fill_and_an_earlier_end(evaluators) -> None:
    review, _ = evaluators
    asked = dict(ASKED, requested={"quantity": "60", "unit": "GM", "through": "2026-02-01"})
    result = review(DAILY, asked)
    assert result["outcome"] == "approved"
    assert result["authorization"]["limits"] == {
        "retail": {"quantity": "60", "unit": "g", "days": None}}
    assert result["authorization"]["effective_through"] == "2026-02-01"  # before 8 weeks end
    later = dict(ASKED, requested={"quantity": "60", "unit": "g", "through": "2027-01-01"})
    assert review(DAILY, later)["authorization"]["effective_through"] == "2026-03-11"


def test_approve_requested_denied_or_undecided_like_any_criterion(evaluators) -> None:
    review, _ = evaluators
    denied = review(DAILY, dict(ASKED, facts={"body_area": 5, "prescriber_justifies": False}))
    assert denied["outcome"] == "denied" and denied["authorization"] is None
    undecided = review(DAILY, dict(ASKED, facts={"body_area": 5}))
    assert undecided["outcome"] == "needs_information"
    assert [m["fact"] for m in undecided["missing"]] == ["prescriber_justifies"]


@pytest.mark.parametrize("change, field", [
    ({"requested": None}, "requested"),
    ({"channels": None}, "channels"),
    ({"requested": {"quantity": "135", "unit": "mL", "days": 30}}, "requested.unit"),
    ({"requested": {"quantity": "0", "unit": "g"}}, "requested"),
    ({"requested": {"quantity": "135", "unit": "g", "days": 0}}, "requested"),
    ({"requested": {"quantity": "135", "unit": "g", "per": "month"}}, "requested"),
    ({"requested": {"quantity": "135", "unit": "g", "through": "2026-01-14"}},
     "requested.through"),
    ({"requested": "135 g"}, "requested"),
])
def test_approve_requested_never_approves_an_incomplete_request(evaluators, change: dict,
                                                                 field: str) -> None:
    review, _ = evaluators
    request = {k: v for k, v in dict(ASKED, **change).items() if v is not None}
    result = review(DAILY, request)
    assert result["outcome"] == "needs_information" and result["authorization"] is None
    assert field in [p["field"] for p in result["invalid"]], result["invalid"]


def test_approve_requested_with_no_stated_duration_needs_the_end_date() -> None:
    import dataclasses
    policy = dataclasses.replace(DAILY.policy, approval_duration=None)
    compiled = dataclasses.replace(DAILY, policy=policy)
    result = interpreter.review(compiled, ASKED)
    assert result["outcome"] == "needs_information"
    assert [p["field"] for p in result["invalid"]] == ["requested.through"]
    through = dict(ASKED, requested=dict(ASKED["requested"], through="2026-04-30"))
    approved = interpreter.review(compiled, through)
    assert approved["outcome"] == "approved"
    assert approved["authorization"]["effective_through"] == "2026-04-30"
    assert "max_fills" not in approved["authorization"]


# ---------------------------------------------------------------------------------------------
# `for initial requests` / `for renewal requests`: which requests a criterion is tried for


def _served(policy_id: str, serves: dict[str, str | None]) -> CompiledPolicy:
    """Kitchen sink with `initial` and `renewal` marked as the request kinds they serve."""
    criteria = tuple(dataclasses.replace(c, serves=serves.get(c.id, c.serves))
                     for c in KITCHEN.policy.criteria)
    policy = dataclasses.replace(KITCHEN.policy, id=policy_id, criteria=criteria)
    return CompiledPolicy(policy=policy, source=KITCHEN.source, content_hash=content_hash(policy))


SERVED = _served("kitchen-served", {"initial": "initial", "renewal": "renewal"})
RENEWAL_ONLY = _served("kitchen-renewal-only",
                       {"initial": "renewal", "renewal": "renewal", "titration": "renewal"})
INITIAL_FACTS = {"diagnosis": "migraine", "tried": ["nsaid"], "started": "2023-05-01",
                 "crcl": 60, "loading_dose": False}


@pytest.fixture(scope="module")
def served_package(tmp_path_factory: pytest.TempPathFactory):
    return import_package(write_generated((SERVED, RENEWAL_ONLY),
                                        tmp_path_factory.mktemp("served") / "python"))


def served_review(policy: CompiledPolicy, package, **request: object) -> dict:
    request = {"product": "tabs-10mg", "request_date": "2026-01-15", **request}
    return both_agree(policy, request, package)


def test_an_initial_request_is_tried_against_initial_criteria_only(served_package) -> None:
    both = {**INITIAL_FACTS, **RENEWAL_FACTS, "diagnosis": "migraine"}
    approved = served_review(SERVED, served_package, facts=both)
    assert approved["outcome"] == "approved" and approved["criterion"] == "initial"
    denied = served_review(SERVED, served_package, facts=dict(both, crcl=10))
    assert denied["outcome"] == "denied"
    # the renewal criterion serves renewal requests: it is not listed as failing
    assert {u["criterion"] for u in denied["unmet"]} == {"titration", "initial"}


def test_a_renewal_request_failing_the_renewal_is_denied_though_initial_holds(
        served_package) -> None:
    facts = dict(INITIAL_FACTS, improved=False, adverse_effects=False)
    assert KITCHEN.policy.criteria[1].id == "initial"
    today = interpreter.review(KITCHEN, {"product": "tabs-10mg", "request_date": "2026-01-15",
                                         "facts": facts, "prior_authorization": INITIAL_APPROVAL})
    assert today["criterion"] == "initial"  # unmarked: the initial criterion still approves
    denied = served_review(SERVED, served_package, facts=facts,
                           prior_authorization=INITIAL_APPROVAL)
    assert denied["outcome"] == "denied"
    assert [(u["criterion"], u["condition"]) for u in denied["unmet"]
            if u["criterion"] != "titration"] == [("renewal", "improved == true")]
    renewed = served_review(SERVED, served_package, facts=dict(facts, improved=True),
                            prior_authorization=INITIAL_APPROVAL)
    assert renewed["outcome"] == "approved" and renewed["criterion"] == "renewal"


@pytest.mark.parametrize("prior, kind", [
    (INITIAL_APPROVAL, "renewal"),
    (dict(INITIAL_APPROVAL, criterion="titration"), "renewal"),  # any earlier authorization
    (dict(INITIAL_APPROVAL, status="revoked"), "renewal"),  # it was granted
    (dict(INITIAL_APPROVAL, products=["tabexa"]), "renewal"),  # the product's group
    (dict(INITIAL_APPROVAL, products=["test-strips"]), "initial"),  # another product
    (dict(INITIAL_APPROVAL, effective_from="2026-02-01", effective_through="2026-12-31"),
     "initial"),  # not earlier
])
def test_which_requests_are_renewal_requests(served_package, prior: dict, kind: str) -> None:
    facts = dict(INITIAL_FACTS, improved=False, adverse_effects=False)
    result = served_review(SERVED, served_package, facts=facts, prior_authorization=prior)
    # initial's condition holds and renewal's fails: the kind of request decides
    assert result["outcome"] == ("approved" if kind == "initial" else "denied")


def test_an_unreadable_prior_authorization_leaves_the_kind_of_request_open(served_package) -> None:
    broken = dict(INITIAL_APPROVAL, effective_through="2025-01-01")
    facts = dict(INITIAL_FACTS, improved=False, adverse_effects=False)
    result = served_review(SERVED, served_package, facts=facts, prior_authorization=broken)
    assert result["outcome"] == "needs_information"
    assert [m["fact"] for m in result["missing"]] == ["prior_authorization"]
    # the renewal criterion `renews initial`: its more precise question is asked
    assert result["missing"][0]["question"] == rt.RENEWAL_QUESTION
    failing = served_review(SERVED, served_package, facts=dict(facts, crcl=10),
                            prior_authorization=broken)
    assert failing["outcome"] == "denied"  # neither could hold, whatever the request is


def test_no_criterion_serves_the_request_is_denied_saying_why(served_package) -> None:
    result = served_review(RENEWAL_ONLY, served_package,
                           facts={**INITIAL_FACTS, **RENEWAL_FACTS, "diagnosis": "migraine"})
    assert result["outcome"] == "denied"
    assert {(u["criterion"], u["condition"], tuple(u["facts"])) for u in result["unmet"]} == {
        (c, rt.SERVES_CONDITION["renewal"], ("prior_authorization",))
        for c in ("titration", "initial", "renewal")}
    assert result["unmet"][0]["questions"] == [rt.EARLIER_QUESTION]


# `approvals last as requested` and `one time or as requested` (daily-cream's as-requested
# criterion with its own duration; the policy's 8 weeks no longer applies to it)

def _lasting(kind: str) -> CompiledPolicy:
    import dataclasses

    from dqmc.lang.ir import nodes
    from dqmc.lang.ir.canonical import content_hash
    policy = DAILY.policy
    criteria = tuple(dataclasses.replace(c, duration=nodes.Duration(kind=kind))  # type: ignore[arg-type]
                     if c.approves_requested else c for c in policy.criteria)
    policy = dataclasses.replace(policy, id=f"daily-cream-{kind.replace('_', '-')}",
                                 criteria=criteria)
    return CompiledPolicy(policy=policy, source=DAILY.source, content_hash=content_hash(policy))


AS_REQUESTED, ONCE_OR_REQUESTED = _lasting("as_requested"), _lasting("one_time_or_requested")


@pytest.fixture(scope="module")
def lasting_package(tmp_path_factory: pytest.TempPathFactory):
    return import_package(write_generated([AS_REQUESTED, ONCE_OR_REQUESTED],
                                        tmp_path_factory.mktemp("lasting") / "python"))


@pytest.fixture(params=["interpreter", "generated"])
def lasting_review(request: pytest.FixtureRequest, lasting_package) -> Review:
    if request.param == "interpreter":
        return interpreter.review
    return lambda c, r: policy_module(lasting_package, c.policy.id).review(r)


def _asking(through: str | None) -> dict:
    asked = {"quantity": "135", "unit": "g", "days": 30}
    if through is not None:
        asked["through"] = through
    return dict(ASKED, requested=asked)


def test_as_requested_lasts_through_the_requested_date(lasting_review) -> None:
    for through in ("2026-01-15", "2026-03-11", "2027-06-30"):  # past the policy's 8 weeks too
        result = lasting_review(AS_REQUESTED, _asking(through))
        assert result["outcome"] == "approved", result
        assert result["authorization"]["effective_through"] == through
        assert "max_fills" not in result["authorization"]


def test_as_requested_needs_the_through_date(lasting_review) -> None:
    result = lasting_review(AS_REQUESTED, _asking(None))
    assert result["outcome"] == "needs_information" and result["authorization"] is None
    assert [p["field"] for p in result["invalid"]] == ["requested.through"]
    assert "last as requested" in str(result["invalid"][0])


@pytest.mark.parametrize("compiled", [AS_REQUESTED, ONCE_OR_REQUESTED],
                         ids=["as-requested", "one-time-or-as-requested"])
def test_a_through_date_before_the_request_needs_information(lasting_review,
                                                              compiled: CompiledPolicy) -> None:
    result = lasting_review(compiled, _asking("2026-01-14"))
    assert result["outcome"] == "needs_information" and result["authorization"] is None
    assert [p["field"] for p in result["invalid"]] == ["requested.through"]


def test_one_time_or_as_requested(lasting_review) -> None:
    dated = lasting_review(ONCE_OR_REQUESTED, _asking("2026-09-30"))
    assert dated["outcome"] == "approved"
    assert dated["authorization"]["effective_through"] == "2026-09-30"
    assert "max_fills" not in dated["authorization"]
    once = lasting_review(ONCE_OR_REQUESTED, _asking(None))
    assert once["outcome"] == "approved"
    assert once["authorization"]["max_fills"] == 1
    assert once["authorization"]["effective_through"] == "2026-02-13"  # one fill within 30 days


def test_lasting_as_requested_agrees_and_never_raises(lasting_package) -> None:
    for compiled in (AS_REQUESTED, ONCE_OR_REQUESTED):
        module = policy_module(lasting_package, compiled.policy.id)
        for requested in (None, "x", {"quantity": "1", "unit": "g", "through": "soon"},
                          {"quantity": "1", "unit": "g", "through": "2026-01-15"}, [], 7):
            request = dict(ASKED, requested=requested)
            assert module.review(request) == interpreter.review(compiled, request)
