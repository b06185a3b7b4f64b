"""Worked examples for policy documents: claims on one limit's edges, decided by the evaluator.

A document shows a few claims for one product at one channel, taken from the verified boundary
claims (`dqmc.lang.verify.boundary`) of one of its limits: the claim at the limit, the claim one
billing increment over it, and, for a rolling window, the claim after a fill the day before the
window opens. The limit is chosen from the plan (`dqmc.lang.plan`), the way the evaluators read
a policy; the decisions are not chosen at all: each is whatever the generated evaluator answers
when the build runs it, so an example cannot disagree with the evaluator that decides claims.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dqmc.lang import plan as planning
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.ir import nodes
from dqmc.lang.printers.english import (
    amount_phrase,
    channel_in_sentence,
    channel_label,
    date_view,
    join_words,
    product_name,
)
from dqmc.lang.verify.boundary import boundary_claims

# The rule kinds an example can sit on the edge of: each bounds a quantity.
QUANTITY_KINDS = ("per_window", "per_fill", "per_day")
# The boundary claims a document shows, in this order (BoundaryClaim.edge).
EXAMPLE_EDGES = ("at-limit", "over-limit", "window-day-before")

Evaluate = Callable[[dict[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class ExampleClaim:
    """A claim chosen for a document, with what it shows in words; no outcome is stated."""

    situation: str  # "Retail claim for 30.001 grams (30 days supply), no earlier fills"
    claim: dict[str, Any]
    product: str
    unit: str


@dataclass(frozen=True, slots=True)
class WorkedExample:
    """An example claim and the decision the generated evaluator gave it, in words."""

    situation: str
    decision: str  # "Paid", "Rejected (76): 30 g per 30 days exceeded; max allowed now 30 grams"
    outcome: str  # the decision's outcome: paid, rejected, ...
    max_allowed: str | None  # the decision's max_allowed_quantity
    claim: dict[str, Any]


@dataclass(frozen=True, slots=True)
class WorkedExamples:
    """A document's examples: the product and channel they are for, and each claim."""

    product: str  # the product's name as the document writes it
    channel: str  # "retail"
    rule: str  # "30 g per 30 days": the limit the claims sit on the edges of
    examples: tuple[WorkedExample, ...]


def _example_rule(product: planning.ProductPlan, kinds: Sequence[str]
                  ) -> tuple[planning.ChannelPlan, planning.RulePlan] | None:
    """The first channel's limit of `kinds` an example can show plainly: a quantity bound that
    applies to every claim (no age band or package to pick; an implementation date is passed by
    the examples' date), in billing units."""
    if product.drug_file_sized:  # its claims carry a package size the document cannot give
        return None
    for channel in product.channels:
        for rule in channel.rules:
            if (rule.kind in kinds and rule.quantity is not None and rule.noun is None
                    and (rule.selection is None or not rule.selection.conditions)):
                return channel, rule
    return None


def example_claims(policy: nodes.Policy, lowered: planning.PolicyPlan
                   ) -> tuple[str, str, str, tuple[ExampleClaim, ...]] | None:
    """(product id, channel, rule text, claims): a window limit rather than another, and a
    product a claim can fill without prior authorization rather than one that needs it (its
    one example then shows the claim refused for want of one)."""
    for needs_authorization in (False, True):
        for kinds in (("per_window",), QUANTITY_KINDS):
            for product in lowered.products:
                if (product.authorization is not None) != needs_authorization:
                    continue
                found = _example_rule(product, kinds)
                if found is None:
                    continue
                channel, rule = found
                claims = _edge_claims(policy, product, channel.channel, rule)
                if needs_authorization:
                    claims = [ExampleClaim(claims[0].situation.replace(
                        ", no earlier fills", ", no prior authorization on file"),
                        claims[0].claim, product.id, product.unit)]
                return product.id, channel.channel, rule.text, tuple(claims)
    return None


