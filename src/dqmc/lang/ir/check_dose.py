"""Checks of daily-dose edits: contents, factor tables, dose and first-fill rules, soft edits."""

from __future__ import annotations

import re
from collections.abc import Iterator

from dqmc.lang.diagnostics import Diagnostic
from dqmc.lang.ir import nodes
from dqmc.lang.ir.queries import dose_terms, scope_products

# NCPDP 511-FB reject codes: "76", "88", "E7" (the policy setting's pattern, lower_common)
_REJECT_CODE = re.compile(r"[A-Z0-9]{2,3}\Z")
# NCPDP DUR/PPS codes are two characters (439-E4, 440-E5, 441-E6)
_DUR_CODE = re.compile(r"[A-Z0-9]{2}\Z")
MAX_LOOKBACK_DAYS = 999


def check_doses(policy: nodes.Policy) -> Iterator[Diagnostic]:
    """Every finding about the constructs of cumulative daily-dose edits."""
    yield from _check_contents(policy)
    yield from _check_tables(policy)
    rules = [(lim.target, lim.rule) for lim in policy.limits]
    rules += [(a.target, a.rule) for c in policy.criteria for a in c.approves]
    for target, rule in rules:
        if isinstance(rule, nodes.DailyDose):
            yield from _check_dose(policy, target, rule)
        elif isinstance(rule, nodes.FirstFill):
            if rule.lookback < 1 or rule.lookback > MAX_LOOKBACK_DAYS:
                yield Diagnostic("window.non-positive" if rule.lookback < 1 else "window.too-long",
                                 f"a first-fill look-back is 1 to {MAX_LOOKBACK_DAYS} days",
                                 rule.span)
            elif rule.days > 999:
                yield Diagnostic("window.too-long",
                                 "a days supply above 999 cannot occur on a claim (NCPDP 405-D5)",
                                 rule.span)
    for limit in policy.limits:
        yield from _check_flags(limit)


def _check_contents(policy: nodes.Policy) -> Iterator[Diagnostic]:
    for product in policy.products:
        seen: set[str] = set()
        for content in product.contents:
            if content.ingredient in seen:
                yield Diagnostic("product.duplicate-content",
                                 f"'{product.id}' already states how much {content.ingredient} "
                                 "one unit holds; keep one", content.span)
            seen.add(content.ingredient)
            if content.amount <= 0:
                yield Diagnostic("quantity.non-positive",
                                 "an ingredient's amount must be greater than 0", content.span)


def _check_tables(policy: nodes.Policy) -> Iterator[Diagnostic]:
    ids: dict[str, nodes.FactorTable] = {}
    for table in policy.factor_tables:
        if (first := ids.get(table.id)) is not None:
            origins = [t.origin for t in (first, table) if t.origin is not None]
            if not origins:
                said = f"factor table '{table.id}' is already defined; keep one"
            elif len(origins) == 2:
                said = (f"factor table '{table.id}' is already used from \"{first.origin}\"; "
                        "keep one")
            else:
                said = (f"factor table '{table.id}' is both stated here and used from "
                        f"\"{origins[0]}\"; keep one")
            yield Diagnostic("factors.duplicate", said, table.span)
        ids.setdefault(table.id, table)
        if table.origin is None:
            # A used table was checked in its own file (shared_factors), where it is written.
            yield from check_table(table)
        used = any(isinstance(r, nodes.DailyDose) and r.measure == table.id
                   for r in _rules(policy))
        if not used:
            yield Diagnostic("factors.unused",
                             f"no dose rule uses factor table '{table.id}'", table.span)


