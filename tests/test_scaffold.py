"""`dqmc new`: the starter spec and tests file pass `dqmc check`, `dqmc test` and `dqmc fmt`."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dqmc.authoring.fmt import format_source
from dqmc.authoring.scaffold import render
from dqmc.lang.frontend.dsl_lower import lower_dsl
from dqmc.lang.frontend.yaml_lower import lower_yaml
from dqmc.lang.source import SourceFile


def dqmc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dqmc", *args], capture_output=True, text=True,
                          cwd=cwd, check=False)


def test_new_specs_in_both_spellings_check_and_pass_their_tests(tmp_path: Path) -> None:
    created = dqmc("new", "ozempic-dqm", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert dqmc("new", "wegovy-dqm", "--yaml", cwd=tmp_path).returncode == 0
    specs = tmp_path / "policy_specs"
    assert sorted(p.name for p in specs.iterdir()) == [
        "ozempic-dqm.dqm", "ozempic-dqm.tests.yaml", "wegovy-dqm.tests.yaml", "wegovy-dqm.yaml"]

    check = dqmc("check", "policy_specs", cwd=tmp_path)
    assert check.returncode == 0 and check.stdout.startswith("0 errors, 0 warnings"), check.stdout
    tests = dqmc("test", "policy_specs", cwd=tmp_path)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert tests.stdout.strip().endswith("16 passed, 0 failed")
    assert tests.stdout.count("100.0%") == 2  # every rule, channel and branch exercised


def test_the_yaml_modeline_names_the_schema_from_the_specs_folder(tmp_path: Path) -> None:
    assert dqmc("new", "p-dqm", "--yaml", "--dir", "specs/nested", cwd=tmp_path).returncode == 0
    spec = tmp_path / "specs" / "nested" / "p-dqm.yaml"
    first = spec.read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    schema = (spec.parent / first[len(prefix):]).resolve()
    assert schema.name == "policy.schema.json" and schema.is_file()


def test_the_two_spellings_say_the_same_and_the_dsl_is_formatted(tmp_path: Path) -> None:
    day = dt.date(2026, 1, 2)
    dsl = render("same-dqm", "dsl", tmp_path, day)
    yml = render("same-dqm", "yaml", tmp_path, day)
    dsl_text = dsl[tmp_path / "same-dqm.dqm"]
    dsl_policy, _ = lower_dsl(SourceFile("same-dqm.dqm", dsl_text))
    yaml_policy, _ = lower_yaml(SourceFile("same-dqm.yaml", yml[tmp_path / "same-dqm.yaml"]))
    assert dsl_policy is not None and dsl_policy == yaml_policy
    assert format_source(SourceFile("same-dqm.dqm", dsl_text))[0] == dsl_text
    # The same cases; only the first comment line names the spec file.
    tests_path = tmp_path / "same-dqm.tests.yaml"
    dsl_tests, yml_tests = dsl[tests_path], yml[tests_path]
    assert dsl_tests.split("\n", 1)[1] == yml_tests.split("\n", 1)[1]
    assert len(yaml.safe_load(dsl[tmp_path / "same-dqm.tests.yaml"])["cases"]) == 8


@pytest.mark.parametrize("policy_id", ["9lives", "two--hyphens", "has space", "dotted.id", "all",
                                       "true", "in"])
def test_a_bad_id_is_a_usage_error(tmp_path: Path, policy_id: str) -> None:
    run = dqmc("new", policy_id, cwd=tmp_path)
    assert run.returncode == 2 and "is not a policy id" in run.stderr
    assert not (tmp_path / "policy_specs").exists()


def test_existing_files_are_never_overwritten(tmp_path: Path) -> None:
    assert dqmc("new", "p-dqm", cwd=tmp_path).returncode == 0
    spec = tmp_path / "policy_specs" / "p-dqm.dqm"
    spec.write_text("mine", encoding="utf-8")
    again = dqmc("new", "p-dqm", cwd=tmp_path)
    assert again.returncode == 2 and "not overwriting" in again.stderr
    assert spec.read_text(encoding="utf-8") == "mine"


def test_a_new_spec_in_the_library_passes_the_librarys_gates(tmp_path: Path) -> None:
    # What `make test` asks of policy_specs/, on a copy with one more spec from `dqmc new`:
    # everything checks, every policy's tests pass at 100% coverage, and the build succeeds.
    repo = Path(__file__).resolve().parents[1]
    subprocess.run(["cp", "-r", str(repo / "policy_specs"), str(tmp_path / "policy_specs")],
                   check=True)
    new_id = next(f"new-drug-{n}" for n in range(100)
                  if not (tmp_path / "policy_specs" / f"new-drug-{n}.dqm").exists())
    assert dqmc("new", new_id, cwd=tmp_path).returncode == 0
    check = dqmc("check", "policy_specs", cwd=tmp_path)
    assert check.returncode == 0 and check.stdout.splitlines()[-1].startswith("0 errors"), (
        check.stdout)
    tests = dqmc("test", "policy_specs", "--min-coverage", "100", cwd=tmp_path)
    assert tests.returncode == 0, tests.stdout[-2000:]
    assert f"{new_id} " in tests.stdout and tests.stdout.count("100.0%") >= 9
    built = dqmc("build", "--out", "out", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    module = f"{new_id.replace('-', '_')}.py"
    assert (tmp_path / "out" / "python" / "dqm_policies" / module).is_file()
