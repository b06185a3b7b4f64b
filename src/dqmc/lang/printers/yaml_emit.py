"""IR → YAML spec text in the schema's shape; `lower_yaml(emit_yaml(p)) == p` (spans aside).

Rules, conditions and durations are printed in DSL syntax by `dsl_print`, the DSL's own printer;
every scalar goes through PyYAML's emitter, which quotes and escapes whatever needs it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import yaml

from dqmc.lang.frontend import lower_common as common
from dqmc.lang.frontend.yaml_load import CORE_SCHEMA_RESOLVERS, STR
from dqmc.lang.frontend.yaml_lower import ALL_CHANNELS, DRUG_FILE_SIZE
from dqmc.lang.ir import nodes
from dqmc.lang.printers.dsl_fragments import (
    condition_lines,
    format_decimal,
    format_duration,
    format_limit_tail,
    format_rule,
)

MODELINE = "# yaml-language-server: $schema=../grammar/policy.schema.json"
_DEFAULT_REJECT_CODE = next(
    f.default for f in dataclasses.fields(nodes.Policy) if f.name == "reject_code")
_CONDITION_INDENT = 6  # where a criterion's `when:` block lines sit (criteria → id → when)
_NO_WRAP = 1 << 16  # one line per value: long lines read better in a diff than re-folded ones
# Line breaks PyYAML would normalise to \n in plain, single-quoted or block scalars; only the
# double-quoted style, which escapes them, keeps them as they are.
_FRAGILE_BREAKS = frozenset("\r\x85\u2028\u2029")

_T = TypeVar("_T")
_Line = TypeVar("_Line", nodes.Limit, nodes.Approval)


class YamlEmitError(ValueError):
    """The IR says what a YAML spec cannot: one target's limits in two runs, or channels
    that do not start with retail and home_delivery."""


class _Flow(list):
    """A list printed on one line, `[a, b]`: ids and NDCs read best that way."""


class _Dumper(yaml.SafeDumper):
    """SafeDumper that indents lists under their key and quotes by both YAML 1.1 and 1.2 rules."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


# A reference is written as its id (SafeDumper knows exact `str` only).
_Dumper.add_representer(nodes.Ref, lambda dumper, ref: dumper.represent_str(ref.id))


# Quote any text that the YAML 1.2 core schema (our loader, editors) would read as a number,
# boolean or null, on top of what PyYAML's YAML 1.1 resolvers already make it quote.
for _tag, _pattern, _first in CORE_SCHEMA_RESOLVERS:
    _Dumper.add_implicit_resolver(_tag, _pattern, list(_first))


def _invisible(char: str) -> bool:
    return not char.isprintable() and char != "\n"


# Bidi controls, line separators and other invisible characters that PyYAML counts printable and
# writes raw; after the dump they are escaped (only double-quoted scalars can hold them, below).
_RAW_INVISIBLE = re.compile("[\x85\u00a0-\U0010ffff]")


