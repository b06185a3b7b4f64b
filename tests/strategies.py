"""Hypothesis strategies for random valid IR as front ends build it: `policies()`, `exprs()`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import string
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from dqmc.lang.frontend import lower_common as common
from dqmc.lang.ir import nodes
from dqmc.lang.printers.dsl_fragments import keywords

# Ids as the grammar's ID terminal spells them, never one of its keywords (the checker rejects
# those), and never a default channel's id (a policy knows those without declaring them).
_RESERVED = keywords() | {"retail", "home_delivery"}
_ID_HEAD = string.ascii_letters + "_"
_ID_TAIL = _ID_HEAD + string.digits
ids = st.builds(
    lambda head, rest, parts: head + rest + "".join("-" + part for part in parts),
    st.sampled_from(_ID_HEAD), st.text(_ID_TAIL, max_size=7),
    st.lists(st.text(_ID_TAIL, min_size=1, max_size=3), max_size=2),
).filter(lambda name: name not in _RESERVED)

# A package noun, which counts packages in any of its forms ("tube", "tubes", "tubees"); a form
# that is a keyword or a unit word ("gram" → "grams") could not be written or would mean grams.
nouns = ids.filter(lambda noun: not {noun, noun + "s", noun + "es"} & (
    _RESERVED | set(common.UNIT_WORDS)))

# Pieces that have broken string literals, comments, templates or terminals somewhere before.
HOSTILE = (
    '"', "\\", '"""', '""', "\n", "\t", "\r", "\x00", "\x1b[31m", "\u2028", "\u2029", "\u202e",
    "\u2066", "\u200b", "\ufeff", "\u0085", "{{ }}", "{% raw %}", "#", "# not a comment", "\\n",
    "\\u0041", "'", "`", "  ", "\n\n", "\n    indented", "é", "\u2013", "®", "😀", "\U000e0001",
)
_characters = st.characters(codec="utf-8")  # every code point a UTF-8 file can hold
_line_characters = st.characters(codec="utf-8", exclude_characters="\n")
# Single characters worth drawing more often than their share of Unicode.
_LOADED = '"\\\n\t\r\x00\u2028\u2029\u202e\u2066\u200b\ufeff\x85#{}\' '

texts = st.one_of(
    st.text(st.one_of(_characters, st.sampled_from(_LOADED)), max_size=24),
    st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=4).map("".join))
# Multi-line prose such as sections hold: lines of ordinary text, sometimes indented or blank.
_prose_lines = st.lists(
    st.one_of(st.text(_line_characters, max_size=40), st.sampled_from(("", "  - a list item"))),
    min_size=2, max_size=5)
prose = st.one_of(texts, _prose_lines.map("\n".join))

dates = st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))
policy_dates = dates | dates.map(lambda day: nodes.Month(day.year, day.month))
# Implementation dates around the differential tests' dates of service (2026-03-01 ± 30 days),
# so that a `since` line applies to some claims and not to others.
_since_dates = st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2026, 5, 1))
# Amounts as authors write them: whole numbers and a few decimals, never negative (the grammar
# has no sign), positive where a quantity is meant.
amounts = st.builds(lambda digits, places: Decimal(digits).scaleb(-places),
                    st.integers(1, 10**6), st.integers(0, 3))
numbers = st.one_of(st.just(Decimal(0)), amounts)
day_counts = st.integers(1, 365)
ndcs = st.lists(st.text(string.digits, min_size=11, max_size=11), max_size=2,
                unique=True).map(tuple)


def _take(pool: list[str], count: int) -> list[str]:
    taken, pool[:] = pool[:count], pool[count:]
    return taken


@st.composite
def _products(draw: st.DrawFn, product_ids: list[str], pool: list[str]) -> list[nodes.Product]:
    products = []
    for product_id in product_ids:
        unit = draw(st.sampled_from(nodes.BILLING_UNITS))
        drug_file = draw(st.integers(0, 3)) == 0  # every package sized `from drug file`
        packages = tuple(
            nodes.Package(
                id=package_id,
                size=None if drug_file else nodes.Quantity(amount=draw(amounts), unit=unit),
                description=draw(texts),
                noun=draw(st.none() | nouns),
                ndcs=draw(ndcs))
            for package_id in _take(pool, draw(st.integers(0, 3))))
        products.append(nodes.Product(
            id=product_id,
            brand=draw(texts),
            generic=draw(texts),
            strength=draw(st.none() | texts),
            form=draw(st.one_of(texts, st.sampled_from(("tablet", "cream", "inhaler")))),
            unit=unit,
            packages=packages,
            ndcs=draw(ndcs),
            gpi=draw(st.none() | st.text(string.digits, min_size=2, max_size=14)),
            label=draw(st.none() | texts),
            requires_authorization=draw(st.integers(0, 3)) == 0,
            dose=draw(st.none() | st.builds(
                lambda amount, unit=unit: nodes.Quantity(amount=amount, unit=unit),
                st.sampled_from(("1", "2", "0.5")).map(Decimal))),
        ))
    return products


