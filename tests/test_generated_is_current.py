"""The committed generated/ is exactly what the committed specs compile to (CI's staleness gate)."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_dqmc_build_check_passes_on_the_repository() -> None:
    # --no-cache: compile for real, whatever a local .dqmc-cache/ remembers.
    run = subprocess.run([sys.executable, "-m", "dqmc", "build", "--check", "--no-cache"],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "generated/ is up to date" in run.stdout
