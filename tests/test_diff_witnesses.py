"""Witnesses of `dqmc diff`: full claims that get, from each version's generated evaluator, the
decisions the diff states; "stricter at the point of service" holds for every boundary claim."""

from __future__ import annotations

import dataclasses
import importlib
import json
import subprocess
import sys
from decimal import Decimal

from conftest import REPO, examples
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import policies

from dqmc.codegen.loader import load_generated
from dqmc.codegen.python_emit import module_names
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.diagnostics import has_errors
from dqmc.lang.ir import nodes
from dqmc.lang.pipeline import compile_paths, compile_text
from dqmc.lang.printers.dsl_print import print_policy
from dqmc.revisions.diff import diff_policies
from dqmc.revisions.direction import STRICTER
from dqmc.revisions.verdicts import Verdict
from dqmc.revisions.witnesses import check_verdicts, decided_claims

OLD = "policy_specs/history/anzupgo-dqm/2025-11-11.dqm"
NEW = "policy_specs/anzupgo.dqm"


def _generated(path: str):
    result = compile_paths([path])
    assert result.ok
    registry = load_generated(result.compiled)
    name = module_names([result.compiled[0].policy.id])[0]
    return importlib.import_module(f"{registry.__name__}.{name}")


def test_anzupgo_witnesses_get_the_stated_decisions_from_each_generated_evaluator() -> None:
    run = subprocess.run([sys.executable, "-m", "dqmc", "diff", OLD, NEW, "--format", "json"],
                         cwd=REPO, capture_output=True, text=True, check=True)
    data = json.loads(run.stdout)
    witnesses = data["witnesses"]
    changed = [c for c in data["changes"] if c["area"] == "limit"]
    assert changed and len(witnesses) >= len(changed)
    old, new = _generated(OLD), _generated(NEW)
    for witness in witnesses:
        for label, module in (("old", old), ("new", new)):
            decision = module.evaluate(witness["claim"])
            stated = witness[label]
            assert decision["outcome"] == stated["outcome"], (label, witness)
            assert decision["reject_code"] == stated["reject_code"], (label, witness)
            assert decision["max_allowed_quantity"] == stated["max_allowed_quantity"]
    # each changed channel has a witness the versions decide differently: paid, then rejected
    shown = {(w["channel"], w["shows"]) for w in witnesses}
    assert ("retail", STRICTER) in shown and ("home_delivery", STRICTER) in shown
    assert all(v["point_of_service"] == STRICTER for v in data["verdicts"])


MIXED_OLD = """\
policy mixed "Mixed" {
  type per_days
  product syrup {
    brand "Brand"
    generic "generic"
    form "syrup"
    unit mL
  }
  limit syrup {
    retail 100 mL per 30 days since 2025-01-01
  }
}
"""


def test_a_later_since_with_a_lower_limit_is_mixed_with_a_looser_witness() -> None:
    # 90 mL per 30 days is stricter by quantity, but from 2026-06-01 only: a claim over 100 mL
    # in March 2026, rejected by the old version, is limited by nothing in the new one.
    old = compile_text("old.dqm", MIXED_OLD).policy
    new = compile_text("new.dqm", MIXED_OLD.replace("100 mL", "90 mL").replace(
        "2025-01-01", "2026-06-01")).policy
    assert old is not None and new is not None
    result = diff_policies(old, new)
    verdict = next(v for v in result.verdicts if v.channel == "retail")
    assert verdict.point_of_service == "mixed"
    looser = [w for w in result.witnesses if w.shows == "looser"]
    assert looser, result.witnesses
    assert looser[0].old["outcome"] == "rejected"
    assert looser[0].new["outcome"] in ("paid", "not_applicable")


def test_a_stricter_verdict_a_boundary_claim_contradicts_becomes_mixed_with_it() -> None:
    old = compile_text("old.dqm", MIXED_OLD).policy
    new = compile_text("new.dqm", MIXED_OLD.replace("100 mL", "90 mL").replace(
        "2025-01-01", "2026-06-01")).policy
    assert old is not None and new is not None
    claimed = [Verdict("syrup", "Brand (generic syrup)", "retail", STRICTER, "unchanged"),
               Verdict("syrup", "Brand (generic syrup)", "home_delivery", STRICTER, "unchanged")]
    verdicts, against = check_verdicts(old, new, claimed, decided_claims(old, new))
    assert [v.point_of_service for v in verdicts] == ["mixed", STRICTER]  # no claim at home
    assert len(against) == 1 and against[0].channel == "retail"
    assert against[0].old["outcome"] == "rejected"
    assert against[0].new["outcome"] in ("paid", "not_applicable")


def _compiled(policy: nodes.Policy, name: str) -> nodes.Policy | None:
    result = compile_text(name, print_policy(policy))
    if result.policy is None or has_errors(result.diagnostics):
        return None
    return result.policy


def _scaled(limit: nodes.Limit, factor: Decimal, days: int) -> nodes.Limit:
    rule = limit.rule
    quantity = getattr(rule, "quantity", None)
    if quantity is not None and quantity.packages is None and quantity.doses is None:
        rule = dataclasses.replace(rule, quantity=dataclasses.replace(
            quantity, amount=(quantity.amount * factor).quantize(Decimal("0.001"))))
    if isinstance(rule, (nodes.PerWindow, nodes.FillsPerWindow, nodes.DaysSupplyMax,
                         nodes.TherapyMax)):
        rule = dataclasses.replace(rule, days=days)
    return dataclasses.replace(limit, rule=rule)


@st.composite
def policy_pairs(draw: st.DrawFn) -> tuple[nodes.Policy, nodes.Policy]:
    """A random policy and an edit of it: limits rescaled, given new windows, dropped."""
    old = draw(policies())
    limits = []
    for limit in old.limits:
        action = draw(st.sampled_from(("keep", "scale", "drop")))
        if action == "scale":
            factor = Decimal(draw(st.sampled_from(("0.5", "0.9", "1.5", "2"))))
            limits.append(_scaled(limit, factor, draw(st.integers(1, 120))))
        elif action == "keep":
            limits.append(limit)
    new = dataclasses.replace(old, limits=tuple(limits))
    return old, new


@settings(max_examples=examples(40), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(policy_pairs())
def test_stricter_at_the_point_of_service_holds_for_every_boundary_claim(
        pair: tuple[nodes.Policy, nodes.Policy]) -> None:
    old, new = (_compiled(pair[0], "old.dqm"), _compiled(pair[1], "new.dqm"))
    assume(old is not None and new is not None)
    assert old is not None and new is not None
    result = diff_policies(old, new)  # never raises, whatever the pair
    decided = decided_claims(old, new)
    for verdict in result.verdicts:
        if verdict.point_of_service != STRICTER:
            continue
        products = ({p.id for p in old.products} | {p.id for p in new.products})
        members = {verdict.target} & products or set(
            (old.group(verdict.target) or new.group(verdict.target)).products)  # type: ignore[union-attr]
        for witness in decided:
            if witness.product in members and witness.channel == verdict.channel:
                assert not (witness.new["outcome"] == "paid"
                            and witness.old["outcome"] == "rejected"), witness
    # every witness's decisions are what the interpreter gives each version
    for witness in result.witnesses:
        for policy, stated in ((old, witness.old), (new, witness.new)):
            from dqmc import interpreter
            from dqmc.lang.ir.canonical import content_hash

            got = interpreter.evaluate(CompiledPolicy(policy, "x", content_hash(policy)),
                                       witness.claim)
            assert got["outcome"] == stated["outcome"]
