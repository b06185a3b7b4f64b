"""IR policies for the document tests: Anzupgo (ir_samples'), every rule kind, hostile spec text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ir_samples import ANZUPGO

from dqmc.codegen.docs_emit import DocsConfig
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.ir import nodes
from dqmc.lang.ir.canonical import content_hash

SAMPLE_VERSION = "0.0.0+docs-test"  # a fixed version, so golden files do not change with releases

SAMPLE_CONFIG = DocsConfig(
    organization="Example Health Plan",
    document_heading="DRUG QUANTITY MANAGEMENT POLICY",
    instructions_for_use=(
        "This sample policy shows how Example Health Plan states quantity limits.\n\n"
        "Plan documents govern where they differ from this policy."
    ),
    criteria_intro="A larger quantity is covered when the criteria below are met.",
    footer="Example Health Plan. Sample document for tests.",
)


def compiled(policy: nodes.Policy, source: str) -> CompiledPolicy:
    return CompiledPolicy(policy=policy, source=source, content_hash=content_hash(policy))


# ---------------------------------------------------------------------------------------------
# Anzupgo: the reference policy (retail 30 g / 30 days, home delivery 90 g / 90 days), compiled
# from policy_specs/anzupgo.dqm once, in ir_samples, for the evaluator and the document tests.


def anzupgo_policy() -> nodes.Policy:
    return ANZUPGO.policy


def anzupgo_compiled() -> CompiledPolicy:
    return ANZUPGO


# ---------------------------------------------------------------------------------------------
# Every rule kind, selector, unit and condition shape the documents must put into words

ALL_RULES_SOURCE = "policy_specs/sample-all-rules.yaml"


def each(amount: int) -> nodes.Quantity:
    return nodes.Quantity(amount=Decimal(amount), unit="each")


def all_rules_policy() -> nodes.Policy:
    return nodes.Policy(
        id="sample-all-rules",
        title="Sample – Every Kind of Limit",
        type="mixed",
        review_date=dt.date(2026, 1, 5),
        effective_date=dt.date(2026, 2, 1),
        approval_duration=nodes.Duration(kind="fixed", amount=6, unit="months"),
        channels=(*nodes.default_channels(), nodes.Channel(id="specialty", label="Specialty")),
        products=(
            nodes.Product(
                id="rizatriptan-10mg",
                brand="Maxalt",
                generic="rizatriptan",
                strength="10 mg",
                form="tablet",
                unit="each",
            ),
            nodes.Product(
                id="sumatriptan-100mg",
                brand="Imitrex",
                generic="sumatriptan",
                strength="100 mg",
                form="tablet",
                unit="each",
            ),
            nodes.Product(
                id="ondansetron-film",
                brand="Zuplenz",
                generic="ondansetron",
                strength="8 mg",
                form="oral soluble film",
                unit="each",
                packages=(
                    nodes.Package(
                        id="carton-10",
                        size=each(10),
                        description="carton of 10 films",
                        noun="carton",
                    ),
                ),
            ),
            nodes.Product(
                id="glucose-strips",
                brand="glucose test strip",
                generic="glucose test strip",
                strength=None,
                form="strip",
                unit="each",
                label="Blood glucose test strips",
            ),
            nodes.Product(
                id="clobetasol-cream",
                brand="Temovate",
                generic="clobetasol",
                strength="0.05%",
                form="cream",
                unit="g",
                packages=(
                    nodes.Package(
                        id="tube-15g",
                        size=nodes.Quantity(amount=Decimal(15), unit="g"),
                        description="15 gram tube",
                        noun="tube",
                    ),
                    nodes.Package(
                        id="tube-60g",
                        size=nodes.Quantity(amount=Decimal(60), unit="g"),
                        description="60 gram tube",
                        noun="tube",
                    ),
                ),
            ),
            nodes.Product(
                id="semaglutide-pen",
                brand="Ozempic",
                generic="semaglutide",
                strength="2 mg/3 mL",
                form="pen injector",
                unit="mL",
                packages=(
                    nodes.Package(
                        id="pen-3ml",
                        size=nodes.Quantity(amount=Decimal(3), unit="mL"),
                        description="3 mL pen",
                        noun="pen",
                    ),
                ),
            ),
        ),
        groups=(
            nodes.Group(
                id="triptans",
                title="Triptan tablets",
                products=("rizatriptan-10mg", "sumatriptan-100mg"),
            ),
        ),
        limits=(
            nodes.Limit(
                target="triptans",
                channel="retail",
                rule=nodes.PerWindow(quantity=each(18), days=30),
            ),
            nodes.Limit(
                target="triptans",
                channel="home_delivery",
                rule=nodes.PerWindow(quantity=each(54), days=90),
            ),
            nodes.Limit(
                target="ondansetron-film",
                channel=None,
                rule=nodes.PerDay(quantity=each(2), max_days=5),
                note="for nausea from chemotherapy",
            ),
            nodes.Limit(
                target="ondansetron-film",
                channel=None,
                rule=nodes.FillsPerWindow(fills=2, days=365),
                # a soft edit: DUR/PPS codes with every field set pass it
                overrides=(nodes.DurOverride(reason="ER", service="M0", result="1B"),),
            ),
            nodes.Limit(
                target="ondansetron-film",
                channel="specialty",
                rule=nodes.PerFill(
                    quantity=nodes.Quantity(
                        amount=Decimal(30), unit="each", packages=Decimal(3), package="carton-10"
                    )
                ),
            ),
            nodes.Limit(
                target="glucose-strips",
                channel="retail",
                rule=nodes.PerWindow(quantity=each(300), days=30),
                when=(nodes.AgeBand(min_years=0, max_years=17),),
            ),
            nodes.Limit(
                target="glucose-strips",
                channel="retail",
                rule=nodes.PerWindow(quantity=each(100), days=30),
                when=(nodes.AgeBand(min_years=18),),
            ),
            nodes.Limit(target="glucose-strips", channel=None, rule=nodes.DaysSupplyMax(days=90)),
            nodes.Limit(
                target="clobetasol-cream",
                channel="retail",
                rule=nodes.PerFill(
                    quantity=nodes.Quantity(
                        amount=Decimal(30), unit="g", packages=Decimal(2), package="tube-15g"
                    )
                ),
                when=(nodes.PackageIs(package="tube-15g"),),
            ),
            nodes.Limit(
                target="clobetasol-cream",
                channel="retail",
                rule=nodes.PerFill(quantity=nodes.Quantity(amount=Decimal(60), unit="g")),
                when=(nodes.PackageIs(package="tube-60g"),),
            ),
            nodes.Limit(
                target="semaglutide-pen",
                channel=None,
                hard=True,
                rule=nodes.PerWindow(
                    quantity=nodes.Quantity(
                        amount=Decimal(3), unit="mL", packages=Decimal(1), package="pen-3ml"
                    ),
                    days=28,
                ),
            ),
        ),
        facts=(
            nodes.Fact(
                id="receiving_chemo", type="bool", question="Is the patient receiving chemotherapy?"
            ),
            nodes.Fact(id="cycles", type="number", question="How many chemotherapy cycles remain?"),
            nodes.Fact(id="chemo_start", type="date", question="When does the next cycle start?"),
            nodes.Fact(
                id="indication",
                type="enum",
                question="What is the drug for?",
                values=("migraine", "cluster_headache", "other"),
            ),
            nodes.Fact(
                id="prior_drugs",
                type="set",
                question="Which drugs were tried before?",
                values=("nsaid", "triptan", "opioid"),
            ),
            nodes.Fact(id="responded", type="bool", question="Did the patient respond to therapy?"),
        ),
        criteria=(
            nodes.Criterion(
                id="chemo-nausea",
                title="Nausea from chemotherapy",
                when=nodes.Or(
                    operands=(
                        nodes.And(
                            operands=(
                                nodes.FactRef(fact="receiving_chemo"),
                                nodes.Compare(fact="cycles", op=">=", value=Decimal(2)),
                            )
                        ),
                        nodes.Compare(fact="chemo_start", op="<=", value=dt.date(2026, 3, 1)),
                    )
                ),
                approves=(
                    nodes.Approval(
                        target="ondansetron-film",
                        channel=None,
                        rule=nodes.PerDay(quantity=each(3), max_days=7),
                    ),
                ),
                duration=nodes.Duration(kind="one_time"),
            ),
            nodes.Criterion(
                id="chemo-nausea-renewal",
                title=None,
                renews="chemo-nausea",
                when=nodes.Compare(fact="responded", op="==", value=True),
                approves=(
                    nodes.Approval(
                        target="ondansetron-film",
                        channel="retail",
                        rule=nodes.FillsPerWindow(fills=4, days=365),
                    ),
                ),
            ),
            nodes.Criterion(
                id="more-triptans",
                title=None,
                when=nodes.And(
                    operands=(
                        nodes.Not(
                            operand=nodes.Or(
                                operands=(
                                    nodes.Compare(fact="indication", op="!=", value="migraine"),
                                    nodes.Not(operand=nodes.FactRef(fact="receiving_chemo")),
                                )
                            )
                        ),
                        nodes.Not(
                            operand=nodes.And(
                                operands=(
                                    nodes.Subset(fact="prior_drugs", values=("nsaid",)),
                                    nodes.Compare(fact="cycles", op="<", value=Decimal("1.5")),
                                )
                            )
                        ),
                        nodes.Not(operand=nodes.InSet(fact="indication", values=("other",))),
                        nodes.Not(operand=nodes.Subset(fact="prior_drugs", values=("opioid",))),
                        nodes.Compare(fact="prior_drugs", op="==", value="triptan"),
                    )
                ),
                approves=(
                    nodes.Approval(
                        target="triptans",
                        channel="retail",
                        rule=nodes.PerWindow(quantity=each(27), days=30),
                    ),
                    nodes.Approval(
                        target="semaglutide-pen",
                        channel="specialty",
                        rule=nodes.PerDay(quantity=nodes.Quantity(amount=Decimal(1), unit="mL")),
                    ),
                    nodes.Approval(
                        target="semaglutide-pen",
                        channel="home_delivery",
                        rule=nodes.PerWindow(
                            quantity=nodes.Quantity(
                                amount=Decimal(6), unit="mL", packages=Decimal(2), package="pen-3ml"
                            ),
                            days=28,
                        ),
                    ),
                    nodes.Approval(
                        target="glucose-strips",
                        channel="retail",
                        rule=nodes.DaysSupplyMax(days=100),
                    ),
                ),
                duration=nodes.Duration(kind="fixed", amount=2, unit="weeks"),
            ),
        ),
        sections=(
            nodes.Section(kind="other", title="Notes", text="Counts are per member."),
            nodes.Section(
                kind="policy_statement", title="Policy Statement", text="Limits apply per claim."
            ),
            nodes.Section(
                kind="overview", title="Overview", text="A sample with every kind of limit."
            ),
        ),
        references=(nodes.Reference(text="Sample reference."),),
        history=(
            nodes.Revision(type="New Policy", date=dt.date(2025, 12, 1), summary="Created."),
            nodes.Revision(type="Annual Revision", date=dt.date(2026, 1, 5)),
        ),
    )


def all_rules_compiled() -> CompiledPolicy:
    return compiled(all_rules_policy(), ALL_RULES_SOURCE)


# ---------------------------------------------------------------------------------------------
# Hostile spec text: markup, template syntax, table breakers, quotes and newlines everywhere

HOSTILE = (
    "<script>alert(1)</script> {{ 7*7 }} {% if %} a|b `tick` \"dq\" 'sq' *em* _u_ [x](y) #h\n"
    "second line"
)
HOSTILE_SOURCE = "policy_specs/hostile-->.yaml"


def hostile_policy() -> nodes.Policy:
    return nodes.Policy(
        id="hostile",
        title=HOSTILE,
        type="per_days",
        review_date=dt.date(2026, 1, 1),
        approval_duration=nodes.Duration(kind="fixed", amount=1, unit="years"),
        channels=(nodes.Channel(id="retail", label=HOSTILE),),
        products=(
            nodes.Product(
                id="p",
                brand=HOSTILE,
                generic="g|x",
                strength="1%|<b>",
                form=HOSTILE,
                unit="g",
                packages=(
                    nodes.Package(
                        id="pk",
                        size=nodes.Quantity(amount=Decimal(5), unit="g"),
                        description=HOSTILE,
                        noun="tube",
                    ),
                ),
            ),
        ),
        limits=(
            nodes.Limit(
                target="p",
                channel="retail",
                rule=nodes.PerWindow(quantity=nodes.Quantity(amount=Decimal(5), unit="g"), days=30),
                note=HOSTILE,
            ),
        ),
        facts=(
            nodes.Fact(id="f", type="bool", question=HOSTILE),
            nodes.Fact(id="e", type="enum", question=HOSTILE, values=("a_b", "c")),
        ),
        criteria=(
            nodes.Criterion(
                id="c",
                title=HOSTILE,
                when=nodes.And(
                    operands=(nodes.FactRef(fact="f"), nodes.InSet(fact="e", values=("a_b",)))
                ),
                approves=(
                    nodes.Approval(
                        target="p",
                        channel="retail",
                        rule=nodes.PerWindow(
                            quantity=nodes.Quantity(amount=Decimal(10), unit="g"), days=30
                        ),
                    ),
                ),
            ),
        ),
        sections=tuple(
            nodes.Section(kind=kind, title=HOSTILE, text=HOSTILE + "\n\n" + HOSTILE)
            for kind in nodes.SECTION_KINDS
        ),
        references=(nodes.Reference(text=HOSTILE),),
        history=(nodes.Revision(type=HOSTILE, date=dt.date(2026, 1, 1), summary=HOSTILE),),
    )


def hostile_compiled() -> CompiledPolicy:
    return compiled(hostile_policy(), HOSTILE_SOURCE)


HOSTILE_CONFIG = DocsConfig(
    organization=HOSTILE,
    document_heading=HOSTILE,
    instructions_for_use=HOSTILE,
    criteria_intro=HOSTILE,
    footer=HOSTILE,
)
