"""`dqmc test`: policy tests kept next to specs, run on the generated evaluator and the interpreter.

A tests file `policy_specs/<name>.tests.yaml` holds cases:

    cases:
      - name: retail at the limit pays
        claim: {claim_id: c-1, date_of_service: 2026-03-01, product: ..., quantity: "30", ...}
        expect: {outcome: paid, max_allowed_quantity: "30"}
      - name: severe eczema on the hands is approved
        review: {product: ..., request_date: 2026-01-15, facts: {...}}
        expect: {outcome: approved, criterion: additional-quantity}

`expect` is partial: every key it names must match the decision (nested mappings likewise;
quantities compare as decimals). Each case runs on both implementations, which must also agree
with each other on every field. Coverage says which rules, channels and criterion branches the
cases exercised.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.ir import nodes

TESTS_SUFFIX = ".tests.yaml"


@dataclass
class CaseResult:
    file: str
    name: str
    failures: list[str]  # empty when the case passed

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class Coverage:
    """Which coverable items of one policy the cases exercised."""

    policy_id: str
    items: dict[str, bool] = field(default_factory=dict)  # item description → exercised

    @property
    def percent(self) -> float:
        return 100.0 if not self.items else 100.0 * sum(self.items.values()) / len(self.items)

    def missed(self) -> list[str]:
        return [item for item, hit in self.items.items() if not hit]


@dataclass
class TestRun:
    cases: list[CaseResult]
    coverage: list[Coverage]
    problems: list[str]  # tests files that could not be read

    @property
    def failed(self) -> int:
        return sum(1 for c in self.cases if not c.passed) + len(self.problems)

    @property
    def passed(self) -> int:
        return sum(1 for c in self.cases if c.passed)


# -- loading ------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """YAML gives dates for unquoted ISO dates; claims carry them as strings, like JSON."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def tests_file_for(spec_source: str) -> Path:
    path = Path(spec_source)
    return path.with_name(path.name.rsplit(".", 1)[0] + TESTS_SUFFIX)


class _CaseLoader(yaml.SafeLoader):
    """Safe loading with dates left as text: a test may well send an impossible date."""


_CaseLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


CASE_KEYS = ("name", "claim", "review", "expect")


def load_cases(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The well-formed cases of a tests file, and a problem for each malformed one (with its
    line), so one typo fails one case, not the whole file."""
    text = path.read_text(encoding="utf-8")
    data = yaml.load(text, Loader=_CaseLoader)  # a SafeLoader
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise ValueError("a tests file is a mapping with a `cases` list")
    lines = _case_lines(text)
    cases, problems = [], []
    for index, case in enumerate(data["cases"], start=1):
        where = f"{path.as_posix()}:{lines[index - 1]}" if index <= len(lines) else path.as_posix()
        problem = _case_problem(case)
        if problem is not None:
            name = case.get("name") if isinstance(case, dict) else None
            shown = f"case {index}" + (f" ({name!r})" if isinstance(name, str) else "")
            problems.append(f"{where}: {shown}: {problem}")
            continue
        cases.append(_jsonable(case))
    return cases, problems


def _case_lines(text: str) -> list[int]:
    """The line each item of `cases` starts on (1-based)."""
    root = yaml.compose(text, Loader=_CaseLoader)
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if key.value == "cases" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _case_problem(case: object) -> str | None:
    if not isinstance(case, dict):
        return "a case is a mapping of `name`, `claim` or `review`, and `expect`"
    unknown = [key for key in case if key not in CASE_KEYS]
    if unknown:
        key = str(unknown[0])
        close = difflib.get_close_matches(key, CASE_KEYS, n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        return f"unknown key `{key}`{hint}; a case has {', '.join(f'`{k}`' for k in CASE_KEYS)}"
    if ("claim" in case) == ("review" in case):
        return "a case has one of `claim` or `review`"
    if "expect" not in case:
        return "a case needs `expect`: the fields of the decision it must get"
    return None


# -- matching -----------------------------------------------------------------------------------


def _same_scalar(expected: Any, actual: Any) -> bool:
    if expected == actual and type(expected) is type(actual):
        return True
    if isinstance(expected, bool) or isinstance(actual, bool):
        return False
    try:
        return Decimal(str(expected)) == Decimal(str(actual))
    except (InvalidOperation, ValueError):
        return False


def mismatches(expected: Any, actual: Any, where: str = "") -> list[str]:
    """Each way `actual` fails the partial expectation, as `path: expected X, got Y`."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where or '.'}: expected a mapping, got {json.dumps(actual)}"]
        out: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{where}{key}: expected {json.dumps(value)}, but the field is absent")
            else:
                out += mismatches(value, actual[key], f"{where}{key}.")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where.rstrip('.')}: expected {json.dumps(expected)}, "
                    f"got {json.dumps(actual)}"]
        out = []
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            out += mismatches(e, a, f"{where}{index}.")
        return out
    if _same_scalar(expected, actual):
        return []
    return [f"{where.rstrip('.')}: expected {json.dumps(expected)}, got {json.dumps(actual)}"]


