"""The dqmc benchmarks in one run: decisions against peers, history, compile scaling, cold start."""

# Run: .venv/bin/python bench/run.py  (or `make bench`, which installs the `bench` extra first).
# Prints the tables with the machine they came from and writes them to bench/RESULTS.md.
# `--quick` runs a tiny configuration in seconds (what tests/test_bench_smoke.py runs).

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_impact
import decisions
import measure
import scaling

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass(frozen=True)
class Config:
    claims: int  # claims per decision sample
    repeats: int  # samples per contender (the median is reported)
    sample: float  # seconds each sample lasts at least
    history: list[int]
    builds: list[int]
    build_repeats: int
    cold_repeats: int
    replay_claims: int  # claims in the impact replay's file (0: no replay section)
    replay_repeats: int


FULL = Config(claims=200, repeats=15, sample=0.02, history=[0, 10, 100, 1000, 10000],
              builds=[1, 10, 100, 1000], build_repeats=3, cold_repeats=9,
              replay_claims=100_000, replay_repeats=2)
QUICK = Config(claims=10, repeats=2, sample=0.001, history=[0, 10, 20], builds=[1],
               build_repeats=1, cold_repeats=1, replay_claims=0, replay_repeats=0)


def _target(label: str, measured: str, holds: bool | None) -> list[object]:
    return [label, measured, "–" if holds is None else ("yes" if holds else "**no**")]


# Issue 21's ratios against the peers, by column: (peer, its label, the ratio wanted).
PEER_TARGETS = {"none": (("zen", "zen-engine", 60), ("cedar-text", "cedarpy (text)", 100)),
                "history": (("zen", "zen-engine", 40), ("cedar-text", "cedarpy (text)", 100)),
                "authorized": (("zen", "zen-engine", 40), ("cedar-text", "cedarpy (text)", 100))}
FLOOR_TARGET = 1.5  # generated within this factor of the hand-written floor, every column
OUTSIDE_SHARE, INSIDE_SHARE = 0.03, 0.08  # of a no-history decision, per history entry
DOSE_COLUMN, DOSE_TARGET = "dose", 2.0  # the cumulative-dose column: ≤ 2× the history column


