"""Tests for the policy documents: view models, rules in words, escaping, config, determinism."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import html
import json
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest
from conftest import REPO
from docs_samples import (
    HOSTILE,
    HOSTILE_CONFIG,
    SAMPLE_CONFIG,
    SAMPLE_VERSION,
    all_rules_compiled,
    all_rules_policy,
    anzupgo_compiled,
    anzupgo_policy,
    compiled,
    hostile_compiled,
)

from dqmc.build.run import run as build_run
from dqmc.codegen import docs_view
from dqmc.codegen.docs_emit import (
    DOCS_CONFIG_FILE,
    DocsConfigError,
    docs_config_diagnostics,
    docs_environment,
    drug_search_script,
    emit_docs,
    generated_header,
    load_docs_config,
    md_escape,
    md_table_row,
)
from dqmc.lang.diagnostics import Severity
from dqmc.lang.ir import nodes
from dqmc.lang.printers import english

HOSTILE_ONE_LINE = " ".join(HOSTILE.split())


def quantity(amount: str, unit: nodes.BillingUnit = "g", **kwargs: object) -> nodes.Quantity:
    return nodes.Quantity(amount=Decimal(amount), unit=unit, **kwargs)  # type: ignore[arg-type]


def tablet(form: str = "tablet") -> nodes.Product:
    return nodes.Product(id="t", brand="B", generic="g", strength="1 mg", form=form, unit="each")


ANZUPGO = anzupgo_policy()
CREAM = ANZUPGO.products


# ---------------------------------------------------------------------------------------------
# Quantities and words


@pytest.mark.parametrize(
    ("value", "products", "expected"),
    [
        (quantity("30"), CREAM, "30 grams"),
        (quantity("1"), CREAM, "1 gram"),
        (quantity("2.50"), CREAM, "2.5 grams"),
        (quantity("60", packages=Decimal(2), package="tube-30g"), CREAM, "2 tubes (60 grams)"),
        (quantity("30", packages=Decimal(1)), CREAM, "1 tube (30 grams)"),  # the one package
        (quantity("60", packages=Decimal(2), package="unknown"), CREAM, "2 packages (60 grams)"),
        (quantity("60", "each"), (tablet(),), "60 tablets"),
        (quantity("1", "each"), (tablet(),), "1 tablet"),
        (quantity("4", "each"), (tablet(), tablet("capsule")), "4 units"),
        # Written in the form's last word, the count reads in that word, as the source does.
        (quantity("2", "each", noun="blister"), (tablet("inhalation powder, blister"),),
         "2 blisters"),
        (quantity("2", "each"), (tablet("inhalation powder, blister"),),
         "2 inhalation powders, blister"),
        (quantity("30", "each", noun="unit"), (tablet("oral dosage unit"),), "30 units"),
        (quantity("1", "mL"), (), "1 mL"),
        (quantity("7.5", "mL"), (), "7.5 mL"),
    ],
)
def test_quantities_read_naturally(
    value: nodes.Quantity, products: tuple[nodes.Product, ...], expected: str
) -> None:
    assert english.quantity_phrase(value, products) == expected


@pytest.mark.parametrize(
    ("noun", "count", "expected"),
    [
        ("tablet", 2, "tablets"),
        ("tablet", 1, "tablet"),
        ("patch", 3, "patches"),
        ("suppository", 6, "suppositories"),
        ("tray", 2, "trays"),
        ("tablets", 2, "tablets"),
        ("glass", 2, "glasses"),
        ("oral soluble film", 2, "oral soluble films"),
        ("tablet, extended release", 2, "tablets, extended release"),
        ("prescription", Decimal("0.5"), "prescriptions"),
    ],
)
def test_plural_inflects_the_head_word(noun: str, count: Decimal | int, expected: str) -> None:
    assert english.plural(noun, count) == expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (nodes.PerWindow(quantity=quantity("30"), days=30), "30 grams per 30 days"),
        (nodes.PerWindow(quantity=quantity("5"), days=1), "5 grams per 1 day"),
        (nodes.PerFill(quantity=quantity("45")), "45 grams per fill"),
        (nodes.PerDay(quantity=quantity("2")), "2 grams per day"),
        (nodes.PerDay(quantity=quantity("2"), max_days=5), "2 grams per day, for up to 5 days"),
        (nodes.FillsPerWindow(fills=2, days=365), "at most 2 prescriptions per 365 days"),
        (nodes.FillsPerWindow(fills=1, days=23), "at most 1 prescription per 23 days"),
        (nodes.DaysSupplyMax(days=30), "at most a 30-day supply per fill"),
        (nodes.TherapyMax(days=14), "at most 14 days of continuous therapy"),
        (nodes.TherapyMax(days=1), "at most 1 day of continuous therapy"),
    ],
)
def test_every_rule_kind_reads_in_plain_words(rule: nodes.Rule, expected: str) -> None:
    assert english.rule_phrase(rule, CREAM) == expected


def test_each_rule_reads_with_the_product_form() -> None:
    rule = nodes.PerDay(quantity=quantity("2", "each"), max_days=5)
    assert english.rule_phrase(rule, (tablet(),)) == "2 tablets per day, for up to 5 days"


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (nodes.AgeBand(min_years=0, max_years=17), "ages 0–17"),
        (nodes.AgeBand(min_years=18), "ages 18 and older"),
        (nodes.AgeBand(max_years=64), "ages 64 and younger"),
        (nodes.AgeBand(min_years=12, max_years=12), "age 12"),
        (nodes.AgeBand(), "all ages"),
        (nodes.PackageIs(package="tube-30g"), "30 gram tube"),
        (nodes.PackageIs(package="big_tube"), "big tube"),
    ],
)
def test_selectors_read_in_plain_words(selector: nodes.Selector, expected: str) -> None:
    assert english.selector_phrase(selector, CREAM) == expected


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (nodes.Duration(kind="fixed", amount=1, unit="years"), "1 year"),
        (nodes.Duration(kind="fixed", amount=6, unit="months"), "6 months"),
        (nodes.Duration(kind="fixed", amount=1, unit="weeks"), "1 week"),
        (nodes.Duration(kind="fixed", amount=90, unit="days"), "90 days"),
        (nodes.Duration(kind="one_time"), "a one-time approval"),
    ],
)
def test_durations(duration: nodes.Duration, expected: str) -> None:
    assert english.duration_phrase(duration) == expected


def test_product_names_and_strength_and_form() -> None:
    product = ANZUPGO.products[0]
    assert english.product_name(product) == "Anzupgo (delgocitinib 2% cream)"
    assert english.strength_and_form(product) == "2% cream, 30 gram tube"
    generic = nodes.Product(
        id="x",
        brand="Ondansetron",
        generic="ondansetron",
        strength=None,
        form="tablet",
        unit="each",
    )
    assert english.product_name(generic) == "ondansetron tablet"
    assert english.strength_and_form(generic) == "tablet"
    # A form that names its package already is not followed by it again; other packages are.
    vial = nodes.Package(id="vial", size=None, description="vial", noun="vial")
    syringe = nodes.Package(id="syringe", size=None, description="prefilled syringe")
    epo = dataclasses.replace(generic, form="injection, vial or syringe", packages=(vial, syringe))
    assert english.strength_and_form(epo) == "injection, vial or syringe, prefilled syringe"
    vials = dataclasses.replace(generic, form="injection, vials", packages=(vial,))
    assert english.strength_and_form(vials) == "injection, vials, vial"


def test_channel_labels_read_in_lower_case_inside_sentences() -> None:
    assert english.channel_in_sentence("Home Delivery") == "home delivery"
    assert english.channel_in_sentence("CVS Specialty") == "CVS specialty"


def test_a_limit_in_doses_prints_the_doses_and_the_billing_amount() -> None:
    tablet = nodes.Product(id="t", brand="B", generic="g", strength=None, form="tablet",
                           unit="each", dose=nodes.Quantity(amount=Decimal(1), unit="each"))
    quantity = nodes.Quantity(amount=Decimal(16), unit="each", doses=Decimal(16))
    assert english.quantity_phrase(quantity, [tablet]) == "16 doses (16 tablets)"
    one = nodes.Quantity(amount=Decimal(2), unit="each", doses=Decimal(1))
    assert english.quantity_phrase(one, [tablet]) == "1 dose (2 tablets)"


def test_dates_print_as_in_the_reference() -> None:
    assert english.date_view(dt.date(2025, 11, 12)) == english.DateView(
        "11/12/2025", "2025-11-12"
    )
    # a month the source gives without a day prints as the source does, and no day is invented
    assert english.date_view(nodes.Month(2020, 7)) == english.DateView("July 2020", "2020-07")


def test_paragraphs_split_on_blank_lines_and_join_wrapped_lines() -> None:
    text = "first line\n  wrapped\r\n\r\n\n  second\tparagraph \n \n"
    assert english.paragraphs(text) == ("first line wrapped", "second paragraph")


# ---------------------------------------------------------------------------------------------
# The quantity-limits table


def test_anzupgo_table_has_one_column_per_channel_its_window_in_the_header() -> None:
    table = docs_view.limits_table(ANZUPGO)
    assert table is not None
    assert [column.header for column in table.columns] == [
        "Retail Maximum Quantity per 30 Days",
        "Home Delivery Maximum Quantity per 90 Days",
    ]
    assert table.rows == (
        docs_view.LimitRow(
            product="Anzupgo (delgocitinib 2% cream)",
            band=None,
            members=(),
            cells=(("30 grams",), ("90 grams",)),
            anchor="limits-anzupgo-2pct-cream",
        ),
    )


def test_a_row_per_product_and_band_a_column_per_channel_the_window_in_the_cell() -> None:
    table = docs_view.limits_table(all_rules_policy())
    assert table is not None
    headers = [column.header for column in table.columns]
    # One column per channel: only home delivery has limits of one window only.
    assert headers == [
        "Limits (All Channels)",
        "Retail Limits",
        "Home Delivery Maximum Quantity per 90 Days",
        "Specialty Limits",
    ]
    cells = {(row.product, row.band): dict(zip(headers, row.cells, strict=True))
             for row in table.rows}
    assert list(cells) == [
        ("Zuplenz (ondansetron 8 mg oral soluble film)", None),
        ("Blood glucose test strips", None),
        ("Blood glucose test strips", "ages 0–17"),
        ("Blood glucose test strips", "ages 18 and older"),
        ("Temovate (clobetasol 0.05% cream)", "15 gram tube"),
        ("Temovate (clobetasol 0.05% cream)", "60 gram tube"),
        ("Ozempic (semaglutide 2 mg/3 mL pen injector)", None),
        ("Triptan tablets", None),
    ]
    film = cells[("Zuplenz (ondansetron 8 mg oral soluble film)", None)]
    assert film["Limits (All Channels)"] == (
        "2 oral soluble films per day, for up to 5 days (for nausea from chemotherapy)",
        "at most 2 prescriptions per 365 days (soft edit: the pharmacist may pass it by sending "
        "reason for service code ER, professional service code M0 and result of service code 1B)",
    )
    assert film["Specialty Limits"] == ("3 cartons (30 oral soluble films) per fill",)
    # The band is the row's: its cells state the limit alone, with its window.
    strips = "Blood glucose test strips"
    assert cells[(strips, None)]["Limits (All Channels)"] == ("at most a 90-day supply per fill",)
    assert cells[(strips, None)]["Retail Limits"] == ()
    assert cells[(strips, "ages 0–17")]["Retail Limits"] == ("300 strips per 30 days",)
    assert cells[(strips, "ages 18 and older")]["Retail Limits"] == ("100 strips per 30 days",)
    assert cells[(strips, "ages 0–17")]["Limits (All Channels)"] == ()
    cream = "Temovate (clobetasol 0.05% cream)"
    assert cells[(cream, "15 gram tube")]["Retail Limits"] == ("2 tubes (30 grams) per fill",)
    assert cells[(cream, "60 gram tube")]["Retail Limits"] == ("60 grams per fill",)
    pen = cells[("Ozempic (semaglutide 2 mg/3 mL pen injector)", None)]
    assert pen["Limits (All Channels)"] == (
        "1 pen (3 mL) per 28 days (hard limit, no exceptions)",
    )
    triptans = cells[("Triptan tablets", None)]
    assert triptans["Retail Limits"] == ("18 tablets per 30 days",)
    assert triptans["Home Delivery Maximum Quantity per 90 Days"] == ("54 tablets",)
    assert triptans["Specialty Limits"] == ()
    group_row = next(row for row in table.rows if row.product == "Triptan tablets")
    assert group_row.members == (
        "Maxalt (rizatriptan 10 mg tablet)", "Imitrex (sumatriptan 100 mg tablet)")
    # Only a target's first row carries the anchor the drug lookup links to.
    assert [row.anchor for row in table.rows if row.product == strips] == [
        "limits-glucose-strips", None, None]


def test_no_row_repeats_the_strength_and_form_its_name_gives() -> None:
    markdown = emit_docs([anzupgo_compiled()], SAMPLE_CONFIG, version="1")["anzupgo-dqm.md"]
    table = markdown.split("## Drug Quantity Limits", 1)[1].split("\n## ", 1)[0]
    assert "Strength and Form" not in table
    assert table.count("2% cream") == table.count("Anzupgo (delgocitinib 2% cream)") == 1


def test_a_policy_without_limits_has_no_table() -> None:
    assert docs_view.limits_table(dataclasses.replace(ANZUPGO, limits=())) is None


# ---------------------------------------------------------------------------------------------
# Criteria


def test_anzupgo_criterion_reads_as_a_list_with_questions_and_approvals() -> None:
    document = docs_view.policy_document(ANZUPGO, base_heading="DQM POLICY")
    (criterion,) = document.criteria
    assert criterion.number == 1
    assert criterion.heading == "Additional quantity for moderate to severe chronic hand eczema"
    assert criterion.lead == "Approve when all of the following are true:"
    assert [(c.text, c.question) for c in criterion.conditions] == [
        ("Does the patient require an additional quantity? — Yes", None),
        ("Diagnosis is chronic hand eczema", "What condition is being treated?"),
        ("Severity is one of: moderate, severe", "How severe is the chronic hand eczema?"),
        ("Sites are only: hands, wrists", "Which body sites are treated?"),
    ]
    assert criterion.approvals == (
        docs_view.ApprovalView(
            target="Anzupgo (delgocitinib 2% cream)",
            sentence=(
                "Approve 60 grams per 30 days at retail and 180 grams per 90 days at home delivery."
            ),
        ),
    )
    assert criterion.duration == "1 year"
    assert criterion.duration_sentence == "Approvals under this criterion last 1 year."
    assert document.approval_duration_sentence == (
        "Approvals are provided for 1 year unless a criterion says otherwise."
    )


def test_nested_and_or_not_become_readable_sub_lists() -> None:
    document = docs_view.policy_document(all_rules_policy(), base_heading="H")
    chemo, renewal, triptans = document.criteria
    assert chemo.lead == "Approve when any of the following is true:"
    assert chemo.condition_lines == (
        english.ConditionLine(0, "all of the following are true:", None),
        english.ConditionLine(1, "Is the patient receiving chemotherapy? — Yes", None),
        english.ConditionLine(1, "Cycles is at least 2", "How many chemotherapy cycles remain?"),
        english.ConditionLine(
            0, "Chemo start is on or before 03/01/2026", "When does the next cycle start?"
        ),
    )
    assert renewal.lead == "Approve when the following is true:"
    assert [line.text for line in triptans.condition_lines] == [
        "none of the following is true:",
        "Indication is not migraine",
        "Is the patient receiving chemotherapy? — No",
        "not all of the following are true:",
        "Prior drugs are only: nsaid",
        "Cycles is less than 1.5",
        "Indication is not one of: other",
        "Prior drugs include something other than: opioid",
        "Prior drugs include triptan",
    ]
    assert [line.depth for line in triptans.condition_lines] == [0, 1, 1, 0, 1, 1, 0, 0, 0]


def test_approvals_durations_and_renewals() -> None:
    document = docs_view.policy_document(all_rules_policy(), base_heading="H")
    chemo, renewal, triptans = document.criteria
    assert (
        chemo.approvals[0].sentence
        == "Approve 3 oral soluble films per day, for up to 7 days (all channels)."
    )
    assert (chemo.duration, chemo.duration_sentence) == (
        "a one-time approval",
        "This is a one-time approval.",
    )
    assert renewal.heading == "Renewal of Nausea from chemotherapy"
    assert renewal.renewal_of == "Nausea from chemotherapy"
    assert (
        renewal.approvals[0].sentence == "Approve at most 4 prescriptions per 365 days at retail."
    )
    assert renewal.duration == "6 months"  # the policy's approval duration
    assert triptans.duration == "2 weeks"  # the criterion's own
    assert [(a.target, a.sentence) for a in triptans.approvals] == [
        ("Triptan tablets", "Approve 27 tablets per 30 days at retail."),
        (
            "Ozempic (semaglutide 2 mg/3 mL pen injector)",
            "Approve 1 mL per day at specialty and 2 pens (6 mL) per 28 days at home delivery.",
        ),
        ("Blood glucose test strips", "Approve at most a 100-day supply per fill at retail."),
    ]


def test_titled_renewal_and_missing_durations() -> None:
    policy = all_rules_policy()
    renewal = dataclasses.replace(policy.criteria[1], title="Continued therapy")
    policy = dataclasses.replace(
        policy, approval_duration=None, criteria=(policy.criteria[0], renewal)
    )
    document = docs_view.policy_document(policy, base_heading="H")
    assert document.criteria[1].heading == "Continued therapy (renewal of Nausea from chemotherapy)"
    assert document.criteria[1].duration is None
    assert document.criteria[1].duration_sentence is None
    assert document.approval_duration_sentence is None


def test_criteria_for_initial_or_renewal_requests_say_so() -> None:
    policy = all_rules_policy()
    chemo, renewal = (dataclasses.replace(policy.criteria[0], serves="initial"),
                      dataclasses.replace(policy.criteria[1], serves="renewal"))
    policy = dataclasses.replace(policy, criteria=(chemo, renewal, *policy.criteria[2:]))
    document = docs_view.policy_document(policy, base_heading="H")
    assert [c.serves for c in document.criteria] == [
        "For initial requests only (no earlier authorization for the drug).",
        "For renewal requests only (an earlier authorization for the drug).", None]
    documents = emit_docs([compiled(policy, "policy_specs/sample-all-rules.yaml")],
                          SAMPLE_CONFIG, version="9.9")
    for name in ("sample-all-rules.md", "sample-all-rules.html"):
        assert "For renewal requests only (an earlier authorization for the drug)." \
            in documents[name]


# ---------------------------------------------------------------------------------------------
# Sections and the whole document


def test_sections_follow_the_reference_order_and_list_the_packages() -> None:
    document = docs_view.policy_document(
        all_rules_policy(), base_heading="DRUG QUANTITY MANAGEMENT POLICY"
    )
    assert document.heading == "DRUG QUANTITY MANAGEMENT POLICY"  # a mixed policy has no suffix
    assert [s.kind for s in document.leading_sections] == [
        "overview",
        "availability",
        "policy_statement",
    ]
    assert document.leading_sections[1].items == (
        "Zuplenz (ondansetron 8 mg oral soluble film): carton of 10 films",
        "Temovate (clobetasol 0.05% cream): 15 gram tube or 60 gram tube",
        "Ozempic (semaglutide 2 mg/3 mL pen injector): 3 mL pen",
    )
    assert [s.title for s in document.trailing_sections] == ["Notes"]
    assert document.effective_date == english.DateView("02/01/2026", "2026-02-01")
    assert [(r.type, r.summary, r.date.text) for r in document.history] == [
        ("New Policy", "Created.", "12/01/2025"),
        ("Annual Revision", "", "01/05/2026"),
    ]


def test_anzupgo_document_heading_and_availability() -> None:
    document = docs_view.policy_document(ANZUPGO, base_heading="DRUG QUANTITY MANAGEMENT POLICY")
    assert document.heading == "DRUG QUANTITY MANAGEMENT POLICY – PER DAYS"
    assert document.review_date == english.DateView("11/12/2025", "2025-11-12")
    availability = next(s for s in document.leading_sections if s.kind == "availability")
    assert availability.paragraphs == (
        "Anzupgo is supplied as a 2% cream in the package listed below.",)
    assert availability.items == ("Anzupgo (delgocitinib 2% cream): 30 gram tube",)


# ---------------------------------------------------------------------------------------------
# Markdown escaping


def markdown_unescape(text: str) -> str:
    """What CommonMark shows for md_escape output: escaped characters as is, entities decoded."""
    return re.sub(
        r"\\([!-/:-@\[-`{-~])|(&#?[A-Za-z0-9]+;)",
        lambda match: match.group(1) or html.unescape(match.group(2)),
        text,
    )


@pytest.mark.parametrize(
    "text",
    [
        HOSTILE,
        "a|b",
        "`x`",
        "*x* _y_",
        "[a](b)",
        "\\",
        "&amp;",
        "# heading",
        "- item",
        "+ item",
        "1. item",
        "2) item",
        "0.05% cream",
        "===",
        "---",
        "$x$",
        "<!-- c -->",
        "~~s~~",
    ],
)
def test_md_escape_is_inert_and_loses_nothing(text: str) -> None:
    escaped = md_escape(text)
    assert "\n" not in escaped
    assert "<" not in escaped and ">" not in escaped
    assert re.search(r"(?<!\\)[|`*_\[\]~$]", escaped) is None
    assert re.match(r"[#+\-=]|\d+[.)](\s|$)", escaped) is None
    assert markdown_unescape(escaped) == " ".join(text.split())


def test_md_escape_leaves_ordinary_text_alone() -> None:
    assert md_escape("Anzupgo (delgocitinib 2% cream), 0.05% — ages 0–17: 30 grams.") == (
        "Anzupgo (delgocitinib 2% cream), 0.05% — ages 0–17: 30 grams."
    )


def test_md_table_rows_escape_pipes_and_join_entries() -> None:
    assert md_table_row(["a|b", ("x", "y\nz"), ()]) == "| a\\|b | x<br>y z | — |"


# ---------------------------------------------------------------------------------------------
# Hostile spec text renders inertly in both formats


@pytest.fixture(scope="module")
def hostile_documents() -> dict[str, str]:
    return emit_docs(
        [hostile_compiled(), anzupgo_compiled()], HOSTILE_CONFIG, version=SAMPLE_VERSION
    )


def test_hostile_html_contains_no_markup_from_the_spec(hostile_documents: dict[str, str]) -> None:
    script, _ = drug_search_script()
    for path in ("hostile.html", "index.html"):
        page = hostile_documents[path]
        if path == "index.html":  # the one script is the lookup's own, verbatim
            assert page.lower().count("<script") == 1
            page = page.replace(f"<script>{script}</script>", "")
        body = page.split("\n", 1)[1]  # below the header, whose content hash may contain digits
        assert "<script" not in page.lower()
        assert "<b>" not in page
        assert "49" not in body
        assert "{{ 7*7 }}" in body and "{% if %}" in body


def test_hostile_html_shows_the_spec_text_verbatim(hostile_documents: dict[str, str]) -> None:
    texts = TextCollector.collect(hostile_documents["hostile.html"])
    assert texts["h1"] == [HOSTILE_ONE_LINE]
    assert texts["title"] == [f"{HOSTILE_ONE_LINE} — {HOSTILE_ONE_LINE}"]
    assert HOSTILE_ONE_LINE + " Maximum Quantity per 30 Days" in texts["th"]
    assert texts["caption"] == ["Drug Quantity Limits", "Worked examples", "Revision history"]


def test_hostile_markdown_is_escaped_everywhere(hostile_documents: dict[str, str]) -> None:
    page = hostile_documents["hostile.md"]
    assert "<script" not in page.lower()
    lines = page.splitlines()
    assert "49" not in "\n".join(lines[1:])
    assert lines[0].startswith("<!-- @generated") and lines[0].endswith("-->")
    body = lines[1:]
    assert all("<" not in line for line in body if "<br>" not in line)
    tables: list[list[str]] = [[]]
    for line in body:
        if line.startswith("|"):
            tables[-1].append(line)
        elif tables[-1]:
            tables.append([])
    tables = [table for table in tables if table]
    # The quantity and examples tables have 2 columns (3 borders), the history 3 (4): no spec
    # text adds one.
    borders = [{len(re.findall(r"(?<!\\)\|", line)) for line in table} for table in tables]
    assert borders == [{3}, {3}, {4}], tables


def test_hostile_markdown_round_trips_to_the_spec_text(hostile_documents: dict[str, str]) -> None:
    page = hostile_documents["hostile.md"]
    heading = next(line for line in page.splitlines() if line.startswith("**Policy:** "))
    assert markdown_unescape(heading.removeprefix("**Policy:** ")) == HOSTILE_ONE_LINE


def test_generated_header_cannot_close_its_comment() -> None:
    header = generated_header([("specs/a-->b.yaml", "sha256:00")], "1.0")
    assert header.startswith(
        "<!-- @generated by dqmc 1.0 from specs/a- ->b.yaml (sha256:00). DO NOT EDIT."
    )
    assert header.endswith(" -->") and header.count("-->") == 1


# ---------------------------------------------------------------------------------------------
# The drug lookup: the index's table and drugs.json


def test_the_drug_lookup_has_a_row_per_product_with_its_limits_in_words() -> None:
    rows = docs_view.drug_rows([all_rules_compiled(), anzupgo_compiled()])
    policies = (all_rules_policy(), anzupgo_policy())
    assert sorted(row.product_id for row in rows) == sorted(
        product.id for policy in policies for product in policy.products)
    assert [row.brand.casefold() for row in rows] == sorted(row.brand.casefold() for row in rows)
    by_id = {row.product_id: row for row in rows}
    anzupgo = by_id["anzupgo-2pct-cream"]
    assert (anzupgo.brand, anzupgo.generic, anzupgo.strength, anzupgo.form) == (
        "Anzupgo", "delgocitinib", "2%", "cream")
    assert [(c.label, c.entries) for c in anzupgo.limits] == [
        ("Retail", ("30 grams per 30 days",)),
        ("Home Delivery", ("90 grams per 90 days",)),
    ]
    assert anzupgo.exceptions
    assert anzupgo.href == "anzupgo-dqm.html#limits-anzupgo-2pct-cream"
    # A group's limit is the member's too, and says it is shared; the link goes to the group.
    policy = all_rules_policy()
    group = next(g for g in policy.groups if g.title == "Triptan tablets")
    member = by_id[group.products[0]]
    assert ("Retail", ("18 tablets per 30 days, shared with Triptan tablets",)) in [
        (c.label, c.entries) for c in member.limits]
    assert member.href == f"sample-all-rules.html#limits-{group.id}"
    # A band stays in the words: the lookup has one row per product, not per band.
    strips = by_id["glucose-strips"]
    assert [(c.label, c.entries) for c in strips.limits] == [
        ("All channels", ("at most a 90-day supply per fill",)),
        ("Retail", ("ages 0–17: 300 strips per 30 days",
                    "ages 18 and older: 100 strips per 30 days")),
    ]


def test_exceptions_follow_the_criteria_that_approve_a_product() -> None:
    policy = anzupgo_policy()
    assert docs_view.has_exceptions(policy, policy.products[0])
    assert not docs_view.has_exceptions(dataclasses.replace(policy, criteria=()),
                                        policy.products[0])


def test_drugs_json_is_the_lookup_as_data() -> None:
    documents = emit_docs([anzupgo_compiled(), all_rules_compiled()], SAMPLE_CONFIG, version="9")
    data = json.loads(documents["drugs.json"])
    assert data["@generated"].startswith("by dqmc 9 from policy_specs/anzupgo.dqm (sha256:")
    rows = docs_view.drug_rows([anzupgo_compiled(), all_rules_compiled()])
    assert [d["product"] for d in data["drugs"]] == [row.product_id for row in rows]
    anzupgo = next(d for d in data["drugs"] if d["product"] == "anzupgo-2pct-cream")
    assert anzupgo["limits"][0] == {"channel": "retail", "channel_label": "Retail",
                                    "limits": ["30 grams per 30 days"]}
    assert anzupgo["exceptions"] is True
    assert anzupgo["document"] == "anzupgo-dqm.html#limits-anzupgo-2pct-cream"
    assert documents["drugs.json"].isascii()


def test_the_index_carries_its_script_allowed_by_hash_and_a_table_without_it() -> None:
    page = emit_docs([anzupgo_compiled()], SAMPLE_CONFIG, version="9")["index.html"]
    script, source = drug_search_script()
    expected = base64.b64encode(hashlib.sha256(str(script).encode()).digest()).decode()
    assert source == f"sha256-{expected}"
    assert (f"content=\"default-src 'none'; style-src 'unsafe-inline'; "
            f"script-src '{source}'\"") in page
    assert f"<script>{script}</script>" in page
    # The search form is hidden until the script shows it; the rows are in the markup.
    assert '<form id="drug-search-form" class="search" role="search" hidden>' in page
    assert '<tr data-search="Anzupgo delgocitinib">' in page
    policy_page = emit_docs([anzupgo_compiled()], SAMPLE_CONFIG, version="9")["anzupgo-dqm.html"]
    assert "script-src" not in policy_page and "<script" not in policy_page


# ---------------------------------------------------------------------------------------------
# emit_docs: layout, headers, determinism


def test_emit_docs_writes_markdown_html_and_index() -> None:
    documents = emit_docs([anzupgo_compiled(), all_rules_compiled()], SAMPLE_CONFIG, version="9.9")
    assert list(documents) == [
        "anzupgo-dqm.html",
        "anzupgo-dqm.md",
        "drugs.json",
        "index.html",
        "sample-all-rules.html",
        "sample-all-rules.md",
    ]
    item = anzupgo_compiled()
    expected_header = (
        "<!-- @generated by dqmc 9.9 from policy_specs/anzupgo.dqm "
        f"({item.content_hash}). DO NOT EDIT. -->"
    )
    assert documents["anzupgo-dqm.md"].splitlines()[0] == expected_header
    assert documents["anzupgo-dqm.html"].splitlines()[0] == expected_header
    index_header = documents["index.html"].splitlines()[0]
    assert "policy_specs/anzupgo.dqm (sha256:" in index_header
    assert "policy_specs/sample-all-rules.yaml (sha256:" in index_header
    for text in documents.values():
        assert text.endswith("\n") and not text.endswith("\n\n")
        assert "\r" not in text


def test_emit_docs_is_deterministic_whatever_the_input_order() -> None:
    first = emit_docs([anzupgo_compiled(), all_rules_compiled()], SAMPLE_CONFIG, version="1")
    second = emit_docs([all_rules_compiled(), anzupgo_compiled()], SAMPLE_CONFIG, version="1")
    assert first == second
    assert list(first) == list(second)


def test_index_links_every_policy_relatively() -> None:
    documents = emit_docs([anzupgo_compiled(), all_rules_compiled()], SAMPLE_CONFIG, version="1")
    links = LinkCollector.collect(documents["index.html"])
    rows = docs_view.drug_rows([anzupgo_compiled(), all_rules_compiled()])
    assert links == [row.href for row in rows] + [
        "anzupgo-dqm.html",
        "anzupgo-dqm.html",
        "anzupgo-dqm.md",
        "sample-all-rules.html",
        "sample-all-rules.html",
        "sample-all-rules.md",
    ]
    for link in links:  # each names a document, and an element of it that is there
        path, _, fragment = link.partition("#")
        assert path in documents, link
        assert not fragment or f' id="{fragment}"' in documents[path], link
    index = documents["index.html"]
    assert "11/12/2025" in index and "Anzupgo (delgocitinib 2% cream)" in index
    assert LinkCollector.collect(documents["anzupgo-dqm.html"]) == ["index.html"]


def test_emit_docs_with_no_policies_still_writes_an_index() -> None:
    documents = emit_docs([], SAMPLE_CONFIG, version="1")
    assert list(documents) == ["drugs.json", "index.html"]
    assert "from no sources" in documents["index.html"].splitlines()[0]
    assert "No policies have been published." in documents["index.html"]
    assert "<script" not in documents["index.html"]  # no lookup, so no script
    assert json.loads(documents["drugs.json"])["drugs"] == []


@pytest.mark.parametrize("policy_id", ["../escape", "a/b", "", ".hidden", "index"])
def test_emit_docs_rejects_ids_that_are_not_safe_file_names(policy_id: str) -> None:
    item = compiled(dataclasses.replace(anzupgo_policy(), id=policy_id), "x.yaml")
    with pytest.raises(ValueError, match="policy id"):
        emit_docs([item], SAMPLE_CONFIG, version="1")


def test_emit_docs_rejects_ids_that_collide_on_case_insensitive_file_systems() -> None:
    upper = compiled(dataclasses.replace(anzupgo_policy(), id="Anzupgo-DQM"), "a.yaml")
    with pytest.raises(ValueError, match="not unique"):
        emit_docs([anzupgo_compiled(), upper], SAMPLE_CONFIG, version="1")


# ---------------------------------------------------------------------------------------------
# HTML structure: self-contained, accessible, well nested


VOID_ELEMENTS = {"meta", "br", "hr", "img", "link", "input", "col", "area", "base", "source", "wbr"}


class TagTracker(HTMLParser):
    """Checks that elements nest properly and records every attribute that could load a resource."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag not in VOID_ELEMENTS:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