def _escape_invisible(match: re.Match[str]) -> str:
    char = match.group()
    if not _invisible(char):
        return char
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = None
    if any(_invisible(c) for c in text):
        # A reviewer must see such characters in the file, not have the text reordered or
        # hidden ("Trojan Source"): double quotes, where YAML escapes can spell them.
        style = '"'
    elif _FRAGILE_BREAKS.intersection(text) or text == "\n" or text.endswith("\n\n"):
        # Trailing blank lines would need a `|+` block, which also keeps the blank line that
        # separates it from the next section.
        style = '"'
    elif "\n" in text:
        style = "|"  # PyYAML falls back to double quotes when a block cannot hold the text
    return dumper.represent_scalar(STR, text, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Flow, lambda dumper, items: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", items, flow_style=True))


def emit_yaml(policy: nodes.Policy) -> str:
    """The YAML spec of `policy`, with the schema modeline on its first line.

    Raises YamlEmitError when limits (or a criterion's approvals) of one product come in two
    separate runs, which a mapping keyed by product cannot keep apart, and dsl_print.PrintError
    for IR no front end produces.
    """
    sections = [
        ("policy", _settings(policy)),
        ("channels", _channels(policy)),
        ("products", {p.id: _product(p) for p in policy.products}),
        ("groups", {g.id: {"title": g.title, "products": _Flow(g.products)}
                    for g in policy.groups}),
        ("factors", {t.id: _factor_table(t) for t in policy.factor_tables if t.origin is None}),
        ("use_factors", {t.id: t.origin for t in policy.factor_tables if t.origin is not None}),
        ("limits", _limits(policy, policy.limits, "limits", format_limit_tail)),
        ("facts", {f.id: _fact(f) for f in policy.facts}),
        ("criteria", {c.id: _criterion(policy, c) for c in policy.criteria}),
        ("sections", [{"kind": s.kind, "title": s.title, "text": s.text} for s in policy.sections]),
        ("references", [r.text for r in policy.references]),
        ("history", [_revision(r) for r in policy.history]),
    ]
    data = {key: value for key, value in sections if value or key == "policy"}
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=_NO_WRAP)
    text = _RAW_INVISIBLE.sub(_escape_invisible, text)
    # A blank line before each top-level key. Only those start in column 1: every other line
    # is nested, block scalar text included, and no block keeps trailing blank lines (`|+`).
    lines = text.splitlines(keepends=True)
    spaced = [("\n" if i and line.split(":", 1)[0] in data else "") + line
              for i, line in enumerate(lines)]
    return MODELINE + "\n" + "".join(spaced)


# -- policy, channels, products ------------------------------------------------------------------


def _settings(policy: nodes.Policy) -> dict[str, Any]:
    out: dict[str, Any] = {"id": policy.id, "title": policy.title, "type": policy.type}
    if policy.review_date is not None:
        # Dates go to PyYAML as dates so they print unquoted; the loader reads them as text.
        out["review_date"] = _date(policy.review_date)
    if policy.effective_date is not None:
        out["effective_date"] = policy.effective_date
    if policy.approval_duration is not None:
        out["approval_duration"] = format_duration(policy.approval_duration)
    if policy.reject_code != _DEFAULT_REJECT_CODE:
        out["reject_code"] = policy.reject_code
    if policy.daily_rate_check:
        out["daily_rate_check"] = True
    if policy.requires_authorization:
        out["requires_authorization"] = True
    if policy.fallback:
        out["applies_to"] = "fallback"
    return out


def _channels(policy: nodes.Policy) -> dict[str, str]:
    defaults = nodes.default_channels()
    if policy.channels[: len(defaults)] != defaults:
        raise YamlEmitError("a policy always knows retail and home_delivery first")
    return {c.id: c.label for c in policy.channels[len(defaults):]}


def _product(product: nodes.Product) -> dict[str, Any]:
    out: dict[str, Any] = {"brand": product.brand, "generic": product.generic}
    if product.strength is not None:
        out["strength"] = product.strength
    out["form"] = product.form
    # The unit is implied by the first package; say it only when it is not.
    sized = [p.size for p in product.packages if p.size is not None]
    if not sized or sized[0].unit != product.unit:  # else the first sized package implies it
        out["unit"] = product.unit
    if product.label is not None:
        out["label"] = product.label
    if product.gpi is not None:
        out["gpi"] = product.gpi
    if product.ndcs:
        out["ndc"] = _Flow(product.ndcs)
    if product.requires_authorization:
        out["requires_authorization"] = True
    if product.dose is not None:
        out["dose"] = f"{format_decimal(product.dose.amount)} {product.dose.unit}"
    if product.contents:
        out["contains"] = [f"{format_decimal(c.amount)} {c.unit} {c.ingredient}"
                           for c in product.contents]
    if product.packages:
        out["packages"] = {p.id: _package(p) for p in product.packages}
    return out


def _factor_table(table: nodes.FactorTable) -> dict[str, Any]:
    out: dict[str, Any] = {"title": table.title}
    if table.source is not None:
        out["source"] = table.source
    # Factors as decimal text: a YAML float would print 0.2 as 0.2 but 1 as 1.0
    out["factors"] = {f.ingredient: format_decimal(f.factor) for f in table.factors}
    return out


