"""Where the bench finds the repository it measures: its root and its policy specs."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "policy_specs"
