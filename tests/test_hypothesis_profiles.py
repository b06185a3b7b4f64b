"""The Hypothesis profile conftest.py loads: `ci` unless HYPOTHESIS_PROFILE names another."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO

SHOW = ("import conftest; from hypothesis import settings; s = settings.default; "
        "print(settings.get_current_profile_name(), s.derandomize, s.max_examples, "
        "conftest.examples(300))")


@pytest.mark.parametrize("environment, expected", [
    ({}, "ci True 100 300"),
    ({"CI": "true"}, "ci True 100 300"),
    ({"HYPOTHESIS_PROFILE": "nightly"}, "nightly False 1000 3000"),
    ({"CI": "true", "HYPOTHESIS_PROFILE": "nightly"}, "nightly False 1000 3000"),
])
def test_the_profile_chosen_by_the_environment(environment: dict[str, str],
                                               expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    run = subprocess.run([sys.executable, "-c", SHOW], cwd=REPO / "tests",
                         env={**env, **environment}, capture_output=True, text=True, check=True)
    assert run.stdout.split() == expected.split()
