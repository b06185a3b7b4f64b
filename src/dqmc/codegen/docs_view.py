"""Document view models: one IR policy turned into the words, lists and tables its documents show.

Templates only place what these functions prepare: every phrase ("60 grams per 30 days at
retail"), every column header and every number is computed here from the IR, so the Markdown and
HTML documents can never disagree with each other or with the evaluator.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import assert_never
from urllib.parse import quote

from dqmc.compiled import CompiledPolicy
from dqmc.ir import nodes
from dqmc.ir.canonical import decimal_text

# The reference document's heading ends with the kind of limit it states ("... POLICY - PER DAYS").
HEADING_SUFFIX_BY_POLICY_TYPE: dict[str, str] = {
    "per_days": "Per Days",
    "per_rx": "Per Rx",
    "per_day": "Per Day",
}

# Prose sections shown before the quantity table, in this order; every other kind follows the
# criteria (design §7 mirrors the reference: overview, dosing, availability, policy statement).
LEADING_SECTION_KINDS: tuple[str, ...] = ("overview", "dosing", "availability", "policy_statement")

LIMITS_TABLE_CAPTION = "Drug Quantity Limits"
EMPTY_CELL = "—"  # what a table cell shows when no limit applies in its column
HARD_LIMIT_QUALIFIER = "hard limit, no exceptions"
NOT_COVERED_TEXT = "Not covered"
IMPLEMENTATION_DATE_QUALIFIER = "implementation date"
PRIOR_AUTHORIZATION_QUALIFIER = "prior authorization required"

_UNIT_NOUNS: dict[str, tuple[str, str]] = {"g": ("gram", "grams"), "mL": ("mL", "mL")}
_EACH_FALLBACK_NOUN = "unit"
_PACKAGE_FALLBACK_NOUN = "package"
_VOWELS = "aeiou"

_NEGATED_OP: dict[str, str] = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_NUMBER_COMPARISON_WORDS: dict[str, str] = {
    "==": "is",
    "!=": "is not",
    "<": "is less than",
    "<=": "is at most",
    ">": "is more than",
    ">=": "is at least",
}
_DATE_COMPARISON_WORDS: dict[str, str] = {
    "==": "is",
    "!=": "is not",
    "<": "is before",
    "<=": "is on or before",
    ">": "is after",
    ">=": "is on or after",
}
_SET_COMPARISON_WORDS: dict[str, str] = {"==": "include", "!=": "do not include"}


# ---------------------------------------------------------------------------------------------
# View models


@dataclass(frozen=True, slots=True)
class DateView:
    """A date as the document prints it (MM/DD/YYYY, as the reference does) and in ISO form."""

    text: str
    iso: str


@dataclass(frozen=True, slots=True)
class SectionView:
    """A prose section: its title, its paragraphs, and any list the IR adds (e.g. packages)."""

    kind: str
    title: str
    paragraphs: tuple[str, ...]
    items: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LimitColumn:
    """A quantity-table column: a channel (None: all) and a window (None: every other rule)."""

    channel: str | None
    days: int | None
    header: str


@dataclass(frozen=True, slots=True)
class LimitRow:
    """A row of the quantity-limits table: one product or group, one cell per column.

    A cell is the tuple of entries that apply there; an empty tuple means no limit in that column
    (the templates print EMPTY_CELL there).
    """

    product: str
    strength_and_form: str
    cells: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class LimitsTable:
    caption: str
    columns: tuple[LimitColumn, ...]
    rows: tuple[LimitRow, ...]


@dataclass(frozen=True, slots=True)
class ConditionView:
    """One line of a criterion's condition: a statement, or the lead-in of a nested list."""

    text: str
    question: str | None = None  # the fact's question, shown beside a statement about its answer
    children: tuple[ConditionView, ...] = ()


@dataclass(frozen=True, slots=True)
class ConditionLine:
    """A condition flattened for Markdown: how deep it is nested, and what it says."""

    depth: int
    text: str
    question: str | None


