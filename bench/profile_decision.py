"""Profile of generated decisions (pyinstrument): where the time of one Anzupgo decision goes."""

# Run: .venv/bin/python bench/profile_decision.py [--history N]   (needs the `bench` extra)

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import decisions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--history", type=int, default=0, help="history entries per claim")
    parser.add_argument("--passes", type=int, default=300, help="passes over 200 claims")
    args = parser.parse_args(argv)
    from pyinstrument import Profiler

    setup = decisions.setup()
    claims = decisions.anzupgo_claims(200, args.history, False)
    profiler = Profiler(interval=0.0001)
    profiler.start()
    for _ in range(args.passes):
        for claim in claims:
            setup.package.evaluate(claim)
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False, show_all=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
