"""`dqmc test --boundary` and `dqmc verify --examples`: every rule's boundary claims, decided.

The claims come from `dqmc.lang.verify.boundary`; here each is decided by the generated
evaluator and by the interpreter. The two must return the same decision, field for field: a
disagreement on an edge is a bug in one of them, whatever the spec's tests say.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.verify.boundary import BoundaryClaim, boundary_claims

EXIT_OK, EXIT_FAILED = 0, 1


@dataclass
class BoundaryRun:
    """How many boundary claims each policy had, and those the evaluators disagreed on."""

    counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def deciders(compiled: Sequence[CompiledPolicy]) -> dict[str, tuple[Callable[[Any], dict],
                                                                     Callable[[Any], dict]]]:
    """Per policy id: (the generated module's `evaluate`, the interpreter's)."""
    from dqmc.codegen.loader import load_generated
    from dqmc.codegen.python_emit import module_names

    registry = load_generated(compiled)
    names = module_names([c.policy.id for c in compiled])
    out: dict[str, tuple[Callable[[Any], dict], Callable[[Any], dict]]] = {}
    for item, name in zip(compiled, names, strict=True):
        module = importlib.import_module(f"{registry.__name__}.{name}")
        out[item.policy.id] = (module.evaluate, _interpreting(item))
    return out


def _interpreting(item: CompiledPolicy) -> Callable[[Any], dict]:
    from dqmc import interpreter

    def evaluate(claim: Any) -> dict:
        return interpreter.evaluate(item, claim)

    return evaluate


def run_boundary(compiled: Sequence[CompiledPolicy]) -> BoundaryRun:
    run = BoundaryRun()
    decide = deciders(compiled)
    for item in compiled:
        generated, interpreted = decide[item.policy.id]
        claims = boundary_claims(item.policy)
        run.counts[item.policy.id] = len(claims)
        for boundary in claims:
            try:
                ours, oracle = generated(boundary.claim), interpreted(boundary.claim)
            except Exception as exc:  # an evaluator must never raise: report it as a failure
                run.failures.append(f"{_where(boundary)}: raised {type(exc).__name__}: {exc}")
                continue
            if ours != oracle:
                fields = sorted(k for k in set(ours) | set(oracle) if ours.get(k) != oracle.get(k))
                run.failures.append(
                    f"{_where(boundary)}: the evaluators disagree on {', '.join(fields)} "
                    f"(generated {ours.get('outcome')} {ours.get('reject_code')}, interpreter "
                    f"{oracle.get('outcome')} {oracle.get('reject_code')})")
    return run


def _where(boundary: BoundaryClaim) -> str:
    return (f"{boundary.rule} {boundary.claim['claim_id']} {boundary.product} at "
            f"{boundary.channel}, {boundary.label}")


def boundary_report(run: BoundaryRun) -> tuple[str, int]:
    total = sum(run.counts.values())
    lines = [f"FAIL {failure}" for failure in run.failures]
    lines += [f"{policy_id}: {count} boundary claims" for policy_id, count in run.counts.items()]
    lines.append(f"{total - len(run.failures)} passed, {len(run.failures)} failed "
                 f"(boundary claims, generated evaluator and interpreter)")
    return "\n".join(lines), EXIT_FAILED if run.failures else EXIT_OK


def _claim_text(claim: dict[str, Any]) -> str:
    parts = [claim["date_of_service"], f"{claim['quantity']} {claim['unit']}",
             f"{claim['days_supply']}d"]
    if "package" in claim:
        parts.append(f"pkg {claim['package']}")
    parts.append(f"born {claim['member']['birth_date']}")
    history = claim.get("history", [])
    if history:
        parts.append("history " + ", ".join(f"{h['date_of_service']} {h['quantity']}"
                                            for h in history))
    for authorization in claim.get("authorizations", []):
        parts.append(f"auth {authorization['criterion']} {authorization['effective_from']}.."
                     f"{authorization['effective_through']}")
    return "; ".join(parts)


def examples_table(compiled: Sequence[CompiledPolicy]) -> str:
    """Every boundary claim of every policy as a Markdown table, with the decision it gets
    (the interpreter's; `dqmc test --boundary` holds the generated evaluator to it)."""
    from dqmc import interpreter

    out: list[str] = []
    for item in compiled:
        claims = boundary_claims(item.policy)
        out += [f"## {item.policy.id}: {len(claims)} boundary claims", "",
                "| claim | product | channel | rule | edge | claim | decision |",
                "|---|---|---|---|---|---|---|"]
        for boundary in claims:
            decision = interpreter.evaluate(item, boundary.claim)
            decided = decision["outcome"] + (f" {decision['reject_code']}"
                                             if decision["reject_code"] else "")
            cells = [boundary.claim["claim_id"], boundary.product, boundary.channel,
                     f"{boundary.rule} `{boundary.rule_text}`", boundary.label,
                     _claim_text(boundary.claim), decided]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        out.append("")
    return "\n".join(out).rstrip("\n")
