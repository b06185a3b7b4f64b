"""Worked examples in policy documents: claims on a limit's edges, decided by the evaluator."""

from __future__ import annotations

import json
from typing import Any

from docs_samples import SAMPLE_CONFIG, SAMPLE_VERSION, all_rules_compiled, anzupgo_compiled

from dqmc.codegen import loader
from dqmc.codegen.docs_emit import emit_docs
from dqmc.codegen.docs_examples import EXAMPLE_EDGES, example_claims, worked_examples
from dqmc.lang.verify.boundary import boundary_claims


def test_the_anzupgo_examples_are_what_the_generated_evaluator_decides() -> None:
    item = anzupgo_compiled()
    package = loader.load_generated([item])  # loaded apart from the one the documents used
    examples = worked_examples(item, package.evaluate)
    assert examples is not None and examples.rule == "30 g per 30 days"
    for example in examples.examples:
        decision = package.evaluate(example.claim)
        assert (example.outcome, example.max_allowed) == (
            decision["outcome"], decision["max_allowed_quantity"])
    at_limit, over, outside = examples.examples
    # What the examples are for: the verified edges of 30 g per 30 days at retail.
    assert (at_limit.claim["quantity"], at_limit.outcome) == ("30", "paid")
    assert (over.claim["quantity"], over.outcome, over.max_allowed) == (
        "30.001", "rejected", "30")
    assert over.decision == ("Rejected (76): over 30 grams per 30 days at retail; "
                             "max allowed now 30 grams")
    [earlier] = outside.claim["history"]
    assert (earlier["date_of_service"], outside.claim["date_of_service"]) == (
        "2026-01-30", "2026-03-01")  # the window is 01/31..03/01: the fill is the day before
    assert outside.outcome == "paid"


def test_the_anzupgo_document_shows_them() -> None:
    documents = emit_docs([anzupgo_compiled()], SAMPLE_CONFIG, version=SAMPLE_VERSION)
    markdown = documents["anzupgo-dqm.md"]
    assert "## Worked Examples" in markdown
    assert ("| Retail claim for 30.001 grams (30 days supply), no earlier fills | Rejected (76): "
            "over 30 grams per 30 days at retail; max allowed now 30 grams |") in markdown
    assert '<table id="worked-examples">' in documents["anzupgo-dqm.html"]


def test_a_document_states_what_the_evaluator_says_not_what_the_limit_suggests() -> None:
    def refuse_all(claim: dict[str, Any]) -> dict[str, Any]:
        return {"outcome": "rejected", "reject_code": "99", "messages": ["NO"],
                "limit": None, "max_allowed_quantity": None}

    item = anzupgo_compiled()
    documents = emit_docs([item], SAMPLE_CONFIG, version=SAMPLE_VERSION, evaluate=refuse_all)
    rows = [line for line in documents["anzupgo-dqm.md"].splitlines()
            if line.startswith("| Retail claim")]
    assert len(rows) == 3 and all(row.endswith("| Rejected (99): No |") for row in rows)


def test_examples_are_the_boundary_claims_of_a_limit_every_claim_meets() -> None:
    item = all_rules_compiled()
    chosen = example_claims(item.policy, item.plan)
    assert chosen is not None
    product, channel, rule, claims = chosen
    # No age band or package to pick: the first product with a plain window limit.
    assert (product, channel, rule) == ("rizatriptan-10mg", "retail", "18 each per 30 days")
    assert [c.claim["quantity"] for c in claims] == ["18", "19", "18"]
    boundary = {(b.edge, json.dumps(b.claim, sort_keys=True)) for b in boundary_claims(item.policy)
                if b.product == product}
    assert [(edge, json.dumps(c.claim, sort_keys=True)) in boundary for edge, c in zip(
        EXAMPLE_EDGES, claims, strict=True)] == [True, True, True]
