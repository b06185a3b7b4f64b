"""Boundary claims: every spec's edges decided by the generated evaluator and the interpreter."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from conftest import REPO

from dqmc import interpreter
from dqmc.codegen.loader import load_generated
from dqmc.codegen.python_emit import module_names
from dqmc.lang.pipeline import compile_paths
from dqmc.lang.verify.boundary import boundary_claims

SPECS = compile_paths([(REPO / "policy_specs").as_posix()])


def _generated() -> dict[str, object]:
    registry = load_generated(SPECS.compiled)
    names = module_names([c.policy.id for c in SPECS.compiled])
    return {c.policy.id: importlib.import_module(f"{registry.__name__}.{name}")
            for c, name in zip(SPECS.compiled, names, strict=True)}


@pytest.mark.parametrize("item", SPECS.compiled, ids=[c.policy.id for c in SPECS.compiled])
def test_both_evaluators_agree_on_every_boundary_claim(item) -> None:
    generated = _generated()[item.policy.id]
    claims = boundary_claims(item.policy)
    for boundary in claims:
        ours = generated.evaluate(boundary.claim)  # type: ignore[attr-defined]
        oracle = interpreter.evaluate(item, boundary.claim)
        assert ours == oracle, (boundary.label, boundary.claim)
        # A boundary claim is well formed: refused by no input check (85, 09, 21, PZ, U7).
        assert oracle["reject_code"] not in ("85", "09", "21", "PZ", "U7"), (
            boundary.label, oracle["messages"])


def test_anzupgo_edges_get_the_decisions_their_labels_say() -> None:
    anzupgo = next(c for c in SPECS.compiled if c.policy.id == "anzupgo-dqm")
    claims = {(b.channel, b.edge): b for b in boundary_claims(anzupgo.policy)}
    outcome = {key: interpreter.evaluate(anzupgo, b.claim)["outcome"] for key, b in claims.items()}
    assert outcome[("retail", "at-limit")] == "paid"
    assert outcome[("retail", "over-limit")] == "rejected"
    assert claims[("retail", "over-limit")].claim["quantity"] == "30.001"
    assert outcome[("retail", "window-first-day")] == "rejected"
    assert outcome[("retail", "window-day-before")] == "paid"
    assert outcome[("retail", "window-last-day")] == "rejected"
    assert outcome[("retail", "auth-first-day")] == "paid"
    assert outcome[("retail", "auth-last-day")] == "paid"
    assert outcome[("retail", "auth-day-after")] == "rejected"
    first = dt.date.fromisoformat(claims[("retail", "window-first-day")].claim["history"][0]
                                  ["date_of_service"])
    assert first == dt.date(2026, 3, 1) - dt.timedelta(days=29)


def test_claim_ids_are_numbered_in_order_and_stable() -> None:
    anzupgo = next(c for c in SPECS.compiled if c.policy.id == "anzupgo-dqm")
    once, again = boundary_claims(anzupgo.policy), boundary_claims(anzupgo.policy)
    assert [b.claim for b in once] == [b.claim for b in again]
    assert [b.claim["claim_id"] for b in once] == [f"b-{n}" for n in range(1, len(once) + 1)]
