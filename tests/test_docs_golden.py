"""Golden Markdown and HTML documents for the Anzupgo reference policy, checked against its IR.

Run with DQMC_UPDATE_GOLDEN=1 to rewrite tests/golden/docs/ from the current generator, then
review the diff like code.
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from docs_samples import SAMPLE_CONFIG, SAMPLE_VERSION, anzupgo_compiled

from dqmc.codegen.docs_emit import emit_docs
from dqmc.lang.ir import nodes
from dqmc.lang.ir.canonical import decimal_text

GOLDEN_DIR = Path(__file__).parent / "golden" / "docs"
UPDATE_GOLDEN = os.environ.get("DQMC_UPDATE_GOLDEN") == "1"
POLICY = anzupgo_compiled().policy

# English unit words, written here independently of the generator, so the checks below compare
# the documents with the IR rather than with the generator's own phrasing code.
UNIT_WORDS = {"g": "grams", "mL": "mL"}


@pytest.fixture(scope="module")
def documents() -> dict[str, str]:
    return emit_docs([anzupgo_compiled()], SAMPLE_CONFIG, version=SAMPLE_VERSION)


@pytest.mark.parametrize("extension", ["md", "html"])
def test_documents_match_the_golden_files(documents: dict[str, str], extension: str) -> None:
    actual = documents[f"{POLICY.id}.{extension}"]
    golden = GOLDEN_DIR / f"anzupgo.{extension}"
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual, encoding="utf-8", newline="\n")
    assert golden.exists(), f"{golden} is missing; run with DQMC_UPDATE_GOLDEN=1 to create it"
    assert actual == golden.read_text(encoding="utf-8"), (
        f"{golden.name} differs; if the change is intended, rerun with DQMC_UPDATE_GOLDEN=1"
    )


# ---------------------------------------------------------------------------------------------
# What the IR says must be what the documents say


def window_limits() -> list[tuple[str, nodes.PerWindow]]:
    """(channel label, rule) for each base limit of the policy, all rolling-window rules."""
    labels = {channel.id: channel.label for channel in POLICY.channels}
    found = []
    for limit in POLICY.limits:
        assert isinstance(limit.rule, nodes.PerWindow) and limit.channel is not None
        found.append((labels[limit.channel], limit.rule))
    return found


def amount_words(rule: nodes.PerWindow) -> str:
    return f"{decimal_text(rule.quantity.amount)} {UNIT_WORDS[rule.quantity.unit]}"


def approval_phrases() -> list[str]:
    labels = {channel.id: channel.label.lower() for channel in POLICY.channels}
    phrases = []
    for approval in POLICY.criteria[0].approves:
        assert isinstance(approval.rule, nodes.PerWindow) and approval.channel is not None
        phrases.append(
            f"{amount_words(approval.rule)} per {approval.rule.days} days"
            f" at {labels[approval.channel]}"
        )
    return phrases


def duration_words() -> str:
    duration = POLICY.approval_duration
    assert duration is not None and duration.kind == "fixed" and duration.unit is not None
    unit = duration.unit.removesuffix("s") if duration.amount == 1 else duration.unit
    return f"{duration.amount} {unit}"


def review_date_text() -> str:
    review = POLICY.review_date
    assert review is not None
    return f"{review.month:02d}/{review.day:02d}/{review.year}"


def markdown_table(markdown: str, heading: str) -> list[list[str]]:
    """The rows of the pipe table under `## heading`, each cell unescaped and stripped."""
    section = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = re.split(r"(?<!\\)\|", line)[1:-1]
            rows.append([re.sub(r"\\(.)", r"\1", cell).strip() for cell in cells])
    return rows


class TableReader(HTMLParser):
    """The text of each cell of the table with a given id, row by row."""

    def __init__(self, table_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.table_id = table_id
        self.inside = False
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("th", "td"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("th", "td") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def html_table(page: str, table_id: str) -> list[list[str]]:
    reader = TableReader(table_id)
    reader.feed(page)
    return reader.rows


class TextReader(HTMLParser):
    """All the text of a page, whitespace collapsed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(page: str) -> str:
    reader = TextReader()
    reader.feed(page)
    return " ".join("".join(reader.parts).split())


def assert_quantity_table_matches_the_ir(rows: list[list[str]]) -> None:
    header, *body = rows
    (product_row,) = body
    product = POLICY.products[0]
    assert product_row[0].startswith(product.brand)
    for label, rule in window_limits():
        column = header.index(f"{label} Maximum Quantity per {rule.days} Days")
        assert product_row[column] == amount_words(rule)


def test_markdown_states_the_ir_limits_approvals_duration_and_date(
    documents: dict[str, str],
) -> None:
    markdown = documents[f"{POLICY.id}.md"]
    rows = markdown_table(markdown, "Drug Quantity Limits")
    assert_quantity_table_matches_the_ir(rows)
    assert rows[0] == [
        "Product",
        "Retail Maximum Quantity per 30 Days",
        "Home Delivery Maximum Quantity per 90 Days",
    ]
    assert rows[1][1:] == ["30 grams", "90 grams"]
    flat = " ".join(markdown.split())
    for phrase in approval_phrases():
        assert phrase in flat
    assert (
        "60 grams per 30 days at retail" in flat
        and "180 grams per 90 days at home delivery" in flat
    )
    assert f"last {duration_words()}." in flat and "1 year" in flat
    assert f"**Review date:** {review_date_text()}" in markdown and "11/12/2025" in markdown
    history = markdown_table(markdown, "History")
    assert history[1][0] == POLICY.history[0].type and history[1][2] == review_date_text()


def test_html_states_the_ir_limits_approvals_duration_and_date(documents: dict[str, str]) -> None:
    page = documents[f"{POLICY.id}.html"]
    rows = html_table(page, "quantity-limits")
    assert_quantity_table_matches_the_ir(rows)
    assert rows[1][1:] == ["30 grams", "90 grams"]
    text = html_text(page)
    for phrase in approval_phrases():
        assert phrase in text
    assert (
        "60 grams per 30 days at retail" in text
        and "180 grams per 90 days at home delivery" in text
    )
    assert f"last {duration_words()}." in text and "1 year" in text
    assert review_date_text() in text and "11/12/2025" in text
    assert f'datetime="{POLICY.review_date.isoformat() if POLICY.review_date else ""}"' in page
    assert html_table(page, "revision-history")[1] == [
        POLICY.history[0].type,
        " ".join((POLICY.history[0].summary or "").split()),
        review_date_text(),
    ]
