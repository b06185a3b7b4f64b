"""`dqmc impact`: the replay's semantics, the streaming engine, its inputs and its reports."""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
from itertools import groupby
from pathlib import Path
from typing import Any

import pytest

from dqmc import interpreter
from dqmc.codegen.loader import load_generated
from dqmc.lang.pipeline import compile_paths
from dqmc.revisions import impact, replay, synth

try:
    import pyarrow
except ImportError:
    pyarrow = None

needs_pyarrow = pytest.mark.skipif(pyarrow is None and not os.environ.get("CI"),
                                   reason="pyarrow (extra 'parquet') is not installed")

OLD_SPEC = '''policy t-dqm "Test cream" {
  type per_days

  product cream {
    brand "Cream"
    generic "cremol"
    form "cream"
    package tube 30 g "30 gram tube"
  }

  limit cream {
    retail        60 g per 30 days
    home_delivery 180 g per 90 days
  }
}
'''
# The revision: lower base limits, and a second product that only the new version limits.
NEW_SPEC = OLD_SPEC.replace("60 g per 30 days", "30 g per 30 days").replace(
    "180 g per 90 days", "90 g per 90 days").replace(
    "  limit cream {", '''  product gel {
    brand "Gel"
    generic "gelol"
    form "gel"
    package jar 30 g "30 gram jar"
  }

  limit gel {
    retail 30 g per 30 days
  }

  limit cream {''')
HEADER = ("member_id", "claim_id", "date_of_service", "product", "quantity", "unit",
          "days_supply", "channel", "status")


@pytest.fixture
def versions(tmp_path: Path) -> tuple[Any, Any]:
    (tmp_path / "old.dqm").write_text(OLD_SPEC, encoding="utf-8")
    (tmp_path / "new.dqm").write_text(NEW_SPEC, encoding="utf-8")
    old, new = compile_paths([tmp_path / "old.dqm"]), compile_paths([tmp_path / "new.dqm"])
    assert old.ok and new.ok, old.diagnostics + new.diagnostics
    return old.compiled, new.compiled


def write_csv(path: Path, rows: list[tuple], header: tuple[str, ...] = HEADER) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def claim(member: str, claim_id: str, day: str, quantity: str = "30", *, product: str = "cream",
          channel: str = "retail", status: str = "paid", days: str = "30") -> tuple:
    return (member, claim_id, f"2025-{day}", product, quantity, "g", days, channel, status)


def outcomes(versions: tuple[Any, Any], rows: list[tuple]
             ) -> dict[tuple[str, str, str], tuple[str, str]]:
    """(member, claim id, date) → (old outcome, new outcome), replaying rows in the order given."""
    old, new = versions
    replaying = replay.Replay((load_generated(old).evaluate, load_generated(new).evaluate),
                              replay.lookback_days([c.policy for c in [*old, *new]]))
    found = {}
    for member, member_rows in groupby(rows, key=lambda r: r[0]):
        replaying.start_member()
        for seq, values in enumerate(member_rows):
            row = replay.normalize_row(dict(zip(HEADER, values, strict=True)), seq)
            assert not isinstance(row, str), row
            decisions = replaying.apply(row)
            if decisions is not None:
                found[(member, row.claim_id, row.date_of_service[5:])] = tuple(
                    d["outcome"] for d in decisions)
    return found


# -- replay semantics --------------------------------------------------------------------------


def test_each_version_builds_history_from_its_own_decisions(versions: tuple[Any, Any]) -> None:
    rows = [claim("m1", "a", "01-01"), claim("m1", "b", "01-11"),
            # Rejected by the new version, so it is not in that version's history...
            claim("m2", "a", "01-01", "60"),
            # ...which then pays this one, while the old version's history rejects it.
            claim("m2", "b", "01-11")]
    assert outcomes(versions, rows) == {
        ("m1", "a", "01-01"): ("paid", "paid"),
        ("m1", "b", "01-11"): ("paid", "rejected"),
        ("m2", "a", "01-01"): ("paid", "rejected"),
        ("m2", "b", "01-11"): ("rejected", "paid"),
    }