@st.composite
def _quantities(draw: st.DrawFn, products: Sequence[nodes.Product],
                when: Sequence[nodes.Selector] = ()) -> common.RawQuantity:
    """A quantity as an author writes it; `policies()` resolves it as the front ends do.

    Lowering resolves the word against the products narrowed to the package a `when package ID`
    names (lower_common.selected_packages), so the words are drawn from those narrowed products
    too: only that package's noun, and "packages" only if every narrowed product is still sized
    by the drug file (a group member left with no package is not). A unit word always fits.
    """
    products = common.selected_packages(products, when)
    nouns = [pk.noun for p in products for pk in p.packages if pk.noun]
    if nouns and draw(st.booleans()):
        noun = draw(st.sampled_from(nouns))
        word = draw(st.sampled_from([w for w in (noun, noun + "s", noun + "es")
                                     if w not in _RESERVED and w not in common.UNIT_WORDS]))
        count = draw(st.one_of(st.integers(1, 12).map(Decimal), amounts))
        return common.RawQuantity(amount=count, word=word)
    if products and all(p.drug_file_sized for p in products) and draw(st.booleans()):
        # any package of products sized by the drug file
        return common.RawQuantity(amount=draw(amounts), word=draw(st.sampled_from(
            ("package", "packages"))))
    unit = products[0].unit
    words = [word for word, meant in common.UNIT_WORDS.items() if meant == unit]
    return common.RawQuantity(amount=draw(amounts), word=draw(st.sampled_from(words)))


@st.composite
def _rules(draw: st.DrawFn, products: Sequence[nodes.Product],
           when: Sequence[nodes.Selector] = ()) -> nodes.Rule:
    """A rule of any kind; its quantity is still a RawQuantity, as the front ends build it.

    For products billed in different units (a mixed-unit group) only the unit-free kinds."""
    if len({p.unit for p in products}) > 1:
        unit_free = draw(st.sampled_from(("fills", "days_supply", "therapy")))
        if unit_free == "fills":
            return nodes.FillsPerWindow(fills=draw(st.integers(1, 12)), days=draw(day_counts))
        if unit_free == "therapy":
            return nodes.TherapyMax(days=draw(day_counts))
        return nodes.DaysSupplyMax(days=draw(day_counts))
    kind = draw(st.sampled_from(("window", "fill", "day", "fills", "days_supply", "therapy")))
    if kind == "therapy":
        return nodes.TherapyMax(days=draw(day_counts))
    quantity: Any = draw(_quantities(products, when))
    if kind == "window":
        return nodes.PerWindow(quantity=quantity, days=draw(day_counts))
    if kind == "fill":
        return nodes.PerFill(quantity=quantity)
    if kind == "day":
        return nodes.PerDay(quantity=quantity, max_days=draw(st.none() | day_counts))
    if kind == "fills":
        return nodes.FillsPerWindow(fills=draw(st.integers(1, 12)), days=draw(day_counts))
    return nodes.DaysSupplyMax(days=draw(day_counts))


@st.composite
def _selectors(draw: st.DrawFn, products: Sequence[nodes.Product]) -> tuple[nodes.Selector, ...]:
    options: list[st.SearchStrategy[nodes.Selector]] = [_age_bands()]
    package_ids = [pk.id for p in products for pk in p.packages]
    if package_ids:
        options.append(st.sampled_from(package_ids).map(lambda pid: nodes.PackageIs(package=pid)))
    return tuple(draw(st.lists(st.one_of(options), max_size=2)))


@st.composite
def _age_bands(draw: st.DrawFn) -> nodes.AgeBand:
    low, high = sorted(draw(st.lists(st.integers(0, 120), min_size=2, max_size=2)))
    shape = draw(st.sampled_from(("between", "from", "upto")))
    return nodes.AgeBand(min_years=None if shape == "upto" else low,
                         max_years=None if shape == "from" else high)


def _symbol_subsets(values: Sequence[str]) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(values), min_size=1, max_size=len(values),
                    unique=True).map(tuple)


