"""Differential tests: generated code and interpreter agree on every field; JSON never pays."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable, Sequence

import pytest
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ir_samples import SAMPLES, anzupgo_claim, import_package, policy_module

from dqmc import interpreter
from dqmc.codegen.loader import write_generated
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.ir import queries
from dqmc.lang.pipeline import compile_paths

# Bulk: per policy, BULK_EXAMPLES examples of BULK_CLAIMS claims each, every claim decided by both
# evaluators directly and through both registries: 3 × 720 × 10 = 21,600 claims. The claims come
# from a Random that Hypothesis seeds (its own draws cost ~100 µs each, too slow for this many);
# a smaller run draws the same claims through Hypothesis itself, so failures there shrink.
BULK_EXAMPLES = examples(720)
BULK_CLAIMS = 10
SHRINKABLE_EXAMPLES = examples(120)
# The policy library's real policies (age bands, package selectors, every rule kind, groups),
# each with 1,500 more claims: the generated code reads them through tables the hand-built IR
# above does not exercise in the same proportions.
LIBRARY = tuple(compile_paths(["policy_specs"]).compiled)
LIBRARY_EXAMPLES = examples(150)

BASE = dt.date(2026, 3, 1)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory):
    return import_package(write_generated(SAMPLES,
                                        tmp_path_factory.mktemp("differential") / "python"))


@pytest.fixture(scope="module")
def library_package(tmp_path_factory: pytest.TempPathFactory):
    return import_package(write_generated(LIBRARY, tmp_path_factory.mktemp("library") / "python"))


class Chooser:
    """What the claim generator needs from its source of randomness."""

    def __init__(self, choice: Callable[[Sequence], object],
                 integer: Callable[[int, int], int]) -> None:
        self.choice = choice
        self.integer = integer

    def chance(self, one_in: int) -> bool:
        return self.integer(1, one_in) == 1

    def mostly(self, valid: Sequence, odd: Sequence, one_in: int = 12) -> object:
        return self.choice(odd) if self.chance(one_in) else self.choice(valid)


def seeded(rng: random.Random) -> Chooser:
    return Chooser(rng.choice, rng.randint)


def drawn(draw: st.DrawFn) -> Chooser:
    return Chooser(lambda options: draw(st.sampled_from(options)),
                   lambda low, high: draw(st.integers(low, high)))


QUANTITIES = ["1", "2", "10", "14", "15", "20", "21", "30", "44.5", "45", "60", "90", "100", "120",
              "150", "151", "180", "270", "300", "451", "0.001", 30, 60, 90, 12.5]
ODD_QUANTITIES = ["0", "-1", "abc", None, True, float("nan"), float("inf"), "1e2", 10 ** 30,
                  "30.0001", "٣٠", " 30", 1e-7]
DAYS_SUPPLY = [1, 5, 7, 10, 11, 12, 14, 15, 23, 30, 30, 30, 45, 60, 90, 90, 91, 365, 999]
ODD_DAYS_SUPPLY = [0, 1000, None, True, 30.0, "30", -5]
ODD_DATES = ["2026-02-30", "2026-13-01", "20260301", "", None, 20260301, "0000-01-01", "2026-3-1",
             "0001-01-03", "9999-12-31"]
UNITS = ["g", "mL", "each", "GM", "ML", "EA"]


def _day(offset: int) -> str:
    return (BASE + dt.timedelta(days=offset)).isoformat()


def policy_names(compiled: CompiledPolicy) -> dict[str, list]:
    """The ids claims for this policy use: its own, mostly, and a few it does not know."""
    policy = compiled.policy
    ndcs = [n for p in policy.products for n in queries.product_ndcs(p)]
    catalog = []
    for product in policy.products:
        coded = [(ndc, None) for ndc in product.ndcs]
        coded += [(ndc, package.id) for package in product.packages for ndc in package.ndcs]
        catalog.append((product.id, product.unit, coded, [pk.id for pk in product.packages]))
    return {
        "catalog": catalog,
        "units": sorted({p.unit for p in policy.products}),
        "products": [p.id for p in policy.products] * 3 + ["unknown-product"],
        "ndcs": ndcs * 3 + ["99999999999"],
        "packages": [pk.id for p in policy.products for pk in p.packages] + ["no-such-package"],
        "channels": list(queries.known_channels(policy)),
        "criteria": [c.id for c in policy.criteria] * 3 + ["ghost-criterion"],
        "targets": [p.id for p in policy.products] + [g.id for g in policy.groups] + ndcs,
    }


def make_history_entry(pick: Chooser, names: dict[str, list]) -> object:
    if pick.chance(150):
        return pick.choice([None, "entry", 3, [], {"status": "paid"}])
    entry = {"claim_id": pick.choice(["h-1", "h-2", "h-3", "h-4", "c-1", None]),
             # a year back, or near the claims' dates, where courses of therapy meet
             "date_of_service": _day(pick.choice([pick.integer(-400, 3), pick.integer(-45, 30)])),
             "quantity": pick.mostly(["5", "10", "15", "30", "45", "60", "90", "150"],
                                     ODD_QUANTITIES, 150),
             "status": pick.mostly(["paid", "paid", "paid", "reversed"], ["pending", None], 150)}
    if pick.chance(3) and len(names["ndcs"]) > 1:
        entry["ndc"] = pick.choice(names["ndcs"])
    else:
        entry["product"] = pick.choice(names["products"])
    if not pick.chance(3):  # therapy rules measure it; without it such a rule rejects 85
        entry["days_supply"] = pick.mostly(DAYS_SUPPLY, ODD_DAYS_SUPPLY, 30)
    if pick.chance(5):
        entry["channel"] = pick.mostly(names["channels"], [7, ""], 30)
    if pick.chance(3):  # a drug file's package size (counts where the policy sizes no package)
        entry["package_size"] = pick.mostly(["1", "3", "10", "8.5"], ["0", "abc", 2.5], 40)
    if pick.chance(15):  # held to the product's billing unit: counted in packages, or PZ
        entry["unit"] = pick.mostly(["g", "mL", "each", "GM", "ML", "EA"], ["box", "", 3], 40)
    return entry


def make_authorization(pick: Chooser, names: dict[str, list]) -> object:
    if pick.chance(120):
        return pick.choice([None, "pa", {"id": "x"}, {"id": "y", "products": []}])
    start = pick.integer(-400, 30)
    end = start + pick.integer(-1, 400)
    record = {"id": pick.choice(["a-1", "a-2", "a-3"]),
              "products": [pick.choice(names["targets"] + ["elsewhere"])
                           for _ in range(pick.integer(1, 2))],
              "effective_from": _day(start), "effective_through": _day(end),
              "criterion": pick.choice(names["criteria"])}
    kind = pick.integer(0, 9)
    if kind == 0:
        record["status"] = pick.choice(["revoked", "active", None, "paused"])
    elif kind == 1:
        record["max_fills"] = pick.choice([1, 2, None, 0])
    elif kind == 2:
        record["channels"] = [pick.choice(names["channels"]) for _ in range(pick.integer(1, 2))]
    elif kind in (3, 4):
        record["criterion"] = pick.choice([None, "ghost-criterion"])
        record["limits"] = {pick.choice(names["channels"]): {
            "quantity": pick.mostly(["45", "60", "200"], ["0"], 20),
            "unit": pick.mostly(names["units"], ["kg", "each", "GM"], 10),
            "days": pick.choice([None, 30, 90, 90])}}
    return record


def make_claim(pick: Chooser, names: dict[str, list]) -> dict:
    """A claim for one of the policy's products: mostly well-formed, with all kinds of odd field."""
    product, unit, coded, packages = pick.choice(names["catalog"])
    record: dict[str, object] = {
        "claim_id": pick.mostly(["c-1"], [None, 17], 10),
        "date_of_service": pick.mostly([_day(pick.integer(-30, 30))], ODD_DATES, 40),
        "quantity": pick.mostly(QUANTITIES, ODD_QUANTITIES, 25),
        "unit": pick.mostly([unit], [*UNITS, None, 5, "kg"], 15),
        "days_supply": pick.mostly(DAYS_SUPPLY, ODD_DAYS_SUPPLY, 25),
        "channel": pick.mostly(names["channels"], ["mail", None, 3], 25),
    }
    how = pick.integer(0, 9)
    if how <= 7 or not coded:
        record["product"] = pick.mostly([product], names["products"], 10)
    if coded and how >= 4:
        ndc, package = pick.choice(coded)
        record["ndc"] = pick.mostly([ndc], names["ndcs"] + ["123", None], 15)
        if package is not None and pick.chance(4):  # the claim may also name the NDC's package
            record["package"] = pick.mostly([package], names["packages"], 10)
    elif packages and pick.chance(2):
        record["package"] = pick.mostly(packages, names["packages"] + [7], 15)
    if not pick.chance(5):
        age_days = pick.integer(0, 100 * 366)
        record["member"] = {"birth_date": (BASE - dt.timedelta(days=age_days)).isoformat()}
    elif pick.chance(4):
        record["member"] = pick.choice([None, {}, "1980-01-01", {"birth_date": "2030-01-01"}])
    # Malformed exclusions and DUR/PPS entries are rare: the therapy sample's claims already
    # meet many 85s, and most claims must still be decided
    if pick.chance(6) and isinstance(record.get("member"), dict):  # exempts from some lines
        record["member"]["exclusions"] = pick.mostly(  # type: ignore[index]
            [["hospice"], ["cancer", "asthma"], []], ["hospice", [""], [3]], 40)
    if pick.chance(6):  # DUR/PPS codes pass soft edits
        record["dur_pps"] = pick.mostly(
            [[{"professional_service": "M0", "result": "1G"}], [{"reason": "HD"}],
             [{"professional_service": "M0", "result": "1A"}, {"result": "1G"}]],
            [{"result": "1G"}, [{"result": "1g"}], ["M0"], [{"reason": "HDX"}]], 40)
    if not pick.chance(3):
        record["package_size"] = pick.mostly(["1", "3", "10", "8.5", 2], ["0", "x", -1, 1.5], 15)
    history = [make_history_entry(pick, names) for _ in range(pick.integer(0, 6))]
    if history or pick.chance(2):
        record["history"] = history if not pick.chance(200) else "not a list"
    count = pick.integer(0, 3) * pick.integer(0, 1)  # half the claims carry none
    authorizations = [make_authorization(pick, names) for _ in range(count)]
    if authorizations or pick.chance(2):
        record["authorizations"] = authorizations
    return record


