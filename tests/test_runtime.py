"""The standard-library runtime: reading claims (every reject code), texts, dates, decision JSON."""

from __future__ import annotations

import ast
import copy
import datetime as dt
import json
import pickle
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from dqmc import runtime as rt

ENTRY = {"claim_id": "c-0", "date_of_service": "2026-02-10", "product": "anzupgo-2pct-cream",
         "quantity": "30", "days_supply": 30, "channel": "retail", "status": "paid"}
AUTH = {"id": "pa-7", "criterion": "additional-quantity", "products": ["anzupgo-2pct-cream"],
        "effective_from": "2026-01-15", "effective_through": "2027-01-14"}
CLAIM = {"claim_id": "c-1", "date_of_service": "2026-03-01", "product": "anzupgo-2pct-cream",
         "quantity": "30", "unit": "g", "days_supply": 30, "channel": "retail",
         "member": {"birth_date": "1980-04-02"}, "history": [ENTRY], "authorizations": [AUTH]}


def parse(**changes: object) -> rt.Claim | rt.Rejection:
    claim = dict(CLAIM)
    claim.update(changes)
    return rt.parse_claim(claim)


def code_of(**changes: object) -> str | None:
    parsed = parse(**changes)
    return parsed.code if isinstance(parsed, rt.Rejection) else None


def test_a_claim_reads_into_typed_fields() -> None:
    claim = rt.parse_claim(CLAIM)
    assert isinstance(claim, rt.Claim)
    assert claim.date_of_service == dt.date(2026, 3, 1)
    assert claim.quantity == Decimal(30) and claim.days_supply == 30
    assert claim.birth_date == dt.date(1980, 4, 2)
    assert claim.history == (rt.HistoryEntry(
        date_of_service=dt.date(2026, 2, 10), quantity=Decimal(30), status="paid", claim_id="c-0",
        product="anzupgo-2pct-cream", days_supply=30, channel="retail"),)
    assert claim.authorizations[0].effective_through == dt.date(2027, 1, 14)
    assert claim.authorizations[0].status == "active" and claim.authorizations[0].limits == ()


def test_typed_instances_read_back_to_the_same_claim() -> None:
    claim = rt.parse_claim(CLAIM)
    assert rt.parse_claim(claim) == claim
    assert rt.parse_claim(claim.to_dict()) == claim
    hand_built = rt.Claim(date_of_service=dt.date(2026, 3, 1), quantity=Decimal("30.0"),
                          unit="GM", days_supply=30, channel="retail", product="p",
                          history=(claim.history[0],), authorizations=claim.authorizations)
    assert isinstance(rt.parse_claim(hand_built), rt.Claim)
    assert rt.parse_claim(hand_built).unit == "g"


def test_hand_built_instances_are_checked_like_any_input() -> None:
    fields = {"date_of_service": dt.date(2026, 3, 1), "quantity": Decimal(1), "unit": "g",
              "days_supply": 30, "channel": "retail", "product": "p"}
    bad = rt.Claim(**dict(fields, quantity=Decimal(-1)))
    assert rt.parse_claim(bad).code == "E7"  # type: ignore[union-attr]
    sneaky = rt.Claim(**dict(fields, history="nothing to see"))
    assert rt.parse_claim(sneaky).code == "85"  # type: ignore[union-attr]
    odd_entry = rt.HistoryEntry(date_of_service=dt.date(2026, 1, 1), quantity=Decimal("NaN"),
                                status="paid", product="p")
    assert rt.parse_claim(dict(CLAIM, history=[odd_entry])).code == "85"  # type: ignore[union-attr]