@dataclass(frozen=True, slots=True)
class ApprovalView:
    """What a criterion approves for one product or group, as one sentence."""

    target: str
    sentence: str  # e.g. "Approve 60 grams per 30 days at retail and 180 grams per 90 days at ..."


@dataclass(frozen=True, slots=True)
class CriterionView:
    number: int
    id: str
    heading: str
    renewal_of: str | None  # the heading of the criterion this one renews
    serves: str | None  # "For renewal requests only ...", when the criterion says `for`
    lead: str  # e.g. "Approve when all of the following are true:"
    conditions: tuple[ConditionView, ...]
    condition_lines: tuple[ConditionLine, ...]
    approvals: tuple[ApprovalView, ...]
    duration: str | None  # "1 year", "a one-time approval", or None when nothing sets one
    duration_sentence: str | None


@dataclass(frozen=True, slots=True)
class RevisionView:
    type: str
    summary: str
    date: DateView


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    """Everything one published policy document shows, in reading order."""

    id: str
    heading: str
    title: str
    products_line: str
    review_date: DateView | None
    effective_date: DateView | None
    leading_sections: tuple[SectionView, ...]
    limits_table: LimitsTable | None
    approval_duration_sentence: str | None
    fallback_sentence: str | None  # a fallback guideline says which requests it reviews
    criteria: tuple[CriterionView, ...]
    trailing_sections: tuple[SectionView, ...]
    references: tuple[str, ...]
    history: tuple[RevisionView, ...]


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One policy in the index page: what it is, what it covers, and where its documents are."""

    id: str
    title: str
    products: tuple[str, ...]
    review_date: DateView | None
    html_href: str
    markdown_href: str
    source: str


# ---------------------------------------------------------------------------------------------
# Words and numbers


def date_view(value: nodes.PolicyDate) -> DateView:
    """MM/DD/YYYY for a day; "July 2020" for a month the source gives without a day."""
    if isinstance(value, nodes.Month):
        return DateView(text=f"{nodes.MONTH_NAMES[value.month - 1]} {value.year:04d}",
                        iso=value.isoformat())
    return DateView(
        text=f"{value.month:02d}/{value.day:02d}/{value.year:04d}", iso=value.isoformat()
    )


def paragraphs(text: str) -> tuple[str, ...]:
    """Split prose on blank lines; inside a paragraph every run of whitespace becomes one space."""
    blocks = re.split(r"\n[ \t\r\f\v]*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    return tuple(collapsed for block in blocks if (collapsed := " ".join(block.split())))


def one_line(text: str) -> str:
    """Text for a heading or a name: each run of whitespace, newlines included, becomes a space."""
    return " ".join(text.split())


def humanize(identifier: str) -> str:
    """An id as words: `needs_more` → "needs more", `extra-fill` → "extra fill"."""
    return " ".join(identifier.replace("_", " ").replace("-", " ").split())


def value_words(value: str) -> str:
    """An enum value as words: `chronic_hand_eczema` → "chronic hand eczema" (hyphens are kept)."""
    return " ".join(value.replace("_", " ").split())


def sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def number_text(value: Decimal | int) -> str:
    return decimal_text(value) if isinstance(value, Decimal) else str(value)


def plural(noun: str, count: Decimal | int) -> str:
    """`noun` for `count` items; only the head word is inflected ("tablet, extended release")."""
    if count == 1:
        return noun
    head, comma, tail = noun.partition(",")
    stripped = head.rstrip()
    before, space, last = stripped.rpartition(" ")
    return f"{before}{space}{_plural_word(last)}{head[len(stripped) :]}{comma}{tail}"


def _plural_word(word: str) -> str:
    lower = word.lower()
    if not lower or not lower[-1].isalpha():
        return word
    if lower.endswith(("ss", "sh", "ch", "x", "z")):
        return word + "es"
    if lower.endswith("s"):  # written in the plural already ("tablets")
        return word
    if lower.endswith("y") and len(lower) > 1 and lower[-2] not in _VOWELS:
        return word[:-1] + "ies"
    return word + "s"


def counted(count: Decimal | int, noun: str) -> str:
    """`3 days`, `1 day`, `2 prescriptions`."""
    return f"{number_text(count)} {plural(noun, count)}"


def join_words(items: Sequence[str]) -> str:
    """Items joined as prose: "a", "a and b", "a, b and c"."""
    if len(items) <= 2:
        return " and ".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def duration_phrase(duration: nodes.Duration) -> str:
    """How long an approval lasts, in words: "1 year", "6 months", "a one-time approval"."""
    if duration.kind == "one_time":
        return "a one-time approval"
    if duration.kind == "as_requested":
        return "until the date the request asks for"
    if duration.kind == "one_time_or_requested":
        return "once, or until the date the request asks for"
    unit = (duration.unit or "days").removesuffix("s")
    return counted(duration.amount, unit)


# ---------------------------------------------------------------------------------------------
# Products, quantities and rules


def product_name(product: nodes.Product) -> str:
    """The row name: the author's label, else "Brand (generic strength form)"."""
    if product.label:
        return product.label
    description = " ".join(
        part for part in (product.generic, product.strength, product.form) if part
    )
    if product.brand.casefold() == product.generic.casefold():
        return description
    return f"{product.brand} ({description})"


