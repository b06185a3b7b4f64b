"""The README's worked examples run as written: their output is what the commands print."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _section(title: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_impact_example_counts_each_versions_own_decisions_as_history(tmp_path: Path) -> None:
    section = _section("Versions: diff, impact and the revision history")
    blocks = re.findall(r"```\n(.*?)```", section, flags=re.DOTALL)
    claims, session = blocks[0], blocks[1]
    (tmp_path / "claims.csv").write_text(claims, encoding="utf-8")
    command = session.splitlines()[0].removeprefix("$ dqmc ").split()
    command = [str(REPO / a) if a.startswith("policy_specs/") else a for a in command]
    run = subprocess.run([sys.executable, "-m", "dqmc", *command], capture_output=True, text=True,
                         cwd=tmp_path, check=False)
    assert run.returncode == 0, run.stderr
    shown = [line for line in session.splitlines()[1:] if line.strip() and line != "..."]
    printed = run.stdout.splitlines()
    for line in shown:
        assert line in printed, line
    assert "2 claims change outcome" in run.stdout
