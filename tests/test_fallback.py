"""Fallback guidelines (`applies to any product without its own criteria`, YAML `applies_to:
fallback`): review dispatch sends a request that names no policy, for a product whose own policy
has no criteria, to the fallback; the interpreter and the generated registry agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from ir_samples import import_package

from dqmc import interpreter
from dqmc.codegen.loader import write_generated
from dqmc.lang.pipeline import compile_paths, compile_text
from dqmc.lang.printers.dsl_print import print_policy
from dqmc.lang.printers.yaml_emit import emit_yaml

GUIDELINE = '''policy general "General quantity-limit override" {
  type override_guideline
  approvals last 6 months
  applies to any product without its own criteria
  fact justified: bool "Is the higher quantity justified?"
  criterion override {
    when justified
    approve requested
  }
}
'''
# a policy whose products have limits but no criteria of their own
PLAIN = '''policy plain "Limits only" {
  type per_days
  product tabs {
    brand "Brand"
    generic "generic"
    form "tablet"
    unit each
    ndc "00000000001"
  }
  limit tabs {
    retail 30 each per 30 days
  }
}
'''
# a policy with criteria of its own: never routed
OWN = '''policy own "With its own criteria" {
  type per_days
  product caps {
    brand "Other"
    generic "other"
    form "capsule"
    unit each
  }
  limit caps {
    retail 30 each per 30 days
  }
  fact more: bool "More?"
  criterion c {
    when more
    approve caps {
      retail 60 each per 30 days
    }
  }
}
'''


def _compile(tmp_path: Path, **texts: str):
    for name, text in texts.items():
        (tmp_path / f"{name}.dqm").write_text(text, encoding="utf-8")
    return compile_paths([tmp_path])


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("fallback")
    (folder / "specs").mkdir()
    result = _compile(folder / "specs", general=GUIDELINE, plain=PLAIN, own=OWN)
    assert not result.diagnostics, result.diagnostics
    package = import_package(write_generated(result.compiled, folder / "python"))
    return result.compiled, package


def _both(library, request: dict) -> dict:
    compiled, package = library
    expected = interpreter.review_many(compiled, request)
    assert package.review(request) == expected
    return expected


ASK = {"request_date": "2026-01-15", "channels": ["retail"], "facts": {"justified": True},
       "requested": {"quantity": "60", "unit": "each", "days": 30}}


@pytest.mark.parametrize("name", ["tabs", "00000000001"])
def test_a_product_without_criteria_is_reviewed_by_the_fallback(library, name: str) -> None:
    result = _both(library, dict(ASK, product=name))
    assert result["outcome"] == "approved" and result["policy_id"] == "general"
    assert result["authorization"]["products"] == ["tabs"]
    assert result["authorization"]["limits"] == {"retail": {"quantity": "60", "unit": "each",
                                                            "days": 30}}
    denied = _both(library, dict(ASK, product=name, facts={"justified": False}))
    assert denied["outcome"] == "denied" and denied["policy_id"] == "general"


def test_the_routed_product_keeps_its_billing_unit(library) -> None:
    asked = dict(ASK, product="tabs", requested={"quantity": "60", "unit": "g", "days": 30})
    result = _both(library, asked)
    assert result["outcome"] == "needs_information"
    assert "requested.unit" in [p["field"] for p in result["invalid"]]


def test_a_product_with_its_own_criteria_stays_with_its_policy(library) -> None:
    result = _both(library, dict(ASK, product="caps", facts={"more": True}))
    assert result["outcome"] == "approved" and result["policy_id"] == "own"


def test_unknown_products_and_named_policies_are_not_routed(library) -> None:
    unknown = _both(library, dict(ASK, product="no-such-product"))
    assert unknown["outcome"] == "needs_information" and unknown["policy_id"] is None
    named = _both(library, dict(ASK, product="tabs", policy="plain"))
    assert named["policy_id"] == "plain"  # the request asked for this policy: no fallback


def test_without_a_fallback_nothing_is_routed(tmp_path: Path) -> None:
    result = _compile(tmp_path, plain=PLAIN)
    answer = interpreter.review_many(result.compiled, dict(ASK, product="tabs"))
    assert answer["policy_id"] == "plain"


def test_malformed_requests_never_raise(library) -> None:
    for request in (None, [], "tabs", {"product": "tabs"}, dict(ASK, product="tabs", facts=7),
                    dict(ASK, product="tabs", requested="lots"), {"product": ["tabs"]}):
        _both(library, request)  # type: ignore[arg-type]


def test_the_marker_lowers_alike_from_both_syntaxes_and_round_trips() -> None:
    dsl = compile_text("g.dqm", GUIDELINE).policy
    assert dsl is not None and dsl.fallback
    assert "  applies to any product without its own criteria\n" in print_policy(dsl)
    emitted = emit_yaml(dsl)
    assert "applies_to: fallback" in emitted
    yaml = compile_text("g.yaml", emitted).policy
    assert yaml is not None and yaml.fallback
    assert print_policy(yaml) == print_policy(dsl)


def test_a_fallback_needs_criteria() -> None:
    text = GUIDELINE.replace('''  criterion override {
    when justified
    approve requested
  }
''', "")
    codes = [d.code for d in compile_text("g.dqm", text).diagnostics]
    assert "policy.fallback-without-criteria" in codes


def test_two_fallbacks_in_one_build_are_an_error(tmp_path: Path) -> None:
    second = GUIDELINE.replace("policy general", "policy general-two")
    result = _compile(tmp_path, general=GUIDELINE, second=second)
    [problem] = [d for d in result.diagnostics if d.code == "policy.second-fallback"]
    assert "general-two" in problem.message and problem.span.file.endswith("second.dqm")


def test_the_marker_is_said_in_documents_and_the_semantic_diff() -> None:
    from dqmc.codegen.docs_view import FALLBACK_SENTENCE, policy_document
    from dqmc.revisions import diff

    marked = compile_text("g.dqm", GUIDELINE).policy
    plain = compile_text("g.dqm", GUIDELINE.replace(
        "  applies to any product without its own criteria\n", "")).policy
    assert marked is not None and plain is not None
    forward = [c for c in diff.diff_policies(plain, marked).changes if c.field == "fallback"]
    assert [c.effect for c in forward] == ["looser"]
    assert "now also reviews requests for any product" in forward[0].sentence
    backward = [c for c in diff.diff_policies(marked, plain).changes if c.field == "fallback"]
    assert [c.effect for c in backward] == ["stricter"]
    assert policy_document(marked, base_heading="H").fallback_sentence == FALLBACK_SENTENCE
    assert policy_document(plain, base_heading="H").fallback_sentence is None
