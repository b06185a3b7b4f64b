"""The `dqmc` command line: check, build, ir, schema, fmt, convert, eval, review, test.

Exit codes: 0 clean (or warnings only), 1 errors in specs (or stale output, failed tests),
2 usage or internal error. A user's mistake never shows a Python traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from dqmc import __version__
from dqmc.diagnostics import Diagnostic, Severity, render_all

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
DEFAULT_SPECS = "policy_specs"
DEFAULT_OUT = "generated"


class UsageError(Exception):
    """A command line that cannot be carried out (exit 2)."""


# -- helpers ------------------------------------------------------------------------------------


def _summary(diagnostics: Sequence[Diagnostic], files: int) -> str:
    counts = {s: sum(1 for d in diagnostics if d.severity is s) for s in Severity}
    parts = [f"{counts[Severity.ERROR]} error{'s' * (counts[Severity.ERROR] != 1)}",
             f"{counts[Severity.WARNING]} warning{'s' * (counts[Severity.WARNING] != 1)}"]
    if counts[Severity.NOTE]:
        parts.append(f"{counts[Severity.NOTE]} note{'s' * (counts[Severity.NOTE] != 1)}")
    return f"{', '.join(parts)} in {files} file{'s' * (files != 1)}"


def _print_diagnostics(result: Any, out: TextIO) -> None:
    if result.diagnostics:
        print(render_all(result.diagnostics, result.sources), file=out)


def _compile(paths: Sequence[str]):
    from dqmc.pipeline import compile_paths

    return compile_paths(paths or [DEFAULT_SPECS])


def _compile_one(spec: str):
    """Compile one spec for eval/review/ir/convert; diagnostics go to stderr."""
    from dqmc.pipeline import compile_paths

    if not Path(spec).is_file():
        raise UsageError(f"no such spec file: {spec}")
    result = compile_paths([spec])
    if not result.ok:
        _print_diagnostics(result, sys.stderr)
        return None, result
    return result.compiled[0], result


def _read_json_inputs(path: str) -> list[Any]:
    """A JSON object, a JSON array of objects, or JSON Lines; `-` reads stdin."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    stripped = text.strip()
    if not stripped:
        return []
    try:
        value = json.loads(stripped)
        return value if isinstance(value, list) else [value]
    except json.JSONDecodeError:
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise UsageError(f"{path}:{number}: not JSON: {exc.msg}") from None
        return items


def _dump(values: list[Any], out: TextIO) -> None:
    payload: Any = values[0] if len(values) == 1 else values
    print(json.dumps(payload, indent=2, ensure_ascii=False), file=out)


# -- commands -----------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    result = _compile(args.paths)
    if args.format == "json":
        print(json.dumps([_diagnostic_json(d) for d in result.diagnostics], indent=2))
    else:
        _print_diagnostics(result, sys.stdout)
        print(_summary(result.diagnostics, len(result.files)))
    return EXIT_OK if result.ok else EXIT_ERRORS


def _diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    s = d.span
    return {"file": s.file, "line": s.line, "column": s.col, "end_line": s.end_line,
            "end_column": s.end_col, "severity": d.severity.value,  # type: ignore[union-attr]
            "code": d.code, "message": d.message}


def cmd_build(args: argparse.Namespace) -> int:
    from dqmc.build import BuildError, artifacts, compare, write_tree

    result = _compile(args.paths)
    out_dir = Path(args.out)
    if not result.ok:
        _print_diagnostics(result, sys.stderr)
        print(f"{_summary(result.diagnostics, len(result.files))}; {out_dir}/ left untouched",
              file=sys.stderr)
        return EXIT_ERRORS
    warnings = [d for d in result.diagnostics if d.severity is Severity.WARNING]
    if warnings:  # notes are for `dqmc check`; a build only repeats what needs attention
        print(render_all(warnings, result.sources), file=sys.stderr)
    try:
        outputs = artifacts(result.compiled)
    except BuildError as exc:
        raise RuntimeError(str(exc)) from exc
    if args.check:
        staleness = compare(outputs, out_dir)
        if staleness.clean:
            print(f"{out_dir}/ is up to date ({len(outputs)} files)")
            return EXIT_OK
        print("\n".join(staleness.lines(out_dir)))
        print(f"{out_dir}/ is out of date: run `dqmc build`")
        return EXIT_ERRORS
    changes = write_tree(outputs, out_dir)
    changed = len(changes.stale) + len(changes.missing) + len(changes.orphaned)
    if changed:
        print("\n".join(changes.lines(out_dir)).replace("stale:", "updated:")
              .replace("missing:", "created:").replace("orphaned:", "removed:"))
    print(f"built {len(result.compiled)} polic{'y' if len(result.compiled) == 1 else 'ies'} "
          f"into {out_dir}/: {changed} file{'s' * (changed != 1)} changed, {len(outputs)} in all")
    return EXIT_OK


