"""Profile of the `dqmc impact` embedded replay (pyinstrument): where a claim's time goes."""

# Run: .venv/bin/python bench/profile_replay.py [--claims N]   (needs the `bench` extra)
# The file is bench_impact's synthetic Anzupgo file; compiling and loading both versions happen
# before the profiler starts, so the profile is the replay alone.

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_impact
from paths import REPO


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=int, default=30_000)
    args = parser.parse_args(argv)
    from pyinstrument import Profiler

    from dqmc.codegen.loader import load_generated
    from dqmc.revisions import impact, replay

    old = impact.compile_version(str(REPO / bench_impact.OLD))
    new = impact.compile_version(str(REPO / bench_impact.NEW))
    lookback = replay.lookback_days([c.policy for c in [*old, *new]])
    evaluators = load_generated(old).evaluate, load_generated(new).evaluate
    with tempfile.TemporaryDirectory(prefix="dqmc-profile-") as folder:
        path = bench_impact.make_file(Path(folder), args.claims, "csv")
        profiler = Profiler(interval=0.0005)
        profiler.start()
        replay.run_embedded(*evaluators, lookback, path)
        profiler.stop()
    print(profiler.output_text(unicode=True, color=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
