"""`dqmc impact --engine spark` in Spark local mode gives exactly the embedded replay's report."""

from __future__ import annotations

import importlib.util
import os
import random
import sys
from collections.abc import Iterator
from itertools import groupby, islice
from pathlib import Path
from typing import Any

import pytest

from dqmc.codegen.loader import load_generated
from dqmc.lang.pipeline import compile_paths
from dqmc.revisions import replay, synth

# Skipped only on a machine without the extra; under CI the extra is installed, so a missing
# PySpark fails there instead of passing silently.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pyspark") is None and not os.environ.get("CI"),
    reason="PySpark (extra 'spark') is not installed")

OLD = "policy_specs/history/anzupgo-dqm/2025-11-11.dqm"
NEW = "policy_specs/anzupgo.dqm"
CLAIMS = 100_000


@pytest.fixture(scope="module")
def spark_python() -> Iterator[None]:
    """Executors run this interpreter (the venv's); the session is stopped after the module."""
    saved = {k: os.environ.get(k) for k in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    yield
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def versions() -> tuple[Any, Any]:
    old, new = compile_paths([OLD]), compile_paths([NEW])
    assert old.ok and new.ok
    return old.compiled, new.compiled


def embedded(old: Any, new: Any, path: Path, **options: Any) -> replay.ImpactReport:
    lookback = replay.lookback_days([c.policy for c in [*old, *new]])
    return replay.run_embedded(load_generated(old).evaluate, load_generated(new).evaluate,
                               lookback, path, **options)


def test_spark_counts_equal_embedded_on_100000_claims(spark_python: None, tmp_path: Path) -> None:
    from dqmc.revisions.spark_impact import run_spark

    old, new = versions()
    path = tmp_path / "claims.csv"
    rows = islice(synth.generate([new[0].policy], 20_000, seed=2026), CLAIMS)
    assert synth.write_claims(rows, path) == CLAIMS
    expected = embedded(old, new, path)
    found = run_spark(old, new, str(path), master="local[2]")
    assert found.counts() == expected.counts()
    assert found.to_data() == expected.to_data()  # the same example claims, too
    assert expected.rows == CLAIMS and expected.counts()["paid_to_rejected"] > 1000
    assert expected.counts()["rejected_to_paid"] > 0


def test_spark_sorts_unsorted_parquet_and_counts_invalid_rows(spark_python: None,
                                                              tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    from dqmc.revisions.spark_impact import run_spark

    old, new = versions()
    rows = list(synth.generate([new[0].policy], 500, seed=8))
    blocks = [list(group) for _, group in groupby(rows, key=lambda r: r["member_id"])]
    random.Random(8).shuffle(blocks)
    shuffled = [r for block in blocks for r in block]
    shuffled[10] = {**shuffled[10], "member_id": None}
    shuffled[20] = {**shuffled[20], "status": "void"}
    path = tmp_path / "claims.parquet"
    synth.write_claims(shuffled, path)
    expected = embedded(old, new, path, sort=True)
    assert sum(expected.invalid.values()) == 2
    assert run_spark(old, new, str(path), master="local[2]").to_data() == expected.to_data()
