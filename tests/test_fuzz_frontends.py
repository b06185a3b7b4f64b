"""Fuzzed front ends: any text gives diagnostics with valid positions, never an exception."""

from __future__ import annotations

from conftest import REPO, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dqmc.lang.diagnostics import render
from dqmc.lang.pipeline import compile_text
from dqmc.lang.source import SourceFile

REFERENCE_DSL = (REPO / "policy_specs/anzupgo.dqm").read_text(encoding="utf-8")
REFERENCE_YAML = (REPO / "policy_specs/anzupgo.yaml").read_text(encoding="utf-8")

# Pieces of the language, so random text often gets deep into the grammar.
DSL_WORDS = ["policy", "type", "per_days", "product", "limit", "retail", "home_delivery", "all",
             "per", "days", "day", "fill", "fills", "for", "up", "to", "when", "age", "package",
             "hard", "note", "fact", "bool", "enum", "set", "number", "date", "criterion",
             "approve", "approvals", "last", "one", "time", "renews", "and", "or", "not", "in",
             "{", "}", "(", ")", ",", ":", "..", "==", "!=", "<=", ">=", "<", ">", "30", "0",
             "1.5", "2025-11-12", "2025-02-30", '"x"', '"""y"""', "g", "mL", "each", "tube",
             "\n", " ", "#c\n", "section", "reference", "revision", "\u2028", "\x00", "é"]


def assert_well_formed(path: str, text: str) -> None:
    result = compile_text(path, text)
    source = SourceFile(path, text)
    for diagnostic in result.diagnostics:
        span = diagnostic.span
        assert span.file == path
        assert 1 <= span.line <= source.line_count + 1, diagnostic
        assert span.col >= 1 and span.end_line >= span.line, diagnostic
        assert diagnostic.message
        render(diagnostic, {path: source})  # the caret renderer copes with any position


FUZZ = settings(max_examples=examples(400), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=300))
def test_random_text_as_dsl(text: str) -> None:
    assert_well_formed("fuzz.dqm", text)


@FUZZ
@given(st.lists(st.sampled_from(DSL_WORDS), max_size=80).map(" ".join))
def test_token_soup_as_dsl(text: str) -> None:
    assert_well_formed("fuzz.dqm", text)


@FUZZ
@given(st.data())
def test_mutated_reference_dsl(data: st.DataObject) -> None:
    text = REFERENCE_DSL
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 20)))
        text = text[:start] + data.draw(st.sampled_from([*DSL_WORDS, "", "\n"])) + text[end:]
    assert_well_formed("fuzz.dqm", text)


@FUZZ
@given(st.text(max_size=300))
def test_random_text_as_yaml(text: str) -> None:
    assert_well_formed("fuzz.yaml", text)


@FUZZ
@given(st.data())
def test_mutated_reference_yaml(data: st.DataObject) -> None:
    text = REFERENCE_YAML
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 20)))
        insert = data.draw(st.sampled_from(["", "\n", ": ", "- ", "{", "}", "[", "]", "&a ", "*a",
                                            "!!python/object ", "'", '"', "  ", "\t", "x"]))
        text = text[:start] + insert + text[end:]
    assert_well_formed("fuzz.yaml", text)
