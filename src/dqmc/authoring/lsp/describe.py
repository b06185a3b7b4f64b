"""What hovering shows: the normalised meaning of a product, limit, criterion, fact or value.

Quantities are stated in billing units with the package count they make ("30 g per 30 days at
retail = 1 tube"), approvals with how long they last ("approves 60 g per 30 days at retail for
1 year"), all computed from the checked IR, so the editor says what the evaluator will do.
"""

from __future__ import annotations

from collections.abc import Sequence

from dqmc.authoring.lsp.index import Occurrence
from dqmc.lang.ir import nodes
from dqmc.lang.ir.canonical import decimal_text
from dqmc.lang.printers.dsl_fragments import PrintError, format_duration, format_expr
from dqmc.lang.printers.english import (
    counted,
    find_package,
    product_name,
    selector_phrase,
    strength_and_form,
    target_products,
)
from dqmc.lang.source import Span

# The channels every policy knows are common nouns ("at retail"); declared ones keep their label.
_DEFAULT_CHANNEL_IDS = frozenset(cid for cid, _ in nodes.DEFAULT_CHANNELS)


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def rule_text(rule: nodes.Rule) -> str:
    """A rule in billing units, whatever the author counted in: `30 g per 30 days`."""
    match rule:
        case nodes.PerWindow(quantity=q, days=d):
            return f"{decimal_text(q.amount)} {q.unit} per {_days(d)}"
        case nodes.PerFill(quantity=q):
            return f"{decimal_text(q.amount)} {q.unit} per fill"
        case nodes.PerDay(quantity=q, max_days=m):
            tail = f" for up to {_days(m)}" if m is not None else ""
            return f"{decimal_text(q.amount)} {q.unit} per day{tail}"
        case nodes.FillsPerWindow(fills=f, days=d):
            return f"{f} fill{'s' * (f != 1)} per {_days(d)}"
        case nodes.DaysSupplyMax(days=d):
            return f"days supply at most {d}"
        case nodes.TherapyMax(days=d):
            return (f"continuous therapy at most {_days(d)} (the course this claim continues, "
                    "through the last day of its supply)")
        case nodes.DailyDose():
            unit = rule.measure.upper() if rule.unit is None else f"{rule.unit} {rule.measure}"
            word = "below" if rule.op == "<" else "at most"
            return (f"cumulative daily dose {word} {decimal_text(rule.limit)} {unit}: this claim's "
                    "plus every active fill's (fill date through fill date + days supply - 1)")
        case nodes.FirstFill(days=d, lookback=lookback):
            return (f"days supply at most {d} for a member with no fill in the {_days(lookback)}"
                    " before the date of service")
        case nodes.NotCovered():
            return "not covered"
        case nodes.NoLimit():
            return "no limit: the claims this line selects are limited by nothing, on purpose"
    raise AssertionError(rule)


def _size_text(package: nodes.Package) -> str:
    """`30 g`, or where the size comes from when the spec does not give it."""
    if package.size is None:
        return "size from the drug file (the claim's package_size)"
    return f"{decimal_text(package.size.amount)} {package.size.unit}"


def package_count(quantity: nodes.Quantity, products: Sequence[nodes.Product]) -> str | None:
    """`1 tube`, `2.5 tubes (not a whole number of packages)`, or None when nothing counts it."""
    package = find_package(quantity.package, products)
    if package is not None and package.size is None and quantity.per_package:
        return f"{counted(quantity.amount, package.noun or 'package')} (sizes from the drug file)"
    if (package is None or package.size is None or package.size.unit != quantity.unit
            or package.size.amount <= 0):
        return None
    count = quantity.amount / package.size.amount
    if package.noun:
        text = counted(count, package.noun)
    else:
        text = f"{decimal_text(count)} × {package.description}"
    if count != count.to_integral_value():
        text += " (not a whole number of packages)"
    return text


def _channel_phrase(policy: nodes.Policy, channel: str | None) -> str:
    if channel is None:
        return "at every channel"
    known = policy.channel(channel)
    if known is None:
        return f"at {channel}"
    return f"at {known.label.lower() if channel in _DEFAULT_CHANNEL_IDS else known.label}"


def limit_meaning(policy: nodes.Policy, target: str, channel: str | None, rule: nodes.Rule,
                  selectors: Sequence[nodes.Selector] = ()) -> str:
    """`30 g per 30 days at retail = 1 tube`, with the selectors that pick the rule."""
    products = target_products(policy, target)
    text = f"{rule_text(rule)} {_channel_phrase(policy, channel)}"
    if selectors:
        text += " when " + " and ".join(selector_phrase(s, products) for s in selectors)
    quantity = getattr(rule, "quantity", None)
    count = package_count(quantity, products) if quantity is not None else None
    return f"{text} = {count}" if count else text


