"""Policy.product and Policy.group: indexed lookups that answer exactly as a scan would."""

from __future__ import annotations

from conftest import REPO

from dqmc.lang.ir import nodes
from dqmc.lang.pipeline import compile_text


def test_lookups_answer_from_the_policy_asked_even_when_an_equal_one_was_asked_first() -> None:
    text = (REPO / "policy_specs/anzupgo.dqm").read_text(encoding="utf-8")
    first = compile_text("a.dqm", text).policy
    moved = compile_text("b.dqm", "\n\n\n" + text).policy
    assert first is not None and moved is not None and first == moved  # spans do not count
    assert first.product("anzupgo-2pct-cream").span.file == "a.dqm"
    assert moved.product("anzupgo-2pct-cream").span.file == "b.dqm"
    assert moved.product("anzupgo-2pct-cream").span.line == first.product(
        "anzupgo-2pct-cream").span.line + 3
    assert first.product("no-such-product") is None and first.group("no-such-group") is None


def test_a_duplicated_id_finds_the_first_declaration_as_a_scan_would() -> None:
    one = nodes.Product(id="p", brand="One", generic="g", strength="2%", form="cream", unit="g")
    two = nodes.Product(id="p", brand="Two", generic="g", strength="2%", form="cream", unit="g")
    policy = nodes.Policy(id="x", title="X", type="per_days", products=(one, two))
    assert policy.product("p") is one
    assert next(p for p in policy.products if p.id == "p") is one


def test_many_policies_in_turn_each_get_their_own_answers() -> None:
    policies = [nodes.Policy(id=f"x{i}", title="X", type="per_days", products=(
        nodes.Product(id=f"p{i}", brand=f"B{i}", generic="g", strength="2%", form="cream",
                      unit="g"),))
        for i in range(200)]  # more than the index keeps: old entries are rebuilt, not reused
    for _ in range(2):  # the second round asks policies the index has since dropped
        for i, policy in enumerate(policies):
            assert policy.product(f"p{i}").brand == f"B{i}"
            assert policy.product(f"p{i + 1}") is None