def targets(config: Config, decided: dict, history: dict, built: dict, cold: dict,
            replayed: dict | None) -> str:
    generated = decided["generated"]
    headers = {c.key: c.header.removesuffix(" µs") for c in decisions.COLUMNS}
    rows = []
    for column, wanted in PEER_TARGETS.items():
        for key, label, factor in wanted:
            seconds = decided.get(key, {}).get(column)
            if seconds is not None:
                ratio = seconds / generated[column]
                rows.append(_target(f"generated ≥ {factor}× faster than {label}, "
                                    f"{headers[column]}", measure.times(ratio), ratio >= factor))
    for column in headers:
        floor = decided.get("floor", {}).get(column)
        if floor is not None:
            ratio = generated[column] / floor
            rows.append(_target(f"generated within {FLOOR_TARGET}× of the hand-written floor, "
                                f"{headers[column]}", f"{measure.times(ratio)} the floor's time",
                                ratio <= FLOOR_TARGET))
    if generated.get(DOSE_COLUMN) is not None:
        ratio = generated[DOSE_COLUMN] / generated["history"]
        rows.append(_target(f"cumulative dose within {DOSE_TARGET}× of the "
                            f"{decisions.HISTORY}-entry history column",
                            measure.times(ratio), ratio <= DOSE_TARGET))
    for column in ("none", "history"):
        ratio = decided["interpreter"][column] / generated[column]
        rows.append(_target(f"generated ≥ 5× faster than the interpreter, {headers[column]}",
                            measure.times(ratio), ratio >= 5))
    sizes = [n for n in config.history if n]
    if len(sizes) >= 2:
        small, large = f"{sizes[-2]:,}", f"{sizes[-1]:,}"
        growth = history[f"{large} per entry"] / history[f"{small} per entry"]
        rows.append(_target(f"history cost no worse than linear ({small} → {large} entries)",
                            f"cost per entry × {growth:.2f}", growth <= 1.5))
        one = generated["none"]
        for where, share in (("outside", OUTSIDE_SHARE), ("inside", INSIDE_SHARE)):
            per_entry = history[next(k for k in history
                                     if where in k and k.endswith("per entry"))]
            rows.append(_target(f"an entry {where} the window costs ≤ {share:.0%} of a "
                                "no-history decision",
                                f"{per_entry / one:.1%} ({measure.micros(per_entry)} µs of "
                                f"{measure.micros(one)} µs)", per_entry <= share * one))
    if replayed is not None:
        ratio = replayed["current"] / replayed["baseline"]
        rows.append(_target(f"`dqmc impact` replays ≥ 3× the claims per second of "
                            f"{replayed['revision']}", measure.times(ratio), ratio >= 3))
    largest = config.builds[-1]
    build, check = built[f"build {largest}"], built[f"check {largest}"]
    rows.append(_target(f"build of {largest:,} policies ≤ 30 s", f"{build.wall:,.1f} s",
                        build.wall <= 30 if largest >= 1000 else None))
    rows.append(_target(f"build of {largest:,} policies ≤ 1 GiB peak", f"{build.peak:,.0f} MiB",
                        build.peak <= 1024 if largest >= 1000 else None))
    rows.append(_target(f"no-change `build --check` of {largest:,} ≤ 5 s", f"{check.wall:,.1f} s",
                        check.wall <= 5 if largest >= 1000 else None))
    first = cold["with bytecode"]
    rows.append(_target(f"cold start with {largest:,} policies: import + first decision ≤ 50 ms",
                        f"{measure.millis(first)} ms", first <= 0.05 if largest >= 1000 else None))
    rows.append(_target("cold start imports one policy module (lazy registry)",
                        f"{cold['with bytecode modules']} of {largest:,}",
                        cold["with bytecode modules"] == 1))
    return measure.table(["target", "measured", "holds"], rows)


