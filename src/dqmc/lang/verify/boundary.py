"""Boundary claims: for every rule of a policy, the full claims that sit on its edges.

A boundary claim is a complete claim as a pharmacy would send it (history and authorizations
included) placed on one edge of one rule: at the limit and one billing increment over, on the
first and last day of a window and the day before it, on each age band's first and last
birthday, on a `since` date and the day before, on a package rounding edge, with an
authorization on its first and last effective day. `dqmc verify --examples` prints them,
`dqmc test --boundary` decides each with both evaluators, and `dqmc diff` searches them for
witnesses. No outcome is stated here: the edges are where evaluators and versions are most
likely to disagree, and the deciders say what each gets.

The API (`boundary_claims`, `BoundaryClaim`) is stable: documents and other passes reuse it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from dqmc.lang import plan as planning
from dqmc.lang.ir import nodes

# The date of service claims sit on, unless a `since` date comes later: a fixed day, so the
# claims of a policy are the same on every run.
REFERENCE_DATE = dt.date(2026, 3, 1)
# A billing increment: claims carry quantities to 0.001 (NCPDP 442-E7 is 9(7)v999), `each` whole.
INCREMENT = {"g": Decimal("0.001"), "mL": Decimal("0.001"), "each": Decimal(1)}
# The package size a claim brings for a product sized `from drug file`: not a whole number, so
# converting a limit in packages to billing units and back meets rounding.
DRUG_FILE_SIZE = Decimal("2.5")
# The age of a member when no age band asks for another.
ADULT_AGE = 40
# The days supply of a claim when no rule asks for another.
DEFAULT_DAYS = 30


@dataclass(frozen=True, slots=True)
class BoundaryClaim:
    """One claim on one edge of one rule.

    `claim` is the full claim JSON (history and authorizations included), ready for
    `evaluate`; `label` names the edge in a few words ("window: a fill on its first day");
    `product` and `channel` are the claim's; `rule` is the spec line (`file:line`) of the rule
    or criterion the edge belongs to and `rule_text` that rule in words ("30 g per 30 days");
    `edge` is a stable key of the kind of edge (`at-limit`, `over-limit`, `window-first-day`,
    ...), for tools that group them."""

    claim: dict[str, Any]
    label: str
    product: str
    channel: str
    rule: str
    rule_text: str
    edge: str


def boundary_claims(policy: nodes.Policy) -> list[BoundaryClaim]:
    """Every boundary claim of a checked policy, in product, channel and rule order; claim ids
    are `b-1`, `b-2`, ... in that order, so the list is the same on every run."""
    lowered = planning.lower(policy)
    made: list[BoundaryClaim] = []
    for product in lowered.products:
        for channel in product.channels:
            made += _Edges(policy, lowered, product, channel).claims()
    return [_numbered(item, index) for index, item in enumerate(made, start=1)]


def _numbered(item: BoundaryClaim, index: int) -> BoundaryClaim:
    claim = dict(item.claim)
    claim["claim_id"] = f"b-{index}"
    if "history" in claim:
        claim["history"] = [dict(entry, claim_id=f"b-{index}-h{n}")
                            for n, entry in enumerate(claim["history"], start=1)]
    return BoundaryClaim(claim, item.label, item.product, item.channel, item.rule,
                         item.rule_text, item.edge)


def reference_date(policy: nodes.Policy) -> dt.date:
    """The date of service of boundary claims: `REFERENCE_DATE`, or the latest `since` date of
    the policy when that is later (so every rule is in force)."""
    dates = [limit.since for limit in policy.limits if limit.since is not None]
    return max([REFERENCE_DATE, *dates])


def _text(amount: Decimal) -> str:
    """A quantity as claims carry it: decimal text, without exponent or trailing zeros."""
    text = format(amount.normalize(), "f")
    return text


def _years_before(day: dt.date, years: int) -> dt.date:
    """The same day `years` earlier; 29 February falls back to 28 February."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


