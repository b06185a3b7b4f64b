"""Timing and reporting helpers of the bench: interleaved medians, the machine, Markdown tables."""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata


def per_call(contenders: Mapping[str, tuple[Callable[[object], object], Sequence[object]]],
             repeats: int, sample_seconds: float = 0.02) -> dict[str, float]:
    """Median seconds per call of each contender over its inputs, measured round-robin.

    Each sample calls the contender on every one of its inputs, as many passes as fill about
    `sample_seconds`; the contenders take turns sample by sample, so a noisy neighbour on a
    shared machine slows them alike and the ratios between them hold.
    """
    passes = {}
    for name, (function, inputs) in contenders.items():
        start = time.perf_counter()
        for value in inputs:
            function(value)
        once = max(time.perf_counter() - start, 1e-9)
        passes[name] = max(1, math.ceil(sample_seconds / once))
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, (function, inputs) in contenders.items():
            count = passes[name]
            start = time.perf_counter()
            for _ in range(count):
                for value in inputs:
                    function(value)
            samples[name].append((time.perf_counter() - start) / (count * len(inputs)))
    return {name: statistics.median(values) for name, values in samples.items()}


def machine() -> str:
    """CPU model, cores, OS and Python, and the peers' versions, on one line."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = []
    for package in ("zen-engine", "cedarpy", "regopy"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} not installed")
    return (f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"{platform.python_implementation()} {platform.python_version()}; "
            + ", ".join(versions))


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; the first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(row, widths, strict=True))) + " |"

    rule = "| " + " | ".join(("-" * w) if i == 0 else ("-" * (w - 1) + ":")
                             for i, w in enumerate(widths)) + " |"
    return "\n".join([line(cells[0]), rule] + [line(row) for row in cells[1:]])


def micros(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    value = seconds * 1e6
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def millis(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1e3:,.1f}"


def times(ratio: float | None) -> str:
    if ratio is None:
        return "–"
    return f"{ratio:,.2f}×" if ratio < 10 else f"{ratio:,.0f}×"