def _duration_text(policy: nodes.Policy, criterion: nodes.Criterion) -> str:
    duration = criterion.duration or policy.approval_duration
    if duration is None:
        return "with no approval duration set"
    if duration.kind == "one_time":
        return "for one fill"
    if duration.kind == "as_requested":
        return "until the date the request asks for"
    if duration.kind == "one_time_or_requested":
        return "for one fill, or until the date the request asks for"
    return f"for {format_duration(duration)}"


def approval_meaning(policy: nodes.Policy, criterion: nodes.Criterion,
                     approval: nodes.Approval) -> str:
    """`approves 60 g per 30 days at retail for 1 year (= 2 tubes)`."""
    products = target_products(policy, approval.target)
    text = (f"approves {rule_text(approval.rule)} {_channel_phrase(policy, approval.channel)} "
            f"{_duration_text(policy, criterion)}")
    quantity = getattr(approval.rule, "quantity", None)
    count = package_count(quantity, products) if quantity is not None else None
    return f"{text} (= {count})" if count else text


def _condition(expr: nodes.Expr) -> str | None:
    try:
        return format_expr(expr)
    except PrintError:  # the placeholder condition of a criterion that lacks `when`
        return None


def _bullets(lines: Sequence[str]) -> list[str]:
    return [f"- {line}" for line in lines]


def _limits_of(policy: nodes.Policy, target: str) -> list[str]:
    return [limit_meaning(policy, target, limit.channel, limit.rule, limit.when)
            + (" (hard limit)" if limit.hard else "")
            + (f" (since {limit.since.isoformat()})" if limit.since is not None else "")
            for limit in policy.limits if limit.target == target]


def describe_product(policy: nodes.Policy, product: nodes.Product) -> str:
    lines = [f"**{product_name(product)}** — product `{product.id}`", "",
             f"{strength_and_form(product)}; billed in {product.unit}"]
    if product.requires_authorization or policy.requires_authorization:
        lines.append("Requires prior authorization: a claim without an active authorization "
                     "is rejected with 75")
    if product.dose is not None:
        lines.append(f"One dose: {product.dose.amount.normalize():f} {product.dose.unit} "
                     "(limits may count doses)")
    for content in product.contents:
        factors = [f"{t.id.upper()} factor {f.factor.normalize():f}" for t in policy.factor_tables
                   for f in t.factors if f.ingredient == content.ingredient]
        counted_as = f" ({'; '.join(factors)})" if factors else ""
        lines.append(f"One unit contains {content.amount.normalize():f} {content.unit} "
                     f"{content.ingredient}{counted_as}")
    for package in product.packages:
        noun = f", counted as {package.noun}" if package.noun else ""
        lines.append(f"- package `{package.id}`: {_size_text(package)} "
                     f"({package.description}{noun})")
    limits = _limits_of(policy, product.id)
    groups = [g for g in policy.groups if product.id in g.products]
    for group in groups:
        limits += [f"{line} (group {group.id})" for line in _limits_of(policy, group.id)]
    if limits:
        lines += ["", "Base limits:", *_bullets(limits)]
    targets = {product.id} | {g.id for g in groups}
    approvals = [f"`{c.id}` {approval_meaning(policy, c, a)}"
                 for c in policy.criteria for a in c.approves if a.target in targets]
    approvals += [f"`{c.id}` approves the quantity requested" for c in policy.criteria
                  if targets.intersection(c.requested_for)]
    if approvals:
        lines += ["", "Exceptions:", *_bullets(approvals)]
    return "\n".join(lines)


def describe_group(policy: nodes.Policy, group: nodes.Group) -> str:
    lines = [f"**{group.title}** — group `{group.id}`", "",
             "Accumulates together: " + ", ".join(f"`{p}`" for p in group.products)]
    limits = _limits_of(policy, group.id)
    if limits:
        lines += ["", "Base limits:", *_bullets(limits)]
    return "\n".join(lines)


def describe_criterion(policy: nodes.Policy, criterion: nodes.Criterion) -> str:
    title = criterion.title or criterion.id
    lines = [f"**{title}** — criterion `{criterion.id}`"]
    condition = _condition(criterion.when)
    if condition:
        lines += ["", f"When `{condition}`"]
    if criterion.renews:
        lines += ["", f"Renews `{criterion.renews}`"]
    if criterion.serves:
        lines += ["", f"Serves {criterion.serves} requests only"]
    approvals = [f"`{a.target}`: {approval_meaning(policy, criterion, a)}"
                 for a in criterion.approves]
    if criterion.approves_requested:
        through = ("until the date the request asks for"
                   if criterion.duration is None and policy.approval_duration is None
                   else _duration_text(policy, criterion))
        named = ", ".join(f"`{target}`" for target in criterion.requested_for)
        approvals.append(f"approves the quantity requested at the channels requested {through}"
                         + (f", for {named} only" if named else ""))
    if approvals:
        lines += ["", *_bullets(approvals)]
    else:
        lines += ["", "Approves nothing"]
    return "\n".join(lines)