def check_table(table: nodes.FactorTable) -> Iterator[Diagnostic]:
    """What is wrong with one factor table on its own, in a policy or a shared factor file."""
    if not table.factors:
        yield Diagnostic("factors.empty", f"factor table '{table.id}' lists no ingredient",
                         table.span)
    if table.source is None:
        yield Diagnostic("factors.no-source",
                         f"say where the factors of '{table.id}' come from: add "
                         "`source \"...\"` (e.g. the CDC 2022 guideline's table)",
                         table.span)
    named: set[str] = set()
    for factor in table.factors:
        if factor.ingredient in named:
            yield Diagnostic("factors.duplicate",
                             f"'{factor.ingredient}' already has a factor in '{table.id}'",
                             factor.span)
        named.add(factor.ingredient)
        if factor.factor <= 0:
            yield Diagnostic("quantity.non-positive", "a conversion factor must be above 0",
                             factor.span)


def _rules(policy: nodes.Policy) -> Iterator[nodes.Rule]:
    yield from (lim.rule for lim in policy.limits)
    yield from (a.rule for c in policy.criteria for a in c.approves)


def _check_dose(policy: nodes.Policy, target: str, rule: nodes.DailyDose
                ) -> Iterator[Diagnostic]:
    table = policy.factor_table(rule.measure)
    ingredients = {c.ingredient for p in policy.products for c in p.contents}
    if table is None and rule.measure not in ingredients:
        known = ", ".join(sorted({t.id for t in policy.factor_tables} | ingredients)) or "none"
        yield Diagnostic("dose.unknown-measure",
                         f"'{rule.measure}' is neither a factor table nor an ingredient a product"
                         f" contains (known: {known})", rule.span)
        return
    if rule.limit <= 0:
        yield Diagnostic("quantity.non-positive", "a daily-dose limit must be greater than 0",
                         rule.span)
    if table is not None and rule.unit is not None:
        yield Diagnostic("dose.unit",
                         f"a dose in '{table.id}' is counted in its own unit: write "
                         f"`dose {table.id} {rule.op} {rule.limit} per day`", rule.span)
    units = sorted({c.unit for p in policy.products for c in p.contents
                    if c.ingredient == rule.measure
                    or (table is not None and table.factor(c.ingredient) is not None)})
    if len(units) > 1:
        yield Diagnostic("dose.mixed-units",
                         f"the ingredients '{rule.measure}' counts are stated in "
                         f"{' and '.join(units)}; state them in one unit so they add up",
                         rule.span)
    elif table is None and units and rule.unit != units[0]:
        yield Diagnostic("dose.unit",
                         f"{rule.measure} is stated in {units[0]} in the products; write the "
                         f"limit in {units[0]}", rule.span)
    terms = dose_terms(policy, rule)
    for product_id in scope_products(policy, target):
        if product_id not in terms:
            yield Diagnostic("dose.no-content",
                             f"'{product_id}' contains nothing '{rule.measure}' counts, so this "
                             "rule could never count its claims; add `contains ...` to it or "
                             "limit another target", rule.span)


def _check_flags(limit: nodes.Limit) -> Iterator[Diagnostic]:
    if limit.overrides and limit.hard:
        yield Diagnostic("limit.hard-override",
                         "a hard line cannot also be passed by DUR/PPS codes; drop `hard` (a "
                         "soft edit) or the overrides (a hard one)", limit.span)
    for override in limit.overrides:
        codes = [c for c in (override.reason, override.service, override.result) if c is not None]
        for code in codes:
            if not _DUR_CODE.match(code):
                yield Diagnostic("override.code",
                                 f"'{code}' is not a DUR/PPS code (two capital letters or "
                                 "digits, e.g. \"M0\", \"1G\")", override.span)
    if limit.reject_code is not None and not _REJECT_CODE.match(limit.reject_code):
        yield Diagnostic("policy.reject-code",
                         f"reject code '{limit.reject_code}' is not an NCPDP reject code (2–3 "
                         "capital letters or digits, e.g. \"88\")", limit.span)
    seen: set[str] = set()
    for name in limit.exempt:
        if name in seen:
            yield Diagnostic("limit.duplicate-exclusion",
                             f"'{name}' is already an exclusion of this line", limit.span)
        seen.add(name)
