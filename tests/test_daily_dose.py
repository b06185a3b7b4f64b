"""Daily-dose edits: checks, both spellings, exact arithmetic, and the two evaluators' agreement
on the boundary claims of cms-partd-opioid-safety (thresholds, active fills' edges, look-back)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest
import yaml
from conftest import REPO
from ir_samples import import_package, policy_module

from dqmc import interpreter
from dqmc.codegen.loader import write_generated
from dqmc.lang.ir import nodes, queries
from dqmc.lang.pipeline import compile_paths, compile_text
from dqmc.lang.printers.dsl_print import print_policy
from dqmc.lang.printers.yaml_emit import emit_yaml
from dqmc.revisions.direction import LOOSER, STRICTER, rule_effect

SPEC = REPO / "policy_specs" / "cms-partd-opioid-safety.dqm"
COMPILED = compile_paths([SPEC]).compiled[0]
POLICY = COMPILED.policy
DOS = dt.date(2026, 3, 1)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory):
    package = import_package(write_generated([COMPILED],
                                             tmp_path_factory.mktemp("dose") / "python"))
    return policy_module(package, POLICY.id)


def _claim(product: str, quantity: Decimal | str, days: int, history: list[dict] = (),
           **extra: object) -> dict:
    claim = {"claim_id": "c", "date_of_service": DOS.isoformat(), "product": product,
             "quantity": str(quantity), "unit": "each", "days_supply": days, "channel": "retail",
             "history": list(history)}
    claim.update(extra)
    return claim


def _fill(product: str, day: dt.date, quantity: str = "60", days: int = 30, **extra) -> dict:
    return {"claim_id": f"h-{product}-{day}", "date_of_service": day.isoformat(),
            "product": product, "quantity": quantity, "days_supply": days, "status": "paid",
            **extra}


def boundary_claims() -> list[dict]:
    """For every dose rule and product it decides: the quantity at the threshold and one
    thousandth either side, alone and on top of an active fill; every active fill's first and
    last day and the day after; the first-fill look-back's edge."""
    claims = []
    opioid = [p for p in POLICY.products if p.id in POLICY.group("opioids").products]
    for limit in POLICY.limits:
        rule = limit.rule
        if not isinstance(rule, nodes.DailyDose):
            continue
        terms = queries.dose_terms(POLICY, rule)
        for product_id in queries.scope_products(POLICY, limit.target):
            per_unit = terms[product_id]
            for days in (7, 30):
                # room for this claim alone, and beside a 30-day fill of 60 units (active)
                for prior in ((), (_fill(product_id, DOS - dt.timedelta(days=10)),)):
                    others = sum(Fraction(60) * Fraction(per_unit) / 30 for _ in prior)
                    exact = (Fraction(rule.limit) - others) * days / Fraction(per_unit)
                    at = Decimal(exact.numerator) / Decimal(exact.denominator)
                    for q in {at.quantize(Decimal("0.001")), at.quantize(Decimal("0.001")) +
                              Decimal("0.001"), at.quantize(Decimal("0.001")) - Decimal("0.001")}:
                        if Decimal("0.001") <= q <= Decimal("9999999.999"):
                            history = [*prior, _fill(opioid[0].id, DOS - dt.timedelta(30))]
                            claims.append(_claim(product_id, q, days, history))
    for product in opioid:
        for back in (0, 29, 30):  # first day, last day, the day after a 30-day supply
            fill = _fill(product.id, DOS - dt.timedelta(days=back), quantity="180")
            claims.append(_claim("oxycodone-10mg-tab", "60", 30, [fill]))
    for back in (59, 60, 61):  # the 60-day look-back: inside, its first day, outside
        fill = _fill("tramadol-50mg-tab", DOS - dt.timedelta(days=back), quantity="10", days=5)
        for days in (7, 8):
            claims.append(_claim("oxycodone-10mg-tab", "8", days, [fill]))
    exclusions = [None, ["hospice"], ["asthma"]]
    overrides = [None, [{"professional_service": "M0", "result": "1G"}],
                 [{"reason": "HD", "professional_service": "M0", "result": "1A"}]]
    for excluded in exclusions:
        for dur in overrides:
            extra: dict[str, object] = {}
            if excluded is not None:
                extra["member"] = {"exclusions": excluded}
            if dur is not None:
                extra["dur_pps"] = dur
            for quantity in ("180", "400"):
                claims.append(_claim("hydrocodone-apap-10-325-tab", quantity, 30,
                                     [_fill("morphine-er-30mg-tab", DOS - dt.timedelta(5))],
                                     **extra))
    rebill = _fill("oxycodone-10mg-tab", DOS, quantity="180")
    rebill["claim_id"] = "c"
    claims.append(_claim("oxycodone-10mg-tab", "60", 30, [rebill]))
    return claims


