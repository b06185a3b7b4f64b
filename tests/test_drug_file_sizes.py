"""Packages sized `from drug file`: limits count packages whose size each claim brings."""

from __future__ import annotations

from pathlib import Path

import pytest
from ir_samples import import_package, policy_module

from dqmc import interpreter
from dqmc.codegen import docs_view
from dqmc.codegen.loader import write_generated
from dqmc.lang.ir.canonical import canonical_json
from dqmc.lang.pipeline import compile_paths
from dqmc.lang.printers import english
from dqmc.revisions.diff import diff_policies

DSL = '''policy insulin-ql "Insulin vials" {
  type per_days
  product insulin-vial {
    brand "Insulin"
    generic "insulin"
    form "injection, vial"
    unit mL
    package vial from drug file "vial" as vial
  }
  product epo {
    brand "Epo"
    generic "epoetin"
    form "injection, vial or syringe"
    unit mL
    package vial from drug file "vial" as vial
    package syringe from drug file "prefilled syringe" as syringe { ndc "00000000001" }
  }
  limit insulin-vial {
    all 3 vials per 30 days
  }
  limit epo {
    all 4 packages per 30 days
  }
  fact more: bool "More?"
  criterion more-vials {
    when more
    approve insulin-vial {
      all 6 vials per 30 days
    }
  }
}
'''

YAML = '''policy:
  id: insulin-ql
  title: Insulin vials
  type: per_days
products:
  insulin-vial:
    brand: Insulin
    generic: insulin
    form: injection, vial
    unit: mL
    packages:
      vial: {size: from drug file, description: vial, noun: vial}
  epo:
    brand: Epo
    generic: epoetin
    form: injection, vial or syringe
    unit: mL
    packages:
      vial: {size: from drug file, description: vial, noun: vial}
      syringe: {size: from drug file, description: prefilled syringe, noun: syringe,
                ndc: ["00000000001"]}
limits:
  insulin-vial:
    all: 3 vials per 30 days
  epo:
    all: 4 packages per 30 days
facts:
  more: {type: bool, question: "More?"}
criteria:
  more-vials:
    when: more
    approve:
      insulin-vial:
        all: 6 vials per 30 days
'''


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("drug-file")
    (folder / "insulin.dqm").write_text(DSL, encoding="utf-8")
    (folder / "insulin.yaml").write_text(YAML, encoding="utf-8")
    dsl = compile_paths([str(folder / "insulin.dqm")])
    yaml = compile_paths([str(folder / "insulin.yaml")])
    assert dsl.ok and yaml.ok, (dsl.diagnostics, yaml.diagnostics)
    assert canonical_json(dsl.compiled[0].policy) == canonical_json(yaml.compiled[0].policy)
    return dsl.compiled[0]


@pytest.fixture(scope="module")
def module(compiled, tmp_path_factory: pytest.TempPathFactory):
    package = import_package(write_generated([compiled], tmp_path_factory.mktemp("py")))
    return policy_module(package, "insulin-ql")


def claim(quantity: str, size: object = "10", product: str = "insulin-vial",
          history: list | None = None, **more: object) -> dict:
    record = {"claim_id": "c-1", "date_of_service": "2026-03-01", "product": product,
              "quantity": quantity, "unit": "mL", "days_supply": 30, "channel": "retail",
              "history": history or [], **more}
    if size is not None:
        record["package_size"] = size
    return record


def fill(quantity: str, size: str | None = None, days_before: int = 10, **more: object) -> dict:
    day = 1 + 28 - days_before if days_before < 28 else None
    entry = {"claim_id": f"h-{days_before}", "product": "insulin-vial", "quantity": quantity,
             "status": "paid", "date_of_service": f"2026-02-{day:02d}" if day else "2026-01-15",
             **more}
    if size is not None:
        entry["package_size"] = size
    return entry


def decide(compiled, module, record: dict) -> dict:
    """Both evaluators' decision, which must be the same."""
    expected = interpreter.evaluate(compiled, record)
    assert module.evaluate(record) == expected
    return expected


