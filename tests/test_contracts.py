"""The data contracts (docs/contracts.md): the JSON Schemas of the claim, the decision, the review
request and the review answer say exactly what the evaluators read and return.

* every decision and answer the policy tests, the malformed-claim corpus and malformed review
  requests produce, on the generated package and on the interpreter, validates against its
  schema;
* the claim schema is the evaluators' validation step: a claim they reject at validation fails
  it, a claim they read passes it, except for the three rules JSON Schema cannot state (listed
  in INEXPRESSIBLE); the request schema likewise for the review's reading of a request;
* the schemas are valid draft 2020-12 with a title and description on every property;
* `dqmc schema NAME` prints the file the generated package ships;
* the examples of docs/contracts.md validate and are what the evaluators return.

Numbers are validated as JSON Schema defines them, exactly: documents and schemas are decoded
with `parse_float=Decimal` (a float makes 0.3 no multiple of 0.001), and a number without a
fraction is an integer (30.0 is the integer 30, as for any conforming validator).
"""

from __future__ import annotations

import collections
import copy
import datetime as dt
import decimal
import importlib
import json
import math
import os
import random
import re
import tomllib
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import jsonschema
import pytest
import referencing
import test_malformed_claims as corpus
from conftest import REPO
from referencing.jsonschema import DRAFT202012

from dqmc import __version__, interpreter
from dqmc import runtime as rt
from dqmc.authoring import policytest
from dqmc.cli import main
from dqmc.codegen.contracts import CONTRACTS, SCHEMAS_DIR, schema_path
from dqmc.codegen.loader import load_generated
from dqmc.codegen.python_emit import emit_python_package, module_names
from dqmc.lang.ir import queries
from dqmc.lang.pipeline import compile_paths

# The first entries of test_malformed_claims' corpus (same seed, same order); DQMC_CONTRACT_CLAIMS
# =100000 replays all of it (a few minutes).
CORPUS_CLAIMS = int(os.environ.get("DQMC_CONTRACT_CLAIMS", "20000"))
REQUESTS = 4_000
VALIDATION_CODES = {"85", "E7", "19", "15", "21", "26", "U7", "09", "E4", "E5", "E6"}


# ---------------------------------------------------------------------------------------------
# Schemas and exact JSON data


def load_schema(name: str) -> dict[str, Any]:
    return json.loads(schema_path(name).read_text(encoding="utf-8"), parse_float=Decimal)


@pytest.fixture(scope="module")
def validators() -> dict[str, jsonschema.Draft202012Validator]:
    return {name: jsonschema.Draft202012Validator(load_schema(name),
                                                  format_checker=jsonschema.FormatChecker())
            for name in CONTRACTS}