def strength_and_form(product: nodes.Product) -> str:
    """Strength, form and the packages it comes in: "2% cream, 30 gram tube"."""
    text = " ".join(part for part in (product.strength, product.form) if part)
    # A form that already names the package ("injection, vial") is not followed by it again.
    said = text.casefold()
    packages = [package.description for package in product.packages
                if not re.search(rf"\b{re.escape(package.description.casefold())}\b", said)]
    return f"{text}, {join_words_or(packages)}" if packages else text


def join_words_or(items: Sequence[str]) -> str:
    if len(items) <= 2:
        return " or ".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"


def target_products(policy: nodes.Policy, target: str) -> tuple[nodes.Product, ...]:
    """The products a limit's target names: the product itself, or a group's members."""
    product = policy.product(target)
    if product is not None:
        return (product,)
    group = policy.group(target)
    if group is None:
        return ()
    return tuple(member for pid in group.products if (member := policy.product(pid)) is not None)


def target_name(policy: nodes.Policy, target: str) -> str:
    product = policy.product(target)
    if product is not None:
        return product_name(product)
    group = policy.group(target)
    return group.title if group is not None else humanize(target)


def target_strength_and_form(policy: nodes.Policy, target: str) -> str:
    product = policy.product(target)
    if product is not None:
        return strength_and_form(product)
    return "; ".join(product_name(member) for member in target_products(policy, target))


def find_package(package_id: str | None, products: Sequence[nodes.Product]) -> nodes.Package | None:
    """The package a quantity or selector names; with no id, a one-package product's package."""
    packages = [package for product in products for package in product.packages]
    if package_id is None:
        return packages[0] if len(packages) == 1 else None
    return next((package for package in packages if package.id == package_id), None)


def each_noun(products: Sequence[nodes.Product]) -> str:
    """What an `each` unit counts: the dosage form the products share, else "unit"."""
    forms = list(dict.fromkeys(product.form for product in products))
    return forms[0] if len(forms) == 1 else _EACH_FALLBACK_NOUN


def amount_phrase(
    amount: Decimal, unit: nodes.BillingUnit, products: Sequence[nodes.Product]
) -> str:
    """An amount in its billing unit, in words: "30 grams", "1 mL", "60 tablets"."""
    if unit == "each":
        return counted(amount, each_noun(products))
    singular, plural_noun = _UNIT_NOUNS[unit]
    return f"{number_text(amount)} {singular if amount == 1 else plural_noun}"