# -- running ------------------------------------------------------------------------------------

Decide = Callable[[Any], dict]


def run_case(case: dict[str, Any], implementations: dict[str, tuple[Decide, Decide]]) -> list[str]:
    kind = "claim" if "claim" in case else "review"
    results: dict[str, dict] = {}
    failures: list[str] = []
    for label, (evaluate, review) in implementations.items():
        decide = evaluate if kind == "claim" else review
        results[label] = decide(case[kind])
        failures += [f"[{label}] {m}" for m in mismatches(case["expect"], results[label])]
    labels = list(results)
    for other in labels[1:]:
        if results[other] != results[labels[0]]:
            failures.append(f"[{labels[0]} vs {other}] the implementations disagree: "
                            + "; ".join(mismatches(results[labels[0]], results[other])))
    return failures


def run_tests(compiled: Sequence[CompiledPolicy]) -> TestRun:
    from dqmc import interpreter
    from dqmc.codegen.loader import load_generated

    # A policy's tests run on that policy, whatever product a case names, each case by the
    # version in force on its date (docs/semantics.md §2.7), as the interpreter runs them.
    registry = load_generated(compiled)
    cases_out: list[CaseResult] = []
    coverage: list[Coverage] = []
    problems: list[str] = []
    for item in compiled:
        path = tests_file_for(item.source)
        if not path.is_file():
            coverage.append(coverage_of(item, [], []))
            continue
        try:
            cases, malformed = load_cases(path)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            problems.append(f"{path.as_posix()}: {exc}")
            continue
        problems += malformed
        implementations: dict[str, tuple[Decide, Decide]] = {
            "generated": (partial(registry.evaluate_policy, item.policy.id),
                          partial(registry.review_policy, item.policy.id)),
            "interpreter": (partial(interpreter.evaluate_policy, item),
                            partial(interpreter.review_policy, item)),
        }
        decisions, requests = [], []
        for index, case in enumerate(cases, start=1):
            name = str(case.get("name") or f"case {index}")
            try:
                failures = run_case(case, implementations)
            except Exception as exc:  # an evaluator must never raise; report it as a failure
                failures = [f"raised {type(exc).__name__}: {exc}"]
            cases_out.append(CaseResult(path.as_posix(), name, failures))
            if "claim" in case:
                decisions.append(interpreter.evaluate_policy(item, case["claim"]))
            else:
                requests.append(case["review"])
        coverage.append(coverage_of(item, decisions, requests))
    return TestRun(cases_out, coverage, problems)


# -- coverage -----------------------------------------------------------------------------------


def _rule_text(policy: nodes.Policy, target: str, rule: nodes.Rule,
               when: tuple[nodes.Selector, ...] = ()) -> str:
    """The rule as the spec writes it: "2 boxes" in the package's noun, with its selectors."""
    from dqmc.lang.frontend.lower_common import target_products
    from dqmc.lang.printers.dsl_fragments import format_rule_when

    return format_rule_when(rule, target_products(policy, target), when)


def _leaves(expr: nodes.Expr) -> list[nodes.Leaf]:
    return list(nodes.leaves(expr))


_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def truth(expr: nodes.Expr, facts: dict[str, Any]) -> bool | None:
    """Three-valued truth of a condition over review answers (None: unknown)."""
    return _Truth(facts).visit(expr)


