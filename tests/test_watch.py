"""`dqmc build --watch`: a rebuild on every save, diagnostics printed, the watch survives errors."""

from __future__ import annotations

import argparse
import json
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO

from dqmc.authoring.watch import changes, snapshot, watch
from dqmc.cli import cmd_build


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    folder = tmp_path / "policy_specs"
    folder.mkdir()
    shutil.copy(REPO / "policy_specs" / "anzupgo.dqm", folder / "anzupgo.dqm")
    return folder


def retail_limit(out: Path) -> str:
    ir = json.loads((out / "ir" / "anzupgo-dqm.json").read_text(encoding="utf-8"))
    return ir["policy"]["limits"][0]["rule"]["quantity"]["amount"]


def test_each_change_rebuilds_and_a_broken_save_does_not_end_the_watch(
        specs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec, out = specs / "anzupgo.dqm", tmp_path / "generated"
    good = spec.read_text(encoding="utf-8")
    args = argparse.Namespace(paths=[str(specs)], out=str(out), check=False, watch=False)
    seen: list[str] = []
    # Each pause of the watch is one author's save; the watch stops after the last.
    raised = "retail        60 g per 30 days  # more"
    saves = [good.replace("retail        30 g per 30 days", raised),
             good.replace("limit anzupgo-2pct-cream {", "limit anzupgo-2pct-cream {{"),
             good]

    def save(_: float) -> None:
        spec.write_text(saves.pop(0), encoding="utf-8")

    def build() -> int:
        code = cmd_build(args)
        seen.append(retail_limit(out))
        return code

    code = watch([str(specs)], build, keep_going=lambda: bool(saves), sleep=save)
    output = capsys.readouterr()
    assert code == 0
    assert seen == ["30", "60", "60", "30"]  # the broken save left the last good build in place
    assert output.out.count(f"changed: {spec.as_posix()}") == 3
    assert "build failed (exit 1)" in output.out and "syntax.unexpected-token" in output.err


def test_changes_name_what_was_changed_added_and_removed() -> None:
    before = {"a": (1, 1), "b": (1, 1)}
    after = {"a": (2, 1), "c": (1, 1)}
    assert changes(before, after) == ["changed: a", "added: c", "removed: b"]


def test_the_snapshot_holds_the_specs_and_not_other_files(
        specs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(specs.parent)  # no docs.config.yaml here
    (specs / "notes.txt").write_text("x", encoding="utf-8")
    (specs / "anzupgo.tests.yaml").write_text("cases: []\n", encoding="utf-8")
    assert list(snapshot([str(specs)])) == [(specs / "anzupgo.dqm").as_posix()]


def test_dqmc_build_watch_rebuilds_on_save_until_interrupted(specs: Path, tmp_path: Path) -> None:
    out = tmp_path / "generated"
    shutil.copy(REPO / "docs.config.yaml", tmp_path / "docs.config.yaml")
    process = subprocess.Popen(
        [sys.executable, "-m", "dqmc", "build", "--watch", "--interval", "0.1", "--out", str(out),
         str(specs)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout],
                              daemon=True)
    reader.start()

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if text in lines.get(timeout=0.5):
                    return
            except queue.Empty:
                continue
        raise AssertionError(f"no line with {text!r} within 30 s")

    try:
        wait_for("watching for changes")
        assert retail_limit(out) == "30"
        spec = specs / "anzupgo.dqm"
        spec.write_text(spec.read_text(encoding="utf-8").replace(
            "retail        30 g per 30 days", "retail        60 g per 30 days  # more"),
            encoding="utf-8")
        wait_for("changed:")
        wait_for("watching for changes")
        assert retail_limit(out) == "60"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


def test_the_snapshot_holds_kept_earlier_versions(
        specs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An edit of history/<id>/<date>.dqm changes a document's revision row: it must rebuild."""
    monkeypatch.chdir(specs.parent)
    kept = specs / "history" / "anzupgo-dqm"
    kept.mkdir(parents=True)
    shutil.copy(REPO / "policy_specs/history/anzupgo-dqm/2025-11-11.dqm", kept)
    (kept / "notes.txt").write_text("x", encoding="utf-8")
    assert list(snapshot([str(specs)])) == [(specs / "anzupgo.dqm").as_posix(),
                                            (kept / "2025-11-11.dqm").as_posix()]
