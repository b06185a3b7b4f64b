"""Ordered map of a pure per-item function over worker processes, for large builds only."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# Below this many items a process pool costs more to start than it saves.
PARALLEL_MIN_ITEMS = 64
JOBS_VARIABLE = "DQMC_JOBS"  # how many worker processes; 1 means none


def workers() -> int:
    """Worker processes to use: DQMC_JOBS when set, else the machine's cores (at most 8)."""
    configured = os.environ.get(JOBS_VARIABLE, "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return min(os.cpu_count() or 1, 8)


def ordered_map(function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
    """[function(item) for item in items], in worker processes when there are many items.

    The front end (Lark, the YAML composer) and the generators are pure Python, so only
    processes use a second core; a 1,000-policy library is front-end and template bound.
    `function` must be pure and picklable (a module-level function or a partial of one), and
    so must items and results. Results keep the input order, so output never depends on
    scheduling; an exception in a worker is raised here as it would be serially.
    """
    count = workers()
    if len(items) < PARALLEL_MIN_ITEMS or count < 2:
        return [function(item) for item in items]
    import concurrent.futures
    import multiprocessing

    context: multiprocessing.context.BaseContext
    try:
        context = multiprocessing.get_context("fork")  # workers start with the parsers loaded
    except ValueError:  # a platform without fork
        context = multiprocessing.get_context()
    chunk = max(1, len(items) // (count * 4))
    with concurrent.futures.ProcessPoolExecutor(count, mp_context=context) as pool:
        return list(pool.map(function, items, chunksize=chunk))