def describe_fact(policy: nodes.Policy, fact: nodes.Fact) -> str:
    kind = fact.type if not fact.values else f"{fact.type} {{{', '.join(fact.values)}}}"
    users = [c.id for c in policy.criteria if fact.id in _facts_in(c.when)]
    lines = [f"fact `{fact.id}`: {kind}", "", fact.question]
    if users:
        lines += ["", "Used by " + ", ".join(f"`{u}`" for u in users)]
    return "\n".join(lines)


def _facts_in(expr: nodes.Expr) -> set[str]:
    return {leaf.fact for leaf in nodes.leaves(expr)}


def describe(policy: nodes.Policy, occurrence: Occurrence) -> str | None:
    """Markdown for the id under the cursor, or None when the policy does not define it."""
    name = occurrence.name
    match occurrence.kind:
        case "product":
            product = policy.product(name)
            return describe_product(policy, product) if product else None
        case "group":
            group = policy.group(name)
            return describe_group(policy, group) if group else None
        case "criterion":
            criterion = next((c for c in policy.criteria if c.id == name), None)
            return describe_criterion(policy, criterion) if criterion else None
        case "fact":
            fact = policy.fact(name)
            return describe_fact(policy, fact) if fact else None
        case "value":
            fact = policy.fact(occurrence.owner or "")
            if fact is None or name not in fact.values:
                return None
            return f"`{name}`: a value of fact `{fact.id}` ({fact.type})\n\n{fact.question}"
        case "channel":
            channel = policy.channel(name)
            if channel is None:
                return None
            count = sum(1 for limit in policy.limits if limit.channel == name)
            return f"channel `{name}`: {channel.label} ({counted(count, 'base limit')})"
        case "package":
            product = policy.product(occurrence.owner or "")
            package = next((p for p in product.packages if p.id == name), None) if product else None
            if package is None:
                return None
            return (f"package `{name}` of `{product.id}`: {_size_text(package)}, "  # type: ignore[union-attr]
                    f"{package.description}")
        case "policy":
            return (f"**{policy.title}** — policy `{policy.id}` ({policy.type}); "
                    f"{counted(len(policy.products), 'product')}, "
                    f"{len(policy.criteria)} criteri{'on' if len(policy.criteria) == 1 else 'a'}")
    return None


def describe_rule_at(policy: nodes.Policy, line: int, col: int) -> str | None:
    """The meaning of the limit or approval line under the cursor, if the cursor is on one."""
    def inside(span: Span) -> bool:
        return (span.line, span.col) <= (line, col) <= (span.end_line, span.end_col)

    for limit in policy.limits:
        if inside(limit.span):
            kind = "hard limit" if limit.hard else "base limit"
            meaning = limit_meaning(policy, limit.target, limit.channel, limit.rule, limit.when)
            since = (f"; applies from {limit.since.isoformat()}"
                     if limit.since is not None else "")
            return f"{meaning}\n\n{kind} of `{limit.target}`{since}" + (
                f"; {limit.note}" if limit.note else "")
    for criterion in policy.criteria:
        for approval in criterion.approves:
            if inside(approval.span):
                return (f"{approval_meaning(policy, criterion, approval)}\n\n"
                        f"criterion `{criterion.id}`, replacing the base limits of "
                        f"`{approval.target}` {_channel_phrase(policy, approval.channel)}")
    return None


def used_table_at(policy: nodes.Policy, line: int, col: int) -> nodes.FactorTable | None:
    """The table a `use factors` line under the cursor takes from a shared factor file."""
    for table in policy.factor_tables:
        s = table.span
        if table.origin is not None and (s.line, s.col) <= (line, col) <= (s.end_line, s.end_col):
            return table
    return None


def describe_used_table(table: nodes.FactorTable) -> str:
    """Hover of a `use factors` line: the shared table's factors and their source."""
    rows = "\n".join(f"- {f.ingredient}: {decimal_text(f.factor)}" for f in table.factors)
    source = f"\n\nSource: {table.source}" if table.source else ""
    return (f"**factor table `{table.id}`**: {table.title}, from the shared factor file "
            f"`{table.origin}`\n\n{rows or '(no factors)'}{source}")

