"""IR queries: what a policy's IR says of products, scopes, rules and criteria, read one way.

The interpreter, the Python generator, diff, synth and impact all ask the IR these questions;
answering them here, once, is what keeps the evaluators, the documents and the tools agreeing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from dqmc import runtime as rt
from dqmc.lang.ir import nodes
from dqmc.lang.ir.canonical import decimal_text

if TYPE_CHECKING:  # a compiled policy's plan is lowered by these queries: name it, import it not
    from dqmc.lang.compiled import CompiledPolicy


def fallback_routes(ordered: Sequence[CompiledPolicy]) -> tuple[
        CompiledPolicy | None, dict[str, tuple[tuple[str, ...], str | None]]]:
    """The fallback guideline, and each name a request may give a product by (as review
    dispatch reads it: the first policy in id order that knows the name) whose policy has no
    criteria → (its review target, its billing unit): the requests the fallback reviews."""
    fallback = next((c for c in ordered if c.policy.fallback and c.policy.criteria), None)
    routes: dict[str, tuple[tuple[str, ...], str | None]] = {}
    if fallback is None:
        return None, routes
    seen: set[str] = set()
    for item in ordered:
        units = review_units(item.policy)
        for name, related in review_targets(item.policy).items():
            if name in seen:
                continue
            seen.add(name)
            if not item.policy.criteria and item is not fallback:
                routes[name] = (related, units.get(related[0]))
    return fallback, routes


def claim_routes(ordered: Sequence[CompiledPolicy]) -> tuple[
        dict[str, CompiledPolicy], dict[str, CompiledPolicy]]:
    """Which policy decides a claim, by its product id and by its NDC (docs/semantics.md §2.7):
    the first policy in the order given whose live version lists it, else the first with a
    kept version that lists it (a late claim for a product the policy has since dropped is
    decided by the version in force on its date)."""
    by_product: dict[str, CompiledPolicy] = {}
    by_ndc: dict[str, CompiledPolicy] = {}
    for kept in (False, True):
        for item in ordered:
            for version in (item.earlier if kept else (item,)):
                for product in version.policy.products:
                    by_product.setdefault(product.id, item)
                    for ndc in product_ndcs(product):
                        by_ndc.setdefault(ndc, item)
    return by_product, by_ndc


def review_routes(ordered: Sequence[CompiledPolicy]) -> dict[str, CompiledPolicy]:
    """Which policy answers a request that names a product, group or NDC but no policy: as
    `claim_routes`, the first whose live version knows the name, else one a kept version of
    which knows it."""
    found: dict[str, CompiledPolicy] = {}
    for kept in (False, True):
        for item in ordered:
            for version in (item.earlier if kept else (item,)):
                for name in review_targets(version.policy):
                    found.setdefault(name, item)
    return found


def location(node: object) -> str:
    """`file:line` of an IR node, as traces cite it."""
    return node.span.location()  # type: ignore[attr-defined]


def known_channels(policy: nodes.Policy) -> tuple[str, ...]:
    """The default channels, then the ones the policy declares, without repeats."""
    ids = [channel_id for channel_id, _ in nodes.DEFAULT_CHANNELS]
    ids += [c.id for c in policy.channels if c.id not in ids]
    return tuple(ids)


def product_ndcs(product: nodes.Product) -> tuple[str, ...]:
    """Every NDC of a product: its own list, then each package's."""
    found = list(product.ndcs)
    for package in product.packages:
        found += [ndc for ndc in package.ndcs if ndc not in found]
    return tuple(found)


def group_of(policy: nodes.Policy, product_id: str) -> nodes.Group | None:
    return next((g for g in policy.groups if product_id in g.products), None)


def scope_products(policy: nodes.Policy, target: str) -> tuple[str, ...]:
    """The products whose history counts against a rule on `target` (a product or a group)."""
    group = policy.group(target)
    return group.products if group is not None else (target,)


def own_products(policy: nodes.Policy, product: nodes.Product) -> tuple[str, ...]:
    """The products whose history an authorization's explicit limits and used fills count for
    `product`: its group's members billed in its unit (all of them, unless the group mixes
    units), else the product alone."""
    group = group_of(policy, product.id)
    if group is None:
        return (product.id,)
    return tuple(p for p in group.products
                 if (member := policy.product(p)) is not None and member.unit == product.unit)


def scope_ndcs(policy: nodes.Policy, products: Sequence[str]) -> tuple[str, ...]:
    found: list[str] = []
    for product_id in products:
        product = policy.product(product_id)
        if product is not None:
            found += [ndc for ndc in product_ndcs(product) if ndc not in found]
    return tuple(found)


