"""The change list of `dqmc diff`: each difference of two versions, its sentence and its effect."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dqmc.lang.ir import nodes
from dqmc.lang.ir.canonical import to_data
from dqmc.lang.printers import english as words
from dqmc.revisions.direction import (
    LOOSER,
    STRICTER,
    UNCHANGED,
    UNKNOWN,
    duration_effect,
    effective_duration,
    leaf_effect,
    more_is_stricter,
    rule_effect,
    serves_effect,
)
from dqmc.revisions.matching import (
    approval_key,
    canon,
    expr_key,
    grouped,
    keys_in_order,
    leaves_by_fact,
    limit_key,
    pair_rules,
)
from dqmc.revisions.wording import (
    at_channel,
    channel_words,
    criterion_name,
    date_words,
    dose_words,
    duration_words,
    leaf_words,
    name_of,
    products_of,
    quote,
    rule_words,
    selector_words,
    serves_words,
    size_words,
    values_words,
)

_PRODUCT_FIELDS = (("brand", "brand"), ("generic", "generic name"), ("strength", "strength"),
                   ("form", "form"), ("unit", "billing unit"), ("gpi", "GPI"),
                   ("label", "row name"))


@dataclass(frozen=True)
class Change:
    """One difference between two versions, located by ids, with its sentence and effect."""

    area: str  # policy, channel, product, group, limit, fact, criterion, section, reference,
    # or history
    kind: str  # added, removed, changed
    key: tuple[str, ...]  # the ids that locate it: ("anzupgo-2pct-cream", "retail", "per_window")
    field: str | None  # the attribute that changed, for kind "changed"
    old: Any  # JSON data of the old value (None when added)
    new: Any  # JSON data of the new value (None when removed)
    sentence: str
    effect: str | None = None  # stricter, looser, mixed, unknown; None when members do not notice
    in_summary: bool = True  # whether the revision history's summary repeats it

    def to_data(self) -> dict[str, Any]:
        return {"area": self.area, "kind": self.kind, "key": list(self.key), "field": self.field,
                "old": self.old, "new": self.new, "effect": self.effect,
                "sentence": self.sentence, "in_summary": self.in_summary}


def find_changes(old: nodes.Policy, new: nodes.Policy) -> list[Change]:
    """Every difference from `old` to `new`: limits, products, groups, criteria, facts, policy
    settings, channels, sections, references and history, in that order."""
    return _Differ(old, new).changes()


class _Differ:
    def __init__(self, old: nodes.Policy, new: nodes.Policy) -> None:
        self.old, self.new = old, new
        self.found: list[Change] = []

    def add(self, area: str, kind: str, key: Sequence[str], sentence: str, *,
            field: str | None = None, old: Any = None, new: Any = None,
            effect: str | None = None, in_summary: bool = True) -> None:
        self.found.append(Change(area, kind, tuple(key), field, to_data(old), to_data(new),
                                 sentence, effect, in_summary))

    def changes(self) -> list[Change]:
        self._limits()
        self._products()
        self._groups()
        self._factor_tables()
        self._criteria()
        self._facts()
        self._policy()
        self._channels()
        self._sections()
        self._references()
        self._history()
        return self.found

    # -- policy settings --------------------------------------------------------------------

    def _policy(self) -> None:
        old, new = self.old, self.new
        if old.id != new.id:
            self.add("policy", "changed", (), f"The policy id changed from {old.id} to {new.id}.",
                     field="id", old=old.id, new=new.id)
        if words.one_line(old.title) != words.one_line(new.title):
            self.add("policy", "changed", (), f"The title changed from {quote(old.title)} to "
                     f"{quote(new.title)}.", field="title", old=old.title, new=new.title)
        if old.type != new.type:
            self.add("policy", "changed", (), f"The policy type changed from "
                     f"{words.humanize(old.type)} to {words.humanize(new.type)}.",
                     field="type", old=old.type, new=new.type)
        if old.review_date != new.review_date:
            # Each history row has its own date, so the row's summary does not repeat it.
            self.add("policy", "changed", (), f"The review date changed from "
                     f"{date_words(old.review_date)} to {date_words(new.review_date)}.",
                     field="review_date", old=old.review_date, new=new.review_date,
                     in_summary=False)
        if old.effective_date != new.effective_date:
            self.add("policy", "changed", (), f"The effective date changed from "
                     f"{date_words(old.effective_date)} to {date_words(new.effective_date)}.",
                     field="effective_date", old=old.effective_date, new=new.effective_date)
        if old.approval_duration != new.approval_duration:
            effect = None
            if old.approval_duration is not None and new.approval_duration is not None:
                effect = duration_effect(old.approval_duration, new.approval_duration)
            if new.approval_duration is None:
                text = (f"The policy no longer sets how long approvals last (before: "
                        f"{duration_words(old.approval_duration)}).")
            elif old.approval_duration is None:
                text = (f"Approvals now last {duration_words(new.approval_duration)} (before, "
                        "the policy set no duration).")
            else:
                text = (f"Approvals now last {duration_words(new.approval_duration)} (before: "
                        f"{duration_words(old.approval_duration)}).")
            # Without criteria on both sides the duration governs nothing a member would notice;
            # added or removed criteria state their own durations.
            self.add("policy", "changed", (), text, field="approval_duration",
                     old=old.approval_duration, new=new.approval_duration, effect=effect,
                     in_summary=bool(old.criteria) and bool(new.criteria))
        if old.reject_code != new.reject_code:
            self.add("policy", "changed", (), f"Claims over a limit are now rejected with code "
                     f"{new.reject_code} (before: {old.reject_code}).", field="reject_code",
                     old=old.reject_code, new=new.reject_code)
        if old.requires_authorization != new.requires_authorization:
            state = ("now need prior authorization (claims without one are rejected with 75)"
                     if new.requires_authorization else "no longer need prior authorization")
            self.add("policy", "changed", (), f"All products of the policy {state}.",
                     field="requires_authorization", old=old.requires_authorization,
                     new=new.requires_authorization,
                     effect=STRICTER if new.requires_authorization else LOOSER)
        if old.daily_rate_check != new.daily_rate_check:
            state = "now checked" if new.daily_rate_check else "no longer checked"
            self.add("policy", "changed", (), f"The daily rate (quantity ÷ days supply) is {state} "
                     "against each window limit.", field="daily_rate_check",
                     old=old.daily_rate_check, new=new.daily_rate_check,
                     effect=STRICTER if new.daily_rate_check else LOOSER)
        if old.fallback != new.fallback:
            # Requests for products whose own policy has no criteria could not be approved there.
            text = ("The policy now also reviews requests for any product without criteria of its "
                    "own." if new.fallback else "The policy no longer reviews requests for "
                    "products without criteria of their own.")
            self.add("policy", "changed", (), text, field="fallback", old=old.fallback,
                     new=new.fallback, effect=LOOSER if new.fallback else STRICTER)

    def _channels(self) -> None:
        old = {c.id: c for c in self.old.channels}
        new = {c.id: c for c in self.new.channels}
        for cid in keys_in_order(old, new):
            o, n = old.get(cid), new.get(cid)
            if o is None:
                assert n is not None
                self.add("channel", "added", (cid,), f"New channel: {n.label}.", new=n)
            elif n is None:
                self.add("channel", "removed", (cid,), f"Channel removed: {o.label}.", old=o)
            elif o.label != n.label:
                self.add("channel", "changed", (cid,), f"The channel {o.label} is now called "
                         f"{n.label}.", field="label", old=o.label, new=n.label)

    # -- products and groups ----------------------------------------------------------------

    def _products(self) -> None:
        old = {p.id: p for p in self.old.products}
        new = {p.id: p for p in self.new.products}
        for pid in keys_in_order(old, new):
            o, n = old.get(pid), new.get(pid)
            if o is None:
                assert n is not None
                sold = words.join_words_or([p.description for p in n.packages])
                self.add("product", "added", (pid,), f"New product: {words.product_name(n)}"
                         f"{f', sold as {sold}' if sold else ''}.", new=n)
            elif n is None:
                self.add("product", "removed", (pid,),
                         f"Product removed: {words.product_name(o)}.", old=o)
            else:
                self._product_fields(o, n)

    def _product_fields(self, o: nodes.Product, n: nodes.Product) -> None:
        name = words.product_name(n)
        for attr, label in _PRODUCT_FIELDS:
            before, after = getattr(o, attr), getattr(n, attr)
            if before != after:
                self.add("product", "changed", (n.id,), f"{name}: the {label} changed from "
                         f"{quote(before or 'none')} to {quote(after or 'none')}.",
                         field=attr, old=before, new=after)
        if o.requires_authorization != n.requires_authorization:
            state = ("now needs prior authorization (claims without one are rejected with 75)"
                     if n.requires_authorization else "no longer needs prior authorization")
            self.add("product", "changed", (n.id,), f"{name} {state}.",
                     field="requires_authorization", old=o.requires_authorization,
                     new=n.requires_authorization,
                     effect=STRICTER if n.requires_authorization else LOOSER)
        if o.dose != n.dose:
            # limits written in doses change their amounts with it, and say so themselves
            self.add("product", "changed", (n.id,), f"{name}: one dose is now "
                     f"{dose_words(n.dose, n)} (before: {dose_words(o.dose, o)}).",
                     field="dose", old=o.dose, new=n.dose)
        old_contents = {c.ingredient: c for c in o.contents}
        new_contents = {c.ingredient: c for c in n.contents}
        for ingredient in keys_in_order(old_contents, new_contents):
            was, now = old_contents.get(ingredient), new_contents.get(ingredient)
            if was is not None and now is not None and (was.amount, was.unit) == (now.amount,
                                                                                now.unit):
                continue
            same_unit = was is None or now is None or was.unit == now.unit
            self.add("product", "changed", (n.id, "contains", ingredient),
                     f"{name}: one unit now contains {_content_words(now)} of {ingredient} "
                     f"(before: {_content_words(was)}).", field="contents", old=was, new=now,
                     effect=more_is_stricter(None if was is None else was.amount,
                                             None if now is None else now.amount)
                     if same_unit else UNKNOWN)
        self._ndcs((n.id,), name, o.ndcs, n.ndcs)
        old_packages = {p.id: p for p in o.packages}
        new_packages = {p.id: p for p in n.packages}
        for pkg in keys_in_order(old_packages, new_packages):
            a, b = old_packages.get(pkg), new_packages.get(pkg)
            if a is None:
                assert b is not None
                self.add("product", "added", (n.id, "package", pkg), f"{name}: new package "
                         f"{b.description} ({size_words(b)}).", field="package", new=b)
            elif b is None:
                self.add("product", "removed", (n.id, "package", pkg),
                         f"{name}: the {a.description} package was removed.",
                         field="package", old=a)
            else:
                if a.size != b.size:
                    self.add("product", "changed", (n.id, "package", pkg), f"{name}: the "
                             f"{b.description} package now holds {size_words(b)} "
                             f"(before: {size_words(a)}).", field="size", old=a.size,
                             new=b.size)
                if words.one_line(a.description) != words.one_line(b.description):
                    self.add("product", "changed", (n.id, "package", pkg), f"{name}: the "
                             f"package {quote(a.description)} is now described as "
                             f"{quote(b.description)}.", field="description",
                             old=a.description, new=b.description)
                if a.noun != b.noun:
                    self.add("product", "changed", (n.id, "package", pkg), f"{name}: limits "
                             f"now count the {b.description} as {quote(b.noun or 'package')} "
                             f"(before: {quote(a.noun or 'package')}).", field="noun",
                             old=a.noun, new=b.noun)
                self._ndcs((n.id, "package", pkg), f"{name}, {b.description}", a.ndcs, b.ndcs)

    def _ndcs(self, key: tuple[str, ...], name: str, old: Sequence[str],
              new: Sequence[str]) -> None:
        added = sorted(set(new) - set(old))
        removed = sorted(set(old) - set(new))
        if added:
            self.add("product", "added", key, f"{name}: NDCs added: {', '.join(added)}.",
                     field="ndcs", new=added)
        if removed:
            self.add("product", "removed", key, f"{name}: NDCs removed: {', '.join(removed)}.",
                     field="ndcs", old=removed)

    def _groups(self) -> None:
        old = {g.id: g for g in self.old.groups}
        new = {g.id: g for g in self.new.groups}
        for gid in keys_in_order(old, new):
            o, n = old.get(gid), new.get(gid)
            if o is None:
                assert n is not None
                members = words.join_words([name_of(self.old, self.new, p) for p in n.products])
                self.add("group", "added", (gid,), f"New group {quote(n.title)}: {members} "
                         "count together.", new=n)
            elif n is None:
                self.add("group", "removed", (gid,), f"Group removed: {quote(o.title)}; its "
                         "products no longer count together.", old=o)
            else:
                if words.one_line(o.title) != words.one_line(n.title):
                    self.add("group", "changed", (gid,), f"The group {quote(o.title)} is now "
                             f"called {quote(n.title)}.", field="title", old=o.title, new=n.title)
                joined = [p for p in n.products if p not in o.products]
                left = [p for p in o.products if p not in n.products]
                if joined:
                    names = words.join_words([name_of(self.old, self.new, p) for p in joined])
                    self.add("group", "added", (gid,), f"{names} now count toward the "
                             f"{quote(n.title)} limits.", field="products", new=joined,
                             effect=STRICTER)
                if left:
                    names = words.join_words([name_of(self.old, self.new, p) for p in left])
                    self.add("group", "removed", (gid,), f"{names} no longer count toward the "
                             f"{quote(n.title)} limits.", field="products", old=left,
                             effect=LOOSER)

    def _factor_tables(self) -> None:
        old = {t.id: t for t in self.old.factor_tables}
        new = {t.id: t for t in self.new.factor_tables}
        for tid in keys_in_order(old, new):
            o, n = old.get(tid), new.get(tid)
            if o is None or n is None:
                kind = "added" if o is None else "removed"
                table = n or o
                assert table is not None
                self.add("factors", kind, (tid,), f"Conversion factors {quote(table.title)} "
                         f"{kind}.", old=o, new=n)
                continue
            before = {f.ingredient: f.factor for f in o.factors}
            after = {f.ingredient: f.factor for f in n.factors}
            for ingredient in keys_in_order(before, after):
                a, b = before.get(ingredient), after.get(ingredient)
                if a != b:
                    self.add("factors", "changed", (tid, ingredient),
                             f"{quote(n.title)}: the factor of {ingredient} is now "
                             f"{'none' if b is None else f'{b:f}'} (before: "
                             f"{'none' if a is None else f'{a:f}'}).", field="factor",
                             old=a, new=b, effect=more_is_stricter(a, b))
            if o.origin != n.origin:
                self.add("factors", "changed", (tid,), f"{quote(n.title)}: the factors now come "
                         + ("from the policy itself" if n.origin is None else
                            f"from the shared factor file {quote(n.origin)}")
                         + (" (before: the policy's own)." if o.origin is None else
                            f" (before: {quote(o.origin)})."),
                         field="origin", old=o.origin, new=n.origin)
            if (o.source or "") != (n.source or ""):
                self.add("factors", "changed", (tid,), f"{quote(n.title)}: the source changed "
                         f"from {quote(o.source or 'none')} to {quote(n.source or 'none')}.",
                         field="source", old=o.source, new=n.source)

    # -- limits -----------------------------------------------------------------------------

    def _limits(self) -> None:
        old = grouped(self.old.limits, limit_key)
        new = grouped(self.new.limits, limit_key)
        for key in keys_in_order(old, new):
            pairs, removed, added = pair_rules(old.get(key, []), new.get(key, []),
                                               lambda limit: limit.rule)
            for o, n in pairs:
                self._limit_pair(key, o, n)
            for n in added:
                self._limit_alone(key, n, "added")
            for o in removed:
                self._limit_alone(key, o, "removed")

    def _limit_subject(self, limit: nodes.Limit) -> tuple[str, Sequence[nodes.Product]]:
        products = products_of(self.old, self.new, limit.target)
        policy = self.new if self.new.channel(limit.channel or "") is not None else self.old
        subject = (f"{name_of(self.old, self.new, limit.target)}: "
                   f"{channel_words(policy, limit.channel)} limit"
                   f"{selector_words(limit.when, products)}")
        return subject, products

    def _limit_alone(self, key: tuple, limit: nodes.Limit, kind: str) -> None:
        subject, products = self._limit_subject(limit)
        if isinstance(limit.rule, nodes.NotCovered):
            policy = self.new if kind == "added" else self.old
            where = (f"{name_of(self.old, self.new, limit.target)} "
                     f"{at_channel(policy, limit.channel)}"
                     f"{selector_words(limit.when, products)}")
            if kind == "added":
                self.add("limit", kind, key[:2] + key[3:], f"{words.sentence_case(where)} is "
                         "no longer covered: claims there are rejected.", new=limit,
                         effect=STRICTER)
            else:
                self.add("limit", kind, key[:2] + key[3:], f"{words.sentence_case(where)} is "
                         "no longer excluded as not covered.", old=limit, effect=LOOSER)
            return
        if isinstance(limit.rule, nodes.NoLimit):
            # The evaluators select no such line: only the statement changed, not a decision.
            stated = "now states" if kind == "added" else "no longer states"
            self.add("limit", kind, key[:2] + key[3:], f"{words.sentence_case(subject)}: the "
                     f"policy {stated} that there is none.", new=limit if kind == "added" else None,
                     old=limit if kind != "added" else None, effect=UNCHANGED)
            return
        rule = rule_words(limit.rule, products) + (" (hard limit)" if limit.hard else "")
        if limit.since is not None:
            rule += f" (from {date_words(limit.since)})"
        if kind == "added":
            self.add("limit", kind, key[:2] + key[3:], f"{words.sentence_case(subject)} of "
                     f"{rule} added.", new=limit, effect=STRICTER)
        else:
            self.add("limit", kind, key[:2] + key[3:], f"{words.sentence_case(subject)} of "
                     f"{rule} removed.", old=limit, effect=LOOSER)

    def _limit_pair(self, key: tuple, o: nodes.Limit, n: nodes.Limit) -> None:
        subject, products = self._limit_subject(n)
        short_key = key[:2] + key[3:]
        if canon(o.rule) != canon(n.rule):
            self.add("limit", "changed", short_key, f"{subject} changed from "
                     f"{rule_words(o.rule, products)} to {rule_words(n.rule, products)}.",
                     field="rule", old=o.rule, new=n.rule, effect=rule_effect(o.rule, n.rule))
        rule = rule_words(n.rule, products)
        if o.hard != n.hard:
            state = "is now a hard limit (no exception may pass it)" if n.hard else \
                "is no longer a hard limit (approved exceptions may pass it)"
            self.add("limit", "changed", short_key, f"{subject} of {rule} {state}.",
                     field="hard", old=o.hard, new=n.hard, effect=STRICTER if n.hard else LOOSER)
        if o.since != n.since:
            if n.since is None:
                text = f"now applies on every date (before: from {date_words(o.since)})"
            elif o.since is None:
                text = f"now applies only from {date_words(n.since)} (before: on every date)"
            else:
                text = (f"now applies from {date_words(n.since)} (before: from "
                        f"{date_words(o.since)})")
            later = o.since is None or (n.since is not None and n.since > o.since)
            self.add("limit", "changed", short_key, f"{subject} of {rule} {text}.",
                     field="since", old=o.since, new=n.since, effect=LOOSER if later else STRICTER)
        if o.overrides != n.overrides:
            codes = words.join_words_or([words.override_phrase(x) for x in n.overrides]) or "none"
            self.add("limit", "changed", short_key, f"{subject} of {rule}: the DUR/PPS codes "
                     f"a pharmacist may pass it with are now {codes}.", field="overrides",
                     old=o.overrides, new=n.overrides,
                     effect=(LOOSER if set(o.overrides) < set(n.overrides)
                             else STRICTER if set(n.overrides) < set(o.overrides) else UNKNOWN))
        if o.exempt != n.exempt:
            self.add("limit", "changed", short_key, f"{subject} of {rule}: the exclusions that "
                     f"exempt a member are now {', '.join(n.exempt) or 'none'} (before: "
                     f"{', '.join(o.exempt) or 'none'}).", field="exempt", old=o.exempt,
                     new=n.exempt,
                     effect=(LOOSER if set(o.exempt) <= set(n.exempt)
                             else STRICTER if set(n.exempt) <= set(o.exempt) else UNKNOWN))
        if o.reject_code != n.reject_code:
            self.add("limit", "changed", short_key, f"{subject} of {rule} now rejects with "
                     f"{n.reject_code or 'the policy reject code'} (before: "
                     f"{o.reject_code or 'the policy reject code'}).", field="reject_code",
                     old=o.reject_code, new=n.reject_code)
        if (o.note or "") != (n.note or ""):
            self.add("limit", "changed", short_key, f"{subject} of {rule}: the note changed "
                     f"from {quote(o.note or 'none')} to {quote(n.note or 'none')}.",
                     field="note", old=o.note, new=n.note)

    # -- facts and criteria -----------------------------------------------------------------

    def _facts(self) -> None:
        from dqmc.lang.ir.queries import condition_facts

        def used_by(policy: nodes.Policy, ids: set[str]) -> set[str]:
            return {f for c in policy.criteria if c.id in ids for f in condition_facts(c.when)}

        old_ids = {c.id for c in self.old.criteria}
        new_ids = {c.id for c in self.new.criteria}
        used_old_elsewhere = used_by(self.old, old_ids & new_ids)
        used_new_elsewhere = used_by(self.new, new_ids & old_ids)
        old = {f.id: f for f in self.old.facts}
        new = {f.id: f for f in self.new.facts}
        for fid in keys_in_order(old, new):
            o, n = old.get(fid), new.get(fid)
            if o is None:
                assert n is not None
                # A question that only new criteria ask is part of those criteria's sentence.
                self.add("fact", "added", (fid,), f"New review question: {quote(n.question)}",
                         new=n, in_summary=fid in used_new_elsewhere)
            elif n is None:
                self.add("fact", "removed", (fid,), f"Review question removed: "
                         f"{quote(o.question)}", old=o, in_summary=fid in used_old_elsewhere)
            else:
                if words.one_line(o.question) != words.one_line(n.question):
                    self.add("fact", "changed", (fid,), f"The review question "
                             f"{quote(o.question)} now reads {quote(n.question)}.",
                             field="question", old=o.question, new=n.question)
                if o.type != n.type:
                    self.add("fact", "changed", (fid,), f"The answer to {quote(n.question)} is "
                             f"now a {n.type} (before: {o.type}).", field="type",
                             old=o.type, new=n.type)
                added = [v for v in n.values if v not in o.values]
                removed = [v for v in o.values if v not in n.values]
                if added:
                    self.add("fact", "added", (fid,), f"{quote(n.question)} may now also be "
                             f"answered {values_words(added)}.",
                             field="values", new=added)
                if removed:
                    self.add("fact", "removed", (fid,), f"{quote(n.question)} may no longer "
                             f"be answered {values_words(removed)}.",
                             field="values", old=removed)

    def _approvals_words(self, policy: nodes.Policy, approvals: Sequence[nodes.Approval]) -> str:
        parts = []
        for target in dict.fromkeys(a.target for a in approvals):
            products = products_of(self.old, self.new, target)
            at = [f"{rule_words(a.rule, products)} {at_channel(policy, a.channel)}"
                  for a in approvals if a.target == target]
            parts.append(f"{words.join_words(at)} for {name_of(self.old, self.new, target)}")
        return "; ".join(parts)

    def _criteria(self) -> None:
        old = {c.id: c for c in self.old.criteria}
        new = {c.id: c for c in self.new.criteria}
        for cid in keys_in_order(old, new):
            o, n = old.get(cid), new.get(cid)
            if o is None:
                assert n is not None
                duration = effective_duration(self.new, n)
                how_long = ("as a one-time approval" if duration.kind == "one_time"
                            else words.duration_phrase(duration)
                            if duration.kind in nodes.REQUESTED_DURATIONS
                            else f"for {words.duration_phrase(duration)}")
                renews = f" (renewal of {quote(n.renews)})" if n.renews else ""
                if n.serves:
                    renews += f" (for {n.serves} requests only)"
                # The common revision: lower the base limits and keep the old ones on review.
                former = "; these were the limits before this revision" \
                    if self._were_base_limits(n.approves) else ""
                self.add("criterion", "added", (cid,), f"New criterion {criterion_name(n)}"
                         f"{renews}: approve {self._grants_words(self.new, n)}, "
                         f"{how_long}{former}.", new=n, effect=LOOSER)
            elif n is None:
                self.add("criterion", "removed", (cid,), f"Criterion {criterion_name(o)} was "
                         f"removed; it approved {self._grants_words(self.old, o)}.",
                         old=o, effect=STRICTER)
            else:
                self._criterion_pair(o, n)

    def _grants_words(self, policy: nodes.Policy, criterion: nodes.Criterion) -> str:
        """What a criterion approves: its stated limits, or the quantity requested (for the
        products it names)."""
        if not criterion.approves_requested:
            return self._approvals_words(policy, criterion.approves)
        return "the quantity requested" + self._requested_for_words(criterion.requested_for)

    def _requested_for_words(self, targets: Sequence[str]) -> str:
        """` for A and B only`, or nothing for a criterion that serves every product."""
        if not targets:
            return ""
        return f" for {words.join_words([name_of(self.old, self.new, t) for t in targets])} only"

    def _requested_for(self, o: nodes.Criterion, n: nodes.Criterion) -> None:
        """`approve requested` serving other products: fewer is stricter on review, more is
        looser; none named means every product."""
        name, key = criterion_name(n), (n.id,)
        if not o.requested_for or not n.requested_for:
            before = self._requested_for_words(o.requested_for) or " for every product"
            after = self._requested_for_words(n.requested_for) or " for every product"
            self.add("criterion", "changed", key, f"Criterion {name} now approves the quantity "
                     f"requested{after} (before:{before.removesuffix(' only')}).",
                     field="requested_for", old=o.requested_for, new=n.requested_for,
                     effect=STRICTER if n.requested_for else LOOSER)
            return
        for target in n.requested_for:
            if target not in o.requested_for:
                self.add("criterion", "added", (*key, target), f"Criterion {name} now also "
                         "approves the quantity requested for "
                         f"{name_of(self.old, self.new, target)}.", field="requested_for",
                         new=target, effect=LOOSER)
        for target in o.requested_for:
            if target not in n.requested_for:
                self.add("criterion", "removed", (*key, target), f"Criterion {name} no longer "
                         "approves the quantity requested for "
                         f"{name_of(self.old, self.new, target)}.", field="requested_for",
                         old=target, effect=STRICTER)

    def _were_base_limits(self, approvals: Sequence[nodes.Approval]) -> bool:
        """Whether the old version's base limits were exactly what these approvals grant."""
        for target, channel in dict.fromkeys((a.target, a.channel) for a in approvals):
            granted = sorted(canon(a.rule) for a in approvals
                             if (a.target, a.channel) == (target, channel))
            before = sorted(canon(x.rule) for x in self.old.limits
                            if (x.target, x.channel) == (target, channel) and not x.when)
            if granted != before:
                return False
        return bool(approvals)

    def _criterion_pair(self, o: nodes.Criterion, n: nodes.Criterion) -> None:
        name = criterion_name(n)
        key = (n.id,)
        if (o.title or "") != (n.title or ""):
            self.add("criterion", "changed", key, f"Criterion {criterion_name(o)} is now "
                     f"titled {name}.", field="title", old=o.title, new=n.title)
        self._condition(o, n)
        old_groups = grouped(o.approves, approval_key)
        new_groups = grouped(n.approves, approval_key)
        for akey in keys_in_order(old_groups, new_groups):
            pairs, removed, added = pair_rules(old_groups.get(akey, []), new_groups.get(akey, []),
                                               lambda a: a.rule)
            for a, b in pairs:
                if canon(a.rule) != canon(b.rule):
                    products = products_of(self.old, self.new, b.target)
                    self.add("criterion", "changed", key + akey[:2],
                             f"Criterion {name} now approves {rule_words(b.rule, products)} "
                             f"{at_channel(self.new, b.channel)} for "
                             f"{name_of(self.old, self.new, b.target)} (before: "
                             f"{rule_words(a.rule, products)}).", field="approves",
                             old=a, new=b, effect=rule_effect(a.rule, b.rule))
            for b in added:
                self.add("criterion", "added", key + akey[:2], f"Criterion {name} now also "
                         f"approves {self._approvals_words(self.new, [b])}.", field="approves",
                         new=b, effect=LOOSER)
            for a in removed:
                self.add("criterion", "removed", key + akey[:2], f"Criterion {name} no longer "
                         f"approves {self._approvals_words(self.old, [a])}.", field="approves",
                         old=a, effect=STRICTER)
        before, after = effective_duration(self.old, o), effective_duration(self.new, n)
        if o.duration != n.duration or before != after:
            self.add("criterion", "changed", key, f"Approvals under criterion {name} now last "
                     f"{words.duration_phrase(after)} (before: {words.duration_phrase(before)}).",
                     field="duration", old=o.duration, new=n.duration,
                     effect=duration_effect(before, after), in_summary=before != after)
        if o.approves_requested != n.approves_requested:
            text = (f"Criterion {name} now approves the quantity requested"
                    f"{self._requested_for_words(n.requested_for)}." if n.approves_requested else
                    f"Criterion {name} no longer approves the quantity requested.")
            self.add("criterion", "changed", key, text, field="approves_requested",
                     old=o.approves_requested, new=n.approves_requested,
                     effect=LOOSER if n.approves_requested else STRICTER)
        elif n.approves_requested and set(o.requested_for) != set(n.requested_for):
            self._requested_for(o, n)
        if o.renews != n.renews:
            text = (f"Criterion {name} now renews {quote(n.renews)}." if n.renews
                    else f"Criterion {name} no longer renews {quote(o.renews or '')}.")
            self.add("criterion", "changed", key, text, field="renews", old=o.renews,
                     new=n.renews, effect=UNKNOWN)
        if o.serves != n.serves:
            text = (f"Criterion {name} now serves {n.serves} requests only (before: "
                    f"{serves_words(o.serves)})." if n.serves else
                    f"Criterion {name} now serves initial and renewal requests (before: "
                    f"{o.serves} requests only).")
            self.add("criterion", "changed", key, text, field="serves", old=o.serves,
                     new=n.serves, effect=serves_effect(o.serves, n.serves))

    def _condition(self, o: nodes.Criterion, n: nodes.Criterion) -> None:
        if expr_key(o.when) == expr_key(n.when):
            return
        name = criterion_name(n)
        key = (n.id,)
        old_leaves, new_leaves = leaves_by_fact(o.when), leaves_by_fact(n.when)
        if old_leaves is None or new_leaves is None:
            from dqmc.lang.ir.queries import condition_text

            self.add("criterion", "changed", key, f"Criterion {name}: the condition changed from "
                     f"“{condition_text(o.when)}” to “{condition_text(n.when)}”.",
                     field="when", old=o.when, new=n.when, effect=UNKNOWN)
            return
        for fact in keys_in_order(old_leaves, new_leaves):
            a, b = old_leaves.get(fact), new_leaves.get(fact)
            if a is None:
                assert b is not None
                self.add("criterion", "added", (*key, fact), f"Criterion {name} now also "
                         f"requires: {leaf_words(b, self.new)}.", field="when", new=b,
                         effect=STRICTER)
            elif b is None:
                self.add("criterion", "removed", (*key, fact), f"Criterion {name} no longer "
                         f"requires: {leaf_words(a, self.old)}.", field="when", old=a,
                         effect=LOOSER)
            elif expr_key(a) != expr_key(b):
                self.add("criterion", "changed", (*key, fact), f"Criterion {name} now requires "
                         f"{leaf_words(b, self.new)} (before: {leaf_words(a, self.old)}).",
                         field="when", old=a, new=b, effect=leaf_effect(a, b))

    # -- prose, references, history ---------------------------------------------------------

    def _sections(self) -> None:
        def keyed(policy: nodes.Policy) -> dict[tuple[str, str], nodes.Section]:
            found: dict[tuple[str, str], nodes.Section] = {}
            for section in policy.sections:
                # The standard kinds appear once; other sections are known by their titles.
                title = words.one_line(section.title) if section.kind == "other" else ""
                key = (section.kind, title)
                index = 2
                while key in found:
                    key, index = (section.kind, f"{title}#{index}"), index + 1
                found[key] = section
            return found

        old, new = keyed(self.old), keyed(self.new)
        for key in keys_in_order(old, new):
            o, n = old.get(key), new.get(key)
            if o is None:
                assert n is not None
                self.add("section", "added", key, f"A {quote(n.title)} section was added.", new=n)
            elif n is None:
                self.add("section", "removed", key, f"The {quote(o.title)} section was removed.",
                         old=o)
            else:
                if words.one_line(o.title) != words.one_line(n.title):
                    self.add("section", "changed", key, f"The {quote(o.title)} section is now "
                             f"titled {quote(n.title)}.", field="title", old=o.title, new=n.title)
                if words.paragraphs(o.text) != words.paragraphs(n.text):
                    self.add("section", "changed", key, f"The {quote(n.title)} section was "
                             "revised.", field="text", old=o.text, new=n.text)

    def _references(self) -> None:
        old = {words.one_line(r.text): r for r in self.old.references}
        new = {words.one_line(r.text): r for r in self.new.references}
        for text in keys_in_order(old, new):
            if text not in old:
                self.add("reference", "added", (), f"Reference added: {text}", new=new[text])
            elif text not in new:
                self.add("reference", "removed", (), f"Reference removed: {text}", old=old[text])

    def _history(self) -> None:
        def keyed(policy: nodes.Policy) -> dict[tuple[str, str], nodes.Revision]:
            return {(r.date.isoformat(), words.one_line(r.type)): r for r in policy.history}

        old, new = keyed(self.old), keyed(self.new)
        for key in keys_in_order(old, new):
            o, n = old.get(key), new.get(key)
            label = f"{words.date_view((o or n).date).text} ({key[1]})"  # type: ignore[union-attr]
            if o is None:
                self.add("history", "added", key, f"Revision row {label} added.", new=n,
                         in_summary=False)
            elif n is None:
                self.add("history", "removed", key, f"Revision row {label} removed.", old=o,
                         in_summary=False)
            elif words.one_line(o.summary or "") != words.one_line(n.summary or ""):
                self.add("history", "changed", key, f"The summary of revision row {label} "
                         "changed.", field="summary", old=o.summary, new=n.summary,
                         in_summary=False)


def _content_words(content: nodes.Content | None) -> str:
    """What one unit holds of an ingredient: "325 mg", or "none"."""
    return "none" if content is None else f"{content.amount.normalize():f} {content.unit}"
