"""Benchmark: `dqmc impact` (embedded engine) on synthetic claim files: wall time and peak memory.

Run: .venv/bin/python bench/bench_impact.py [--claims 100000 1000000] [--sort] [--format csv]

Each replay runs in a fresh process (the command's own code path,
`dqmc.revisions.impact.run`), so its peak RSS is its own; files are generated first (seeded, the
Anzupgo revision's shape) and not timed. Memory that stays flat from 100,000 to 1,000,000
claims is the point: the replay holds one member's recent history, not the file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

OLD = "policy_specs/history/anzupgo-dqm/2025-11-11.dqm"
NEW = "policy_specs/anzupgo.dqm"
SEED = 2026
CLAIMS_PER_MEMBER = 6  # a little under the generator's average, so there are always enough


def child(argv: list[str]) -> int:
    """Run `dqmc impact` in this process, as the console script would."""
    from dqmc.revisions import impact

    parser = argparse.ArgumentParser()
    impact.add_arguments(parser)
    return impact.run(parser.parse_args(argv))


def make_file(folder: Path, claims: int, kind: str) -> Path:
    from dqmc.lang.pipeline import compile_paths
    from dqmc.revisions import synth

    policy = compile_paths([NEW]).compiled[0].policy
    path = folder / f"claims-{claims}.{kind}"
    rows = islice(synth.generate([policy], claims // CLAIMS_PER_MEMBER + 1, SEED), claims)
    written = synth.write_claims(rows, path)
    assert written == claims, f"generated {written} claims, wanted {claims}"
    return path


def measure(path: Path, sort: bool) -> dict[str, object]:
    argv = ["--old", OLD, "--new", NEW, "--claims", str(path), "--format", "json"]
    argv += ["--sort"] if sort else []
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, __file__, "--child", *argv],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"dqmc impact exited {process.returncode} on {path}")
    report = json.loads(output)
    return {"rows": report["rows"], "claims": report["claims"], "seconds": round(seconds, 1),
            "rows_per_second": round(report["rows"] / seconds),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
            "changed": report["changed"], "members": report["members"],
            "file_mib": round(path.stat().st_size / 2**20, 1), "sorted_first": sort}


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        raise SystemExit(child(sys.argv[2:]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--format", choices=("csv", "jsonl", "parquet"), default="csv")
    parser.add_argument("--sort", action="store_true", help="also measure --sort (external sort)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dqmc-bench-") as folder:
        for claims in args.claims:
            started = time.perf_counter()
            path = make_file(Path(folder), claims, args.format)
            print(f"generated {claims:,} claims in {time.perf_counter() - started:.1f} s",
                  file=sys.stderr)
            for sort in (False, True) if args.sort else (False,):
                print(json.dumps(measure(path, sort)))


if __name__ == "__main__":
    main()