class _Truth(nodes.ThreeValued):
    def __init__(self, facts: dict[str, Any]) -> None:
        self.facts = facts

    def leaf(self, expr: nodes.Leaf) -> bool | None:
        answer = self.facts.get(expr.fact)
        if answer is None:
            return None
        try:
            match expr:
                case nodes.FactRef():
                    return answer is True
                case nodes.InSet(values=allowed):
                    return answer in allowed
                case nodes.Subset(values=allowed):
                    return set(answer) <= set(allowed)
                case nodes.Compare(op=compare_op, value=bound):
                    if isinstance(bound, Decimal):
                        answer = Decimal(str(answer))
                    elif isinstance(bound, dt.date):
                        answer = dt.date.fromisoformat(str(answer))
                    if compare_op == "==":
                        return answer == bound
                    if compare_op == "!=":
                        return answer != bound
                    return _ORDER[compare_op](answer, bound)
        except (TypeError, ValueError, InvalidOperation):
            return None
        return None


def coverage_of(item: CompiledPolicy, decisions: list[dict], requests: list[dict]) -> Coverage:
    policy = item.policy
    cov = Coverage(policy.id)
    sources = {step.get("source") for d in decisions for step in d.get("trace", [])
               if isinstance(step, dict)}
    decided_channels = {d.get("channel") for d in decisions
                        if d.get("outcome") in ("paid", "rejected") and d.get("reject_code") in (
                            None, policy.reject_code)}
    for limit in policy.limits:
        if isinstance(limit.rule, nodes.NoLimit):
            continue  # never decides a claim: nothing to exercise
        where = (f"{limit.target} {limit.channel or 'all channels'} "
                 f"{_rule_text(policy, limit.target, limit.rule, limit.when)}")
        cov.items[f"rule {where} ({limit.span.location()})"] = limit.span.location() in sources
    for criterion in policy.criteria:
        for approval in criterion.approves:
            where = (f"{approval.target} {approval.channel or 'all channels'} "
                     f"{_rule_text(policy, approval.target, approval.rule)}")
            cov.items[f"approved rule {where} ({approval.span.location()})"] = (
                approval.span.location() in sources)
    limited = {lim.channel for lim in policy.limits}
    channels = [c.id for c in policy.channels if c.id in limited or None in limited]
    for channel in channels:
        cov.items[f"channel {channel}"] = channel in decided_channels
    answers = [_request_facts(r) for r in requests]
    for criterion in policy.criteria:
        outcomes = {truth(criterion.when, facts) for facts in answers}
        for label, value in (("approved", True), ("denied", False), ("needs information", None)):
            cov.items[f"criterion {criterion.id} {label}"] = value in outcomes
        for leaf in _leaves(criterion.when):
            seen = {truth(leaf, facts) for facts in answers}
            line = f"{leaf.span.location()}:{leaf.span.col}"  # several tests share a line
            cov.items[f"criterion {criterion.id} condition at {line} true"] = True in seen
            cov.items[f"criterion {criterion.id} condition at {line} false"] = False in seen
    return cov


def _request_facts(request: object) -> dict[str, Any]:
    """A test's review request's answers, or none when it gives no mapping of them."""
    facts = request.get("facts") if isinstance(request, dict) else None
    return facts if isinstance(facts, dict) else {}


def report(run: TestRun, min_coverage: float | None) -> tuple[str, int]:
    """The text `dqmc test` prints and its exit code."""
    lines: list[str] = []
    for problem in run.problems:
        lines.append(f"ERROR {problem}")
    for case in run.cases:
        if not case.passed:
            lines.append(f"FAIL {case.file}: {case.name}")
            lines += [f"    {failure}" for failure in case.failures]
    lines.append("")
    lines.append("coverage (rules, channels, criterion branches):")
    below = False
    for cov in run.coverage:
        lines.append(f"  {cov.policy_id:40} {cov.percent:6.1f}%  "
                     f"({sum(cov.items.values())}/{len(cov.items)})")
        for item in cov.missed():
            lines.append(f"      not exercised: {item}")
        if min_coverage is not None and cov.percent + 1e-9 < min_coverage:
            below = True
    if below:
        lines.append(f"coverage below --min-coverage {min_coverage:g}%")
    lines.append(f"{run.passed} passed, {run.failed} failed")
    return "\n".join(lines), 1 if (run.failed or below) else 0
