"""The `dqmc` command line: check, build and test policy specs; decide claims; diff versions.

Commands: check, build, ir, schema, fmt, convert, eval, review, test, new, lsp, diff, impact,
synth.

Exit codes: 0 clean (or warnings only), 1 errors in specs (or stale output, failed tests),
2 usage or internal error. A user's mistake never shows a Python traceback.
"""

from dqmc.cli.commands import cmd_build
from dqmc.cli.main import build_parser, main

__all__ = ["build_parser", "cmd_build", "main"]
