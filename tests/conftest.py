"""Shared pytest configuration: the repository root, Hypothesis profiles, the golden switch.

Test modules import helpers from here by module name (`from conftest import REPO`), as they
import `strategies` and `ir_samples`: pytest puts tests/ on sys.path (rootdir conftest).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]

# Hypothesis profiles. `ci`, the default (and what CI=true selects), is derandomized: every run
# draws the same examples, so a failure is the code's and not the draw's; a shared 2-core machine
# makes timing meaningless, so no deadline and no too-slow health check, and a failure prints the
# blob that reproduces it (@reproduce_failure). `nightly` (HYPOTHESIS_PROFILE=nightly) draws new
# examples on every run, ten times as many. An explicit --hypothesis-seed also draws at random,
# from that seed (Hypothesis would otherwise ignore the seed under derandomize).
CI_EXAMPLES = 100
settings.register_profile(
    "ci", max_examples=CI_EXAMPLES, derandomize=True, database=None, deadline=None,
    print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "nightly", max_examples=10 * CI_EXAMPLES, derandomize=False, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def examples(budget: int) -> int:
    """A test's own max_examples, written for the ci profile, scaled to the loaded one."""
    return budget * settings.default.max_examples // CI_EXAMPLES


@pytest.hookimpl(trylast=True)  # after Hypothesis' own plugin applies --hypothesis-profile
def pytest_configure(config: pytest.Config) -> None:
    seed = config.getoption("hypothesis_seed", default=None)
    if seed is not None and settings.default.derandomize:
        name = f"{settings.get_current_profile_name()}-seeded"
        settings.register_profile(name, parent=settings.default, derandomize=False)
        settings.load_profile(name)


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # Spec paths in diagnostics, headers and traces are relative to the working directory.
    monkeypatch.chdir(REPO)


def update_golden() -> bool:
    """DQMC_UPDATE_GOLDEN=1 rewrites expected files; read every diff before committing it."""
    return os.environ.get("DQMC_UPDATE_GOLDEN") == "1"
