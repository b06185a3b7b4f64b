"""Golden cases for two holes of issue 18: history in another unit, and a duration nobody stated.

`tests/golden/holes/history_each_for_ml.*`: fills recorded in `each` for a product billed in mL
are counted in the policy's package size, and a fill no package size converts rejects the claim
PZ; the generated evaluator and the interpreter give the decisions in `.expected.json`.
`tests/golden/holes/no_duration.*`: a policy that states no approval duration has its year in
the IR, the document (`.expected.md`) and the review answer alike.
Run with DQMC_UPDATE_GOLDEN=1 to rewrite the expected files, then read their diff.
"""

from __future__ import annotations

import json
from functools import cache

from conftest import REPO, update_golden
from docs_samples import SAMPLE_CONFIG, SAMPLE_VERSION

from dqmc.codegen.docs_emit import emit_docs
from dqmc.codegen.loader import load_generated
from dqmc.interpreter.claims import evaluate_many
from dqmc.interpreter.review import review_many
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.pipeline import compile_paths

HOLES = REPO / "tests/golden/holes"


@cache
def compiled(name: str) -> CompiledPolicy:
    result = compile_paths([(HOLES / f"{name}.dqm").relative_to(REPO).as_posix()])
    assert result.ok, result.diagnostics
    (policy,) = result.compiled
    return policy


def golden(path_name: str, actual: str) -> str:
    path = HOLES / path_name
    if update_golden():
        path.write_text(actual, encoding="utf-8", newline="\n")
    return path.read_text(encoding="utf-8")


def history_decisions() -> dict[str, dict]:
    policy = compiled("history_each_for_ml")
    registry = load_generated([policy])
    claims = json.loads((HOLES / "history_each_for_ml.claims.json").read_text(encoding="utf-8"))
    out = {}
    for claim in claims:
        generated = registry.evaluate(json.loads(json.dumps(claim)))
        interpreted = evaluate_many([policy], json.loads(json.dumps(claim)))
        assert generated == interpreted, claim["claim_id"]
        out[claim["claim_id"]] = generated
    return out


def test_history_in_another_unit_matches_the_golden_decisions() -> None:
    decisions = history_decisions()
    actual = json.dumps(decisions, indent=2, ensure_ascii=False) + "\n"
    assert actual == golden("history_each_for_ml.expected.json", actual)


def test_history_in_each_is_counted_in_bottles_or_rejected_pz() -> None:
    d = history_decisions()
    outcome = {name: (x["outcome"], x["reject_code"], x["prior_quantity"]) for name, x in d.items()}
    # one 150 mL bottle before: 150 + 150 = 300 mL, at the limit (it was counted as 1 mL)
    assert outcome["each-counts-its-bottles"] == ("paid", None, "150")
    # two bottles, by their NDC's package, in NCPDP's EA: 300 + 150 is over 300 mL
    assert outcome["ea-over-the-limit"] == ("rejected", "76", "300")
    assert outcome["ml-history-as-billed"] == ("paid", None, "1")
    assert outcome["reversed-fill-is-not-read"] == ("paid", None, "0")
    for name, unit in (("grams-cannot-be-converted", "ML"),
                       ("drug-file-size-is-not-the-policys", "ML")):
        assert outcome[name] == ("rejected", "PZ", None)
        assert d[name]["messages"] == [f"HISTORY ENTRY 1 UNIT MUST BE {unit}"]


def test_a_policy_without_a_duration_prints_and_grants_one_year() -> None:
    policy = compiled("no_duration")
    assert policy.policy.approval_duration is not None  # stated at lowering
    documents = emit_docs([policy], SAMPLE_CONFIG, version=SAMPLE_VERSION)
    markdown = documents[f"{policy.policy.id}.md"]
    assert markdown == golden("no_duration.expected.md", markdown)
    assert "Approvals are provided for 1 year unless a criterion says otherwise." in markdown
    assert "Approvals under this criterion last 1 year." in markdown
    request = {"policy": policy.policy.id, "request_date": "2026-01-15", "product": "cream",
               "facts": {"needs_more": True}}
    generated = load_generated([policy]).review(dict(request))
    assert generated == review_many([policy], dict(request))
    assert generated["outcome"] == "approved"
    assert generated["authorization"]["effective_through"] == "2027-01-14"