@pytest.mark.parametrize("value, expected", [
    ("30", Decimal(30)), ("30.5", Decimal("30.5")), ("0.001", Decimal("0.001")),
    ("030", Decimal(30)), ("30.000", Decimal(30)), ("30.0000", Decimal(30)),
    ("9999999.999", Decimal("9999999.999")), (30, Decimal(30)), (30.0, Decimal(30)),
    (12.5, Decimal("12.5")), (Decimal("2.25"), Decimal("2.25")),
    ("0", None), ("-1", None), ("+1", None), ("1e3", None), ("1E3", None), (" 30", None),
    ("30 ", None), ("3,0", None), ("", None), (".5", None), ("5.", None), ("٣٠", None),
    ("３０", None), ("30.0001", None),
    ("10000000", None), (10 ** 400, None), (True, None), (False, None), (None, None),
    (float("nan"), None), (float("inf"), None), (-0.0, None), (1e-7, None), (Decimal("NaN"), None),
    (Decimal("Infinity"), None), (Decimal("1E+999999"), None), ([30], None), ({"q": 30}, None),
    ("1" * 10_000, None),
])
def test_quantities(value: object, expected: Decimal | None) -> None:
    assert rt.read_quantity(value) == expected
    assert rt.read_quantity(value) == expected  # and again, from the cache


@pytest.mark.parametrize("value, expected", [
    ("2026-03-01", dt.date(2026, 3, 1)), ("2024-02-29", dt.date(2024, 2, 29)),
    ("0001-01-01", dt.date.min),
    ("9999-12-31", dt.date.max), (dt.date(2026, 3, 1), dt.date(2026, 3, 1)),
    ("2026-02-29", None), ("2026-13-01", None), ("2026-00-10", None), ("0000-01-01", None),
    ("20260301", None), ("2026-W09-1", None), ("2026-03-01T00:00", None), ("2026-3-1", None),
    ("２０２６-03-01", None), (" 2026-03-01", None), (20260301, None), (None, None),
    (dt.datetime(2026, 3, 1), None),
])
def test_dates(value: object, expected: dt.date | None) -> None:
    assert rt.read_date(value) == expected


def test_days_supply_and_ndcs() -> None:
    assert [rt.read_days(v) for v in (1, 999, 0, 1000, True, 30.0, "30", -1)] == [
        1, 999, None, None, None, None, None, None]
    assert rt.read_ndc("00574407205") == "00574407205"
    assert [rt.read_ndc(v) for v in ("0574-4072-05", "0057440720", "005744072050", "0057440720a",
                                     "٠٠٥٧٤٤٠٧٢٠٥", 574407205, None)] == [None] * 7


@pytest.mark.parametrize("changes, code", [
    ({"claim_id": ""}, "85"), ({"claim_id": 1}, "85"),
    ({"quantity": None}, "E7"), ({"quantity": "0"}, "E7"),
    ({"days_supply": None}, "19"), ({"days_supply": 0}, "19"),
    ({"date_of_service": "2026-02-30"}, "15"),
    ({"product": None}, "21"), ({"product": 5}, "21"), ({"ndc": "123"}, "21"),
    ({"package": ""}, "21"),
    ({"unit": None}, "26"), ({"unit": ""}, "26"), ({"unit": ["g"]}, "26"),
    ({"channel": None}, "U7"), ({"channel": ""}, "U7"),
    ({"member": []}, "09"), ({"member": {"birth_date": "1980-02-30"}}, "09"),
    ({"member": {"birth_date": "2026-03-02"}}, "09"),
    ({"history": {}}, "85"), ({"history": ["x"]}, "85"),
    ({"authorizations": "pa-7"}, "85"), ({"authorizations": [{}]}, "85"),
])
def test_reject_codes(changes: dict, code: str) -> None:
    assert code_of(**changes) == code


def test_the_first_problem_in_the_documented_order_decides() -> None:
    everything_wrong = {"claim_id": 1, "quantity": "0", "days_supply": 0, "date_of_service": "x",
                        "product": None, "unit": None, "channel": None, "history": "x"}
    order = ["85", "E7", "19", "15", "21", "26", "U7", "85"]
    fixed = dict(CLAIM)
    for index, code in enumerate(order):
        broken = dict(fixed)
        broken.update({k: v for i, (k, v) in enumerate(everything_wrong.items()) if i >= index})
        assert rt.parse_claim(broken).code == code, index  # type: ignore[union-attr]


