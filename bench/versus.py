"""Generated evaluators of other commits against this checkout's, side by side in one run.

Run: .venv/bin/python bench/versus.py [REV ...]   (default: 6b04115, the last commit before the
plan, and 2ab689f, main when issue 21 was taken)

Each commit's committed `generated/python/dqm_policies` is unpacked (`git archive`) under a
package name of its own, this checkout's is built fresh from policy_specs/, and all of them
decide the same Anzupgo claims of every column of section 1 of `bench/run.py`, taking turns
(`measure.per_call`); every decision must agree field for field (the policy hash aside, which
changes with the IR version, and the trace's `version` step, which effective-dated versions
added). Columns of another policy (the dose column) are left out: older commits lack it.
With --without-versions, this checkout is also timed built without its kept versions.
"""

from __future__ import annotations

import argparse
import contextlib
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
import scaling
from paths import REPO, SPECS

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


def unversioned_package(folder: Path) -> ModuleType:
    """This checkout's specs built without their kept versions (the policy_specs/history/
    folder left out): what issue 19's "no worse with the Anzupgo history compiled in" compares."""
    from dqmc.codegen.loader import load_generated
    from dqmc.lang.pipeline import compile_paths

    root = folder / "unversioned"
    shutil.copytree(SPECS, root / SPECS.name, ignore=shutil.ignore_patterns("history"))
    with contextlib.chdir(root):  # the same relative sources, so the same traces
        result = compile_paths([Path(SPECS.name)])
    assert result.ok, result.diagnostics
    return load_generated(result.compiled)


def _without_hash(decision: dict) -> dict:
    kept = {k: v for k, v in decision.items() if k != "policy_hash"}
    kept["trace"] = [step for step in decision["trace"] if step["step"] != "version"]
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revisions", nargs="*", default=list(DEFAULT))
    parser.add_argument("--claims", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--without-versions", action="store_true",
                        help="also time this checkout built without policy_specs/history/ "
                             "(no kept versions: claims are not routed by date)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dqmc-versus-") as folder:
        packages = {rev: package_of(rev, Path(folder)) for rev in args.revisions}
        if args.without_versions:
            packages["without versions"] = unversioned_package(Path(folder))
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
        if args.without_versions:
            print()
            print(cold_starts(Path(folder), Path(built.folder.name) / "generated" / "python",
                              args.repeats))
    return 0


def cold_starts(folder: Path, versioned: Path, repeats: int) -> str:
    """Section 4's cold start (fresh processes: import the registry, decide one Anzupgo claim)
    of this checkout's build and of the same specs built without their kept versions."""
    out = folder / "unversioned-build"
    subprocess.run([sys.executable, "-m", "dqmc", "build", str(folder / "unversioned" / SPECS.name),
                    "--out", str(out)], cwd=folder / "unversioned", check=True,
                   capture_output=True)
    rows = []
    for label, python_dir in (("without versions", out / "python"),
                              ("this checkout", versioned)):
        text, _ = scaling.cold_start_section(python_dir, repeats)
        rows.append(f"{label}:\n{text}")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