def _edge_claims(policy: nodes.Policy, product: planning.ProductPlan, channel: str,
                 rule: planning.RulePlan) -> list[ExampleClaim]:
    """The rule's boundary claims of EXAMPLE_EDGES for this product and channel, in words."""
    edges = {item.edge: item.claim for item in boundary_claims(policy)
             if (item.product, item.channel, item.rule) == (product.id, channel, rule.source)
             and item.edge in EXAMPLE_EDGES}
    words = _Words(policy, product, channel)
    made = []
    for edge in EXAMPLE_EDGES:
        if edge not in edges:
            continue
        situation = words.situation(edges[edge])
        if edge == "window-day-before":
            situation += f", the day before its {rule.days}-day window opens"
        made.append(ExampleClaim(situation, edges[edge], product.id, product.unit))
    return made


class _Words:
    """How an example names its claim: "Retail claim for 30 grams (30 days supply)"."""

    def __init__(self, policy: nodes.Policy, product: planning.ProductPlan, channel: str) -> None:
        found = policy.product(product.id)
        self.products = (found,) if found is not None else ()
        self.unit: nodes.BillingUnit = product.unit  # type: ignore[assignment]
        self.channel = channel_label(policy, channel)

    def amount(self, quantity: str) -> str:
        return amount_phrase(Decimal(quantity), self.unit, self.products)

    def situation(self, claim: Mapping[str, Any]) -> str:
        """The claim in words, with its earlier fills, dated when it has some."""
        said = (f"{self.channel} claim for {self.amount(claim['quantity'])} "
                f"({claim['days_supply']} days supply)")
        history = claim.get("history") or ()
        if not history:
            return f"{said}, no earlier fills"
        day = date_view(dt.date.fromisoformat(claim["date_of_service"])).text
        fills = join_words([f"{self.amount(fill['quantity'])} filled on "
                            f"{date_view(dt.date.fromisoformat(fill['date_of_service'])).text}"
                            for fill in history])
        return f"{said} on {day}, after {fills}"


def decision_words(decision: Mapping[str, Any], policy: nodes.Policy, unit: str,
                   products: Sequence[nodes.Product]) -> str:
    """A decision as a document states it: "Paid", or the reject code, the limit and what is
    allowed now."""
    outcome = str(decision.get("outcome"))
    if outcome == "paid":
        return "Paid"
    parts = [f"{outcome.capitalize()} ({decision.get('reject_code')})"]
    limit = decision.get("limit")
    if isinstance(limit, Mapping) and limit.get("text"):
        where = channel_in_sentence(channel_label(policy, str(decision.get("channel"))))
        parts.append(f": over {_limit_words(limit, products)} at {where}")
    if not (isinstance(limit, Mapping) and limit.get("text")):  # refused for another reason
        messages = [str(m) for m in decision.get("messages") or ()]
        if messages:
            parts.append(": " + "; ".join(m.capitalize() for m in messages))
    allowed = decision.get("max_allowed_quantity")
    if allowed is not None:
        phrase = amount_phrase(Decimal(str(allowed)), unit, products)  # type: ignore[arg-type]
        parts.append(f"; max allowed now {phrase}")
    return "".join(parts)


def _limit_words(limit: Mapping[str, Any], products: Sequence[nodes.Product]) -> str:
    """The limit a decision names, in the document's words ("18 tablets per 30 days") where it
    is a quantity per window or per fill, else as the decision writes it."""
    kind, quantity, unit = limit.get("kind"), limit.get("quantity"), limit.get("unit")
    if kind in ("per_window", "per_fill", "per_day") and quantity is not None and unit:
        amount = amount_phrase(Decimal(str(quantity)), unit, products)
        per = {"per_fill": "fill", "per_day": "day"}.get(str(kind), f"{limit['days']} days")
        return f"{amount} per {per}"
    return str(limit["text"])


def worked_examples(compiled: CompiledPolicy, evaluate: Evaluate) -> WorkedExamples | None:
    """A policy's worked examples, each decided by `evaluate` (the generated evaluator)."""
    policy = compiled.policy
    chosen = example_claims(policy, compiled.plan)
    if chosen is None:
        return None
    product_id, channel, rule_text, claims = chosen
    product = policy.product(product_id)
    assert product is not None
    examples = []
    for example in claims:
        decision = evaluate(dict(example.claim))
        examples.append(WorkedExample(
            situation=example.situation,
            decision=decision_words(decision, policy, example.unit, (product,)),
            outcome=str(decision.get("outcome")),
            max_allowed=decision.get("max_allowed_quantity"),
            claim=example.claim,
        ))
    return WorkedExamples(product_name(product), channel, rule_text, tuple(examples))