def test_optional_fields_may_be_absent_or_null() -> None:
    required = ("date_of_service", "product", "quantity", "unit", "days_supply", "channel")
    claim = {k: CLAIM[k] for k in required}
    parsed = rt.parse_claim(claim)
    assert isinstance(parsed, rt.Claim) and parsed.claim_id is None and parsed.history == ()
    nulls = dict(claim, claim_id=None, ndc=None, package=None, member=None, history=None,
                 authorizations=None)
    assert rt.parse_claim(nulls) == parsed
    assert isinstance(rt.parse_claim(dict(claim, member={})), rt.Claim)
    assert isinstance(rt.parse_claim(dict(claim, product=None, ndc="00574407205")), rt.Claim)


def test_unknown_keys_are_ignored_and_units_normalised() -> None:
    assert rt.parse_claim(dict(CLAIM, pharmacy="x", unit="GM")) == rt.parse_claim(CLAIM)
    assert rt.parse_claim(dict(CLAIM, unit="kg")).unit == "kg"  # type: ignore[union-attr]  # PZ is the policy's call


GOOD_ENTRY = {"date_of_service": "2026-01-01", "product": "p", "quantity": "1", "status": "paid"}


@pytest.mark.parametrize("changes, problem", [
    ({"date_of_service": None}, "date_of_service is missing"),
    ({"product": None}, "neither product nor ndc"),
    ({"quantity": None}, "quantity is missing"),
    ({"status": None}, "status is missing"),
    ({"status": "rejected"}, "status 'rejected'"),
    ({"days_supply": 0}, "days_supply 0"),
    ({"channel": 3}, "channel is not"),
    ({"claim_id": ""}, "claim_id is not"),
])
def test_history_entry_problems(changes: dict, problem: str) -> None:
    assert isinstance(rt.parse_history_entry(GOOD_ENTRY), rt.HistoryEntry)
    found = rt.parse_history_entry(dict(GOOD_ENTRY, **changes))
    assert isinstance(found, str) and problem in found
    assert rt.parse_history_entry("entry") == "not an object"


@pytest.mark.parametrize("changes, problem", [
    ({"id": ""}, "id is not"), ({"products": "p"}, "products is not"),
    ({"products": [""]}, "products is not"),
    ({"effective_from": None}, "effective_from is missing"),
    ({"effective_through": "2026-01-14"}, "effective_through is before"),
    ({"criterion": 7}, "criterion is not"), ({"channels": []}, "channels is not"),
    ({"status": "paused"}, "status 'paused'"), ({"max_fills": True}, "max_fills True"),
    ({"criterion": None}, "no criterion and carries no limits"),
    ({"limits": {}}, "limits is not"), ({"limits": {"retail": "60 g"}}, "limits.retail is not"),
    ({"limits": {"retail": {"quantity": "60", "unit": "kg"}}}, "limits.retail.unit"),
    ({"limits": {"retail": {"quantity": "0", "unit": "g"}}}, "limits.retail.quantity"),
    ({"limits": {"retail": {"quantity": "60", "unit": "g", "days": 0}}}, "limits.retail.days"),
])
def test_authorization_problems(changes: dict, problem: str) -> None:
    found = rt.parse_authorization(dict(AUTH, **changes))
    assert isinstance(found, str) and problem in found, found


def test_authorization_with_explicit_limits_round_trips() -> None:
    record = dict(AUTH, criterion=None, status="revoked", max_fills=1, channels=["retail"],
                  limits={"retail": {"quantity": "60", "unit": "GM", "days": 30},
                          "home_delivery": {"quantity": "180", "unit": "g", "days": None}})
    parsed = rt.parse_authorization(record)
    assert isinstance(parsed, rt.Authorization)
    assert parsed.limits == (
        rt.GrantedLimit(channel="retail", quantity=Decimal(60), unit="g", days=30),
        rt.GrantedLimit(channel="home_delivery", quantity=Decimal(180), unit="g"))
    assert rt.parse_authorization(parsed.to_dict()) == parsed
    assert rt.parse_authorization(parsed) == parsed


# ---------------------------------------------------------------------------------------------
# Texts


