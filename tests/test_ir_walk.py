"""The IR's one way to be walked: `Node.children`/`walk`/`transform` and `Visitor`, and the rule
that passes outside `lang/ir/` do not walk conditions by hand."""

from __future__ import annotations

import pickle
import re
from decimal import Decimal
from pathlib import Path

import pytest

from dqmc.lang.ir import nodes
from dqmc.lang.source import Span


def _condition() -> nodes.Expr:
    # a and (b or not c >= 2)
    return nodes.And(operands=(
        nodes.FactRef(fact="a"),
        nodes.Or(operands=(
            nodes.InSet(fact="b", values=("x", "y")),
            nodes.Not(operand=nodes.Compare(fact="c", op=">=", value=Decimal(2))),
        )),
    ))


def test_every_ir_dataclass_is_a_node_and_values_are_not() -> None:
    for name in ("Quantity", "Package", "Product", "Group", "Channel", "PerWindow", "NotCovered",
                 "AgeBand", "Limit", "Fact", "FactRef", "And", "Or", "Not", "Duration",
                 "Approval", "Criterion", "Section", "Reference", "Revision", "Policy"):
        assert issubclass(getattr(nodes, name), nodes.Node), name
    assert not issubclass(nodes.Month, nodes.Node)


def test_children_are_the_nodes_among_the_fields_in_field_order_through_tuples() -> None:
    expr = _condition()
    assert isinstance(expr, nodes.And)
    assert list(expr.children()) == list(expr.operands)
    limit = nodes.Limit(target="p", channel=None,
                        rule=nodes.PerFill(quantity=nodes.Quantity(amount=Decimal(1), unit="g")),
                        when=(nodes.AgeBand(min_years=18), nodes.PackageIs(package="tube")))
    assert list(limit.children()) == [limit.rule, *limit.when]
    assert list(nodes.FactRef(fact="a").children()) == []


def test_walk_is_pre_order_the_node_first() -> None:
    names = [type(n).__name__ for n in _condition().walk()]
    assert names == ["And", "FactRef", "Or", "InSet", "Not", "Compare"]


def test_walk_of_a_policy_reaches_every_condition_leaf() -> None:
    criterion = nodes.Criterion(id="c", title=None, when=_condition(), approves=())
    policy = nodes.Policy(id="x", title="X", type="per_days", criteria=(criterion,))
    facts = [n.fact for n in policy.walk()
             if isinstance(n, (nodes.FactRef, nodes.Compare, nodes.InSet, nodes.Subset))]
    assert facts == ["a", "b", "c"]


def test_transform_returns_the_same_object_when_nothing_changed() -> None:
    expr = _condition()
    assert expr.transform(lambda n: n) is expr


def test_transform_rebuilds_bottom_up_and_keeps_spans() -> None:
    span = Span(file="f.dqm", line=3, col=1, end_line=3, end_col=9)
    expr = nodes.Or(operands=(nodes.FactRef(fact="a", span=span),
                              nodes.Not(operand=nodes.FactRef(fact="b"))), span=span)
    seen: list[str] = []

    def rename(node: nodes.Node) -> nodes.Node:
        seen.append(type(node).__name__)
        if isinstance(node, nodes.FactRef) and node.fact == "b":
            return nodes.FactRef(fact="renamed", span=node.span)
        return node

    new = expr.transform(rename)
    assert seen == ["FactRef", "FactRef", "Not", "Or"]  # children before their parent
    assert new == nodes.Or(operands=(nodes.FactRef(fact="a"),
                                     nodes.Not(operand=nodes.FactRef(fact="renamed"))))
    assert isinstance(new, nodes.Or) and new.span == span
    assert new.operands[0] is expr.operands[0]  # an unchanged child is shared, not copied


def test_a_visitor_dispatches_on_the_class_name() -> None:
    class Text(nodes.Visitor[str]):
        def visit_And(self, node: nodes.And) -> str:
            return "(" + " and ".join(self.visit(op) for op in node.operands) + ")"

        def visit_Or(self, node: nodes.Or) -> str:
            return "(" + " or ".join(self.visit(op) for op in node.operands) + ")"

        def visit_Not(self, node: nodes.Not) -> str:
            return "not " + self.visit(node.operand)

        def generic_visit(self, node: nodes.Node) -> str:
            return getattr(node, "fact", "?")

    assert Text().visit(_condition()) == "(a and (b or not c))"


def test_a_visitor_without_a_method_for_a_node_says_so() -> None:
    class Nothing(nodes.Visitor[int]):
        pass

    with pytest.raises(TypeError, match="visit_FactRef"):
        Nothing().visit(nodes.FactRef(fact="a"))


def test_the_policy_index_lives_on_the_policy_and_is_not_content() -> None:
    product = nodes.Product(id="p", brand="B", generic="g", strength=None, form="cream", unit="g")
    fact = nodes.Fact(id="f", type="bool", question="Q?")
    policy = nodes.Policy(id="x", title="X", type="per_days", products=(product,), facts=(fact,))
    assert policy.product("p") is product and policy.fact("f") is fact
    assert policy.channel("retail") is None and policy.group("p") is None
    assert "index" not in repr(policy)
    again = pickle.loads(pickle.dumps(policy))
    assert again == policy and again.product("p") == product
    assert hash(policy) == hash(nodes.Policy(id="x", title="X", type="per_days",
                                             products=(product,), facts=(fact,)))


SRC = Path(__file__).resolve().parent.parent / "src" / "dqmc"
CONNECTIVE = re.compile(r"\bnodes\.(And|Or|Not)\b")
# Lines that test a node's type: isinstance(...) or a match case.
TYPE_TEST = re.compile(r"isinstance\(|^\s*case\s")
# Modules allowed to test for And/Or/Not themselves, each with why it cannot walk instead.
ALLOWED = {
    # The DSL formatter lays a condition out in lock-step with the author's ConditionLayout (their
    # parentheses and line breaks), a tree beside the IR that walk() cannot see; it also decides
    # where the grammar needs parentheses from the parent's and child's connective.
    "lang/printers/dsl_fragments.py",
}


def test_no_pass_outside_the_ir_walks_conditions_by_hand() -> None:
    """Outside `lang/ir/`, no module tests a node for `nodes.And`, `nodes.Or` or `nodes.Not`
    (isinstance or a match case), nor imports those names from the IR: a pass that collects the
    tests of a condition uses `walk()` / `nodes.leaves()`, and one that computes per node type
    (truth, text, keys) is a `nodes.Visitor` with `visit_And`/`visit_Or`/`visit_Not`. So where a
    condition keeps its operands is known in one place. Building those nodes (the front ends'
    lowering) is not a type test and is allowed anywhere; ALLOWED lists the exceptions and why."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative.startswith("lang/ir/") or relative in ALLOWED:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if CONNECTIVE.search(line) and TYPE_TEST.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
            if re.search(r"from dqmc\.lang\.ir\.nodes import .*\b(And|Or|Not)\b", line):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert not found, "walk conditions with walk()/Visitor, not by hand:\n" + "\n".join(found)


def test_the_rule_catches_a_hand_walk() -> None:
    line = "        case nodes.And(operands=ops) | nodes.Or(operands=ops):"
    assert CONNECTIVE.search(line) and TYPE_TEST.search(line)
    assert CONNECTIVE.search("if isinstance(expr, (nodes.And, nodes.Or)):")
    assert not TYPE_TEST.search("        return nodes.And(operands=tuple(children), span=span)")
