"""Shared pytest configuration: the repository root and the golden-file update switch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # Spec paths in diagnostics, headers and traces are relative to the working directory.
    monkeypatch.chdir(REPO)


def update_golden() -> bool:
    """DQMC_UPDATE_GOLDEN=1 rewrites expected files; read every diff before committing it."""
    return os.environ.get("DQMC_UPDATE_GOLDEN") == "1"