def check_agreement(package, compiled: CompiledPolicy, record: dict,
                    outcomes: dict[str, int], every: Sequence[CompiledPolicy] = SAMPLES) -> None:
    expected = interpreter.evaluate(compiled, record)
    assert policy_module(package, compiled.policy.id).evaluate(record) == expected, record
    assert package.evaluate(record) == interpreter.evaluate_many(every, record), record
    key = expected["outcome"] if expected["outcome"] != "rejected" else expected["reject_code"]
    if expected["messages"] and expected["messages"][0].startswith("HISTORY ENTRY"):
        key = "PZ history"  # a fill in a unit that cannot be converted (semantics.md §2.3)
    outcomes[key] = outcomes.get(key, 0) + 1


@pytest.mark.parametrize("compiled", SAMPLES, ids=[c.policy.id for c in SAMPLES])
def test_generated_code_and_interpreter_agree(package, compiled: CompiledPolicy) -> None:
    names = policy_names(compiled)
    outcomes: dict[str, int] = {}

    @settings(max_examples=BULK_EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.randoms(use_true_random=True))
    def agree(rng: random.Random) -> None:
        pick = seeded(rng)
        for _ in range(BULK_CLAIMS):
            check_agreement(package, compiled, make_claim(pick, names), outcomes)

    agree()
    assert sum(outcomes.values()) >= BULK_EXAMPLES * BULK_CLAIMS
    # The claims reach every outcome, not only the early rejects.
    expected = {"paid", "not_applicable", "E7", "19", "15", "85", "PZ history",
                compiled.policy.reject_code}
    assert expected <= set(outcomes), outcomes
    decided = outcomes["paid"] + outcomes[compiled.policy.reject_code]
    assert decided > sum(outcomes.values()) // 3, outcomes


