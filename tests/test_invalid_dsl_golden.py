"""Golden diagnostics for invalid DSL specs: one file per check and per syntax error class."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, update_golden

from dqmc.lang.diagnostics import render_all
from dqmc.lang.pipeline import compile_paths

CASES = sorted((REPO / "tests/golden/invalid/dsl").glob("*.dqm"))


@pytest.mark.parametrize("spec", CASES, ids=[c.stem for c in CASES])
def test_diagnostics_match_golden(spec: Path) -> None:
    relative = spec.relative_to(REPO).as_posix()
    result = compile_paths([relative])
    assert not result.ok, "every golden invalid spec has at least one error"
    actual = render_all(result.diagnostics, result.sources) + "\n"
    expected_path = spec.with_suffix(".expected")
    if update_golden():
        expected_path.write_text(actual, encoding="utf-8")
    assert actual == expected_path.read_text(encoding="utf-8")


def test_cli_exits_1_without_traceback_for_every_invalid_spec() -> None:
    for spec in CASES:
        run = subprocess.run([sys.executable, "-m", "dqmc", "check", str(spec.relative_to(REPO))],
                             cwd=REPO, capture_output=True, text=True)
        assert run.returncode == 1, (spec.name, run.stdout, run.stderr)
        assert "Traceback" not in run.stdout + run.stderr
        assert f"{spec.relative_to(REPO).as_posix()}:" in run.stdout


def test_every_registered_code_has_a_golden_case_or_a_named_test() -> None:
    from dqmc.lang.diagnostics import CODES

    covered = set()
    for expected in (REPO / "tests/golden/invalid").rglob("*.expected"):
        for line in expected.read_text(encoding="utf-8").splitlines():
            if "[" in line and "]: " in line and not line.startswith(" "):
                covered.add(line.split("[", 1)[1].split("]", 1)[0])
    # Codes only a multi-file build or a file system can produce are tested by name elsewhere.
    elsewhere = {"io.read", "io.encoding", "io.too-large", "io.unknown-kind",
                 "policy.twin-mismatch", "policy.duplicate-id", "product.in-two-policies",
                 "policy.second-fallback", "docs.no-config", "docs.no-footer",
                 "yaml.too-deep"}
    missing = sorted(set(CODES) - covered - elsewhere)
    assert not missing, f"codes without a golden case: {missing}"
