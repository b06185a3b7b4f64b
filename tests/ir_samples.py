"""IR policies for the evaluator tests (built by hand, but Anzupgo), its worked cases, a loader."""

# The NDCs here are test fixtures in the 99999 labeler range, not real products' identifiers.

from __future__ import annotations

import datetime as dt
import importlib
import itertools
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from types import ModuleType

from conftest import REPO

from dqmc.codegen import loader
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.ir import nodes
from dqmc.lang.ir.canonical import content_hash
from dqmc.lang.pipeline import compile_text
from dqmc.lang.source import Span


def _at(file: str):
    def span(line: int, col: int = 3, width: int = 20) -> Span:
        return Span(file, line, col, line, col + width)
    return span


def _q(amount: str, unit: str, span: Span) -> nodes.Quantity:
    return nodes.Quantity(amount=Decimal(amount), unit=unit, span=span)  # type: ignore[arg-type]


def _compiled(policy: nodes.Policy, source: str) -> CompiledPolicy:
    return CompiledPolicy(policy=policy, source=source, content_hash=content_hash(policy))


DEFAULT_CHANNELS = (nodes.Channel(id="retail", label="Retail"),
                    nodes.Channel(id="home_delivery", label="Home Delivery"))

# ---------------------------------------------------------------------------------------------
# Anzupgo, the reference policy (design §3, §5): the real spec, compiled, for every test that
# wants Anzupgo (docs_samples too), so tests and the spec cannot drift apart.

ANZUPGO_FILE = "policy_specs/anzupgo.dqm"


def _compile_spec(path: str) -> CompiledPolicy:
    """The spec at `path` (relative to the repository, as the pipeline names it), compiled."""
    result = compile_text(path, (REPO / path).read_text(encoding="utf-8"))
    assert result.policy is not None and not result.diagnostics, result.diagnostics
    return _compiled(result.policy, path)


ANZUPGO = _compile_spec(ANZUPGO_FILE)
ANZUPGO_POLICY = ANZUPGO.policy

# ---------------------------------------------------------------------------------------------
# Every rule kind and selector: a group, NDCs per package, age bands, package-specific limits,
# a limit for every channel, a declared channel, a hard ceiling, one-time, initial and renewal
# criteria with every kind of condition.

KITCHEN_FILE = "policy_specs/kitchen-sink.yaml"
_k = _at(KITCHEN_FILE)

TABS_10_BOTTLE_30_NDC = "99999001030"
TABS_10_BOTTLE_90_NDC = "99999001090"
TABS_20_NDC = "99999002030"
SOLUTION_NDC = "99999003150"

