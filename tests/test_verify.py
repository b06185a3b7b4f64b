"""`dqmc verify`: golden diagnostics for each kind of hole, the library verifies clean, and a
gap the spec states on purpose (`no limit`) is accepted, kept by the evaluators and printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, examples, update_golden
from hypothesis import HealthCheck, given, settings
from strategies import policies

from dqmc import interpreter
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.diagnostics import render_all
from dqmc.lang.ir import nodes
from dqmc.lang.pipeline import compile_paths, compile_text, verify_paths
from dqmc.lang.printers.dsl_print import print_policy
from dqmc.lang.verify.boundary import boundary_claims
from dqmc.lang.verify.claim_space import verify_policy

CASES = sorted((REPO / "tests/golden/invalid/verify").glob("*.dqm"))


@pytest.mark.parametrize("spec", CASES, ids=[c.stem for c in CASES])
def test_verify_diagnostics_match_golden(spec: Path) -> None:
    relative = spec.relative_to(REPO).as_posix()
    assert compile_paths([relative]).ok, "a verify case compiles: only verification objects"
    result = verify_paths([relative])
    assert not result.ok
    actual = render_all(result.diagnostics, result.sources) + "\n"
    expected_path = spec.with_suffix(".expected")
    if update_golden():
        expected_path.write_text(actual, encoding="utf-8")
    assert actual == expected_path.read_text(encoding="utf-8")


def test_verify_and_check_exit_1_naming_each_hole() -> None:
    paths = [c.relative_to(REPO).as_posix() for c in CASES]
    for command in ("verify", "check"):
        for path in paths:  # one at a time: the cases share product ids
            run = subprocess.run([sys.executable, "-m", "dqmc", command, path], cwd=REPO,
                                 capture_output=True, text=True)
            assert run.returncode == 1, (command, path, run.stdout, run.stderr)
            assert f"{path}:" in run.stdout and "error[verify." in run.stdout
            assert "Traceback" not in run.stdout + run.stderr


def test_the_policy_library_verifies_clean() -> None:
    run = subprocess.run([sys.executable, "-m", "dqmc", "verify", "policy_specs/"], cwd=REPO,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 errors" in run.stdout


def test_verify_formats_for_tools() -> None:
    path = "tests/golden/invalid/verify/verify_age_gap.dqm"
    run = subprocess.run([sys.executable, "-m", "dqmc", "verify", path, "--format", "json"],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 1
    found = json.loads(run.stdout)
    assert [(d["code"], d["line"], d["column"]) for d in found] == [("verify.age-gap", 12, 5)]
    sarif = subprocess.run([sys.executable, "-m", "dqmc", "verify", path, "--format", "sarif"],
                           cwd=REPO, capture_output=True, text=True)
    assert json.loads(sarif.stdout)["runs"][0]["results"][0]["ruleId"] == "verify.age-gap"


NO_LIMIT = """\
policy stated-gap "A stated gap" {
  type per_days
  product syrup {
    brand "Brand"
    generic "generic"
    form "syrup"
    unit mL
  }
  limit syrup {
    retail no limit when age ..3
    retail 100 mL per 30 days when age 4..11
    retail 200 mL per 30 days when age 12..
  }
}
"""


def _claim(birth_date: str, quantity: str) -> dict:
    return {"claim_id": "c", "date_of_service": "2026-03-01", "product": "syrup",
            "quantity": quantity, "unit": "mL", "days_supply": 30, "channel": "retail",
            "member": {"birth_date": birth_date}}


def test_a_stated_gap_verifies_and_the_evaluators_leave_it_unlimited(tmp_path: Path) -> None:
    spec = tmp_path / "stated-gap.dqm"
    spec.write_text(NO_LIMIT, encoding="utf-8")
    assert verify_paths([spec]).ok
    without = tmp_path / "gap.dqm"
    without.write_text(NO_LIMIT.replace("    retail no limit when age ..3\n", ""),
                       encoding="utf-8")
    assert [d.code for d in verify_paths([without]).diagnostics] == ["verify.age-gap"]
    compiled = compile_paths([spec]).compiled[0]
    assert interpreter.evaluate(compiled, _claim("2024-01-01", "500"))["outcome"] == (
        "not_applicable")
    assert interpreter.evaluate(compiled, _claim("2020-01-01", "500"))["outcome"] == "rejected"
    from dqmc.authoring.boundary import run_boundary

    assert not run_boundary([compiled]).failures


def test_a_stated_gap_is_printed_in_both_spellings_and_the_document(tmp_path: Path) -> None:
    from dqmc.codegen.docs_view import limits_table
    from dqmc.lang.printers.yaml_emit import emit_yaml

    policy = compile_text("stated-gap.dqm", NO_LIMIT).policy
    assert policy is not None
    yaml_text = emit_yaml(policy)
    assert "no limit when age ..3" in yaml_text
    again = compile_text("stated-gap.yaml", yaml_text).policy
    assert again == policy
    table = limits_table(policy)
    assert table is not None
    # The band is the row's ("ages 3 and younger"), its cell the stated gap.
    rows = [(row.band, [entry for cell in row.cells for entry in cell]) for row in table.rows]
    assert any(band and "3" in band and "No limit" in entries for band, entries in rows), rows


def test_a_date_fact_compared_with_the_first_or_last_day_compiles_without_a_traceback() -> None:
    # The satisfiability check tried the day before 0001-01-01 and raised OverflowError.
    text = NO_LIMIT.replace("  limit syrup {", """\
  fact seen: date "When?"
  criterion c {
    when seen == 0001-01-01 or seen > 9999-12-31
    approve syrup {
      retail 300 mL per 30 days
    }
  }
  limit syrup {""")
    result = compile_text("dates.dqm", text)
    assert result.policy is not None
    assert not [d for d in result.diagnostics if d.is_error], result.diagnostics


def test_verify_examples_prints_each_rules_boundary_claims_with_decisions() -> None:
    run = subprocess.run([sys.executable, "-m", "dqmc", "verify", "--examples",
                          "policy_specs/anzupgo.dqm"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| b-")]
    assert len(rows) == 18
    assert any("one increment over: 30.001" in row and row.endswith("| rejected 76 |")
               for row in rows)
    assert any("an authorization on its last day" in row and row.endswith("| paid |")
               for row in rows)


def test_test_boundary_runs_every_spec_on_both_evaluators() -> None:
    run = subprocess.run([sys.executable, "-m", "dqmc", "test", "--boundary", "policy_specs/"],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    last = run.stdout.strip().splitlines()[-1]
    passed = int(last.split()[0])
    assert passed > 1000 and " 0 failed" in last


def test_test_boundary_fails_when_the_evaluators_disagree(monkeypatch: pytest.MonkeyPatch) -> None:
    from dqmc.authoring import boundary

    compiled = compile_paths(["policy_specs/anzupgo.dqm"]).compiled
    real = boundary.deciders

    def skewed(items):  # the generated evaluator pays one claim the interpreter rejects
        found = real(items)
        generated, interpreted = found["anzupgo-dqm"]

        def wrong(claim):
            decision = generated(claim)
            return dict(decision, outcome="paid") if claim["claim_id"] == "b-2" else decision
        found["anzupgo-dqm"] = (wrong, interpreted)
        return found

    monkeypatch.setattr(boundary, "deciders", skewed)
    run = boundary.run_boundary(compiled)
    text, code = boundary.boundary_report(run)
    assert code == 1 and len(run.failures) == 1 and "b-2" in run.failures[0]
    assert "FAIL" in text


@settings(max_examples=examples(60), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(policies())
def test_verification_and_boundary_claims_never_raise(policy: nodes.Policy) -> None:
    result = compile_text("random.dqm", print_policy(policy))
    if result.policy is None or any(d.is_error for d in result.diagnostics):
        return
    for finding in verify_policy(result.policy):
        assert finding.code.startswith("verify."), finding
    for item in boundary_claims(result.policy):
        # a boundary claim is well formed: no input check refuses it
        decision = interpreter.evaluate(CompiledPolicy(result.policy, "random.dqm", "x"),
                                        item.claim)
        # (a group's line selecting a package of one member refuses the other member's claims
        # 21 PACKAGE NOT IDENTIFIED, as the policy says: no claim of that member can avoid it)
        refused = decision["reject_code"] in ("85", "PZ", "U7", "09") or (
            decision["reject_code"] == "21"
            and decision["messages"] != ["PACKAGE NOT IDENTIFIED"])
        assert not refused, (item, decision["messages"])


def test_the_language_server_reports_what_check_reports(tmp_path: Path) -> None:
    from dqmc.authoring.lsp.server import compile_folder

    spec = tmp_path / "gap.dqm"
    text = NO_LIMIT.replace("    retail no limit when age ..3\n", "")
    result = compile_folder(spec, {spec: text})
    assert [d.code for d in result.diagnostics] == ["verify.age-gap"]