def quantity_phrase(quantity: nodes.Quantity, products: Sequence[nodes.Product]) -> str:
    """A quantity as it reads best: "30 grams", or "2 tubes (60 grams)" when written in packages."""
    if quantity.unit == "each" and quantity.noun is not None:
        amount = counted(quantity.amount, quantity.noun)  # the word the spec (and source) used
    else:
        amount = amount_phrase(quantity.amount, quantity.unit, products)
    if quantity.doses is not None:  # "16 doses (16 tablets)"
        return f"{counted(quantity.doses, 'dose')} ({amount})"
    if quantity.packages is None:
        return amount
    if quantity.per_package and quantity.package is None:  # `4 packages`: any of them
        kinds = list(dict.fromkeys(p.description for product in products
                                   for p in product.packages))
        return f"{counted(quantity.packages, 'package')} ({join_words_or(kinds)})"
    package = find_package(quantity.package, products)
    noun = package.noun if package is not None and package.noun else _PACKAGE_FALLBACK_NOUN
    packages = counted(quantity.packages, noun)
    if quantity.per_package:  # the drug file sizes the package: no amount to add
        return packages
    return packages if packages == amount else f"{packages} ({amount})"


def rule_phrase(rule: nodes.Rule, products: Sequence[nodes.Product]) -> str:
    """A rule in plain words: "2 tablets per day, for up to 5 days"."""
    match rule:
        case nodes.PerWindow(quantity=quantity, days=days):
            return f"{quantity_phrase(quantity, products)} per {counted(days, 'day')}"
        case nodes.PerFill(quantity=quantity):
            return f"{quantity_phrase(quantity, products)} per fill"
        case nodes.PerDay(quantity=quantity, max_days=max_days):
            text = f"{quantity_phrase(quantity, products)} per day"
            return text if max_days is None else f"{text}, for up to {counted(max_days, 'day')}"
        case nodes.FillsPerWindow(fills=fills, days=days):
            return f"at most {counted(fills, 'prescription')} per {counted(days, 'day')}"
        case nodes.DaysSupplyMax(days=days):
            return f"at most a {days}-day supply per fill"
        case nodes.TherapyMax(days=days):
            return f"at most {counted(days, 'day')} of continuous therapy"
        case nodes.NotCovered():
            return NOT_COVERED_TEXT
        case _:
            assert_never(rule)


def selector_phrase(selector: nodes.Selector, products: Sequence[nodes.Product]) -> str:
    """When a limit applies, in words: "ages 0–17", "ages 18 and older", "30 gram tube"."""
    match selector:
        case nodes.AgeBand(min_years=low, max_years=high):
            if low is not None and high is not None:
                return f"age {low}" if low == high else f"ages {low}–{high}"
            if low is not None:
                return f"ages {low} and older"
            if high is not None:
                return f"ages {high} and younger"
            return "all ages"
        case nodes.PackageIs(package=package_id):
            package = find_package(package_id, products)
            return package.description if package is not None else humanize(package_id)
        case _:
            assert_never(selector)


def limit_entry(
    limit: nodes.Limit, products: Sequence[nodes.Product], *, in_window_column: bool
) -> str:
    """A limit as one table-cell entry; a window column's header already says "per N days"."""
    if in_window_column and isinstance(limit.rule, nodes.PerWindow):
        core = quantity_phrase(limit.rule.quantity, products)
    else:
        core = rule_phrase(limit.rule, products)
    conditions = ", ".join(selector_phrase(selector, products) for selector in limit.when)
    text = f"{conditions}: {core}" if conditions else core
    qualifiers = [limit.note] if limit.note else []
    if limit.hard:
        qualifiers.append(HARD_LIMIT_QUALIFIER)
    if limit.since is not None:
        qualifiers.append(f"{IMPLEMENTATION_DATE_QUALIFIER} {date_view(limit.since).text}")
    return f"{text} ({'; '.join(qualifiers)})" if qualifiers else text


# ---------------------------------------------------------------------------------------------
# Channels and the quantity-limits table


def channel_label(policy: nodes.Policy, channel_id: str) -> str:
    channel = policy.channel(channel_id)
    if channel is not None:
        return channel.label
    defaults = dict(nodes.DEFAULT_CHANNELS)
    return defaults.get(channel_id, humanize(channel_id).title())


