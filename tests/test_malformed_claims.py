"""Malformed claims and review requests (issue 7 §4): 100,000 of each, replayed fast.

Seeded `random`, not Hypothesis, so the whole replay takes seconds. Every malformed claim starts
from a claim that pays (under every policy of policy_specs/, through the generated registry and
the interpreter) and has one to four fields broken — missing, of the wrong type, out of range,
or a malformed history entry or authorization. For each one:

* neither implementation raises, and both return the same decision;
* it is never paid;
* its reject code is one the runtime documents, and is the code of the broken field when one
  field is broken (of one of the broken fields otherwise); `not_applicable` only where a broken
  field legitimately names a product no policy covers.

Every malformed review request starts from a well-formed one:

* a request-level fault (no usable date, facts, policy, product, channels or id) is answered
  `needs_information`, with the problem listed, never `approved`;
* an unusable answer is treated as unknown, never guessed: the result is the one for the same
  request without that answer (the answer listed as invalid);
* a broken prior authorization never lets a renewal criterion approve;
* and any other junk gives one of approved, denied, needs_information, never an exception.
"""

from __future__ import annotations

import collections
import copy
import datetime as dt
import math
import random
import re
import time
from decimal import Decimal
from typing import Any

import pytest
from conftest import REPO

from dqmc import interpreter
from dqmc import runtime as rt
from dqmc.codegen.loader import load_generated
from dqmc.lang.ir import queries
from dqmc.lang.pipeline import compile_paths

SEED = 20260301
CLAIMS = 100_000
REQUESTS = 100_000
MISSING = object()  # a field left out
DATE = "2026-03-01"


@pytest.fixture(scope="module")
def library():
    result = compile_paths([REPO / "policy_specs"])
    assert result.ok and len(result.compiled) >= 8
    return result.compiled, load_generated(result.compiled)


def documented_codes() -> set[str]:
    """The fixed reject codes: the runtime's constants, each one a row of the reject-code table
    of docs/semantics.md §7, which lists no other fixed code."""
    semantics = (REPO / "docs/semantics.md").read_text(encoding="utf-8")
    section = semantics.split("\n## 7. ", 1)[1].split("\n## ", 1)[0]
    table = set(re.findall(r"^\| `([0-9A-Z]{2})` \|", section, flags=re.MULTILINE))
    constants = {value for name, value in vars(rt).items() if name.startswith("CODE_")}
    assert table == constants, (table, constants)
    return constants


# ---------------------------------------------------------------------------------------------
# Junk values