def _package(package: nodes.Package) -> dict[str, Any]:
    out: dict[str, Any] = {
        "size": (DRUG_FILE_SIZE if package.size is None
                 else f"{format_decimal(package.size.amount)} {package.size.unit}"),
        "description": package.description,
    }
    if package.noun is not None:
        out["noun"] = package.noun
    if package.ndcs:
        out["ndc"] = _Flow(package.ndcs)
    return out


# -- limits and approvals ------------------------------------------------------------------------


def _channel_key(channel: str | None) -> str:
    return ALL_CHANNELS if channel is None else channel


def _limits(policy: nodes.Policy, lines: Sequence[_Line], what: str,
            text: Callable[[_Line, list[nodes.Product]], str]) -> dict[str, Any]:
    """Target → `channel: text | [text, ...]`, or → a list of `channel text` lines when the
    channels of a target interleave (a mapping would regroup them and change the IR's order)."""
    out: dict[str, Any] = {}
    for target, run in _runs(lines, lambda line: line.target):
        if target in out:
            raise YamlEmitError(
                f"the {what} of '{target}' come in two separate runs; a YAML spec lists each "
                f"product's {what} together: put them next to each other first")
        products = common.target_products(policy, target)
        by_channel: dict[str, list[str]] = {}
        for line in run:
            by_channel.setdefault(_channel_key(line.channel), []).append(text(line, products))
        if [_channel_key(line.channel) for line in run] == [
                key for key, texts in by_channel.items() for _ in texts]:
            out[target] = {key: texts[0] if len(texts) == 1 else texts
                           for key, texts in by_channel.items()}
        else:
            out[target] = [f"{_channel_key(line.channel)} {text(line, products)}" for line in run]
    return out


def _runs(items: Sequence[_T], key: Callable[[_T], str]) -> list[tuple[str, list[_T]]]:
    """Consecutive items with the same key, as (key, items) in order."""
    runs: list[tuple[str, list[_T]]] = []
    for item in items:
        if runs and runs[-1][0] == key(item):
            runs[-1][1].append(item)
        else:
            runs.append((key(item), [item]))
    return runs


def _approval_text(approval: nodes.Approval, products: list[nodes.Product]) -> str:
    return format_rule(approval.rule, products)


# -- facts, criteria, history --------------------------------------------------------------------


def _fact(fact: nodes.Fact) -> dict[str, Any]:
    out: dict[str, Any] = {"type": fact.type}
    if fact.values or fact.type in ("enum", "set"):
        out["values"] = _Flow(fact.values)
    out["question"] = fact.question
    return out


def _criterion(policy: nodes.Policy, criterion: nodes.Criterion) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if criterion.title is not None:
        out["title"] = criterion.title
    if criterion.serves is not None:
        out["for"] = criterion.serves
    # A long condition breaks before `and`/`or` as in the DSL, into a `|` block (the DSL reads
    # line breaks as spaces).
    lines = condition_lines(criterion.when, "", _CONDITION_INDENT)
    out["when"] = "\n".join(line[_CONDITION_INDENT:] for line in lines)
    if criterion.approves:
        out["approve"] = _limits(policy, criterion.approves, "approvals", _approval_text)
    if criterion.approves_requested:
        if criterion.approves:
            raise YamlEmitError(f"criterion {criterion.id} approves both limits and the quantity "
                                "requested; YAML says one or the other")
        out["approve"] = ({"requested": _Flow(criterion.requested_for)}
                          if criterion.requested_for else "requested")
    if criterion.duration is not None:
        out["duration"] = format_duration(criterion.duration)
    if criterion.renews is not None:
        out["renews"] = criterion.renews
    return out


def _date(value: nodes.PolicyDate) -> dt.date | str:
    """A day as a YAML date; a month as its text, 2020-07 (a plain scalar YAML reads as text)."""
    return value.isoformat() if isinstance(value, nodes.Month) else value


def _revision(revision: nodes.Revision) -> dict[str, Any]:
    out: dict[str, Any] = {"date": _date(revision.date), "type": revision.type}
    if revision.summary is not None:
        out["summary"] = revision.summary
    return out
