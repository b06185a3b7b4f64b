"""Large builds use worker processes; the output is the same bytes as a build in one process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import REPO

from dqmc import runtime as rt
from dqmc.build.tree import artifacts
from dqmc.lang import parallel
from dqmc.lang.pipeline import compile_paths


def _square(n: int) -> int:
    return n * n


def _fails_on_seven(n: int) -> int:
    if n == 7:
        raise ValueError("seven")
    return n


def test_ordered_map_keeps_input_order_across_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(parallel.JOBS_VARIABLE, "3")
    items = list(range(500, 0, -1))
    assert parallel.ordered_map(_square, items) == [n * n for n in items]


def test_a_worker_exception_reaches_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(parallel.JOBS_VARIABLE, "2")
    with pytest.raises(ValueError, match="seven"):
        parallel.ordered_map(_fails_on_seven, list(range(parallel.PARALLEL_MIN_ITEMS * 2)))


def test_jobs_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(parallel.JOBS_VARIABLE, "1")
    assert parallel.workers() == 1
    monkeypatch.setenv(parallel.JOBS_VARIABLE, "not a number")
    assert parallel.workers() == min(os.cpu_count() or 1, 8)


def test_a_parallel_build_is_byte_identical_to_a_serial_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Enough variants of Anzupgo (ids renamed; one with an error) to take the parallel path."""
    text = (REPO / "policy_specs/anzupgo.dqm").read_text(encoding="utf-8")
    count = parallel.PARALLEL_MIN_ITEMS + 6
    for n in range(count):
        variant = text.replace("anzupgo-dqm", f"anzupgo-v{n:03}").replace(
            "anzupgo-2pct-cream", f"anzupgo-cream-v{n:03}")
        (tmp_path / f"v{n:03}.dqm").write_text(variant, encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # no docs.config.yaml here: the neutral boilerplate
    built = {}
    for jobs in ("1", "2"):
        monkeypatch.setenv(parallel.JOBS_VARIABLE, jobs)
        result = compile_paths([tmp_path])
        assert result.ok and len(result.compiled) == count
        built[jobs] = artifacts(result.compiled)
    # Per policy its IR, module and two documents; then the registry, pyproject.toml, the
    # documents' index and drugs.json, the runtime package file by file, and the contract
    # schemas.
    runtime_files = len(list(Path(rt.__file__).parent.glob("*.py")))
    runtime_files += len(list(Path(rt.__file__).parent.glob("schemas/*.schema.json")))
    assert built["1"] == built["2"] and len(built["1"]) == 4 * count + 4 + runtime_files

    (tmp_path / "v005.dqm").write_text(text.replace("30 g per 30 days", "30 kg per 30 days"),
                                       encoding="utf-8")
    diagnostics = {}
    for jobs in ("1", "2"):
        monkeypatch.setenv(parallel.JOBS_VARIABLE, jobs)
        diagnostics[jobs] = [d.concise() for d in compile_paths([tmp_path]).diagnostics]
    assert diagnostics["1"] == diagnostics["2"]
    assert any("v005.dqm" in line and "error[" in line for line in diagnostics["1"])