def package_size(product: nodes.Product, package: nodes.Package | None) -> Decimal | None:
    """The package size that max allowed is counted in: the claim's package, or the only size
    (None for a size from the drug file: the claim's `package_size` says it)."""
    if package is not None:
        return None if package.size is None else package.size.amount
    sizes = sorted({p.size.amount for p in product.packages if p.size is not None})
    return sizes[0] if len(sizes) == 1 else None


RuleFields = tuple[str, Decimal | None, str | None, int | None, int | None, int | None]


def rule_fields(rule: nodes.Rule) -> RuleFields:
    """(kind, quantity, unit, days, fills, max_days) of a rule; days is 1 for a per-day rule."""
    if isinstance(rule, nodes.PerWindow):
        return "per_window", rule.quantity.amount, rule.quantity.unit, rule.days, None, None
    if isinstance(rule, nodes.PerFill):
        return "per_fill", rule.quantity.amount, rule.quantity.unit, None, None, None
    if isinstance(rule, nodes.PerDay):
        return "per_day", rule.quantity.amount, rule.quantity.unit, 1, None, rule.max_days
    if isinstance(rule, nodes.FillsPerWindow):
        return "fills_per_window", None, None, rule.days, rule.fills, None
    if isinstance(rule, nodes.NotCovered):
        return "not_covered", None, None, None, None, None
    if isinstance(rule, nodes.NoLimit):
        return "no_limit", None, None, None, None, None
    if isinstance(rule, nodes.TherapyMax):
        return "therapy_max", None, None, rule.days, None, None
    if isinstance(rule, nodes.DailyDose):
        # The unit a dose is counted in, with what it measures: "mg acetaminophen"; a factor
        # table's dose is in the table's own unit, its id ("mme")
        unit = rule.measure if rule.unit is None else f"{rule.unit} {rule.measure}"
        return ("daily_dose_below" if rule.op == "<" else "daily_dose", rule.limit, unit, 1,
                None, None)
    if isinstance(rule, nodes.FirstFill):
        # days: the most days supply of a first fill; max_days: the look-back
        return "first_fill", None, None, rule.days, None, rule.lookback
    return "days_supply_max", None, None, rule.days, None, None


def history_days(rule: nodes.Rule) -> int:
    """How many days of history (an inclusive window ending on the date of service) a rule
    reads: a window rule its window, a therapy rule D + 999 (rt.therapy_history_days), the
    others none."""
    if isinstance(rule, (nodes.PerWindow, nodes.FillsPerWindow)):
        return rule.days
    if isinstance(rule, nodes.TherapyMax):
        return rt.therapy_history_days(rule.days)
    if isinstance(rule, nodes.DailyDose):
        return rt.MAX_DAYS_SUPPLY  # a fill dated up to 999 days back may still be active
    if isinstance(rule, nodes.FirstFill):
        return rule.lookback + 1
    return 0


def dose_terms(policy: nodes.Policy, rule: nodes.DailyDose) -> dict[str, Decimal]:
    """What one billing unit of each product adds to a dose rule's measure per unit of its
    daily supply: every counted ingredient's amount times its factor (1 for a plain ingredient);
    products that hold none of it are left out."""
    table = policy.factor_table(rule.measure)
    terms: dict[str, Decimal] = {}
    for product in policy.products:
        total = Decimal(0)
        counted = False
        for content in product.contents:
            factor = (Decimal(1) if content.ingredient == rule.measure and table is None
                      else table.factor(content.ingredient) if table is not None else None)
            if factor is not None:
                total += content.amount * factor
                counted = True
        if counted:
            terms.setdefault(product.id, total)
    return terms


def drug_file_noun(policy: nodes.Policy, rule: nodes.Rule) -> str | None:
    """The package noun a rule counts in when the drug file sizes that package, else None."""
    quantity = getattr(rule, "quantity", None)
    if quantity is None or not quantity.per_package:
        return None
    if quantity.package is None:
        return "package"  # `4 packages`: any package of the product, whatever its size
    for product in policy.products:
        for package in product.packages:
            if package.id == quantity.package and package.size is None and package.noun:
                return package.noun
    return quantity.package


def rule_text(rule: nodes.Rule) -> str:
    """A rule as the trace and the review result word it: "30 g per 30 days"."""
    return rt.rule_text(*rule_fields(rule))


def rule_message(rule: nodes.Rule) -> str:
    """A rule as a 526-FQ message line: "QL 30 G PER 30 DAYS"."""
    return rt.rule_message(*rule_fields(rule))


def condition_text(expr: nodes.Expr) -> str:
    """A condition as the DSL writes it, e.g. `severity in {moderate, severe}`."""
    return _ConditionText().visit(expr)