BOUNDARY = boundary_claims()


def test_the_boundary_claims_cover_every_outcome_the_edits_make() -> None:
    outcomes = {(d["outcome"], d["reject_code"]) for d in
                (interpreter.evaluate(COMPILED, c) for c in BOUNDARY)}
    assert {("paid", None), ("rejected", "88"), ("rejected", "76")} <= outcomes
    assert len(BOUNDARY) > 100


@pytest.mark.parametrize("index", range(len(BOUNDARY)))
def test_interpreter_and_generated_agree_on_every_boundary_claim(generated, index: int) -> None:
    claim = BOUNDARY[index]
    assert generated.evaluate(claim) == interpreter.evaluate(COMPILED, claim)


_MEMBER_VARIANTS = (
    {}, {"member": {"exclusions": ["hospice"]}}, {"member": {"exclusions": ["unrelated"]}},
    {"dur_pps": [{"professional_service": "M0", "result": "1G"}]},
    {"dur_pps": [{"reason": "ER", "professional_service": "M0", "result": "1B"}]},
    {"member": {"exclusions": ["cancer"], "birth_date": "1950-01-01"}, "dur_pps": []},
    # malformed: the plain reader leaves them to parse_claim, which rejects them
    {"dur_pps": {"result": "1G"}}, {"member": {"exclusions": "hospice"}},
    {"member": {"exclusions": [""]}}, {"dur_pps": [{"reason": 7}]},
)


def test_the_plain_reader_decides_dose_claims_as_the_typed_path_does(generated) -> None:
    """Dose products are read straight from plain JSON (exclusions, DUR/PPS codes, each prior
    fill's supply): every claim it takes is decided as parse_claim and decide_claim would, and
    it takes every well-formed one."""
    parse = generated.rt.parse_claim
    taken = 0
    for claim in BOUNDARY[::3]:
        for extra in _MEMBER_VARIANTS:
            variant = dict(claim, **extra)
            parsed = parse(variant)
            plain = generated.evaluate_plain(variant)
            if isinstance(parsed, generated.rt.Rejection):
                assert plain is None, extra
                continue
            assert plain == generated.evaluate_claim(parsed) == interpreter.evaluate(
                COMPILED, variant), extra
            taken += 1
    assert taken == len(BOUNDARY[::3]) * 6
    # A prior opioid fill with no days supply cannot be measured: left to decide_claim (85).
    unmeasured = _claim("oxycodone-10mg-tab", "20", 5, history=[
        {k: v for k, v in _fill("morphine-er-30mg-tab", DOS - dt.timedelta(days=3)).items()
         if k != "days_supply"}])
    assert generated.evaluate_plain(unmeasured) is None
    assert generated.evaluate(unmeasured)["reject_code"] == "85"


