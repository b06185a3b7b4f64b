"""The policy library: every spec compiles, builds, and passes its policy tests, fully covered."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

from dqmc.authoring.policytest import coverage_of, run_tests
from dqmc.lang.pipeline import compile_paths, is_spec


def test_library_specs_compile_without_errors() -> None:
    result = compile_paths(["policy_specs"])
    assert result.ok, [d.concise() for d in result.diagnostics if d.is_error]
    # The library is whatever the folder holds (a spec `dqmc new` adds counts at once); each
    # policy is one spec file, or a DSL and a YAML twin of one id (Anzupgo).
    specs = [p for p in (REPO / "policy_specs").iterdir() if is_spec(p)]
    ids = {p.name.split(".")[0] for p in specs}
    assert len(result.compiled) == len(ids) >= 8


def test_policy_tests_pass_on_both_implementations_with_full_coverage() -> None:
    run = run_tests(compile_paths(["policy_specs"]).compiled)
    failures = [(c.file, c.name, c.failures) for c in run.cases if not c.passed]
    assert failures == [] and run.problems == []
    assert run.passed >= 150
    below = {c.policy_id: c.missed() for c in run.coverage if c.percent < 100}
    assert below == {}


def test_dqmc_test_command_prints_the_summary_line_and_honours_min_coverage() -> None:
    run = subprocess.run([sys.executable, "-m", "dqmc", "test", "policy_specs/anzupgo.dqm",
                          "--min-coverage", "100"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    # 30 cases, and 3 on its versions: two dated before the revision, one on its first day
    assert run.stdout.strip().splitlines()[-1] == "33 passed, 0 failed"


def test_a_failing_expectation_is_reported_with_a_readable_diff(tmp_path) -> None:
    spec = tmp_path / "anzupgo.dqm"
    spec.write_bytes((REPO / "policy_specs/anzupgo.dqm").read_bytes())
    (tmp_path / "anzupgo.tests.yaml").write_text(
        "cases:\n"
        "  - name: wrong on purpose\n"
        "    claim: {claim_id: c1, date_of_service: '2026-03-01', product: anzupgo-2pct-cream,\n"
        "            quantity: '30', unit: g, days_supply: 30, channel: retail}\n"
        "    expect: {outcome: rejected, max_allowed_quantity: '0'}\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "dqmc", "test", str(spec), "--min-coverage", "50"],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 1
    assert 'outcome: expected "rejected", got "paid"' in run.stdout
    assert 'max_allowed_quantity: expected "0", got "30"' in run.stdout
    assert "coverage below --min-coverage 50%" in run.stdout
    assert run.stdout.strip().splitlines()[-1] == "0 passed, 1 failed"


def test_coverage_names_rules_as_the_spec_writes_them() -> None:
    # With no cases, every rule is reported missed, named in the package's noun and with its
    # selector: the two QVAR 80 mcg rows differ only by the package they select.
    (bcbsal,) = compile_paths(["policy_specs/bcbsal-ql-guidelines.dqm"]).compiled
    missed = coverage_of(bcbsal, [], []).missed()
    assert [item.rsplit(" (", 1)[0] for item in missed if "al-qvar-80mcg" in item] == [
        "rule al-qvar-80mcg all channels 3 boxes per 30 days when package qvar80-7_3g",
        "rule al-qvar-80mcg all channels 2 boxes per 30 days when package qvar80-8_7g"]
    assert any(item.startswith("rule al-qvar-40mcg all channels 1 box per 30 days")
               for item in missed)


def test_breo_page_7_is_a_distinct_document_version(tmp_path) -> None:
    # BCBSAL's two stored pages disagree on Breo Ellipta (letter B: 2 blisters per day; page 7:
    # 1 inhaler per month). The library encodes letter B; page 7 compiles as another version,
    # and the diff says what separates them.
    spec = REPO / "policy_specs/bcbsal-ql-guidelines.dqm"
    text = spec.read_text(encoding="utf-8")
    breo = '    form "inhalation powder, blister"\n    unit each\n  }'
    assert breo in text and "all 2 blisters per day since 2014-01-01" in text
    page_7 = (text.replace(breo, breo[:-4] + '\n    package inhaler from drug file "inhaler" '
                           'as inhaler\n  }', 1)
              .replace("all 2 blisters per day since 2014-01-01",
                       "all 1 inhaler per 30 days since 2014-01-01"))
    (tmp_path / "bcbsal-page-7.dqm").write_text(page_7, encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "dqmc", "diff", str(spec),
                          str(tmp_path / "bcbsal-page-7.dqm")],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert any("Breo Ellipta" in line and "1 inhaler per 30 days" in line and "added" in line
               for line in lines)
    assert any("Breo Ellipta" in line and "2 blisters per day" in line and "removed" in line
               for line in lines)
    assert all("Breo Ellipta" in line for line in lines if line.strip())


def test_minnesota_ubrelvy_document_prints_the_month_its_source_is_dated() -> None:
    markdown = (REPO / "generated/docs/mn-dhs-ubrelvy.md").read_text(encoding="utf-8")
    page = (REPO / "generated/docs/mn-dhs-ubrelvy.html").read_text(encoding="utf-8")
    assert "**Review date:** July 2020\n" in markdown
    assert '<time datetime="2020-07">July 2020</time>' in page
    assert "2020-07-01" not in markdown + page and "07/01/2020" not in markdown + page
    # the limit reads in doses, as the page says it, with the tablets it counts
    assert "16 doses (16 tablets) (hard limit, no exceptions)" in markdown
    # and the criteria say which requests they serve
    assert "For renewal requests only (an earlier authorization for the drug)." in markdown
