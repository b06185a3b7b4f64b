"""The reference evaluator of claims: docs/semantics.md §1-§5, walking a policy's IR per call.

Both evaluators read input and write decisions through `dqmc.runtime`, which fixes the reject
codes of malformed input, the wording of messages and traces, and how rule checks become one
decision (`runtime.conclude`); what this module decides itself — matching, selecting the lines
in force, history scopes, authorizations and each rule — is written out here over the IR, so the
generated code (`runtime.decide` over tables) is checked against an independent implementation.
"""

from __future__ import annotations

import dataclasses
import decimal
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from dqmc import runtime as rt
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.ir import nodes
from dqmc.lang.ir.queries import (
    authorization_source,
    claim_routes,
    drug_file_noun,
    group_of,
    history_days,
    known_channels,
    location,
    own_products,
    package_size,
    policy_criterion,
    product_ndcs,
    rule_fields,
    rule_text,
    scope_ndcs,
    scope_products,
)

_THOUSANDTH = Decimal("0.001")  # quantities are counted in thousandths (NCPDP 442-E7)

# ---------------------------------------------------------------------------------------------
# Public API


def evaluate(compiled: CompiledPolicy, claim: object) -> dict:
    """The decision for one claim under this version of one policy, whatever the claim's date,
    as JSON data (docs/semantics.md §8.1), as a generated policy module decides; never raises."""
    return _evaluate_one(compiled, claim, dated=False)


def evaluate_policy(compiled: CompiledPolicy, claim: object, *,
                    as_of: date | None = None) -> dict:
    """The decision for one claim under one policy, by the version in force on its date of
    service (§2.7), or on `as_of` when given, as the generated registry's `evaluate_policy`;
    never raises on claim data. ValueError when no version is in force on `as_of`."""
    if as_of is not None:
        version = compiled.version_as_of(as_of)
        decision = _evaluate_one(version, claim, dated=False)
        if not compiled.dated:
            return decision
        return rt.version_step(decision, rt.BY_AS_OF, as_of.isoformat(), _period(version),
                               location(version.policy))
    return _evaluate_one(compiled, claim, dated=True)


def _evaluate_one(compiled: CompiledPolicy, claim: object, *, dated: bool) -> dict:
    """A claim read and decided by this policy; `dated`: by its version on the claim's date."""
    with rt.evaluation_context():
        parsed = rt.parse_claim(claim)
        if isinstance(parsed, rt.Rejection):
            return rt.rejected_input(parsed, compiled.policy.id, compiled.content_hash,
                                     location(compiled.policy))
        return _decide_dated(compiled, parsed) if dated else _decide_claim(compiled, parsed)


def decide(compiled: CompiledPolicy, claim: object) -> rt.Decision:
    """The typed decision for one claim under one policy."""
    return rt.Decision.from_dict(evaluate(compiled, claim))


def evaluate_many(compiled: Sequence[CompiledPolicy], claim: object) -> dict:
    """The decision across policies, dispatched by product id or NDC like the generated registry.

    Policies are consulted in policy-id order; the first that names the product (or NDC) decides.
    """
    with rt.evaluation_context():
        parsed = rt.parse_claim(claim)
        if isinstance(parsed, rt.Rejection):
            return rt.rejected_input(parsed, None, None, None)
        by_product, by_ndc = claim_routes(sorted(compiled, key=lambda c: c.policy.id))
        named = by_product.get(parsed.product) if parsed.product is not None else None
        coded = by_ndc.get(parsed.ndc) if parsed.ndc is not None else None
        if named is not None and coded is not None and named is not coded:
            detail = f"product {parsed.product} and ndc {parsed.ndc} belong to different policies"
            return rt.rejected_input(
                rt.Rejection(rt.CODE_PRODUCT, "PRODUCT/NDC MISMATCH", detail),
                None, None, None, claim=parsed, steps=(rt.validated_step(None),), step="match")
        chosen = named or coded
        if chosen is None:
            reason = ("match", "skip", f"no policy covers {_product_named(parsed)}", None)
            return rt.not_applicable(parsed, None, None, (rt.validated_step(None),), reason)
        return _decide_dated(chosen, parsed)


def decide_many(compiled: Sequence[CompiledPolicy], claim: object) -> rt.Decision:
    """The typed decision across policies."""
    return rt.Decision.from_dict(evaluate_many(compiled, claim))


# ---------------------------------------------------------------------------------------------
# Evaluation


@dataclass(frozen=True)
class _Rule:
    """A rule in force for a claim: what it says, whose history counts, and where it came from."""

    rule: nodes.Rule
    products: tuple[str, ...]
    ndcs: tuple[str, ...]
    limit: rt.AppliedLimit
    source: str | None
    hard: bool = False
    line: nodes.Limit | None = None  # the base line it comes from (exclusions, soft edit, code)

    @property
    def text(self) -> str:
        return self.limit.text + (" (hard)" if self.hard else "")


