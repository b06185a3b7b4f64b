"""`dqmc impact`: replay a claim file against two versions of a policy and print what changes.

The replay itself is `dqmc.revisions.replay`; this module compiles both versions and runs it
embedded or on Spark (`dqmc.revisions.spark_impact`), which both import it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dqmc.revisions.replay import (
    DEFAULT_EXAMPLES,
    ClaimsInputError,
    UnsortedClaims,
    lookback_days,
    run_embedded,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--old", required=True, metavar="SPEC",
                        help="the current version: a spec file or a folder of specs")
    parser.add_argument("--new", required=True, metavar="SPEC", help="the proposed version")
    parser.add_argument("--claims", required=True, metavar="FILE",
                        help="*.csv, *.jsonl or *.parquet; one row per claim or reversal, sorted "
                             "by member_id then date_of_service (or pass --sort)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, metavar="N",
                        help=f"changed claims shown per product, channel and change "
                             f"(default {DEFAULT_EXAMPLES})")
    parser.add_argument("--sort", action="store_true",
                        help="sort the file on disk first instead of requiring sorted input")
    parser.add_argument("--progress", action="store_true",
                        help="draw a progress bar on stderr even when it is not a terminal")
    parser.add_argument("--engine", choices=("embedded", "spark"), default="embedded",
                        help="embedded (stream on this machine) or spark (PySpark, extra 'spark')")
    parser.add_argument("--spark-master", default="local[*]", metavar="URL",
                        help="Spark master for --engine spark (default local[*])")


def compile_version(spec: str) -> Any:
    """The compiled policies of a spec file or folder, or None after printing its errors."""
    from dqmc.lang.diagnostics import render_all
    from dqmc.lang.pipeline import compile_paths, no_policy

    if not Path(spec).exists():
        raise ClaimsInputError(f"no such spec file or folder: {spec}")
    result = compile_paths([spec])
    if not result.ok:
        print(render_all(result.diagnostics, result.sources), file=sys.stderr)
        return None
    if not result.compiled:  # a shared factor file checks clean but holds no policy
        raise ClaimsInputError(no_policy(spec))
    # Each side is the spec as written, whatever the claims' dates: its kept earlier versions
    # would otherwise decide the older claims of both sides alike (docs/semantics.md §2.7).
    return [item.alone() for item in result.compiled]


def run(args: argparse.Namespace) -> int:
    """`dqmc impact`: 0 when the replay ran, 1 on spec errors, 2 on unusable input."""
    started = time.monotonic()
    try:
        old, new = compile_version(args.old), compile_version(args.new)
        if old is None or new is None:
            return 1
        if args.examples < 0:
            raise ClaimsInputError("--examples must be 0 or more")
        if not Path(args.claims).is_file():
            raise ClaimsInputError(f"no such claims file: {args.claims}")
        lookback = lookback_days([c.policy for c in [*old, *new]])
        progress = args.progress or sys.stderr.isatty()
        if args.engine == "spark":
            from dqmc.revisions.spark_impact import run_spark

            report = run_spark(old, new, args.claims, master=args.spark_master,
                               examples=args.examples, progress=progress)
        else:
            from dqmc.codegen.loader import load_generated

            report = run_embedded(load_generated(old).evaluate, load_generated(new).evaluate,
                                  lookback, args.claims, sort=args.sort,
                                  examples=args.examples, progress=progress)
    except (ClaimsInputError, UnsortedClaims) as exc:
        print(f"dqmc: error: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        data = {"old": _sources(old), "new": _sources(new), "claims_file": args.claims,
                "engine": args.engine, **report.to_data()}
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(report.table())
        print(f"\n{args.engine} replay in {time.monotonic() - started:,.1f} s")
    return 0


def _sources(compiled: Sequence[Any]) -> list[dict[str, str]]:
    return [{"policy": c.policy.id, "source": c.source, "content_hash": c.content_hash}
            for c in compiled]