KITCHEN_POLICY = nodes.Policy(
    id="kitchen-sink",
    title="Kitchen Sink – Every Limit Kind – Mixed",
    type="mixed",
    effective_date=dt.date(2024, 1, 1),
    approval_duration=nodes.Duration(kind="fixed", amount=6, unit="months", span=_k(5)),
    reject_code="76",
    channels=(*DEFAULT_CHANNELS, nodes.Channel(id="specialty", label="Specialty", span=_k(7))),
    products=(
        nodes.Product(
            id="tabs-10mg", brand="Tabexa", generic="tabexamine", strength="10 mg", form="tablet",
            unit="each",
            packages=(
                nodes.Package(id="bottle-30", size=_q("30", "each", _k(12)),
                              description="bottle of 30", noun="bottle",
                              ndcs=(TABS_10_BOTTLE_30_NDC,), span=_k(12)),
                nodes.Package(id="bottle-90", size=_q("90", "each", _k(13)),
                              description="bottle of 90", ndcs=(TABS_10_BOTTLE_90_NDC,),
                              span=_k(13)),
            ),
            span=_k(10)),
        nodes.Product(id="tabs-20mg", brand="Tabexa", generic="tabexamine", strength="20 mg",
                      form="tablet", unit="each", ndcs=(TABS_20_NDC,),
                      packages=(nodes.Package(id="bottle-30-20", size=_q("30", "each", _k(16)),
                                              description="bottle of 30", span=_k(16)),),
                      span=_k(15)),
        nodes.Product(id="oral-solution", brand="Solvix", generic="solvixate", strength="5 mg/5 mL",
                      form="solution", unit="mL",
                      packages=(nodes.Package(id="bottle-150ml", size=_q("150", "mL", _k(19)),
                                              description="150 mL bottle", ndcs=(SOLUTION_NDC,),
                                              span=_k(19)),),
                      span=_k(18)),
        nodes.Product(id="test-strips", brand="StripIt", generic="glucose test strip",
                      strength=None, form="strip", unit="each", span=_k(21)),
    ),
    groups=(nodes.Group(id="tabexa", title="Tabexa tablets", products=("tabs-10mg", "tabs-20mg"),
                        span=_k(24)),),
    limits=(
        nodes.Limit(target="tabexa", channel="retail",
                    rule=nodes.PerWindow(quantity=_q("60", "each", _k(27)), days=30), span=_k(27)),
        nodes.Limit(target="tabexa", channel="home_delivery",
                    rule=nodes.PerWindow(quantity=_q("180", "each", _k(28)), days=90), span=_k(28)),
        nodes.Limit(target="tabs-10mg", channel=None, rule=nodes.DaysSupplyMax(days=90),
                    span=_k(29)),
        nodes.Limit(target="tabs-10mg", channel=None, rule=nodes.FillsPerWindow(fills=2, days=365),
                    when=(nodes.PackageIs(package="bottle-90", span=_k(30)),), span=_k(30)),
        nodes.Limit(target="tabs-20mg", channel="retail",
                    rule=nodes.PerDay(quantity=_q("2", "each", _k(31)), max_days=10), span=_k(31)),
        nodes.Limit(target="oral-solution", channel=None,
                    rule=nodes.PerDay(quantity=_q("10", "mL", _k(32))), hard=True,
                    note="the labelled maximum dose", span=_k(32)),
        nodes.Limit(target="oral-solution", channel="specialty",
                    rule=nodes.PerFill(quantity=_q("150", "mL", _k(33))), span=_k(33)),
        nodes.Limit(target="oral-solution", channel="retail",
                    rule=nodes.PerWindow(quantity=_q("150", "mL", _k(34)), days=30), span=_k(34)),
        nodes.Limit(target="test-strips", channel=None,
                    rule=nodes.PerWindow(quantity=_q("300", "each", _k(35)), days=30),
                    when=(nodes.AgeBand(max_years=17, span=_k(35)),), span=_k(35)),
        nodes.Limit(target="test-strips", channel=None,
                    rule=nodes.PerWindow(quantity=_q("150", "each", _k(36)), days=30),
                    when=(nodes.AgeBand(min_years=18, span=_k(36)),), span=_k(36)),
        nodes.Limit(target="test-strips", channel="retail",
                    rule=nodes.FillsPerWindow(fills=1, days=23),
                    when=(nodes.AgeBand(min_years=65, max_years=120, span=_k(37)),), span=_k(37)),
    ),
    facts=(
        nodes.Fact(id="loading_dose", type="bool", question="Is this a titration or loading dose?",
                   span=_k(40)),
        nodes.Fact(id="diagnosis", type="enum", question="What is the diagnosis?",
                   values=("migraine", "cluster_headache", "other"), span=_k(41)),
        nodes.Fact(id="tried", type="set", question="Which treatments were tried?",
                   values=("nsaid", "acetaminophen", "triptan"), span=_k(42)),
        nodes.Fact(id="crcl", type="number", question="What is the creatinine clearance (mL/min)?",
                   span=_k(43)),
        nodes.Fact(id="started", type="date", question="When did the therapy start?", span=_k(44)),
        nodes.Fact(id="improved", type="bool", question="Has the pain improved on therapy?",
                   span=_k(45)),
        nodes.Fact(id="adverse_effects", type="bool",
                   question="Are there treatment-limiting adverse effects?", span=_k(46)),
    ),
    criteria=(
        nodes.Criterion(
            id="titration", title="Titration or loading dose",
            when=nodes.And(operands=(
                nodes.FactRef(fact="loading_dose", span=_k(50)),
                nodes.Compare(fact="crcl", op=">=", value=Decimal(30), span=_k(50)),
            ), span=_k(50)),
            approves=(nodes.Approval(
                target="tabexa", channel="retail",
                rule=nodes.PerWindow(quantity=_q("120", "each", _k(51)), days=30), span=_k(51)),),
            duration=nodes.Duration(kind="one_time", span=_k(52)),
            span=_k(49)),
        nodes.Criterion(
            id="initial", title="Migraine, after first-line treatments",
            when=nodes.And(operands=(
                nodes.InSet(fact="diagnosis", values=("migraine", "cluster_headache"), span=_k(55)),
                nodes.Or(operands=(
                    nodes.Subset(fact="tried", values=("nsaid", "acetaminophen"), span=_k(56)),
                    nodes.Compare(fact="started", op="<", value=dt.date(2024, 1, 1), span=_k(56)),
                ), span=_k(56)),
                nodes.Not(operand=nodes.Compare(fact="crcl", op="<", value=Decimal(15),
                                                span=_k(57)), span=_k(57)),
                nodes.Compare(fact="diagnosis", op="!=", value="other", span=_k(58)),
            ), span=_k(55)),
            approves=(
                nodes.Approval(target="tabexa", channel="retail",
                               rule=nodes.PerWindow(quantity=_q("90", "each", _k(59)), days=30),
                               span=_k(59)),
                nodes.Approval(target="tabexa", channel="home_delivery",
                               rule=nodes.PerWindow(quantity=_q("270", "each", _k(60)), days=90),
                               span=_k(60)),
                nodes.Approval(target="oral-solution", channel=None,
                               rule=nodes.PerDay(quantity=_q("20", "mL", _k(61))), span=_k(61)),
                nodes.Approval(target="test-strips", channel=None,
                               rule=nodes.PerWindow(quantity=_q("450", "each", _k(62)), days=30),
                               span=_k(62)),
            ),
            span=_k(54)),
        nodes.Criterion(
            id="renewal", title="Renewal: still benefits",
            when=nodes.And(operands=(
                nodes.Compare(fact="improved", op="==", value=True, span=_k(65)),
                nodes.Not(operand=nodes.FactRef(fact="adverse_effects", span=_k(65)), span=_k(65)),
            ), span=_k(65)),
            approves=(
                nodes.Approval(target="tabexa", channel="retail",
                               rule=nodes.PerWindow(quantity=_q("90", "each", _k(66)), days=30),
                               span=_k(66)),
                nodes.Approval(target="tabexa", channel="home_delivery",
                               rule=nodes.PerWindow(quantity=_q("270", "each", _k(67)), days=90),
                               span=_k(67)),
            ),
            duration=nodes.Duration(kind="fixed", amount=12, unit="months", span=_k(68)),
            renews="initial",
            span=_k(64)),
    ),
    span=_k(1, 1),
)
KITCHEN = _compiled(KITCHEN_POLICY, KITCHEN_FILE)

