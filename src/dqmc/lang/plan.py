"""The plan: a checked policy lowered to what an evaluator needs, every reference resolved.

The IR says what an author wrote (limits on products or groups, selectors, criteria that approve
other limits); the plan says what a claim meets, per product and channel: the base limits in
decision order (source order), each with the products and NDCs whose history it counts, when it
applies (since a date, for an age band, for a package), and each criterion's approvals that
replace them. Quantities are Decimal in billing units, dates `datetime.date`. Backends emit or
run the plan (`codegen/python_emit.py` writes it as the constant tables of a generated module);
the interpreter stays over the IR, the independent oracle the differential tests compare with.

Exception review keeps reading the IR: a criterion's condition is an IR expression
(`nodes.Expr`), and the review tables (facts, targets, units) are answered by `ir.queries`.

A rule kind is lowered in one place, `ir.queries.rule_fields` (kind, quantity, unit, days,
fills, max days); everything here carries those fields whatever the kind.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from dqmc.lang.ir import nodes, queries

BASE, OVERRIDE = "base", "override"


@dataclass(frozen=True, slots=True)
class AgeBand:
    """A limit for members of an age (years, inclusive; None: unbounded), from the birth date."""

    min_years: int | None
    max_years: int | None


@dataclass(frozen=True, slots=True)
class PackageIs:
    """A limit for claims of one package of the product."""

    package: str


Condition = AgeBand | PackageIs


@dataclass(frozen=True, slots=True)
class Selection:
    """When a base limit applies to a claim: from `since` (the claim's date of service on or
    after it), and when every condition holds, in the order written (a claim that cannot answer
    one, for want of a birth date or a package, is refused there)."""

    since: dt.date | None
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class RulePlan:
    """A base limit or an approval, with the history it counts."""

    kind: str  # per_window, per_fill, per_day, fills_per_window, days_supply_max, therapy_max,
    # not_covered (queries.rule_fields)
    source: str  # "file:line" the trace cites
    text: str  # "30 g per 30 days"
    target: str  # the product or group the author named
    channel: str | None  # None: every channel
    quantity: Decimal | None = None  # billing units (per day: the daily quantity)
    unit: str | None = None
    days: int | None = None  # the window; 1 for a per-day rule
    fills: int | None = None
    max_days: int | None = None
    scope: tuple[str, ...] = ()  # products whose history counts against it
    scope_ndcs: tuple[str, ...] = ()  # and their NDCs
    hard: bool = False  # a ceiling no approval replaces
    origin: str = BASE  # BASE for a limit, OVERRIDE for an approval
    daily_rate: bool = False  # a window rule of a policy that declares the daily-rate check
    noun: str | None = None  # the drug-file package noun its quantity counts, if it does
    criterion: str | None = None  # the approving criterion of an approval
    selection: Selection | None = None  # when a base limit applies; None: always
    # A daily-dose rule: what one billing unit of each product (by id and NDC) adds per day of
    # supply to what it measures (queries.dose_terms), in product order
    terms: tuple[tuple[str, Decimal], ...] | None = None
    # A soft edit: the DUR/PPS code sets (reason, service, result; None: any) that pass it
    overrides: tuple[tuple[str | None, str | None, str | None], ...] = ()
    exempt: tuple[str, ...] = ()  # member exclusions that exempt a claim from it
    reject_code: str | None = None  # the code it rejects with; None: the policy's


@dataclass(frozen=True, slots=True)
class Approvals:
    """What one criterion approves for a product at a channel: rules that replace its base."""

    criterion: str
    rules: tuple[RulePlan, ...]


@dataclass(frozen=True, slots=True)
class ChannelPlan:
    """One product's limits at one channel that has some."""

    channel: str
    rules: tuple[RulePlan, ...]  # every base limit that may apply, in decision order
    approvals: tuple[Approvals, ...]  # by criterion, in criteria order

    @property
    def selects(self) -> bool:
        """Whether the claim chooses among the rules (a date, age or package selector)."""
        return any(r.selection is not None for r in self.rules)


@dataclass(frozen=True, slots=True)
class PackagePlan:
    """A package of a product: its size in billing units (None: the drug file's) and NDCs."""

    id: str
    size: Decimal | None
    ndcs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProductPlan:
    """A product as claims meet it: unit, names, packages, prior authorization, and plans."""

    id: str
    unit: str
    source: str  # "file:line" of its definition
    group: str | None  # the group it is a member of
    scope: tuple[str, ...]  # products whose fills an authorization's own limits count
    ndcs: tuple[str, ...]  # its NDCs, its own then each package's
    scope_ndcs: tuple[str, ...]  # the NDCs of `scope`
    packages: tuple[PackagePlan, ...]
    authorization: str | None  # the spec line requiring prior authorization, or None
    channels: tuple[ChannelPlan, ...]  # the known channels where it has limits, in order

    @property
    def drug_file_sized(self) -> bool:
        return any(p.size is None for p in self.packages)


@dataclass(frozen=True, slots=True)
class CodedNdc:
    """An NDC a claim may name instead of the product: the product, and the package if one."""

    ndc: str
    product: str
    package: str | None


@dataclass(frozen=True, slots=True)
class PolicyPlan:
    """A whole policy as evaluators decide claims by it."""

    id: str
    title: str
    source: str  # "file:line" of the policy
    reject_code: str
    daily_rate: bool  # the policy declares the daily-rate check
    channels: tuple[str, ...]  # every channel it knows
    limits: tuple[RulePlan, ...]  # every base limit, in source order
    approvals: tuple[RulePlan, ...]  # every approval, by criterion, in source order
    products: tuple[ProductPlan, ...]
    ndcs: tuple[CodedNdc, ...]  # product NDCs first, then packages'; the first claim wins
    criteria_at: tuple[tuple[str, str], ...]  # (criterion, its spec line), for traces