def report(config: Config, command: str) -> str:
    started = time.perf_counter()
    load_before = os.getloadavg()[0]  # the machine is shared: say how busy it was
    setup = decisions.setup()
    decision_text, decided = decisions.decision_section(setup, config.claims, config.repeats,
                                                        config.sample)
    history_text, history = decisions.history_section(setup, config.history, config.repeats,
                                                       config.sample)
    with tempfile.TemporaryDirectory(prefix="dqmc-bench-build-") as folder:
        build_text, built, largest = scaling.build_section(config.builds, config.build_repeats,
                                                           Path(folder))
        cold_text, cold = scaling.cold_start_section(largest / "python", config.cold_repeats)
    replay_text, replayed = replay_section(config)
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()[0]
    peers = ("" if "not installed" not in measure.machine() else
             " Peers that are not installed have no row (`make bench` installs them).")
    return "\n".join([
        "# dqmc benchmarks",
        "",
        f"Machine: {measure.machine()}.",
        f"Command: `{command}` ({elapsed / 60:.1f} minutes). Times are medians of "
        f"{config.repeats} interleaved samples (builds: {config.build_repeats} runs, cold "
        f"starts: {config.cold_repeats} fresh processes); ratios compare numbers of this run. "
        f"Load average (1 minute) {load_before:.1f} at the start, {load_after:.1f} at the end."
        + peers,
        "",
        "## Targets (issues 6 and 21)",
        "",
        targets(config, decided, history, built, cold, replayed),
        "",
        "## 1. Decision time: Anzupgo",
        "",
        (f"{config.claims} claims as a pharmacy system sends them (JSON, quantities as text), "
         "decided one by one; the same claims for every evaluator. The generated evaluator and "
         "the interpreter read the raw claim and return every field of the decision contract, the "
         "trace included; both agree on every field, and so does the hand-written floor "
         "(`peers.floor_decision`: this one policy written by hand from the raw claim, every "
         "record checked, as fast as we could write it). Peers get the channel, override flag, "
         "quantity and the paid quantity already in the window, computed beforehand, and answer "
         "the outcome "
         "(Zen and Rego also max allowed now); every answer is checked against the generated "
         "decision. The history column gives each claim 10 earlier fills, 2 in the window on "
         "average; the authorization column an active override (criterion additional-quantity). "
         "The opioid column decides claims of cms-partd-opioid-safety (cumulative MME, "
         "first-fill and acetaminophen edits), each with 10 earlier opioid fills over 90 days; "
         "no peer states these edits, so only the two dqmc evaluators have a time there."),
        "",
        decision_text,
        "",
        "## 2. History scaling",
        "",
        ("One claim, histories of N earlier fills dated over three years (10 % inside the 30-day "
         "window unless said otherwise). Every entry is checked (a malformed one rejects the "
         "claim); µs per entry is (time − time with no history) ÷ N."),
        "",
        history_text,
        "",
        "## 3. Compile scaling",
        "",
        ("`dqmc build SPECS --out DIR` in a new process, from an empty DIR, of N policies made by "
         "varying the library's real policies (policy_specs/ and the policy library; ids, product "
         "ids and quantities changed, `bench/corpus.py`); peak is the largest resident "
         "memory of one process (`getrusage(RUSAGE_CHILDREN).ru_maxrss`: the build or one of "
         "its worker processes, not their sum; 1,000 policies summed about 690 MiB, sampled "
         "with ps)."),
        "",
        build_text,
        "",
        "## 4. Cold start",
        "",
        ("A new Python process imports the registry of the largest build and decides one claim "
         "(time measured inside the process, after interpreter start-up)."),
        "",
        cold_text,
        "",
        *replay_text,
    ])


def replay_section(config: Config) -> tuple[list[str], dict | None]:
    """Section 5: `dqmc impact` on one synthetic file, by this checkout and by the baseline
    commit, in turns (bench_impact.side_by_side); no section in a quick run."""
    if not config.replay_claims:
        return [], None
    with tempfile.TemporaryDirectory(prefix="dqmc-bench-replay-") as folder:
        path = bench_impact.make_file(Path(folder), config.replay_claims, "csv")
        old, new = bench_impact.side_by_side(path, bench_impact.BASELINE, Path(folder),
                                             config.replay_repeats)
    rows = [[f"`{bench_impact.BASELINE}` (baseline)", f"{old['rows']:,}", old["seconds"],
             f"{old['rows_per_second']:,}", old["peak_rss_mib"]],
            ["this checkout", f"{new['rows']:,}", new["seconds"], f"{new['rows_per_second']:,}",
             new["peak_rss_mib"]]]
    text = [
        "## 5. Impact replay",
        "",
        (f"`dqmc impact --old {bench_impact.OLD} --new {bench_impact.NEW}` (embedded engine, "
         f"JSON report) on one synthetic CSV of {config.replay_claims:,} claims "
         f"({old['members']:,} members, {old['file_mib']} MiB), each run a new process (wall "
         "time includes start-up and compiling both versions); the baseline is the `src/` of "
         f"commit `{bench_impact.BASELINE}`, run in turns with this checkout, best of "
         f"{config.replay_repeats} each; both read the same rows, claims and members (outcomes may "
         "differ where the semantics changed since)."),
        "",
        measure.table(["replay by", "rows", "wall s", "rows per second", "peak MiB"], rows),
        "",
    ]
    return text, {"revision": f"`{bench_impact.BASELINE}`",
                  "baseline": old["rows_per_second"], "current": new["rows_per_second"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tiny configuration, in seconds")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help=f"where to write the tables (default {RESULTS.name})")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    command = "python bench/run.py" + (" --quick" if args.quick else "")
    text = report(config, command)
    print(text)
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