def is_json(value: Any) -> bool:
    """Whether a value is JSON data as json.loads gives it (no tuples, Decimals, NaN, dates...)."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return all(is_json(v) for v in value)
    if kind is dict:
        return all(type(k) is str and is_json(v) for k, v in value.items())
    return False


def _number(text: str) -> int | Decimal:
    number = Decimal(text)
    return int(number) if number == number.to_integral_value() else number


def exact(value: Any) -> Any:
    """JSON data with its numbers as JSON Schema sees them: exact, integers when whole."""
    return json.loads(json.dumps(value, allow_nan=False), parse_float=_number)


# Enough digits for `multipleOf` on any number the tests send (1e300 % 0.001 included).
EXACT_CONTEXT = decimal.Context(prec=1000, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


def errors(validator: jsonschema.Draft202012Validator, value: Any) -> list[str]:
    with decimal.localcontext(EXACT_CONTEXT):
        return [f"{e.json_path}: {e.message[:160]}" for e in validator.iter_errors(exact(value))]


class ClaimSchema:
    """The claim schema checked record by record, for speed: a claim passes when its top level
    passes with history entries and authorizations left open, and each entry and authorization
    passes its definition (which is what `items` means); each distinct record is checked once."""

    def __init__(self) -> None:
        schema = load_schema("claim")
        registry = referencing.Registry().with_resource(
            schema["$id"], DRAFT202012.create_resource(schema))
        top = copy.deepcopy(schema)
        top["$defs"].update(history_entry=True, authorization=True)
        self.top = jsonschema.Draft202012Validator(top, format_checker=jsonschema.FormatChecker())
        self.records = {key: jsonschema.Draft202012Validator(
            {"$ref": f"{schema['$id']}#/$defs/{definition}"}, registry=registry,
            format_checker=jsonschema.FormatChecker())
            for key, definition in (("history", "history_entry"),
                                    ("authorizations", "authorization"))}
        self.known: dict[tuple[str, str], bool] = {}

    def _valid(self, key: str, value: Any) -> bool:
        text = json.dumps(value, sort_keys=True)
        if (key, text) not in self.known:
            validator = self.top if key == "claim" else self.records[key]
            with decimal.localcontext(EXACT_CONTEXT):
                self.known[key, text] = validator.is_valid(exact(value))
        return self.known[key, text]

    def is_valid(self, claim: Any) -> bool:
        if not self._valid("claim", claim):
            return False
        return all(self._valid(key, record) for key in self.records
                   for record in (claim.get(key) or []))


# ---------------------------------------------------------------------------------------------
# The library, its policy tests and the malformed corpus


@pytest.fixture(scope="module")
def library():
    result = compile_paths([REPO / "policy_specs"])
    assert result.ok and len(result.compiled) >= 8
    return result.compiled, load_generated(result.compiled)


def policy_test_cases(library) -> Iterator[tuple[str, dict, list[Callable[[Any], dict]]]]:
    """(kind, input, evaluators) for every case of policy_specs/*.tests.yaml: the policy's
    generated module and the interpreter, as `dqmc test` runs them, and the registry."""
    compiled, registry = library
    modules = dict(zip((c.policy.id for c in compiled),
                       module_names([c.policy.id for c in compiled]), strict=True))
    for item in compiled:
        path = policytest.tests_file_for(item.source)
        if not path.is_file():
            continue
        module = importlib.import_module(f"{registry.__name__}.{modules[item.policy.id]}")
        cases, malformed = policytest.load_cases(path)
        assert malformed == []
        for case in cases:
            if "claim" in case:
                yield "claim", case["claim"], [
                    module.evaluate, lambda c, i=item: interpreter.evaluate(i, c),
                    registry.evaluate, lambda c: interpreter.evaluate_many(compiled, c)]
            else:
                yield "review", case["review"], [
                    module.review, lambda r, i=item: interpreter.review(i, r),
                    registry.review, lambda r: interpreter.review_many(compiled, r)]


def malformed_claims(library, count: int) -> Iterator[tuple[list[str], Any]]:
    """The first `count` claims of test_malformed_claims' corpus, built by its own helpers."""
    compiled, registry = library
    rng = random.Random(corpus.SEED)
    bases = corpus.paying_bases(compiled, registry)
    kinds = sorted(set(corpus.CODE) - {"claim", "junk"})
    for index in range(count):  # as test_malformed_claims_are_never_paid_and_get_documented_codes
        base = bases[index % len(bases)]
        if rng.random() < 0.03:
            chosen = [rng.choice(["claim", "junk"])]
        else:
            pool = [k for k in kinds if corpus.applicable(k, base)]
            chosen = rng.sample(pool, rng.choice((1, 1, 1, 2, 3, 4)))
        yield chosen, corpus.break_claim(rng, base, chosen)


# ---------------------------------------------------------------------------------------------
# What JSON Schema cannot state: each is a reason a claim the evaluators refuse passes the schema


def _birth_after_service(claim: dict) -> bool:
    member, service = claim.get("member"), rt.read_date(claim.get("date_of_service"))
    birth = rt.read_date(member.get("birth_date")) if isinstance(member, dict) else None
    return birth is not None and service is not None and birth > service


def _authorization_ends_before_it_starts(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    start, end = rt.read_date(record.get("effective_from")), rt.read_date(
        record.get("effective_through"))
    return start is not None and end is not None and end < start


def _whole_float(value: Any) -> bool:
    return type(value) is float and value.is_integer()


def _integer_written_as_float(claim: dict) -> bool:
    records = [r for r in (claim.get("history") or []) if isinstance(r, dict)]
    authorizations = [a for a in (claim.get("authorizations") or []) if isinstance(a, dict)]
    limits = [limit for a in authorizations if isinstance(a.get("limits"), dict)
              for limit in a["limits"].values() if isinstance(limit, dict)]
    return (_whole_float(claim.get("days_supply"))
            or any(_whole_float(r.get("days_supply")) for r in records)
            or any(_whole_float(a.get("max_fills")) for a in authorizations)
            or any(_whole_float(limit.get("days")) for limit in limits))


INEXPRESSIBLE: dict[str, Callable[[dict], bool]] = {
    "member.birth_date after date_of_service (09): JSON Schema compares no two fields":
        _birth_after_service,
    "an authorization's effective_through before its effective_from (85): JSON Schema "
    "compares no two fields": lambda claim: any(
        _authorization_ends_before_it_starts(a) for a in (claim.get("authorizations") or [])
        if isinstance(claim.get("authorizations"), list)),
    "an integer field written 30.0 (19, or 85 in a record): JSON Schema's integers include "
    "30.0, the evaluators' only integer literals": _integer_written_as_float,
}


def rejected_at_validation(decision: dict) -> bool:
    return any(step["step"] == "validate" and step["result"] == "fail"
               for step in decision["trace"])


def explain(claim: Any) -> list[str]:
    """Which inexpressible rules a claim breaks."""
    return [reason for reason, breaks in INEXPRESSIBLE.items()
            if isinstance(claim, dict) and breaks(claim)]


# ---------------------------------------------------------------------------------------------
# (a) and (b): claims, decisions and the complement of the claim schema


def test_decisions_validate_and_the_claim_schema_is_the_validation_step(
        library, validators) -> None:
    compiled, registry = library
    decision_schema, claim_schema = validators["decision"], validators["claim"]
    fast_claim_schema = ClaimSchema()
    seen: set[str] = set()
    counts: collections.Counter[str] = collections.Counter()
    excluded: collections.Counter[str] = collections.Counter()

    def check_decision(decision: dict, where: object) -> None:
        text = json.dumps(decision, sort_keys=True)
        counts["decisions"] += 1
        if text not in seen:
            seen.add(text)
            assert not errors(decision_schema, decision), (where, errors(decision_schema,
                                                                         decision))

    def check_claim(claim: Any, decision: dict, where: object) -> None:
        refused = rejected_at_validation(decision)
        parsed = rt.parse_claim(claim)
        assert refused == isinstance(parsed, rt.Rejection), (where, claim, decision)
        if refused:
            assert decision["reject_code"] in VALIDATION_CODES, decision
        if not is_json(claim):
            counts["claims not JSON data (left out of the complement)"] += 1
            return
        valid = fast_claim_schema.is_valid(claim)
        counts["claims against the schema"] += 1
        if counts["claims against the schema"] % 20 == 1:  # the fast check is the schema
            assert valid == (not errors(claim_schema, claim)), claim
        if not refused:
            assert valid, (where, claim, errors(claim_schema, claim))
            counts["well-formed claims pass"] += 1
        elif not valid:
            counts["malformed claims fail"] += 1
        else:
            reasons = explain(claim)
            assert reasons, ("the evaluators refuse a claim the schema accepts", where, claim,
                             decision["messages"])
            excluded[reasons[0]] += 1

    for kind, data, evaluators in policy_test_cases(library):
        if kind == "claim":
            decisions = [evaluate(data) for evaluate in evaluators]
            for decision in decisions:
                check_decision(decision, data)
            check_claim(data, decisions[2], data)  # the registry's: validation first
            counts["policy test claims"] += 1
    for base in corpus.paying_bases(compiled, registry):  # what the corpus breaks: paid claims
        decision = registry.evaluate(base)
        assert decision["outcome"] == "paid"
        check_decision(decision, base)
        check_claim(base, decision, base)
        counts["paying bases"] += 1
    for chosen, claim in malformed_claims(library, CORPUS_CLAIMS):
        decision = registry.evaluate(claim)
        assert decision == interpreter.evaluate_many(compiled, claim), (chosen, claim)
        check_decision(decision, chosen)
        counts["decisions"] += 1  # the interpreter's, equal to the generated one's
        check_claim(claim, decision, chosen)
    print(f"\n{dict(counts)}; {len(seen)} distinct decisions validated; "
          f"excluded as inexpressible: {dict(excluded)}")
    assert counts["policy test claims"] >= 150
    assert counts["malformed claims fail"] > CORPUS_CLAIMS // 2
    # Every exclusion is one of the stated rules, and each still occurs (none is stale).
    assert set(excluded) == set(INEXPRESSIBLE), excluded


def test_the_complement_holds_field_by_field(validators) -> None:
    # Each broken value of test_malformed_claims.BAD, alone on a well-formed claim: the schema
    # fails exactly the values the evaluators' validation refuses.
    base = {"claim_id": "c-1", "date_of_service": "2026-03-01", "product": "anzupgo-2pct-cream",
            "quantity": "30", "unit": "g", "days_supply": 30, "channel": "retail",
            "package": "tube-30g", "member": {"birth_date": "1980-04-02"}}
    assert not errors(validators["claim"], base)
    checked = 0
    for kind, values in corpus.BAD.items():
        field = corpus.FIELD.get(kind, kind)
        for value in values:
            claim = dict(base)
            if value is corpus.MISSING:
                del claim[field]
            else:
                claim[field] = value
            if not is_json(claim):
                continue
            refused = isinstance(rt.parse_claim(claim), rt.Rejection)
            valid = not errors(validators["claim"], claim)
            if refused and valid:
                assert explain(claim), (field, value)
            else:
                assert valid != refused, (field, value, errors(validators["claim"], claim))
            checked += 1
    assert checked > 150


# ---------------------------------------------------------------------------------------------
# Review: answers against the answer schema, requests against the request schema


def _usable_somewhere(answer: Any) -> bool:
    """Whether some fact type could use this answer (rt.read_answer with any declared values)."""
    if answer is None:
        return True
    values = tuple(answer) if isinstance(answer, list) and all(
        type(v) is str for v in answer) else (answer,) if type(answer) is str else ()
    return any(rt.read_answer(kind, values, answer)[1] is None  # type: ignore[arg-type]
               for kind in ("bool", "enum", "set", "number", "date"))


def request_is_readable(request: Any) -> bool:
    """The review reads every field: no problem parsing it, and every answer of a usable form."""
    parsed, problems = rt.parse_review_request(request)
    return (parsed is not None and not problems
            and all(_usable_somewhere(a) for a in parsed.facts.values()))


def _request_exclusion(request: Any) -> str | None:
    if not isinstance(request, dict):
        return None
    if _authorization_ends_before_it_starts(request.get("prior_authorization")):
        return "prior_authorization ends before it starts"
    requested, prior = request.get("requested"), request.get("prior_authorization")
    if (isinstance(requested, dict) and _whole_float(requested.get("days"))) or (
            isinstance(prior, dict) and _integer_written_as_float({"authorizations": [prior]})):
        return "an integer field written 30.0"
    return None


def review_requests(library, count: int) -> Iterator[Any]:
    """Well-formed requests of every reviewable policy, and each kind of fault."""
    compiled, _ = library
    rng = random.Random(corpus.SEED + 2)
    reviewable = [item for item in compiled if item.policy.criteria]
    extra = {"requested": [{"quantity": "60", "unit": "g", "days": 30, "through": "2026-06-30"},
                           {"quantity": "60", "unit": "g", "days": 30.0},
                           {"quantity": "60", "unit": "g", "per": "fill"},
                           {"quantity": 0.3, "unit": "GM"}, {"quantity": "1.0001", "unit": "g"},
                           {"quantity": "60", "unit": "kg"}, "60 g", None],
             "channel": ["retail", "", ["retail"], 5, None]}
    for index in range(count):
        item = reviewable[index % len(reviewable)]
        request = corpus.base_request(rng, item)
        facts = queries.review_facts(item.policy)
        roll = rng.random()
        if roll < 0.3:
            field = rng.choice(sorted(corpus.REQUEST_LEVEL))
            value = rng.choice(corpus.REQUEST_LEVEL[field])
            if value is corpus.MISSING:
                request.pop(field, None)
            else:
                request[field] = value
        elif roll < 0.5 and facts:
            fact = rng.choice(sorted(facts))
            request["facts"] = dict(request["facts"], **{fact: corpus.bad_answer(rng, facts[fact])})
        elif roll < 0.65:
            request["prior_authorization"] = corpus.bad_authorization(
                rng, request.get("product", "x"))
        elif roll < 0.8:
            field = rng.choice(sorted(extra))
            if field == "channel":
                request.pop("channels", None)
            request[field] = rng.choice(extra[field])
        elif roll < 0.85:
            request = corpus.junk(rng)
        yield request


def test_review_answers_validate_and_the_request_schema_is_the_reading(
        library, validators) -> None:
    compiled, registry = library
    answer_schema, request_schema = validators["review"], validators["request"]
    claim_schema = validators["claim"]
    counts: collections.Counter[str] = collections.Counter()
    excluded: collections.Counter[str] = collections.Counter()

    def check_answer(answer: dict, where: object) -> None:
        assert not errors(answer_schema, answer), (where, answer, errors(answer_schema, answer))
        counts["answers"] += 1
        counts[answer["outcome"]] += 1
        authorization = answer["authorization"]
        if authorization is not None and authorization["products"]:
            # An approval is an authorization a later claim can carry (docs/contracts.md).
            claim = {"date_of_service": authorization["effective_from"], "product": "p",
                     "quantity": "1", "unit": "g", "days_supply": 1, "channel": "retail",
                     "authorizations": [authorization]}
            assert not errors(claim_schema, claim), authorization
            assert not isinstance(rt.parse_claim(claim), rt.Rejection), authorization

    def check_request(request: Any, where: object) -> None:
        if not is_json(request):
            counts["requests not JSON data"] += 1
            return
        readable, valid = request_is_readable(request), not errors(request_schema, request)
        if readable:
            assert valid, (where, request, errors(request_schema, request))
            counts["readable requests pass"] += 1
        elif not valid:
            counts["unreadable requests fail"] += 1
        else:
            reason = _request_exclusion(request)
            assert reason, ("the review cannot read a request the schema accepts", request,
                            rt.parse_review_request(request))
            excluded[reason] += 1

    for kind, data, evaluators in policy_test_cases(library):
        if kind == "review":
            for review in evaluators:
                check_answer(review(data), data)
            check_request(data, data)
            counts["policy test requests"] += 1
    for request in review_requests(library, REQUESTS):
        answer = registry.review(request)
        assert answer == interpreter.review_many(compiled, request), request
        check_answer(answer, request)
        check_request(request, request)
    print(f"\n{dict(counts)}; excluded as inexpressible: {dict(excluded)}")
    assert counts["policy test requests"] >= 10
    assert counts["approved"] and counts["denied"] and counts["needs_information"]
    assert counts["readable requests pass"] > 100 and counts["unreadable requests fail"] > 100


# ---------------------------------------------------------------------------------------------
# (c) The schemas themselves


# Keywords whose subschemas restate declared properties to narrow them (`if`/`then`, "product
# or ndc"): the declarations, with their titles, are elsewhere.
NARROWING = ("allOf", "anyOf", "if", "then", "else", "not", "contains")


def declared_properties(node: Any, path: str = "#") -> Iterator[tuple[str, dict]]:
    """Every property a schema declares (under `properties`, outside narrowing keywords)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in NARROWING:
                continue
            if key == "properties" and isinstance(value, dict):
                for name, schema in value.items():
                    yield f"{path}/properties/{name}", schema
            yield from declared_properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from declared_properties(value, f"{path}/{index}")


def test_schemas_are_draft_2020_12_with_ids_titles_and_descriptions() -> None:
    assert sorted(p.name for p in SCHEMAS_DIR.iterdir()) == sorted(
        f"{name}.schema.json" for name in CONTRACTS)
    for name in CONTRACTS:
        schema = load_schema(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == f"urn:dqmc:{name}.schema.json"
        assert f"src/dqmc/runtime/schemas/{name}.schema.json" in schema["$comment"]
        assert schema["title"] and schema["description"]
        declared = list(declared_properties(schema))
        assert len(declared) >= 9, name
        for path, node in declared:
            assert node.get("title") and node.get("description"), f"{name} {path}"
        for key, node in schema["$defs"].items():
            assert node.get("title") and node.get("description"), f"{name} $defs/{key}"


def test_shared_definitions_are_the_same_in_every_schema() -> None:
    by_name: dict[str, dict[str, Any]] = {}
    for name in CONTRACTS:
        for key, node in load_schema(name).get("$defs", {}).items():
            if key in by_name:
                assert node == by_name[key], f"$defs/{key} differs in {name}.schema.json"
            by_name[key] = node


def test_the_date_pattern_is_the_calendar(validators) -> None:
    date = load_schema("claim")["$defs"]["date"]
    pattern = re.compile(date["pattern"])
    years = [0, 1, 4, 99, 100, 400, 1600, 1700, 1900, 1999, 2000, 2023, 2024, 2025, 2100, 2400,
             9996, 9999, *random.Random(7).sample(range(10000), 60)]
    checked = 0
    for year in years:
        for month in range(14):
            for day in range(33):
                text = f"{year:04d}-{month:02d}-{day:02d}"
                assert bool(pattern.search(text)) == (rt.read_date(text) is not None), text
                checked += 1
    for text in ["2026-03-01\n", " 2026-03-01", "２０２６-03-01", "2026-3-1", "20260301"]:
        assert errors(validators["claim"], {"member": {"birth_date": text}}), text
    assert checked > 30_000


def test_the_quantity_schema_is_read_quantity(validators) -> None:
    quantity = validators["claim"].schema["$defs"]["quantity"]
    check = jsonschema.Draft202012Validator(quantity, format_checker=jsonschema.FormatChecker())
    rng = random.Random(11)
    texts = ["".join(rng.choice("000123456789.9 \n-e+") for _ in range(rng.randrange(14)))
             for _ in range(20_000)]
    texts += ["9999999.999", "09999999.999", "10000000", "9999999.9990", "0.001", "0.0001", "0",
              "000", "1.", ".5", "1" * 25, "0" * 23 + "1", "0" * 24 + "1", "30\n", "٣٠"]
    numbers: list[Any] = [0, 1, 30, 9999999, 10_000_000, 0.3, 0.001, 0.0001, 30.0, 12.5, 1e-9,
                          9999999.999, 9999999.9999, 1e300, -1, True, None]
    for value in texts + numbers:
        valid = not errors(check, value)
        assert valid == (rt.read_quantity(value) is not None), repr(value)


# ---------------------------------------------------------------------------------------------
# (d) What `dqmc schema` prints is what the generated package ships


def test_dqmc_schema_prints_the_shipped_files(library, capsys) -> None:
    compiled, _ = library
    emitted = emit_python_package(compiled, version=__version__)
    for name in CONTRACTS:
        assert main(["schema", name]) == 0
        printed = capsys.readouterr().out
        shipped = f"dqm_policies/schemas/{name}.schema.json"
        assert printed == emitted[shipped]
        assert printed == (REPO / "generated/python" / shipped).read_text(encoding="utf-8")
        assert json.loads(printed)["$id"] == f"urn:dqmc:{name}.schema.json"
    for argv in (["schema"], ["schema", "spec"]):
        assert main(argv) == 0
        assert json.loads(capsys.readouterr().out)["$id"] == "urn:dqmc:policy.schema.json"
    assert main(["schema", "claims"]) == 2
    message = capsys.readouterr().err
    assert all(f"'{name}'" in message for name in ("spec", *CONTRACTS)), message
    project = tomllib.loads(emitted["pyproject.toml"])
    setuptools = project["tool"]["setuptools"]
    assert "dqm_policies.schemas" in setuptools["packages"]
    assert setuptools["package-data"] == {"dqm_policies.schemas": ["*.schema.json"]}
    assert sorted(p for p in emitted if p.startswith("dqm_policies/schemas/")) == sorted(
        f"dqm_policies/schemas/{name}.schema.json" for name in CONTRACTS)


# ---------------------------------------------------------------------------------------------
# (e) docs/contracts.md: its examples are valid, and are what the evaluators return

EXAMPLE = re.compile(r"<!-- example: ([a-z-]+) -->\n+```json\n(.*?)\n```", re.DOTALL)


def doc_examples() -> dict[str, Any]:
    text = (REPO / "docs/contracts.md").read_text(encoding="utf-8")
    found = [(label, json.loads(body)) for label, body in EXAMPLE.findall(text)]
    examples = dict(found)
    assert len(examples) == len(found), "an example label is used twice"
    assert text.count("```json") == len(found), "a json block without an example label"
    return examples


def test_the_contract_examples_validate_and_are_what_the_evaluators_return(
        library, validators) -> None:
    compiled, registry = library
    examples = doc_examples()
    assert set(examples) == {"claim", "decision-paid", "decision-rejected", "request", "review"}
    schema_of = {"claim": "claim", "decision-paid": "decision", "decision-rejected": "decision",
                 "request": "request", "review": "review"}
    for label, value in examples.items():
        assert not errors(validators[schema_of[label]], value), (label, errors(
            validators[schema_of[label]], value))
    claim = examples["claim"]
    assert claim["history"] and claim["authorizations"]
    without = {k: v for k, v in claim.items() if k != "authorizations"}
    for evaluate in (registry.evaluate, lambda c: interpreter.evaluate_many(compiled, c)):
        assert evaluate(copy.deepcopy(claim)) == examples["decision-paid"]
        assert evaluate(copy.deepcopy(without)) == examples["decision-rejected"]
    assert examples["decision-paid"]["outcome"] == "paid"
    assert examples["decision-rejected"]["outcome"] == "rejected"
    for review in (registry.review, lambda r: interpreter.review_many(compiled, r)):
        assert review(copy.deepcopy(examples["request"])) == examples["review"]
    assert examples["review"]["outcome"] == "approved"


def test_the_contract_document_names_every_reject_code_and_every_field(validators) -> None:
    text = (REPO / "docs/contracts.md").read_text(encoding="utf-8")
    codes = {value for name, value in vars(rt).items() if name.startswith("CODE_")} | {"76"}
    for code in codes:
        assert f"| `{code}` |" in text, code
    for name in CONTRACTS:  # each field is a row of a table (`member.birth_date` for nested)
        for path, _ in declared_properties(load_schema(name)):
            field = path.rsplit("/", 1)[1]
            assert re.search(rf"^\| `([a-z_]+\.)?{field}` \|", text, re.MULTILINE), (name, path)
    assert "dqmc schema claim" in text and "dqm_policies/schemas/" in text
    assert "docs/contracts.md" in (REPO / "README.md").read_text(encoding="utf-8")


def test_dates_in_examples_are_real(validators) -> None:
    # The format checker is on: an impossible date fails by format as well as by pattern.
    bad = {"date_of_service": "2026-02-30"}
    assert any("is not a 'date'" in e for e in errors(validators["claim"], bad))
    assert dt.date.fromisoformat(doc_examples()["claim"]["date_of_service"])