DECIDING = [c for c in LIBRARY if c.policy.products]  # a guideline with no products decides none


@pytest.mark.parametrize("compiled", DECIDING, ids=[c.policy.id for c in DECIDING])
def test_library_policies_agree(library_package, compiled: CompiledPolicy) -> None:
    names = policy_names(compiled)
    outcomes: dict[str, int] = {}

    @settings(max_examples=LIBRARY_EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.randoms(use_true_random=True))
    def agree(rng: random.Random) -> None:
        pick = seeded(rng)
        for _ in range(BULK_CLAIMS):
            check_agreement(library_package, compiled, make_claim(pick, names), outcomes, LIBRARY)

    agree()
    assert sum(outcomes.values()) >= LIBRARY_EXAMPLES * BULK_CLAIMS
    assert {"paid", compiled.policy.reject_code} <= set(outcomes), outcomes


@pytest.mark.parametrize("compiled", SAMPLES, ids=[c.policy.id for c in SAMPLES])
def test_generated_code_and_interpreter_agree_shrinkable(package, compiled: CompiledPolicy) -> None:
    names = policy_names(compiled)

    @st.composite
    def claims(draw: st.DrawFn) -> dict:
        return make_claim(drawn(draw), names)

    @settings(max_examples=SHRINKABLE_EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(claims())
    def agree(record: dict) -> None:
        check_agreement(package, compiled, record, {})

    agree()


# ---------------------------------------------------------------------------------------------
# Arbitrary JSON: never an exception, never a payment

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                      max_size=4),
    max_leaves=12)
