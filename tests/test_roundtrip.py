"""Round trips: random IR → DSL → equal IR; `fmt` is idempotent; the reference is canonical."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import _quantities, policies

from dqmc.authoring.fmt import format_source
from dqmc.lang.diagnostics import has_errors
from dqmc.lang.frontend import lower_common as common
from dqmc.lang.frontend.dsl_lower import lower_dsl
from dqmc.lang.ir import nodes
from dqmc.lang.printers.dsl_print import print_policy
from dqmc.lang.source import SourceFile

PROPERTY = settings(max_examples=examples(300), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(policies())
def test_printed_ir_lowers_to_the_same_ir(policy: nodes.Policy) -> None:
    text = print_policy(policy)
    lowered, diagnostics = lower_dsl(SourceFile("roundtrip.dqm", text))
    assert not has_errors(diagnostics), (diagnostics, text)
    assert lowered == policy, text
    # What the printer writes is the canonical form: formatting it changes nothing.
    assert format_source(SourceFile("roundtrip.dqm", text))[0] == text


# Two products of one group, each sized by the drug file, and a limit on one package only: after
# narrowing to that package, the other product has no package left and so is not sized by the
# drug file, and "N packages" names no package of it (lower_common.resolve_word). The strategy
# must offer only the words lowering accepts under the selector.
_DRUG_FILE_GROUP = [
    nodes.Product(id=product_id, brand="B", generic="g", strength=None, form="cream", unit="g",
                  packages=(nodes.Package(id=package_id, size=None, description="tube"),))
    for product_id, package_id in (("first", "first-tube"), ("second", "second-tube"))]


@settings(deadline=None)
@given(st.data(), st.sampled_from([(), (nodes.PackageIs(package="first-tube"),)]))
def test_drawn_quantities_resolve_under_the_limits_selectors(
        data: st.DataObject, when: tuple[nodes.Selector, ...]) -> None:
    raw = data.draw(_quantities(_DRUG_FILE_GROUP, when))
    diagnostics: list = []
    common.resolve_word(raw.amount, raw.word, common.selected_packages(_DRUG_FILE_GROUP, when),
                        raw.span, diagnostics)
    assert not diagnostics, (raw, when)


def _long_string_state(lines: list[str]) -> list[tuple[bool, bool]]:
    """For each printed line: (inside a \"\"\" block before it, inside one after it)."""
    states = []
    inside = False
    for line in lines:
        before = inside
        # The printer escapes every quote of a short string, so each \"\"\" is a block delimiter.
        if line.count('"""') % 2:
            inside = not inside
        states.append((before, inside))
    return states


# A comment runs to the end of its line and may hold anything but a raw bidi control (refused
# anywhere in a DSL file, comments included: see lower_common.BIDI_CONTROLS).
comment_texts = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"),
                  exclude_characters="".join(common.BIDI_CONTROLS)),
    max_size=20).map(lambda text: "#" + text)


@st.composite
def commented_sources(draw: st.DrawFn) -> str:
    """A printed policy with comments and blank lines sprinkled wherever the grammar allows."""
    lines = print_policy(draw(policies())).splitlines()
    out: list[str] = []
    often = st.integers(0, 5).map(lambda n: n == 0)
    for line, (inside_before, inside_after) in zip(lines, _long_string_state(lines), strict=True):
        if not inside_before:
            if draw(often):
                out.append(" " * draw(st.integers(0, 6)) + draw(comment_texts))
            if draw(often):
                out.append("")
        if not inside_after and line.strip() and draw(often):
            line += " " * draw(st.integers(0, 3)) + draw(comment_texts)
        out.append(line)
    out.extend(draw(st.lists(comment_texts, max_size=2)))
    return "\n".join(out) + "\n"


@settings(PROPERTY, max_examples=examples(200))
@given(commented_sources())
def test_formatting_is_idempotent_and_keeps_comments(text: str) -> None:
    once, diagnostics = format_source(SourceFile("commented.dqm", text))
    assert once is not None, diagnostics
    # format_source itself proves the IR equal and every comment kept; the second pass must
    # find nothing left to change.
    twice, _ = format_source(SourceFile("commented.dqm", once))
    assert twice == once


def test_the_reference_spec_is_in_canonical_form() -> None:
    path = REPO / "policy_specs" / "anzupgo.dqm"
    text = path.read_text(encoding="utf-8")
    formatted, diagnostics = format_source(SourceFile("policy_specs/anzupgo.dqm", text))
    assert formatted == text, diagnostics


@pytest.mark.parametrize("path", sorted((REPO / "policy_specs").glob("*.dqm")),
                         ids=lambda path: path.name)
def test_every_library_spec_formats_faithfully(path: Path) -> None:
    # format_source proves the formatted text lowers to the same IR with every comment kept;
    # only the reference spec is also required to be in canonical form already.
    text = path.read_text(encoding="utf-8")
    formatted, diagnostics = format_source(SourceFile(f"policy_specs/{path.name}", text))
    assert formatted is not None, diagnostics
    assert format_source(SourceFile(path.name, formatted))[0] == formatted