def test_messages_are_at_most_40_upper_case_ascii_characters() -> None:
    assert rt.message("QL 30 g per 30 days") == "QL 30 G PER 30 DAYS"
    assert rt.message("x" * 50) == "X" * 40
    assert rt.message("bad entry Ünï\ncode") == "BAD ENTRY ?N??CODE"
    largest = rt.rule_message("per_window", Decimal("9999999.999"), "each", 3660)
    assert largest == "QL 9999999.999 EA PER 3660 DAYS"
    per_day = rt.rule_message("per_day", Decimal(2), "mL", 1, max_days=5)
    assert per_day == "QL 2 ML PER DAY UP TO 5 DAYS"
    assert rt.rule_message("fills_per_window", None, None, 23, fills=1) == "QL 1 FILL PER 23 DAYS"
    assert rt.rule_message("days_supply_max", None, None, 34) == "DAYS SUPPLY LIMIT 34"
    assert rt.rule_message("therapy_max", None, None, 14) == "THERAPY LIMIT 14 DAYS"
    for kind in ("per_window", "per_fill", "per_day", "fills_per_window", "days_supply_max",
                 "therapy_max"):
        line = rt.rule_message(kind, Decimal("1234567.125"), "each", 3660, fills=99, max_days=3660)
        assert len(line) <= 40 and line == line.upper()


def test_rule_texts() -> None:
    assert rt.rule_text("per_window", Decimal("30.0"), "g", 30) == "30 g per 30 days"
    assert rt.rule_text("per_window", Decimal(1), "each", 1) == "1 each per 1 day"
    assert rt.rule_text("per_fill", Decimal("0.5"), "mL", None) == "0.5 mL per fill"
    per_day = rt.rule_text("per_day", Decimal(2), "each", 1, max_days=5)
    assert per_day == "2 each per day for up to 5 days"
    assert rt.rule_text("fills_per_window", None, None, 365, fills=2) == "2 fills per 365 days"
    assert rt.rule_text("days_supply_max", None, None, 90) == "days supply at most 90"
    assert rt.rule_text("therapy_max", None, None, 1) == "therapy at most 1 day"


@pytest.mark.parametrize("value, text", [
    (Decimal("30.000"), "30"), (Decimal(0), "0"), (Decimal("0.500"), "0.5"),
    (Decimal("1E+1"), "10"), (Decimal("9999999.999"), "9999999.999"),
    (Decimal("123456789012345.001"), "123456789012345.001"),
])
def test_quantity_text(value: Decimal, text: str) -> None:
    assert rt.quantity_text(value) == text


# ---------------------------------------------------------------------------------------------
# Dates


def test_windows_ages_and_the_ends_of_the_calendar() -> None:
    assert rt.window_start(dt.date(2026, 3, 1), 30) == dt.date(2026, 1, 31)
    assert rt.window_start(dt.date(2026, 3, 1), 1) == dt.date(2026, 3, 1)
    assert rt.window_start(dt.date(1, 1, 5), 30) == dt.date.min
    assert rt.age_on(dt.date(1980, 4, 2), dt.date(2026, 4, 1)) == 45
    assert rt.age_on(dt.date(1980, 4, 2), dt.date(2026, 4, 2)) == 46
    assert rt.age_on(dt.date(2008, 2, 29), dt.date(2026, 2, 28)) == 17
    assert rt.age_on(dt.date(2008, 2, 29), dt.date(2026, 3, 1)) == 18


def test_approval_periods() -> None:
    day = dt.date(2026, 1, 15)
    assert rt.approval_period(day, "fixed", 1, "years") == (dt.date(2027, 1, 14), None)
    assert rt.approval_period(day, "one_time", 0, None) == (dt.date(2026, 2, 13), 1)
    assert rt.approval_period(day, "one_time", 2, "weeks") == (dt.date(2026, 1, 28), 1)
    assert rt.approval_period(dt.date(9999, 12, 1), "fixed", 5, "years") == (dt.date.max, None)


# ---------------------------------------------------------------------------------------------
# Decisions as JSON and as typed values