def test_window_members_and_channels(versions: tuple[Any, Any]) -> None:
    rows = [claim("m1", "a", "01-01"), claim("m1", "b", "01-31"),  # outside the 30-day window
            # History of all channels counts: retail's 30 g fills home delivery's 90 g window.
            claim("m1", "c", "02-10", "90", channel="home_delivery", days="90"),
            claim("m2", "a", "01-05")]  # another member starts with no history
    assert outcomes(versions, rows) == {
        ("m1", "a", "01-01"): ("paid", "paid"), ("m1", "b", "01-31"): ("paid", "paid"),
        ("m1", "c", "02-10"): ("paid", "rejected"), ("m2", "a", "01-05"): ("paid", "paid")}


def test_reversals_and_rebills(versions: tuple[Any, Any]) -> None:
    rows = [claim("m1", "a", "01-01"), claim("m1", "a", "01-02", status="reversed"),
            claim("m1", "b", "01-10"),  # the reversed fill no longer counts
            # A paid rebill replaces its original instead of adding to it.
            claim("m2", "a", "01-01"), claim("m2", "a", "01-02"), claim("m2", "b", "01-20"),
            # A rejected rebill reverses nothing: the original still counts.
            claim("m3", "a", "01-01"), claim("m3", "a", "01-03", "60"), claim("m3", "b", "01-10")]
    found = outcomes(versions, rows)
    assert found[("m1", "b", "01-10")] == ("paid", "paid")
    assert found[("m2", "a", "01-02")] == ("paid", "paid")
    # The old version pays 'b': 30 g of 'a' + 30 g ≤ 60 g; counting 'a' twice would make 90 g.
    assert found[("m2", "b", "01-20")] == ("paid", "rejected")
    assert found[("m3", "a", "01-03")] == ("paid", "rejected")
    # New version: 'a' (30 g) still counts, so 'b' is over 30 g; had the rejected rebill
    # removed it, 'b' would pay. (The old version paid the 60 g rebill: 60 + 30 > 60.)
    assert found[("m3", "b", "01-10")] == ("rejected", "rejected")


def test_not_applicable_is_paid_history(versions: tuple[Any, Any]) -> None:
    rows = [claim("m1", "a", "01-01", product="gel"), claim("m1", "b", "01-10", product="gel")]
    assert outcomes(versions, rows) == {("m1", "a", "01-01"): ("not_applicable", "paid"),
                                        ("m1", "b", "01-10"): ("not_applicable", "rejected")}
    assert replay.change_of("not_applicable", "rejected") == replay.PAID_TO_REJECTED
    assert replay.change_of("paid", "not_applicable") == replay.OTHER_CHANGE
    assert replay.change_of("rejected", "rejected") is None


def test_pruning_history_to_the_lookback_changes_nothing(versions: tuple[Any, Any],
                                                        tmp_path: Path) -> None:
    old, new = versions
    path = tmp_path / "claims.csv"
    synth.write_claims(synth.generate([new[0].policy], 300, seed=5), path)
    pruned, kept = (replay.run_embedded(load_generated(old).evaluate, load_generated(new).evaluate,
                                        lookback, path)
                    for lookback in (replay.lookback_days([c.policy for c in [*old, *new]]),
                                     100_000))
    assert pruned.to_data() == kept.to_data()
    assert pruned.counts()["changed"] > 0


def test_generated_evaluators_and_interpreter_agree_on_a_replay(versions: tuple[Any, Any],
                                                                tmp_path: Path) -> None:
    old, new = versions
    path = tmp_path / "claims.csv"
    synth.write_claims(synth.generate([new[0].policy], 200, seed=11), path)
    lookback = replay.lookback_days([c.policy for c in [*old, *new]])
    generated = replay.run_embedded(load_generated(old).evaluate, load_generated(new).evaluate,
                                    lookback, path)
    interpreted = replay.run_embedded(lambda c: interpreter.evaluate_many(old, c),
                                      lambda c: interpreter.evaluate_many(new, c), lookback, path)
    assert generated.to_data() == interpreted.to_data()