def test_the_ir_counts_packages_and_keeps_no_size(compiled) -> None:
    policy = compiled.policy
    vial = policy.product("insulin-vial")
    assert vial.drug_file_sized and vial.packages[0].size is None
    quantity = policy.limits[0].rule.quantity
    assert (quantity.amount, quantity.per_package, quantity.package) == (3, True, "vial")
    anything = policy.limits[1].rule.quantity
    assert (anything.amount, anything.per_package, anything.package) == (4, True, None)


@pytest.mark.parametrize(("quantity", "size", "outcome", "allowed", "packages"), [
    ("30", "10", "paid", "30", 3),  # 3 vials of 10 mL
    ("40", "10", "rejected", "30", 3),  # 4 vials
    ("9", "3", "paid", "9", 3),  # 3 vials of 3 mL: the same limit, other billing units
    ("10", "3", "rejected", "9", 3),
])
def test_the_limit_is_the_count_times_the_claims_package_size(
        compiled, module, quantity: str, size: str, outcome: str, allowed: str,
        packages: int) -> None:
    decision = decide(compiled, module, claim(quantity, size))
    assert decision["outcome"] == outcome
    assert decision["max_allowed_quantity"] == allowed
    assert decision["max_allowed_packages"] == packages
    assert decision["limit"]["quantity"] == allowed
    assert decision["limit"]["text"] == f"{allowed} mL per 30 days (3 × {size} mL vial)"
    assert decision["messages"][0] == f"QL {allowed} ML PER 30 DAYS"


def test_a_claim_without_its_package_size_is_refused_not_paid(compiled, module) -> None:
    decision = decide(compiled, module, claim("30", size=None))
    assert (decision["outcome"], decision["reject_code"]) == ("rejected", "21")
    assert decision["messages"] == ["PACKAGE SIZE NEEDED"]


@pytest.mark.parametrize("size", ["0", "abc", "-1", "1.2345", True, [], {}])
def test_a_malformed_package_size_is_refused_for_any_product(compiled, module,
                                                              size: object) -> None:
    decision = decide(compiled, module, claim("30", size=size))
    assert (decision["outcome"], decision["reject_code"]) == ("rejected", "21")
    assert decision["messages"] == ["M/I PACKAGE SIZE"]


def test_prior_fills_count_in_packages_of_their_own_size(compiled, module) -> None:
    # Two 10 mL vials before; now 3 mL vials: 2 + 1 = 3 vials pay, 2 + 2 do not.
    history = [fill("20", "10")]
    paid = decide(compiled, module, claim("3", "3", history=history))
    assert paid["outcome"] == "paid"
    assert (paid["prior_quantity"], paid["max_allowed_quantity"]) == ("6", "3")
    rejected = decide(compiled, module, claim("6", "3", history=history))
    assert rejected["outcome"] == "rejected" and rejected["max_allowed_packages"] == 1


def test_a_part_package_before_is_counted_up_never_short(compiled, module) -> None:
    # 10 mL of 3 mL vials is 3.333... vials; in the claim's 10 mL vials, 33.334 mL (rounded up):
    # 3 vials allow 30 mL, so even 1 mL more does not pay.
    decision = decide(compiled, module, claim("1", "10", history=[fill("10", "3")]))
    assert decision["outcome"] == "rejected"
    assert decision["prior_quantity"] == "33.334"


def test_a_prior_fill_of_the_claims_ndc_needs_no_size(compiled, module) -> None:
    history = [fill("2", None, ndc="00000000001", product="epo")]
    record = claim("2", "1", product="epo", ndc="00000000001", history=history)
    decision = decide(compiled, module, record)
    assert decision["outcome"] == "paid" and decision["prior_quantity"] == "2"


def test_a_prior_fill_with_no_size_fails_closed(compiled, module) -> None:
    decision = decide(compiled, module, claim("10", "10", history=[fill("20", None)]))
    assert (decision["outcome"], decision["reject_code"]) == ("rejected", "85")
    assert decision["messages"] == ["BAD HISTORY ENTRY 1 H-10"]
    # A reversed fill, or one that left the policy's products, needs none.
    other = fill("20", None, status="reversed")
    assert decide(compiled, module, claim("10", "10", history=[other]))["outcome"] == "paid"


