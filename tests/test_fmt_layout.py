"""`dqmc fmt` keeps how an author laid out a condition: line breaks that fit, grouping parentheses.

Random conditions are written as an author might (extra parentheses, a line break before or
after any `and`/`or`, a comment at the end of a line) and formatted: fmt must succeed (it proves
the IR equal and every comment kept), be idempotent, and keep every parenthesised group.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import exprs

from dqmc.authoring.fmt import format_source
from dqmc.lang.ir import nodes
from dqmc.lang.printers.dsl_fragments import MAX_WIDTH, ConditionLayout, format_expr
from dqmc.lang.printers.dsl_print import read_layout
from dqmc.lang.source import SourceFile

FACTS = [
    nodes.Fact(id="a", type="bool", question="A?"),
    nodes.Fact(id="b", type="bool", question="B?"),
    nodes.Fact(id="prior_therapy_with_two_formulary_alternatives_failed", type="bool",
               question="Failed?"),
    nodes.Fact(id="doses_per_month", type="number", question="How many?"),
    nodes.Fact(id="severity", type="enum", question="How severe?",
               values=("mild", "moderate", "severe")),
]
HEAD = ('policy p "t" {\n  type per_days\n\n'
        '  fact a: bool "A?"\n  fact b: bool "B?"\n'
        '  fact prior_therapy_with_two_formulary_alternatives_failed: bool "Failed?"\n'
        '  fact doses_per_month: number "How many?"\n'
        '  fact severity: enum {mild, moderate, severe} "How severe?"\n\n')


def spec(when: str) -> str:
    return HEAD + f"  criterion c {{\n    when {when}\n  }}\n}}\n"


def _needs_parens(parent: nodes.Expr, child: nodes.Expr) -> bool:
    if isinstance(parent, nodes.Or):
        return isinstance(child, nodes.Or)
    return isinstance(child, (nodes.And, nodes.Or))


@st.composite
def written(draw: st.DrawFn, expr: nodes.Expr, parent: nodes.Expr | None = None) -> str:
    """`expr` as an author might write it: parentheses where needed and now and then where
    not, and between operands a space, a line break (before or after the operator) or a
    comment that ends the line."""
    match expr:
        case nodes.And() | nodes.Or():
            word = "and" if isinstance(expr, nodes.And) else "or"
            text = draw(written(expr.operands[0], expr))
            for operand in expr.operands[1:]:
                gap = draw(st.sampled_from([" ", " ", " ", "\n      ", "\n ", "  # why\n      "]))
                after = draw(st.booleans())
                text += (f" {word}{gap}" if after else f"{gap}{word} ") + draw(
                    written(operand, expr))
        case nodes.Not():
            text = "not " + draw(written(expr.operand, expr))
        case _:
            text = format_expr(expr)
    needed = parent is not None and _needs_parens(parent, expr)
    if needed or draw(st.integers(0, 3)) == 0:
        text = f"({text})"
    return text


@st.composite
def authored(draw: st.DrawFn) -> tuple[nodes.Expr, str]:
    expr = draw(exprs(FACTS))
    return expr, spec(draw(written(expr)))


def _groups_kept(expr: nodes.Expr, author: ConditionLayout, printed: ConditionLayout,
                 root: bool = True) -> bool:
    """Whether every and/or/not group the author parenthesised (but the whole condition) is
    parenthesised in the printed text too."""
    grouped = not root and author.parens and isinstance(expr, (nodes.And, nodes.Or, nodes.Not))
    if grouped and not printed.parens:
        return False
    match expr:
        case nodes.And() | nodes.Or():
            children: tuple[nodes.Expr, ...] = expr.operands
        case nodes.Not():
            children = (expr.operand,)
        case _:
            children = ()
    return all(_groups_kept(child, a, p, False) for child, a, p in
               zip(children, author.operands, printed.operands, strict=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(authored())
def test_an_authored_condition_formats_idempotently_keeping_its_groups(
        case: tuple[nodes.Expr, str]) -> None:
    expr, text = case
    once, diagnostics = format_source(SourceFile("authored.dqm", text))
    assert once is not None, diagnostics
    twice, _ = format_source(SourceFile("authored.dqm", once))
    assert twice == once, (text, once)
    author = read_layout(SourceFile("authored.dqm", text)).conditions[0]
    printed = read_layout(SourceFile("authored.dqm", once)).conditions[0]
    assert _groups_kept(expr, author, printed), (text, once)


def formatted_when(when: str) -> str:
    """The formatted criterion's condition lines, from `when` on."""
    text, diagnostics = format_source(SourceFile("authored.dqm", spec(when)))
    assert text is not None, diagnostics
    return text.split("criterion c {\n")[1].split("\n  }\n")[0]


def test_a_condition_written_over_lines_that_fit_keeps_its_line_breaks() -> None:
    # The issue: a multi-line `when` was flattened onto one line.
    kept = "    when a and b\n      or severity == mild"
    assert formatted_when("a and b\n      or severity == mild") == kept
    assert formatted_when(kept.removeprefix("    when ")) == kept
    # The break moves before the operator and the operands align, as fmt lays any line out.
    assert formatted_when("a and\n   b or\n      not a") == "    when a\n     and b\n      or not a"


def test_only_a_line_over_the_width_is_broken_again() -> None:
    long = ("prior_therapy_with_two_formulary_alternatives_failed and doses_per_month >= 2"
            " and severity in {moderate, severe}")
    assert len("     and " + long) > MAX_WIDTH
    assert formatted_when(f"a\n and {long}\n and b") == (
        "    when a\n"
        "     and prior_therapy_with_two_formulary_alternatives_failed\n"
        "     and doses_per_month >= 2 and severity in {moderate, severe}\n"
        "     and b")
    # Inside parentheses, continuation lines stay inside: the operator under the first operand.
    assert formatted_when(f"(a and b) or\n  ({long} and not b)") == (
        "    when (a and b)\n"
        "      or (prior_therapy_with_two_formulary_alternatives_failed\n"
        "          and doses_per_month >= 2 and severity in {moderate, severe} and not b)")
    # Written on one line, a condition is broken only where it passes the width, as before.
    assert formatted_when(f"a and b or {long}") == (
        "    when a and b\n"
        "      or prior_therapy_with_two_formulary_alternatives_failed\n"
        "     and doses_per_month >= 2 and severity in {moderate, severe}")


def test_a_comment_after_a_line_of_a_condition_stays_at_the_end_of_that_line() -> None:
    when = "    when a  # first\n      or b  # second\n      or not a"
    assert formatted_when("a  # first\n  or b  # second\n  or not a") == when
    assert formatted_when(when.removeprefix("    when ")) == when