def _decide_dated(compiled: CompiledPolicy, claim: rt.Claim) -> dict:
    """The claim decided by the version of the policy in force on its date of service (§2.7)."""
    if not compiled.dated:
        return _decide_claim(compiled, claim)
    day = claim.date_of_service
    version = compiled.version_on(day)
    if version is None:
        first = compiled.versions[0]
        return rt.before_first_version(claim, compiled.policy.id, first.content_hash,
                                       day.isoformat(), str(first.first_day),
                                       location(first.policy))
    return rt.version_step(_decide_claim(version, claim), rt.BY_SERVICE, day.isoformat(),
                           _period(version), location(version.policy))


def _period(version: CompiledPolicy) -> str:
    return rt.period_text(version.first_day, version.last_day)


def _product_named(claim: rt.Claim) -> str:
    return f"product {claim.product}" if claim.product is not None else f"ndc {claim.ndc}"


def _decide_claim(compiled: CompiledPolicy, claim: rt.Claim) -> dict:
    policy = compiled.policy
    policy_id, policy_hash = policy.id, compiled.content_hash
    steps = [rt.validated_step(location(policy))]

    def refuse(code: str, text: str, detail: str, source: str | None, step: str) -> dict:
        return rt.rejected_input(rt.Rejection(code, rt.message(text), detail), policy_id,
                                 policy_hash, source, claim=claim, steps=steps, step=step)

    def skip(step: str, detail: str, source: str | None) -> dict:
        reason = (step, "skip", detail, source)
        return rt.not_applicable(claim, policy_id, policy_hash, steps, reason)

    # Step 2: match the product, its unit and the channel.
    matched = _match_product(policy, claim)
    if matched is None:
        return skip("match", f"no product of this policy is {_product_named(claim)}",
                    location(policy))
    if isinstance(matched, rt.Rejection):
        return refuse(matched.code, matched.message, matched.detail, location(policy), "match")
    product, package = matched
    if claim.unit != product.unit:
        return refuse(rt.CODE_UNIT_MISMATCH, f"UNIT MUST BE {rt.unit_message(product.unit)}",
                      f"unit {claim.unit} is not {product.unit}, the billing unit of {product.id}",
                      location(product), "match")
    channel = claim.channel
    if channel not in known_channels(policy):
        return refuse(rt.CODE_CHANNEL, "UNKNOWN CHANNEL",
                      f"channel {channel} is not one of {', '.join(known_channels(policy))}",
                      location(policy), "match")
    steps.append(rt.matched_step(product.id, channel, location(product)))

    # Step 3: the base limits in force for this product, channel and claim.
    group = group_of(policy, product.id)
    targets = (product.id,) if group is None else (product.id, group.id)
    # A `no limit` line is never a candidate: the claims it selects have no limit, as claims
    # no line selects have none (docs/semantics.md §4.1).
    candidates = [lim for lim in policy.limits
                  if lim.target in targets and lim.channel in (None, channel)
                  and not isinstance(lim.rule, nodes.NoLimit)]
    if not candidates:
        return skip("select", f"no limit for {product.id} at {channel}", location(policy))
    billed = _in_billing_units(policy, claim)
    if isinstance(billed, tuple):
        index, entry, owner = billed
        text, detail = rt.history_unit_texts(index, entry, owner.id, owner.unit)
        return refuse(rt.CODE_UNIT_MISMATCH, text, detail, location(owner), "match")
    claim = rt.with_history(claim, tuple(billed))
    own_scope = own_products(policy, product)
    own = (own_scope, scope_ndcs(policy, own_scope))
    size = package_size(product, package)

    # A package size from the drug file: the claim brings it, and prior fills are counted in
    # packages of that size.
    if product.drug_file_sized:
        if claim.package_size is None:
            return refuse(rt.CODE_PRODUCT, "PACKAGE SIZE NEEDED",
                          f"the package size of {product.id} comes from the drug file; the claim"
                          " has no package_size", location(product), "match")
        size = claim.package_size
        sized = rt.sized_history(claim.history, claim.claim_id, claim.ndc, own[0], own[1],
                                 rt.milli(size))
        if sized and isinstance(sized[0], int):
            text, detail = rt.unsized_history_texts(sized[0], sized[1], product.id)
            return refuse(rt.CODE_RECORD, text, detail, location(product), "match")
        claim = rt.with_history(claim, sized)
    unmeasured = _unmeasured_supply(policy, product, targets, channel, claim)
    if unmeasured is not None:
        index, entry, rule_line = unmeasured
        text, detail = rt.missing_supply_texts(index, entry, rule_line)
        return refuse(rt.CODE_RECORD, text, detail, rule_line, "match")
    selected = []
    for lim in candidates:
        chosen = _selectors_hold(lim, claim, package)
        if isinstance(chosen, rt.Rejection):
            return refuse(chosen.code, chosen.message, chosen.detail, location(lim), "select")
        if chosen:
            selected.append(lim)
    if not selected:
        return skip("select", f"no limit for {product.id} at {channel} applies to this claim",
                    location(candidates[0]))
    for lim in selected:
        if isinstance(lim.rule, nodes.NotCovered):  # no authorization can make it covered
            text, detail = rt.not_covered_texts(product.id, channel)
            return refuse(rt.CODE_NOT_COVERED, text, detail, location(lim), "select")
    base = [_sized(policy, _base_rule(policy, lim), size) for lim in selected]
    hard = [r for r in base if r.hard]

    # Paid history that can count: reversals never do, and neither does the claim itself.
    history = [e for e in claim.history
               if e.status == "paid" and (claim.claim_id is None or e.claim_id != claim.claim_id)]
    cover = set(targets) | set(product_ndcs(product))

    # Prior authorization required: some authorization on the claim must cover the product.
    required = authorization_source(policy, product)
    if required is not None:
        holder = next((a for a in claim.authorizations if _meets_requirement(
            policy, a, cover, channel, own_scope, claim, history)), None)
        if holder is None:
            text, detail = rt.authorization_required_texts(
                product.id, channel, claim.date_of_service.isoformat())
            return refuse(rt.CODE_PRIOR_AUTHORIZATION, text, detail, required, "authorize")
        steps.append(rt.authorization_held_step(holder.id, product.id, required))

    # Step 3 (cont.): authorizations on file replace the soft base rules.
    options: list[tuple[rt.Authorization, list[_Rule]]] = []
    for authorization in claim.authorizations:
        if not cover.intersection(authorization.products):
            continue
        granted, why, source = _authorization_rules(policy, authorization, product, targets,
                                                    channel, own_scope, claim, history, size)
        steps.append(rt.authorization_step(authorization, granted is not None, why, source))
        if granted is not None:
            options.append((authorization, granted + hard))

    if options:
        evaluated = [(authorization, rules, _checks(policy, rules, claim, history, own))
                     for authorization, rules in options]
        # max() keeps the first of equals, so ties go to the earlier authorization.
        authorization, rules, checks = max(evaluated, key=lambda option: _generosity(option[2]))
        criterion = policy_criterion(policy, authorization.criterion)
        source = location(criterion) if criterion is not None else None
        steps.append(rt.select_step([r.text for r in rules], authorization, source))
    else:
        rules = base
        checks = _checks(policy, rules, claim, history, own)
        steps.append(rt.select_step([r.text for r in rules], None, rules[0].source))

    # Steps 4-6: every check, then the decision; a line may name its own reject code.
    failed = next((r for r, c in zip(rules, checks, strict=False) if not c.passed), None)
    code = (failed.line.reject_code if failed is not None and failed.line is not None
            else None) or policy.reject_code
    return rt.conclude(claim, policy_id, policy_hash, code, product.unit, size, steps, checks)


