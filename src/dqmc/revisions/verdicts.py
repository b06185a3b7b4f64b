"""Verdicts of `dqmc diff`: per product or group and channel, stricter, looser, mixed or unknown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dqmc.lang.ir import nodes
from dqmc.lang.printers import english as words
from dqmc.revisions.direction import (
    LOOSER,
    MIXED,
    STRICTER,
    UNCHANGED,
    UNKNOWN,
    combine,
    duration_effect,
    effective_duration,
    leaf_effect,
    rule_effect,
    serves_effect,
)
from dqmc.revisions.matching import (
    canon,
    expr_key,
    grouped,
    keys_in_order,
    leaves_by_fact,
    pair_rules,
    rule_kind,
    selectors_key,
)
from dqmc.revisions.wording import channel_words, name_of


@dataclass(frozen=True)
class Verdict:
    """Whether the new version is stricter or looser for one product or group at one channel."""

    target: str
    name: str
    channel: str
    point_of_service: str  # from the base limits
    on_review: str  # from the criteria that approve exceptions

    def to_data(self) -> dict[str, Any]:
        return {"target": self.target, "name": self.name, "channel": self.channel,
                "point_of_service": self.point_of_service, "on_review": self.on_review}


def _channels(old: nodes.Policy, new: nodes.Policy) -> list[str]:
    from dqmc.lang.ir.queries import known_channels

    return list(dict.fromkeys([*known_channels(new), *known_channels(old)]))


def find_verdicts(old: nodes.Policy, new: nodes.Policy) -> list[Verdict]:
    targets = list(dict.fromkeys(
        [x.target for x in new.limits] + [a.target for c in new.criteria for a in c.approves]
        + [x.target for x in old.limits] + [a.target for c in old.criteria for a in c.approves]))
    verdicts = []
    for target in targets:
        for channel in _channels(old, new):
            at = (channel, None)
            old_limits = [x for x in old.limits if x.target == target and x.channel in at]
            new_limits = [x for x in new.limits if x.target == target and x.channel in at]
            old_approved = _approvals_at(old, target, at)
            new_approved = _approvals_at(new, target, at)
            if not (old_limits or new_limits or old_approved or new_approved):
                continue
            service, review = _limit_effects(old_limits, new_limits)
            service += _policy_effects(old, new, target, old_limits, new_limits)
            review += _review_effects(old, new, old_approved, new_approved)
            review += _requested_for_effects(old, new, target)
            verdicts.append(Verdict(target, name_of(old, new, target), channel,
                                    combine(service), combine(review)))
    return verdicts


def _approvals_at(policy: nodes.Policy, target: str, at: tuple[str | None, ...]
                  ) -> dict[str, list[nodes.Approval]]:
    """criterion id → what it approves for the target at the channel."""
    found: dict[str, list[nodes.Approval]] = {}
    for criterion in policy.criteria:
        approvals = [a for a in criterion.approves if a.target == target and a.channel in at]
        if approvals:
            found[criterion.id] = approvals
    return found


def _limit_effects(old: list[nodes.Limit], new: list[nodes.Limit]) -> tuple[list, list]:
    service: list[str | None] = []
    review: list[str | None] = []

    def key(limit: nodes.Limit) -> tuple[str, str]:
        return selectors_key(limit.when), rule_kind(limit.rule)

    old_groups, new_groups = grouped(old, key), grouped(new, key)
    every_added: list[nodes.Limit] = []
    every_removed: list[nodes.Limit] = []
    for k in keys_in_order(old_groups, new_groups):
        pairs, removed, added = pair_rules(old_groups.get(k, []), new_groups.get(k, []),
                                           lambda limit: limit.rule)
        for o, n in pairs:
            changed = canon(o.rule) != canon(n.rule)
            service.append(rule_effect(o.rule, n.rule) if changed else None)
            if o.since != n.since:  # a later implementation date leaves more claims free
                later = o.since is None or (n.since is not None and n.since > o.since)
                service.append(LOOSER if later else STRICTER)
            if o.hard != n.hard:
                review.append(STRICTER if n.hard else LOOSER)
        every_added += added
        every_removed += removed
    service += _cap_and_course(every_removed, every_added)
    service += [STRICTER] * len(every_added) + [LOOSER] * len(every_removed)
    return service, review


def _cap_and_course(removed: list[nodes.Limit], added: list[nodes.Limit]) -> list[str]:
    """A days-supply cap replaced by a therapy rule on the same claims, or back: one ranked
    change instead of a rule removed (looser) and one added (stricter). `therapy <= D days`
    rejects every claim `days supply <= D2` (D2 >= D) does, and the second of two contiguous
    claims too. The pairs found are taken out of `removed` and `added`."""
    effects = []
    for old in list(removed):
        for new in added:
            if (selectors_key(old.when), old.since, old.hard) != (
                    selectors_key(new.when), new.since, new.hard):
                continue
            tighter = (isinstance(old.rule, nodes.DaysSupplyMax)
                       and isinstance(new.rule, nodes.TherapyMax)
                       and new.rule.days <= old.rule.days)
            wider = (isinstance(old.rule, nodes.TherapyMax)
                     and isinstance(new.rule, nodes.DaysSupplyMax)
                     and new.rule.days >= old.rule.days)
            if tighter or wider:
                effects.append(STRICTER if tighter else LOOSER)
                removed.remove(old)
                added.remove(new)
                break
    return effects


def _policy_effects(old: nodes.Policy, new: nodes.Policy, target: str,
                    old_limits: list[nodes.Limit], new_limits: list[nodes.Limit]
                    ) -> list[str | None]:
    effects: list[str | None] = []
    has_window = any(isinstance(x.rule, nodes.PerWindow) for x in old_limits + new_limits)
    if old.daily_rate_check != new.daily_rate_check and has_window:
        effects.append(STRICTER if new.daily_rate_check else LOOSER)
    def needs_authorization(policy: nodes.Policy) -> bool:
        products = words.target_products(policy, target)
        return bool(products) and all(policy.requires_authorization or p.requires_authorization
                                      for p in products)

    if needs_authorization(old) != needs_authorization(new):
        effects.append(STRICTER if needs_authorization(new) else LOOSER)
    old_group, new_group = old.group(target), new.group(target)
    if old_group is not None and new_group is not None:
        if set(new_group.products) - set(old_group.products):
            effects.append(STRICTER)
        if set(old_group.products) - set(new_group.products):
            effects.append(LOOSER)
    return effects


def _review_effects(old: nodes.Policy, new: nodes.Policy, old_approved: dict[str, list],
                    new_approved: dict[str, list]) -> list[str | None]:
    effects: list[str | None] = []
    old_criteria = {c.id: c for c in old.criteria}
    new_criteria = {c.id: c for c in new.criteria}
    for cid in keys_in_order(old_approved, new_approved):
        if cid not in old_approved:
            effects.append(LOOSER)
            continue
        if cid not in new_approved:
            effects.append(STRICTER)
            continue
        o, n = old_criteria[cid], new_criteria[cid]

        def key(approval: nodes.Approval) -> str:
            return rule_kind(approval.rule)

        old_groups, new_groups = grouped(old_approved[cid], key), grouped(new_approved[cid], key)
        for k in keys_in_order(old_groups, new_groups):
            pairs, removed, added = pair_rules(old_groups.get(k, []), new_groups.get(k, []),
                                               lambda a: a.rule)
            effects += [rule_effect(a.rule, b.rule) if canon(a.rule) != canon(b.rule) else None
                        for a, b in pairs]
            # An approval replaces the base limits: one more rule in it approves less.
            effects += [STRICTER] * len(added) + [LOOSER] * len(removed)
        effects.append(duration_effect(effective_duration(old, o), effective_duration(new, n)))
        effects += _condition_effects(o.when, n.when)
        if o.renews != n.renews:
            effects.append(UNKNOWN)
        if o.serves != n.serves:
            effects.append(serves_effect(o.serves, n.serves))
    return effects


def _requested_for_effects(old: nodes.Policy, new: nodes.Policy,
                           target: str) -> list[str | None]:
    """An `approve requested` criterion in both versions that now names the target (or its
    group), or no longer does: looser, or stricter, on review. Naming none serves every product."""
    def serves(policy: nodes.Policy, criterion: nodes.Criterion) -> bool:
        group = next((g.id for g in policy.groups if target in g.products), None)
        return not criterion.requested_for or bool(
            {target, group}.intersection(criterion.requested_for))

    new_criteria = {c.id: c for c in new.criteria}
    effects: list[str | None] = []
    for o in old.criteria:
        n = new_criteria.get(o.id)
        if n is None or not (o.approves_requested and n.approves_requested):
            continue
        before, after = serves(old, o), serves(new, n)
        if before != after:
            effects.append(LOOSER if after else STRICTER)
    return effects


def _condition_effects(old: nodes.Expr, new: nodes.Expr) -> list[str | None]:
    if expr_key(old) == expr_key(new):
        return []
    old_leaves, new_leaves = leaves_by_fact(old), leaves_by_fact(new)
    if old_leaves is None or new_leaves is None:
        return [UNKNOWN]
    effects: list[str | None] = []
    for fact in keys_in_order(old_leaves, new_leaves):
        a, b = old_leaves.get(fact), new_leaves.get(fact)
        if a is None:
            effects.append(STRICTER)
        elif b is None:
            effects.append(LOOSER)
        elif expr_key(a) != expr_key(b):
            effects.append(leaf_effect(a, b))
    return effects


_VERDICT_WORDS = {STRICTER: "stricter", LOOSER: "looser",
                  MIXED: "stricter in some ways and looser in others",
                  UNKNOWN: "changed in ways that cannot be ranked"}


def verdicts_in_words(policy: nodes.Policy, verdicts: Sequence[Verdict]) -> list[str]:
    """One sentence per product or group, naming the channels that share a verdict."""
    sentences = []
    for target in dict.fromkeys(v.target for v in verdicts):
        mine = [v for v in verdicts if v.target == target]
        by_outcome: dict[tuple[str, str], list[str]] = {}
        for v in mine:
            if (v.point_of_service, v.on_review) != (UNCHANGED, UNCHANGED):
                by_outcome.setdefault((v.point_of_service, v.on_review), []).append(v.channel)
        for (service, review), channels in by_outcome.items():
            where = words.join_words([channel_words(policy, c) for c in channels])
            if review == UNCHANGED:
                how = _VERDICT_WORDS[service]
            elif service == UNCHANGED:
                how = (f"unchanged at the point of service and {_VERDICT_WORDS[review]} on "
                       "exception review")
            else:
                how = (f"{_VERDICT_WORDS[service]} at the point of service and "
                       f"{_VERDICT_WORDS[review]} on exception review")
            sentences.append(f"For {mine[0].name} at {where}, the new version is {how}.")
    return sentences
