"""The DSL printer: parentheses, string literals, quantities, rules, selectors and layout."""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata
from decimal import Decimal

import pytest

from dqmc.lang.diagnostics import has_errors
from dqmc.lang.frontend.dsl_lower import lower_dsl, lower_fragment
from dqmc.lang.ir import nodes
from dqmc.lang.printers.dsl_fragments import (
    MAX_WIDTH,
    ConditionLayout,
    PrintError,
    condition_lines,
    format_duration,
    format_expr,
    format_limit_tail,
    format_quantity,
    format_rule,
    format_string,
)
from dqmc.lang.printers.dsl_print import print_policy
from dqmc.lang.source import SourceFile


def lower(text: str) -> nodes.Policy:
    policy, diagnostics = lower_dsl(SourceFile("test.dqm", text))
    assert policy is not None and not has_errors(diagnostics), diagnostics
    return policy


def lower_expr(text: str) -> nodes.Expr:
    expr, diagnostics = lower_fragment(SourceFile("test.dqm", text), "expr_start", text, 1, 1)
    assert not diagnostics, diagnostics
    return expr


def round_trip(policy: nodes.Policy) -> str:
    text = print_policy(policy)
    assert lower(text) == policy, text
    return text


def ref(name: str) -> nodes.FactRef:
    return nodes.FactRef(fact=name)


a, b, c, d = ref("a"), ref("b"), ref("c"), ref("d")


# ---------------------------------------------------------------------------------------------
# Conditions: the fewest parentheses that rebuild the same tree


@pytest.mark.parametrize(("expr", "text"), [
    (nodes.And(operands=(a, b, c)), "a and b and c"),
    (nodes.And(operands=(nodes.And(operands=(a, b)), c)), "(a and b) and c"),
    (nodes.And(operands=(a, nodes.And(operands=(b, c)))), "a and (b and c)"),
    (nodes.Or(operands=(a, b, c)), "a or b or c"),
    (nodes.Or(operands=(nodes.Or(operands=(a, b)), c)), "(a or b) or c"),
    (nodes.Or(operands=(nodes.And(operands=(a, b)), nodes.And(operands=(c, d)))),
     "a and b or c and d"),
    (nodes.And(operands=(nodes.Or(operands=(a, b)), c)), "(a or b) and c"),
    (nodes.And(operands=(a, nodes.Or(operands=(b, c)), d)), "a and (b or c) and d"),
    (nodes.Not(operand=a), "not a"),
    (nodes.Not(operand=nodes.Not(operand=a)), "not not a"),
    (nodes.Not(operand=nodes.And(operands=(a, b))), "not (a and b)"),
    (nodes.Not(operand=nodes.Or(operands=(a, b))), "not (a or b)"),
    (nodes.And(operands=(nodes.Not(operand=a), b)), "not a and b"),
    (nodes.Or(operands=(nodes.Not(operand=nodes.Or(operands=(a, b))), c)), "not (a or b) or c"),
    (nodes.Compare(fact="n", op=">=", value=Decimal("2.50")), "n >= 2.5"),
    (nodes.Compare(fact="n", op="<", value=Decimal("1E+2")), "n < 100"),
    (nodes.Compare(fact="flag", op="!=", value=False), "flag != false"),
    (nodes.Compare(fact="dx", op="==", value="chronic_hand_eczema"), "dx == chronic_hand_eczema"),
    (nodes.InSet(fact="severity", values=("moderate", "severe")), "severity in {moderate, severe}"),
    (nodes.Subset(fact="sites", values=("hands",)), "sites <= {hands}"),
])
def test_expression_prints_minimal_parentheses_and_parses_back(expr: nodes.Expr, text: str) -> None:
    assert format_expr(expr) == text
    assert lower_expr(text) == expr


def test_the_authors_grouping_prints_with_the_expression_it_matches() -> None:
    expr = nodes.Or(operands=(nodes.And(operands=(a, b)), nodes.Not(operand=c)))
    grouped = ConditionLayout(operands=(ConditionLayout(parens=True, operands=(
        ConditionLayout(), ConditionLayout())), ConditionLayout(parens=True, operands=(
            ConditionLayout(parens=True),))))
    assert format_expr(expr, grouped) == "(a and b) or (not c)"
    assert condition_lines(expr, "when ", 4, grouped) == ["    when (a and b) or (not c)"]
    assert lower_expr(format_expr(expr, grouped)) == expr
    # A layout of another shape (from another condition) is not applied.
    assert format_expr(nodes.Or(operands=(a, b)), grouped) == "a or b"
    assert format_expr(expr) == "a and b or not c"