def _unmeasured_supply(policy: nodes.Policy, product: nodes.Product, targets: tuple[str, ...],
                       channel: str, claim: rt.Claim
                       ) -> tuple[int, rt.HistoryEntry, str] | None:
    """(index from 1, entry, the rule's spec line) of the first paid prior fill that a therapy
    rule stated at this channel (base or approved, whatever its selectors) would measure but
    that has no days_supply; None when there is none."""
    measured = (nodes.TherapyMax, nodes.DailyDose)
    rules: list[nodes.Limit | nodes.Approval] = [
        lim for lim in policy.limits if lim.target in targets
        and lim.channel in (None, channel) and isinstance(lim.rule, measured)]
    rules += [a for c in policy.criteria for a in c.approves if a.target in targets
              and a.channel in (None, channel) and isinstance(a.rule, measured)]
    if not rules:
        return None
    # A therapy rule measures its target's fills, a dose rule every product holding what it
    # counts; therapy rules are asked first, over their longest horizon, as the runtime does.
    day = claim.date_of_service
    for kind in measured:
        of_kind = [r for r in rules if isinstance(r.rule, kind)]
        if not of_kind:
            continue
        products = {p for r in of_kind for p in (
            _dose_products(policy, r.rule) if isinstance(r.rule, nodes.DailyDose)
            else scope_products(policy, r.target))}
        ndcs = set(scope_ndcs(policy, sorted(products)))
        first = day.toordinal() - max(history_days(r.rule) for r in of_kind) + 1
        for index, entry in enumerate(claim.history, 1):
            if (entry.status == "paid" and entry.days_supply is None
                    and (claim.claim_id is None or entry.claim_id != claim.claim_id)
                    and (entry.product in products or entry.ndc in ndcs)
                    and first <= entry.date_of_service.toordinal()
                    and entry.date_of_service <= day):
                return index, entry, location(of_kind[0])
    return None