class _Edges:
    """The boundary claims of one product at one channel."""

    def __init__(self, policy: nodes.Policy, lowered: planning.PolicyPlan,
                 product: planning.ProductPlan, channel: planning.ChannelPlan) -> None:
        self.policy = policy
        self.plan = lowered
        self.product = product
        self.channel = channel
        self.day = reference_date(policy)
        self.increment = INCREMENT.get(product.unit, Decimal("0.001"))
        self.drug_file = product.drug_file_sized
        caps = [r.days for r in channel.rules
                if r.kind in ("days_supply_max", "therapy_max") and r.days]
        caps += [r.max_days for r in channel.rules if r.kind == "per_day" and r.max_days]
        self.days_supply = min([DEFAULT_DAYS, *caps])

    # -- a claim and its parts ------------------------------------------------------------------

    def claim(self, quantity: Decimal, *, rule: planning.RulePlan | None = None,
              day: dt.date | None = None, days_supply: int | None = None,
              history: list[dict[str, Any]] | None = None, age: int | None = None,
              birth_date: dt.date | None = None, package: str | None = None,
              authorizations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """A claim for this product at this channel, chosen by `rule`'s selection unless an
        argument says otherwise."""
        day = day or self.day
        selection = rule.selection if rule is not None else None
        own = {p.id for p in self.product.packages}
        if package is None and selection is not None:
            # a group's line may select a package of another member: not this product's claims
            package = next((c.package for c in selection.conditions
                            if isinstance(c, planning.PackageIs) and c.package in own), None)
        if package is None and self.product.packages:
            package = self.product.packages[0].id
        if selection is not None and selection.since is not None and day < selection.since:
            day = selection.since
        claim: dict[str, Any] = {
            "claim_id": "b",
            "date_of_service": day.isoformat(),
            "product": self.product.id,
            "quantity": _text(quantity),
            "unit": self.product.unit,
            "days_supply": days_supply or self.days_supply,
            "channel": self.channel.channel,
        }
        if package is not None:
            claim["package"] = package
        if self.drug_file:
            claim["package_size"] = _text(DRUG_FILE_SIZE)
        if birth_date is None:
            birth_date = _years_before(day, self._age_for(rule) if age is None else age)
        claim["member"] = {"birth_date": birth_date.isoformat()}
        if history:
            claim["history"] = history
        if authorizations:
            claim["authorizations"] = authorizations
        return claim

    def fill(self, day: dt.date, quantity: Decimal, days_supply: int | None = None,
             ) -> dict[str, Any]:
        """A paid earlier fill of this product."""
        entry: dict[str, Any] = {"claim_id": "h", "date_of_service": day.isoformat(),
                                 "product": self.product.id, "quantity": _text(quantity),
                                 "days_supply": days_supply or self.days_supply,
                                 "channel": self.channel.channel, "status": "paid"}
        if self.drug_file:
            entry["package_size"] = _text(DRUG_FILE_SIZE)
        return entry

    def _age_for(self, rule: planning.RulePlan | None) -> int:
        if rule is not None and rule.selection is not None:
            for condition in rule.selection.conditions:
                if isinstance(condition, planning.AgeBand):
                    if condition.min_years is not None:
                        return condition.min_years
                    if condition.max_years is not None:
                        return condition.max_years
        return ADULT_AGE

    def units(self, rule: planning.RulePlan) -> Decimal:
        """The rule's quantity in billing units (a count of drug-file packages × the size)."""
        assert rule.quantity is not None
        return rule.quantity * DRUG_FILE_SIZE if rule.noun is not None else rule.quantity

    # -- the edges ------------------------------------------------------------------------------

    def claims(self) -> list[BoundaryClaim]:
        out: list[BoundaryClaim] = []
        for rule in self.channel.rules:
            out += self.rule_edges(rule)
            out += self.selection_edges(rule)
        out += self.authorization_edges()
        return out

    def made(self, rule: planning.RulePlan, edge: str, label: str,
             claim: dict[str, Any]) -> BoundaryClaim:
        return BoundaryClaim(claim, label, self.product.id, self.channel.channel, rule.source,
                             rule.text, edge)

    def at_limit(self, rule: planning.RulePlan) -> Decimal:
        """The quantity one claim may carry with no history under the rule alone."""
        if rule.kind == "per_day":
            return self.units(rule) * self.days_for(rule)
        if rule.quantity is not None:
            return self.units(rule)
        return self.increment * (1 if self.product.unit == "each" else 1000)

    def days_for(self, rule: planning.RulePlan) -> int:
        if rule.kind == "per_day" and rule.max_days:
            return rule.max_days
        return self.days_supply

    def rule_edges(self, rule: planning.RulePlan) -> list[BoundaryClaim]:
        made, claim = self.made, self.claim
        inc, day = self.increment, self.claim(Decimal(1), rule=rule)["date_of_service"]
        day_of_service = dt.date.fromisoformat(day)
        if rule.kind == "not_covered":
            return [made(rule, "not-covered", "a claim where it is not covered",
                         claim(self.increment, rule=rule))]
        if rule.kind in ("per_window", "per_fill", "per_day"):
            limit = self.at_limit(rule)
            ds = self.days_for(rule)
            out = [made(rule, "at-limit", f"at the limit: {_text(limit)} {self.product.unit}",
                        claim(limit, rule=rule, days_supply=ds)),
                   made(rule, "over-limit", f"one increment over: {_text(limit + inc)}",
                        claim(limit + inc, rule=rule, days_supply=ds))]
            if rule.kind == "per_window" and rule.days:
                first = day_of_service - dt.timedelta(days=rule.days - 1)
                before = first - dt.timedelta(days=1)
                out += [
                    made(rule, "window-first-day",
                         f"a fill at the limit on the window's first day ({first})",
                         claim(inc, rule=rule, history=[self.fill(first, limit)])),
                    made(rule, "window-day-before",
                         f"a fill at the limit the day before the window ({before})",
                         claim(limit, rule=rule, history=[self.fill(before, limit)])),
                    made(rule, "window-last-day",
                         f"a fill at the limit on the window's last day ({day_of_service})",
                         claim(inc, rule=rule, history=[self.fill(day_of_service, limit)])),
                ]
            if rule.kind == "per_day" and rule.max_days:
                over = rule.max_days + 1
                out.append(made(rule, "max-days-over", f"{over} days supply at the daily rate",
                                claim(self.units(rule) * over, rule=rule, days_supply=over)))
            if self.drug_file or self._package_size() is not None:
                # Just under the limit: the packages allowed now round down (docs/semantics.md
                # §4.2), and a drug-file size that does not divide the limit meets rounding.
                under = limit - inc
                if under > 0:
                    out.append(made(rule, "package-rounding",
                                    f"one increment under the limit ({_text(under)})",
                                    claim(under, rule=rule, days_supply=ds)))
            return out
        if rule.kind == "fills_per_window":
            assert rule.fills is not None and rule.days is not None
            first = day_of_service - dt.timedelta(days=rule.days - 1)
            before = first - dt.timedelta(days=1)
            one = self.at_limit(rule)
            earlier = [self.fill(first, one)] * (rule.fills - 1)
            return [
                made(rule, "at-limit", f"fill {rule.fills} of {rule.fills} in the window",
                     claim(one, rule=rule, history=list(earlier))),
                made(rule, "over-limit", f"fill {rule.fills + 1}: one on the window's first day",
                     claim(one, rule=rule, history=[*earlier, self.fill(first, one)])),
                made(rule, "window-day-before",
                     f"fill {rule.fills + 1}: one the day before the window ({before})",
                     claim(one, rule=rule, history=[*earlier, self.fill(before, one)])),
            ]
        if rule.kind == "days_supply_max":
            assert rule.days is not None
            one = self.at_limit(rule)
            return [made(rule, "at-limit", f"{rule.days} days supply",
                         claim(one, rule=rule, days_supply=rule.days)),
                    made(rule, "over-limit", f"{rule.days + 1} days supply",
                         claim(one, rule=rule, days_supply=rule.days + 1))]
        if rule.kind == "therapy_max":
            assert rule.days is not None
            one = self.at_limit(rule)
            ran = max(rule.days // 2, 1)
            start = day_of_service - dt.timedelta(days=ran)
            history = [self.fill(start, one, days_supply=ran)]
            rest = max(rule.days - ran, 1)
            return [
                made(rule, "at-limit", f"a course of exactly {rule.days} days",
                     claim(one, rule=rule, days_supply=rest, history=list(history))),
                made(rule, "over-limit", f"a course of {ran + rest + 1} days",
                     claim(one, rule=rule, days_supply=rest + 1, history=list(history))),
                made(rule, "course-gap",
                     "a course that ended the day before the fill before this one",
                     claim(one, rule=rule, days_supply=rest + 1,
                           history=[self.fill(start - dt.timedelta(days=1), one,
                                              days_supply=ran)])),
            ]
        if rule.kind in ("daily_dose", "daily_dose_below"):
            return self.dose_edges(rule, day_of_service)
        if rule.kind == "first_fill":
            assert rule.days is not None and rule.max_days is not None
            lookback = rule.max_days
            first = day_of_service - dt.timedelta(days=lookback)
            return [
                made(rule, "at-limit", f"a first fill of {rule.days} days supply",
                     claim(inc, rule=rule, days_supply=rule.days)),
                made(rule, "over-limit", f"a first fill of {rule.days + 1} days supply",
                     claim(inc, rule=rule, days_supply=rule.days + 1)),
                made(rule, "lookback-first-day",
                     f"{rule.days + 1} days supply after a fill on the look-back's first day "
                     f"({first})", claim(inc, rule=rule, days_supply=rule.days + 1,
                                         history=[self.fill(first, inc, days_supply=1)])),
                made(rule, "lookback-day-before",
                     f"{rule.days + 1} days supply after a fill the day before the look-back",
                     claim(inc, rule=rule, days_supply=rule.days + 1,
                           history=[self.fill(first - dt.timedelta(days=1), inc,
                                              days_supply=1)])),
            ]
        return []

    def dose_edges(self, rule: planning.RulePlan, day: dt.date) -> list[BoundaryClaim]:
        """A daily dose at the threshold and one increment over it, alone; and an earlier fill
        at the threshold on its supply's first and last day and the day after, with one
        increment on the claim. Every claim carries a fill that is not active on its date (so
        that a first-fill line does not decide instead)."""
        per_unit = dict(rule.terms or ()).get(self.product.id)
        if not per_unit or rule.quantity is None:
            return []
        made, claim, inc, ds = self.made, self.claim, self.increment, self.days_supply
        exact = Fraction(rule.quantity) * ds / Fraction(per_unit)
        at = Decimal(math.floor(exact / Fraction(inc))) * inc  # whole increments, at or under
        if at <= 0:
            return []
        old = [self.fill(day - dt.timedelta(days=ds + 1), inc, days_supply=ds)]
        last = day - dt.timedelta(days=ds - 1)
        under = []
        if rule.kind == "daily_dose_below" and at - inc > 0:  # at the limit is already over it
            under = [made(rule, "under-limit", f"one increment under: {_text(at - inc)}",
                          claim(at - inc, rule=rule, days_supply=ds, history=old))]
        return [
            *under,
            made(rule, "at-limit", f"{_text(at)} {self.product.unit} for {ds} days: at the "
                 "daily-dose limit", claim(at, rule=rule, days_supply=ds, history=old)),
            made(rule, "over-limit", f"one increment over: {_text(at + inc)}",
                 claim(at + inc, rule=rule, days_supply=ds, history=old)),
            made(rule, "active-first-day", f"a fill at the limit dated today ({day})",
                 claim(inc, rule=rule, days_supply=ds,
                       history=[*old, self.fill(day, at, days_supply=ds)])),
            made(rule, "active-last-day", f"a fill at the limit on its supply's last day ({last})",
                 claim(inc, rule=rule, days_supply=ds,
                       history=[*old, self.fill(last, at, days_supply=ds)])),
            made(rule, "supply-ended", "a fill at the limit whose supply ended yesterday",
                 claim(inc, rule=rule, days_supply=ds,
                       history=[*old, self.fill(last - dt.timedelta(days=1), at,
                                                days_supply=ds)])),
        ]

    def _package_size(self) -> Decimal | None:
        sizes = [p.size for p in self.product.packages if p.size is not None]
        return sizes[0] if sizes else None

    def probe(self, rule: planning.RulePlan) -> Decimal:
        """A quantity that shows whether the rule is in force: over it where it bounds one."""
        if rule.kind in ("per_window", "per_fill", "per_day"):
            return self.at_limit(rule) + self.increment
        return self.at_limit(rule)

    def selection_edges(self, rule: planning.RulePlan) -> list[BoundaryClaim]:
        selection = rule.selection
        if selection is None:
            return []
        out: list[BoundaryClaim] = []
        probe = self.probe(rule)
        ds = self.days_for(rule) if rule.kind == "per_day" else None
        if rule.kind == "days_supply_max" and rule.days:
            ds = rule.days + 1
        if selection.since is not None:
            since = selection.since
            before = since - dt.timedelta(days=1)
            out += [self.made(rule, "since-first-day", f"on its `since` date ({since})",
                              self.claim(probe, rule=rule, day=since, days_supply=ds)),
                    self.made(rule, "since-day-before", f"the day before `since` ({before})",
                              self._before_since(probe, rule, before, ds))]
        for condition in selection.conditions:
            if isinstance(condition, planning.AgeBand):
                out += self.age_edges(rule, condition, probe, ds)
            elif condition.package in {p.id for p in self.product.packages}:
                others = [p.id for p in self.product.packages if p.id != condition.package]
                out.append(self.made(rule, "package-selected", f"package {condition.package}",
                                     self.claim(probe, rule=rule, package=condition.package,
                                                days_supply=ds)))
                if others:
                    out.append(self.made(rule, "package-other", f"package {others[0]}",
                                         self.claim(probe, rule=rule, package=others[0],
                                                    days_supply=ds)))
        return out

    def _before_since(self, probe: Decimal, rule: planning.RulePlan, before: dt.date,
                      ds: int | None) -> dict[str, Any]:
        claim = self.claim(probe, rule=rule, days_supply=ds)
        claim["date_of_service"] = before.isoformat()
        birth = dt.date.fromisoformat(claim["member"]["birth_date"])
        claim["member"] = {"birth_date": min(birth, before).isoformat()}
        return claim

    def age_edges(self, rule: planning.RulePlan, band: planning.AgeBand, probe: Decimal,
                  ds: int | None) -> list[BoundaryClaim]:
        day = dt.date.fromisoformat(self.claim(probe, rule=rule)["date_of_service"])
        out = []

        def at(edge: str, label: str, birth: dt.date) -> None:
            out.append(self.made(rule, edge, label,
                                 self.claim(probe, rule=rule, birth_date=birth, days_supply=ds)))

        if band.min_years is not None:
            birthday = _years_before(day, band.min_years)
            at("age-first-birthday", f"turns {band.min_years} on the date of service", birthday)
            if band.min_years > 0:
                at("age-day-before", f"{band.min_years - 1}, a day before turning "
                   f"{band.min_years}", birthday + dt.timedelta(days=1))
        if band.max_years is not None:
            last = _years_before(day, band.max_years + 1)
            at("age-last-day", f"{band.max_years}, a day before turning {band.max_years + 1}",
               last + dt.timedelta(days=1))
            at("age-over", f"turns {band.max_years + 1} on the date of service", last)
        return out

    def authorization_edges(self) -> list[BoundaryClaim]:
        out: list[BoundaryClaim] = []
        for approvals in self.channel.approvals:
            for rule in approvals.rules:
                if rule.quantity is None:
                    continue
                limit = self.at_limit(rule)
                day = self.day
                year = dt.timedelta(days=364)
                spans = (("auth-first-day", "an authorization on its first day", day, day + year),
                         ("auth-last-day", "an authorization on its last day", day - year, day),
                         ("auth-day-after", "an authorization the day after its last",
                          day - year - dt.timedelta(days=1), day - dt.timedelta(days=1)))
                for edge, label, start, end in spans:
                    authorization = {"id": "pa-b", "criterion": approvals.criterion,
                                     "products": [self.product.id],
                                     "effective_from": start.isoformat(),
                                     "effective_through": end.isoformat()}
                    out.append(BoundaryClaim(
                        self.claim(limit, rule=None, days_supply=self.days_for(rule),
                                   authorizations=[authorization]),
                        f"{label}, at the approved {_text(limit)} {self.product.unit}",
                        self.product.id, self.channel.channel, rule.source, rule.text, edge))
        return out