def lower(policy: nodes.Policy) -> PolicyPlan:
    """The plan of a checked, resolved policy."""
    limits = tuple(dataclasses.replace(
        _rule(policy, limit.rule, limit.target, limit.channel, queries.location(limit),
              hard=limit.hard, selection=_selection(limit)),
        overrides=tuple((o.reason, o.service, o.result) for o in limit.overrides),
        exempt=limit.exempt, reject_code=limit.reject_code) for limit in _limiting(policy))
    approvals = {(c, a): _rule(policy, approval.rule, approval.target, approval.channel,
                               queries.location(approval), origin=OVERRIDE, criterion=criterion.id)
                 for c, criterion in enumerate(policy.criteria)
                 for a, approval in enumerate(criterion.approves)}
    channels = queries.known_channels(policy)
    products = tuple(_product(policy, product, channels, limits, approvals)
                     for product in policy.products)
    return PolicyPlan(
        id=policy.id, title=policy.title, source=queries.location(policy),
        reject_code=policy.reject_code, daily_rate=policy.daily_rate_check, channels=channels,
        limits=limits, approvals=tuple(approvals.values()), products=products,
        ndcs=_coded_ndcs(policy),
        criteria_at=tuple((c.id, queries.location(c)) for c in policy.criteria))


def _limiting(policy: nodes.Policy) -> tuple[nodes.Limit, ...]:
    """The base lines an evaluator selects among: all but `no limit` lines, which state that the
    claims they select have no limit, as claims no line selects have none."""
    return tuple(limit for limit in policy.limits if not isinstance(limit.rule, nodes.NoLimit))


def _rule(policy: nodes.Policy, rule: nodes.Rule, target: str, channel: str | None,
          source: str, *, hard: bool = False, origin: str = BASE,
          criterion: str | None = None, selection: Selection | None = None) -> RulePlan:
    kind, quantity, unit, days, fills, max_days = queries.rule_fields(rule)
    scope = queries.scope_products(policy, target)
    return RulePlan(
        kind=kind, source=source, text=queries.rule_text(rule), target=target, channel=channel,
        quantity=quantity, unit=unit, days=days, fills=fills, max_days=max_days, scope=scope,
        scope_ndcs=queries.scope_ndcs(policy, scope), hard=hard, origin=origin,
        daily_rate=policy.daily_rate_check and kind == "per_window",
        noun=queries.drug_file_noun(policy, rule), criterion=criterion, selection=selection,
        terms=_terms(policy, rule) if isinstance(rule, nodes.DailyDose) else None)


def _terms(policy: nodes.Policy, rule: nodes.DailyDose) -> tuple[tuple[str, Decimal], ...]:
    """A dose rule's terms by product id, then by each of those products' NDCs."""
    terms = queries.dose_terms(policy, rule)
    by_ndc = [(ndc, term) for product_id, term in terms.items()
              for ndc in queries.scope_ndcs(policy, (product_id,))]
    return tuple(terms.items()) + tuple(by_ndc)


def _selection(limit: nodes.Limit) -> Selection | None:
    if limit.since is None and not limit.when:
        return None
    conditions: list[Condition] = []
    for selector in limit.when:
        if isinstance(selector, nodes.AgeBand):
            conditions.append(AgeBand(selector.min_years, selector.max_years))
        else:
            conditions.append(PackageIs(selector.package))
    return Selection(limit.since, tuple(conditions))


def _product(policy: nodes.Policy, product: nodes.Product, channels: tuple[str, ...],
             limits: tuple[RulePlan, ...],
             approvals: dict[tuple[int, int], RulePlan]) -> ProductPlan:
    group = queries.group_of(policy, product.id)
    targets = (product.id,) if group is None else (product.id, group.id)
    scope = queries.own_products(policy, product)
    plans = []
    for channel in channels:
        # Source order is decision order: the trace lists the limits as the author wrote them.
        rules = tuple(r for limit, r in zip(_limiting(policy), limits, strict=True)
                      if limit.target in targets and limit.channel in (None, channel))
        if not rules:
            continue
        approved = []
        for c, criterion in enumerate(policy.criteria):
            chosen = tuple(approvals[(c, a)] for a, approval in enumerate(criterion.approves)
                           if approval.target in targets and approval.channel in (None, channel))
            if chosen:
                approved.append(Approvals(criterion.id, chosen))
        plans.append(ChannelPlan(channel, rules, tuple(approved)))
    return ProductPlan(
        id=product.id, unit=product.unit, source=queries.location(product),
        group=None if group is None else group.id, scope=scope,
        ndcs=queries.product_ndcs(product), scope_ndcs=queries.scope_ndcs(policy, scope),
        packages=tuple(PackagePlan(p.id, None if p.size is None else p.size.amount, p.ndcs)
                       for p in product.packages),
        authorization=queries.authorization_source(policy, product), channels=tuple(plans))


def _coded_ndcs(policy: nodes.Policy) -> tuple[CodedNdc, ...]:
    """Product-level NDCs first, then each package's, as the interpreter reads them."""
    found: dict[str, CodedNdc] = {}
    for product in policy.products:
        for ndc in product.ndcs:
            found.setdefault(ndc, CodedNdc(ndc, product.id, None))
        for package in product.packages:
            for ndc in package.ndcs:
                found.setdefault(ndc, CodedNdc(ndc, product.id, package.id))
    return tuple(found.values())