def channel_in_sentence(label: str) -> str:
    """A channel label inside a sentence: "Home Delivery" → "home delivery", but "CVS" stays."""
    words = label.split(" ")
    return " ".join(
        word.lower() if word[:1].isupper() and word[1:].islower() else word for word in words
    )


def channel_order(policy: nodes.Policy) -> tuple[str | None, ...]:
    """All-channel rules first, then the declared channels, then any other channel a rule names."""
    declared = [channel.id for channel in policy.channels] or [
        cid for cid, _ in nodes.DEFAULT_CHANNELS
    ]
    used = [limit.channel for limit in policy.limits if limit.channel is not None]
    return (None, *dict.fromkeys([*declared, *used]))


def column_key(limit: nodes.Limit) -> tuple[str | None, int | None]:
    days = limit.rule.days if isinstance(limit.rule, nodes.PerWindow) else None
    return limit.channel, days


def column_header(policy: nodes.Policy, channel: str | None, days: int | None) -> str:
    if channel is None:
        if days is None:
            return "Limits (All Channels)"
        return f"Maximum Quantity per {counted(days, 'Day')} (All Channels)"
    label = channel_label(policy, channel)
    if days is None:
        return f"{label} Limits"
    return f"{label} Maximum Quantity per {counted(days, 'Day')}"


def table_targets(policy: nodes.Policy) -> tuple[str, ...]:
    """Rows in the order products and groups are declared, then any other target limits name."""
    declared = [product.id for product in policy.products] + [group.id for group in policy.groups]
    limited = list(dict.fromkeys(limit.target for limit in policy.limits))
    ordered = [target for target in declared if target in limited]
    return tuple(ordered + [target for target in limited if target not in ordered])


def limits_table(policy: nodes.Policy) -> LimitsTable | None:
    """The quantity-limits table: one row per product or group, one column per channel × window."""
    if not policy.limits:
        return None
    rank = {channel: index for index, channel in enumerate(channel_order(policy))}
    # A `not covered` line has no window: it sits in its channel's first column (the Vivitrol
    # row's "Mail" cell reads "Not covered"), and gets a column of its own only when no other
    # limit opens one for that channel.
    limited = [limit for limit in policy.limits if not isinstance(limit.rule, nodes.NotCovered)]
    keys = list(dict.fromkeys(column_key(limit) for limit in limited))
    keys += [(limit.channel, None) for limit in policy.limits
             if isinstance(limit.rule, nodes.NotCovered)
             and not any(channel == limit.channel for channel, _ in keys)]
    keys = sorted(dict.fromkeys(keys), key=lambda key: (rank[key[0]], key[1] is None, key[1] or 0))
    columns = tuple(
        LimitColumn(channel, days, column_header(policy, channel, days)) for channel, days in keys
    )
    first_column = {}
    for channel, days in keys:
        first_column.setdefault(channel, (channel, days))

    def placed(limit: nodes.Limit) -> tuple[str | None, int | None]:
        if isinstance(limit.rule, nodes.NotCovered):
            return first_column[limit.channel]
        return column_key(limit)

    by_target: dict[str, list[nodes.Limit]] = {}  # one pass: a row per product, not a scan each
    for limit in policy.limits:
        by_target.setdefault(limit.target, []).append(limit)
    rows = []
    for target in table_targets(policy):
        products = target_products(policy, target)
        limits = by_target.get(target, [])
        cells = tuple(
            tuple(
                limit_entry(limit, products, in_window_column=column.days is not None)
                for limit in limits
                if placed(limit) == (column.channel, column.days)
            )
            for column in columns
        )
        name = target_name(policy, target)
        # A row whose every product needs prior authorization says so, as the source's
        # "Mekinist (PA required)" rows do.
        if products and all(
            policy.requires_authorization or product.requires_authorization
            for product in products
        ):
            name = f"{name} ({PRIOR_AUTHORIZATION_QUALIFIER})"
        rows.append(LimitRow(name, target_strength_and_form(policy, target), cells))
    return LimitsTable(LIMITS_TABLE_CAPTION, columns, tuple(rows))


# ---------------------------------------------------------------------------------------------
# Criteria