def test_a_date_comparison_prints_iso_and_parses_back() -> None:
    # A regression: DATE once lost to NUMBER where both may follow, so this did not parse.
    expr = nodes.Compare(fact="start", op="<=", value=dt.date(2025, 1, 31))
    assert format_expr(expr) == "start <= 2025-01-31"
    assert lower_expr("start <= 2025-01-31") == expr


@pytest.mark.parametrize("expr", [
    nodes.And(operands=(a,)),
    nodes.Or(operands=()),
    nodes.InSet(fact="a", values=()),
    nodes.Compare(fact="n", op="<", value=Decimal(-1)),
    nodes.Compare(fact="n", op="<", value=Decimal("NaN")),
    nodes.FactRef(fact="not an id"),
])
def test_a_condition_no_front_end_builds_is_refused(expr: nodes.Expr) -> None:
    with pytest.raises(PrintError):
        format_expr(expr)


def test_a_long_condition_breaks_into_balanced_aligned_lines() -> None:
    expr = lower_expr("needs_more and diagnosis == chronic_hand_eczema and severity in "
                      "{moderate, severe} and sites <= {hands, wrists}")
    assert condition_lines(expr, "when ", 4) == [
        "    when needs_more and diagnosis == chronic_hand_eczema",
        "     and severity in {moderate, severe} and sites <= {hands, wrists}",
    ]


def test_a_long_or_breaks_at_or_and_then_inside_a_long_and() -> None:
    long_and = " and ".join(f"fact_number_{n} == value_{n}" for n in range(5))
    expr = lower_expr(f"short or {long_and} or other")
    lines = condition_lines(expr, "when ", 4)
    assert all(len(line) <= MAX_WIDTH for line in lines)
    assert lines[0].startswith("    when short")
    assert any(line.startswith("      or fact_number_0") for line in lines)
    assert any(line.startswith("     and fact_number_") for line in lines)
    assert lower_expr(" ".join(line.strip().removeprefix("when") for line in lines)) == expr


# ---------------------------------------------------------------------------------------------
# String literals

