"""Sections 3 and 4 of the bench: `dqmc build` of 1 to 1,000 policies, and cold start."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import corpus
import measure
from paths import REPO

# Runs one command as its child and reports the child's wall time and peak resident memory
# (ru_maxrss of RUSAGE_CHILDREN is in KiB on Linux): one wrapper per command, so each peak is
# that command's own.
_MEASURED = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
run = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - start
print(json.dumps({"wall": wall, "kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "code": run.returncode, "out": run.stdout[-400:], "err": run.stderr[-2000:]}))
"""


@dataclass
class Run:
    wall: float  # seconds
    peak: float  # MiB


def measured(command: list[str]) -> Run:
    result = subprocess.run([sys.executable, "-c", _MEASURED, *command], cwd=REPO,
                            capture_output=True, text=True, check=True)
    data = json.loads(result.stdout)
    if data["code"] != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{data['out']}\n{data['err']}")
    return Run(data["wall"], data["kib"] / 1024)


def _median(runs: list[Run]) -> Run:
    return Run(statistics.median(r.wall for r in runs), statistics.median(r.peak for r in runs))


def build_section(sizes: list[int], repeats: int, root: Path
                  ) -> tuple[str, dict[str, Run], Path]:
    """Median wall time and peak memory of `dqmc build` per corpus size, then of a no-change
    `dqmc build --check` of the largest; returns the largest build's output folder too."""
    dqmc = [sys.executable, "-m", "dqmc"]
    pool = corpus.templates()
    rows, runs = [], {}
    out = root
    for size in sizes:
        specs = root / f"specs-{size}"
        paths = corpus.write_corpus(size, specs, pool)
        lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in paths)
        times = []
        for attempt in range(repeats):
            out = root / f"out-{size}-{attempt}"
            times.append(measured([*dqmc, "build", str(specs), "--out", str(out)]))
            if attempt + 1 < repeats:
                shutil.rmtree(out)
        run = _median(times)
        runs[f"build {size}"] = run
        files = sum(1 for p in out.rglob("*") if p.is_file())
        rows.append([f"build {size:,} polic{'y' if size == 1 else 'ies'}", f"{lines:,}",
                     f"{files:,}", f"{run.wall:,.2f}", f"{run.peak:,.0f}"])
    largest = sizes[-1]
    check = _median([measured([*dqmc, "build", str(root / f"specs-{largest}"), "--out", str(out),
                               "--check"]) for _ in range(repeats)])
    runs[f"check {largest}"] = check
    rows.append([f"`build --check` of {largest:,}, nothing changed", "", "",
                 f"{check.wall:,.2f}", f"{check.peak:,.0f}"])
    text = measure.table(["command", "spec lines", "files written", "wall s", "peak MiB"], rows)
    return text, runs, out


# A fresh interpreter imports the registry, decides one claim, and says what it loaded.
_COLD = """
import json, sys, time
start = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import dqm_policies
imported = time.perf_counter()
decision = dqm_policies.evaluate(json.loads(sys.argv[2]))
decided = time.perf_counter()
modules = [m for m in sys.modules if m.startswith("dqm_policies.")
           and m != "dqm_policies._runtime" and not m.startswith("dqm_policies._runtime.")]
print(json.dumps({"import": imported - start, "first": decided - imported,
                  "modules": modules, "outcome": decision["outcome"],
                  "policies": len(dqm_policies.policies())}))
"""


def cold_start_section(python_dir: Path, repeats: int) -> tuple[str, dict[str, float]]:
    """Import and first decision in fresh processes: with bytecode (as pip installs a package)
    and from source (nothing compiled yet), over the largest build."""
    listing = json.loads(subprocess.run(
        [sys.executable, "-c", ("import json, sys; sys.path.insert(0, sys.argv[1]); "
                                "import dqm_policies; print(json.dumps(dqm_policies.policies()))"),
         str(python_dir)],
        capture_output=True, text=True, check=True).stdout)
    first = next(row for row in listing if row["id"].startswith("anzupgo-dqm"))
    suffix = first["id"][len("anzupgo-dqm"):]
    claim = {"claim_id": "c-1", "date_of_service": "2026-03-01",
             "product": f"anzupgo-2pct-cream{suffix}", "quantity": "30", "unit": "g",
             "days_supply": 30, "channel": "retail", "history": [], "authorizations": []}

    def fresh(*flags: str) -> dict:
        run = subprocess.run([sys.executable, "-I", *flags, "-c", _COLD, str(python_dir),
                              json.dumps(claim)], capture_output=True, text=True, check=True)
        return json.loads(run.stdout)

    fresh()  # writes __pycache__, as installing the package would
    with tempfile.TemporaryDirectory(prefix="dqmc-nopyc-") as empty:
        cached = [fresh() for _ in range(repeats)]
        # An empty bytecode folder, never written to: every module compiles from source.
        uncached = [fresh("-B", "-X", f"pycache_prefix={empty}")
                    for _ in range(max(1, repeats // 2))]
    rows, metrics = [], {}
    for label, runs in (("with bytecode", cached), ("from source, no bytecode", uncached)):
        imported = statistics.median(r["import"] for r in runs)
        decided = statistics.median(r["first"] for r in runs)
        loaded = runs[0]["modules"]
        rows.append([label, runs[0]["policies"], measure.millis(imported), measure.millis(decided),
                     measure.millis(imported + decided), f"{len(loaded)} ({', '.join(loaded)})"])
        metrics[label] = imported + decided
        metrics[f"{label} modules"] = len(loaded)
        assert runs[0]["outcome"] == "paid", runs[0]
    text = measure.table(["import `dqm_policies`", "policies", "import ms", "first decision ms",
                          "total ms", "policy modules loaded"], rows)
    return text, metrics
