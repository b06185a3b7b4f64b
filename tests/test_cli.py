"""The command line as users run it: exit codes, output shapes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def dqmc(*args: str, stdin: str | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dqmc", *args], capture_output=True, text=True,
                          input=stdin, cwd=cwd)


def test_check_policy_specs_exits_0() -> None:
    run = dqmc("check", "policy_specs/")
    assert run.returncode == 0, run.stdout + run.stderr
    summary = run.stdout.strip().splitlines()[-1]
    assert summary.startswith("0 errors, 0 warnings") and summary.endswith(" files"), summary


def test_check_json_format_lists_diagnostics(tmp_path: Path) -> None:
    spec = tmp_path / "bad.dqm"
    spec.write_text(
        'policy p "T" {\n  type per_days\n  limit x {\n    retail 1 g per 30 days\n  }\n}\n')
    run = dqmc("check", "--format", "json", str(spec))
    assert run.returncode == 1
    found = json.loads(run.stdout)
    # reported once, at the id the limit names (line 3: `limit x {`)
    assert [(d["code"], d["line"], d["column"]) for d in found] == [("limit.unknown-product", 3, 9)]


def test_usage_errors_exit_2() -> None:
    assert dqmc("frobnicate").returncode == 2
    run = dqmc("ir", "no/such/spec.dqm")
    assert run.returncode == 2 and "Traceback" not in run.stderr


def test_ir_of_both_spellings_is_identical_text() -> None:
    dsl, yaml_ = dqmc("ir", "policy_specs/anzupgo.dqm"), dqmc("ir", "policy_specs/anzupgo.yaml")
    assert dsl.returncode == 0 and dsl.stdout == yaml_.stdout
    document = json.loads(dsl.stdout)
    assert document["content_hash"].startswith("sha256:")
    # The IR writes every field, defaults included (lang/ir/canonical.py IR_VERSION).
    assert document["policy"]["limits"][0]["rule"]["quantity"] == {
        "amount": "30", "unit": "g", "packages": None, "package": None, "per_package": False,
        "noun": None, "doses": None}


def test_schema_command_prints_the_json_schema() -> None:
    run = dqmc("schema")
    schema = json.loads(run.stdout)
    assert schema["$schema"].endswith("2020-12/schema")


def test_python_dash_m_and_console_script_agree() -> None:
    script = Path(sys.executable).with_name("dqmc")
    run = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert run.stdout.strip() == dqmc("--version").stdout.strip()


def test_eval_output_escapes_control_and_bidi_characters_echoed_from_claims() -> None:
    claim = {"claim_id": "a", "product": "anzupgo-2pct-cream", "quantity": "30",
             "unit": "g\u202e", "days_supply": 30, "date_of_service": "2026-01-10",
             "channel": "ret\u202eail\x1b[2J"}
    run = subprocess.run([sys.executable, "-m", "dqmc", "eval", "policy_specs/anzupgo.dqm",
                          "--claims", "-"], input=json.dumps(claim), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "\u202e" not in run.stdout and "\x1b" not in run.stdout
    decision = json.loads(run.stdout)
    assert decision["outcome"] == "rejected" and decision["channel"] == "ret\u202eail\x1b[2J"