def test_a_fill_outside_the_window_still_counts_nothing(compiled, module) -> None:
    decision = decide(compiled, module, claim("30", "10", history=[fill("30", "10", 45)]))
    assert decision["outcome"] == "paid" and decision["prior_quantity"] == "0"


def test_packages_of_any_kind_count_alike(compiled, module) -> None:
    # `4 packages` of vials or syringes: 4 syringes of 0.5 mL pay, 5 do not.
    assert decide(compiled, module, claim("2", "0.5", product="epo"))["outcome"] == "paid"
    over = decide(compiled, module, claim("2.5", "0.5", product="epo"))
    assert over["outcome"] == "rejected"
    assert over["limit"]["text"] == "2 mL per 30 days (4 × 0.5 mL package)"


def test_an_approval_counts_packages_too(compiled, module) -> None:
    authorization = {"id": "pa-1", "criterion": "more-vials", "products": ["insulin-vial"],
                     "effective_from": "2026-01-01", "effective_through": "2026-12-31"}
    record = claim("60", "10", authorizations=[authorization])
    decision = decide(compiled, module, record)
    assert decision["outcome"] == "paid"
    assert decision["limit"]["source"] == "override"
    assert decision["limit"]["quantity"] == "60"
    review = interpreter.review(compiled, {"policy": "insulin-ql", "product": "insulin-vial",
                                           "request_date": "2026-01-15", "facts": {"more": True}})
    assert module.review({"policy": "insulin-ql", "product": "insulin-vial",
                          "request_date": "2026-01-15", "facts": {"more": True}}) == review
    assert review["outcome"] == "approved"
    assert review["approved"][0]["unit"] == "vial"


def test_the_document_counts_packages_without_a_size(compiled) -> None:
    policy = compiled.policy
    products = [policy.product("insulin-vial")]
    assert english.quantity_phrase(policy.limits[0].rule.quantity, products) == "3 vials"
    epo = [policy.product("epo")]
    assert (english.quantity_phrase(policy.limits[1].rule.quantity, epo)
            == "4 packages (vial or prefilled syringe)")
    items = docs_view.availability_items(policy)
    assert any("vial (package size as listed in the drug file)" in item for item in items)


def test_the_diff_ranks_package_counts(compiled, tmp_path: Path) -> None:
    looser = tmp_path / "looser.dqm"
    looser.write_text(DSL.replace("all 3 vials per 30 days", "all 4 vials per 30 days"),
                      encoding="utf-8")
    new = compile_paths([str(looser)]).compiled[0].policy
    found = diff_policies(compiled.policy, new)
    [change] = [c for c in found.changes if c.area == "limit"]
    assert change.effect == "looser"
    assert "3 vials" in change.sentence and "4 vials" in change.sentence


def test_a_line_in_drug_file_packages_keeps_its_soft_edit_exemption_and_code(tmp_path: Path
                                                                             ) -> None:
    """Sized for a claim's package, a line keeps its DUR/PPS override, its member exemptions and
    its reject code, in both evaluators."""
    spec = tmp_path / "soft.dqm"
    spec.write_text(DSL.replace(
        "all 3 vials per 30 days",
        'all 3 vials per 30 days override service "M0" result "1G" reject "88"'
        " unless member hospice"), encoding="utf-8")
    result = compile_paths([spec])
    assert result.ok, result.diagnostics
    (compiled,) = result.compiled
    module = policy_module(import_package(write_generated([compiled], tmp_path / "py")),
                           "insulin-ql")
    over = claim("40", "10")
    assert (decide(compiled, module, over)["reject_code"]) == "88"
    exempt = decide(compiled, module, dict(over, member={"exclusions": ["hospice"]}))
    passed = decide(compiled, module,
                    dict(over, dur_pps=[{"professional_service": "M0", "result": "1G"}]))
    assert (exempt["outcome"], passed["outcome"]) == ("paid", "paid")
    assert [s["step"] for s in passed["trace"]][-2] == "dur_override"