def test_decision_json_round_trips_through_the_typed_view() -> None:
    limit = rt.AppliedLimit("per_window", Decimal(30), "g", 30, "30 g per 30 days")
    check = rt.RuleCheck("accumulate", False, limit, Decimal(0), Decimal(30), dt.date(2026, 1, 31),
                         dt.date(2026, 3, 1), "window ...", "policy_specs/anzupgo.dqm:17",
                         "QL 30 G PER 30 DAYS")
    claim = rt.parse_claim(CLAIM)
    assert isinstance(claim, rt.Claim)
    decision = rt.conclude(claim, "anzupgo-dqm", "sha256:0", "76", "g", Decimal(30),
                           [rt.validated_step("policy_specs/anzupgo.dqm:3")], [check])
    assert decision["messages"] == ["QL 30 G PER 30 DAYS", "MAX ALLOWED NOW 0 G"]
    assert decision["window"] == {"start": "2026-01-31", "end": "2026-03-01"}
    assert decision["prior_quantity"] == "30" and decision["total_quantity"] == "60"
    assert decision["max_allowed_packages"] == 0
    typed = rt.Decision.from_dict(decision)
    assert typed.trace[-1] == rt.TraceStep(
        "decide", "fail", "rejected 76: 30 g per 30 days exceeded; max allowed now 0 g",
        "policy_specs/anzupgo.dqm:17")
    assert typed.to_dict() == decision


def test_rejections_and_not_applicable_carry_every_field() -> None:
    rejection = rt.parse_claim({"quantity": "x"})
    assert isinstance(rejection, rt.Rejection)
    decision = rt.rejected_input(rejection, None, None, None)
    assert decision["outcome"] == "rejected" and decision["reject_code"] == "E7"
    assert decision["messages"] == ["M/I QUANTITY DISPENSED"]
    assert rt.Decision.from_dict(decision).to_dict() == decision
    claim = rt.parse_claim(CLAIM)
    skipped = rt.not_applicable(claim, None, None, [], ("match", "skip", "no policy", None))  # type: ignore[arg-type]
    assert skipped["reject_code"] is None and skipped["requested_quantity"] == "30"
    assert rt.Decision.from_dict(skipped).to_dict() == skipped


def test_review_results_render_to_json() -> None:
    request, problems = rt.parse_review_request({
        "request_date": "2026-01-15", "facts": {"a": True}, "channel": "retail",
        "prior_authorization": {"id": "x"}})
    assert request is not None and request.channels == ("retail",)
    assert [p.field for p in problems] == ["prior_authorization"]
    assert rt.parse_review_request(request)[0] == request
    refused = rt.review_refused([rt.Problem("request_date", "missing")], "p", "h").to_dict()
    assert refused == {"outcome": "needs_information", "policy_id": "p", "policy_hash": "h",
                       "criterion": None, "authorization": None, "approved": [], "unmet": [],
                       "missing": [], "invalid": [{"field": "request_date", "reason": "missing"}]}


def test_three_valued_logic() -> None:
    yes, no, unknown = rt.leaf(True, "a"), rt.leaf(False, "b"), rt.leaf(None, "c")
    assert rt.all_of(yes, unknown) == (None, (), ("c",))
    assert rt.all_of(no, unknown) == (False, ("b",), ())
    assert rt.any_of(no, unknown) == (None, (), ("c",))
    assert rt.any_of(yes, unknown)[0] is True
    assert rt.any_of(no, rt.leaf(False, "d")) == (False, ("b", "d"), ())
    assert rt.negation(yes, "not a") == (False, ("not a",), ())
    assert rt.negation(unknown, "not c") == (None, (), ("c",))


def test_the_runtime_imports_only_the_standard_library() -> None:
    # Generated packages carry the runtime as `_runtime/`: its modules may import each other
    # (relatively) and the standard library, nothing else.
    folder = Path(rt.__file__).parent
    siblings = {path.stem for path in folder.glob("*.py")}
    modules: set[str] = set()
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules |= {alias.name.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.Import) for alias in node.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    assert node.level == 1 and node.module in siblings, (path.name, node.module)
                else:
                    modules.add((node.module or "").split(".")[0])
    assert len(siblings) > 1 and modules <= {"__future__", "collections", "datetime", "decimal",
                                             "math", "contextlib", "typing"}, modules