def test_a_dose_exactly_at_a_limit_is_at_it_whatever_the_fractions() -> None:
    # 90 MME over 7 days of oxycodone 15 MME a tablet is 42 tablets: 42 × 15 / 7 = 90 exactly,
    # while 41.999 tablets is 89.99... and one thousandth more is over.
    earlier = [_fill("tramadol-50mg-tab", DOS - dt.timedelta(40))]  # not naive, not active
    at = interpreter.evaluate(COMPILED, _claim("oxycodone-10mg-tab", "42", 7, earlier))
    under = interpreter.evaluate(COMPILED, _claim("oxycodone-10mg-tab", "41.999", 7, earlier))
    assert (at["outcome"], at["reject_code"]) == ("rejected", "88")
    assert at["messages"][1] == "TOTAL 90 MME/DAY"
    # max allowed is in whole tablets: 41.999 would keep the total under 90, 42 would not
    assert under["outcome"] == "paid" and under["max_allowed_quantity"] == "41"


def test_active_fills_show_their_share_in_the_trace(generated) -> None:
    claim = _claim("acetaminophen-500mg-tab", "60", 30,
                   [_fill("hydrocodone-apap-10-325-tab", DOS - dt.timedelta(3), quantity="90")])
    decision = generated.evaluate(claim)
    step = next(s for s in decision["trace"] if s["step"] == "daily_dose")
    assert step["detail"] == (f"mg acetaminophen per day: {DOS - dt.timedelta(3)} "
                              "hydrocodone-apap-10-325-tab 975 + this claim 1000 = 1975 <= 4000")
    # (4000 − 975) × 30 ÷ 500 = 181.5 tablets keep the total at the ceiling: 181 whole ones
    assert decision["max_allowed_quantity"] == "181"


def test_both_spellings_print_and_read_back_to_the_same_policy() -> None:
    yaml_text = emit_yaml(POLICY)
    # The MME table is the shared one, read from beside the spec in either spelling.
    assert "contains:" in yaml_text
    assert "\nuse_factors:\n  mme: shared/cdc-2022-mme.dqm\n" in yaml_text
    from_yaml = compile_text(str(SPEC.with_name("opioids.yaml")), yaml_text)
    assert not from_yaml.diagnostics and from_yaml.policy == POLICY
    again = compile_text(str(SPEC.with_name("opioids.dqm")), print_policy(POLICY))
    assert not again.diagnostics and again.policy == POLICY


BASE = """policy p "P" {
  type per_day
  product a { brand "A" generic "a" form "tablet" unit each contains 10 mg oxycodone }
  product b { brand "B" generic "b" form "tablet" unit each contains 5 mcg fentanyl }
  factors mme "MME" { oxycodone 1.5 source "CDC 2022" }
  group g "G": a
  %s
}
"""


@pytest.mark.parametrize(("text", "code"), [
    ("limit g { all dose codeine < 90 per day }", "dose.unknown-measure"),
    ("limit g { all dose mme < 90 mg per day }", "dose.unit"),
    ("limit a { all dose oxycodone <= 100 mcg per day }", "dose.unit"),
    ("limit b { all dose mme < 90 per day }", "dose.no-content"),
    ("limit g { all dose mme < 0 per day }", "quantity.non-positive"),
    ("limit g { all dose mme < 90 per day hard override service \"M0\" }", "limit.hard-override"),
    ("limit g { all dose mme < 90 per day override service \"M0X\" }", "override.code"),
    ("limit g { all dose mme < 90 per day reject \"8\" }", "policy.reject-code"),
    ("limit g { all days supply <= 7 if no fill in 0 days }", "window.non-positive"),
    ("limit g { all dose mme < 90 per day unless member hospice, hospice }",
     "limit.duplicate-exclusion"),
    ("factors mme \"again\" { morphine 1 }\n limit g { all dose mme < 90 per day }",
     "factors.duplicate"),
])
def test_malformed_daily_dose_lines_get_their_diagnostic(text: str, code: str) -> None:
    result = compile_text("p.dqm", BASE % text)
    assert code in [d.code for d in result.diagnostics], [str(d) for d in result.diagnostics]