def cmd_ir(args: argparse.Namespace) -> int:
    from dqmc.ir.canonical import ir_document

    compiled, _ = _compile_one(args.spec)
    if compiled is None:
        return EXIT_ERRORS
    sys.stdout.write(ir_document(compiled.policy))
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from dqmc.grammars import POLICY_SCHEMA

    sys.stdout.write(POLICY_SCHEMA.read_text(encoding="utf-8"))
    return EXIT_OK


def cmd_fmt(args: argparse.Namespace) -> int:
    from dqmc.fmt import format_paths

    return format_paths([Path(p) for p in args.paths or [DEFAULT_SPECS]], check=args.check)


def cmd_convert(args: argparse.Namespace) -> int:
    compiled, _ = _compile_one(args.spec)
    if compiled is None:
        return EXIT_ERRORS
    if args.to == "dsl":
        from dqmc.frontend.dsl_print import print_policy

        text = print_policy(compiled.policy)
    else:
        from dqmc.frontend.yaml_emit import emit_yaml

        text = emit_yaml(compiled.policy)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _evaluator(compiled: Any, interpret: bool, entry: str) -> Callable[[Any], dict]:
    """The interpreter, or the generated evaluator for this one spec, built in a temp folder."""
    if interpret:
        from dqmc import interpreter

        fn = getattr(interpreter, entry)
        return lambda value: fn(compiled, value)
    from dqmc.generated_loader import load_generated

    module = load_generated([compiled])
    return getattr(module, entry)


def cmd_eval(args: argparse.Namespace) -> int:
    compiled, _ = _compile_one(args.spec)
    if compiled is None:
        return EXIT_ERRORS
    decide = _evaluator(compiled, args.interpret, "evaluate")
    _dump([decide(claim) for claim in _read_json_inputs(args.claims)], sys.stdout)
    return EXIT_OK


def cmd_review(args: argparse.Namespace) -> int:
    compiled, _ = _compile_one(args.spec)
    if compiled is None:
        return EXIT_ERRORS
    decide = _evaluator(compiled, args.interpret, "review")
    _dump([decide(request) for request in _read_json_inputs(args.request)], sys.stdout)
    return EXIT_OK


def cmd_test(args: argparse.Namespace) -> int:
    from dqmc.policytest import report, run_tests

    result = _compile(args.paths)
    if not result.ok:
        _print_diagnostics(result, sys.stderr)
        print("0 passed, 1 failed")
        return EXIT_ERRORS
    text, code = report(run_tests(result.compiled), args.min_coverage)
    print(text)
    return code


# -- entry point --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dqmc", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"dqmc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="parse, validate and check specs")
    p.add_argument("paths", nargs="*", help=f"spec files or folders (default {DEFAULT_SPECS}/)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("build", help="write generated/ atomically, or --check it")
    p.add_argument("paths", nargs="*", help=f"spec files or folders (default {DEFAULT_SPECS}/)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if out of date")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT}/)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("ir", help="print the canonical IR JSON of a spec")
    p.add_argument("spec")
    p.set_defaults(func=cmd_ir)

    p = sub.add_parser("schema", help="print the JSON Schema of YAML policy specs")
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
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("review", help="decide exception requests against a spec")
    p.add_argument("spec")
    p.add_argument("--request", required=True, help="JSON object, array or JSON Lines; - for stdin")
    p.add_argument("--interpret", action="store_true", help="use the IR interpreter")
    p.set_defaults(func=cmd_review)

    p = sub.add_parser("test", help="run the policy tests kept next to specs, with coverage")
    p.add_argument("paths", nargs="*", help=f"spec files or folders (default {DEFAULT_SPECS}/)")
    p.add_argument("--min-coverage", type=float, metavar="PCT",
                   help="fail when a policy's rule and branch coverage is below PCT")
    p.set_defaults(func=cmd_test)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return int(exc.code or 0)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"dqmc: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
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