def _leaves(fact: nodes.Fact) -> st.SearchStrategy[nodes.Expr]:
    """The conditions a fact of this type can appear in, with values of its type."""
    equality = st.sampled_from(("==", "!="))
    ordering = st.sampled_from(nodes.COMPARE_OPS)
    name = fact.id
    if fact.type == "bool":
        return st.one_of(
            st.just(nodes.FactRef(fact=name)),
            st.builds(lambda op, v: nodes.Compare(fact=name, op=op, value=v),
                      equality, st.booleans()))
    if fact.type == "enum":
        return st.one_of(
            st.builds(lambda op, v: nodes.Compare(fact=name, op=op, value=v),
                      equality, st.sampled_from(fact.values)),
            _symbol_subsets(fact.values).map(lambda vs: nodes.InSet(fact=name, values=vs)))
    if fact.type == "set":
        return _symbol_subsets(fact.values).map(lambda vs: nodes.Subset(fact=name, values=vs))
    values = numbers if fact.type == "number" else dates
    return st.builds(lambda op, v: nodes.Compare(fact=name, op=op, value=v), ordering, values)


def exprs(facts: Sequence[nodes.Fact]) -> st.SearchStrategy[nodes.Expr]:
    """Random nested and/or/not conditions over `facts` (at least one), each well typed.

    And and Or have at least two operands and may nest directly (the parser builds that from
    parentheses), as any mix of the front ends' conditions can.
    """
    leaves = st.one_of([_leaves(f) for f in facts])

    def compound(children: st.SearchStrategy[nodes.Expr]) -> st.SearchStrategy[nodes.Expr]:
        operands = st.lists(children, min_size=2, max_size=4).map(tuple)
        return st.one_of(
            children.map(lambda e: nodes.Not(operand=e)),
            operands.map(lambda ops: nodes.And(operands=ops)),
            operands.map(lambda ops: nodes.Or(operands=ops)))

    return st.recursive(leaves, compound, max_leaves=10)


@st.composite
def _facts(draw: st.DrawFn, fact_ids: list[str]) -> list[nodes.Fact]:
    facts = []
    for fact_id in fact_ids:
        kind = draw(st.sampled_from(nodes.FACT_TYPES))
        values: tuple[str, ...] = ()
        if kind in ("enum", "set"):
            values = tuple(draw(st.lists(ids, min_size=1, max_size=4, unique=True)))
        facts.append(nodes.Fact(id=fact_id, type=kind, question=draw(texts), values=values))
    return facts


durations = st.one_of(
    st.builds(lambda n, unit: nodes.Duration(kind="fixed", amount=n, unit=unit),
              st.integers(1, 36), st.sampled_from(nodes.TIME_UNITS)),
    st.just(nodes.Duration(kind="one_time")))
# `approve requested` criteria may also last until the date the request gives
requested_durations = durations | st.sampled_from(
    [nodes.Duration(kind=kind) for kind in nodes.REQUESTED_DURATIONS])  # type: ignore[arg-type]