def test_the_runtime_loads_without_heavy_imports() -> None:
    # A service's first decision pays for every import of the runtime (cold start).
    script = (
        "import importlib.util, json, os, sys\n"
        f"spec = importlib.util.spec_from_file_location('runtime_alone', {rt.__file__!r},\n"
        f"    submodule_search_locations=[os.path.dirname({rt.__file__!r})])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['runtime_alone'] = module\n"
        "before = set(sys.modules)\n"
        "spec.loader.exec_module(module)\n"
        "print(json.dumps(sorted(m for m in set(sys.modules) - before\n"
        "                        if not m.startswith('runtime_alone.'))))\n")
    run = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True,
                         check=True)
    loaded = set(json.loads(run.stdout))
    assert loaded <= {"__future__", "_datetime", "_decimal", "collections", "collections.abc",
                      "datetime", "decimal", "math", "numbers"}, loaded


def test_value_classes_are_frozen_comparable_hashable_and_copyable() -> None:
    claim = rt.parse_claim(CLAIM)
    assert isinstance(claim, rt.Claim)
    with pytest.raises(AttributeError):
        claim.quantity = Decimal(1)  # type: ignore[misc]
    assert copy.deepcopy(claim) == claim and pickle.loads(pickle.dumps(claim)) == claim
    assert hash(copy.copy(claim)) == hash(claim)
    assert claim != rt.parse_claim(dict(CLAIM, quantity="31"))
    assert rt.Problem("a", "b") != ("a", "b")
    assert repr(rt.Problem("a", "b")) == "Problem(field='a', reason='b')"
    with pytest.raises(TypeError):
        # keywords only, as the dataclass was
        rt.HistoryEntry(dt.date(2026, 1, 1), Decimal(1), "paid")  # type: ignore[misc]


def test_records_the_readers_make_are_the_records_keywords_make() -> None:
    """The readers build records positionally (values._positional): the same records as
    keyword construction, defaults included, and as frozen."""
    authorization = rt.parse_authorization(
        {"id": "pa-1", "products": ["cream"], "effective_from": "2026-01-01",
         "effective_through": "2026-12-31", "criterion": "more"})
    assert authorization == rt.Authorization(
        id="pa-1", products=("cream",), effective_from=dt.date(2026, 1, 1),
        effective_through=dt.date(2026, 12, 31), criterion="more")
    entry = rt.parse_history_entry({"date_of_service": "2026-01-02", "quantity": "5",
                                    "status": "paid", "product": "cream"})
    assert entry == rt.HistoryEntry(date_of_service=dt.date(2026, 1, 2), quantity=Decimal(5),
                                    status="paid", product="cream")
    assert (entry.unit, entry.package_size, entry.claim_id) == (None, None, None)
    for record in (authorization, entry):
        with pytest.raises(AttributeError):
            record.id = "changed"  # type: ignore[union-attr]


@pytest.mark.parametrize("value", ["30", "030", "30.5", "30.000", "0.001", "9999999.999", 30, 1,
                                   9999999, "0", "-1", "1e3", " 30", "٣٠", "", 0, 10 ** 7, True,
                                   30.0, Decimal(30), None, [30]])
def test_quantities_in_thousandths(value: object) -> None:
    quantity = rt.read_quantity(value)
    milli = rt.read_milli(value)
    if type(value) not in (str, int):
        assert milli is None  # other types go through read_quantity and rt.milli
    elif quantity is None:
        assert milli is None
    else:
        assert milli == rt.milli(quantity) and Decimal(milli) / 1000 == quantity
        assert rt.milli_text(milli) == rt.quantity_text(quantity)
        assert rt.MILLI.get(value, milli) == milli  # type: ignore[call-overload]


def test_texts_of_thousandths_and_ordinals() -> None:
    for milli in (0, 1, 10, 500, 1000, 12500, 30000, 9999999999, 123456789012345001):
        assert rt.milli_text(milli) == rt.quantity_text(Decimal(milli) / 1000)
    for day in (dt.date.min, dt.date(2024, 2, 29), dt.date.max):
        assert rt.day_text(day.toordinal()) == day.isoformat()
        assert rt.read_ordinal(day.isoformat()) == day.toordinal()
    assert rt.read_ordinal("2026-02-29") is None and rt.read_ordinal(dt.date(2026, 1, 1)) is None
    assert rt.age_between(dt.date(2008, 2, 29).toordinal(), dt.date(2026, 3, 1).toordinal()) == 18