def value_text(value: nodes.Value) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dt.date):
        return date_view(value).text
    return value_words(value)


def _fact_type(fact: nodes.Fact | None, expr: nodes.Expr) -> str:
    if fact is not None:
        return fact.type
    if isinstance(expr, nodes.Subset):
        return "set"
    if isinstance(expr, nodes.Compare):
        value = expr.value
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, Decimal):
            return "number"
        if isinstance(value, dt.date):
            return "date"
    return "enum"


def _answer_statement(question: str, answer: bool) -> str:
    return f"{sentence_case(question)} — {'Yes' if answer else 'No'}"


LeafExpr = nodes.FactRef | nodes.Compare | nodes.InSet | nodes.Subset


def leaf_condition(expr: LeafExpr, policy: nodes.Policy, *, negated: bool) -> ConditionView:
    """A single test of one fact, phrased with the fact's question and its expected answer."""
    fact = policy.fact(expr.fact)
    label = humanize(expr.fact)
    question = fact.question if fact is not None else None
    fact_type = _fact_type(fact, expr)
    verb = "are" if fact_type == "set" else "is"
    match expr:
        case nodes.FactRef():
            return ConditionView(_answer_statement(question or label, not negated))
        case nodes.Compare(op=op, value=value) if isinstance(value, bool):
            answer = value if op == "==" else not value
            return ConditionView(_answer_statement(question or label, answer != negated))
        case nodes.Compare(op=op, value=value):
            effective = _NEGATED_OP[op] if negated else op
            if fact_type == "date":
                words = _DATE_COMPARISON_WORDS[effective]
            elif fact_type == "set" and effective in _SET_COMPARISON_WORDS:
                words = _SET_COMPARISON_WORDS[effective]
            else:
                words = _NUMBER_COMPARISON_WORDS[effective]
            return ConditionView(f"{sentence_case(label)} {words} {value_text(value)}", question)
        case nodes.InSet(values=values):
            listed = ", ".join(value_words(value) for value in values)
            return ConditionView(
                f"{sentence_case(label)} {verb} {'not ' if negated else ''}one of: {listed}",
                question,
            )
        case nodes.Subset(values=values):
            listed = ", ".join(value_words(value) for value in values)
            if negated:
                return ConditionView(
                    f"{sentence_case(label)} include something other than: {listed}", question
                )
            return ConditionView(f"{sentence_case(label)} {verb} only: {listed}", question)
        case _:
            assert_never(expr)


_GROUP_LEADS: dict[tuple[str, bool], str] = {
    ("and", False): "all of the following are true:",
    ("and", True): "not all of the following are true:",
    ("or", False): "any of the following is true:",
    ("or", True): "none of the following is true:",
}


def condition_view(
    expr: nodes.Expr, policy: nodes.Policy, *, negated: bool = False
) -> ConditionView:
    """A condition as a readable tree: AND/OR become nested lists, NOT is folded into the words."""
    match expr:
        case nodes.And(operands=operands) | nodes.Or(operands=operands):
            kind = "and" if isinstance(expr, nodes.And) else "or"
            children = tuple(condition_view(operand, policy) for operand in operands)
            return ConditionView(_GROUP_LEADS[(kind, negated)], None, children)
        case nodes.Not(operand=operand):
            return condition_view(operand, policy, negated=not negated)
        case nodes.FactRef() | nodes.Compare() | nodes.InSet() | nodes.Subset():
            return leaf_condition(expr, policy, negated=negated)
        case _:
            assert_never(expr)


def flatten_conditions(items: Sequence[ConditionView], depth: int = 0) -> tuple[ConditionLine, ...]:
    lines: list[ConditionLine] = []
    for item in items:
        lines.append(ConditionLine(depth, item.text, item.question))
        lines.extend(flatten_conditions(item.children, depth + 1))
    return tuple(lines)


