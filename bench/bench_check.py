"""Benchmark: `dqmc check` of a 200-line policy, cold (a new process) and warm (in-process).

Run: .venv/bin/python bench/bench_check.py   (prints medians over repeated runs)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 15
PRODUCTS = 14  # 14 products, their limits, facts and criteria: about 200 lines


def two_hundred_line_policy() -> str:
    """A realistic policy of ~200 lines: products with channel limits, facts and criteria."""
    lines = ['policy bench-policy "Benchmark policy" {', "  type per_days",
             "  review_date 2025-11-12", "  approvals last 1 year", ""]
    for i in range(PRODUCTS):
        lines += [f"  product drug-{i} {{", f'    brand "Drug {i}"', f'    generic "generic {i}"',
                  f'    strength "{i + 1} mg"', '    form "tablet"',
                  f'    package bottle-{i} 30 each "bottle of 30 tablets" as bottle', "  }"]
    lines.append("")
    for i in range(PRODUCTS):
        lines += [f"  limit drug-{i} {{", "    retail        30 each per 30 days",
                  "    home_delivery 90 each per 90 days", "  }"]
    lines += ['  fact needs_more: bool "Does the patient need more?"',
              '  fact diagnosis: enum {a, b, c, d} "Diagnosis?"',
              '  fact sites: set {x, y, z} "Sites?"', '  fact weight: number "Weight (kg)?"', ""]
    for i in range(4):
        lines += [f"  criterion more-{i} {{",
                  "    when needs_more and diagnosis in {a, b} and sites <= {x, y}"
                  " and weight >= 40",
                  f"    approve drug-{i} {{", "      retail        60 each per 30 days",
                  "      home_delivery 180 each per 90 days", "    }", "  }"]
    lines += ["}"]
    return "\n".join(lines) + "\n"


def median_seconds(action, repeats: int = REPEATS) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    text = two_hundred_line_policy()
    with tempfile.TemporaryDirectory() as folder:
        spec = Path(folder, "bench.dqm")
        spec.write_text(text, encoding="utf-8")

        def cold() -> None:
            run = subprocess.run([sys.executable, "-m", "dqmc", "check", str(spec)],
                                 capture_output=True, text=True, check=False)
            assert run.returncode == 0, run.stdout + run.stderr

        from dqmc.lang.pipeline import compile_paths

        def warm() -> None:
            assert compile_paths([spec]).ok

        warm()  # build the parser once, as an editor or a long-running service would
        cold_s, warm_s = median_seconds(cold), median_seconds(warm)
        baseline = median_seconds(
            lambda: subprocess.run([sys.executable, "-c", "pass"], check=True))
    print(f"policy: {len(text.splitlines())} lines; medians over {REPEATS} runs")
    print(f"{'dqmc check (new process)':32} {cold_s * 1000:8.1f} ms")
    print(f"{'  of which python startup':32} {baseline * 1000:8.1f} ms")
    print(f"{'compile_paths (in-process, warm)':32} {warm_s * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
