"""The dqmc benchmarks in one run: decisions against peers, history, compile scaling, cold start."""

# Run: .venv/bin/python bench/run.py  (or `make bench`, which installs the `bench` extra first).
# Prints the tables with the machine they came from and writes them to bench/RESULTS.md.
# `--quick` runs a tiny configuration in seconds (what tests/test_bench_smoke.py runs).

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

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


FULL = Config(claims=200, repeats=15, sample=0.02, history=[0, 10, 100, 1000, 10000],
              builds=[1, 10, 100, 1000], build_repeats=3, cold_repeats=9)
QUICK = Config(claims=10, repeats=2, sample=0.001, history=[0, 10, 20], builds=[1],
               build_repeats=1, cold_repeats=1)


def _target(label: str, measured: str, holds: bool | None) -> list[object]:
    return [label, measured, "–" if holds is None else ("yes" if holds else "**no**")]


def targets(config: Config, decided: dict, history: dict, built: dict, cold: dict) -> str:
    none = {key: seconds["none"] for key, seconds in decided.items()}
    with_history = {key: seconds["history"] for key, seconds in decided.items()}
    generated = none["generated"]
    rows = []
    for key, label, wanted in (("zen", "zen-engine", 50), ("cedar-text", "cedarpy (text)", 100),
                               ("cedar-parsed", "cedarpy (PolicySet)", 100)):
        if none.get(key) is not None:
            ratio = none[key] / generated
            rows.append(_target(f"generated ≥ {wanted}× faster than {label}, no history",
                                measure.times(ratio), ratio >= wanted))
    floor = none["floor"] / generated
    rows.append(_target("generated within 4× of the hand-written floor",
                        f"generated = {measure.times(1 / floor)} the floor's time", 1 / floor <= 4))
    for label, times in (("no history", none), (f"{decisions.HISTORY}-entry history",
                                                 with_history)):
        ratio = times["interpreter"] / times["generated"]
        rows.append(_target(f"generated ≥ 5× faster than the interpreter, {label}",
                            measure.times(ratio), ratio >= 5))
    sizes = [n for n in config.history if n]
    if len(sizes) >= 2:
        small, large = f"{sizes[-2]:,}", f"{sizes[-1]:,}"
        growth = history[f"{large} per entry"] / history[f"{small} per entry"]
        rows.append(_target(f"history cost no worse than linear ({small} → {large} entries)",
                            f"cost per entry × {growth:.2f}", growth <= 1.5))
        outside = next(k for k in history if "outside" in k and k.endswith("per entry"))
        inside = outside.replace("outside", "inside")
        ratio = history[outside] / generated
        rows.append(_target("an out-of-window entry costs little",
                            f"{measure.micros(history[outside])} µs (in window "
                            f"{measure.micros(history[inside])} µs; one decision "
                            f"{measure.micros(generated)} µs)",
                            # no dearer than an entry in the window (10 % for noise), and a
                            # small part of a decision
                            history[outside] <= 1.1 * history[inside] and ratio <= 0.25))
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
    setup = decisions.setup()
    decision_text, decided = decisions.decision_section(setup, config.claims, config.repeats,
                                                        config.sample)
    history_text, history = decisions.history_section(setup, config.history, config.repeats,
                                                       config.sample)
    with tempfile.TemporaryDirectory(prefix="dqmc-bench-build-") as folder:
        build_text, built, largest = scaling.build_section(config.builds, config.build_repeats,
                                                           Path(folder))
        cold_text, cold = scaling.cold_start_section(largest / "python", config.cold_repeats)
    elapsed = time.perf_counter() - started
    peers = ("" if "not installed" not in measure.machine() else
             " Peers that are not installed have no row (`make bench` installs them).")
    return "\n".join([
        "# dqmc benchmarks",
        "",
        f"Machine: {measure.machine()}.",
        f"Command: `{command}` ({elapsed / 60:.1f} minutes). Times are medians of "
        f"{config.repeats} interleaved samples (builds: {config.build_repeats} runs, cold "
        f"starts: {config.cold_repeats} fresh processes); ratios compare numbers of this run."
        + peers,
        "",
        "## Targets (issue 6)",
        "",
        targets(config, decided, history, built, cold),
        "",
        "## 1. Decision time: Anzupgo",
        "",
        (f"{config.claims} claims as a pharmacy system sends them (JSON, quantities as text), "
         "decided one by one; the same claims for every evaluator. The generated evaluator and "
         "the interpreter read the raw claim and return every field of the decision contract, the "
         "trace included; both agree on every field, and the hand-written floor returns the same "
         "dict from values parsed beforehand. Peers get the channel, override flag, quantity and "
         "the paid quantity already in the window, computed beforehand, and answer the outcome "
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
    ])


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
