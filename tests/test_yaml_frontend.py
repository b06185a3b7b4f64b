"""The YAML front end: safe loading, positions, lowering equal to the DSL's, and the emitter."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dqmc.lang.diagnostics import Diagnostic, sorted_unique
from dqmc.lang.frontend import yaml_load
from dqmc.lang.frontend.dsl_lower import lower_dsl
from dqmc.lang.frontend.yaml_load import DEFAULT_MAX_DEPTH, LoadLimits, load_yaml
from dqmc.lang.frontend.yaml_lower import lower_yaml
from dqmc.lang.ir import nodes
from dqmc.lang.ir.canonical import canonical_json
from dqmc.lang.printers.yaml_emit import MODELINE, YamlEmitError, emit_yaml
from dqmc.lang.source import SourceFile

HEAD = """\
policy: {id: p, title: T, type: per_days}
products:
  x: {brand: A, generic: g, form: cream, unit: g}
facts:
  a: {type: bool, question: "A?"}
  b: {type: enum, values: [one, two], question: "B?"}
"""  # what follows starts on line 7

# Every IR node kind the DSL can write (see the report on date comparison values).
RICH_DSL = r'''
policy rich-policy "Rich: every node kind – \"quoted\" # not a comment" {
  type mixed
  review_date 2025-01-31
  effective_date 2025-02-01
  approvals last 6 months
  reject_code "88"
  daily_rate_check true
  channel specialty "Specialty: 90-day"
  channel retail_90 "Retail 90"

  product sumatriptan-tab {
    brand "Imitrex"
    generic "sumatriptan"
    strength "50 mg"
    form "tablet"
    unit each
    label "Triptan tablets"
    gpi "67406070100320"
    ndc "00173073601", "00173073602"
    package blister-9 9 each "blister of 9" as blister { ndc "00173073603" }
  }
  product sumatriptan-spray {
    brand "Imitrex"
    generic "sumatriptan"
    form "nasal spray"
    package box-6 6 each "box of 6 devices" as box
  }
  product insulin-vial {
    brand "Humalog"
    generic "insulin lispro"
    form "vial"
    unit mL
    package vial-10 10 mL "10 mL vial" as vial
  }
  product insulin-pen {
    brand "Humalog"
    generic "insulin lispro"
    strength "100 units/mL"
    form "pen"
    package pen-3 3 mL "3 mL pen" as pen
    package carton-15 15 mL "carton of five 3 mL pens"
  }
  product lotion {
    brand "Lotio"
    generic "lotion"
    form "lotion"
    unit mL
    requires authorization
  }
  product oxy-apap {
    brand "Percocet"
    generic "oxycodone and acetaminophen"
    form "tablet"
    unit each
    contains 5 mg oxycodone
    contains 325 mg acetaminophen
  }
  group insulins "Insulin lispro: vials & pens": insulin-vial, insulin-pen

  factors mme "Morphine milligram equivalents" {
    oxycodone 1.5
    source "CDC 2022, Table 1"
  }

  limit sumatriptan-tab {
    retail        9 each per 30 days
    retail        2 blisters per 30 days
    home_delivery 27 each per 90 days when age 18.. hard
    specialty     1 blister per fill when package blister-9 and age ..17
                  note "children: \"low\" dose # 1"
    all           days supply <= 30
    all           therapy <= 45 days
    retail_90     2 fills per 90 days
    all           3 each per day for up to 5 days
    all           1 fill per 1 day
    retail        2.5 each per day when age 12..17 since 2024-01-01
  }
  limit insulins {
    all    40 mL per 30 days
    retail 4 vials per 30 days
    retail 2 pens per 30 days
  }
  limit sumatriptan-spray {
    home_delivery 3 boxes per 90 days when age 12..64
    home_delivery 18 each per 90 days
  }
  limit lotion {
    retail        240 mL per 30 days
    home_delivery not covered
    retail_90     no limit
  }
  limit oxy-apap {
    all dose mme < 90 per day override reason "HD" service "M0" result "1G" reject "88"
        unless member hospice, cancer
    all dose acetaminophen <= 4000 mg per day hard
    all days supply <= 7 if no fill in 60 days
  }

  fact has_migraine: bool "Does the patient have migraine?"
  fact diagnosis: enum {migraine, cluster, other} "What is the diagnosis?"
  fact sites: set {head, neck} "Where: head or neck?"
  fact attacks: number "How many attacks per month?"
  fact started: date "When did therapy start?"

  criterion more-tabs "More tablets: over 4 attacks" {
    when has_migraine and (diagnosis == migraine or diagnosis in {cluster})
     and not (attacks < 4) and sites <= {head} and attacks != 2.5
     and has_migraine == true and not not has_migraine and diagnosis != other
    approve sumatriptan-tab {
      retail 18 each per 30 days
      all    2 blisters per 30 days
      retail 3 fills per 30 days
    }
    approve insulins {
      retail 60 mL per 30 days
    }
    approvals last 3 months
  }
  criterion renewal {
    when has_migraine or (diagnosis != other or attacks >= 8)
      or (has_migraine and (has_migraine and attacks > 1))
    approve sumatriptan-tab {
      retail 18 each per 30 days
    }
    approvals last one time
    renews more-tabs
  }
  criterion no-title {
    when attacks <= 3
    approvals last 1 week
  }
  criterion days-and-years {
    when attacks > 10
    approve lotion {
      all 480 mL per 30 days
    }
    approvals last 30 days
  }

  section overview "Overview: what it is" "Line 1\n  indented: yes # no\ttab \"q\" \\ back"
  section dosing "Dosing" """
    Two lines
    of dosing text.
    """
  section other "Notes" " leading space and trailing newline\n"
  section policy_statement "Policy Statement" "yes"
  reference "Ω ® – ✓ 𝄞 and a ' quote"
  reference "2025-01-01"
  revision 2024-06 "New Policy"
  revision 2025-01-31 "Annual Revision" "Summary: changed # things"
}
'''


DEFAULT_LIMITS = LoadLimits()


def load(text: str, path: str = "t.yaml", limits: LoadLimits = DEFAULT_LIMITS):
    return load_yaml(SourceFile(path, text), limits)


def lower(text: str, path: str = "t.yaml") -> tuple[nodes.Policy | None, list[Diagnostic]]:
    return lower_yaml(SourceFile(path, text))


def lower_dsl_text(text: str) -> nodes.Policy:
    policy, diagnostics = lower_dsl(SourceFile("t.dqm", text))
    assert diagnostics == [] and policy is not None, diagnostics
    return policy


def only(diagnostics: list[Diagnostic]) -> tuple[str, int, int, str]:
    [d] = diagnostics
    return d.code, d.span.line, d.span.col, d.message


def round_trip(policy: nodes.Policy) -> nodes.Policy | None:
    lowered, diagnostics = lower(emit_yaml(policy))
    assert diagnostics == [], "\n".join(d.concise() for d in diagnostics)
    return lowered


# -- the reference policy, written both ways ------------------------------------------------------


def test_anzupgo_yaml_lowers_to_the_same_ir_as_anzupgo_dqm() -> None:
    dsl = lower_dsl_text(Path("policy_specs/anzupgo.dqm").read_text(encoding="utf-8"))
    policy, diagnostics = lower(Path("policy_specs/anzupgo.yaml").read_text(encoding="utf-8"),
                                "policy_specs/anzupgo.yaml")
    assert diagnostics == []
    assert policy == dsl


def test_anzupgo_yaml_starts_with_the_schema_modeline() -> None:
    first = Path("policy_specs/anzupgo.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == MODELINE


def test_ir_nodes_carry_yaml_positions() -> None:
    policy, _ = lower(Path("policy_specs/anzupgo.yaml").read_text(encoding="utf-8"),
                      "policy_specs/anzupgo.yaml")
    assert policy is not None
    assert (policy.span.line, policy.span.col) == (5, 7)  # the id
    assert (policy.products[0].span.line, policy.products[0].span.col) == (12, 3)
    retail = policy.limits[0]
    assert (retail.span.line, retail.span.col) == (22, 5)  # the channel key
    assert (retail.rule.quantity.span.line, retail.rule.quantity.span.col) == (22, 13)
    sites = policy.criteria[0].when.operands[3]  # inside the `when: >` block
    assert (sites.span.file, sites.span.line, sites.span.col) == (
        "policy_specs/anzupgo.yaml", 47, 46)


# -- loading: safety and YAML pitfalls -----------------------------------------------------------


def test_spans_of_plain_and_quoted_values_and_of_keys() -> None:
    document, _ = load("a: plain\nb: 'single'\nc: \"double\"\nd/e~f: 1\n")
    spans = document.spans
    assert (spans["/a"].line, spans["/a"].col, spans["/a"].end_col) == (1, 4, 9)
    assert (spans["/b"].col, spans["/b"].end_col) == (5, 11)  # inside the quotes
    assert (spans["/c"].col, spans["/c"].end_col) == (5, 11)
    assert (spans["/c#key"].line, spans["/c#key"].col) == (3, 1)
    assert "/d~1e~0f" in spans  # RFC 6901 escaping


def test_scalars_are_read_by_the_yaml_1_2_core_schema() -> None:
    document, _ = load(
        "a: [yes, no, on, off, 2025-11-12, 0o17, 0x1f, 1e3, .inf, ~, null, true, False, '1']\n")
    assert document.data["a"] == ["yes", "no", "on", "off", "2025-11-12", 15, 31, 1000.0,
                                  float("inf"), None, None, True, False, "1"]


def test_keys_are_text_whatever_they_look_like() -> None:
    document, _ = load("1: a\ntrue: b\n")
    assert document.data == {"1": "a", "true": "b"}


def test_duplicate_keys_are_reported_at_the_repeat() -> None:
    _, diagnostics = load("a:\n  b: 1\n  c: 2\n  b: 3\n")
    assert only(diagnostics)[:3] == ("yaml.duplicate-key", 4, 3)
    assert "key 'b' is repeated (first at line 2)" in diagnostics[0].message


def test_python_tags_are_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = f"policy: !!python/object/apply:os.system ['touch {marker}']\n"
    policy, diagnostics = lower(text)
    assert policy is None
    assert only(diagnostics)[:3] == ("yaml.unsafe-tag", 1, 9)
    assert "!!python/object/apply:os.system is not allowed" in diagnostics[0].message
    assert not marker.exists()


@pytest.mark.parametrize("tagged", [
    "!local x", "!!binary aGk=", "!!set {a}", "!!timestamp 2025-01-01",
    "!!python/name:os.system ''", "!!int abc"])
def test_tags_outside_the_core_schema_are_refused(tagged: str) -> None:
    _, diagnostics = load(f"a: {tagged}\n")
    assert only(diagnostics)[:3] == ("yaml.unsafe-tag", 1, 4)


def test_core_tags_are_allowed() -> None:
    document, diagnostics = load("a: !!str 12\nb: !!int '7'\n")
    assert diagnostics == [] and document.data == {"a": "12", "b": 7}


def counting(monkeypatch: pytest.MonkeyPatch, method: str) -> list[int]:
    """Count the calls of one method of the YAML loader (a list holding the count)."""
    calls = [0]
    original = getattr(yaml_load._CoreSchemaLoader, method)

    def counted(self, *args, **kwargs):
        calls[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(yaml_load._CoreSchemaLoader, method, counted)
    return calls


def test_alias_bomb_is_refused_at_the_first_anchor_before_any_expansion(
        monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        previous = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    composed = counting(monkeypatch, "compose_node")
    policy, diagnostics = lower("\n".join(lines) + "\n")
    assert policy is None
    assert only(diagnostics)[:3] == ("yaml.alias", 1, 4)
    # The work is bounded by where the first anchor is, not by the 9**9 nodes the aliases would
    # expand to: the root mapping, its first key, and the anchored value that is refused.
    assert composed[0] == 3


def test_an_alias_alone_is_refused() -> None:
    _, diagnostics = load("a: 1\nb: *x\n")
    assert only(diagnostics)[:3] == ("yaml.alias", 2, 4)


def test_deep_nesting_is_refused_at_the_first_bracket_too_deep(
        monkeypatch: pytest.MonkeyPatch) -> None:
    opened = counting(monkeypatch, "fetch_flow_collection_start")
    _, diagnostics = load("a: " + "[" * 500_000 + "]" * 500_000 + "\n")
    # The scanner stops at bracket max_depth + 1 (column 4 + max_depth), whatever follows it: the
    # work is bounded by the limit, not by the 500,000 brackets of the input.
    assert only(diagnostics)[:3] == ("yaml.too-deep", 1, 4 + DEFAULT_MAX_DEPTH)
    assert opened[0] == DEFAULT_MAX_DEPTH + 1


def test_depth_and_size_limits_are_configurable() -> None:
    text = "a:\n  b:\n    c: [1]\n"
    assert load(text)[1] == []
    _, too_deep = load(text, limits=LoadLimits(max_depth=3))
    assert only(too_deep)[:3] == ("yaml.too-deep", 3, 8)
    _, too_large = load(text, limits=LoadLimits(max_bytes=10))
    assert only(too_large) == (
        "io.too-large", 1, 1, "the file has 19 bytes; specs are limited to 10")


def test_default_size_limit_is_one_mebibyte() -> None:
    _, diagnostics = load("a: " + "x" * (1 << 20) + "\n")
    assert only(diagnostics)[0] == "io.too-large"


def test_a_second_document_is_refused() -> None:
    _, diagnostics = load("a: 1\n---\nb: 2\n")
    assert only(diagnostics)[:3] == ("yaml.syntax", 2, 1)
    assert "one YAML document" in diagnostics[0].message


@pytest.mark.parametrize("text, line, col, words", [
    ("a: b: c\n", 1, 5, "a value containing ': ' must be quoted"),
    ("a:\n\t- b\n", 2, 1, "indent YAML with spaces, not tabs"),
    ('a: "open\n', 2, 1, "a quoted value or a bracket is not closed"),
    ("a: {b: c?}\n", 1, 9, "inside [...] or {...}, quote text"),
    ("a: 1\n\x07\n", 2, 1, "U+0007 is not allowed in YAML text"),
    ("? [k]\n: v\n", 1, 3, "a key must be plain text"),
])
def test_syntax_errors_point_at_the_problem(text: str, line: int, col: int, words: str) -> None:
    code, at_line, at_col, message = only(load(text)[1])
    assert (code, at_line, at_col) == ("yaml.syntax", line, col)
    assert words in message


@settings(max_examples=examples(300), suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(alphabet=st.sampled_from([*"ab :-[]{}&*!|>'\"#%@`?,\n\t\\~", "\x07", "é"]),
               max_size=40))
def test_any_text_gives_data_or_diagnostics_never_an_exception(text: str) -> None:
    document, diagnostics = load(text)
    assert (document is None) == bool(diagnostics)
    policy, diagnostics = lower(text)
    assert policy is not None or diagnostics


# -- DSL text inside YAML, at exact positions ----------------------------------------------------


@pytest.mark.parametrize("when, line, col", [
    ("    when: a and ) b\n", 9, 17),  # plain
    ('    when: "a and ) b"\n', 9, 18),  # double-quoted: columns from inside the quotes
    ("    when: 'a and ) b'\n", 9, 18),  # single-quoted
    ("    when: a and\n      b or )\n", 10, 12),  # a plain scalar over two lines
    ("    when: |\n      a and\n        b or )\n", 11, 14),  # literal block
    ("    when: >-\n      a and\n      b or )\n", 11, 12),  # folded block
])
def test_a_condition_error_is_reported_at_its_yaml_line_and_column(
    when: str, line: int, col: int,
) -> None:
    policy, diagnostics = lower(HEAD + "criteria:\n  c:\n" + when)
    assert policy is None
    code, at_line, at_col, _ = only(diagnostics)
    assert (code, at_line, at_col) == ("syntax.unexpected-token", line, col)


def test_a_quoted_condition_lowers_like_a_plain_one() -> None:
    plain, _ = lower(HEAD + "criteria:\n  c:\n    when: a and b in {one}\n")
    quoted, _ = lower(HEAD + "criteria:\n  c:\n    when: \"a and b in {one}\"\n")
    assert plain is not None and plain == quoted
    assert plain.criteria[0].when == nodes.And(operands=(
        nodes.FactRef(fact="a"), nodes.InSet(fact="b", values=("one",))))


def test_escaped_quoted_text_is_placed_at_its_first_character() -> None:
    # With escapes the value is parsed, not the source: the start stays exact (documented).
    _, diagnostics = lower(HEAD + 'limits:\n  x:\n    retail: "\\u0033 g per"\n')
    code, line, col, _ = only(diagnostics)
    assert (code, line) == ("syntax.unexpected-eof", 9) and col >= 14


def test_rule_errors_point_into_the_rule() -> None:
    _, diagnostics = lower(
        HEAD + "limits:\n  x:\n    retail: [30 g per 30 days, 30 g per thirty days]\n")
    assert only(diagnostics)[:3] == ("syntax.unexpected-token", 9, 41)


def test_an_approval_with_a_selector_or_flag_is_an_error() -> None:
    _, diagnostics = lower(HEAD + "criteria:\n  c:\n    when: a\n    approve:\n"
                           "      x: {retail: 60 g per 30 days hard}\n")
    code, line, col, message = only(diagnostics)
    assert (code, line, col) == ("syntax.invalid-value", 11, 19)
    assert "selectors, `hard`, `since` and `note` belong to base limits" in message


def test_semantic_errors_in_values_keep_the_policy_and_their_positions() -> None:
    policy, diagnostics = lower(
        "policy: {id: p, title: T, type: per_days, review_date: 2025-02-30}\n"
        "products:\n"
        "  x:\n"
        "    brand: B\n"
        "    generic: g\n"
        "    form: f\n"
        "    packages: {jar: {size: 30 kg, description: jar}}\n")
    assert policy is not None
    found = sorted((d.code, d.span.line, d.span.col) for d in diagnostics)
    assert found == [("date.invalid", 1, 56), ("unit.unknown", 7, 31)]


def test_limits_in_package_words_resolve_to_billing_units() -> None:
    text = Path("policy_specs/anzupgo.yaml").read_text(encoding="utf-8").replace(
        "retail: 30 g per 30 days", "retail: 1 tube per 30 days")
    policy, diagnostics = lower(text)
    assert diagnostics == [] and policy is not None
    assert policy.limits[0].rule.quantity == nodes.Quantity(
        amount=30, unit="g", packages=1, package="tube-30g")


def test_channel_forms_lower_alike() -> None:
    mapping, _ = lower(HEAD + "limits:\n  x:\n    retail: [30 g per 30 days, 1 fill per 30 days]\n"
                       "    all: days supply <= 30\n")
    lines, _ = lower(HEAD + "limits:\n  x:\n    - retail 30 g per 30 days\n"
                     "    - retail 1 fill per 30 days\n    - all days supply <= 30\n")
    assert mapping is not None and mapping == lines
    assert [(limit.channel, type(limit.rule).__name__) for limit in mapping.limits] == [
        ("retail", "PerWindow"), ("retail", "FillsPerWindow"), (None, "DaysSupplyMax")]


def test_declared_channels_come_after_the_defaults() -> None:
    policy, _ = lower(HEAD + "channels: {specialty: Specialty}\n")
    assert policy is not None
    specialty = nodes.Channel(id="specialty", label="Specialty")
    assert policy.channels == (*nodes.default_channels(), specialty)


# -- the emitter ---------------------------------------------------------------------------------


def test_emitted_yaml_starts_with_the_modeline_and_round_trips_anzupgo() -> None:
    policy = lower_dsl_text(Path("policy_specs/anzupgo.dqm").read_text(encoding="utf-8"))
    text = emit_yaml(policy)
    assert text.splitlines()[0] == MODELINE
    assert round_trip(policy) == policy


def test_rich_policy_round_trips() -> None:
    policy = lower_dsl_text(RICH_DSL)
    assert round_trip(policy) == policy


def test_rich_policy_covers_every_node_kind() -> None:
    policy = lower_dsl_text(RICH_DSL)
    seen: set[type] = set()

    def walk(value: object) -> None:
        if dataclasses.is_dataclass(value):
            seen.add(type(value))
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name))
        elif isinstance(value, tuple):
            for item in value:
                walk(item)

    walk(policy)
    every = {cls for cls in vars(nodes).values()
             if isinstance(cls, type) and dataclasses.is_dataclass(cls)
             and cls.__module__ == nodes.__name__}
    assert every - seen == set()
    assert {d.kind for c in policy.criteria if (d := c.duration)} == {"fixed", "one_time"}
    assert {f.type for f in policy.facts} == set(nodes.FACT_TYPES)
    assert any(p.requires_authorization for p in policy.products)
    assert any(limit.since is not None for limit in policy.limits)
    quantities = [getattr(limit.rule, "quantity", None) for limit in policy.limits]
    assert any(q is not None and q.packages for q in quantities)


def test_interleaved_channels_are_written_as_lines_and_grouped_ones_as_a_mapping() -> None:
    text = emit_yaml(lower_dsl_text(RICH_DSL))
    assert ("  sumatriptan-tab:\n"
            "    - retail 9 each per 30 days\n"
            "    - retail 2 blisters per 30 days\n") in text
    assert ("  insulins:\n"
            "    all: 40 mL per 30 days\n"
            "    retail:\n"
            "      - 4 vials per 30 days\n") in text


def test_limits_of_one_target_in_two_runs_cannot_be_written() -> None:
    policy = lower_dsl_text(RICH_DSL)
    limits = policy.limits
    split = dataclasses.replace(policy, limits=limits[:1] + limits[-1:] + limits[1:-1])
    with pytest.raises(YamlEmitError,
                       match="the limits of 'sumatriptan-tab' come in two separate runs"):
        emit_yaml(split)


NASTY = [
    "", " ", "yes", "No", "on", "~", "null", "true", "12", "0o17", "0x1F", "1e3", ".5", ".inf",
    "2025-01-01", "- item", "? key", ": value", "a: b", "a #b", "#c", "%x", "@x", "`x", "!tag",
    "&anchor", "*alias", "|", ">", "'", '"', "\\", "{a}", "[a]", "a, b", "trailing ", " leading",
    "tab\tinside", "line\nbreak", "two\n\nbreaks\n", "\n", "end\n", "crlf\r\nx", "cr\rx",
    "nel\x85x", "ls\u2028x", "ps\u2029x", "bom\ufeffx", "bell\x07", "del\x7f", "nul\x00",
    "é ü Ω – ✓ 𝄞 😀", "bidi \u202e txet", "zero\u200bwidth", "---", "...", "--- x",
    "\"quoted\"",
    "multi\n  indented\n", "  \n  ", "a\n b\n  c",
]


def with_text(policy: nodes.Policy, text: str) -> nodes.Policy:
    """The policy with `text` in every free-text field, the note of a limit included."""
    product = dataclasses.replace(
        policy.products[0], brand=text, generic=text, strength=text, form=text, label=text,
        gpi=text, packages=(dataclasses.replace(policy.products[0].packages[0], description=text),))
    return dataclasses.replace(
        policy, title=text, products=(product,),
        limits=(dataclasses.replace(policy.limits[0], note=text), *policy.limits[1:]),
        facts=tuple(dataclasses.replace(f, question=text) for f in policy.facts),
        criteria=tuple(dataclasses.replace(c, title=text) for c in policy.criteria),
        sections=tuple(dataclasses.replace(s, title=text, text=text) for s in policy.sections),
        references=(nodes.Reference(text=text),),
        history=tuple(dataclasses.replace(r, type=text, summary=text) for r in policy.history),
        channels=(*policy.channels, nodes.Channel(id="specialty", label=text)))


@pytest.fixture(scope="module")
def anzupgo() -> nodes.Policy:
    return lower_dsl_text(Path("policy_specs/anzupgo.dqm").read_text(encoding="utf-8"))


@pytest.mark.parametrize("text", NASTY, ids=[repr(t) for t in NASTY])
def test_any_text_round_trips(anzupgo: nodes.Policy, text: str) -> None:
    policy = with_text(anzupgo, text)
    assert round_trip(policy) == policy


@settings(max_examples=examples(150), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_generated_text_round_trips(anzupgo: nodes.Policy, text: str) -> None:
    policy = with_text(anzupgo, text)
    assert round_trip(policy) == policy


def test_diagnostics_render_without_duplicates() -> None:
    _, diagnostics = lower(HEAD + "criteria:\n  c:\n    when: a and ) b\n")
    assert len(sorted_unique(diagnostics)) == len(diagnostics) == 1


def test_approve_requested_lowers_like_the_dsl_and_round_trips() -> None:
    policy, diagnostics = lower(HEAD + "criteria:\n  c:\n    when: a\n    approve: requested\n")
    assert diagnostics == [] and policy is not None
    [criterion] = policy.criteria
    assert criterion.approves_requested and criterion.approves == ()
    dsl = lower_dsl_text('policy p "T" {\n  type per_days\n  fact a: bool "A?"\n'
                         '  criterion c {\n    when a\n    approve requested\n  }\n}\n')
    assert dsl.criteria[0].approves_requested
    emitted = emit_yaml(policy)
    assert "approve: requested" in emitted
    again, diagnostics = lower(emitted)
    assert diagnostics == [] and again is not None and again.criteria[0].approves_requested


def test_approve_other_than_limits_or_requested_is_refused() -> None:
    _, diagnostics = lower(HEAD + "criteria:\n  c:\n    when: a\n    approve: everything\n")
    assert diagnostics and all(d.code.startswith("schema") for d in diagnostics), diagnostics


def test_for_requests_lowers_like_the_dsl_and_round_trips() -> None:
    policy, diagnostics = lower(HEAD + "criteria:\n  c:\n    for: renewal\n    when: a\n")
    assert diagnostics == [] and policy is not None
    assert policy.criteria[0].serves == "renewal"
    dsl = lower_dsl_text('policy p "T" {\n  type per_days\n  fact a: bool "A?"\n'
                         '  criterion c {\n    for renewal requests\n    when a\n  }\n}\n')
    assert dsl.criteria == policy.criteria
    emitted = emit_yaml(policy)
    assert "for: renewal" in emitted
    again, diagnostics = lower(emitted)
    assert diagnostics == [] and again is not None and again.criteria == policy.criteria


def test_for_other_than_initial_or_renewal_is_refused() -> None:
    _, diagnostics = lower(HEAD + "criteria:\n  c:\n    for: first\n    when: a\n")
    assert diagnostics and all(d.code.startswith("schema") for d in diagnostics), diagnostics


def test_a_month_review_and_revision_date_lowers_like_the_dsl_and_round_trips() -> None:
    text = HEAD.replace("type: per_days}", "type: per_days, review_date: 2020-07}") + (
        "history:\n  - {date: 2020-07, type: New Policy}\n  - {date: 2020-06-30, type: Draft}\n")
    policy, diagnostics = lower(text)
    assert diagnostics == [] and policy is not None
    assert policy.review_date == nodes.Month(2020, 7)
    assert [r.date for r in policy.history] == [nodes.Month(2020, 7), dt.date(2020, 6, 30)]
    dsl = lower_dsl_text('policy p "T" {\n  type per_days\n  review_date 2020-07\n'
                         '  revision 2020-07 "New Policy"\n}\n')
    assert dsl.review_date == policy.review_date and dsl.history[0] == policy.history[0]
    emitted = emit_yaml(policy)
    assert "review_date: 2020-07\n" in emitted and "date: 2020-07\n" in emitted
    again, diagnostics = lower(emitted)
    assert diagnostics == [] and again == policy
    assert '"review_date": "2020-07"' in canonical_json(policy)


@pytest.mark.parametrize("setting, code", [("effective_date: 2020-07", "schema"),
                                           ("review_date: 2020-00", "date.invalid")])
def test_a_month_is_refused_where_a_day_is_needed(setting: str, code: str) -> None:
    _, diagnostics = lower(HEAD.replace("type: per_days}", f"type: per_days, {setting}}}"))
    assert diagnostics and diagnostics[0].code.startswith(code), diagnostics


def test_doses_lower_like_the_dsl_and_round_trip() -> None:
    text = HEAD.replace("form: cream, unit: g}", "form: tablet, unit: each, dose: 2 each}") + (
        "limits:\n  x:\n    all: 16 doses per 30 days\n")
    policy, diagnostics = lower(text)
    assert diagnostics == [] and policy is not None
    assert policy.products[0].dose == nodes.Quantity(amount=Decimal(2), unit="each")
    rule = policy.limits[0].rule
    assert isinstance(rule, nodes.PerWindow)
    assert (rule.quantity.amount, rule.quantity.unit, rule.quantity.doses) == (32, "each", 16)
    dsl = lower_dsl_text('policy p "T" {\n  type per_days\n  product x {\n    brand "A"\n'
                         '    generic "g"\n    form "tablet"\n    unit each\n    dose 2 each\n'
                         '  }\n  limit x {\n    all 16 doses per 30 days\n  }\n}\n')
    assert dsl.products == policy.products and dsl.limits == policy.limits
    emitted = emit_yaml(policy)
    assert "dose: 2 each" in emitted and "all: 16 doses per 30 days" in emitted
    again, diagnostics = lower(emitted)
    assert diagnostics == [] and again == policy


@pytest.mark.parametrize("text, kind", [("as requested", "as_requested"),
                                        ("one time or as requested", "one_time_or_requested")])
def test_durations_as_requested_lower_like_the_dsl_and_round_trip(text: str, kind: str) -> None:
    from dqmc.lang.printers.dsl_print import print_policy

    policy, diagnostics = lower(HEAD + "criteria:\n  c:\n    when: a\n    approve: requested\n"
                                f"    duration: {text}\n")
    assert diagnostics == [] and policy is not None
    assert policy.criteria[0].duration is not None and policy.criteria[0].duration.kind == kind
    dsl_text = ('policy p "T" {\n  type per_days\n  fact a: bool "A?"\n  criterion c {\n'
                f'    when a\n    approve requested\n    approvals last {text}\n  }}\n}}\n')
    dsl = lower_dsl_text(dsl_text)
    assert dsl.criteria[0].duration is not None and dsl.criteria[0].duration.kind == kind
    assert f"approvals last {text}\n" in print_policy(dsl)
    emitted = emit_yaml(policy)
    assert f"duration: {text}\n" in emitted
    again, diagnostics = lower(emitted)
    assert diagnostics == [] and again is not None
    assert again.criteria[0].duration.kind == kind  # type: ignore[union-attr]
