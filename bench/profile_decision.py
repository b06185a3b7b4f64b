"""Profile of generated decisions (pyinstrument): where the time of one Anzupgo decision goes."""

# Run: .venv/bin/python bench/profile_decision.py [--column none|history|authorized]
# (needs the `bench` extra); the columns are section 1's (`decisions.COLUMNS`).

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import decisions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--column", default="none",
                        choices=[c.key for c in decisions.COLUMNS], help="which claims")
    parser.add_argument("--passes", type=int, default=300, help="passes over 200 claims")
    args = parser.parse_args(argv)
    from pyinstrument import Profiler

    setup = decisions.setup()
    claims = next(c for c in decisions.COLUMNS if c.key == args.column).claims(200)
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