def _meets_requirement(policy: nodes.Policy, authorization: rt.Authorization, cover: set[str],
                       channel: str, own_scope: tuple[str, ...], claim: rt.Claim,
                       history: list[rt.HistoryEntry]) -> bool:
    """Whether an authorization meets a prior authorization requirement (docs/semantics.md §2.6)."""
    day = claim.date_of_service
    if not cover.intersection(authorization.products) or authorization.status == "revoked":
        return False
    if not authorization.effective_from <= day <= authorization.effective_through:
        return False
    if authorization.channels and channel not in authorization.channels:
        return False
    return (authorization.max_fills is None
            or _fills_used(policy, authorization, own_scope, history) < authorization.max_fills)


def _fills_used(policy: nodes.Policy, authorization: rt.Authorization,
                own_scope: tuple[str, ...], history: list[rt.HistoryEntry]) -> int:
    """Paid fills of the product's scope inside the authorization's dates."""
    ndcs = scope_ndcs(policy, own_scope)
    first, last = authorization.effective_from, authorization.effective_through
    return sum(1 for e in history if first <= e.date_of_service <= last
               and (e.product in own_scope or e.ndc in ndcs))


def _match_product(policy: nodes.Policy, claim: rt.Claim
                   ) -> tuple[nodes.Product, nodes.Package | None] | rt.Rejection | None:
    """The claim's product and package in this policy; None when the policy does not cover it."""
    coded = _by_ndc(policy).get(claim.ndc) if claim.ndc is not None else None
    if claim.product is not None:
        product = policy.product(claim.product)
        if product is None:
            if coded is None:
                return None
            return rt.Rejection(rt.CODE_PRODUCT, "PRODUCT/NDC MISMATCH",
                                f"ndc {claim.ndc} is {coded[0].id}, not {claim.product}")
        if coded is not None and coded[0] is not product:
            return rt.Rejection(rt.CODE_PRODUCT, "PRODUCT/NDC MISMATCH",
                                f"ndc {claim.ndc} is {coded[0].id}, not {claim.product}")
        if coded is None and claim.ndc is not None and product_ndcs(product):
            return rt.Rejection(rt.CODE_PRODUCT, "NDC NOT FOR PRODUCT",
                                f"ndc {claim.ndc} is not an NDC of {product.id}")
    elif coded is None:
        return None
    else:
        product = coded[0]
    package = coded[1] if coded is not None else None
    if claim.package is not None:
        named = next((p for p in product.packages if p.id == claim.package), None)
        if named is None:
            return rt.Rejection(rt.CODE_PRODUCT, "UNKNOWN PACKAGE",
                                f"package {claim.package} is not a package of {product.id}")
        if package is not None and named is not package:
            return rt.Rejection(rt.CODE_PRODUCT, "PACKAGE/NDC MISMATCH",
                                f"ndc {claim.ndc} is package {package.id}, not {claim.package}")
        package = named
    return product, package


def _by_ndc(policy: nodes.Policy) -> dict[str, tuple[nodes.Product, nodes.Package | None]]:
    """Each NDC the policy lists: its product, and its package when listed under one."""
    by_ndc: dict[str, tuple[nodes.Product, nodes.Package | None]] = {}
    for listed in policy.products:
        for ndc in listed.ndcs:
            by_ndc.setdefault(ndc, (listed, None))
        for packaged in listed.packages:
            for ndc in packaged.ndcs:
                by_ndc.setdefault(ndc, (listed, packaged))
    return by_ndc