class TextCollector(HTMLParser):
    """The text of each element kind, whitespace collapsed, e.g. texts["th"]."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, list[str]]] = []
        self.texts: dict[str, list[str]] = {}

    @classmethod
    def collect(cls, page: str) -> dict[str, list[str]]:
        parser = cls()
        parser.feed(page)
        return parser.texts

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID_ELEMENTS:
            self.open.append((tag, []))

    def handle_endtag(self, tag: str) -> None:
        name, parts = self.open.pop()
        text = " ".join("".join(parts).split())
        self.texts.setdefault(name, []).append(text)
        if self.open:
            self.open[-1][1].append(" " + text + " ")

    def handle_data(self, data: str) -> None:
        if self.open:
            self.open[-1][1].append(data)


class LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    @classmethod
    def collect(cls, page: str) -> list[str]:
        parser = cls()
        parser.feed(page)
        return parser.links

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")


@pytest.mark.parametrize("path", ["anzupgo-dqm.html", "sample-all-rules.html", "index.html"])
def test_html_pages_are_self_contained_well_nested_and_accessible(path: str) -> None:
    documents = emit_docs([anzupgo_compiled(), all_rules_compiled()], SAMPLE_CONFIG, version="1")
    page = documents[path]
    tracker = TagTracker()
    tracker.feed(page)
    tracker.close()
    assert tracker.problems == []
    assert tracker.stack == []
    tags = [tag for tag, _ in tracker.elements]
    assert tags[0] == "html" and dict(tracker.elements[0][1])["lang"] == "en"
    assert page.splitlines()[1] == "<!DOCTYPE html>"
    csp = [attrs for tag, attrs in tracker.elements if tag == "meta" and attrs.get("http-equiv")]
    # Only the index runs a script: its own inline one, allowed by hash (no src, no other).
    script_source = f"; script-src '{drug_search_script()[1]}'" if path == "index.html" else ""
    assert csp == [
        {
            "http-equiv": "Content-Security-Policy",
            "content": f"default-src 'none'; style-src 'unsafe-inline'{script_source}",
        }
    ]
    assert tags.count("script") == (path == "index.html")
    assert not {
        "link",
        "img",
        "iframe",
        "object",
        "embed",
        "video",
        "audio",
        "source",
    } & set(tags)
    assert all(not attrs.get("src") for _, attrs in tracker.elements)
    hrefs = [attrs.get("href") or "" for _, attrs in tracker.elements if "href" in attrs]
    assert all(not re.match(r"[a-z][a-z0-9+.-]*:|//", href, re.IGNORECASE) for href in hrefs)
    assert "@import" not in page and "url(" not in page
    assert "@media print" in page and "@page" in page
    if path != "index.html":
        head_cells = [attrs for tag, attrs in tracker.elements if tag == "th"]
        assert head_cells and all(attrs.get("scope") in ("col", "row") for attrs in head_cells)
        assert tags.count("caption") == tags.count("table") == 3  # limits, examples, history


# ---------------------------------------------------------------------------------------------
# Configuration and the Jinja environment


def test_the_repository_config_loads() -> None:
    config = load_docs_config(REPO / DOCS_CONFIG_FILE)
    assert config.organization == "Example Health Plan"
    assert config.document_heading == "DRUG QUANTITY MANAGEMENT POLICY"
    assert config.language == "en"
    assert "Cigna" not in (REPO / DOCS_CONFIG_FILE).read_text(encoding="utf-8")
    assert len(english.paragraphs(config.instructions_for_use)) == 3


VALID_CONFIG = (
    "organization: Org\ndocument_heading: H\ninstructions_for_use: I\ncriteria_intro: C\n"
    "footer: F\n"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (VALID_CONFIG + "colour: red\n", "unknown key 'colour'"),
        (VALID_CONFIG.replace("criteria_intro: C\n", ""), "missing key 'criteria_intro'"),
        (VALID_CONFIG.replace("footer: F", "footer: 3"), "key 'footer' must be non-empty text"),
        (VALID_CONFIG.replace("footer: F", "footer: ''"), "key 'footer' must be non-empty text"),
        (VALID_CONFIG + "language: 'en US'\n", "key 'language' must be a language tag"),
        ("- a\n- b\n", "expected a mapping"),
        ("organization: [unclosed\n", "not valid YAML"),
    ],
)
def test_config_errors_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "docs.config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DocsConfigError, match=re.escape(message)):
        load_docs_config(path)


def test_config_defaults_the_language_and_reports_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "docs.config.yaml"
    path.write_text(VALID_CONFIG, encoding="utf-8")
    assert load_docs_config(path).language == "en"
    with pytest.raises(DocsConfigError, match="cannot read"):
        load_docs_config(tmp_path / "missing.yaml")


def test_a_config_without_a_footer_warns_and_the_documents_end_without_one(
        tmp_path: Path) -> None:
    path = tmp_path / "docs.config.yaml"
    path.write_text(VALID_CONFIG.replace("footer: F\n", ""), encoding="utf-8")
    config = load_docs_config(path)
    assert config.footer is None
    [warning] = docs_config_diagnostics(config)
    assert (warning.code, warning.severity, warning.span.file) == (
        "docs.no-footer", Severity.WARNING, str(path))
    documents = emit_docs([anzupgo_compiled()], config, version="1")
    assert "fine-print" not in documents["anzupgo-dqm.html"].split("</style>", 1)[1]
    assert "<footer" not in documents["index.html"]
    assert not documents["anzupgo-dqm.md"].rstrip().endswith("---")
    assert docs_config_diagnostics(load_docs_config(REPO / DOCS_CONFIG_FILE)) == []


def test_a_build_without_a_config_warns_and_prints_no_placeholder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "anzupgo.dqm").write_text(
        (REPO / "policy_specs/anzupgo.dqm").read_text(encoding="utf-8"), encoding="utf-8")
    result = build_run(["anzupgo.dqm"], tmp_path / "generated")
    assert result.exit_code == 0
    assert [d.code for d in result.diagnostics] == ["docs.no-config"]
    for name in ("anzupgo-dqm.html", "anzupgo-dqm.md", "index.html"):
        text = (tmp_path / "generated/docs" / name).read_text(encoding="utf-8")
        assert DOCS_CONFIG_FILE not in text and "replace this text" not in text, name
        assert "<footer" not in text, name


def test_jinja_environment_is_strict_and_escapes_html_only() -> None:
    environment = docs_environment()
    assert environment.undefined is jinja2.StrictUndefined
    assert (
        environment.trim_blocks and environment.lstrip_blocks and environment.keep_trailing_newline
    )
    autoescape = environment.autoescape
    assert callable(autoescape)
    assert autoescape("policy.html") and autoescape("index.html")
    assert not autoescape("policy.md.j2")
    with pytest.raises(jinja2.UndefinedError):
        environment.get_template("policy.md.j2").render({})