HOSTILE = [
    "", 'say "hi"', "back\\slash", '"""', "two\nlines", "tab\there", "nul\x00byte", "bell\x07",
    "line\u2028separator", "para\u2029graph", "rtl\u202eoverride", "isolate\u2066x\u2069",
    "zero\u200bwidth", "bom\ufeff", "nel\x85", "{{ template }}", "{% raw %}", "# not a comment",
    "cr\rlf", "escape\\n literal", "\\u0041", "emoji 😀", "tag \U000e0001", "en \u2013 dash ®",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_hostile_string_prints_inert_and_lowers_back_identical(text: str) -> None:
    literal = format_string(text)
    assert literal.startswith('"') and literal.endswith('"')
    for char in literal:
        # Nothing that breaks a line, reorders the display or hides itself survives raw.
        assert unicodedata.category(char) not in ("Cc", "Zl", "Zp") or char == " "
        assert not ("\u202a" <= char <= "\u202e" or "\u2066" <= char <= "\u2069")
    policy = lower(f'policy p {literal} {{ type per_days reference {literal} }}')
    assert policy.title == text
    assert policy.references[0].text == text


@pytest.mark.parametrize(("text", "literal"), [
    ('say "hi"', r'"say \"hi\""'),
    ("a\\b", r'"a\\b"'),
    ('"""', r'"\"\"\""'),
    ("a\nb\tc", r'"a\nb\tc"'),
    ("\x00", r'"\u0000"'),
    ("\u2028", r'"\u2028"'),
    ("\u202e", r'"\u202e"'),
    ("{{ x }} # y", '"{{ x }} # y"'),
    ("\u2013®", '"\u2013®"'),
])
def test_string_escapes(text: str, literal: str) -> None:
    assert format_string(text) == literal


def test_a_lone_surrogate_from_an_escape_prints_as_the_same_escape() -> None:
    assert format_string("\ud800") == r'"\ud800"'


def test_multi_line_prose_prints_as_a_block_that_lowers_byte_identical() -> None:
    text = 'First line with "quotes" and a # hash.\n\n  - an indented item\nlast line'
    block = format_string(text, indent=4)
    assert block == ('"""\n    First line with "quotes" and a # hash.\n\n      - an indented item\n'
                     '    last line\n    """')
    policy = lower(f'policy p "t" {{\n  type per_days\n  reference {block}\n}}\n')
    assert policy.references[0].text == text


@pytest.mark.parametrize("text", [
    'has """ inside\nsecond',  # would end the block early
    "  every line\n  indented alike",  # the dedent would remove it
    "trailing space \nsecond",  # an editor would strip it
    "whitespace-only\n   \nline",  # dedent normalises it
    "control\x07\nchar",
    "carriage\r\nreturn",
    "bidi\u202e\nchar",
    "ends with a newline\n",
])
def test_prose_a_block_cannot_hold_exactly_falls_back_to_a_quoted_string(text: str) -> None:
    literal = format_string(text, indent=4)
    if literal.startswith('"""'):
        policy = lower(f'policy p "t" {{\n  type per_days\n  reference {literal}\n}}\n')
        assert policy.references[0].text == text
    else:
        assert "\n" not in literal
        policy = lower(f'policy p "t" {{ type per_days reference {literal} }}')
        assert policy.references[0].text == text


def test_one_line_prose_stays_quoted_however_long() -> None:
    text = "word " * 40
    assert format_string(text, indent=4) == f'"{text}"'


# ---------------------------------------------------------------------------------------------
# Quantities, rules, selectors, durations

PACKAGED = """policy p "t" {
  type per_days
  product cream {
    brand "B"
    generic "g"
    form "cream"
    package tub-10g 10 g "10 gram tub" as tub
    package tube-30g 30 g "30 gram tube" as tube
    package box-5 5 g "box" as box
  }
  product pills {
    brand "P"
    generic "p"
    form "tablet"
    package bottle-30 30 each "bottle of 30" as bottle
  }
  group both "Both": cream, pills
  limit cream {
    retail 2 tube per 30 days
    home_delivery 3 boxes per fill
    all 1 tubs per fill
    specialty 45 g per fill
  }
  limit both {
    retail 2 bottles per fill
  }
  channel specialty "Specialty"
}
"""


def test_quantities_in_packages_print_back_as_packages() -> None:
    policy = lower(PACKAGED)
    cream = [policy.product("cream")]
    both = [policy.product("cream"), policy.product("pills")]
    words = [format_quantity(limit.rule.quantity, both if limit.target == "both" else cream)
             for limit in policy.limits]
    # "tubes" is the plural of the package `as tube`, not tub + "es": exact nouns and "-s"
    # plurals are tried across every package before "-es" plurals.
    assert words[0] == "2 tubes"
    assert words[1:] == ["3 boxes", "1 tub", "45 g", "2 bottles"]
    assert policy.limits[0].rule.quantity.amount == 60
    text = round_trip(policy)
    assert "retail        2 tubes per 30 days" in text


def test_a_count_of_each_prints_in_the_form_noun_the_author_wrote_where_it_lowers_back() -> None:
    policy = lower(PACKAGED)
    pills = [policy.product("pills")]
    tablets = dataclasses.replace(quantity(2, "each"), noun="tablet")
    assert format_quantity(tablets, pills) == "2 tablets"
    assert format_quantity(dataclasses.replace(tablets, amount=Decimal(1)), pills) == "1 tablet"
    # "2 each" stays "2 each": the IR keeps which word the author used.
    assert format_quantity(quantity(2, "each"), pills) == "2 each"
    assert format_quantity(tablets) == "2 each"  # no products: the word cannot lower back
    patches = [dataclasses.replace(pills[0], form="transdermal patch")]
    assert format_quantity(dataclasses.replace(tablets, amount=Decimal(3), noun="patch"),
                           patches) == "3 patches"
    assert format_quantity(tablets, patches) == "2 each"  # not a word of this product's form
    # Lowering keeps the word: "2 tablets" of the pills and "2 each" differ only by it.
    written = lower(PACKAGED.replace(
        "  limit both {", "  limit pills {\n    retail 2 tablets per fill\n"
        "    home_delivery 2 each per fill\n  }\n  limit both {"))
    by_channel = {limit.channel: limit.rule.quantity for limit in written.limits
                  if limit.target == "pills"}
    assert by_channel["retail"].noun == "tablet" and by_channel["home_delivery"].noun is None
    assert by_channel["retail"].amount == by_channel["home_delivery"].amount


COMBINATION_PACK = """policy p "t" {
  type per_days

  product combo {
    brand "C"
    generic "c"
    form "combination pack of tablets"
    package strip-7 7 each "strip of 7" as strips
  }

  limit combo {
    retail        28 tablets per 30 days
    home_delivery 1 tablet per fill
    all           3 strips per fill
  }
}
"""


def test_a_form_written_in_the_plural_counts_in_its_singular_and_prints_back_unchanged() -> None:
    # The issue: "28 tablets" of a "combination pack of tablets" printed as "28 tabletses".
    # The form's last word, in the plural, names the unit counted: tablet/tablets, one each.
    policy = lower(COMBINATION_PACK)
    quantities = [limit.rule.quantity for limit in policy.limits]
    counts = [(q.amount, q.noun, q.packages) for q in quantities]
    assert counts == [(28, "tablet", None), (1, "tablet", None), (21, None, 3)]
    # A package noun declared in the plural is its own plural too: "3 strips", not "stripses".
    assert print_policy(policy) == COMBINATION_PACK


@pytest.mark.parametrize("word", ["tabletses", "tabletes", "pack", "packs"])
def test_a_count_word_no_form_or_package_yields_is_refused_naming_those_that_are(word: str) -> None:
    text = COMBINATION_PACK.replace("28 tablets", f"28 {word}")
    _, diagnostics = lower_dsl(SourceFile("test.dqm", text))
    [diagnostic] = diagnostics
    assert diagnostic.code == "unit.unknown" and f"'{word}'" in diagnostic.message
    assert diagnostic.message.endswith("; this product's packages are counted as strips"
                                       "; this product's form is counted as tablet or tablets")


def test_the_plural_of_a_form_noun_is_the_one_english_plural() -> None:
    from dqmc.lang.frontend.lower_common import plural_noun, singular_noun

    for one, many in [("tablet", "tablets"), ("patch", "patches"), ("box", "boxes"),
                      ("suppository", "suppositories"), ("spray", "sprays"), ("glass", "glasses")]:
        assert (plural_noun(one), singular_noun(many), singular_noun(one)) == (many, one, one)


def test_a_package_count_under_a_package_selector_names_that_package() -> None:
    policy = lower(PACKAGED.replace(
        "    retail 2 bottles per fill\n",
        "    retail 2 bottles per fill\n"
        "    home_delivery 3 tubes per fill when package tube-30g\n"))
    limit = policy.limits[-1]
    # Under `when package tube-30g` only that package counts, so "tubes" means 30 g tubes.
    assert limit.rule.quantity.package == "tube-30g"
    assert format_limit_tail(limit, [policy.product("cream"), policy.product("pills")]) == (
        "3 tubes per fill when package tube-30g")
    round_trip(policy)


def test_a_quantity_in_packages_without_its_products_prints_in_billing_units() -> None:
    quantity = lower(PACKAGED).limits[0].rule.quantity
    assert format_quantity(quantity) == "60 g"


def test_default_settings_and_channels_are_not_printed() -> None:
    text = round_trip(lower(PACKAGED))
    assert 'reject_code' not in text and "daily_rate_check" not in text
    assert 'channel retail' not in text and 'channel home_delivery' not in text
    assert '  channel specialty "Specialty"\n' in text
    changed = dataclasses.replace(lower(PACKAGED), reject_code="79", daily_rate_check=True)
    text = round_trip(changed)
    assert '  reject_code "79"\n  daily_rate_check true\n' in text


def quantity(amount: int, unit: nodes.BillingUnit = "g") -> nodes.Quantity:
    return nodes.Quantity(amount=Decimal(amount), unit=unit)


@pytest.mark.parametrize(("rule", "text"), [
    (nodes.PerWindow(quantity=quantity(30), days=30), "30 g per 30 days"),
    (nodes.PerWindow(quantity=quantity(1), days=1), "1 g per 1 day"),
    (nodes.PerFill(quantity=quantity(90, "mL")), "90 mL per fill"),
    (nodes.PerDay(quantity=quantity(4, "each")), "4 each per day"),
    (nodes.PerDay(quantity=quantity(4, "each"), max_days=14), "4 each per day for up to 14 days"),
    (nodes.PerDay(quantity=quantity(4, "each"), max_days=1), "4 each per day for up to 1 day"),
    (nodes.FillsPerWindow(fills=2, days=365), "2 fills per 365 days"),
    (nodes.FillsPerWindow(fills=1, days=23), "1 fill per 23 days"),
    (nodes.DaysSupplyMax(days=34), "days supply <= 34"),
    (nodes.TherapyMax(days=14), "therapy <= 14 days"),
    (nodes.TherapyMax(days=1), "therapy <= 1 day"),
])
def test_every_rule_kind(rule: nodes.Rule, text: str) -> None:
    assert format_rule(rule) == text


SELECTED = [
    (nodes.Limit(target="x", channel="retail", rule=nodes.PerFill(quantity=quantity(1, "each")),
                 when=(nodes.AgeBand(min_years=0, max_years=17),)),
     "1 each per fill when age 0..17"),
    (nodes.Limit(target="x", channel="retail", rule=nodes.PerFill(quantity=quantity(1, "each")),
                 when=(nodes.AgeBand(min_years=18),), hard=True),
     "1 each per fill when age 18.. hard"),
    (nodes.Limit(target="x", channel=None, rule=nodes.PerFill(quantity=quantity(2, "each")),
                 when=(nodes.AgeBand(max_years=64), nodes.PackageIs(package="bottle-30")),
                 note='before "chemo"'),
     r'2 each per fill when age ..64 and package bottle-30 note "before \"chemo\""'),
    (nodes.Limit(target="x", channel=None, rule=nodes.DaysSupplyMax(days=30), hard=True,
                 note="n"),
     'days supply <= 30 hard note "n"'),
]


@pytest.mark.parametrize(("limit", "tail"), SELECTED)
def test_every_selector_and_flag_in_a_limit_tail(limit: nodes.Limit, tail: str) -> None:
    assert format_limit_tail(limit) == tail


def test_limits_with_selectors_round_trip_in_a_policy() -> None:
    policy = lower('policy p "t" { type per_day product x { brand "b" generic "g" form "tablet" '
                   'package bottle-30 30 each "bottle" } }')
    policy = dataclasses.replace(policy, limits=tuple(limit for limit, _ in SELECTED))
    text = round_trip(policy)
    # Built with no word for its `each` count, the quantity prints as "1 each".
    assert "  limit x {\n    retail 1 each per fill when age 0..17\n" in text
    assert "    all    days supply <= 30 hard note \"n\"\n" in text


def test_an_age_band_without_bounds_is_refused() -> None:
    with pytest.raises(PrintError):
        format_limit_tail(nodes.Limit(target="x", channel=None,
                                      rule=nodes.DaysSupplyMax(days=1), when=(nodes.AgeBand(),)))


@pytest.mark.parametrize(("duration", "text"), [
    (nodes.Duration(kind="fixed", amount=1, unit="years"), "1 year"),
    (nodes.Duration(kind="fixed", amount=6, unit="months"), "6 months"),
    (nodes.Duration(kind="fixed", amount=1, unit="days"), "1 day"),
    (nodes.Duration(kind="one_time"), "one time"),
])
def test_durations(duration: nodes.Duration, text: str) -> None:
    assert format_duration(duration) == text


# ---------------------------------------------------------------------------------------------
# Layout

EVERYTHING = '''policy every-kind "Every kind" {
  type mixed
  review_date 2025-01-02
  effective_date 2025-02-01
  approvals last 6 months
  reject_code "79"
  daily_rate_check true

  channel specialty "Specialty"
  channel retail_90 "Retail 90"

  product a {
    brand "A"
    generic "a"
    strength "10 mg"
    form "tablet"
    unit each
    label "A tablets"
    gpi "12345678"
    ndc "00000000001", "00000000002"
  }
  product b {
    brand "B"
    generic "b"
    form "cream"
    package tube-30g 30 g "30 gram tube" as tube { ndc "00000000003" }
  }

  group ab "A and B": a

  limit a {
    retail    30 tablets per 30 days when age 18..
    specialty 2 fills per 30 days hard
  }
  limit b {
    all 2 tubes per fill note "per tube"
  }

  fact ok: bool "OK?"
  fact n: number "How many?"

  criterion more "More" {
    when ok and n > 3
    approve a {
      retail 60 tablets per 30 days
    }
    approvals last one time
    renews more
  }

  section overview "Overview" "One line."
  section other "Notes" """
    Two
    lines.
    """

  reference "A reference."

  revision 2025-01-02 "New Policy"
  revision 2025-02-03 "Annual Revision" "Changed."
}
'''


def test_the_canonical_layout_prints_itself() -> None:
    assert print_policy(lower(EVERYTHING)) == EVERYTHING


def test_a_policy_with_channels_not_starting_with_the_defaults_is_refused() -> None:
    policy = dataclasses.replace(lower(EVERYTHING), channels=(nodes.Channel(id="x", label="X"),))
    with pytest.raises(PrintError):
        print_policy(policy)