def junk(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON value, and a few Python values a careless caller might pass."""
    pick = rng.randrange(16 if depth < 2 else 12)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice([True, False])
    if pick == 2:
        return rng.choice([0, -1, 1, 30, 999, 1000, 2**31, -2**63, 10**30])
    if pick == 3:
        return rng.choice([0.0, -0.0, 0.5, 30.0, 1e-9, 1e300, math.nan, math.inf, -math.inf])
    if pick == 4:
        return rng.choice(["", " ", "30", "abc", "٣٠", "2026-02-30", "null", "\x00", "\u202e",
                           "x" * 5000, "retail", "g", "paid", "{}", "[]"])
    if pick == 5:
        return rng.choice([Decimal("NaN"), Decimal("sNaN"), Decimal("-Infinity"), Decimal("1E+30")])
    if pick == 6:
        return rng.choice([b"30", bytearray(b"x"), {1, 2}, (1,), frozenset(), object()])
    if pick == 7:
        return rng.choice([dt.date(2026, 3, 1), dt.datetime(2026, 3, 1), dt.timedelta(days=1)])
    if pick in (8, 9):
        return "".join(rng.choice("0123456789-.:eE+ abg\u0660\uff10")
                       for _ in range(rng.randrange(12)))
    if pick in (10, 11):
        return rng.choice([[], {}, [None], {"": None}])
    if pick in (12, 13):
        return [junk(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(["quantity", "date_of_service", "id", "x", ""]): junk(rng, depth + 1)
            for _ in range(rng.randrange(4))}


# ---------------------------------------------------------------------------------------------
# Claims: bases that pay, and the ways to break them

BAD = {
    "claim_id": ["", 5, 0, [], {}, True, 1.5],
    "quantity": [MISSING, None, "0", "0.0", "-1", "-0.5", "abc", "", " 30", "30 ", "3 0", "1e2",
                 "1E2", "0x1e", "30.0001", "1.5.2", "+30", "٣٠", "３０", "30\n", "NaN", "Infinity",
                 "-Infinity", "1" * 30, True, False, 0, -5, 0.0, -0.0, math.nan, math.inf,
                 -math.inf, 1e-4, 10**12, 10_000_000, 9999999.9999, "99999999", "10000000",
                 [], {}, [30], {"amount": 30}, b"30", Decimal("NaN"), Decimal("sNaN"),
                 Decimal("-1"), Decimal("1E+8"), Decimal("0.0001")],
    "days_supply": [MISSING, None, 0, -1, 1000, 10**20, 30.0, 30.5, "30", "", True, False, [], {},
                    math.nan, Decimal(30), "٣٠"],
    "date_of_service": [MISSING, None, "2026-02-30", "2026-13-01", "2026-00-10", "2025-02-29",
                        "20260301", "2026-3-1", "2026/03/01", "", " 2026-03-01",
                        "2026-03-01T00:00", 20260301, "２０２６-03-01", "0000-01-01",
                        "10000-01-01", dt.datetime(2026, 3, 1), [], True, "2026-03-01\n"],
    "product": ["", 5, 5.0, [], {}, True, ["x"]],
    "ndc": ["123", "0057440720A", "00574-4072-05", 574407205, "٠٠٥٧٤٤٠٧٢٠٥", "005744072055", "",
            True, [], "0057440720５"],
    "unit": [MISSING, None, "", 5, [], True, {}],
    "wrong_unit": ["kg", "gram", "GRAMS", "g ", "ml", "Ea", "ea", "mg", "each?", "\u202eg"],
    "channel": [MISSING, None, "", 5, [], True, {}],
    "unknown_channel": ["mail-order", "RETAIL", "retail ", "all", "home delivery", "specialty\x00",
                        "\u0000", "x" * 1000],
    "package": ["", 5, [], True, {}],
    "unknown_package": ["no-such-package", "TUBE-30G", " "],
    "member": ["x", 5, [], True, {"birth_date": "2026-02-30"}, {"birth_date": "2030-01-01"},
               {"birth_date": 19800402}, {"birth_date": ""}, {"birth_date": "1980-4-2"},
               {"birth_date": True}],
    "unknown_product": ["no-such-product", "ANZUPGO-2PCT-CREAM", "anzupgo-2pct-cream ", "x" * 300],
}
CODE = {"claim_id": "85", "quantity": "E7", "days_supply": "19", "date_of_service": "15",
        "product": "21", "ndc": "21", "unit": "26", "wrong_unit": "PZ", "channel": "U7",
        "unknown_channel": "U7", "package": "21", "unknown_package": "21", "member": "09",
        "history": "85", "authorizations": "85", "claim": "85", "no_product": "21",
        "unknown_product": None,  # None: not_applicable (design §5 step 2: not a reject)
        "junk": "*"}  # any code of malformed input
FIELD = {"wrong_unit": "unit", "unknown_channel": "channel", "unknown_package": "package",
         "unknown_product": "product"}


def bad_history_entry(rng: random.Random, product: str) -> Any:
    good = {"claim_id": "h-9", "date_of_service": "2026-02-01", "product": product,
            "quantity": "1", "days_supply": 30, "channel": "retail", "status": "paid"}
    field, value = rng.choice([
        (None, "x"), (None, 5), (None, None), (None, []), (None, {}),
        ("date_of_service", MISSING), ("date_of_service", "2026-02-30"), ("date_of_service", 1),
        ("quantity", MISSING), ("quantity", "-3"), ("quantity", "abc"), ("quantity", math.nan),
        ("quantity", 0), ("status", MISSING), ("status", "void"), ("status", "PAID"),
        ("status", 1), ("product", 5), ("product", ""), ("ndc", "1"), ("claim_id", ""),
        ("claim_id", 7), ("days_supply", 0), ("days_supply", "30"), ("channel", 5),
        ("channel", ""), ("product", MISSING), ("unit", ""), ("unit", 5), ("unit", [])])
    if field is None:
        return value
    entry = dict(good)
    if value is MISSING:
        del entry[field]
    else:
        entry[field] = value
    return entry


def bad_authorization(rng: random.Random, product: str) -> Any:
    good = {"id": "pa-9", "products": [product], "effective_from": "2026-01-01",
            "effective_through": "2026-12-31", "criterion": "some-criterion"}
    field, value = rng.choice([
        (None, "x"), (None, None), (None, {}), (None, 5), ("id", MISSING), ("id", ""), ("id", 5),
        ("products", []), ("products", product), ("products", [5]), ("products", [""]),
        ("products", MISSING), ("effective_from", "2026-02-30"), ("effective_from", MISSING),
        ("effective_through", "2025-12-31"), ("effective_through", 20261231),
        ("criterion", 5), ("criterion", ""), ("channels", []), ("channels", "retail"),
        ("channels", [5]), ("status", "maybe"), ("status", 0), ("max_fills", 0),
        ("max_fills", -1), ("max_fills", "1"), ("max_fills", True), ("max_fills", 1.5),
        ("limits", {}), ("limits", "x"), ("limits", {"retail": "x"}),
        ("limits", {"retail": {"quantity": "-1", "unit": "g"}}),
        ("limits", {"retail": {"quantity": "1", "unit": "kg"}}),
        ("limits", {"retail": {"quantity": "1", "unit": "g", "days": 0}}),
        ("limits", {"": {"quantity": "1", "unit": "g"}}), ("criterion", MISSING)])
    if field is None:
        return value
    authorization = dict(good)
    if value is MISSING:
        del authorization[field]
    else:
        authorization[field] = value
    return authorization


def break_claim(rng: random.Random, base: dict, kinds: list[str]) -> Any:
    claim = copy.deepcopy(base)
    product = base["product"]
    for kind in kinds:
        if kind == "claim":  # not an object at all
            return rng.choice(["x", 5, None, [], [base], True, 3.5, b"{}", [junk(rng)]])
        if kind == "junk":  # an object of junk: some required field is missing or wrong
            keys = ["claim_id", "quantity", "days_supply", "date_of_service", "product", "ndc",
                    "unit", "channel", "package", "member", "history", "authorizations"]
            return {key: junk(rng) for key in rng.sample(keys, rng.randrange(len(keys) - 3))}
        if kind == "history":
            if rng.random() < 0.2:
                claim["history"] = rng.choice(["x", 5, {}, True, {"0": {}}])
            else:
                history = list(claim.get("history", []))
                history.insert(rng.randrange(len(history) + 1), bad_history_entry(rng, product))
                claim["history"] = history
        elif kind == "authorizations":
            if rng.random() < 0.2:
                claim["authorizations"] = rng.choice(["x", 5, {}, True])
            else:
                found = list(claim.get("authorizations", []))
                found.insert(rng.randrange(len(found) + 1), bad_authorization(rng, product))
                claim["authorizations"] = found
        elif kind == "no_product":
            claim.pop("product", None)
            claim.pop("ndc", None)
        else:
            value = rng.choice(BAD[kind])
            field = FIELD.get(kind, kind)
            if value is MISSING:
                claim.pop(field, None)
            else:
                claim[field] = value
    return claim


def paying_bases(compiled, registry) -> list[dict]:
    """Claims that pay, for every product and channel that can pay, with harmless records."""
    bases = []
    for item in compiled:
        policy = item.policy
        for product in policy.products:
            for channel in queries.known_channels(policy):
                for quantity in ("1", "2", "5", "30"):
                    claim = {
                        "claim_id": f"c-{len(bases)}", "date_of_service": DATE,
                        "product": product.id, "quantity": quantity, "unit": product.unit,
                        "days_supply": 30, "channel": channel,
                        "member": {"birth_date": "1980-04-02"},
                        # Valid records that cannot count: a reversal, a fill long ago, an
                        # expired authorization.
                        "history": [
                            {"claim_id": "h-1", "date_of_service": "2026-02-20",
                             "product": product.id, "quantity": "1", "status": "reversed"},
                            {"claim_id": "h-2", "date_of_service": "2010-01-01",
                             "product": product.id, "quantity": "1", "status": "paid"}],
                        "authorizations": [
                            {"id": "pa-1", "products": [product.id], "criterion": "old",
                             "effective_from": "2020-01-01", "effective_through": "2020-12-31"}]}
                    if product.packages:
                        claim["package"] = product.packages[0].id
                    decision = registry.evaluate(claim)
                    if decision["outcome"] == "paid":
                        assert decision == interpreter.evaluate_many(compiled, claim)
                        bases.append(claim)
                        break
    return bases


def applicable(kind: str, base: dict) -> bool:
    return not (kind in ("package", "unknown_package") and "package" not in base)


def test_malformed_claims_are_never_paid_and_get_documented_codes(library) -> None:
    compiled, registry = library
    documented = documented_codes()
    limit_codes = {item.policy.reject_code for item in compiled}
    rng = random.Random(SEED)
    bases = paying_bases(compiled, registry)
    assert len(bases) >= 30, "too few paying claims to break"
    kinds = sorted(set(CODE) - {"claim", "junk"})
    validation = documented - limit_codes
    counts: collections.Counter[str] = collections.Counter()
    single_codes: collections.Counter[str] = collections.Counter()
    start = time.perf_counter()
    for index in range(CLAIMS):
        base = bases[index % len(bases)]
        if rng.random() < 0.03:
            chosen = [rng.choice(["claim", "junk"])]
        else:
            pool = [k for k in kinds if applicable(k, base)]
            chosen = rng.sample(pool, rng.choice((1, 1, 1, 2, 3, 4)))
        claim = break_claim(rng, base, chosen)
        decision = registry.evaluate(claim)
        assert decision == interpreter.evaluate_many(compiled, claim), (chosen, claim)
        outcome, code = decision["outcome"], decision["reject_code"]
        counts[outcome if code is None else f"{outcome} {code}"] += 1
        assert outcome != "paid", (chosen, claim)
        expected = (validation | {None}) if chosen == ["junk"] else {CODE[k] for k in chosen}
        if outcome == "not_applicable":
            assert None in expected, (chosen, claim, decision)
        else:
            assert outcome == "rejected" and code in documented, (chosen, claim, decision)
            assert code not in limit_codes or code in expected, (chosen, claim, decision)
            assert code in expected, (chosen, claim, decision["messages"])
            if len(chosen) == 1:
                single_codes[code] += 1
        assert all(len(line) <= 40 and line.isascii() and line.isprintable()
                   for line in decision["messages"]), decision["messages"]
    elapsed = time.perf_counter() - start
    print(f"\n{CLAIMS} malformed claims from {len(bases)} paying bases in {elapsed:.1f} s "
          f"(generated registry and interpreter): {dict(sorted(counts.items()))}")
    assert sum(counts.values()) == CLAIMS
    assert set(single_codes) >= {"85", "E7", "19", "15", "21", "26", "PZ", "U7", "09"}


# ---------------------------------------------------------------------------------------------
# Review requests


def answer(rng: random.Random, fact: tuple[str, tuple[str, ...], str]) -> Any:
    kind, values, _ = fact
    if kind == "bool":
        return rng.random() < 0.7
    if kind == "enum":
        return rng.choice(values)
    if kind == "set":
        return rng.sample(values, rng.randrange(1, len(values) + 1))
    if kind == "number":
        return rng.choice([0, 1, 2.5, 30, 60, 100, "45", "-1"])
    return rng.choice(["2025-01-01", "2026-01-15", "2020-06-30"])


def bad_answer(rng: random.Random, fact: tuple[str, tuple[str, ...], str]) -> Any:
    kind, values, _ = fact
    common = [{"x": 1}, "", "\u202e", b"x", object()]
    if kind == "bool":
        return rng.choice(["yes", "true", 1, 0, "True", [True], 1.0, *common])
    if kind == "enum":
        return rng.choice(["no-such-value", values[0].upper(), 5, [values[0]], values[0] + " ",
                           True, *common])
    if kind == "set":
        return rng.choice([values[0], [5], ["no-such-value"], [values[0], None], {values[0]: 1},
                           True, 5, *common])
    if kind == "number":
        return rng.choice(["abc", math.nan, math.inf, -math.inf, True, "1e3", "٣", [], "1,5",
                           Decimal("NaN"), *common])
    return rng.choice(["2026-02-30", 20260101, True, "01/15/2026", "2026-1-5",
                       dt.datetime(2026, 1, 1), *common])


def base_request(rng: random.Random, item) -> dict:
    policy = item.policy
    facts = queries.review_facts(policy)
    targets = sorted(queries.review_targets(policy))
    request: dict[str, Any] = {"policy": policy.id, "request_date": "2026-01-15",
                               "facts": {f: answer(rng, spec) for f, spec in facts.items()
                                         if rng.random() < 0.9}}
    if targets and rng.random() < 0.8:
        request["product"] = rng.choice(targets)
    if rng.random() < 0.3:
        request["channels"] = [rng.choice(queries.known_channels(policy))]
    return request


REQUEST_LEVEL: dict[str, list[Any]] = {
    "request_date": [MISSING, None, "2026-02-30", "", 20260115, "15/01/2026", True, [],
                     dt.datetime(2026, 1, 15)],
    "facts": ["x", [], 5, True, [["needs_more", True]], {1: True}, {None: True}],
    "policy": [5, "", [], True, "no-such-policy", "ANZUPGO-DQM"],
    "product": [5, "", [], True, "no-such-product"],
    "channels": [5, {}, [], [5], [""], ["mail-order"], "mail-order", ["retail", "nope"]],
    "authorization_id": ["", 5, [], True],
}


def without_answer_details(result: dict) -> dict:
    """The parts of a review result an unusable answer must not change (it is shown as given)."""
    return {"outcome": result["outcome"], "criterion": result["criterion"],
            "authorization": result["authorization"], "approved": result["approved"],
            "missing": result["missing"],
            "unmet": [(u["criterion"], u["condition"], u["facts"]) for u in result["unmet"]]}


def test_malformed_review_requests_are_never_approved_and_never_guessed(library) -> None:
    compiled, registry = library
    rng = random.Random(SEED + 1)
    renewals = {(item.policy.id, c.id) for item in compiled for c in item.policy.criteria
                if c.renews is not None}
    reviewable = [item for item in compiled if item.policy.criteria]
    counts: collections.Counter[str] = collections.Counter()
    start = time.perf_counter()

    def review(request: Any) -> dict:
        result = registry.review(request)
        assert result == interpreter.review_many(compiled, request), request
        assert result["outcome"] in ("approved", "denied", "needs_information"), result
        return result

    for index in range(REQUESTS):
        item = reviewable[index % len(reviewable)]
        request = base_request(rng, item)
        facts = queries.review_facts(item.policy)
        roll = rng.random()
        if roll < 0.35:  # a request-level fault
            kind = rng.choice(sorted(REQUEST_LEVEL))
            value = rng.choice(REQUEST_LEVEL[kind])
            if value is MISSING:
                request.pop(kind, None)
            else:
                request[kind] = value
            if kind == "product" and "policy" in request and rng.random() < 0.5:
                del request["policy"]  # the registry then dispatches by the broken product
            if rng.random() < 0.05:
                request = rng.choice(["x", 5, None, [], [request], True])
            result = review(request)
            assert result["outcome"] == "needs_information", (kind, request, result)
            assert result["invalid"], (kind, request, result)
            counts[f"request-level {result['outcome']}"] += 1
        elif roll < 0.75:  # an unusable answer, or an answer to a fact the policy lacks
            if facts and rng.random() < 0.8:
                fact = rng.choice(sorted(facts))
                broken = dict(request["facts"], **{fact: bad_answer(rng, facts[fact])})
            else:
                fact = rng.choice(["no_such_fact", "", "x" * 200, "\u202e"])
                broken = dict(request["facts"], **{fact: junk(rng)})
            baseline = dict(request, facts={k: v for k, v in broken.items() if k != fact})
            result, expected = review(dict(request, facts=broken)), review(baseline)
            assert without_answer_details(result) == without_answer_details(expected), (
                fact, broken[fact], result, expected)
            assert f"facts.{fact}" in {p["field"] for p in result["invalid"]}
            counts[f"bad answer {result['outcome']}"] += 1
        elif roll < 0.85:  # a broken prior authorization
            prior = None
            while prior is None:  # None is an absent prior authorization, not a broken one
                prior = bad_authorization(rng, request.get("product", "x"))
            request["prior_authorization"] = prior
            result = review(request)
            if result["outcome"] == "approved":
                assert (item.policy.id, result["criterion"]) not in renewals, result
            assert "prior_authorization" in {p["field"] for p in result["invalid"]}
            counts[f"bad prior authorization {result['outcome']}"] += 1
        else:  # junk anywhere
            keys = ["policy", "product", "request_date", "facts", "channels", "channel",
                    "prior_authorization", "authorization_id"]
            for key in rng.sample(keys, rng.randrange(1, 4)):
                request[key] = junk(rng)
            if rng.random() < 0.5 and isinstance(request.get("facts"), dict):
                request["facts"].update({rng.choice(sorted(facts) or ["x"]): junk(rng)})
            result = review(request)
            counts[f"junk {result['outcome']}"] += 1
    elapsed = time.perf_counter() - start
    print(f"\n{REQUESTS} malformed review requests in {elapsed:.1f} s "
          f"(generated registry and interpreter): {dict(sorted(counts.items()))}")
    assert sum(counts.values()) == REQUESTS
    assert counts["request-level needs_information"] > REQUESTS // 5