class _ConditionText(nodes.Visitor[str]):
    def visit_FactRef(self, expr: nodes.FactRef) -> str:
        return expr.fact

    def visit_Compare(self, expr: nodes.Compare) -> str:
        return f"{expr.fact} {expr.op} {value_text(expr.value)}"

    def visit_InSet(self, expr: nodes.InSet) -> str:
        return f"{expr.fact} in {{{', '.join(expr.values)}}}"

    def visit_Subset(self, expr: nodes.Subset) -> str:
        return f"{expr.fact} <= {{{', '.join(expr.values)}}}"

    def visit_Not(self, expr: nodes.Not) -> str:
        inner = self.visit(expr.operand)
        compound = isinstance(expr.operand, (nodes.And, nodes.Or))
        return f"not ({inner})" if compound else f"not {inner}"

    def visit_And(self, expr: nodes.And) -> str:
        return " and ".join(f"({self.visit(e)})" if isinstance(e, nodes.Or) else self.visit(e)
                            for e in expr.operands)

    def visit_Or(self, expr: nodes.Or) -> str:
        return " or ".join(self.visit(e) for e in expr.operands)


def value_text(value: nodes.Value) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def condition_facts(expr: nodes.Expr) -> tuple[str, ...]:
    """The facts a condition reads, in order of first use."""
    return tuple(dict.fromkeys(leaf.fact for leaf in nodes.leaves(expr)))


def approval_duration(policy: nodes.Policy, criterion: nodes.Criterion) -> nodes.Duration | None:
    """How long an approval under this criterion lasts: its own, else the policy's.

    Lowering states both wherever the spec leaves them out (`lower_common.fill_defaults`: 1
    year, or as requested for `approve requested`), so the evaluators apply no duration of
    their own. None only for an IR built without lowering that states neither: a reviewer then
    has no end date but the request's `requested.through`.
    """
    return criterion.duration or policy.approval_duration


def authorization_source(policy: nodes.Policy, product: nodes.Product) -> str | None:
    """The spec line that requires prior authorization for a product (its own `requires
    authorization`, else the policy's), or None when none does."""
    if product.requires_authorization:
        return location(product)
    if policy.requires_authorization:
        return location(policy)
    return None


def policy_criterion(policy: nodes.Policy, criterion_id: str | None) -> nodes.Criterion | None:
    return next((c for c in policy.criteria if c.id == criterion_id), None)


def review_facts(policy: nodes.Policy) -> dict[str, tuple[str, tuple[str, ...], str]]:
    """fact id → (type, values, question), as `runtime.review_policy` reads answers."""
    return {f.id: (f.type, f.values, f.question) for f in policy.facts}


def review_targets(policy: nodes.Policy) -> dict[str, tuple[str, ...]]:
    """Every name a request may give a product by (id, group id, NDC) → (target, its group)."""
    found: dict[str, tuple[str, ...]] = {}
    for product in policy.products:
        group = group_of(policy, product.id)
        related = (product.id,) if group is None else (product.id, group.id)
        found.setdefault(product.id, related)
        for ndc in product_ndcs(product):
            found.setdefault(ndc, related)
    for group in policy.groups:
        found.setdefault(group.id, (group.id,))
    return found


def review_units(policy: nodes.Policy) -> dict[str, str]:
    """Product or group id → the billing unit an `approve requested` limit must be stated in
    (a group only when its members share one)."""
    found: dict[str, str] = {p.id: p.unit for p in policy.products}
    for group in policy.groups:
        units = {found[p] for p in group.products if p in found}
        if len(units) == 1:
            found[group.id] = units.pop()
    return found


def approved_limits(policy: nodes.Policy,
                    criterion: nodes.Criterion) -> tuple[rt.ApprovedLimit, ...]:
    """What a criterion approves, as the review result lists it. A count of packages sized by
    the drug file is listed in the package's noun ("6 vial per 30 days"): its billing units
    are known only claim by claim."""
    found = []
    for approval in criterion.approves:
        kind, quantity, unit, days, fills, max_days = rule_fields(approval.rule)
        text = rule_text(approval.rule)
        noun = drug_file_noun(policy, approval.rule)
        if noun is not None:
            unit = noun
            text = rt.rule_text(kind, quantity, noun, days, fills, max_days)
        found.append(rt.ApprovedLimit(approval.target, approval.channel, kind, quantity, unit, days,
                                      text))
    return tuple(found)


def duration_fields(duration: nodes.Duration | None) -> tuple[str, int, str | None] | None:
    return None if duration is None else (duration.kind, duration.amount, duration.unit)
