"""`dqmc build --check` answers from .dqmc-cache/ only when nothing it depends on has changed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

CACHED = "unchanged since the last build"


def dqmc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dqmc", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Anzupgo with its kept earlier version and the documents' settings, freshly built."""
    specs = tmp_path / "policy_specs"
    specs.mkdir()
    shutil.copy(REPO / "policy_specs/anzupgo.dqm", specs)
    shutil.copytree(REPO / "policy_specs/history", specs / "history")
    shutil.copy(REPO / "docs.config.yaml", tmp_path)
    assert dqmc("build", cwd=tmp_path).returncode == 0
    return tmp_path


def test_a_check_after_a_build_answers_from_the_record(project: Path) -> None:
    run = dqmc("build", "--check", cwd=project)
    assert run.returncode == 0 and CACHED in run.stdout
    full = dqmc("build", "--check", "--no-cache", cwd=project)
    assert full.returncode == 0 and CACHED not in full.stdout and "up to date" in full.stdout


def test_a_hand_edited_generated_file_is_still_stale(project: Path) -> None:
    document = project / "generated/docs/anzupgo-dqm.md"
    document.write_text(document.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    run = dqmc("build", "--check", cwd=project)
    assert run.returncode == 1 and "stale: generated/docs/anzupgo-dqm.md" in run.stdout


def test_an_extra_file_in_generated_is_still_orphaned(project: Path) -> None:
    (project / "generated/docs/extra.html").write_text("x", encoding="utf-8")
    run = dqmc("build", "--check", cwd=project)
    assert run.returncode == 1 and "orphaned: generated/docs/extra.html" in run.stdout


@pytest.mark.parametrize("edit", ["spec", "history", "docs config", "new spec"])
def test_any_changed_input_means_a_full_compile(project: Path, edit: str) -> None:
    spec = project / "policy_specs/anzupgo.dqm"
    if edit == "spec":
        spec.write_text(spec.read_text(encoding="utf-8").replace("30 g per 30 days",
                                                                 "31 g per 30 days"),
                        encoding="utf-8")
    elif edit == "history":
        earlier = project / "policy_specs/history/anzupgo-dqm/2025-11-11.dqm"
        earlier.write_text(earlier.read_text(encoding="utf-8").replace("60 g per 30 days",
                                                                       "61 g per 30 days"),
                           encoding="utf-8")
    elif edit == "docs config":
        config = project / "docs.config.yaml"
        config.write_text(config.read_text(encoding="utf-8").replace(
            "organization: Example Health Plan", "organization: Other Health Plan"),
            encoding="utf-8")
    else:
        (project / "policy_specs/second.dqm").write_text(
            spec.read_text(encoding="utf-8").replace("anzupgo", "second"), encoding="utf-8")
    run = dqmc("build", "--check", cwd=project)
    assert run.returncode == 1, run.stdout + run.stderr
    assert CACHED not in run.stdout and "is out of date" in run.stdout


def test_a_build_without_a_docs_config_uses_neutral_boilerplate(tmp_path: Path) -> None:
    (tmp_path / "policy_specs").mkdir()
    shutil.copy(REPO / "policy_specs/anzupgo.dqm", tmp_path / "policy_specs")
    run = dqmc("build", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    html = (tmp_path / "generated/docs/anzupgo-dqm.html").read_text(encoding="utf-8")
    assert "Example Health Plan" not in html
    # No placeholder in the documents: the build warns instead, and they have no footer.
    assert "docs.config.yaml" not in html and "<footer" not in html
    assert "warning[docs.no-config]" in run.stderr


def test_a_malformed_docs_config_is_a_usage_error_not_a_crash(project: Path) -> None:
    (project / "docs.config.yaml").write_text("organization: [\n", encoding="utf-8")
    run = dqmc("build", cwd=project)
    assert run.returncode == 2
    assert "docs.config.yaml: not valid YAML" in run.stderr and "INTERNAL" not in run.stderr