# -- the report --------------------------------------------------------------------------------


def test_report_counts_per_product_and_channel(versions: tuple[Any, Any], tmp_path: Path) -> None:
    old, new = versions
    rows = [claim("m1", "a", "01-01"), claim("m1", "b", "01-11"),
            claim("m2", "a", "01-01", "60"), claim("m2", "b", "01-11"),
            claim("m2", "c", "02-01", "90", channel="home_delivery", days="90"),
            claim("m3", "a", "01-01", product="gel"), claim("m3", "a", "01-04", status="reversed")]
    path = write_csv(tmp_path / "claims.csv", rows)
    report = replay.run_embedded(load_generated(old).evaluate, load_generated(new).evaluate, 90,
                                 path, examples=1)
    counts = report.counts()
    assert {k: counts[k] for k in ("rows", "members", "claims", "reversals", "changed",
                                   "paid_to_rejected", "rejected_to_paid")} == {
        "rows": 7, "members": 3, "claims": 6, "reversals": 1, "changed": 5,
        "paid_to_rejected": 3, "rejected_to_paid": 1}
    by_group = {(g["product"], g["channel"]): g for g in counts["by_product_channel"]}
    assert by_group[("cream", "retail")] == {
        "product": "cream", "channel": "retail", "claims": 4, "paid_old": 3, "paid_new": 2,
        "paid_to_rejected": 2, "rejected_to_paid": 1, "other_changes": 0}
    assert by_group[("gel", "retail")]["other_changes"] == 1  # not_applicable → paid
    examples = {(e["product"], e["channel"], e["change"]): e["claims"]
                for e in report.to_data()["examples"]}
    first = examples[("cream", "retail", "paid_to_rejected")]
    assert [(c["member_id"], c["claim_id"]) for c in first] == [("m1", "b")]  # one per --examples 1
    assert first[0]["new"]["reject_code"] == "76"
    assert first[0]["new"]["messages"][0] == "QL 30 G PER 30 DAYS"
    table = report.table()
    assert "paid→rejected" in table and "total" in table
    assert "b member m1 2025-01-11 30 g / 30 days: paid → rejected 76" in table


def test_invalid_rows_are_counted_not_replayed(versions: tuple[Any, Any], tmp_path: Path) -> None:
    old, new = versions
    rows = [("", "x", "2025-01-01", "cream", "30", "g", "30", "retail", "paid"),
            claim("m1", "a", "02-30"),  # no such day
            claim("m1", "b", "01-01", status="void"),
            ("m1", "", "2025-01-02", "cream", "30", "g", "30", "retail", "reversed"),
            claim("m1", "c", "01-03", "abc")]  # valid row; the evaluators reject it (E7)
    report = replay.run_embedded(load_generated(old).evaluate, load_generated(new).evaluate, 90,
                                 write_csv(tmp_path / "claims.csv", rows))
    counts = report.counts()
    assert counts["invalid_rows"] == {"a reversal has no claim_id": 1,
                                      "date_of_service is not a date YYYY-MM-DD": 1,
                                      "member_id is missing": 1,
                                      "status is not paid, rejected or reversed": 1}
    assert (counts["rows"], counts["claims"], counts["changed"]) == (5, 1, 0)
    assert counts["transitions"] == [{"product": "cream", "channel": "retail", "old": "rejected",
                                      "new": "rejected", "claims": 1}]


# -- reading and ordering ----------------------------------------------------------------------


def _synthetic(policy: Any, path: Path, members: int = 150, seed: int = 3) -> list[dict]:
    rows = list(synth.generate([policy], members, seed=seed))
    synth.write_claims(rows, path)
    return rows