def approval_views(criterion: nodes.Criterion, policy: nodes.Policy) -> tuple[ApprovalView, ...]:
    """One sentence per product or group, listing what is approved at each channel."""
    views = []
    for target in dict.fromkeys(approval.target for approval in criterion.approves):
        products = target_products(policy, target)
        parts = []
        for approval in criterion.approves:
            if approval.target != target:
                continue
            phrase = rule_phrase(approval.rule, products)
            if approval.channel is None:
                parts.append(f"{phrase} (all channels)")
            else:
                parts.append(
                    f"{phrase} at {channel_in_sentence(channel_label(policy, approval.channel))}"
                )
        views.append(ApprovalView(target_name(policy, target), f"Approve {join_words(parts)}."))
    if criterion.approves_requested:
        views.append(ApprovalView("Quantity", "Approve the quantity requested, per the period "
                                  "requested, at the channels requested."))
    return tuple(views)


SERVES_SENTENCE = {
    "initial": "For initial requests only (no earlier authorization for the drug).",
    "renewal": "For renewal requests only (an earlier authorization for the drug).",
}


def criterion_heading(criterion: nodes.Criterion) -> str:
    return criterion.title or sentence_case(humanize(criterion.id))


def criterion_view(number: int, criterion: nodes.Criterion, policy: nodes.Policy) -> CriterionView:
    renewed = next((c for c in policy.criteria if c.id == criterion.renews), None)
    renewal_of = None
    if criterion.renews is not None:
        renewal_of = (
            criterion_heading(renewed)
            if renewed is not None
            else sentence_case(humanize(criterion.renews))
        )
    if renewal_of is not None and criterion.title is None:
        heading = f"Renewal of {renewal_of}"
    elif renewal_of is not None:
        heading = f"{criterion.title} (renewal of {renewal_of})"
    else:
        heading = criterion_heading(criterion)
    top = condition_view(criterion.when, policy)
    if top.children:
        lead, conditions = f"Approve when {top.text}", top.children
    else:
        lead, conditions = "Approve when the following is true:", (top,)
    duration = criterion.duration or policy.approval_duration
    duration_text = duration_phrase(duration) if duration is not None else None
    if criterion.approves_requested and (duration is None or duration.kind == "as_requested"):
        duration_sentence = "The approval lasts until the date the request asks for."
    elif duration is None:
        duration_sentence = None
    elif duration.kind == "one_time":
        duration_sentence = "This is a one-time approval."
    elif duration.kind == "one_time_or_requested":
        duration_sentence = ("This is a one-time approval, unless the request asks for an end "
                             "date: then the approval lasts until that date.")
    else:
        duration_sentence = f"Approvals under this criterion last {duration_text}."
    return CriterionView(
        number=number,
        id=criterion.id,
        heading=heading,
        renewal_of=renewal_of,
        serves=SERVES_SENTENCE.get(criterion.serves or ""),
        lead=lead,
        conditions=conditions,
        condition_lines=flatten_conditions(conditions),
        approvals=approval_views(criterion, policy),
        duration=duration_text,
        duration_sentence=duration_sentence,
    )


# ---------------------------------------------------------------------------------------------
# Sections and the whole document


def availability_items(policy: nodes.Policy) -> tuple[str, ...]:
    """One line per product sold in packages: "Anzupgo (delgocitinib 2% cream): 30 gram tube"."""
    return tuple(
        f"{product_name(product)}: {join_words_or([_package_text(p) for p in product.packages])}"
        for product in policy.products
        if product.packages
    )


def _package_text(package: nodes.Package) -> str:
    if package.size is None:
        return f"{package.description} (package size as listed in the drug file)"
    return package.description


def section_views(policy: nodes.Policy) -> tuple[tuple[SectionView, ...], tuple[SectionView, ...]]:
    """(sections before the quantity table, sections after the criteria), with the packages."""
    rank = {kind: index for index, kind in enumerate(LEADING_SECTION_KINDS)}
    leading_sections = sorted(
        (section for section in policy.sections if section.kind in rank), key=lambda s: rank[s.kind]
    )
    items = availability_items(policy)
    leading: list[SectionView] = []
    listed = False
    for section in leading_sections:
        extra = items if section.kind == "availability" and not listed else ()
        listed = listed or bool(extra)
        leading.append(SectionView(section.kind, section.title, paragraphs(section.text), extra))
    if items and not listed:
        position = sum(1 for view in leading if rank[view.kind] < rank["availability"])
        leading.insert(position, SectionView("availability", "Availability", (), items))
    trailing = tuple(
        SectionView(section.kind, section.title, paragraphs(section.text))
        for section in policy.sections
        if section.kind not in rank
    )
    return tuple(leading), trailing


