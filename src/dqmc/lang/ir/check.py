"""Semantic checks over a lowered policy: every finding as a coded Diagnostic.

About 800 lines, kept as one module on purpose: each check is a short function over the policy,
they share a handful of helpers (targets, units, packages), and they read top to bottom in the
order docs/language.md presents the constructs. Claim-space analyses (gaps, overlaps, dead
rules) are a different kind of pass and belong in a module of their own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal

from dqmc.lang.diagnostics import Diagnostic
from dqmc.lang.ir import nodes
from dqmc.lang.ir.check_dose import check_doses
from dqmc.lang.source import NO_SPAN, Span, known_or
from dqmc.runtime.values import MAX_QUANTITY

ID_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*\Z")
NDC_PATTERN = re.compile(r"[0-9]{11}\Z")
# Ten years; longer windows are a typo, and cost history scans nothing useful.
MAX_WINDOW_DAYS = 3660
# Words that, in some place of the DSL, are read as a keyword where a name could also stand
# (`all` as a channel, `true`/`false` as enum values, `not`/`and`/`or`/`in` in conditions): an
# id spelled like one could not be written back as DSL.
RESERVED_WORDS = frozenset({"all", "true", "false", "not", "and", "or", "in"})
# The most assignments the satisfiability check enumerates before it gives up (no finding).
MAX_ASSIGNMENTS = 200_000


def check_policy(policy: nodes.Policy) -> list[Diagnostic]:
    """All findings for one policy, in no particular order (the caller sorts)."""
    found: list[Diagnostic] = []
    found += _check_ids(policy)
    found += _check_settings(policy)
    found += _check_products(policy)
    found += _check_groups(policy)
    found += _check_limits(policy)
    found += _check_facts(policy)
    found += _check_criteria(policy)
    found += _check_history(policy)
    found += _check_sections(policy)
    found += check_doses(policy)
    return found


def _check_sections(policy: nodes.Policy) -> Iterator[Diagnostic]:
    for section in policy.sections:
        if section.kind not in nodes.SECTION_KINDS:
            yield Diagnostic(
                "section.unknown-kind",
                f"unknown section kind '{section.kind}'; use one of "
                f"{', '.join(nodes.SECTION_KINDS)}", section.span)


# -- ids --------------------------------------------------------------------------------------


def _duplicates(kind: str, items: Iterable[tuple[str, Span]]) -> Iterator[Diagnostic]:
    seen: dict[str, Span] = {}
    for item_id, span in items:
        if item_id in seen:
            first = seen[item_id]
            yield Diagnostic(
                "name.duplicate",
                f"{kind} '{item_id}' is already defined at line {first.line}; rename one of them",
                span)
        else:
            seen[item_id] = span


def id_problem(kind: str, item_id: str) -> str | None:
    """Why `item_id` cannot name a `kind` (policy, product, ...), or None when it can: the one
    rule `dqmc check` and `dqmc new` apply."""
    if not ID_PATTERN.match(item_id):
        return (f"{kind} id '{item_id}' must start with a letter or '_' and use letters, digits, "
                "'_' and single '-' between parts")
    if item_id in RESERVED_WORDS:
        return f"{kind} id '{item_id}' is a keyword of the policy language; choose another name"
    return None


def _invalid_id(kind: str, item_id: str, span: Span) -> Iterator[Diagnostic]:
    problem = id_problem(kind, item_id)
    if problem is not None:
        yield Diagnostic("name.invalid", problem, span)


def _check_ids(policy: nodes.Policy) -> Iterator[Diagnostic]:
    yield from _invalid_id("policy", policy.id, policy.span)
    named: list[tuple[str, str, Span]] = (
        [("channel", c.id, c.span) for c in policy.channels]
        + [("product", p.id, p.span) for p in policy.products]
        + [("group", g.id, g.span) for g in policy.groups]
        + [("fact", f.id, f.span) for f in policy.facts]
        + [("criterion", c.id, c.span) for c in policy.criteria]
    )
    for kind, item_id, span in named:
        yield from _invalid_id(kind, item_id, span)
    yield from _duplicates("channel", ((c.id, c.span) for c in policy.channels))
    # Products and groups share one namespace: a limit names either.
    yield from _duplicates("product or group", [(p.id, p.span) for p in policy.products]
                           + [(g.id, g.span) for g in policy.groups])
    yield from _duplicates("fact", ((f.id, f.span) for f in policy.facts))
    yield from _duplicates("criterion", ((c.id, c.span) for c in policy.criteria))
    for product in policy.products:
        yield from _duplicates(f"package of '{product.id}'",
                               ((p.id, p.span) for p in product.packages))
        for package in product.packages:
            yield from _invalid_id("package", package.id, package.span)


# -- settings ---------------------------------------------------------------------------------


def _check_settings(policy: nodes.Policy) -> Iterator[Diagnostic]:
    # The policy type and reject code are checked where they are read (DSL lowering, JSON
    # Schema), which knows their exact position.
    if policy.approval_duration is not None:
        yield from _check_duration(policy.approval_duration)
    if policy.fallback and not policy.criteria:
        yield Diagnostic("policy.fallback-without-criteria",
                         f"policy '{policy.id}' applies to any product without its own criteria "
                         "but has no criteria itself, so it could only answer no; add a "
                         "`criterion`", policy.span)
    if not policy.limits and policy.type != "override_guideline":
        yield Diagnostic("policy.no-limits",
                         f"policy '{policy.id}' states no limits; add a `limit` block", policy.span)


def _check_duration(duration: nodes.Duration) -> Iterator[Diagnostic]:
    if duration.kind == "fixed" and duration.amount <= 0:
        yield Diagnostic("duration.invalid",
                         "an approval duration must be at least 1 (e.g. `1 year`)", duration.span)


# -- products and groups ----------------------------------------------------------------------


def _check_products(policy: nodes.Policy) -> Iterator[Diagnostic]:
    for product in policy.products:
        for ndc in product.ndcs + tuple(n for p in product.packages for n in p.ndcs):
            if not NDC_PATTERN.match(ndc):
                yield Diagnostic(
                    "product.invalid-ndc",
                    f"NDC '{ndc}' of product '{product.id}' must be 11 digits without hyphens "
                    "(5-4-2, e.g. 00574407205)", product.span)
        dose = product.dose
        if dose is not None and (dose.unit != product.unit or dose.amount <= 0):
            yield Diagnostic(
                "product.dose-unit",
                f"a dose of '{product.id}' is a positive amount of its billing unit "
                f"({product.unit}), not {dose.amount.normalize():f} {dose.unit}", dose.span)
        drug_file = [p.id for p in product.packages if p.size is None]
        if drug_file and len(drug_file) < len(product.packages):
            yield Diagnostic(
                "package.drug-file-mixed",
                f"product '{product.id}' has packages sized in the spec and package "
                f"'{drug_file[0]}' sized `from drug file`: limits would count two kinds of "
                "package; size them all in the spec, or all from the drug file", product.span)
        for package in product.packages:
            if package.size is None:
                continue
            if package.size.amount <= 0:
                yield Diagnostic("quantity.non-positive",
                                 f"package '{package.id}' must have a positive size",
                                 package.size.span)
            if package.size.unit != product.unit:
                yield Diagnostic(
                    "unit.mismatch",
                    f"package '{package.id}' is sized in {package.size.unit} but product "
                    f"'{product.id}' is billed in {product.unit}; use one billing unit",
                    package.size.span)


def _check_groups(policy: nodes.Policy) -> Iterator[Diagnostic]:
    owner: dict[str, str] = {}
    for group in policy.groups:
        units = set()
        for member in group.products:
            product = _lookup(policy)[0].get(member)
            if product is None:  # reported by name resolution (resolve.py)
                continue
            units.add(product.unit)
            if member in owner and owner[member] != group.id:
                yield Diagnostic(
                    "group.overlap",
                    f"product '{member}' is already in group '{owner[member]}'; a product "
                    "accumulates in one group only", group.span)
            owner.setdefault(member, group.id)
        if len(units) > 1:
            # Fills and days supply are unit-free, so products billed in different units may
            # share those rules (Tamiflu capsules and suspension: one course per 180 days); a
            # quantity cannot add capsules to millilitres.
            for rule, span in _group_rules(policy, group.id):
                if getattr(rule, "quantity", None) is not None:
                    yield Diagnostic(
                        "group.mixed-unit-quantity",
                        f"group '{group.id}' mixes billing units ({', '.join(sorted(units))}); "
                        "only fill-count, days-supply and therapy rules may limit it, so limit "
                        "each product's quantity on the product", span)


def _group_rules(policy: nodes.Policy, group_id: str) -> Iterator[tuple[nodes.Rule, Span]]:
    """Every base limit and approval stated for a group, with where it is written."""
    for limit in policy.limits:
        if limit.target == group_id:
            yield limit.rule, limit.span
    for criterion in policy.criteria:
        for approval in criterion.approves:
            if approval.target == group_id:
                yield approval.rule, approval.span


def _known(items: Iterable[nodes.Product | nodes.Group | nodes.Fact]) -> str:
    ids = [i.id for i in items]
    return f" (known: {', '.join(ids)})" if ids else ""


# -- limits -----------------------------------------------------------------------------------


def _lookup(policy: nodes.Policy) -> tuple[dict[str, nodes.Product], dict[str, nodes.Group]]:
    """Products and groups by id (the limit checks ask once or twice per limit)."""
    return policy.index.products, policy.index.groups


def _target_unit(policy: nodes.Policy, target: str) -> nodes.BillingUnit | None:
    products, groups = _lookup(policy)
    product = products.get(target)
    if product is not None:
        return product.unit
    group = groups.get(target)
    if group is not None:
        for member in group.products:
            if (p := products.get(member)) is not None:
                return p.unit
    return None


def _target_members(policy: nodes.Policy, target: str) -> list[str]:
    """The known products a limit on `target` (a product or a group) counts."""
    products, groups = _lookup(policy)
    if target in products:
        return [target]
    group = groups.get(target)
    return [m for m in group.products if m in products] if group else []


def _drug_file_members(policy: nodes.Policy, target: str) -> list[str]:
    """Those of them whose package size comes from the drug file."""
    products = _lookup(policy)[0]
    return [m for m in _target_members(policy, target) if products[m].drug_file_sized]


def _target_packages(policy: nodes.Policy, target: str) -> list[nodes.Package]:
    products, groups = _lookup(policy)
    product = products.get(target)
    if product is not None:
        return list(product.packages)
    group = groups.get(target)
    members = [products.get(m) for m in group.products] if group else []
    return [pk for p in members if p is not None for pk in p.packages]


def _check_rule(policy: nodes.Policy, target: str, rule: nodes.Rule, is_base: bool,
                when: tuple[nodes.Selector, ...] = ()) -> Iterator[Diagnostic]:
    quantity = getattr(rule, "quantity", None)
    if quantity is not None:
        if quantity.amount <= 0:
            yield Diagnostic("quantity.non-positive",
                             "a limit quantity must be greater than 0", quantity.span)
        elif not quantity.per_package and quantity.amount > MAX_QUANTITY:
            yield Diagnostic(
                "quantity.too-large",
                f"no claim can reach {_num(quantity.amount)} {quantity.unit}: a claim's quantity "
                f"is at most {_num(MAX_QUANTITY)} (NCPDP 442-E7); a limit this large limits "
                "nothing, so say what the policy means (a smaller limit, or no limit line)",
                quantity.span)
        unit = _target_unit(policy, target)
        drug_file = _drug_file_members(policy, target)
        if drug_file and not quantity.per_package:
            nouns = sorted({pk.noun for pk in _target_packages(policy, target)
                            if pk.size is None and pk.noun})
            words = ", ".join(f"`N {noun}s`" for noun in nouns) + (" or " if nouns else "")
            yield Diagnostic(
                "quantity.drug-file-count",
                f"the package size of '{drug_file[0]}' comes from the drug file, so a limit on "
                f"'{target}' counts its packages: write {words}`N packages`, not {quantity.unit}",
                quantity.span)
        elif quantity.per_package and len(drug_file) < len(_target_members(policy, target)):
            sized = [m for m in _target_members(policy, target) if m not in drug_file]
            yield Diagnostic(
                "group.drug-file-mixed",
                f"this limit counts packages sized by the drug file, but '{sized[0]}' of group "
                f"'{target}' has its size in the spec; its packages cannot be counted alike",
                quantity.span)
        elif unit is not None and quantity.unit != unit:
            yield Diagnostic(
                "unit.mismatch",
                f"this limit is in {quantity.unit} but '{target}' is billed in {unit}; write the "
                f"quantity in {unit} or in its packages", quantity.span)
        elif is_base and not isinstance(rule, nodes.PerDay):
            # Under `when package ID` only that package's size counts.
            chosen = {s.package for s in when if isinstance(s, nodes.PackageIs)}
            sizes = {pk.size.amount for pk in _target_packages(policy, target)
                     if pk.size is not None and (not chosen or pk.id in chosen)}
            if sizes and quantity.amount > 0 and not any(quantity.amount % s == 0 for s in sizes):
                shown = ", ".join(f"{_num(s)} {quantity.unit}" for s in sorted(sizes))
                yield Diagnostic(
                    "quantity.not-whole-packages",
                    f"{_num(quantity.amount)} {quantity.unit} is not a whole number of packages "
                    f"({shown}); pharmacies cannot dispense part of a package", quantity.span)
    for name in ("days", "fills", "max_days"):
        value = getattr(rule, name, None)
        if value is None:
            continue
        if value <= 0:
            what = ("a course of therapy must be at least 1 day"
                    if isinstance(rule, nodes.TherapyMax)
                    else f"{name.replace('_', ' ')} must be at least 1")
            yield Diagnostic("window.non-positive", what, rule.span)
        elif value > MAX_WINDOW_DAYS and name != "fills":
            yield Diagnostic(
                "window.too-long",
                f"{value} days is longer than {MAX_WINDOW_DAYS} days; check the number",
                rule.span)
    if isinstance(rule, nodes.DaysSupplyMax) and rule.days > 999:
        yield Diagnostic("window.too-long",
                         "a days supply above 999 cannot occur on a claim (NCPDP 405-D5)",
                         rule.span)


def _num(value: Decimal) -> str:
    from dqmc.lang.ir.canonical import decimal_text

    return decimal_text(value)


def _check_limits(policy: nodes.Policy) -> Iterator[Diagnostic]:
    targets = {p.id for p in policy.products} | {g.id for g in policy.groups}
    seen: set[nodes.Limit] = set()
    for limit in policy.limits:
        if limit.target not in targets:  # reported by name resolution (resolve.py)
            continue
        # an unknown channel is reported by name resolution (resolve.py)
        if limit in seen:
            yield Diagnostic("limit.duplicate",
                             f"this rule for '{limit.target}' is already stated; remove one",
                             limit.span)
        seen.add(limit)
        if isinstance(limit.rule, nodes.NotCovered):
            # A claim there is rejected as not covered, so any other rule for the same claims
            # could never decide anything: the spec says two things about one cell.
            other = next((o for o in policy.limits if o.target == limit.target
                          and o.channel == limit.channel and o.when == limit.when
                          and o.since == limit.since
                          and not isinstance(o.rule, nodes.NotCovered)), None)
            if other is not None:
                yield Diagnostic(
                    "limit.not-covered-conflict",
                    f"'{limit.target}' is not covered at {limit.channel or 'any channel'} but "
                    f"line {other.span.line} limits it there; keep one", limit.span)
        yield from _check_rule(policy, limit.target, limit.rule, is_base=True, when=limit.when)
        for selector in limit.when:  # an unknown package is reported by resolution (resolve.py)
            if isinstance(selector, nodes.AgeBand):
                low, high = selector.min_years, selector.max_years
                if (low is not None and low < 0) or (high is not None and high < 0) or (
                        low is not None and high is not None and low > high):
                    yield Diagnostic("age.invalid-band",
                                     "an age band needs 0 <= from <= to (e.g. `age 0..17`)",
                                     selector.span)
    yield from _check_rates(policy)
    yield from _check_therapy(policy)


def _check_therapy(policy: nodes.Policy) -> Iterator[Diagnostic]:
    """A `days supply <= D2` next to `therapy <= D days` (same target, channel, selectors and
    date) with D2 >= D rejects nothing the course rule does not: a claim of more than D2 days
    is itself a course of more than D days. Unless the cap is hard and the course rule is not
    (an authorization lifts only the course), it is a leftover."""
    courses = [(lim, lim.rule) for lim in policy.limits if isinstance(lim.rule, nodes.TherapyMax)]
    for cap in policy.limits:
        if not isinstance(cap.rule, nodes.DaysSupplyMax):
            continue
        course = next((rule for lim, rule in courses
                       if lim.target == cap.target and lim.channel == cap.channel
                       and lim.when == cap.when and lim.since == cap.since
                       and rule.days <= cap.rule.days and (lim.hard or not cap.hard)), None)
        if course is not None:
            yield Diagnostic(
                "limit.days-supply-under-therapy",
                f"`days supply <= {cap.rule.days}` adds nothing: `therapy <= "
                f"{course.days} days` (line {course.span.line}) rejects every claim it "
                "rejects, since one claim's supply is part of its course; remove the cap",
                cap.rule.span)


def _daily_rate(rule: nodes.Rule) -> Decimal | None:
    if isinstance(rule, nodes.PerWindow) and rule.days > 0:
        return rule.quantity.amount / rule.days
    return None


def _check_rates(policy: nodes.Policy) -> Iterator[Diagnostic]:
    # Rules with a daily rate (_daily_rate): windows of at least a day.
    by_target: dict[str, list[tuple[nodes.Limit, nodes.PerWindow]]] = {}
    for limit in policy.limits:
        rule = limit.rule
        if (limit.channel is not None and not limit.when and isinstance(rule, nodes.PerWindow)
                and rule.days > 0):
            by_target.setdefault(limit.target, []).append((limit, rule))
    for target, found in by_target.items():
        unit = _target_unit(policy, target)
        windows = [(lim, rule) for lim, rule in found if rule.quantity.unit == unit]
        per_channel: dict[str | None, int] = {}
        for lim, _ in windows:
            per_channel[lim.channel] = per_channel.get(lim.channel, 0) + 1
        if len(per_channel) < 2 or max(per_channel.values()) > 1:
            continue  # one channel, or several rules in one: no single rate per channel to compare
        rates = {_daily_rate(rule) for _, rule in windows}
        if len(rates) > 1:
            described = "; ".join(
                f"{lim.channel} {_num(rule.quantity.amount)} {rule.quantity.unit} per "
                f"{rule.days} days" for lim, rule in windows)
            yield Diagnostic(
                "rate.differs-between-channels",
                f"channels allow '{target}' different daily rates ({described}); intended?",
                windows[1][0].span)


# -- facts and criteria -----------------------------------------------------------------------


def _check_facts(policy: nodes.Policy) -> Iterator[Diagnostic]:
    used = {ref for c in policy.criteria for ref in _facts_of(c.when)}
    for fact in policy.facts:
        if fact.type in ("enum", "set"):
            if not fact.values:
                yield Diagnostic("fact.type-mismatch",
                                 f"{fact.type} fact '{fact.id}' needs at least one value",
                                 fact.span)
            yield from _duplicates(f"value of fact '{fact.id}'",
                                   ((v, fact.span) for v in fact.values))
        elif fact.values:
            yield Diagnostic("fact.type-mismatch",
                             f"a {fact.type} fact has no value list; remove the values of "
                             f"'{fact.id}' or make it an enum", fact.span)
        if fact.id not in used:
            yield Diagnostic("fact.unused",
                             f"fact '{fact.id}' is not used by any criterion", fact.span)


def _facts_of(expr: nodes.Expr) -> Iterator[str]:
    return (leaf.fact for leaf in nodes.leaves(expr))


def _check_expr(policy: nodes.Policy, expr: nodes.Expr) -> Iterator[Diagnostic]:
    for leaf in nodes.leaves(expr):
        yield from _check_leaf(policy, leaf)


def _check_leaf(policy: nodes.Policy, expr: nodes.Leaf) -> Iterator[Diagnostic]:
    fact = policy.fact(expr.fact)
    if fact is None:  # reported by name resolution (resolve.py)
        return
    match expr:
        case nodes.FactRef():
            if fact.type != "bool":
                yield Diagnostic("fact.type-mismatch",
                                 f"'{fact.id}' is a {fact.type} fact; only a bool fact stands "
                                 "alone as a condition — compare it with a value", expr.span)
        case nodes.InSet(values=values):
            if fact.type != "enum":
                yield Diagnostic("fact.type-mismatch",
                                 f"`in` needs an enum fact; '{fact.id}' is {fact.type}"
                                 + ("; use `<=` for a set fact" if fact.type == "set" else ""),
                                 expr.span)
            else:
                yield from _check_values(fact, values, expr.span)
        case nodes.Subset(values=values):
            if fact.type != "set":
                yield Diagnostic("fact.type-mismatch",
                                 f"`<=` with a set of values needs a set fact; '{fact.id}' is "
                                 f"{fact.type}" + ("; use `in` for an enum fact"
                                                   if fact.type == "enum" else ""), expr.span)
            else:
                yield from _check_values(fact, values, expr.span)
        case nodes.Compare(op=compare_op, value=value):
            yield from _check_compare(fact, compare_op, value, expr.span)


def _check_values(fact: nodes.Fact, values: tuple[str, ...], span: Span) -> Iterator[Diagnostic]:
    for value in values:
        if value not in fact.values:
            yield Diagnostic("fact.unknown-value",
                             f"'{value}' is not a value of fact '{fact.id}' "
                             f"(values: {', '.join(fact.values)})", span)


def _check_compare(fact: nodes.Fact, op: str, value: nodes.Value,
                   span: Span) -> Iterator[Diagnostic]:
    if fact.type == "set":
        yield Diagnostic("fact.type-mismatch",
                         f"set fact '{fact.id}' is compared with `<=` and a set of values, "
                         "e.g. `sites <= {hands, wrists}`", span)
        return
    expected = {"bool": bool, "number": Decimal, "date": dt.date, "enum": str}[fact.type]
    if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
        shown = {"bool": "true or false", "number": "a number", "date": "a date",
                 "enum": "one of its values"}[fact.type]
        yield Diagnostic("fact.type-mismatch",
                         f"'{fact.id}' is a {fact.type} fact; compare it with {shown}", span)
        return
    if fact.type in ("bool", "enum") and op not in ("==", "!="):
        yield Diagnostic("fact.type-mismatch",
                         f"'{op}' orders numbers and dates; an {fact.type} fact takes == or !="
                         if fact.type == "enum" else
                         f"'{op}' orders numbers and dates; a {fact.type} fact takes == or !=",
                         span)
    if fact.type == "enum" and value not in fact.values:
        yield from _check_values(fact, (value,), span)  # type: ignore[arg-type]


def _check_criteria(policy: nodes.Policy) -> Iterator[Diagnostic]:
    targets = {p.id for p in policy.products} | {g.id for g in policy.groups}
    channels = {c.id for c in policy.channels}
    for criterion in policy.criteria:
        expr_findings = list(_check_expr(policy, criterion.when))
        yield from expr_findings
        facts_known = all(policy.fact(leaf.fact) is not None
                          for leaf in nodes.leaves(criterion.when))
        if not expr_findings and facts_known and not _satisfiable(policy, criterion.when):
            yield Diagnostic("criterion.unsatisfiable",
                             f"the condition of criterion '{criterion.id}' can never be true; "
                             "check for contradicting tests of the same fact", criterion.when.span)
        if criterion.duration is not None:
            yield from _check_duration(criterion.duration)
        if not criterion.approves and not criterion.approves_requested:
            # A review never tries it for a request that names a product, and would approve one
            # that names none with an authorization for no product (docs/language.md, Criteria).
            yield Diagnostic("criterion.approves-nothing",
                             f"criterion '{criterion.id}' approves nothing, so no request for a "
                             "product can be approved under it; add `approve PRODUCT { CHANNEL "
                             "RULE }` (to authorize without raising the limit, approve the base "
                             "limit itself) or `approve requested`", criterion.span)
        duration = criterion.duration or policy.approval_duration
        if (duration is not None and duration.kind in nodes.REQUESTED_DURATIONS
                and not criterion.approves_requested):
            inherited = "" if criterion.duration is not None else " (the policy's duration)"
            lasts = nodes.REQUESTED_DURATIONS[duration.kind]
            yield Diagnostic("criterion.as-requested-without-requested",
                             f"criterion '{criterion.id}' lasts `{lasts}`"
                             f"{inherited}, but only a criterion that says `approve requested` "
                             "has a request whose end date it could use; add `approve requested` "
                             "or state a fixed duration", duration.span)
        if criterion.approves and criterion.approves_requested:
            yield Diagnostic("criterion.requested-and-limits",
                             f"criterion '{criterion.id}' approves both the quantity requested "
                             "and stated limits; keep one (a review could not say which applies)",
                             criterion.span)
        # a renewal of an unknown criterion is reported by name resolution (resolve.py)
        if criterion.renews is not None and criterion.renews == criterion.id:
            yield Diagnostic("criterion.renews-unknown",
                             f"criterion '{criterion.id}' renews '{criterion.renews}', which is "
                             "not another criterion of this policy", criterion.span)
        if criterion.renews is not None and criterion.serves == "initial":
            yield Diagnostic("criterion.renews-initial-only",
                             f"criterion '{criterion.id}' renews '{criterion.renews}' but serves "
                             "initial requests only: a request with the earlier authorization a "
                             "renewal needs is a renewal request, so it could never approve; "
                             "write `for renewal requests` or drop `renews`", criterion.span)
        named_at = criterion.requested_for_span
        for index, target in enumerate(criterion.requested_for):
            if target in criterion.requested_for[:index]:
                yield Diagnostic(
                    "criterion.duplicate-field",
                    f"criterion '{criterion.id}' already names '{target}' in `approve requested`; "
                    "keep one", known_or(named_at[index] if index < len(named_at) else NO_SPAN,
                                          criterion.span))
        for approval in criterion.approves:
            if approval.target not in targets:  # reported by name resolution (resolve.py)
                continue
            if approval.channel is not None and approval.channel not in channels:
                continue  # reported by name resolution (resolve.py)
            if isinstance(approval.rule, nodes.NoLimit):
                yield Diagnostic(
                    "criterion.approves-no-limit",
                    "an approval states the limit a criterion allows; `no limit` states a gap "
                    "of the base limits (to approve what the request asks, write `approve "
                    "requested`)", approval.span)
                continue
            if isinstance(approval.rule, nodes.NotCovered):
                yield Diagnostic(
                    "criterion.approves-not-covered",
                    "an approval states what a criterion allows; `not covered` belongs to base "
                    "limits", approval.span)
                continue
            base = [lim for lim in policy.limits if lim.target == approval.target and (
                lim.channel is None or approval.channel is None
                or lim.channel == approval.channel)]
            excluded = next((lim for lim in base if isinstance(lim.rule, nodes.NotCovered)
                             and not lim.when and lim.since is None), None)
            if excluded is not None:
                yield Diagnostic(
                    "criterion.approves-not-covered",
                    f"'{approval.target}' is not covered at "
                    f"{excluded.channel or 'any channel'} (line {excluded.span.line}); no "
                    "approval can make it covered", approval.span)
                continue
            if not base:
                yield Diagnostic(
                    "criterion.channel-not-in-base",
                    f"'{approval.target}' has no base limit at "
                    f"{approval.channel or 'any channel'}; an approval replaces a base limit",
                    approval.span)
            yield from _check_rule(policy, approval.target, approval.rule, is_base=False)
            yield from _approves_less(approval, base)
    yield from _check_initial_served(policy)


def _check_initial_served(policy: nodes.Policy) -> Iterator[Diagnostic]:
    """A warning when every criterion serves renewal requests only: no request without an earlier
    authorization can be approved. Not an error: the first authorization may come from outside
    the policy (a payer's PA program), but usually `for initial requests` was forgotten."""
    if not policy.criteria or any(c.serves != "renewal" for c in policy.criteria):
        return
    first = policy.criteria[0]
    yield Diagnostic("criterion.no-initial",
                     f"every criterion serves renewal requests only (from '{first.id}' on): a "
                     "request without an earlier authorization is always denied; add a criterion "
                     "`for initial requests` (or unmarked) unless the first authorization comes "
                     "from outside this policy", first.span)


def _approves_less(approval: nodes.Approval, base: list[nodes.Limit]) -> Iterator[Diagnostic]:
    for limit in base:
        if type(limit.rule) is not type(approval.rule) or limit.hard:
            continue
        old, new = limit.rule, approval.rule
        if isinstance(new, (nodes.PerWindow, nodes.PerFill, nodes.PerDay)):
            old_rate = _daily_rate(old) if isinstance(old, nodes.PerWindow) else old.quantity.amount  # type: ignore[union-attr]
            new_rate = _daily_rate(new) if isinstance(new, nodes.PerWindow) else new.quantity.amount
            less = new_rate is not None and old_rate is not None and new_rate < old_rate
        elif isinstance(new, nodes.FillsPerWindow):
            less = new.fills * old.days < old.fills * new.days  # type: ignore[union-attr]
        elif isinstance(new, nodes.DailyDose):
            assert isinstance(old, nodes.DailyDose)
            less = (new.measure, new.unit) == (old.measure, old.unit) and (
                new.limit < old.limit or (new.limit == old.limit and new.op < old.op))
        elif isinstance(new, nodes.FirstFill):
            assert isinstance(old, nodes.FirstFill)
            less = new.days < old.days or new.lookback < old.lookback
        else:
            less = new.days < old.days  # type: ignore[union-attr]
        if less:
            yield Diagnostic(
                "criterion.approves-less",
                f"this approval allows less than the base limit it replaces (line "
                f"{limit.span.line}); an exception should approve more", approval.span)


# -- satisfiability ---------------------------------------------------------------------------


def _candidates_of(fact: nodes.Fact | None, fact_id: str, expr: nodes.Expr) -> list[object]:
    """Values of one fact that between them meet every truth combination of its tests."""
    assert fact is not None
    if fact.type == "bool":
        return [True, False]
    if fact.type == "enum":
        return list(fact.values)
    if fact.type == "set":
        return [frozenset(c) for r in range(len(fact.values) + 1)
                for c in itertools.combinations(fact.values, r)]
    constants = sorted({e.value for e in nodes.leaves(expr)
                        if isinstance(e, nodes.Compare) and e.fact == fact_id})
    if not constants:
        return [None]
    step: object = Decimal(1) if fact.type == "number" else dt.timedelta(days=1)
    values: list[object] = []
    for edge, shift in ((constants[0], -1), (constants[-1], 1)):
        # 0001-01-01 has no day before it, 9999-12-31 none after
        with contextlib.suppress(OverflowError):
            values.append(edge - step if shift < 0 else edge + step)  # type: ignore[operator]
    for low, high in itertools.pairwise(constants):
        values.append(low + (high - low) / 2 if fact.type == "number" else low + step)  # type: ignore[operator]
    return values + list(constants)


def _truth(expr: nodes.Expr, env: dict[str, object]) -> bool:
    match expr:
        case nodes.And(operands=ops):
            return all(_truth(op, env) for op in ops)
        case nodes.Or(operands=ops):
            return any(_truth(op, env) for op in ops)
        case nodes.Not(operand=op):
            return not _truth(op, env)
        case nodes.FactRef(fact=f):
            return env[f] is True
        case nodes.InSet(fact=f, values=values):
            return env[f] in values
        case nodes.Subset(fact=f, values=values):
            return env[f] <= frozenset(values)  # type: ignore[operator]
        case nodes.Compare(fact=f, op=op, value=value):
            actual = env[f]
            if op == "==":
                return actual == value
            if op == "!=":
                return actual != value
            if actual is None:
                return False
            return {"<": actual < value, "<=": actual <= value, ">": actual > value,  # type: ignore[operator]
                    ">=": actual >= value}[op]  # type: ignore[operator]
    raise AssertionError(expr)


def _satisfiable(policy: nodes.Policy, expr: nodes.Expr) -> bool:
    """Whether some answers make the condition true (exhaustive over the relevant values).

    Only the facts the condition uses vary, and a number or date fact only takes values around
    the constants it is compared with, so the search is exact. Too large a search → assume true.
    """
    facts = tuple(sorted(set(_facts_of(expr))))
    # The answer depends on the condition and the declarations of its facts only (IR equality
    # ignores spans), and plans reuse criteria across many policies: remember it.
    return _satisfiable_cached(expr, facts, tuple(policy.fact(f) for f in facts))


@functools.lru_cache(maxsize=4096)
def _satisfiable_cached(expr: nodes.Expr, facts: tuple[str, ...],
                        declarations: tuple[nodes.Fact | None, ...]) -> bool:
    by_id = dict(zip(facts, declarations, strict=True))
    domains = [_candidates_of(by_id[f], f, expr) for f in facts]
    size = 1
    for domain in domains:
        size *= len(domain)
    if size > MAX_ASSIGNMENTS:
        return True
    return any(_truth(expr, dict(zip(facts, combo, strict=True)))
               for combo in itertools.product(*domains))


# -- history ----------------------------------------------------------------------------------


def _check_history(policy: nodes.Policy) -> Iterator[Diagnostic]:
    dates = [r.date for r in policy.history]
    ascending = all(a <= b for a, b in itertools.pairwise(dates))
    descending = all(a >= b for a, b in itertools.pairwise(dates))
    if not (ascending or descending):
        for previous, revision in itertools.pairwise(policy.history):
            if revision.date < previous.date and dates[0] <= dates[1]:
                culprit = revision
                break
            if revision.date > previous.date and dates[0] >= dates[1]:
                culprit = revision
                break
        else:  # pragma: no cover - one of the pairs above must break the order
            culprit = policy.history[-1]
        yield Diagnostic("history.out-of-order",
                         f"revision of {culprit.date.isoformat()} breaks the date order of the "
                         "history; list revisions oldest first or newest first", culprit.span)
    for revision in policy.history:
        # A blank summary would publish an empty history cell; leaving the summary out lets the
        # build write one from a kept earlier version (`dqmc diff`).
        if revision.summary is not None and not revision.summary.strip():
            yield Diagnostic("history.empty-summary",
                             f"the revision of {revision.date.isoformat()} has an empty summary; "
                             "say what changed, or leave the summary out", revision.span)
    if policy.review_date is not None:
        for revision in policy.history:
            if nodes.surely_after(revision.date, policy.review_date):
                yield Diagnostic(
                    "date.order",
                    f"revision of {revision.date.isoformat()} is after the review date "
                    f"{policy.review_date.isoformat()}; update the review date", revision.span)
    review = policy.review_date
    if (policy.effective_date is not None and review is not None
            and nodes.surely_after(policy.effective_date,
                                   review + dt.timedelta(days=3660) if isinstance(review, dt.date)
                                   else nodes.Month(review.year + 10, review.month))):
        yield Diagnostic("date.order", "the effective date is more than ten years after the "
                         "review date; check both", policy.span)
