"""The commands of `dqmc` that live here: each parses nothing, calls one function, prints."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from dqmc.authoring import watch
from dqmc.lang.diagnostics import render_all, summary

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a process ended by SIGPIPE
DEFAULT_SPECS = "policy_specs"
DEFAULT_OUT = "generated"


class UsageError(Exception):
    """A command line that cannot be carried out (exit 2)."""


# -- helpers ------------------------------------------------------------------------------------


def _print_diagnostics(result: Any, out: TextIO) -> None:
    if result.diagnostics:
        print(render_all(result.diagnostics, result.sources), file=out)


def _compile(paths: Sequence[str]):
    from dqmc.lang.pipeline import compile_paths

    return compile_paths(paths or [DEFAULT_SPECS])


def _compile_one(spec: str):
    """Compile one spec for eval/review/ir/convert; diagnostics go to stderr."""
    from dqmc.lang.pipeline import compile_paths, no_policy

    if not Path(spec).is_file():
        raise UsageError(f"no such spec file: {spec}")
    result = compile_paths([spec])
    if not result.ok:
        _print_diagnostics(result, sys.stderr)
        return None, result
    if not result.compiled:  # a shared factor file checks clean but holds no policy
        raise UsageError(no_policy(spec))
    return result.compiled[0], result


def _read_json_inputs(path: str) -> tuple[list[Any], str]:
    """A JSON object, a JSON array of objects, or JSON Lines; `-` reads stdin. Returns the values
    and the shape they came in ("object", "array" or "lines"), which the output keeps."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    stripped = text.strip()
    if not stripped:
        return [], "lines"
    try:
        value = json.loads(stripped)
        return (value, "array") if isinstance(value, list) else ([value], "object")
    except json.JSONDecodeError:
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise UsageError(f"{path}:{number}: not JSON: {exc.msg}") from None
        return items, "lines"


def _dump(values: Iterable[Any], shape: str, out: TextIO) -> None:
    """Decisions in the shape their inputs came in: one pretty object, a pretty array, or JSON
    Lines (one compact object per line, written as each is decided)."""
    from dqmc.build.tree import visible_json

    # Decisions echo claim text (ids, units); control and bidi characters in it stay escaped.
    if shape == "lines":
        for value in values:
            print(visible_json(json.dumps(value, ensure_ascii=False)), file=out, flush=True)
        return
    payload: Any = list(values)
    if shape == "object":
        (payload,) = payload
    print(visible_json(json.dumps(payload, indent=2, ensure_ascii=False)), file=out)


# -- commands -----------------------------------------------------------------------------------


def _verify(paths: Sequence[str]):
    from dqmc.lang.pipeline import verify_paths

    return verify_paths(paths or [DEFAULT_SPECS])


def cmd_check(args: argparse.Namespace) -> int:
    return _report(_verify(args.paths), args.format)


def cmd_verify(args: argparse.Namespace) -> int:
    result = _verify(args.paths)
    if args.examples:
        from dqmc.authoring.boundary import examples_table

        if args.format != "text":
            raise UsageError("--examples prints a table: use it without --format")
        print(examples_table(result.compiled))
    return _report(result, args.format)


def _report(result: Any, format: str) -> int:
    """Diagnostics in the format asked for, then the summary; exit 1 on any error."""
    if format != "text":
        from dqmc.lang.report_formats import render_report

        print(render_report(result.diagnostics, format))
        if format == "github":  # annotations are for the runner; the log wants a summary
            print(summary(result.diagnostics, len(result.files)))
    else:
        _print_diagnostics(result, sys.stdout)
        print(summary(result.diagnostics, len(result.files)))
    return EXIT_OK if result.ok else EXIT_ERRORS


def cmd_build(args: argparse.Namespace) -> int:
    from dqmc.build.run import run
    from dqmc.codegen.docs_emit import DocsConfigError

    if getattr(args, "watch", False):
        return watch.run(args, build_once=cmd_build, default_paths=[DEFAULT_SPECS])
    try:
        result = run(args.paths or [DEFAULT_SPECS], Path(args.out), check=args.check,
                     use_cache=not getattr(args, "no_cache", False),
                     wheel_dir=Path(args.wheel) if getattr(args, "wheel", None) else None)
    except DocsConfigError as exc:
        raise UsageError(str(exc)) from None
    if result.diagnostics:
        print(render_all(result.diagnostics, result.sources), file=sys.stderr)
    for line in result.error_lines:
        print(line, file=sys.stderr)
    for line in result.lines:
        print(line)
    return result.exit_code


