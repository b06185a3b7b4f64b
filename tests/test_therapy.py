"""`therapy <= D days`: the continuous course a claim continues (docs/language.md, *Therapy
duration*) through every layer: both front ends, printing, checks, both evaluators, the history
each reads, documents, the semantic diff, impact's look-back and the editor."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from ir_samples import THERAPY, THERAPY_SYRINGE_NDC, import_package, policy_module

from dqmc import interpreter
from dqmc import runtime as rt
from dqmc.codegen.loader import write_generated
from dqmc.lang.ir import nodes, queries
from dqmc.lang.pipeline import compile_text
from dqmc.lang.printers.dsl_fragments import format_rule
from dqmc.lang.printers.english import rule_phrase
from dqmc.revisions.direction import LOOSER, STRICTER, rule_effect
from dqmc.revisions.impact import lookback_days

DOS = dt.date(2026, 3, 1)

DSL = '''policy p "Therapy" {
  type per_days
  product inj {
    brand "Brand"
    generic "generic"
    form "injection"
    unit mL
  }
  limit inj {
    all therapy <= 14 days note "more than 14 days of therapy requires prior authorization"
    retail therapy <= 1 day hard
  }
}
'''

YAML = '''policy:
  id: p
  title: Therapy
  type: per_days
products:
  inj:
    brand: Brand
    generic: generic
    form: injection
    unit: mL
limits:
  inj:
    all: therapy <= 14 days note "more than 14 days of therapy requires prior authorization"
    retail: therapy <= 1 day hard
'''


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory):
    package = import_package(write_generated([THERAPY], tmp_path_factory.mktemp("therapy") / "py"))
    return policy_module(package, THERAPY.policy.id)


def lowered(text: str, path: str) -> nodes.Policy:
    result = compile_text(path, text)
    assert result.policy is not None and not any(
        d.severity.name == "ERROR" for d in result.diagnostics), result.diagnostics
    return result.policy


def _day(offset: int) -> str:
    return (DOS + dt.timedelta(days=offset)).isoformat()


def fill(offset: int, days_supply: int | None, *, status: str = "paid",
         product: str = "clot-syringe", claim_id: str = "h") -> dict:
    entry = {"claim_id": claim_id, "date_of_service": _day(offset), "product": product,
             "quantity": "1", "status": status}
    if days_supply is not None:
        entry["days_supply"] = days_supply
    return entry


def claim(days_supply: int, history: list, *, product: str = "clot-vial",
          dos: str = DOS.isoformat(), authorizations: list | None = None,
          birth: str = "1970-01-01") -> dict:
    return {"claim_id": "c-1", "date_of_service": dos, "product": product, "quantity": "3",
            "unit": "mL", "days_supply": days_supply, "channel": "retail",
            "member": {"birth_date": birth}, "history": history,
            "authorizations": authorizations or []}


def decide(module, record: dict) -> dict:
    """The decision both evaluators give (they must agree to the letter)."""
    expected = interpreter.evaluate(THERAPY, record)
    assert module.evaluate(record) == expected
    assert module.evaluate(json.loads(json.dumps(record))) == expected
    return expected


def course(decision: dict) -> str:
    return next(s["detail"] for s in decision["trace"] if s["step"] == "therapy")


# -- language ----------------------------------------------------------------------------------


def test_both_spellings_lower_to_equal_ir_and_print_back() -> None:
    dsl = lowered(DSL, "t.dqm")
    assert dsl == lowered(YAML, "t.yaml")
    limits = dsl.limits
    assert [lim.rule for lim in limits] == [nodes.TherapyMax(days=14), nodes.TherapyMax(days=1)]
    assert format_rule(limits[0].rule) == "therapy <= 14 days"
    assert format_rule(limits[1].rule) == "therapy <= 1 day"


def test_convert_and_fmt_round_trip() -> None:
    from dqmc.lang.printers.dsl_print import print_policy
    from dqmc.lang.printers.yaml_emit import emit_yaml

    policy = lowered(DSL, "t.dqm")
    as_dsl = print_policy(policy)
    assert "therapy <= 14 days note" in as_dsl and "therapy <= 1 day hard" in as_dsl
    assert lowered(as_dsl, "again.dqm") == policy
    as_yaml = emit_yaml(policy)
    assert "therapy <= 14 days note" in as_yaml
    assert lowered(as_yaml, "again.yaml") == policy


def test_documents_hover_and_messages_word_it() -> None:
    from dqmc.authoring.lsp import describe as lsp_describe

    assert rule_phrase(nodes.TherapyMax(days=14), ()) == "at most 14 days of continuous therapy"
    assert lsp_describe.rule_text(nodes.TherapyMax(days=14)).startswith(
        "continuous therapy at most 14 days")
    assert rt.rule_text("therapy_max", None, None, 14) == "therapy at most 14 days"
    assert rt.rule_message("therapy_max", None, None, 14) == "THERAPY LIMIT 14 DAYS"


def test_editor_completes_the_keyword_after_a_channel() -> None:
    from dqmc.authoring.lsp.complete import dsl_candidates
    from dqmc.authoring.lsp.index import dsl_names

    typing = DSL.split("    all therapy")[0] + "    all "
    labels = [c.label for c in dsl_candidates(typing, dsl_names(typing))]
    assert "therapy" in labels and "days" in labels
    typing = DSL.split("    all therapy")[0] + "    all therapy <= 14 "
    assert {c.label for c in dsl_candidates(typing, dsl_names(typing))} == {"day", "days"}


def test_therapy_is_a_keyword_of_the_textmate_grammar() -> None:
    from pathlib import Path

    for path in ("editors/dqm.tmLanguage.json", "editors/vscode/syntaxes/dqm.tmLanguage.json"):
        assert "|therapy|" in Path(path).read_text(encoding="utf-8")


def test_a_group_of_mixed_units_may_carry_it_and_a_cap_beside_it_is_flagged() -> None:
    text = DSL.replace('  limit inj {', '''  product tab {
    brand "Brand"
    generic "generic"
    form "tablet"
    unit each
  }
  group both "Both": inj, tab
  limit both {
    all therapy <= 10 days
  }
  limit inj {
    all days supply <= 14''')
    lowered(text, "t.dqm")
    codes = [d.code for d in compile_text("t.dqm", text).diagnostics]
    assert codes == ["limit.days-supply-under-therapy"]
    # A hard cap under a soft course rule still decides under an authorization: no finding.
    hard = text.replace("days supply <= 14", "days supply <= 14 hard")
    assert compile_text("t.dqm", hard).diagnostics == []


def test_the_diff_ranks_a_longer_course_looser() -> None:
    assert rule_effect(nodes.TherapyMax(days=14), nodes.TherapyMax(days=28)) == LOOSER
    assert rule_effect(nodes.TherapyMax(days=14), nodes.TherapyMax(days=7)) == STRICTER
    assert rule_effect(nodes.TherapyMax(days=14), nodes.TherapyMax(days=14)) is None


def test_the_diff_ranks_a_cap_replaced_by_a_course_stricter() -> None:
    from dqmc.revisions.diff import diff_policies

    cap = lowered(DSL.replace("all therapy <= 14 days", "all days supply <= 14"), "t.dqm")
    course = lowered(DSL, "t.dqm")

    def verdict(old: nodes.Policy, new: nodes.Policy) -> str:
        found = diff_policies(old, new).verdicts
        return next(v.point_of_service for v in found if v.channel == "home_delivery")

    assert verdict(cap, course) == STRICTER
    assert verdict(course, cap) == LOOSER
    shorter_cap = lowered(DSL.replace("all therapy <= 14 days", "all days supply <= 10"), "t.dqm")
    assert verdict(shorter_cap, course) == "mixed"  # longer claims pay, long courses do not


def test_history_window_is_d_plus_999_days() -> None:
    assert queries.history_days(nodes.TherapyMax(days=14)) == 14 + 999
    assert rt.therapy_history_days(14) == 1013
    assert lookback_days([lowered(DSL, "t.dqm")]) == 1013


# -- semantics ---------------------------------------------------------------------------------


def test_one_claim_of_d_days_pays_and_d_plus_one_is_rejected(module) -> None:
    paid = decide(module, claim(14, []))
    assert paid["outcome"] == "paid" and paid["limit"]["kind"] == "therapy_max"
    assert paid["max_allowed_quantity"] is None and paid["window"] is None
    rejected = decide(module, claim(15, []))
    assert (rejected["outcome"], rejected["reject_code"]) == ("rejected", "76")
    assert rejected["messages"] == ["THERAPY LIMIT 14 DAYS"]
    assert course(rejected) == ("course 2026-03-01..2026-03-15 (through the end of this claim's"
                                " supply): 15 days > 14")


def test_contiguous_fills_continue_the_course_and_a_gap_day_ends_it(module) -> None:
    assert decide(module, claim(8, [fill(-7, 7)]))["outcome"] == "rejected"
    assert decide(module, claim(7, [fill(-7, 7)]))["outcome"] == "paid"
    gap = decide(module, claim(8, [fill(-8, 7)]))
    assert gap["outcome"] == "paid" and course(gap).startswith("course 2026-03-01..")


def test_overlap_counts_once_early_refills_are_not_queued(module) -> None:
    # 02-24..03-02 and 03-01..03-08: 13 days, not 7 + 8 = 15.
    overlapping = decide(module, claim(8, [fill(-5, 7)]))
    assert overlapping["outcome"] == "paid"
    assert course(overlapping).startswith("course 2026-02-24..2026-03-08")
    assert "13 days <= 14" in course(overlapping)


def test_a_long_fill_bridges_and_the_course_is_the_run_holding_the_claim(module) -> None:
    # 40 days of supply from -50 (through -11), then -12 for 11 days (through -2), then a gap
    # at -1: the claim starts a new course.
    assert decide(module, claim(5, [fill(-50, 40), fill(-12, 11)]))["outcome"] == "paid"
    # The same with the gap filled by a fill that began earlier and overlaps everything.
    bridged = decide(module, claim(5, [fill(-50, 40), fill(-12, 11), fill(-3, 3)]))
    assert bridged["outcome"] == "rejected"


def test_reversals_rebills_later_fills_and_other_products_do_not_count(module) -> None:
    for history in ([fill(-7, 7, status="reversed")], [fill(-7, 7, claim_id="c-1")],
                    [fill(1, 7)], [fill(-7, 7, product="elsewhere")]):
        assert decide(module, claim(8, history))["outcome"] == "paid", history


def test_the_group_counts_every_member_by_product_or_ndc(module) -> None:
    by_ndc = {"claim_id": "h", "date_of_service": _day(-7), "ndc": THERAPY_SYRINGE_NDC,
              "quantity": "1", "status": "paid", "days_supply": 7}
    assert decide(module, claim(8, [by_ndc]))["outcome"] == "rejected"
    assert decide(module, claim(8, [fill(-7, 7, product="clot-vial")]))["outcome"] == "rejected"


def test_a_prior_fill_without_days_supply_is_rejected_85_within_the_look_back(module) -> None:
    refused = decide(module, claim(7, [fill(-3, 7), fill(-7, None, claim_id="h-9")]))
    assert (refused["reject_code"], refused["messages"]) == ("85", ["BAD HISTORY ENTRY 2 H-9"])
    # Outside the look-back (older than D + 998 days before; D = 35 with the approval), it
    # could not reach the course whatever its supply: no reject.
    old = decide(module, claim(7, [fill(-(35 + 999), None)]))
    assert old["outcome"] == "paid"
    assert decide(module, claim(7, [fill(-(35 + 998), None)]))["reject_code"] == "85"
    # Reversed, or another product's: nothing to measure.
    assert decide(module, claim(7, [fill(-3, None, status="reversed")]))["outcome"] == "paid"


def test_an_active_authorization_lifts_it_unless_hard(module) -> None:
    longer = [{"id": "pa-1", "products": ["clotex"], "criterion": "extended-course",
               "effective_from": _day(-30), "effective_through": _day(60)}]
    lifted = decide(module, claim(8, [fill(-7, 7)], authorizations=longer))
    assert lifted["outcome"] == "paid" and lifted["limit"]["source"] == "override"
    assert lifted["messages"] == ["THERAPY LIMIT 35 DAYS"]
    expired = [dict(longer[0], effective_through=_day(-1))]
    assert decide(module, claim(8, [fill(-7, 7)], authorizations=expired))["outcome"] == \
        "rejected"
    # A child's vial course is a hard 7 days: the approval cannot pass it.
    child = decide(module, claim(8, [], authorizations=longer, birth="2015-01-01"))
    assert child["outcome"] == "rejected" and child["messages"] == ["THERAPY LIMIT 7 DAYS"]


def test_the_oldest_fill_that_can_count_and_one_day_older(module) -> None:
    # A 999-day supply dated D + 998 days before the claim ends D days before it: it joins a
    # course that a 13-day fill carries to the claim, and the course is traced back to it.
    oldest = decide(module, claim(1, [fill(-(14 + 998), 999), fill(-13, 13)]))
    assert oldest["outcome"] == "rejected"
    assert course(oldest).startswith(f"course {_day(-(14 + 998))}..")
    # One day older, it ends D + 1 days before: not consulted, and not needed to decide.
    older = decide(module, claim(1, [fill(-(14 + 999), 999), fill(-14, 14)]))
    assert older["outcome"] == "rejected"
    assert course(older).startswith(f"course {_day(-14)}..")


def test_dates_at_the_ends_of_the_calendar_never_raise(module) -> None:
    late = decide(module, claim(30, [dict(fill(0, 7), date_of_service="9999-12-24")],
                                dos="9999-12-31"))
    assert late["outcome"] == "rejected"
    assert course(late).startswith("course 9999-12-24..9999-12-31 (through the end of this "
                                   "claim's supply): 37 days > 14")
    early = decide(module, claim(3, [], dos="0001-01-02", birth="0001-01-01"))
    assert early["outcome"] == "paid"


def test_history_outside_the_declared_window_never_changes_a_decision(module) -> None:
    """The look-back is enough: entries dated before it (any supply up to 999 days) or after the
    claim, added to any history, leave every decision as it was."""
    rng = random.Random(20261129)
    for _ in range(400):
        days_supply = rng.choice([1, 3, 7, 8, 14, 15, 30])
        history = [fill(rng.randint(-60, 0), rng.choice([1, 2, 5, 7, 13, 14, 30, 90]),
                        product=rng.choice(["clot-syringe", "clot-vial"]))
                   for _ in range(rng.randint(0, 5))]
        record = claim(days_supply, history)
        before = decide(module, record)
        far = [fill(-(35 + 999) - rng.randint(0, 500), rng.randint(1, 999)) for _ in range(3)]
        later = [fill(rng.randint(1, 20), rng.randint(1, 30))]
        rng.shuffle(far)
        after = decide(module, claim(days_supply, far + history + later))
        assert after == before, (record, far, later)