# ---------------------------------------------------------------------------------------------
# A policy that declares the daily-rate check and its own reject code.

DAILY_FILE = "policy_specs/daily-cream.dqm"
_d = _at(DAILY_FILE)

DAILY_POLICY = nodes.Policy(
    id="daily-cream",
    title="Daily Cream – Per Days with Daily Rate",
    type="per_days",
    approval_duration=nodes.Duration(kind="fixed", amount=8, unit="weeks", span=_d(4)),
    reject_code="75",
    daily_rate_check=True,
    channels=DEFAULT_CHANNELS,
    products=(nodes.Product(id="daily-cream", brand="Dailex", generic="dailexone", strength="1%",
                            form="cream", unit="g",
                            packages=(nodes.Package(id="tube-45g", size=_q("45", "g", _d(7)),
                                                    description="45 gram tube", noun="tube",
                                                    span=_d(7)),),
                            span=_d(6)),),
    limits=(
        nodes.Limit(target="daily-cream", channel="retail",
                    rule=nodes.PerWindow(quantity=_q("45", "g", _d(10)), days=30), span=_d(10)),
        nodes.Limit(target="daily-cream", channel="home_delivery",
                    rule=nodes.PerWindow(quantity=_q("135", "g", _d(11)), days=90), span=_d(11)),
    ),
    facts=(nodes.Fact(id="body_area", type="number",
                      question="What share of body area is treated (%)?", span=_d(13)),
           nodes.Fact(id="prescriber_justifies", type="bool",
                      question="Does the prescriber justify the quantity requested?",
                      span=_d(18))),
    criteria=(
        nodes.Criterion(
            id="large-area", title="Large treated area",
            when=nodes.Compare(fact="body_area", op=">", value=Decimal("10.5"), span=_d(15)),
            approves=(nodes.Approval(target="daily-cream", channel=None,
                                     rule=nodes.PerWindow(quantity=_q("90", "g", _d(16)), days=30),
                                     span=_d(16)),),
            span=_d(14)),
        nodes.Criterion(
            id="as-requested", title="Quantity the prescriber asks for",
            when=nodes.FactRef(fact="prescriber_justifies", span=_d(20)),
            approves=(), approves_requested=True, span=_d(19)),
    ),
    span=_d(1, 1),
)
DAILY = _compiled(DAILY_POLICY, DAILY_FILE)

