"""Shared factor files: `use factors ID from "PATH"` (YAML `use_factors`) in every stage."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import REPO

from dqmc.authoring.fmt import format_files, format_source
from dqmc.authoring.watch import watched_files
from dqmc.build.run import run as build
from dqmc.lang.ir.canonical import canonical_json, content_hash
from dqmc.lang.pipeline import compile_paths, discover
from dqmc.lang.printers.dsl_print import print_policy
from dqmc.lang.printers.yaml_emit import emit_yaml
from dqmc.lang.source import SourceFile
from dqmc.revisions.changes import find_changes

SHARED = REPO / "policy_specs" / "shared" / "cdc-2022-mme.dqm"
OPIOIDS = REPO / "policy_specs" / "cms-partd-opioid-safety.dqm"

FACTORS = '''# the shared table
factors mme "Morphine milligram equivalents" {
  oxycodone 1.5
  morphine 1
  source "CDC 2022"
}

factors spare "Unused here" {
  codeine 0.15
  source "CDC 2022"
}
'''

SPEC = '''policy p "P" {
  type per_day
  product oxy { brand "B" generic "oxycodone" form "tablet" unit each contains 10 mg oxycodone }
  # the table comes from the shared file
  use factors mme from "shared/mme.dqm"
  limit oxy {
    all dose mme < 90 per day
  }
}
'''

YAML_SPEC = '''policy: {id: p, title: P, type: per_day}
products:
  oxy: {brand: B, generic: oxycodone, form: tablet, unit: each, contains: [10 mg oxycodone]}
use_factors:
  mme: shared/mme.dqm
limits:
  oxy:
    all: dose mme < 90 per day
'''


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "mme.dqm").write_text(FACTORS, encoding="utf-8")
    (tmp_path / "p.dqm").write_text(SPEC, encoding="utf-8")
    return tmp_path


def compiled(path: Path):
    result = compile_paths([path])
    assert result.ok, [d.concise() for d in result.diagnostics]
    return result.compiled[0]


def test_the_used_table_lowers_as_if_written_in_the_policy(folder: Path) -> None:
    policy = compiled(folder / "p.dqm").policy
    [table] = policy.factor_tables
    assert (table.id, table.title, table.source, table.origin) == (
        "mme", "Morphine milligram equivalents", "CDC 2022", "shared/mme.dqm")
    assert {f.ingredient: f.factor for f in table.factors} == {
        "oxycodone": Decimal("1.5"), "morphine": Decimal(1)}
    # the reference is where the policy writes it; the factors where the shared file does
    assert table.span.file.endswith("p.dqm") and table.span.line == 5
    assert table.defined_at.file.endswith("shared/mme.dqm") and table.defined_at.line == 2
    assert table.factors[0].span.file.endswith("shared/mme.dqm")
    data = json.loads(canonical_json(policy))
    assert data["policy"]["factor_tables"][0]["origin"] == "shared/mme.dqm"


def test_both_spellings_of_a_reference_give_the_same_ir(folder: Path) -> None:
    (folder / "p.yaml").write_text(YAML_SPEC, encoding="utf-8")
    dsl, yaml = compiled(folder / "p.dqm"), compiled(folder / "p.yaml")
    assert dsl.policy == yaml.policy and dsl.content_hash == yaml.content_hash
    # and both printers say `use`, never the factors it brings
    assert 'use factors mme from "shared/mme.dqm"' in print_policy(dsl.policy)
    assert "use_factors:\n  mme: shared/mme.dqm\n" in emit_yaml(dsl.policy)
    assert "oxycodone" not in emit_yaml(dsl.policy).split("use_factors:")[1].split("limits")[0]
    # twins compiled together agree (no policy.twin-mismatch)
    assert compile_paths([folder]).ok


def test_the_content_hash_follows_the_shared_factors(folder: Path) -> None:
    before = compiled(folder / "p.dqm")
    shared = folder / "shared" / "mme.dqm"
    shared.write_text(FACTORS.replace("oxycodone 1.5", "oxycodone 1.6"), encoding="utf-8")
    after = compiled(folder / "p.dqm")
    assert before.content_hash != after.content_hash
    [change] = [c for c in find_changes(before.policy, after.policy) if c.field == "factor"]
    assert change.sentence.endswith("the factor of oxycodone is now 1.6 (before: 1.5).")
    # the same factors written inline are another policy: where they come from is content
    inline = SPEC.replace('use factors mme from "shared/mme.dqm"', FACTORS.split("\n\n")[0]
                          .replace("# the shared table\n", "").replace("\n", "\n  "))
    (folder / "inline.dqm").write_text(inline.replace("oxycodone 1.5", "oxycodone 1.6"),
                                       encoding="utf-8")
    own = compiled(folder / "inline.dqm")
    assert own.policy.factor_tables[0].factors == after.policy.factor_tables[0].factors
    assert own.content_hash != after.content_hash
    [origin] = [c for c in find_changes(own.policy, after.policy) if c.field == "origin"]
    assert "now come from the shared factor file “shared/mme.dqm”" in origin.sentence


def test_an_unused_referenced_table_is_warned_about_at_its_use_line(folder: Path) -> None:
    spec = folder / "p.dqm"
    spec.write_text(SPEC.replace('  use factors mme', '  use factors spare from '
                                 '"shared/mme.dqm"\n  use factors mme'), encoding="utf-8")
    result = compile_paths([spec])
    assert result.ok
    [unused] = [d for d in result.diagnostics if d.code == "factors.unused"]
    assert (unused.span.file, unused.span.line) == (result.files[0].path, 5)
    assert "'spare'" in unused.message


def test_a_shared_file_is_no_policy_but_is_checked_on_its_own(folder: Path) -> None:
    assert discover([folder])[0] == [folder / "p.dqm"]
    alone = compile_paths([folder / "shared" / "mme.dqm"])
    assert alone.ok and alone.compiled == [] and alone.files[0].policy is None
    (folder / "shared" / "mme.dqm").write_text(FACTORS.replace('  source "CDC 2022"\n', "", 1),
                                               encoding="utf-8")
    found = compile_paths([folder / "shared"]).diagnostics
    assert [(d.code, d.span.line) for d in found] == [("factors.no-source", 2)]


def test_build_writes_nothing_for_a_shared_file_and_goes_stale_when_it_changes(
        folder: Path, tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path_factory.mktemp("work"))  # the build cache lives in the cwd
    out = folder.parent / "generated"
    assert build([str(folder)], out).exit_code == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert not [p for p in written if "mme" in p or "shared" in p]
    assert build([str(folder)], out, check=True).exit_code == 0
    (folder / "shared" / "mme.dqm").write_text(FACTORS.replace("oxycodone 1.5", "oxycodone 2"),
                                               encoding="utf-8")
    stale = build([str(folder)], out, check=True)  # the cache must not answer "up to date"
    assert stale.exit_code == 1
    assert any(line.startswith("stale:") and line.endswith("p.py") for line in stale.lines)


def test_fmt_keeps_the_use_line_and_formats_shared_files(folder: Path) -> None:
    source = SourceFile(str(folder / "p.dqm"), SPEC.replace("  use factors mme from",
                                                            "  use   factors mme   from"))
    text, diagnostics = format_source(source)
    assert text is not None and not diagnostics
    assert ('\n  # the table comes from the shared file\n  use factors mme from "shared/mme.dqm"\n'
            in text)
    assert format_source(SourceFile(source.path, text))[0] == text
    shared = folder / "shared" / "mme.dqm"
    shared.write_text(FACTORS.replace("  oxycodone 1.5", "      oxycodone   1.5  # CDC"),
                      encoding="utf-8")
    report = format_files([folder / "shared"], check=False)
    assert report.exit_code == 0 and report.changed == [str(shared)]
    assert shared.read_text(encoding="utf-8") == FACTORS.replace("oxycodone 1.5",
                                                                 "oxycodone 1.5  # CDC")


def test_watch_follows_shared_files() -> None:
    assert SHARED in watched_files([str(REPO / "policy_specs")])


@pytest.mark.skipif(shutil.which("git") is None, reason="diff --against needs git")
def test_diff_against_a_revision_reads_the_shared_file_of_that_revision(
        folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from dqmc.revisions import diff

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder,
                       check=True, capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "one")
    (folder / "shared" / "mme.dqm").write_text(FACTORS.replace("oxycodone 1.5", "oxycodone 2"),
                                               encoding="utf-8")
    monkeypatch.chdir(folder)
    parser = argparse.ArgumentParser()
    diff.add_arguments(parser)
    assert diff.run(parser.parse_args(["p.dqm", "--against", "HEAD"])) == 0
    out = capsys.readouterr().out
    assert "the factor of oxycodone is now 2 (before: 1.5)" in out


def test_the_opioid_policy_uses_the_cdc_2022_table() -> None:
    policy = compiled(OPIOIDS).policy
    [table] = policy.factor_tables
    assert table.origin == "shared/cdc-2022-mme.dqm"
    # CDC 2022 guideline (MMWR Recomm Rep 2022;71(No. RR-3)), Table: oral factors in mg
    assert {f.ingredient: f.factor for f in table.factors} == {
        "codeine": Decimal("0.15"), "hydrocodone": Decimal(1), "hydromorphone": Decimal(5),
        "methadone": Decimal("4.7"), "morphine": Decimal(1), "oxycodone": Decimal("1.5"),
        "oxymorphone": Decimal(3), "tapentadol": Decimal("0.4"), "tramadol": Decimal("0.2")}
    assert table.source is not None and "2022" in table.source
    assert "shared table mme of shared/cdc-2022-mme.dqm" in (
        REPO / "generated" / "docs" / "cms-partd-opioid-safety.md").read_text(encoding="utf-8")
    assert content_hash(policy) == compiled(OPIOIDS).content_hash


def test_a_shared_file_cannot_use_another_so_references_never_cycle(folder: Path) -> None:
    shared = folder / "shared" / "mme.dqm"
    shared.write_text('use factors mme from "mme.dqm"\n' + FACTORS, encoding="utf-8")
    result = compile_paths([folder / "p.dqm"])
    codes = sorted((d.code, Path(d.span.file).name, d.span.line) for d in result.diagnostics)
    assert codes == [("factors.shared-file", "p.dqm", 5),
                     ("syntax.unexpected-token", "mme.dqm", 1)]


@pytest.mark.parametrize("command", [["ir"], ["convert", "--to", "yaml"],
                                     ["eval", "--claims", "-"]])
def test_commands_of_one_policy_refuse_a_shared_file_without_a_traceback(
        folder: Path, command: list[str]) -> None:
    shared = str(folder / "shared" / "mme.dqm")
    run = subprocess.run([sys.executable, "-m", "dqmc", command[0], shared, *command[1:]],
                         input="[]",
                         capture_output=True, text=True, check=False)
    assert run.returncode == 2, run.stderr
    assert "holds no policy" in run.stderr and "INTERNAL" not in run.stderr


@pytest.mark.parametrize("path", ["a" * 300 + ".dqm", "sha\\u0000red.dqm"])
def test_a_path_no_file_system_can_hold_is_no_file(folder: Path, path: str) -> None:
    spec = folder / "p.dqm"
    spec.write_text(SPEC.replace("shared/mme.dqm", path), encoding="utf-8")
    result = compile_paths([spec])
    assert [d.code for d in result.diagnostics if d.severity.name == "ERROR"] == [
        "factors.no-file"], result.diagnostics


def test_a_table_used_twice_is_said_to_be_used_twice(folder: Path) -> None:
    spec = folder / "p.dqm"
    spec.write_text(SPEC.replace('  use factors mme from "shared/mme.dqm"\n',
                                 '  use factors mme from "shared/mme.dqm"\n' * 2),
                    encoding="utf-8")
    (duplicate,) = [d for d in compile_paths([spec]).diagnostics if d.code == "factors.duplicate"]
    assert duplicate.message == ("factor table 'mme' is already used from \"shared/mme.dqm\"; "
                                 "keep one")