@needs_pyarrow
def test_csv_jsonl_and_parquet_give_the_same_report(versions: tuple[Any, Any],
                                                    tmp_path: Path) -> None:
    old, new = versions
    rows = _synthetic(new[0].policy, tmp_path / "claims.csv")
    synth.write_claims(rows, tmp_path / "claims.jsonl")
    synth.write_claims(rows, tmp_path / "claims.parquet")
    reports = [replay.run_embedded(load_generated(old).evaluate, load_generated(new).evaluate, 90,
                                   tmp_path / name).to_data()
               for name in ("claims.csv", "claims.jsonl", "claims.parquet")]
    assert reports[0]["rows"] == len(rows) and reports[0]["changed"] > 0
    assert reports[0] == reports[1] == reports[2]


def test_unsorted_input_is_reported_and_sort_fixes_it(versions: tuple[Any, Any],
                                                      tmp_path: Path) -> None:
    old, new = versions
    rows = _synthetic(new[0].policy, tmp_path / "sorted.csv", members=400)
    # Members in another order, each member's own rows untouched.
    blocks = [list(group) for _, group in groupby(rows, key=lambda r: r["member_id"])]
    random.Random(1).shuffle(blocks)
    synth.write_claims([r for block in blocks for r in block], tmp_path / "shuffled.csv")

    def run(name: str, **kw: Any) -> Any:
        return replay.run_embedded(load_generated(old).evaluate, load_generated(new).evaluate, 90,
                                   tmp_path / name, **kw)

    with pytest.raises(replay.UnsortedClaims, match=r"shuffled.csv: row \d+ \(member m\d+"):
        run("shuffled.csv")
    expected = run("sorted.csv").to_data()
    # Small chunks, so the sort spills several runs to disk and merges them.
    assert run("shuffled.csv", sort=True, sort_chunk_rows=500).to_data() == expected
    assert run("shuffled.csv", sort=True).to_data() == expected  # one chunk: in memory


def test_a_date_going_back_within_a_member_is_unsorted(versions: tuple[Any, Any],
                                                       tmp_path: Path) -> None:
    old, new = versions
    path = write_csv(tmp_path / "claims.csv",
                     [claim("m1", "a", "02-01"), claim("m1", "b", "01-01")])
    with pytest.raises(replay.UnsortedClaims, match=r"row 2 .*comes after member m1, 2025-02-01"):
        replay.run_embedded(load_generated(old).evaluate, load_generated(new).evaluate, 90, path)


def test_reader_errors(tmp_path: Path) -> None:
    bad_json = tmp_path / "claims.jsonl"
    bad_json.write_text('{"member_id": "m1"}\nnot json\n', encoding="utf-8")
    with pytest.raises(replay.ClaimsInputError, match=r"claims\.jsonl:2: not JSON"):
        list(replay.read_claims(bad_json))
    no_member = write_csv(tmp_path / "claims.csv", [], header=("claim_id", "status"))
    with pytest.raises(replay.ClaimsInputError, match="no member_id column"):
        list(replay.read_claims(no_member))
    with pytest.raises(replay.ClaimsInputError, match=r"\*.csv, \*.jsonl or \*.parquet"):
        list(replay.read_claims(tmp_path / "claims.txt"))
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffmember_id,status\nm1,paid\n".encode())
    assert list(replay.read_claims(bom)) == [{"member_id": "m1", "status": "paid"}]


# -- command line ------------------------------------------------------------------------------


