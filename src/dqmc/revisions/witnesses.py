"""Witnesses of a diff: concrete claims, with each version's decision, that back its verdicts.

The claims are both versions' boundary claims (`dqmc.lang.verify.boundary`), decided by the
interpreter under each version. A verdict that a product is *stricter at the point of service*
at a channel must hold for every one of them: when one is paid by the new version (or limited
by no line, which pays it) and rejected by the old, the verdict is *mixed* and that claim is
its witness (and likewise for *looser*).
Each changed limit gets at least one witness: a claim that the two versions decide differently
where there is one, else the claim on the changed rule's edge, with both (equal) decisions.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dqmc import interpreter
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.ir import nodes, queries
from dqmc.lang.ir.canonical import content_hash
from dqmc.lang.verify.boundary import BoundaryClaim, boundary_claims
from dqmc.revisions.changes import Change
from dqmc.revisions.direction import LOOSER, MIXED, STRICTER
from dqmc.revisions.verdicts import Verdict

REJECTED = "rejected"
# A claim no line limits is `not_applicable`: the plan pays it, unlimited, so it counts as paid.
PAYS = ("paid", "not_applicable")


@dataclass(frozen=True, slots=True)
class Witness:
    """A full claim and what each version decides for it; `shows` says why it is listed."""

    claim: dict[str, Any]
    label: str
    product: str
    channel: str
    old: dict[str, Any]  # outcome, reject_code, max_allowed_quantity under the old version
    new: dict[str, Any]
    shows: str  # "stricter", "looser", "changed" (decided differently otherwise), "unchanged"

    def to_data(self) -> dict[str, Any]:
        return {"claim": self.claim, "label": self.label, "product": self.product,
                "channel": self.channel, "old": self.old, "new": self.new, "shows": self.shows}


def _summary(decision: dict[str, Any]) -> dict[str, Any]:
    return {"outcome": decision.get("outcome"), "reject_code": decision.get("reject_code"),
            "max_allowed_quantity": decision.get("max_allowed_quantity")}


def _shows(old: dict[str, Any], new: dict[str, Any]) -> str:
    if old["outcome"] in PAYS and new["outcome"] == REJECTED:
        return STRICTER
    if old["outcome"] == REJECTED and new["outcome"] in PAYS:
        return LOOSER
    return "changed" if old != new else "unchanged"


def _compiled(policy: nodes.Policy) -> CompiledPolicy:
    return CompiledPolicy(policy, queries.location(policy).rsplit(":", 1)[0],
                          content_hash(policy))


def decided_claims(old: nodes.Policy, new: nodes.Policy) -> list[Witness]:
    """Every boundary claim of either version (the same claim once), decided by both."""
    seen: set[str] = set()
    claims: list[BoundaryClaim] = []
    for item in [*boundary_claims(old), *boundary_claims(new)]:
        body = json.dumps({k: v for k, v in item.claim.items() if k != "claim_id"},
                          sort_keys=True)
        if body not in seen:
            seen.add(body)
            claims.append(item)
    old_c, new_c = _compiled(old), _compiled(new)
    out = []
    for index, item in enumerate(claims, start=1):
        claim = dict(item.claim, claim_id=f"w-{index}")
        if "history" in claim:
            claim["history"] = [dict(h, claim_id=f"w-{index}-h{n}")
                                for n, h in enumerate(claim["history"], start=1)]
        before = _summary(interpreter.evaluate(old_c, claim))
        after = _summary(interpreter.evaluate(new_c, claim))
        out.append(Witness(claim, item.label, item.product, item.channel, before, after,
                           _shows(before, after)))
    return out


def _products_of(old: nodes.Policy, new: nodes.Policy, target: str) -> set[str]:
    return set(queries.scope_products(old, target)) | set(queries.scope_products(new, target))


def check_verdicts(old: nodes.Policy, new: nodes.Policy, verdicts: Sequence[Verdict],
                   decided: Sequence[Witness]) -> tuple[list[Verdict], list[Witness]]:
    """The verdicts with every stricter (looser) one that a claim contradicts made mixed, and
    the witnesses that did so."""
    out: list[Verdict] = []
    against: list[Witness] = []
    for verdict in verdicts:
        opposite = {STRICTER: LOOSER, LOOSER: STRICTER}.get(verdict.point_of_service)
        if opposite is None:
            out.append(verdict)
            continue
        products = _products_of(old, new, verdict.target)
        contrary = next((w for w in decided if w.product in products
                         and w.channel == verdict.channel and w.shows == opposite), None)
        if contrary is None:
            out.append(verdict)
        else:
            out.append(dataclasses.replace(verdict, point_of_service=MIXED))
            against.append(contrary)
    return out, against


def witnesses_for(old: nodes.Policy, new: nodes.Policy, changes: Sequence[Change],
                  decided: Sequence[Witness], against: Sequence[Witness]) -> list[Witness]:
    """At least one witness per changed limit, then those that made a verdict mixed."""
    chosen: list[Witness] = []

    def keep(witness: Witness) -> None:
        if witness not in chosen:
            chosen.append(witness)

    for change in changes:
        if change.area != "limit" or not change.key:
            continue
        target = change.key[0]
        channel = change.key[1] if len(change.key) > 1 else None
        products = _products_of(old, new, target)
        mine = [w for w in decided if w.product in products
                and (channel in (None, "all") or w.channel == channel)]
        if not mine:
            continue
        # a claim one version pays and the other rejects says most; then any difference
        ranked = sorted(mine, key=lambda w: (w.shows not in (STRICTER, LOOSER),
                                             w.shows == "unchanged"))
        keep(ranked[0])
    for witness in against:
        keep(witness)
    return chosen
