"""Tests files as authors write them: a malformed case fails alone, at its line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def dqmc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dqmc", *args], capture_output=True, text=True,
                          cwd=cwd, check=False)


def test_a_misspelt_key_fails_that_case_with_its_line_and_the_rest_still_run(
        tmp_path: Path) -> None:
    assert dqmc("new", "some-drug", cwd=tmp_path).returncode == 0
    tests = tmp_path / "policy_specs" / "some-drug.tests.yaml"
    text = tests.read_text(encoding="utf-8")
    typo = '    expect: {outcome: rejected, reject_code: "76"}'
    assert typo in text
    tests.write_text(text.replace(typo, typo.replace("expect", "expct"), 1), encoding="utf-8")
    line = text[:text.index("- name: retail above the limit")].count("\n") + 1  # where it starts

    run = dqmc("test", "policy_specs", cwd=tmp_path)
    assert run.returncode == 1
    assert (f"ERROR policy_specs/some-drug.tests.yaml:{line}: case 2 ('retail above the limit "
            "is rejected'): unknown key `expct` (did you mean `expect`?)") in run.stdout
    assert run.stdout.strip().splitlines()[-1] == "7 passed, 1 failed"


def test_a_case_with_both_claim_and_review_or_no_expect_is_named(tmp_path: Path) -> None:
    assert dqmc("new", "p-dqm", cwd=tmp_path).returncode == 0
    tests = tmp_path / "policy_specs" / "p-dqm.tests.yaml"
    tests.write_text(
        "cases:\n"
        "  - name: both\n"
        "    claim: {}\n"
        "    review: {}\n"
        "    expect: {outcome: paid}\n"
        "  - name: nothing expected\n"
        "    claim: {}\n", encoding="utf-8")
    run = dqmc("test", "policy_specs", cwd=tmp_path)
    assert "tests.yaml:2: case 1 ('both'): a case has one of `claim` or `review`" in run.stdout
    assert "p-dqm.tests.yaml:6: case 2 ('nothing expected'): a case needs `expect`" in run.stdout
    assert run.stdout.strip().splitlines()[-1] == "0 passed, 2 failed"
