"""The plan: a checked policy lowered per product and channel, every reference resolved."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from conftest import REPO
from ir_samples import (
    KITCHEN,
    SOLUTION_NDC,
    TABS_10_BOTTLE_30_NDC,
    TABS_10_BOTTLE_90_NDC,
    TABS_20_NDC,
)

from dqmc.lang import plan
from dqmc.lang.pipeline import compile_text

PLAN = KITCHEN.plan


def _product(product_id: str) -> plan.ProductPlan:
    return next(p for p in PLAN.products if p.id == product_id)


def _channel(product_id: str, channel: str) -> plan.ChannelPlan:
    return next(c for c in _product(product_id).channels if c.channel == channel)


def _lines(rules: tuple[plan.RulePlan, ...]) -> list[int]:
    return [int(r.source.rsplit(":", 1)[1]) for r in rules]


def test_rules_per_channel_in_source_order_with_the_group_s_and_every_channel_s() -> None:
    # tabs-10mg: the group's retail window (27), its own days-supply (29) and, for one
    # package, its fill count (30); specialty has only the two every-channel limits.
    assert _lines(_channel("tabs-10mg", "retail").rules) == [27, 29, 30]
    assert _lines(_channel("tabs-10mg", "home_delivery").rules) == [28, 29, 30]
    assert _lines(_channel("tabs-10mg", "specialty").rules) == [29, 30]
    # tabs-20mg has no specialty limit: no plan there, and the declared channel stays known.
    assert [c.channel for c in _product("tabs-20mg").channels] == ["retail", "home_delivery"]
    assert PLAN.channels == ("retail", "home_delivery", "specialty")
    # One object per limit: a product's plan shares the policy's rules, in the policy's order.
    assert all(any(r is limit for limit in PLAN.limits)
               for p in PLAN.products for c in p.channels for r in c.rules)
    assert _lines(PLAN.limits) == list(range(27, 38))


def test_rule_fields_are_typed_and_scopes_resolved() -> None:
    window, days_supply, fills = _channel("tabs-10mg", "retail").rules
    assert (window.kind, window.quantity, window.unit, window.days) == (
        "per_window", Decimal("60"), "each", 30)
    assert isinstance(window.quantity, Decimal)
    # A limit on the group counts the fills of every member, and their NDCs.
    assert window.target == "tabexa"
    assert window.scope == ("tabs-10mg", "tabs-20mg")
    assert window.scope_ndcs == (TABS_10_BOTTLE_30_NDC, TABS_10_BOTTLE_90_NDC, TABS_20_NDC)
    assert (days_supply.kind, days_supply.days, days_supply.quantity) == (
        "days_supply_max", 90, None)
    assert days_supply.scope == ("tabs-10mg",) and days_supply.channel is None
    assert (fills.kind, fills.fills, fills.days) == ("fills_per_window", 2, 365)
    ceiling = _channel("oral-solution", "specialty").rules[0]
    assert (ceiling.kind, ceiling.hard, ceiling.origin) == ("per_day", True, plan.BASE)
    assert ceiling.text == "10 mL per day"


def test_selectors_in_the_order_written() -> None:
    _, _, fills = _channel("tabs-10mg", "retail").rules
    assert fills.selection == plan.Selection(None, (plan.PackageIs("bottle-90"),))
    young, adult, senior = _channel("test-strips", "retail").rules
    assert young.selection == plan.Selection(None, (plan.AgeBand(None, 17),))
    assert adult.selection == plan.Selection(None, (plan.AgeBand(18, None),))
    assert senior.selection == plan.Selection(None, (plan.AgeBand(65, 120),))
    assert _channel("test-strips", "retail").selects
    assert not _channel("oral-solution", "retail").selects


def test_implementation_dates_are_dates() -> None:
    path = "policy_specs/bcbsal-ql-guidelines.dqm"
    result = compile_text(path, (REPO / path).read_text(encoding="utf-8"))
    assert result.policy is not None
    lowered = plan.lower(result.policy)
    since = [r.selection.since for r in lowered.limits
             if r.selection is not None and r.selection.since is not None]
    assert since and all(type(day) is dt.date for day in since)
    assert dt.date(2008, 8, 6) in since
    # A limit with a date and a package selector keeps both, the date decided first.
    both = next(r for r in lowered.limits if r.selection is not None
                and r.selection.since is not None and r.selection.conditions)
    assert isinstance(both.selection.conditions[0], plan.PackageIs)  # type: ignore[union-attr]


def test_approvals_by_criterion_per_channel() -> None:
    retail = _channel("tabs-10mg", "retail")
    assert [a.criterion for a in retail.approvals] == ["titration", "initial", "renewal"]
    titration = retail.approvals[0].rules
    assert [(r.quantity, r.origin, r.criterion) for r in titration] == [
        (Decimal("120"), plan.OVERRIDE, "titration")]
    # An approval for every channel serves each; one for another channel does not.
    assert [a.criterion for a in _channel("oral-solution", "specialty").approvals] == ["initial"]
    assert [a.criterion for a in _channel("tabs-10mg", "specialty").approvals] == []
    assert len(PLAN.approvals) == sum(len(c.approves) for c in KITCHEN.policy.criteria)


def test_products_packages_ndcs_and_groups() -> None:
    tabs = _product("tabs-10mg")
    assert tabs.group == "tabexa" and tabs.scope == ("tabs-10mg", "tabs-20mg")
    assert [(p.id, p.size, p.ndcs) for p in tabs.packages] == [
        ("bottle-30", Decimal("30"), (TABS_10_BOTTLE_30_NDC,)),
        ("bottle-90", Decimal("90"), (TABS_10_BOTTLE_90_NDC,))]
    assert not tabs.drug_file_sized
    assert _product("test-strips").group is None and _product("test-strips").packages == ()
    assert [(c.ndc, c.product, c.package) for c in PLAN.ndcs] == [
        (TABS_10_BOTTLE_30_NDC, "tabs-10mg", "bottle-30"),
        (TABS_10_BOTTLE_90_NDC, "tabs-10mg", "bottle-90"),
        (TABS_20_NDC, "tabs-20mg", None),
        (SOLUTION_NDC, "oral-solution", "bottle-150ml")]
    assert dict(PLAN.criteria_at) == {c.id: c.span.location() for c in KITCHEN.policy.criteria}


def test_a_policy_requiring_authorization_names_its_line_on_every_product() -> None:
    required = dataclasses.replace(KITCHEN.policy, requires_authorization=True)
    lowered = plan.lower(required)
    assert {p.authorization for p in lowered.products} == {KITCHEN.policy.span.location()}
    assert {p.authorization for p in PLAN.products} == {None}


def test_the_plan_is_frozen_and_lowered_once() -> None:
    assert KITCHEN.plan is KITCHEN.plan
    assert plan.lower(KITCHEN.policy) == KITCHEN.plan
    with pytest.raises(dataclasses.FrozenInstanceError):
        PLAN.limits[0].days = 1  # type: ignore[misc]
    assert not hasattr(PLAN.limits[0], "__dict__")  # slotted
