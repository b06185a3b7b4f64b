"""Generated evaluators of other commits against this checkout's, side by side in one run.

Run: .venv/bin/python bench/versus.py [REV ...]   (default: 6b04115, the last commit before the
plan, and 2ab689f, main when issue 21 was taken)

Each commit's committed `generated/python/dqm_policies` is unpacked (`git archive`) under a
package name of its own, this checkout's is built fresh from policy_specs/, and all of them
decide the same Anzupgo claims of every column of section 1 of `bench/run.py`, taking turns
(`measure.per_call`); every decision must agree field for field (the policy hash aside, which
changes with the IR version, and the trace's `version` step, which effective-dated versions
added). Columns of another policy (the dose column) are left out: older commits lack it.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent))

import subprocess

import decisions
import measure
from paths import REPO

DEFAULT = ("6b04115", "2ab689f")


def package_of(revision: str, folder: Path) -> ModuleType:
    """The generated registry package committed at `revision`, imported as dqm_<revision>."""
    archive = subprocess.run(["git", "archive", revision, "generated/python/dqm_policies"],
                             cwd=REPO, check=True, capture_output=True).stdout
    unpacked = folder / revision
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(unpacked, filter="data")
    name = f"dqm_{revision}"
    shutil.move(unpacked / "generated/python/dqm_policies", folder / name)
    sys.path.insert(0, str(folder))
    return importlib.import_module(name)


def _without_hash(decision: dict) -> dict:
    kept = {k: v for k, v in decision.items() if k != "policy_hash"}
    kept["trace"] = [step for step in decision["trace"] if step["step"] != "version"]
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revisions", nargs="*", default=list(DEFAULT))
    parser.add_argument("--claims", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dqmc-versus-") as folder:
        packages = {rev: package_of(rev, Path(folder)) for rev in args.revisions}
        built = decisions.setup()  # held: its folder goes when it does
        packages["this checkout"] = built.package
        rows = []
        for column in decisions.COLUMNS:
            if column.policy != decisions.POLICY_ID:
                continue
            batch = column.claims(args.claims)
            expected = [_without_hash(packages["this checkout"].evaluate(c)) for c in batch]
            for name, package in packages.items():
                found = [_without_hash(package.evaluate(c)) for c in batch]
                assert found == expected, f"{name} decides {column.key} claims differently"
            timed = measure.per_call({name: (p.evaluate, batch) for name, p in packages.items()},
                                     args.repeats)
            first = timed[args.revisions[0]] if args.revisions else timed["this checkout"]
            rows.append([column.header.removesuffix(" µs")]
                        + [f"{measure.micros(s)} ({measure.times(s / first)})"
                           for s in timed.values()])
        print(measure.table(["column (µs per decision)", *packages], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