FALLBACK_SENTENCE = ("These criteria also decide exception requests for any product whose own "
                     "quantity-limit policy has no criteria.")


def policy_duration_sentence(duration: nodes.Duration | None) -> str | None:
    """The sentence under Criteria giving the policy's approval duration, if it sets one."""
    if duration is None:
        return None
    if duration.kind == "one_time":
        return "Approvals are one-time approvals unless a criterion says otherwise."
    if duration.kind == "as_requested":
        return ("Approvals last until the date the request asks for unless a criterion says "
                "otherwise.")
    if duration.kind == "one_time_or_requested":
        return ("Approvals are one-time approvals, or last until the date the request asks for, "
                "unless a criterion says otherwise.")
    phrase = duration_phrase(duration)
    return f"Approvals are provided for {phrase} unless a criterion says otherwise."


def document_heading(base_heading: str, policy: nodes.Policy) -> str:
    """The configured heading, followed by the policy's kind: "... POLICY – PER DAYS"."""
    suffix = HEADING_SUFFIX_BY_POLICY_TYPE.get(policy.type)
    return f"{base_heading} – {suffix.upper()}" if suffix else base_heading


def policy_document(policy: nodes.Policy, *, base_heading: str,
                    revision_summaries: Mapping[int, str] | None = None) -> PolicyDocument:
    """The view model of one policy's published document.

    `revision_summaries` fills revision rows whose spec gives no summary, by index in
    `policy.history` (the build computes them from kept earlier versions with `dqmc diff`).
    """
    generated = revision_summaries or {}
    leading, trailing = section_views(policy)
    return PolicyDocument(
        id=policy.id,
        heading=document_heading(base_heading, policy),
        title=one_line(policy.title),
        products_line="; ".join(product_name(product) for product in policy.products),
        review_date=date_view(policy.review_date) if policy.review_date else None,
        effective_date=date_view(policy.effective_date) if policy.effective_date else None,
        leading_sections=leading,
        limits_table=limits_table(policy),
        approval_duration_sentence=policy_duration_sentence(policy.approval_duration),
        fallback_sentence=FALLBACK_SENTENCE if policy.fallback else None,
        criteria=tuple(
            criterion_view(number, criterion, policy)
            for number, criterion in enumerate(policy.criteria, start=1)
        ),
        trailing_sections=trailing,
        references=tuple(one_line(reference.text) for reference in policy.references),
        history=tuple(
            RevisionView(
                one_line(revision.type),
                one_line(revision.summary or generated.get(index, "")),
                date_view(revision.date),
            )
            for index, revision in enumerate(policy.history)
        ),
    )


def document_paths(policy_id: str) -> tuple[str, str]:
    """The (HTML, Markdown) file names of a policy's documents, relative to generated/docs/."""
    return f"{policy_id}.html", f"{policy_id}.md"


def index_entries(compiled: Sequence[CompiledPolicy]) -> tuple[IndexEntry, ...]:
    """The index page's rows, ordered by title then id whatever order the policies came in."""
    entries = []
    for item in compiled:
        policy = item.policy
        html_path, markdown_path = document_paths(policy.id)
        entries.append(
            IndexEntry(
                id=policy.id,
                title=one_line(policy.title),
                products=tuple(product_name(product) for product in policy.products),
                review_date=date_view(policy.review_date) if policy.review_date else None,
                html_href=quote(html_path),
                markdown_href=quote(markdown_path),
                source=item.source,
            )
        )
    return tuple(sorted(entries, key=lambda entry: (entry.title.casefold(), entry.title, entry.id)))