def _in_billing_units(policy: nodes.Policy, claim: rt.Claim
                      ) -> list[rt.HistoryEntry] | tuple[int, rt.HistoryEntry, nodes.Product]:
    """docs/semantics.md §3.1, *Units*: the claim's history with each paid fill of a product of
    the policy (not the claim itself) that states another unit than that product's billing unit
    counted in packages of the size the policy states for it (only `each` can be), rounded up
    to a thousandth; or (index from 1, entry, its product) of the first that cannot be."""
    by_ndc = _by_ndc(policy)
    out = []
    for index, entry in enumerate(claim.history, 1):
        if (entry.unit is None or entry.status != "paid"
                or (claim.claim_id is not None and entry.claim_id == claim.claim_id)):
            out.append(entry)
            continue
        coded = by_ndc.get(entry.ndc) if entry.ndc is not None else None
        product = policy.product(entry.product) if entry.product is not None else None
        if product is None and coded is not None:
            product = coded[0]
        if product is None or entry.unit == product.unit:
            out.append(entry)
            continue
        package = coded[1] if coded is not None and coded[0] is product else None
        size = package_size(product, package)
        if entry.unit != "each" or size is None:
            return index, entry, product
        counted = (entry.quantity * size).quantize(_THOUSANDTH, rounding=decimal.ROUND_CEILING)
        out.append(rt.HistoryEntry(
            date_of_service=entry.date_of_service, quantity=counted, status=entry.status,
            claim_id=entry.claim_id, product=entry.product, ndc=entry.ndc,
            days_supply=entry.days_supply, channel=entry.channel,
            package_size=entry.package_size, unit=product.unit))
    return out


def _selectors_hold(limit: nodes.Limit, claim: rt.Claim,
                    package: nodes.Package | None) -> bool | rt.Rejection:
    """Whether every selector of a limit holds for the claim; a Rejection if one cannot be told.

    A rule implemented on a later date than the claim's does not apply, whatever else the claim
    lacks: that is decided first."""
    if limit.since is not None and claim.date_of_service < limit.since:
        return False
    for selector in limit.when:
        if isinstance(selector, nodes.AgeBand):
            if claim.birth_date is None:
                return rt.Rejection(rt.CODE_BIRTH_DATE, "M/I DATE OF BIRTH",
                                    f"the limit at {location(limit)} depends on age and the claim "
                                    "has no member.birth_date")
            age = rt.age_on(claim.birth_date, claim.date_of_service)
            if selector.min_years is not None and age < selector.min_years:
                return False
            if selector.max_years is not None and age > selector.max_years:
                return False
        else:
            if package is None:
                return rt.Rejection(rt.CODE_PRODUCT, "PACKAGE NOT IDENTIFIED",
                                    f"the limit at {location(limit)} depends on the package and "
                                    "neither the ndc nor the claim's package names one")
            if package.id != selector.package:
                return False
    return True


def _applied(rule: nodes.Rule, source: str, authorization_id: str | None) -> rt.AppliedLimit:
    kind, quantity, unit, days, _, _ = rule_fields(rule)
    if isinstance(rule, nodes.DailyDose):
        unit = None  # a dose is not in billing units; the text names what it measures
    return rt.AppliedLimit(kind, quantity, unit, days, rule_text(rule), source, authorization_id)