CLAIM_KEYS = ["claim_id", "date_of_service", "product", "ndc", "package", "quantity", "unit",
              "days_supply", "channel", "member", "history", "authorizations", "package_size"]


@settings(max_examples=examples(600), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSON, st.dictionaries(st.sampled_from(CLAIM_KEYS), JSON, max_size=12)))
def test_arbitrary_json_claims_never_raise_or_pay(package, value: object) -> None:
    for compiled in SAMPLES:
        decision = interpreter.evaluate(compiled, value)
        assert decision["outcome"] != "paid"
        assert policy_module(package, compiled.policy.id).evaluate(value) == decision
    assert package.evaluate(value) == interpreter.evaluate_many(SAMPLES, value)


def _not_a_quantity(value: object) -> bool:
    numeric = type(value) in (int, float)
    return not (numeric or (type(value) is str and re.fullmatch(r"[0-9.]+", value)))


MALFORMED_FIELDS = st.one_of(
    st.tuples(st.just("quantity"), JSON.filter(_not_a_quantity)),
    st.tuples(st.just("days_supply"), JSON.filter(lambda v: type(v) is not int)),
    st.tuples(st.just("date_of_service"),
              JSON.filter(lambda v: not (type(v) is str and re.fullmatch(r"\d{4}-\d\d-\d\d", v)))),
    st.tuples(st.sampled_from(["unit", "channel", "product"]),
              JSON.filter(lambda v: type(v) is not str)),
    st.tuples(st.just("package_size"), JSON.filter(lambda v: v is not None and _not_a_quantity(v))),
    st.tuples(st.sampled_from(["history", "authorizations"]),
              st.lists(JSON.filter(lambda v: not isinstance(v, dict)), min_size=1, max_size=3)),
)


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MALFORMED_FIELDS)
def test_a_payable_claim_with_one_malformed_field_is_rejected(package,
                                                             field: tuple[str, object]) -> None:
    name, value = field
    record = anzupgo_claim()
    assert interpreter.evaluate_many(SAMPLES, record)["outcome"] == "paid"
    record[name] = value
    decision = interpreter.evaluate_many(SAMPLES, record)
    assert decision["outcome"] == "rejected", decision
    assert package.evaluate(record) == decision


REQUEST_KEYS = ["policy", "product", "request_date", "facts", "channels", "channel",
                "prior_authorization", "authorization_id", "requested"]
FACT_NAMES = ["needs_more", "diagnosis", "severity", "sites", "crcl", "loading_dose",
              "body_area", "improved", "tried", "prescriber_justifies"]
FACTS = st.dictionaries(st.sampled_from(FACT_NAMES), JSON)


REQUEST_SHAPED = st.fixed_dictionaries({"request_date": st.just("2026-01-15"),
                                        "facts": FACTS})
# Requests an `approve requested` criterion (daily-cream's as-requested) can approve, with
# requested limits well-formed or not.
REQUESTED_LIMIT = st.one_of(JSON, st.fixed_dictionaries(
    {"quantity": st.sampled_from(["90", "0", "1.5", 45, "x", None]),
     "unit": st.sampled_from(["g", "GM", "mL", "each", None]),
     "days": st.sampled_from([None, 30, 0, "30", True])},
    optional={"through": st.sampled_from(["2026-03-01", "2026-01-14", "2026-13-01", 5])}))
REQUEST_FOR_MORE = st.fixed_dictionaries(
    {"request_date": st.just("2026-01-15"),
     "facts": st.fixed_dictionaries({"prescriber_justifies": st.sampled_from([True, False, None])}),
     "requested": REQUESTED_LIMIT},
    optional={"product": st.sampled_from(["daily-cream", "anzupgo-2pct-cream", "tube-45g"]),
              "channels": st.sampled_from([["retail"], ["retail", "home_delivery"], [], ["x"]])})


@settings(max_examples=examples(500), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSON, st.dictionaries(st.sampled_from(REQUEST_KEYS), JSON, max_size=8),
                 REQUEST_SHAPED, REQUEST_FOR_MORE))
def test_arbitrary_review_requests_never_raise(package, value: object) -> None:
    for compiled in SAMPLES:
        result = interpreter.review(compiled, value)
        assert result["outcome"] in ("approved", "denied", "needs_information")
        assert policy_module(package, compiled.policy.id).review(value) == result
    assert package.review(value) == interpreter.review_many(SAMPLES, value)