def test_an_unused_or_unsourced_factor_table_is_a_warning() -> None:
    text = BASE.replace(' source "CDC 2022"', "") % "limit a { all 10 each per fill }"
    found = {d.code: d.severity for d in compile_text("p.dqm", text).diagnostics}
    assert found.keys() >= {"factors.no-source", "factors.unused"}
    assert {str(found["factors.unused"]), str(found["factors.no-source"])} <= {
        "warning", "Severity.WARNING"}


def test_claims_with_malformed_dur_pps_or_exclusions_are_rejected_not_paid(generated) -> None:
    for extra, code in (({"dur_pps": {"result": "1G"}}, "85"),
                        ({"dur_pps": [{"professional_service": "m0"}]}, "E5"),
                        ({"dur_pps": [{"reason": 7}]}, "E4"),
                        ({"member": {"exclusions": "hospice"}}, "85"),
                        ({"member": {"exclusions": [""]}}, "85")):
        claim = _claim("oxycodone-10mg-tab", "20", 5, **extra)
        for decision in (generated.evaluate(claim), interpreter.evaluate(COMPILED, claim)):
            assert (decision["outcome"], decision["reject_code"]) == ("rejected", code), extra


def test_diff_ranks_dose_and_first_fill_changes() -> None:
    lower = nodes.DailyDose(measure="mme", op="<", limit=Decimal(80), unit=None)
    base = nodes.DailyDose(measure="mme", op="<", limit=Decimal(90), unit=None)
    at_most = nodes.DailyDose(measure="mme", op="<=", limit=Decimal(90), unit=None)
    assert rule_effect(base, lower) == STRICTER
    assert rule_effect(base, at_most) == LOOSER
    longer = nodes.FirstFill(days=7, lookback=90)
    assert rule_effect(nodes.FirstFill(days=7, lookback=60), longer) == LOOSER
    assert rule_effect(nodes.FirstFill(days=7, lookback=60),
                       nodes.FirstFill(days=5, lookback=60)) == STRICTER


def test_the_tests_file_covers_every_edit() -> None:
    cases = yaml.safe_load((REPO / "policy_specs" /
                            "cms-partd-opioid-safety.tests.yaml").read_text())["cases"]
    for case in cases:
        if "claim" in case:
            assert interpreter.evaluate(COMPILED, case["claim"])["outcome"] == \
                case["expect"]["outcome"], case["name"]


def test_verify_boundary_claims_cover_the_dose_and_first_fill_edges() -> None:
    from dqmc.lang.verify.boundary import boundary_claims

    found = {(b.product, b.channel, b.rule_text, b.edge): b for b in boundary_claims(POLICY)}

    def outcome(product: str, rule_text: str, edge: str) -> tuple[str, str | None]:
        decision = interpreter.evaluate(COMPILED, found[(product, "retail", rule_text,
                                                         edge)].claim)
        return decision["outcome"], decision["reject_code"]

    mme = "daily dose below 90 mme"
    assert outcome("oxycodone-10mg-tab", mme, "under-limit") == ("paid", None)
    assert outcome("oxycodone-10mg-tab", mme, "at-limit") == ("rejected", "88")
    assert outcome("oxycodone-10mg-tab", mme, "active-first-day") == ("rejected", "88")
    assert outcome("oxycodone-10mg-tab", mme, "active-last-day") == ("rejected", "88")
    assert outcome("oxycodone-10mg-tab", mme, "supply-ended") == ("paid", None)
    apap = "daily dose at most 4000 mg acetaminophen"
    assert outcome("acetaminophen-500mg-tab", apap, "at-limit") == ("paid", None)
    assert outcome("acetaminophen-500mg-tab", apap, "over-limit") == ("rejected", "76")
    naive = "days supply at most 7 without a fill in 60 days"
    assert outcome("tramadol-50mg-tab", naive, "at-limit") == ("paid", None)
    assert outcome("tramadol-50mg-tab", naive, "over-limit") == ("rejected", "76")
    assert outcome("tramadol-50mg-tab", naive, "lookback-first-day") == ("paid", None)
    assert outcome("tramadol-50mg-tab", naive, "lookback-day-before") == ("rejected", "76")
