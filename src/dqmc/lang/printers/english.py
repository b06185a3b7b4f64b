"""English: the words a policy's IR is said in, shared by the documents, the diff and hovers.

Quantities ("60 grams"), rules ("60 grams per 30 days"), selectors, channels, durations, dates
and conditions are phrased here once, so a document, a `dqmc diff` sentence and an editor hover
can never word the same fact two ways.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import assert_never

from dqmc.lang.ir import nodes
from dqmc.lang.ir.canonical import decimal_text

NOT_COVERED_TEXT = "Not covered"  # a `not covered` line, in a table cell or a sentence
NO_LIMIT_TEXT = "No limit"  # a `no limit` line: a gap the policy states on purpose

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


@dataclass(frozen=True, slots=True)
class DateView:
    """A date as the document prints it (MM/DD/YYYY, as the reference does) and in ISO form."""

    text: str
    iso: str


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


def one_fill_within(duration: nodes.Duration) -> str:
    """ " (one fill within 30 days)" for a one-time duration that states its days, else ""."""
    if duration.unit is None or duration.amount < 1:
        return ""
    return f" (one fill within {counted(duration.amount, duration.unit.removesuffix('s'))})"


def duration_phrase(duration: nodes.Duration) -> str:
    """How long an approval lasts, in words: "1 year", "6 months", "a one-time approval"."""
    if duration.kind == "one_time":
        return "a one-time approval" + one_fill_within(duration)
    if duration.kind == "as_requested":
        return "until the date the request asks for"
    if duration.kind == "one_time_or_requested":
        return "once" + one_fill_within(duration) + ", or until the date the request asks for"
    unit = (duration.unit or "days").removesuffix("s")
    return counted(duration.amount, unit)


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
        case nodes.DailyDose():
            return (f"a cumulative daily dose {'below' if rule.op == '<' else 'of at most'} "
                    f"{dose_amount(rule)} across every active fill")
        case nodes.FirstFill(days=days, lookback=lookback):
            return (f"at most a {days}-day supply for a member with no fill in the"
                    f" {counted(lookback, 'day')} before")
        case nodes.NotCovered():
            return NOT_COVERED_TEXT
        case nodes.NoLimit():
            return NO_LIMIT_TEXT
        case _:
            assert_never(rule)


def dose_amount(rule: nodes.DailyDose) -> str:
    """A dose limit in words: "90 MME a day" (a factor table's id, in capitals),
    "4,000 mg of acetaminophen a day"."""
    amount = f"{rule.limit:,}" if rule.limit == rule.limit.to_integral_value() else str(rule.limit)
    if rule.unit is None:
        return f"{amount} {rule.measure.upper()} a day"
    return f"{amount} {rule.unit} of {rule.measure} a day"


def soft_edit_qualifiers(limit: nodes.Limit) -> list[str]:
    """What a document says of a line's soft edit, reject code and exclusions."""
    out = []
    if limit.overrides:
        ways = " or ".join(override_phrase(o) for o in limit.overrides)
        out.append(f"soft edit: the pharmacist may pass it by sending {ways}")
    if limit.reject_code is not None:
        out.append(f"rejects with NCPDP code {limit.reject_code}")
    if limit.exempt:
        out.append("members with " + join_words_or([humanize(m) for m in limit.exempt])
                   + " are exempt")
    return out


def override_phrase(override: nodes.DurOverride) -> str:
    """The DUR/PPS codes that pass a soft edit, in words."""
    named = [f"{word} code {code}" for word, code in (("reason for service", override.reason),
                                                       ("professional service", override.service),
                                                       ("result of service", override.result))
             if code is not None]
    return join_words(named)


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
    return _ConditionViews(policy, negated).visit(expr)


class _ConditionViews(nodes.Visitor[ConditionView]):
    def __init__(self, policy: nodes.Policy, negated: bool) -> None:
        self.policy, self.negated = policy, negated

    def _group(self, kind: str, operands: tuple[nodes.Expr, ...]) -> ConditionView:
        children = tuple(condition_view(operand, self.policy) for operand in operands)
        return ConditionView(_GROUP_LEADS[(kind, self.negated)], None, children)

    def visit_And(self, expr: nodes.And) -> ConditionView:
        return self._group("and", expr.operands)

    def visit_Or(self, expr: nodes.Or) -> ConditionView:
        return self._group("or", expr.operands)

    def visit_Not(self, expr: nodes.Not) -> ConditionView:
        return condition_view(expr.operand, self.policy, negated=not self.negated)

    def generic_visit(self, expr: nodes.Node) -> ConditionView:
        assert isinstance(expr, nodes.LEAF_TYPES), expr
        return leaf_condition(expr, self.policy, negated=self.negated)


def flatten_conditions(items: Sequence[ConditionView], depth: int = 0) -> tuple[ConditionLine, ...]:
    lines: list[ConditionLine] = []
    for item in items:
        lines.append(ConditionLine(depth, item.text, item.question))
        lines.extend(flatten_conditions(item.children, depth + 1))
    return tuple(lines)


SERVES_SENTENCE = {
    "initial": "For initial requests only (no earlier authorization for the drug).",
    "renewal": "For renewal requests only (an earlier authorization for the drug).",
}


def criterion_heading(criterion: nodes.Criterion) -> str:
    return criterion.title or sentence_case(humanize(criterion.id))
