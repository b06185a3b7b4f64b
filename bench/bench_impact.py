"""Benchmark: `dqmc impact` (embedded engine) on synthetic claim files: wall time, peak memory,
and claims per second against an earlier commit's replay of the same file.

Run: .venv/bin/python bench/bench_impact.py [--claims 100000 1000000] [--sort] [--format csv]
     [--baseline REV]

Each replay runs in a fresh process (the command's own code path,
`dqmc.revisions.impact.run`), so its peak RSS is its own; files are generated first (seeded, the
Anzupgo revision's shape) and not timed. Memory that stays flat from 100,000 to 1,000,000
claims is the point: the replay holds one member's recent history, not the file. With
`--baseline`, the same file is replayed by the `src/` of that commit too (from `git archive`,
on PYTHONPATH), the two taking turns, and the faster of each one's runs is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paths import REPO

OLD = "policy_specs/history/anzupgo-dqm/2025-11-11.dqm"
NEW = "policy_specs/anzupgo.dqm"
SEED = 2026
CLAIMS_PER_MEMBER = 6  # a little under the generator's average, so there are always enough
BASELINE = "2ab689f"  # main when issue 21's replay target was set: the replay to beat 3×


def child(argv: list[str]) -> int:
    """Run `dqmc impact` in this process, as the console script would."""
    from dqmc.revisions import impact

    parser = argparse.ArgumentParser()
    impact.add_arguments(parser)
    return impact.run(parser.parse_args(argv))


def make_file(folder: Path, claims: int, kind: str) -> Path:
    from dqmc.lang.pipeline import compile_paths
    from dqmc.revisions import synth

    policy = compile_paths([REPO / NEW]).compiled[0].policy
    path = folder / f"claims-{claims}.{kind}"
    rows = islice(synth.generate([policy], claims // CLAIMS_PER_MEMBER + 1, SEED), claims)
    written = synth.write_claims(rows, path)
    assert written == claims, f"generated {written} claims, wanted {claims}"
    return path


def source_of(revision: str, folder: Path) -> Path:
    """The `src/` folder of a commit (and the grammars it reads), unpacked under `folder`."""
    archive = subprocess.run(["git", "archive", revision, "src", "grammar"], cwd=REPO, check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder / "src"


def measure(path: Path, sort: bool, source: Path | None = None) -> dict[str, object]:
    """One replay of `path` in a new process: by this checkout, or by the code in `source`."""
    argv = ["--old", OLD, "--new", NEW, "--claims", str(path), "--format", "json"]
    argv += ["--sort"] if sort else []
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source), env.get("PYTHONPATH", "")])
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, __file__, "--child", *argv], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"dqmc impact exited {process.returncode} on {path}")
    report = json.loads(output)
    return {"rows": report["rows"], "claims": report["claims"], "seconds": round(seconds, 2),
            "rows_per_second": round(report["rows"] / seconds),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
            "changed": report["changed"], "members": report["members"],
            "file_mib": round(path.stat().st_size / 2**20, 1), "sorted_first": sort,
            "counts": {k: v for k, v in report.items() if k != "examples"}}


def side_by_side(path: Path, revision: str, folder: Path, repeats: int
                 ) -> tuple[dict[str, object], dict[str, object]]:
    """(the baseline's best run, this checkout's best run) of the same file, taking turns; the
    two must have read the same rows, claims and members (their outcomes differ where the
    semantics changed between the commits)."""
    source = source_of(revision, folder / "baseline")
    runs: dict[str, list[dict[str, object]]] = {"baseline": [], "current": []}
    for _ in range(repeats):
        runs["baseline"].append(measure(path, False, source))
        runs["current"].append(measure(path, False))
    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items()}  # type: ignore[arg-type, return-value]
    read = ("rows", "members", "claims", "reversals", "invalid_rows")
    assert ({k: best["baseline"]["counts"][k] for k in read}  # type: ignore[index]
            == {k: best["current"]["counts"][k] for k in read}), "the replays read differently"  # type: ignore[index]
    return best["baseline"], best["current"]


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        raise SystemExit(child(sys.argv[2:]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--format", choices=("csv", "jsonl", "parquet"), default="csv")
    parser.add_argument("--sort", action="store_true", help="also measure --sort (external sort)")
    parser.add_argument("--baseline", metavar="REV",
                        help=f"also replay each file by this commit's code (e.g. {BASELINE})")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dqmc-bench-") as folder:
        for claims in args.claims:
            started = time.perf_counter()
            path = make_file(Path(folder), claims, args.format)
            print(f"generated {claims:,} claims in {time.perf_counter() - started:.1f} s",
                  file=sys.stderr)
            if args.baseline:
                old, new = side_by_side(path, args.baseline, Path(folder), 2)
                for name, found in (("baseline " + args.baseline, old), ("current", new)):
                    found.pop("counts")
                    print(json.dumps({"replay": name, **found}))
                continue
            for sort in (False, True) if args.sort else (False,):
                found = measure(path, sort)
                found.pop("counts")
                print(json.dumps(found))


if __name__ == "__main__":
    main()