def _sized(policy: nodes.Policy, r: _Rule, size: Decimal | None) -> _Rule:
    """A rule counted in packages sized by the drug file, in billing units for a claim whose
    package holds `size` (rt.sized_rule, for the IR): the count times the size, rounded down to
    a thousandth. Other rules are returned as they are."""
    if not isinstance(r.rule, nodes.QuantityRule):
        return r
    quantity = r.rule.quantity
    if not quantity.per_package or size is None:
        return r
    amount = Decimal(rt.milli_text(rt.milli(quantity.amount) * rt.milli(size) // 1000))
    rule = dataclasses.replace(r.rule, quantity=nodes.Quantity(amount=amount, unit=quantity.unit))
    note = rt.package_count_note(rt.quantity_text(quantity.amount),
                                 drug_file_noun(policy, r.rule) or "", rt.quantity_text(size),
                                 quantity.unit)
    kind, _, unit, days, _, _ = rule_fields(rule)
    limit = rt.AppliedLimit(kind, amount, unit, days, rule_text(rule) + note, r.limit.source,
                            r.limit.authorization_id)
    return dataclasses.replace(r, rule=rule, limit=limit)


def _base_rule(policy: nodes.Policy, limit: nodes.Limit) -> _Rule:
    products = scope_products(policy, limit.target)
    return _Rule(limit.rule, products, scope_ndcs(policy, products),
                 _applied(limit.rule, "base", None), location(limit), limit.hard, limit)


def _authorization_rules(policy: nodes.Policy, authorization: rt.Authorization,
                         product: nodes.Product, targets: tuple[str, ...], channel: str,
                         own_scope: tuple[str, ...], claim: rt.Claim,
                         history: list[rt.HistoryEntry], size: Decimal | None = None
                         ) -> tuple[list[_Rule] | None, str, str | None]:
    """(the rules it grants or None, why, the spec location behind it) for one authorization;
    `size` is the claim's package size, for approvals counted in drug-file packages."""
    criterion = policy_criterion(policy, authorization.criterion)
    source = location(criterion) if criterion is not None else None
    day = claim.date_of_service
    if authorization.status == "revoked":
        return None, "revoked", source
    if day < authorization.effective_from:
        return None, f"not effective until {authorization.effective_from.isoformat()}", source
    if day > authorization.effective_through:
        return None, f"expired on {authorization.effective_through.isoformat()}", source
    if authorization.channels and channel not in authorization.channels:
        return None, f"not for channel {channel}", source
    if authorization.limits:
        granted = next((g for g in authorization.limits if g.channel == channel), None)
        if granted is None:
            return None, f"grants no limit at {channel}", source
        if granted.unit != product.unit:
            why = f"grants {granted.unit}, but {product.id} is billed in {product.unit}"
            return None, why, source
        quantity = nodes.Quantity(amount=granted.quantity, unit=product.unit)
        rule: nodes.Rule = (nodes.PerFill(quantity=quantity) if granted.days is None
                            else nodes.PerWindow(quantity=quantity, days=granted.days))
        rules = [_Rule(rule, own_scope, scope_ndcs(policy, own_scope),
                       _applied(rule, "override", authorization.id), source)]
    else:
        if criterion is None:
            return None, f"criterion {authorization.criterion} is not in this policy", source
        approvals = [a for a in criterion.approves
                     if a.target in targets and a.channel in (None, channel)]
        if not approvals:
            why = f"criterion {criterion.id} approves nothing for {product.id} at {channel}"
            return None, why, source
        rules = []
        for approval in approvals:
            products = scope_products(policy, approval.target)
            rules.append(_sized(policy, _Rule(approval.rule, products,
                                              scope_ndcs(policy, products),
                                              _applied(approval.rule, "override",
                                                       authorization.id),
                                              location(approval)), size))
    if authorization.max_fills is not None:
        used = _fills_used(policy, authorization, own_scope, history)
        if used >= authorization.max_fills:
            return None, f"used {used} of {authorization.max_fills} fills", source
    return rules, "applies: " + "; ".join(r.text for r in rules), source


def _generosity(checks: Sequence[rt.RuleCheck]) -> tuple[bool, bool, Decimal]:
    """Orders rule sets from least to most generous for one claim (docs/semantics.md §5)."""
    bounds = [c.allowed for c in checks if c.allowed is not None]
    unbounded = not bounds
    return (all(c.passed for c in checks), unbounded, min(bounds) if bounds else rt.ZERO)


def _checks(policy: nodes.Policy, rules: Sequence[_Rule], claim: rt.Claim,
            history: Sequence[rt.HistoryEntry],
            own: tuple[tuple[str, ...], tuple[str, ...]]) -> list[rt.RuleCheck]:
    """Every rule's check; `own` is (products, NDCs) billed in the claim's unit (own_products)."""
    checks = [_soft(r, _check(policy, r, claim, history, own), claim) for r in rules]
    if policy.daily_rate_check:
        checks += [_daily_rate(r, claim) for r in rules if isinstance(r.rule, nodes.PerWindow)]
    return checks


def _in_window(rule: _Rule, history: Sequence[rt.HistoryEntry], start: date,
               end: date) -> list[rt.HistoryEntry]:
    return [e for e in history if start <= e.date_of_service <= end
            and (e.product in rule.products or e.ndc in rule.ndcs)]


def _soft(r: _Rule, check: rt.RuleCheck, claim: rt.Claim) -> rt.RuleCheck:
    """A rule the member is exempt from passes; a failed soft edit passes when the claim
    carries DUR/PPS codes it names (docs/semantics.md, *Daily-dose edits*)."""
    line = r.line
    if line is None:
        return check
    exempt = sorted(set(line.exempt) & claim.exclusions)
    if exempt:
        return rt.RuleCheck("exempt", True, r.limit, None, None, None, None,
                            f"{r.text}: the member is exempt ({', '.join(exempt)})", r.source,
                            check.message.split("\n")[0])
    if check.passed:
        return check
    for override in line.overrides:
        wanted = (override.reason, override.service, override.result)
        if any(all(w is None or w == sent for w, sent in zip(wanted, entry, strict=True))
               for entry in claim.dur_pps):
            codes = rt.dur_codes_text(wanted)
            return check._replace(step="dur_override", passed=True, allowed=None,
                                  detail=f"{check.detail}; passed by DUR/PPS {codes}",
                                  message=rt.message(f"SOFT EDIT PASSED BY DUR/PPS {codes}"))
    return check


def _dose_products(policy: nodes.Policy, rule: nodes.DailyDose) -> tuple[str, ...]:
    """Every product holding something a dose rule counts."""
    table = policy.factor_table(rule.measure)
    return tuple(p.id for p in policy.products if any(
        (c.ingredient == rule.measure) if table is None else table.factor(c.ingredient) is not None
        for c in p.contents))


def _per_unit(policy: nodes.Policy, rule: nodes.DailyDose, product: nodes.Product) -> Fraction:
    """What one billing unit of a product adds to a dose rule's measure per day of supply."""
    table = policy.factor_table(rule.measure)
    total = Fraction(0)
    for content in product.contents:
        if table is None:
            factor = Decimal(1) if content.ingredient == rule.measure else None
        else:
            factor = table.factor(content.ingredient)
        if factor is not None:
            total += Fraction(content.amount) * Fraction(factor)
    return total


def _daily_dose(policy: nodes.Policy, r: _Rule, rule: nodes.DailyDose, claim: rt.Claim,
                history: Sequence[rt.HistoryEntry]) -> rt.RuleCheck:
    """This claim's daily dose plus every active prior fill's, each quantity × per unit ÷ days
    supply; a fill is active from its date of service through its last day of supply."""
    by_ndc = {ndc: p for p in policy.products for ndc in product_ndcs(p)}
    day = claim.date_of_service
    parts: list[tuple[str, Fraction]] = []
    for entry in history:
        held = policy.product(entry.product) if entry.product is not None else None
        if held is None and entry.ndc is not None:
            held = by_ndc.get(entry.ndc)
        if held is None or held.id not in _dose_products(policy, rule):
            continue
        # A supply lasts at most 999 days: an older fill, or one after the claim, is not active
        if not 0 <= (day - entry.date_of_service).days < rt.MAX_DAYS_SUPPLY:
            continue
        assert entry.days_supply is not None  # refused before the checks (_unmeasured_supply)
        last = entry.date_of_service.toordinal() + entry.days_supply - 1
        if entry.date_of_service <= day and day.toordinal() <= last:
            share = (Fraction(entry.quantity) * _per_unit(policy, rule, held)
                     / entry.days_supply)
            parts.append((f"{entry.date_of_service.isoformat()} {entry.product or entry.ndc}",
                          share))
    others = sum((share for _, share in parts), Fraction(0))
    own = policy.product(claim.product) if claim.product is not None else by_ndc[claim.ndc or ""]
    per_unit = _per_unit(policy, rule, own) if own is not None else Fraction(0)
    mine = Fraction(claim.quantity) * per_unit / claim.days_supply
    total = others + mine
    limit = Fraction(rule.limit)
    below = rule.op == "<"
    passed = total < limit if below else total <= limit
    allowed = None
    if per_unit:
        # The most this claim may hold (whole thousandths) with the total still within bounds
        most = (limit - others) * claim.days_supply / per_unit
        thousandths = math.floor(most * 1000)
        if below and Fraction(thousandths, 1000) == most:
            thousandths -= 1
        if own is not None and own.unit == "each":  # whole units: no 59.999 tablets
            thousandths = thousandths // 1000 * 1000
        allowed = Decimal(max(thousandths, 0)).scaleb(-3)
    unit_label = rule_fields(rule)[2] or ""
    message = rt.rule_message(*rule_fields(rule))
    if not passed:
        first = line.overrides[0] if (line := r.line) is not None and line.overrides else None
        message += "\n" + rt.dose_lines(unit_label, _pair(total), None if first is None else
                                        (first.reason, first.service, first.result))
    return rt.RuleCheck("daily_dose", passed, r.limit, allowed, None, None, None,
                        rt.dose_detail(unit_label,
                                       [rt.dose_share(label, _pair(share)) for label, share in
                                        [*parts, ("this claim", mine)]],
                                       _pair(total), below, rt.quantity_text(rule.limit), passed),
                        r.source, message)


def _pair(value: Fraction) -> tuple[int, int]:
    return value.numerator, value.denominator


def _first_fill(r: _Rule, rule: nodes.FirstFill, claim: rt.Claim,
                history: Sequence[rt.HistoryEntry]) -> rt.RuleCheck:
    """A member with no paid fill of the rule's scope in the look-back days before the date
    of service may have at most the rule's days supply."""
    day = claim.date_of_service
    earlier = [e.date_of_service for e in history if (e.product in r.products or e.ndc in r.ndcs)
               and (day - e.date_of_service).days in range(1, rule.lookback + 1)]
    last = max(earlier).toordinal() if earlier else None
    passed = last is not None or claim.days_supply <= rule.days
    return rt.RuleCheck("first_fill", passed, r.limit, None, None, None, None,
                        rt.first_fill_detail(last, rule.lookback, claim.days_supply, rule.days,
                                             passed),
                        r.source, rt.rule_message(*rule_fields(rule)))


def _check(policy: nodes.Policy, r: _Rule, claim: rt.Claim, history: Sequence[rt.HistoryEntry],
           own: tuple[tuple[str, ...], tuple[str, ...]]) -> rt.RuleCheck:
    rule = r.rule
    if isinstance(rule, nodes.DailyDose):
        return _daily_dose(policy, r, rule, claim, history)
    if isinstance(rule, nodes.FirstFill):
        return _first_fill(r, rule, claim, history)
    requested, days_supply, end = claim.quantity, claim.days_supply, claim.date_of_service
    message = rt.rule_message(*rule_fields(rule))
    if isinstance(rule, nodes.PerWindow):
        limit, unit = rule.quantity.amount, rule.quantity.unit
        start = rt.window_start(end, rule.days)
        prior = sum((e.quantity for e in _in_window(r, history, start, end)), rt.ZERO)
        passed = prior + requested <= limit
        return rt.RuleCheck("accumulate", passed, r.limit, max(limit - prior, rt.ZERO), prior,
                            start, end,
                            rt.window_detail(start, end, prior, requested, limit, unit, passed),
                            r.source, message)
    if isinstance(rule, nodes.PerFill):
        limit, unit = rule.quantity.amount, rule.quantity.unit
        passed = requested <= limit
        return rt.RuleCheck("per_fill", passed, r.limit, limit, None, None, None,
                            rt.per_fill_detail(requested, limit, unit, passed), r.source, message)
    if isinstance(rule, nodes.PerDay):
        daily, unit = rule.quantity.amount, rule.quantity.unit
        days = days_supply if rule.max_days is None else min(days_supply, rule.max_days)
        passed = (requested <= daily * days_supply
                  and (rule.max_days is None or days_supply <= rule.max_days))
        return rt.RuleCheck("per_day", passed, r.limit, daily * days, None, None, None,
                            rt.per_day_detail(requested, days_supply, daily, unit, rule.max_days,
                                              passed),
                            r.source, message)
    if isinstance(rule, nodes.FillsPerWindow):
        start = rt.window_start(end, rule.days)
        counted = _in_window(r, history, start, end)
        passed = len(counted) + 1 <= rule.fills
        # Fills of a mixed-unit group count whatever their unit; their amounts add up only in
        # the claim's unit.
        prior = sum((e.quantity for e in counted if e.product in own[0] or e.ndc in own[1]),
                    rt.ZERO)
        allowed = None if len(counted) < rule.fills else rt.ZERO
        return rt.RuleCheck("fills", passed, r.limit, allowed, prior, start, end,
                            rt.fills_detail(start, end, len(counted), rule.fills, passed),
                            r.source, message)
    if isinstance(rule, nodes.TherapyMax):
        return _therapy(r, rule, claim, history)
    assert isinstance(rule, nodes.DaysSupplyMax), rule  # `not covered` is refused at select
    passed = days_supply <= rule.days
    return rt.RuleCheck("days_supply", passed, r.limit, None, None, None, None,
                        rt.days_supply_detail(days_supply, rule.days, passed), r.source, message)


def _therapy(r: _Rule, rule: nodes.TherapyMax, claim: rt.Claim,
             history: Sequence[rt.HistoryEntry]) -> rt.RuleCheck:
    """The course this claim continues: walking back from its date of service, any prior fill
    of the rule's scope that starts earlier and whose supply (from its own date of service)
    reaches the day before the course's first day moves that first day back to its own. Only
    fills whose supply reaches one of the D days before the claim's date are consulted. Days
    are ordinals: a supply may run past 9999-12-31."""
    day = claim.date_of_service.toordinal()
    spans = [(start, start + e.days_supply - 1) for e in history
             if (e.product in r.products or e.ndc in r.ndcs) and e.days_supply is not None
             and (start := e.date_of_service.toordinal()) <= day
             and start + e.days_supply - 1 >= day - rule.days]
    first = day
    while True:
        earlier = [start for start, last in spans if start < first and last >= first - 1]
        if not earlier:
            break
        first = min(earlier)
    passed, detail = rt.therapy_detail(first, day + claim.days_supply - 1, rule.days)
    return rt.RuleCheck("therapy", passed, r.limit, None, None, None, None, detail, r.source,
                        rt.rule_message(*rule_fields(rule)))


def _daily_rate(r: _Rule, claim: rt.Claim) -> rt.RuleCheck:
    rule = r.rule
    assert isinstance(rule, nodes.PerWindow)
    limit, unit, days = rule.quantity.amount, rule.quantity.unit, rule.days
    requested, days_supply = claim.quantity, claim.days_supply
    passed = requested * days <= limit * days_supply
    return rt.RuleCheck("daily_rate", passed, r.limit,
                        rt.daily_rate_allowed(limit, days, days_supply), None, None, None,
                        rt.daily_rate_detail(requested, days_supply, limit, days, unit, passed),
                        r.source, rt.daily_rate_message(limit, unit, days))


