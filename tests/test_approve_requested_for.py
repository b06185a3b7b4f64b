"""`approve requested X, Y`: a criterion that approves the quantity requested for some products
only, in both spellings, both evaluators, the printers, diff, documents and the editor; and the
two ways a criterion can approve nothing (no `approve`, an empty `approve X { }`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ir_samples import import_package, policy_module

from dqmc import interpreter
from dqmc.authoring.fmt import format_source
from dqmc.codegen.loader import write_generated
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.diagnostics import Severity
from dqmc.lang.ir import nodes
from dqmc.lang.ir.canonical import canonical_json, content_hash
from dqmc.lang.pipeline import compile_paths, compile_text
from dqmc.lang.printers.dsl_print import print_policy
from dqmc.lang.printers.yaml_emit import emit_yaml
from dqmc.lang.source import SourceFile

REPO = Path(__file__).resolve().parents[1]

DSL = '''policy p "T" {
  type per_days
  approvals last 6 months
  product cream {
    brand "Cremo"
    generic "delgo"
    strength "2%"
    form "cream"
    unit g
    ndc "99999000101"
  }
  product gel {
    brand "Gelo"
    generic "delgo"
    form "gel"
    unit g
  }
  product lotion {
    brand "Loto"
    generic "delgo"
    form "lotion"
    unit mL
  }
  group creams "Creams": cream
  limit cream {
    retail 30 g per 30 days
  }
  limit gel {
    retail 30 g per 30 days
  }
  limit lotion {
    retail 30 mL per 30 days
  }
  fact more: bool "More?"
  criterion override "Override" {
    when more
    approve requested creams, gel
  }
}
'''

YAML = '''policy: {id: p, title: T, type: per_days, approval_duration: 6 months}
products:
  cream: {brand: Cremo, generic: delgo, strength: 2%, form: cream, unit: g, ndc: ["99999000101"]}
  gel: {brand: Gelo, generic: delgo, form: gel, unit: g}
  lotion: {brand: Loto, generic: delgo, form: lotion, unit: mL}
groups:
  creams: {title: Creams, products: [cream]}
limits:
  cream: {retail: 30 g per 30 days}
  gel: {retail: 30 g per 30 days}
  lotion: {retail: 30 mL per 30 days}
facts:
  more: {type: bool, question: "More?"}
criteria:
  override:
    title: Override
    when: more
    approve: {requested: [creams, gel]}
'''


def compiled(path: str, text: str) -> nodes.Policy:
    result = compile_text(path, text)
    assert result.policy is not None and result.diagnostics == [], result.diagnostics
    return result.policy


def errors(path: str, text: str) -> list[tuple[str, int, int, str]]:
    return [(d.code, d.span.line, d.span.col, d.message)
            for d in compile_text(path, text).diagnostics if d.severity is Severity.ERROR]


# -- front ends and the IR -----------------------------------------------------------------------


def test_both_spellings_lower_to_the_same_ir_naming_the_targets() -> None:
    dsl, yaml = compiled("p.dqm", DSL), compiled("p.yaml", YAML)
    assert dsl == yaml
    criterion = dsl.criteria[0]
    assert criterion.approves_requested and criterion.approves == ()
    assert criterion.requested_for == ("creams", "gel")
    assert [(s.line, s.col) for s in criterion.requested_for_span] == [(37, 23), (37, 31)]


def test_a_plain_approve_requested_names_nothing() -> None:
    # The canonical JSON writes every field under its IR version (canonical.IR_VERSION), so a
    # plain `approve requested` says so with an empty list.
    plain = compiled("p.dqm", DSL.replace("approve requested creams, gel", "approve requested"))
    assert plain.criteria[0].requested_for == ()
    assert json.loads(canonical_json(plain))["policy"]["criteria"][0]["requested_for"] == []
    named = json.loads(canonical_json(compiled("p.dqm", DSL)))
    assert named["policy"]["criteria"][0]["requested_for"] == ["creams", "gel"]
    assert content_hash(plain) != content_hash(compiled("p.dqm", DSL))


def test_no_library_policy_names_products_on_approve_requested() -> None:
    result = compile_paths(["policy_specs"])
    assert result.ok and result.compiled
    for item in result.compiled:
        kept = json.loads((REPO / "generated/ir" / f"{item.policy.id}.json").read_text("utf-8"))
        assert item.content_hash == kept["content_hash"], item.policy.id
        assert all(c["requested_for"] == [] for c in kept["policy"]["criteria"]), item.policy.id


def test_an_unknown_or_repeated_target_is_reported_at_the_id_in_yaml() -> None:
    text = YAML.replace("[creams, gel]", "[creams, ointment, gel, gel]")
    assert errors("p.yaml", text) == [
        ("criterion.unknown-product", 18, 35, "`approve requested` names unknown product or "
         "group 'ointment' (known: cream, gel, lotion, creams)"),
        ("criterion.duplicate-field", 18, 50, "criterion 'override' already names 'gel' in "
         "`approve requested`; keep one")]


def test_a_criterion_without_approval_is_an_error_with_or_without_base_limits() -> None:
    head = 'policy p "T" {\n  type override_guideline\n  fact a: bool "A?"\n'
    found = errors("p.dqm", head + "  criterion c {\n    when a\n  }\n}\n")
    assert [(code, line) for code, line, _, _ in found] == [("criterion.approves-nothing", 4)]
    assert "approve the base limit itself" in found[0][3]
    yaml = YAML.replace("    approve: {requested: [creams, gel]}\n", "    approve: {}\n")
    assert [code for code, *_ in errors("p.yaml", yaml)] == ["criterion.approves-nothing"]


def test_an_empty_approval_block_is_an_error_not_a_silent_nothing() -> None:
    text = DSL.replace("approve requested creams, gel", "approve requested creams\n"
                       "    approve gel { }")
    assert errors("p.dqm", text) == [
        ("criterion.empty-approval", 38, 5, "`approve gel { }` approves nothing: add a line for "
         "each channel, e.g. `retail 60 g per 30 days`, or write `approve requested gel` to "
         "approve the quantity the request asks for")]


# -- review, in both evaluators ------------------------------------------------------------------


# `renewal` names gel and serves renewal requests; `override` names the creams group and gel.
SERVED = DSL.replace(
    '  criterion override "Override" {',
    '  criterion renewal {\n    for renewal requests\n    when more\n'
    '    approve requested gel\n  }\n  criterion override "Override" {')
# `renewal` names gel, `initial` names cream and serves initial requests only.
SPLIT = DSL.replace('policy p "T"', 'policy q "T"').replace(
    '  criterion override "Override" {\n    when more\n    approve requested creams, gel\n  }',
    '  criterion renewal {\n    for renewal requests\n    when more\n'
    '    approve requested gel\n  }\n  criterion initial {\n    for initial requests\n'
    '    when more\n    approve requested cream\n  }')


@pytest.fixture(scope="module")
def evaluators(tmp_path_factory: pytest.TempPathFactory):
    """The review of a request by the interpreter, after checking the generated module agrees."""
    items = {}
    for text in (SERVED, SPLIT):
        policy = compiled("p.dqm", text)
        items[policy.id] = CompiledPolicy(policy, "p.dqm", content_hash(policy))
    package = import_package(write_generated(list(items.values()),
                                             tmp_path_factory.mktemp("requested_for")))

    def review(request: dict) -> dict:
        item = items[request["policy"]]
        expected = interpreter.review(item, request)
        assert policy_module(package, item.policy.id).review(request) == expected
        return expected
    return review


def request(product: str | None, **changes: object) -> dict:
    out: dict = {"policy": "p", "request_date": "2026-01-15", "channels": ["retail"],
                 "facts": {"more": True},
                 "requested": {"quantity": "60", "unit": "g", "days": 30, "through": "2026-03-31"}}
    if product is not None:
        out["product"] = product
    out.update(changes)
    return out


@pytest.mark.parametrize("product, named", [
    ("gel", "gel"), ("cream", "cream"), ("99999000101", "cream"), ("creams", "creams")])
def test_a_named_product_or_a_member_of_a_named_group_is_approved(evaluators, product: str,
                                                                  named: str) -> None:
    answer = evaluators(request(product))
    assert answer["outcome"] == "approved" and answer["criterion"] == "override"
    assert answer["authorization"]["products"] == [named]
    assert answer["authorization"]["limits"] == {
        "retail": {"quantity": "60", "unit": "g", "days": 30}}


def test_a_product_not_named_is_denied_with_a_readable_unmet_entry(evaluators) -> None:
    answer = evaluators(request("lotion", requested={"quantity": "60", "unit": "mL",
                                                     "days": 30, "through": "2026-03-31"}))
    assert answer["outcome"] == "denied" and answer["authorization"] is None
    assert answer["unmet"] == [
        {"criterion": "renewal", "condition": "a request for gel", "facts": ["product"],
         "questions": ["Which product is the request for?"], "answers": ["lotion"]},
        {"criterion": "override", "condition": "a request for creams or gel",
         "facts": ["product"], "questions": ["Which product is the request for?"],
         "answers": ["lotion"]}]


def test_a_criterion_passed_over_for_the_product_is_silent_when_another_is_tried(
        evaluators) -> None:
    # `renewal` names gel only, `override` is tried for cream and fails: only its condition.
    answer = evaluators(request("cream", facts={"more": False}))
    assert answer["outcome"] == "denied"
    assert [(u["criterion"], u["condition"]) for u in answer["unmet"]] == [("override", "more")]


def test_the_product_is_checked_with_the_kind_of_request(evaluators) -> None:
    prior = {"id": "pa-1", "products": ["cream"], "criterion": "override",
             "effective_from": "2025-01-15", "effective_through": "2026-01-14"}
    # a renewal request for cream: `renewal` names gel only, `override` approves
    answer = evaluators(request("cream", prior_authorization=prior))
    assert answer["outcome"] == "approved" and answer["criterion"] == "override"
    prior["products"] = ["gel"]
    answer = evaluators(request("gel", prior_authorization=prior))
    assert answer["outcome"] == "approved" and answer["criterion"] == "renewal"


def test_criteria_passed_over_for_the_product_and_for_the_kind_are_both_reported(
        evaluators) -> None:
    prior = {"id": "pa-1", "products": ["cream"], "criterion": "initial",
             "effective_from": "2025-01-15", "effective_through": "2026-01-14"}
    answer = evaluators(request("cream", policy="q", prior_authorization=prior))
    assert answer["outcome"] == "denied"
    assert [(u["criterion"], u["condition"], u["facts"], u["questions"], u["answers"])
            for u in answer["unmet"]] == [
        ("renewal", "a request for gel", ["product"], ["Which product is the request for?"],
         ["cream"]),
        ("initial", "an initial request (no earlier authorization for the product)",
         ["prior_authorization"], ["Is there an earlier authorization for the product?"],
         ["pa-1"])]


def test_a_request_naming_no_product_is_approved_for_the_named_ones(evaluators) -> None:
    answer = evaluators(request(None, facts={"more": True}))
    assert answer["outcome"] == "approved" and answer["criterion"] == "override"
    assert answer["authorization"]["id"] == "p/override/all/2026-01-15"
    assert answer["authorization"]["products"] == ["creams", "gel"]


# -- printers ------------------------------------------------------------------------------------


def test_fmt_and_convert_round_trip_both_spellings() -> None:
    policy = compiled("p.dqm", DSL)
    printed = print_policy(policy)
    assert "    approve requested creams, gel\n" in printed
    assert compiled("q.dqm", printed) == policy
    emitted = emit_yaml(policy)
    assert "    approve:\n      requested: [creams, gel]\n" in emitted
    assert compiled("q.yaml", emitted) == policy
    messy = DSL.replace("approve requested creams, gel",
                        "approve requested creams,gel   # both")
    formatted, problems = format_source(SourceFile("p.dqm", messy))
    assert problems == [] and formatted is not None
    assert "    approve requested creams, gel  # both\n" in formatted
    assert format_source(SourceFile("p.dqm", formatted)) == (formatted, [])


def test_the_document_names_the_products() -> None:
    from dqmc.codegen.docs_view import approval_views

    policy = compiled("p.dqm", DSL)
    [view] = approval_views(policy.criteria[0], policy)
    assert view.sentence == ("Approve the quantity requested, per the period requested, at the "
                             "channels requested, for Creams and Gelo (delgo gel) only.")
    plain = compiled("p.dqm", DSL.replace("approve requested creams, gel", "approve requested"))
    [view] = approval_views(plain.criteria[0], plain)
    assert view.sentence == ("Approve the quantity requested, per the period requested, at the "
                             "channels requested.")


# -- diff ----------------------------------------------------------------------------------------


def versions(before: str, after: str):
    from dqmc.revisions import diff

    old = compiled("p.dqm", DSL.replace("approve requested creams, gel", before))
    new = compiled("p.dqm", DSL.replace("approve requested creams, gel", after))
    result = diff.diff_policies(old, new)
    changes = [(c.sentence, c.effect) for c in result.changes]
    review = {v.target: v.on_review for v in result.verdicts if v.channel == "retail"}
    return changes, review


def test_naming_another_product_is_looser_and_dropping_one_stricter_on_review() -> None:
    changes, review = versions("approve requested gel", "approve requested gel, lotion")
    assert changes == [("Criterion “Override” now also approves the quantity requested for Loto "
                        "(delgo lotion).", "looser")]
    assert review == {"cream": "unchanged", "gel": "unchanged", "lotion": "looser"}
    changes, review = versions("approve requested gel, lotion", "approve requested gel")
    assert changes == [("Criterion “Override” no longer approves the quantity requested for "
                        "Loto (delgo lotion).", "stricter")]
    assert review == {"cream": "unchanged", "gel": "unchanged", "lotion": "stricter"}


def test_a_list_replacing_every_product_is_stricter_and_back_looser() -> None:
    changes, review = versions("approve requested", "approve requested creams")
    assert changes == [("Criterion “Override” now approves the quantity requested for Creams "
                        "only (before: for every product).", "stricter")]
    assert review == {"cream": "unchanged", "gel": "stricter", "lotion": "stricter"}
    changes, review = versions("approve requested creams", "approve requested")
    assert changes == [("Criterion “Override” now approves the quantity requested for every "
                        "product (before: for Creams).", "looser")]
    assert review == {"cream": "unchanged", "gel": "looser", "lotion": "looser"}


# -- the editor ----------------------------------------------------------------------------------


def test_the_named_ids_are_completed_and_indexed() -> None:
    from dqmc.authoring.lsp import describe as lsp_describe
    from dqmc.authoring.lsp.complete import dsl_candidates, yaml_candidates
    from dqmc.authoring.lsp.index import PRODUCT, dsl_names, index_names, index_spec

    head = DSL.split("    approve requested creams, gel")[0] + "    approve requested "
    labels = [c.label for c in dsl_candidates(head, dsl_names(head))]
    assert {"cream", "gel", "lotion", "creams"} <= set(labels)
    labels = [c.label for c in dsl_candidates(head + "gel, ", dsl_names(head))]
    assert {"cream", "gel", "lotion", "creams"} <= set(labels)

    index = index_spec(SourceFile("p.dqm", DSL))
    assert index is not None
    gel = index.at(37, 32)
    assert gel is not None and (gel.kind, gel.name, gel.definition) == (PRODUCT, "gel", False)
    assert index.definition_of(gel) is not None
    yaml_index = index_spec(SourceFile("p.yaml", YAML))
    assert yaml_index is not None
    used = [o for o in yaml_index.occurrences if o.name == "gel" and not o.definition]
    assert [(o.span.line, o.span.col) for o in used] == [(10, 3), (18, 35)]
    typing = YAML.split("    approve:")[0] + "    approve:\n      requested:\n        - "
    labels = [c.label for c in yaml_candidates(typing, index_names(yaml_index))]
    assert {"cream", "gel", "lotion", "creams"} <= set(labels)

    policy = compiled("p.dqm", DSL)
    hover = lsp_describe.describe_criterion(policy, policy.criteria[0])
    assert "approves the quantity requested at the channels requested for 6 months, for " \
           "`creams`, `gel` only" in hover
    gel_product = next(p for p in policy.products if p.id == "gel")
    assert "`override` approves the quantity requested" in lsp_describe.describe_product(
        policy, gel_product)


# -- fallback guidelines -------------------------------------------------------------------------


def test_a_fallback_criterion_naming_its_own_products_does_not_approve_a_routed_one(
        tmp_path: Path) -> None:
    guideline = '''policy general "General" {
  type override_guideline
  approvals last 6 months
  applies to any product without its own criteria
  product salve {
    brand "Salvo"
    generic "s"
    form "ointment"
    unit g
  }
  limit salve {
    retail 30 g per 30 days
  }
  fact justified: bool "Justified?"
  criterion own-only {
    when justified
    approve requested salve
  }
}
'''
    plain = DSL.replace('policy p "T"', 'policy plain "T"').split("  fact more")[0] + "}\n"
    (tmp_path / "specs").mkdir()
    for name, text in (("general", guideline), ("plain", plain)):
        (tmp_path / "specs" / f"{name}.dqm").write_text(text, encoding="utf-8")
    result = compile_paths([tmp_path / "specs"])
    assert result.ok and not result.diagnostics, result.diagnostics
    package = import_package(write_generated(result.compiled, tmp_path / "python"))
    ask = {"request_date": "2026-01-15", "channels": ["retail"], "facts": {"justified": True},
           "requested": {"quantity": "60", "unit": "g", "days": 30}}
    for product, outcome in (("gel", "denied"), ("salve", "approved")):
        answer = interpreter.review_many(result.compiled, dict(ask, product=product))
        assert package.review(dict(ask, product=product)) == answer
        assert (answer["policy_id"], answer["outcome"]) == ("general", outcome), answer
    assert answer["unmet"] == []
    denied = interpreter.review_many(result.compiled, dict(ask, product="gel"))
    assert [u["condition"] for u in denied["unmet"]] == ["a request for salve"]