# ---------------------------------------------------------------------------------------------
# Therapy-duration rules: a group's course (syringes and vials in one unit, one of them by NDC),
# a window rule beside it, a hard shorter course for children, and an approval of a longer one.

THERAPY_FILE = "policy_specs/anticoagulant.dqm"
_t = _at(THERAPY_FILE)
THERAPY_SYRINGE_NDC = "99999004010"

THERAPY_POLICY = nodes.Policy(
    id="anticoagulant",
    title="Anticoagulant – Therapy Duration",
    type="per_days",
    approval_duration=nodes.Duration(kind="fixed", amount=3, unit="months", span=_t(4)),
    channels=DEFAULT_CHANNELS,
    products=(
        nodes.Product(id="clot-syringe", brand="Clotex", generic="clotexaparin",
                      strength="40 mg/0.4 mL", form="injection, syringe", unit="mL",
                      ndcs=(THERAPY_SYRINGE_NDC,), span=_t(6)),
        nodes.Product(id="clot-vial", brand="Clotex", generic="clotexaparin",
                      strength="300 mg/3 mL", form="injection, vial", unit="mL", span=_t(7)),
    ),
    groups=(nodes.Group(id="clotex", title="Clotex syringes or vials",
                        products=("clot-syringe", "clot-vial"), span=_t(9)),),
    limits=(
        nodes.Limit(target="clotex", channel=None, rule=nodes.TherapyMax(days=14), span=_t(12)),
        nodes.Limit(target="clot-syringe", channel="retail",
                    rule=nodes.PerWindow(quantity=_q("12", "mL", _t(13)), days=30), span=_t(13)),
        nodes.Limit(target="clot-vial", channel=None, rule=nodes.TherapyMax(days=7), hard=True,
                    when=(nodes.AgeBand(max_years=17, span=_t(14)),), span=_t(14)),
    ),
    facts=(nodes.Fact(id="long_course", type="bool",
                      question="Does the prescriber document a course longer than 14 days?",
                      span=_t(16)),),
    criteria=(
        nodes.Criterion(
            id="extended-course", title="Extended course",
            when=nodes.FactRef(fact="long_course", span=_t(18)),
            approves=(nodes.Approval(target="clotex", channel=None,
                                     rule=nodes.TherapyMax(days=35), span=_t(19)),),
            span=_t(17)),
    ),
    span=_t(1, 1),
)
THERAPY = _compiled(THERAPY_POLICY, THERAPY_FILE)

ALL = (ANZUPGO, KITCHEN, DAILY)
# The differential tests also decide claims under the therapy-duration sample.
SAMPLES = (*ALL, THERAPY)


# ---------------------------------------------------------------------------------------------
# The worked cases of design §5 for Anzupgo, and two more: (name, claim, expected fields)

DOS = "2026-03-01"
ACTIVE_OVERRIDE = {"id": "pa-7", "criterion": "additional-quantity",
                   "products": ["anzupgo-2pct-cream"], "effective_from": "2026-01-15",
                   "effective_through": "2027-01-14"}


def anzupgo_claim(quantity: object = "30", days_supply: object = 30, channel: str = "retail",
                  history: Sequence[dict] = (), authorizations: Sequence[dict] = (),
                  **changes: object) -> dict:
    claim = {"claim_id": "c-1", "date_of_service": DOS, "product": "anzupgo-2pct-cream",
             "ndc": None, "quantity": quantity, "unit": "g", "days_supply": days_supply,
             "channel": channel,
             "member": {"birth_date": "1980-04-02"}, "history": _listed(history),
             "authorizations": _listed(authorizations)}
    claim.update(changes)
    return {k: v for k, v in claim.items() if v is not _DROP}


_DROP = object()


def _listed(value: object) -> object:
    return list(value) if isinstance(value, (list, tuple)) else value  # anything else as it is


def paid_fill(days_before: int, quantity: str = "30", status: str = "paid", channel: str = "retail",
              claim_id: str = "c-0") -> dict:
    day = dt.date.fromisoformat(DOS) - dt.timedelta(days=days_before)
    return {"claim_id": claim_id, "date_of_service": day.isoformat(),
            "product": "anzupgo-2pct-cream", "quantity": quantity, "days_supply": 30,
            "channel": channel, "status": status}


