"""`dqmc`'s argument parser and entry point: which command runs, and the exit codes."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from dqmc import __version__
from dqmc.authoring import watch
from dqmc.cli.commands import (
    DEFAULT_OUT,
    DEFAULT_SPECS,
    EXIT_BROKEN_PIPE,
    EXIT_USAGE,
    SCHEMA_NAMES,
    UsageError,
    cmd_build,
    cmd_check,
    cmd_convert,
    cmd_eval,
    cmd_fmt,
    cmd_ir,
    cmd_review,
    cmd_schema,
    cmd_test,
    cmd_verify,
)
from dqmc.lang.report_formats import FORMATS as REPORT_FORMATS

DESCRIPTION = ("The `dqmc` command line: check, build and test policy specs; decide claims; "
               "diff versions.")


# -- entry point --------------------------------------------------------------------------------


MODULE_COMMANDS = (
    ("new", "dqmc.authoring.scaffold", "write a new spec and its tests file from a template"),
    ("lsp", "dqmc.authoring.lsp.server", "run the language server for editors (needs dqmc[lsp])"),
    ("diff", "dqmc.revisions.diff", "the semantic difference between two versions of a policy"),
    ("impact", "dqmc.revisions.impact",
     "replay claims against two versions of a policy: what changes"),
    ("synth", "dqmc.revisions.synth",
     "synthesise a claim history corpus for impact runs and benchmarks"),
)


def _command_name(argv: Sequence[str]) -> str | None:
    """The subcommand in argv (the first word that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `command`, only that module command's options are loaded."""
    parser = argparse.ArgumentParser(prog="dqmc", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"dqmc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="parse, validate and check specs")
    p.add_argument("paths", nargs="*", help=f"spec files or folders (default {DEFAULT_SPECS}/)")
    p.add_argument("--format", choices=REPORT_FORMATS, default="text",
                   help="text for people; json, github (workflow annotations) or sarif for tools")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("verify", help="find the gaps, overlaps and dead rules of specs; "
                       "--examples prints the boundary claims")
    p.add_argument("paths", nargs="*", help=f"spec files or folders (default {DEFAULT_SPECS}/)")
    p.add_argument("--format", choices=REPORT_FORMATS, default="text",
                   help="text for people; json, github (workflow annotations) or sarif for tools")
    p.add_argument("--examples", action="store_true",
                   help="also print every rule's boundary claims as a table, with the decision "
                        "each gets")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("build", help="write generated/ atomically, or --check it")
    p.add_argument("paths", nargs="*", help=f"spec files or folders (default {DEFAULT_SPECS}/)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if out of date")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT}/)")
    p.add_argument("--no-cache", action="store_true",
                   help="with --check, compile even when .dqmc-cache/ shows nothing changed")
    p.add_argument("--wheel", metavar="DIR",
                   help="also pack the evaluator package as a wheel into DIR, for "
                        "`pip install DIR/dqm_policies-*.whl` (never writes into the output)")
    watch.add_arguments(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("ir", help="print the canonical IR JSON of a spec")
    p.add_argument("spec")
    p.set_defaults(func=cmd_ir)

    p = sub.add_parser("schema", help="print a JSON Schema: of YAML policy specs, or of a claim, "
                       "decision, review request or review answer")
    p.add_argument("name", nargs="?", default="spec", choices=SCHEMA_NAMES, metavar="NAME",
                   help="spec (YAML policy specs, the default), claim, decision, request (a "
                   "review request) or review (a review answer); see docs/contracts.md")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("fmt", help="format DSL specs canonically")
    p.add_argument("paths", nargs="*")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if unformatted")
    p.set_defaults(func=cmd_fmt)

    p = sub.add_parser("convert", help="convert a spec to the DSL or to YAML")
    p.add_argument("spec")
    p.add_argument("--to", choices=("dsl", "yaml"), required=True)
    p.add_argument("-o", "--output", help="write here instead of stdout")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("eval", help="decide claims against a spec")
    p.add_argument("spec")
    p.add_argument("--claims", required=True, help="JSON object, array or JSON Lines; - for stdin")
    p.add_argument("--interpret", action="store_true", help="use the IR interpreter")
    p.add_argument("--as-of", metavar="DATE",
                   help="decide every claim by the version in force on DATE (YYYY-MM-DD), not "
                   "by the one in force on its date of service")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("review", help="decide exception requests against a spec")
    p.add_argument("spec")
    p.add_argument("--request", required=True, help="JSON object, array or JSON Lines; - for stdin")
    p.add_argument("--interpret", action="store_true", help="use the IR interpreter")
    p.add_argument("--as-of", metavar="DATE",
                   help="answer every request by the version in force on DATE (YYYY-MM-DD), not "
                   "by the one in force on its request date")
    p.set_defaults(func=cmd_review)

    p = sub.add_parser("test", help="run the policy tests kept next to specs, with coverage")
    p.add_argument("paths", nargs="*", help=f"spec files or folders (default {DEFAULT_SPECS}/)")
    p.add_argument("--min-coverage", type=float, metavar="PCT",
                   help="fail when a policy's rule and branch coverage is below PCT")
    p.add_argument("--boundary", action="store_true",
                   help="instead, decide every rule's boundary claims with the generated "
                        "evaluator and the interpreter; any disagreement fails")
    p.set_defaults(func=cmd_test)

    # Commands kept in their own modules: each adds its options and carries itself out. Only the
    # module of the command being run is imported, so `dqmc check` starts as fast as before.
    for name, module_name, help_text in MODULE_COMMANDS:
        p = sub.add_parser(name, help=help_text)
        if command in (None, name):
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(func=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_name(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return int(exc.code or 0)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"dqmc: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`dqmc eval ... | head`): stop quietly, as `cat` does, and keep
        # Python from failing again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (OSError, UnicodeDecodeError) as exc:
        print(f"dqmc: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_USAGE
    except Exception as exc:  # a compiler bug: say so plainly, trace only on request
        print(f"dqmc: error: INTERNAL ERROR: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("please report this with the spec that caused it "
              "(set DQMC_DEBUG=1 for a traceback)", file=sys.stderr)
        if os.environ.get("DQMC_DEBUG"):
            traceback.print_exc()
        return EXIT_USAGE
