"""How `dqmc diff` names products, channels, rules, durations, dates and answers in sentences."""

from __future__ import annotations

from collections.abc import Sequence

from dqmc.lang.ir import nodes
from dqmc.lang.ir.canonical import decimal_text
from dqmc.lang.printers import english as words


def name_of(old: nodes.Policy, new: nodes.Policy, target: str) -> str:
    """A product or group as documents name it, from whichever version still has it."""
    policy = new if (new.product(target) or new.group(target)) else old
    return words.target_name(policy, target)


def products_of(old: nodes.Policy, new: nodes.Policy, target: str) -> tuple[nodes.Product, ...]:
    return words.target_products(new, target) or words.target_products(old, target)


def channel_words(policy: nodes.Policy, channel: str | None) -> str:
    if channel is None:
        return "all-channel"
    return words.channel_in_sentence(words.channel_label(policy, channel))


def at_channel(policy: nodes.Policy, channel: str | None) -> str:
    if channel is None:
        return "at every channel"
    return f"at {words.channel_in_sentence(words.channel_label(policy, channel))}"


def selector_words(selectors: Sequence[nodes.Selector], products: Sequence[nodes.Product]) -> str:
    if not selectors:
        return ""
    return " for " + ", ".join(words.selector_phrase(s, products) for s in selectors)


def rule_words(rule: nodes.Rule, products: Sequence[nodes.Product]) -> str:
    return words.rule_phrase(rule, products)


def duration_words(duration: nodes.Duration | None) -> str:
    return words.duration_phrase(duration) if duration is not None else "no set duration"


def size_words(package: nodes.Package) -> str:
    """`30 g`, or `its size from the drug file`."""
    if package.size is None:
        return "its size from the drug file"
    return f"{decimal_text(package.size.amount)} {package.size.unit}"


def quote(text: str) -> str:
    return f"“{words.one_line(text)}”"


def criterion_name(criterion: nodes.Criterion) -> str:
    return quote(words.criterion_heading(criterion))


def leaf_words(expr: nodes.Expr, policy: nodes.Policy) -> str:
    view = words.condition_view(expr, policy)
    if view.children:
        from dqmc.lang.ir.queries import condition_text

        return condition_text(expr)
    return view.text


def values_words(values: Sequence[str]) -> str:
    return words.join_words_or([words.value_words(v) for v in values])


def dose_words(dose: nodes.Quantity | None, product: nodes.Product) -> str:
    return "not stated" if dose is None else words.amount_phrase(dose.amount, dose.unit,
                                                                 [product])


def date_words(value: nodes.PolicyDate | None) -> str:
    return words.date_view(value).text if value is not None else "none"


def serves_words(serves: str | None) -> str:
    return "initial and renewal requests" if serves is None else f"{serves} requests only"