def run_cli(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    impact.add_arguments(parser)
    code = impact.run(parser.parse_args(list(argv)))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_table_json_and_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "old.dqm").write_text(OLD_SPEC, encoding="utf-8")
    (tmp_path / "new.dqm").write_text(NEW_SPEC, encoding="utf-8")
    path = write_csv(tmp_path / "claims.csv",
                     [claim("m1", "a", "01-01"), claim("m1", "b", "01-11")])
    specs = ("--old", str(tmp_path / "old.dqm"), "--new", str(tmp_path / "new.dqm"))
    code, out, err = run_cli(*specs, "--claims", str(path), capsys=capsys)
    assert code == 0 and "cream    retail" in out and "embedded replay in" in out and err == ""
    code, out, err = run_cli(*specs, "--claims", str(path), "--format", "json", "--progress",
                             capsys=capsys)
    data = json.loads(out)
    assert code == 0 and data["paid_to_rejected"] == 1 and data["engine"] == "embedded"
    assert data["old"][0]["policy"] == "t-dqm"
    assert data["examples"][0]["claims"][0]["claim_id"] == "b"
    assert "replaying [" in err and "100.0%" in err


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "old.dqm").write_text(OLD_SPEC, encoding="utf-8")
    (tmp_path / "bad.dqm").write_text(OLD_SPEC.replace("limit cream", "limit nothing"),
                                      encoding="utf-8")
    unsorted = write_csv(tmp_path / "claims.csv",
                         [claim("m2", "a", "01-01"), claim("m1", "a", "01-01")])
    old = ("--old", str(tmp_path / "old.dqm"))
    code, _, err = run_cli(*old, "--new", str(tmp_path / "old.dqm"), "--claims", str(unsorted),
                           capsys=capsys)
    assert code == 2 and "sorted by member_id, then date_of_service" in err and "--sort" in err
    code, _, _ = run_cli(*old, "--new", str(tmp_path / "old.dqm"), "--claims", str(unsorted),
                         "--sort", capsys=capsys)
    assert code == 0
    code, _, err = run_cli(*old, "--new", str(tmp_path / "bad.dqm"), "--claims", str(unsorted),
                           capsys=capsys)
    assert code == 1 and "limit.unknown-product" in err
    code, _, err = run_cli(*old, "--new", str(tmp_path / "old.dqm"), "--claims", "nope.csv",
                           capsys=capsys)
    assert code == 2 and "no such claims file" in err


VIAL_SPEC = '''policy v-dqm "Test vials" {
  type per_days
  product insulin {
    brand "Insulin"
    generic "insulin"
    form "injection, vial"
    unit mL
    package vial from drug file "vial" as vial
  }
  limit insulin {
    all 3 vials per 30 days
  }
}
'''


def test_package_size_column_reaches_claims_and_history(tmp_path: Path) -> None:
    # Drug-file products count packages of the size each row brings; without the column every
    # such claim would reject 21 in both versions and the replay would show no change.
    (tmp_path / "old.dqm").write_text(VIAL_SPEC, encoding="utf-8")
    (tmp_path / "new.dqm").write_text(VIAL_SPEC.replace("3 vials", "2 vials"), encoding="utf-8")
    old, new = compile_paths([tmp_path / "old.dqm"]), compile_paths([tmp_path / "new.dqm"])
    assert old.ok and new.ok, old.diagnostics + new.diagnostics
    header = (*HEADER, "package_size")
    rows = [("m1", "a", "2025-01-01", "insulin", "10", "mL", "30", "retail", "paid", "10"),
            # 20 mL of 10 mL vials: 2 vials, on top of 1 in history: 3 ≤ 3, but 3 > 2.
            ("m1", "b", "2025-01-05", "insulin", "20", "mL", "30", "retail", "paid", "10"),
            ("m2", "a", "2025-01-01", "insulin", "10", "mL", "30", "retail", "paid", "")]
    path = write_csv(tmp_path / "claims.csv", rows, header)
    raw = list(replay.read_claims(path))
    normalized = [replay.normalize_row(r, seq) for seq, r in enumerate(raw)]
    assert all(not isinstance(r, str) for r in normalized)
    assert normalized[0].package_size == "10" and normalized[2].package_size is None
    replaying = replay.Replay((load_generated(old.compiled).evaluate,
                               load_generated(new.compiled).evaluate),
                              replay.lookback_days([c.policy for c in [*old.compiled,
                                                                       *new.compiled]]))
    decided = {}
    for member, member_rows in groupby(normalized, key=lambda r: r.member_id):
        replaying.start_member()
        for row in member_rows:
            decided[(member, row.claim_id)] = [(d["outcome"], d.get("reject_code"))
                                               for d in replaying.apply(row)]
    assert decided[("m1", "a")] == [("paid", None), ("paid", None)]
    assert decided[("m1", "b")] == [("paid", None), ("rejected", "76")]
    # No size for a drug-file product: 21 in both versions, never paid.
    assert decided[("m2", "a")] == [("rejected", "21"), ("rejected", "21")]