def cmd_ir(args: argparse.Namespace) -> int:
    from dqmc.lang.ir.canonical import ir_document

    compiled, _ = _compile_one(args.spec)
    if compiled is None:
        return EXIT_ERRORS
    sys.stdout.write(ir_document(compiled.policy))
    return EXIT_OK


SCHEMA_NAMES = ("spec", "claim", "decision", "request", "review")


def cmd_schema(args: argparse.Namespace) -> int:
    if args.name == "spec":
        from dqmc.lang.grammars import POLICY_SCHEMA

        sys.stdout.write(POLICY_SCHEMA.read_text(encoding="utf-8"))
    else:  # a data contract of the generated package (docs/contracts.md)
        from dqmc.codegen.contracts import schema_path

        sys.stdout.write(schema_path(args.name).read_text(encoding="utf-8"))
    return EXIT_OK


def cmd_fmt(args: argparse.Namespace) -> int:
    from dqmc.authoring.fmt import format_paths

    return format_paths([Path(p) for p in args.paths or [DEFAULT_SPECS]], check=args.check)


def cmd_convert(args: argparse.Namespace) -> int:
    compiled, _ = _compile_one(args.spec)
    if compiled is None:
        return EXIT_ERRORS
    if args.to == "dsl":
        from dqmc.lang.printers.dsl_print import print_policy

        text = print_policy(compiled.policy)
    else:
        from dqmc.lang.printers.yaml_emit import emit_yaml

        text = emit_yaml(compiled.policy)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _as_of(compiled: Any, text: str | None) -> Any:
    """The day `--as-of` names, checked: a date on which some version of the policy is in force."""
    import datetime as dt

    if text is None:
        return None
    try:
        day = dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise UsageError(f"--as-of {text}: write a date as YYYY-MM-DD")
    if compiled.version_on(day) is None:
        raise UsageError(f"--as-of {text}: {compiled.policy.id} took effect on "
                         f"{compiled.versions[0].first_day}; no version of it is in force then")
    return day


def _evaluator(compiled: Any, interpret: bool, entry: str, as_of: Any) -> Callable[[Any], dict]:
    """The interpreter, or the generated evaluator for this one spec and its kept versions,
    built in a temp folder; each decides by the version in force on the input's date, or on
    `as_of`."""
    if interpret:
        from dqmc import interpreter

        fn = getattr(interpreter, f"{entry}_policy")
        return lambda value: fn(compiled, value, as_of=as_of)
    from dqmc.codegen.loader import load_generated

    # The spec's own policy, not the registry's routing by product: as with the interpreter,
    # the policy is known, so every decision names it (a registry would answer "no policy
    # covers ..."); its versions are routed by date.
    package = load_generated([compiled])
    decide = getattr(package, f"{entry}_policy")
    policy_id, day = compiled.policy.id, None if as_of is None else as_of.isoformat()
    return lambda value: decide(policy_id, value, as_of=day)


def cmd_eval(args: argparse.Namespace) -> int:
    compiled, _ = _compile_one(args.spec)
    if compiled is None:
        return EXIT_ERRORS
    decide = _evaluator(compiled, args.interpret, "evaluate", _as_of(compiled, args.as_of))
    claims, shape = _read_json_inputs(args.claims)
    _dump((decide(claim) for claim in claims), shape, sys.stdout)
    return EXIT_OK


def cmd_review(args: argparse.Namespace) -> int:
    compiled, _ = _compile_one(args.spec)
    if compiled is None:
        return EXIT_ERRORS
    decide = _evaluator(compiled, args.interpret, "review", _as_of(compiled, args.as_of))
    requests, shape = _read_json_inputs(args.request)
    _dump((decide(request) for request in requests), shape, sys.stdout)
    return EXIT_OK


def cmd_test(args: argparse.Namespace) -> int:
    from dqmc.authoring.policytest import report, run_tests

    result = _compile(args.paths)
    if not result.ok:
        _print_diagnostics(result, sys.stderr)
        print("0 passed, 1 failed")
        return EXIT_ERRORS
    if args.boundary:
        from dqmc.authoring.boundary import boundary_report, run_boundary

        text, code = boundary_report(run_boundary(result.compiled))
        print(text)
        return code
    text, code = report(run_tests(result.compiled), args.min_coverage)
    print(text)
    return code
