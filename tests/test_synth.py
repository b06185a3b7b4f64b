"""`dqmc synth`: seeded synthetic claim files that look like a real book of business."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from collections import Counter
from decimal import Decimal
from itertools import groupby, pairwise
from pathlib import Path

import pytest

from dqmc.lang.pipeline import compile_paths, compile_text
from dqmc.revisions import replay, synth

try:
    import pyarrow
except ImportError:
    pyarrow = None

LIBRARY = compile_paths(["policy_specs"])
ANZUPGO = next(c.policy for c in LIBRARY.compiled if c.policy.id == "anzupgo-dqm")


def test_same_seed_same_bytes_and_members_are_independent(tmp_path: Path) -> None:
    first, again, other = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    synth.write_claims(synth.generate([ANZUPGO], 200, seed=9), first)
    synth.write_claims(synth.generate([ANZUPGO], 200, seed=9), again)
    synth.write_claims(synth.generate([ANZUPGO], 200, seed=10), other)
    assert first.read_bytes() == again.read_bytes() != other.read_bytes()
    # Each member has its own stream: fewer members give a prefix of the same rows (ids are
    # padded to the same width up to 9,999,999 members).
    fewer = list(synth.generate([ANZUPGO], 50, seed=9))
    assert fewer == list(synth.generate([ANZUPGO], 200, seed=9))[:len(fewer)]


def test_rows_are_sorted_and_well_formed() -> None:
    rows = list(synth.generate([c.policy for c in LIBRARY.compiled], 500, seed=1))
    keys = [(r["member_id"], r["date_of_service"]) for r in rows]
    assert keys == sorted(keys)
    assert {r["status"] for r in rows} == {"paid", "reversed"}
    assert all(set(r) == set(synth.COLUMNS) for r in rows)
    assert all(isinstance(r["days_supply"], int) and r["days_supply"] > 0 for r in rows)
    assert all(Decimal(r["quantity"]) > 0 for r in rows)
    assert all((r["product"] is None) != (r["ndc"] is None) for r in rows)
    assert {r["channel"] for r in rows} >= {"retail", "home_delivery"}
    assert len({r["product"] for r in rows}) > 20  # the whole library's products


def test_products_with_ndcs_are_claimed_by_ndc_too() -> None:
    text = Path("policy_specs/anzupgo.dqm").read_text(encoding="utf-8").replace(
        '"30 gram tube" as tube', '"30 gram tube" as tube {\n      ndc "12345678901"\n    }')
    result = compile_text("with-ndc.dqm", text)
    assert result.policy is not None and result.policy.products[0].packages[0].ndcs
    rows = list(synth.generate([result.policy], 200, seed=6))
    named = Counter("ndc" if r["ndc"] == "12345678901" else r["product"] for r in rows)
    assert set(named) == {"ndc", "anzupgo-2pct-cream"}


def test_usual_fills_follow_the_limits() -> None:
    plans = {p.product: p for p in synth.product_plans([ANZUPGO])}
    fills = plans["anzupgo-2pct-cream"].fills
    assert fills == {"retail": synth.Fill(Decimal(30), 30),
                     "home_delivery": synth.Fill(Decimal(90), 90)}
    rows = list(synth.generate([ANZUPGO], 2000, seed=4))
    quantities = Counter((r["channel"], r["quantity"]) for r in rows if r["status"] == "paid")
    # Mostly the usual fill; heavy users ask for twice as much, light users for one tube.
    assert quantities[("retail", "30")] > quantities[("retail", "60")] > 0
    assert quantities[("home_delivery", "90")] > quantities[("home_delivery", "180")] > 0
    assert all(Decimal(q) % 30 == 0 for _, q in quantities)  # whole 30 g tubes


def test_a_usual_fill_fits_a_days_supply_cap_and_a_course_of_therapy() -> None:
    from dqmc.lang.ir import nodes

    assert synth.usual_fill([nodes.DaysSupplyMax(days=10)], "retail", None).days_supply == 10
    assert synth.usual_fill([nodes.TherapyMax(days=14)], "retail", None).days_supply == 14
    assert synth.usual_fill([nodes.TherapyMax(days=120)], "home_delivery", None).days_supply == 90


def test_behaviours_a_replay_must_handle() -> None:
    rows = list(synth.generate([ANZUPGO], 2000, seed=4))
    members = {m: list(group) for m, group in groupby(rows, key=lambda r: r["member_id"])}
    assert len(members) == 2000
    reversals = rebills = early = switches = 0
    for member_rows in members.values():
        paid = [r for r in member_rows if r["status"] == "paid"]
        seen: set[str] = set()
        for row in member_rows:
            if row["status"] == "reversed":
                assert row["claim_id"] in seen  # a reversal follows the claim it reverses
                reversals += 1
            elif row["claim_id"] in seen:
                rebills += 1
            seen.add(row["claim_id"])
        for before, after in pairwise(paid):
            if before["claim_id"] == after["claim_id"]:
                continue
            gap = (dt.date.fromisoformat(after["date_of_service"])
                   - dt.date.fromisoformat(before["date_of_service"])).days
            early += gap < 0.8 * before["days_supply"]
            switches += before["channel"] != after["channel"]
    total = len(rows)
    assert 0.01 < reversals / total < 0.08
    assert 0.3 < rebills / reversals < 0.9
    assert early > 0.05 * total and switches > 0


@pytest.mark.parametrize("name", ["claims.csv", "claims.jsonl", "claims.parquet"])
def test_written_files_read_back(tmp_path: Path, name: str) -> None:
    if name.endswith(".parquet") and pyarrow is None and not os.environ.get("CI"):
        pytest.skip("pyarrow (extra 'parquet') is not installed")
    rows = list(synth.generate([ANZUPGO], 100, seed=2))
    assert synth.write_claims(rows, tmp_path / name) == len(rows)
    normalized = [replay.normalize_row(raw, seq)
                  for seq, raw in enumerate(replay.read_claims(tmp_path / name))]
    expected = [replay.normalize_row(raw, seq) for seq, raw in enumerate(rows)]
    assert normalized == expected


def run_cli(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    synth.add_arguments(parser)
    code = synth.run(parser.parse_args(list(argv)))
    return code, capsys.readouterr().err


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "claims.csv"
    code, err = run_cli("--policy", "policy_specs/anzupgo.dqm", "--members", "10", "--seed", "3",
                        "--out", str(out), capsys=capsys)
    assert code == 0 and f"for 10 members to {out}" in err
    assert out.read_text(encoding="utf-8").splitlines()[0] == ",".join(synth.COLUMNS)
    assert run_cli("--policy", "policy_specs/anzupgo.dqm", "--members", "10",
                   "--out", str(tmp_path / "claims.txt"), capsys=capsys)[0] == 2
    assert run_cli("--policy", "no/such.dqm", "--members", "10",
                   "--out", str(out), capsys=capsys)[0] == 2
    assert run_cli("--policy", "policy_specs/anzupgo.dqm", "--members", "0",
                   "--out", str(out), capsys=capsys)[0] == 2