@st.composite
def policies(draw: st.DrawFn) -> nodes.Policy:
    """A random policy that the checks accept and that a front end could have produced."""
    counts = {kind: draw(st.integers(low, high)) for kind, low, high in (
        ("product", 1, 3), ("group", 0, 2), ("channel", 0, 2), ("fact", 0, 4),
        ("criterion", 0, 3), ("package", 9, 9))}
    pool = draw(st.lists(ids, min_size=sum(counts.values()), max_size=sum(counts.values()),
                         unique=True))
    product_ids = _take(pool, counts["product"])
    group_ids = _take(pool, counts["group"])
    channel_ids = _take(pool, counts["channel"])
    fact_ids = _take(pool, counts["fact"])
    criterion_ids = _take(pool, counts["criterion"])
    products = draw(_products(product_ids, pool))  # package ids come from what is left

    # Groups take disjoint, non-empty sets of products (a product accumulates in one group),
    # mostly of one billing unit; a group of mixed units gets only unit-free rules.
    unassigned = list(products)
    groups = []
    for group_id in group_ids:
        if not unassigned:
            break
        unit = draw(st.sampled_from(unassigned)).unit
        mixed = draw(st.integers(0, 3)) == 0
        alike = [p.id for p in unassigned if mixed or p.unit == unit]
        members = draw(st.lists(st.sampled_from(alike), min_size=1, unique=True))
        unassigned = [p for p in unassigned if p.id not in members]
        groups.append(nodes.Group(id=group_id, title=draw(texts), products=tuple(members)))

    by_target = {p.id: [p] for p in products}
    by_target.update({g.id: [p for p in products if p.id in g.products] for g in groups})
    targets = st.sampled_from(sorted(by_target))
    channels = st.sampled_from([None, "retail", "home_delivery", *channel_ids])

    limits: list[nodes.Limit] = []
    for _ in range(draw(st.integers(0, 5))):
        target = draw(targets)
        members = by_target[target]
        when = draw(_selectors(members))
        # Now and then a channel where the product is not covered (`not covered`).
        rule = (nodes.NotCovered() if draw(st.integers(0, 9)) == 0
                else draw(_rules(members, when)))
        limit = nodes.Limit(
            target=target, channel=draw(channels), rule=rule,
            when=when, hard=draw(st.booleans()), note=draw(st.none() | texts),
            since=draw(st.none() | _since_dates))
        limits.append(limit)

    # Criteria approve only for a product and channel that have a base limit to replace.
    # Their conditions are well typed but not checked for satisfiability.
    facts = draw(_facts(fact_ids))
    # No approval where a product is not covered (`criterion.approves-not-covered`).
    excluded = {limit.target for limit in limits if isinstance(limit.rule, nodes.NotCovered)}
    bases = sorted({(limit.target, limit.channel or "") for limit in limits
                    if limit.target not in excluded})
    conditions = exprs(facts) if facts else st.nothing()
    criteria = []
    for index, criterion_id in enumerate(criterion_ids if facts and bases else ()):
        approves = []
        # `approve requested` or stated limits, never both (`criterion.requested-and-limits`)
        requested = draw(st.booleans())
        for target, channel in draw(st.lists(st.sampled_from(bases), min_size=1, max_size=3,
                                             unique=True)) if not requested else ():
            approves.append(nodes.Approval(target=target, channel=channel or None,
                                           rule=draw(_rules(by_target[target]))))
        renews = draw(st.none() | st.sampled_from(criterion_ids[:index])) if index else None
        # a renewal serving initial requests only is `criterion.renews-initial-only`
        serves = draw(st.sampled_from((None, "renewal") if renews else (None, *nodes.SERVES)))
        criteria.append(nodes.Criterion(
            id=criterion_id,
            title=draw(st.none() | texts),
            when=draw(conditions),
            approves=tuple(approves),
            duration=draw(st.none() | (requested_durations if requested else durations)),
            renews=renews,
            approves_requested=requested,
            serves=serves,
        ))

    review_date = draw(st.none() | dates)
    effective_date = draw(st.none() | dates)
    if review_date and effective_date and effective_date < review_date:
        review_date, effective_date = effective_date, review_date
    if review_date and draw(st.booleans()):  # a month the source gives without a day
        review_date = nodes.Month(review_date.year, review_date.month)
    revisions = sorted(draw(st.lists(st.builds(
        lambda date, kind, summary: nodes.Revision(type=kind, date=date, summary=summary),
        policy_dates, texts, st.none() | prose), max_size=3)), key=lambda r: nodes.date_key(r.date))

    policy = nodes.Policy(
        id=draw(ids),
        title=draw(texts),
        type=draw(st.sampled_from(nodes.POLICY_TYPES)),
        review_date=review_date,
        effective_date=effective_date,
        approval_duration=draw(st.none() | durations),
        reject_code=draw(st.sampled_from(("76", "76", "79", "AG", "MR"))),
        daily_rate_check=draw(st.booleans()),
        requires_authorization=draw(st.integers(0, 5)) == 0,
        fallback=bool(criteria) and draw(st.integers(0, 5)) == 0,  # needs criteria
        channels=nodes.default_channels() + tuple(
            nodes.Channel(id=c, label=draw(texts)) for c in channel_ids),
        products=tuple(products),
        groups=tuple(groups),
        limits=tuple(limits),
        facts=tuple(facts),
        criteria=tuple(criteria),
        sections=tuple(draw(st.lists(st.builds(
            lambda kind, title, text: nodes.Section(kind=kind, title=title, text=text),
            st.sampled_from(nodes.SECTION_KINDS), texts, prose), max_size=3))),
        references=tuple(draw(st.lists(prose.map(lambda t: nodes.Reference(text=t)), max_size=2))),
        history=tuple(revisions),
    )
    # Quantities written "2 tubes" become billing units the way both front ends convert them.
    policy, diagnostics = common.resolve_quantities(policy)
    assert not diagnostics, diagnostics
    policy = common.fill_defaults(policy)  # as both front ends state what a spec leaves out
    # The same rule twice for one target and channel is an error (`limit.duplicate`).
    unique: list[nodes.Limit] = []
    for limit in policy.limits:
        if not any(dataclasses.replace(limit, note=None, hard=False)
                   == dataclasses.replace(other, note=None, hard=False) for other in unique):
            unique.append(limit)
    # A `not covered` line and another rule for the same cell is `limit.not-covered-conflict`.
    cells = {(lim.target, lim.channel, lim.when) for lim in unique
             if isinstance(lim.rule, nodes.NotCovered)}
    unique = [lim for lim in unique if isinstance(lim.rule, nodes.NotCovered)
              or (lim.target, lim.channel, lim.when) not in cells]
    return dataclasses.replace(policy, limits=tuple(unique))