ANZUPGO_CASES = [
    ("1 retail 30 g", anzupgo_claim(),
     {"outcome": "paid", "reject_code": None, "max_allowed_quantity": "30",
      "max_allowed_packages": 1}),
    ("2 retail 60 g", anzupgo_claim("60"),
     {"outcome": "rejected", "reject_code": "76",
      "messages": ["QL 30 G PER 30 DAYS", "MAX ALLOWED NOW 30 G"],
      "limit": {"quantity": "30", "unit": "g", "days": 30, "source": "base",
                "authorization_id": None, "kind": "per_window", "text": "30 g per 30 days"}}),
    ("3 retail 60 g with override", anzupgo_claim("60", authorizations=[ACTIVE_OVERRIDE]),
     {"outcome": "paid", "limit": {"quantity": "60", "unit": "g", "days": 30, "source": "override",
                                   "authorization_id": "pa-7", "kind": "per_window",
                                   "text": "60 g per 30 days"}}),
    ("4 retail 30 g 20 days after 30 g", anzupgo_claim(history=[paid_fill(20)]),
     {"outcome": "rejected", "reject_code": "76", "prior_quantity": "30", "total_quantity": "60",
      "max_allowed_quantity": "0", "max_allowed_packages": 0,
      "messages": ["QL 30 G PER 30 DAYS", "MAX ALLOWED NOW 0 G"],
      "window": {"start": "2026-01-31", "end": "2026-03-01"}}),
    ("5 retail 30 g 30 days after 30 g", anzupgo_claim(history=[paid_fill(30)]),
     {"outcome": "paid", "prior_quantity": "0"}),
    ("6 home delivery 90 g", anzupgo_claim("90", 90, "home_delivery"), {"outcome": "paid"}),
    ("7 home delivery 180 g", anzupgo_claim("180", 90, "home_delivery"),
     {"outcome": "rejected", "reject_code": "76", "max_allowed_quantity": "90",
      "limit": {"quantity": "90", "unit": "g", "days": 90, "source": "base",
                "authorization_id": None, "kind": "per_window", "text": "90 g per 90 days"}}),
    ("8 home delivery 180 g with override", anzupgo_claim("180", 90, "home_delivery",
                                                         authorizations=[ACTIVE_OVERRIDE]),
     {"outcome": "paid", "max_allowed_quantity": "180"}),
    ("9 retail 60 g, override ended the day before",
     anzupgo_claim("60", authorizations=[dict(ACTIVE_OVERRIDE, effective_from="2025-03-01",
                                              effective_through="2026-02-28")]),
     {"outcome": "rejected", "reject_code": "76"}),
    ("10 retail 30 g for 14 days", anzupgo_claim("30", 14), {"outcome": "paid"}),
    ("11 retail 30 g after a reversal", anzupgo_claim(history=[paid_fill(5, status="reversed")]),
     {"outcome": "paid", "prior_quantity": "0"}),
    ("12a retail 0 g", anzupgo_claim("0"), {"outcome": "rejected", "reject_code": "E7"}),
    ("12b retail, no quantity", anzupgo_claim(_DROP), {"outcome": "rejected", "reject_code": "E7"}),
    ("13 retail, days supply 0", anzupgo_claim("30", 0),
     {"outcome": "rejected", "reject_code": "19"}),
    ("14 a product no policy covers", anzupgo_claim(product="ointment-x"),
     {"outcome": "not_applicable", "reject_code": None}),
    ("home delivery 90 g ten days after a retail 30 g",
     anzupgo_claim("90", 90, "home_delivery", history=[paid_fill(10)]),
     {"outcome": "rejected", "reject_code": "76", "prior_quantity": "30",
      "max_allowed_quantity": "60", "max_allowed_packages": 2,
      "messages": ["QL 90 G PER 90 DAYS", "MAX ALLOWED NOW 60 G"]}),
    ("a rebill does not count against itself",
     anzupgo_claim(history=[paid_fill(5, claim_id="c-1")]),
     {"outcome": "paid", "prior_quantity": "0"}),
]


# ---------------------------------------------------------------------------------------------
# Generated code under test: written by dqmc.codegen.loader.write_generated, imported by the
# loader under a name no other test uses (load_generated names a package by its text, so equal
# policies would share one module)

_serial = itertools.count(1)


def import_package(package_dir: Path) -> ModuleType:
    """The generated dqm_policies package in package_dir, imported under a fresh unique name."""
    return loader.import_package(package_dir, f"_generated_under_test_{next(_serial)}")


def policy_module(package: ModuleType, policy_id: str) -> ModuleType:
    """The generated module of one policy, imported through the package's registry."""
    row = next(r for r in package.policies() if r["id"] == policy_id)
    return importlib.import_module(f"{package.__name__}.{row['module']}")
