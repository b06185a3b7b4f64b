"""The reference exception review: each criterion's value by walking its condition in the IR."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import partial

from dqmc import runtime as rt
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.ir import nodes
from dqmc.lang.ir.queries import (
    approval_duration,
    approved_limits,
    condition_facts,
    condition_text,
    duration_fields,
    fallback_routes,
    known_channels,
    review_facts,
    review_routes,
    review_targets,
    review_units,
)


def review(compiled: CompiledPolicy, request: object) -> dict:
    """The answer to one exception request under this version of one policy, as JSON data
    (docs/semantics.md §8.3), as a generated policy module answers."""
    return decide_review(compiled, request).to_dict()


def review_policy(compiled: CompiledPolicy, request: object, *,
                  as_of: dt.date | None = None) -> dict:
    """The answer under one policy, by the version in force on the request date (§2.7), or on
    `as_of` when given, as the registry's `review_policy`. ValueError when no version is in
    force on `as_of`."""
    return _review_dated(compiled, request, as_of, None).to_dict()


def _review_dated(compiled: CompiledPolicy, request: object, as_of: dt.date | None,
                  routed: tuple[tuple[str, ...], str | None] | None) -> rt.ReviewResult:
    """The request answered by the version in force on its request date, or on `as_of`."""
    if as_of is not None:
        return decide_review(compiled.version_as_of(as_of), request, routed=routed)
    day = rt.request_day(request) if compiled.dated else None
    if day is None:  # one version, or a request without a date: the live version answers
        return decide_review(compiled, request, routed=routed)
    version = compiled.version_on(dt.date.fromisoformat(day))
    if version is None:
        first = compiled.versions[0]
        return rt.review_before_first_version(compiled.policy.id, first.content_hash, day,
                                              str(first.first_day))
    return decide_review(version, request, routed=routed)


def review_many(compiled: Sequence[CompiledPolicy], request: object) -> dict:
    """The answer to an exception request, dispatched by its `policy` id or else its `product`."""
    ordered = sorted(compiled, key=lambda c: c.policy.id)
    chosen = None
    if isinstance(request, (dict, rt.ReviewRequest)):
        policy_id = request.get("policy") if isinstance(request, dict) else request.policy
        product = request.get("product") if isinstance(request, dict) else request.product
        if type(policy_id) is str:
            chosen = next((c for c in ordered if c.policy.id == policy_id), None)
        elif type(product) is str:
            fallback, routes = fallback_routes(ordered)
            if product in routes:
                return _review_dated(fallback, request, None, routes[product]).to_dict()  # type: ignore[arg-type]
            chosen = review_routes(ordered).get(product)
    if chosen is None:
        return rt.review_refused(
            (rt.Problem("policy", "no policy matches the request's policy or product"),),
            None, None).to_dict()
    return review_policy(chosen, request)


def decide_review(compiled: CompiledPolicy, request: object, *,
                  routed: tuple[tuple[str, ...], str | None] | None = None) -> rt.ReviewResult:
    """The typed answer to an exception request; never raises on request data. `routed`: the
    request is for another policy's product, sent here as to the fallback guideline."""
    policy = compiled.policy
    criteria = [rt.ReviewCriterion(c.id, partial(_truth, c.when), c.renews,
                                   approved_limits(policy, c),
                                   duration_fields(approval_duration(policy, c)),
                                   c.approves_requested, c.serves, c.requested_for)
                for c in policy.criteria]
    return rt.review_policy(request, policy_id=policy.id, policy_hash=compiled.content_hash,
                            facts=review_facts(policy), channels=known_channels(policy),
                            targets=review_targets(policy), criteria=criteria,
                            units=review_units(policy), routed=routed)


def _truth(expr: nodes.Expr, answers: dict[str, object]) -> rt.Node:
    """The three-valued value of a condition, with the leaves that explain it."""
    return _Truth(answers).visit(expr)


class _Truth(nodes.Visitor[rt.Node]):
    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers

    def visit_And(self, expr: nodes.And) -> rt.Node:
        return rt.all_of(*(self.visit(e) for e in expr.operands))

    def visit_Or(self, expr: nodes.Or) -> rt.Node:
        return rt.any_of(*(self.visit(e) for e in expr.operands))

    def visit_Not(self, expr: nodes.Not) -> rt.Node:
        return rt.negation(self.visit(expr.operand), _label(expr))

    def generic_visit(self, expr: nodes.Node) -> rt.Node:
        assert isinstance(expr, nodes.LEAF_TYPES), expr
        label = _label(expr)
        answer = self.answers.get(expr.fact)
        if answer is None:
            return rt.leaf(None, label)
        if isinstance(expr, nodes.FactRef):
            return rt.leaf(answer is True, label)
        if isinstance(expr, nodes.InSet):
            return rt.leaf(answer in expr.values, label)
        if isinstance(expr, nodes.Subset):
            return rt.leaf(answer <= frozenset(expr.values), label)  # type: ignore[operator]
        return rt.leaf(_compare(answer, expr.op, expr.value), label)


def _label(expr: nodes.Expr) -> tuple[str, tuple[str, ...]]:
    return (condition_text(expr), condition_facts(expr))


def _compare(answer: object, op: str, value: object) -> bool:
    if op == "==":
        return answer == value
    if op == "!=":
        return answer != value
    if op == "<":
        return answer < value  # type: ignore[operator]
    if op == "<=":
        return answer <= value  # type: ignore[operator]
    if op == ">":
        return answer > value  # type: ignore[operator]
    return answer >= value  # type: ignore[operator]
