"""Which parts of two versions correspond: keys for limits, approvals, conditions; rule pairing."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from dqmc.lang.ir import nodes
from dqmc.lang.ir.canonical import snake, to_data

ALL_CHANNELS = "all"  # how keys and verdicts name a rule written for every channel


def canon(value: Any) -> str:
    return json.dumps(_wordless(to_data(value)), sort_keys=True)


def _wordless(data: Any) -> Any:
    """Canonical data without the word an `each` count was written in: "60 tablets" and
    "60 each" are one limit."""
    if isinstance(data, dict):
        return {k: _wordless(v) for k, v in data.items()
                if not (k == "noun" and "amount" in data and "unit" in data)}
    if isinstance(data, list):
        return [_wordless(v) for v in data]
    return data


def selectors_key(selectors: Sequence[nodes.Selector]) -> str:
    return json.dumps(sorted(canon(s) for s in selectors))


def rule_kind(rule: nodes.Rule) -> str:
    return snake(type(rule).__name__)


def _window(rule: nodes.Rule) -> int | None:
    return getattr(rule, "days", None)


def pair_rules(old: Sequence[Any], new: Sequence[Any], rule_of=lambda item: item
               ) -> tuple[list[tuple[Any, Any]], list[Any], list[Any]]:
    """Pair items of one key (same target, channel, selectors and rule kind) across versions.

    Equal rules pair first, then rules over the same window, then the rest in order of window
    and quantity; what is left was added or removed.
    """
    old_left, new_left = list(old), list(new)
    pairs: list[tuple[Any, Any]] = []

    def take(match) -> None:
        for o in list(old_left):
            partner = next((n for n in new_left if match(rule_of(o), rule_of(n))), None)
            if partner is not None:
                pairs.append((o, partner))
                old_left.remove(o)
                new_left.remove(partner)

    take(lambda a, b: canon(a) == canon(b))
    take(lambda a, b: _window(a) is not None and _window(a) == _window(b))

    def order(item: Any) -> tuple:
        rule = rule_of(item)
        quantity = getattr(rule, "quantity", None)
        return (_window(rule) or 0, quantity.amount if quantity is not None else 0)

    old_left.sort(key=order)
    new_left.sort(key=order)
    while old_left and new_left:
        pairs.append((old_left.pop(0), new_left.pop(0)))
    return pairs, old_left, new_left


def limit_key(limit: nodes.Limit) -> tuple[str, str, str, str]:
    return (limit.target, limit.channel or ALL_CHANNELS, selectors_key(limit.when),
            rule_kind(limit.rule))


def approval_key(approval: nodes.Approval) -> tuple[str, str, str]:
    return (approval.target, approval.channel or ALL_CHANNELS, rule_kind(approval.rule))


def grouped(items: Iterable[Any], key) -> dict[Any, list[Any]]:
    found: dict[Any, list[Any]] = {}
    for item in items:
        found.setdefault(key(item), []).append(item)
    return found


def keys_in_order(old: dict, new: dict) -> list:
    """Keys of the new version in its order, then keys only the old version has.

    Each key is in `old` or in `new`, so `old.get(key)` and `new.get(key)` are never both None.
    """
    return list(new) + [k for k in old if k not in new]


def expr_key(expr: nodes.Expr) -> str:
    """A condition's identity, blind to the order of and/or operands and of listed values."""
    return _ExprKey().visit(expr)


class _ExprKey(nodes.Visitor[str]):
    def visit_And(self, expr: nodes.And) -> str:
        return f"And({','.join(sorted(self.visit(e) for e in expr.operands))})"

    def visit_Or(self, expr: nodes.Or) -> str:
        return f"Or({','.join(sorted(self.visit(e) for e in expr.operands))})"

    def visit_Not(self, expr: nodes.Not) -> str:
        return f"Not({self.visit(expr.operand)})"

    def visit_InSet(self, expr: nodes.InSet) -> str:
        return f"InSet({expr.fact}:{sorted(expr.values)})"

    def visit_Subset(self, expr: nodes.Subset) -> str:
        return f"Subset({expr.fact}:{sorted(expr.values)})"

    def generic_visit(self, expr: nodes.Node) -> str:  # FactRef, Compare
        return canon(expr)


class _Conjuncts(nodes.Visitor[tuple[nodes.Expr, ...]]):
    """The operands of a conjunction; any other condition is a conjunction of itself."""

    def visit_And(self, expr: nodes.And) -> tuple[nodes.Expr, ...]:
        return expr.operands

    def generic_visit(self, expr: nodes.Node) -> tuple[nodes.Expr, ...]:
        return (expr,)  # type: ignore[return-value]


def leaves_by_fact(expr: nodes.Expr) -> dict[str, nodes.Expr] | None:
    """A conjunction's tests by fact, when each fact is tested once; None for other shapes."""
    found: dict[str, nodes.Expr] = {}
    for operand in _Conjuncts().visit(expr):
        if not isinstance(operand, nodes.LEAF_TYPES):
            return None
        if operand.fact in found:
            return None
        found[operand.fact] = operand
    return found

