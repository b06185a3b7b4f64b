"""YAML spec → IR: load safely, validate against the schema, lower DSL text with the DSL grammar.

Every DSL text value (`when:`, rules, durations) is parsed by `dsl_lower.lower_fragment` at the
position of the scalar's first character, so its diagnostics point into the YAML file.

Positions are exact for plain and quoted scalars without escapes, on one line or several, and for
block scalars (`|`, `>`): the parser is given the scalar's source slice, whose line breaks and
indentation the DSL reads as spaces. Where the slice could read differently, the value is parsed
instead, placed at the scalar's first character: a quoted scalar with escapes (`\\"`, `''`), or
text folded over several lines that holds a `#` or a DSL "string" spanning a line break. Then
only the start is exact; columns after an escape, and lines after the first, can be off.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from dqmc.lang.diagnostics import Diagnostic, has_errors
from dqmc.lang.frontend import lower_common as common
from dqmc.lang.frontend.dsl_lower import lower_fragment
from dqmc.lang.frontend.yaml_load import (
    DEFAULT_LIMITS,
    LoadLimits,
    YamlDocument,
    load_yaml,
    pointer_join,
)
from dqmc.lang.frontend.yaml_schema import validate
from dqmc.lang.ir import nodes
from dqmc.lang.source import SourceFile, Span

ALL_CHANNELS = "all"  # the channel key for "every channel" (None in the IR), as in the DSL

# A package size: the schema's pattern, with the number and the unit word captured.
# `10 mg oxycodone`: amount, unit of strength, ingredient (the schema's `contains` pattern)
_CONTENT = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*((?:mg|mcg|g)(?:/h)?)\s+(\S+?)\s*\Z")
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*\Z")

# `size: from drug file`: the claim brings the package's size from the payer's drug file.
DRUG_FILE_SIZE = "from drug file"

_NO_DATE = dt.date(1, 1, 1)  # stands in after a date.invalid error; the compile stops there


def lower_yaml(
    source: SourceFile, limits: LoadLimits = DEFAULT_LIMITS,
) -> tuple[nodes.Policy | None, list[Diagnostic]]:
    """Load, validate and lower a whole YAML spec; quantities come out in billing units.

    None when the YAML cannot be read, breaks the schema, or holds DSL text that does not parse.
    """
    document, diagnostics = load_yaml(source, limits)
    if document is None:
        return None, diagnostics
    diagnostics = validate(document)
    if has_errors(diagnostics):
        return None, diagnostics
    lowering = _Lowering(document)
    policy = lowering.policy()
    if lowering.unparsed:
        return None, lowering.diagnostics
    policy, resolve_diagnostics = common.resolve_quantities(policy)
    policy = common.fill_defaults(policy)
    return policy, lowering.diagnostics + resolve_diagnostics


class _Lowering:
    """Builds IR nodes from schema-valid data, in file order; collects diagnostics."""

    def __init__(self, document: YamlDocument) -> None:
        self.doc = document
        self.diagnostics: list[Diagnostic] = []
        self.unparsed = False  # some DSL text did not parse: there is no policy to return

    # -- helpers -------------------------------------------------------------------------------
    def _dsl(self, pointer: str, start: str) -> Any:
        """The IR of the DSL text at `pointer`, parsed with grammar start rule `start`."""
        fragment = self.doc.fragment(pointer)
        value, found = lower_fragment(self.doc.source, start, fragment.text, fragment.line,
                                      fragment.col)
        self.diagnostics.extend(found)
        if value is None:
            self.unparsed = True
        return value

    def _date(self, pointer: str, text: str) -> dt.date | None:
        return common.parse_date(text, self.doc.span(pointer), self.diagnostics)

    def _items(self, pointer: str, value: str | list[str]) -> Iterator[str]:
        """The pointers of the texts of a `channel: text` or `channel: [text, ...]` entry."""
        if isinstance(value, list):
            yield from (pointer_join(pointer, i) for i in range(len(value)))
        else:
            yield pointer

    def _value_ref(self, pointer: str, value: str) -> nodes.Ref:
        """The id a string value at `pointer` names, with the value's span."""
        return nodes.Ref(value, self.doc.span(pointer))

    def _line_span(self, channel_pointer: str, text_pointer: str) -> Span:
        """From the channel key to the end of its rule: the YAML twin of a DSL limit line."""
        key, text = self.doc.key_span(channel_pointer), self.doc.span(text_pointer)
        return Span(key.file, key.line, key.col, text.end_line, text.end_col)

    # -- the policy ----------------------------------------------------------------------------
    def policy(self) -> nodes.Policy:
        data = self.doc.data
        settings = data["policy"]
        at = "/policy"
        duration = None
        if "approval_duration" in settings:
            duration = self._dsl(at + "/approval_duration", "duration_start")
        # Settings left out keep the IR's defaults (reject code "76", no daily-rate check).
        defaulted = {k: settings[k] for k in ("reject_code", "daily_rate_check",
                                              "requires_authorization") if k in settings}
        return nodes.Policy(
            id=settings["id"],
            title=settings["title"],
            type=settings["type"],
            review_date=(common.parse_policy_date(settings["review_date"],
                                                  self.doc.span(pointer_join(at, "review_date")),
                                                  self.diagnostics)
                         if "review_date" in settings else None),
            effective_date=self._optional_date(settings, at, "effective_date"),
            approval_duration=duration,
            **defaulted,
            fallback=settings.get("applies_to") == "fallback",
            channels=nodes.default_channels() + tuple(self._channels(data.get("channels", {}))),
            products=tuple(self._product(pid, p) for pid, p in data.get("products", {}).items()),
            groups=tuple(self._group(gid, g) for gid, g in data.get("groups", {}).items()),
            factor_tables=tuple(self._factors(tid, t)
                                for tid, t in data.get("factors", {}).items())
            + tuple(self._used_factors(tid, path)
                    for tid, path in data.get("use_factors", {}).items()),
            limits=tuple(self._limits(data.get("limits", {}))),
            facts=tuple(self._fact(fid, f) for fid, f in data.get("facts", {}).items()),
            criteria=tuple(self._criterion(cid, c) for cid, c in data.get("criteria", {}).items()),
            sections=tuple(self._section(i, s) for i, s in enumerate(data.get("sections", []))),
            references=tuple(
                nodes.Reference(text=text, span=self.doc.span(f"/references/{i}"))
                for i, text in enumerate(data.get("references", []))),
            history=tuple(self._revision(i, r) for i, r in enumerate(data.get("history", []))),
            span=self.doc.span(at + "/id"),
        )

    def _optional_date(self, settings: dict[str, Any], at: str, key: str) -> dt.date | None:
        return self._date(pointer_join(at, key), settings[key]) if key in settings else None

    def _channels(self, channels: dict[str, str]) -> Iterator[nodes.Channel]:
        for channel_id, label in channels.items():
            span = self.doc.key_span(pointer_join("/channels", channel_id))
            yield nodes.Channel(id=nodes.Ref(channel_id, span), label=label, span=span)

    # -- products and groups -------------------------------------------------------------------
    def _product(self, product_id: str, data: dict[str, Any]) -> nodes.Product:
        at = pointer_join("/products", product_id)
        span = self.doc.key_span(at)
        packages = tuple(self._package(pointer_join(at + "/packages", pid), pid, p)
                         for pid, p in data.get("packages", {}).items())
        unit = common.product_unit(data.get("unit"), packages, product_id, span, self.diagnostics)
        return nodes.Product(
            id=nodes.Ref(product_id, span),
            brand=data["brand"],
            generic=data["generic"],
            strength=data.get("strength"),
            form=data["form"],
            unit=unit,
            packages=packages,
            ndcs=tuple(data.get("ndc", ())),
            gpi=data.get("gpi"),
            label=data.get("label"),
            requires_authorization=data.get("requires_authorization", False),
            dose=self._dose(at + "/dose") if "dose" in data else None,
            contents=tuple(self._content(pointer_join(at + "/contains", i), text)
                           for i, text in enumerate(data.get("contains", ()))),
            span=span,
        )

    def _content(self, at: str, text: str) -> nodes.Content:
        match = _CONTENT.match(text)
        assert match is not None, "the schema's contains pattern admits only what _CONTENT matches"
        return nodes.Content(amount=Decimal(match[1]), unit=match[2], ingredient=match[3],
                             span=self.doc.span(at))

    def _factors(self, table_id: str, data: dict[str, Any]) -> nodes.FactorTable:
        at = pointer_join("/factors", table_id)
        return nodes.FactorTable(
            id=nodes.Ref(table_id, self.doc.key_span(at)), title=data["title"],
            factors=tuple(nodes.Factor(ingredient=name, factor=Decimal(str(value)),
                                       span=self.doc.key_span(pointer_join(at + "/factors", name)))
                          for name, value in data["factors"].items()),
            source=data.get("source"), span=self.doc.key_span(at))

    def _used_factors(self, table_id: str, path: str) -> nodes.FactorTable:
        """`use_factors: {mme: shared/cdc-2022-mme.dqm}`: its id and origin; the pipeline takes
        the rest from the shared file (shared_factors), as for the DSL's `use factors`."""
        at = pointer_join("/use_factors", table_id)
        key = self.doc.key_span(at)
        value = self.doc.span(at)
        return nodes.FactorTable(
            id=nodes.Ref(table_id, key), title="", factors=(), origin=path,
            span=Span(key.file, key.line, key.col, value.end_line, value.end_col))

    def _dose(self, at: str) -> nodes.Quantity:
        fragment = self.doc.fragment(at)
        match = _SIZE.match(fragment.text)
        assert match is not None, "the schema's dose pattern admits only what _SIZE matches"
        size = common.billing_size(Decimal(match[1]), match[2], fragment.span(*match.span(2)),
                                   self.diagnostics)
        return dataclasses.replace(size, span=fragment.span(match.start(1), match.end(2)))

    def _package(self, at: str, package_id: str, data: dict[str, Any]) -> nodes.Package:
        named = nodes.Ref(package_id, self.doc.key_span(at))
        if data["size"] == DRUG_FILE_SIZE:
            return nodes.Package(
                id=named, size=None, description=data["description"],
                noun=data.get("noun"), ndcs=tuple(data.get("ndc", ())),
                span=self.doc.key_span(at))
        fragment = self.doc.fragment(at + "/size")
        match = _SIZE.match(fragment.text) or _SIZE.match(data["size"])
        assert match is not None, "the schema's size pattern admits only what _SIZE matches"
        size = common.billing_size(Decimal(match[1]), match[2], fragment.span(*match.span(2)),
                                   self.diagnostics)
        size = dataclasses.replace(size, span=fragment.span(match.start(1), match.end(2)))
        return nodes.Package(
            id=named, size=size, description=data["description"], noun=data.get("noun"),
            ndcs=tuple(data.get("ndc", ())), span=self.doc.key_span(at))

    def _group(self, group_id: str, data: dict[str, Any]) -> nodes.Group:
        at = pointer_join("/groups", group_id)
        members = tuple(self._value_ref(pointer_join(at + "/products", i), member)
                        for i, member in enumerate(data["products"]))
        return nodes.Group(id=nodes.Ref(group_id, self.doc.key_span(at)), title=data["title"],
                           products=members, span=self.doc.key_span(at))

    # -- limits and approvals --------------------------------------------------------------
    def _lines(self, at: str,
               entries: dict[str, Any] | list[str]) -> Iterator[tuple[nodes.Limit, Span]]:
        """The limits of one target, each with its span (channel to end of rule), in file order.

        `entries` is either `channel: text | [text, ...]` or a list of `channel text` lines.
        """
        if isinstance(entries, list):
            for index in range(len(entries)):
                line_at = pointer_join(at, index)
                line = self._dsl(line_at, "limit_line_start")
                if line is not None:
                    yield line, line.span
            return
        for channel, value in entries.items():
            channel_at = pointer_join(at, channel)
            for text_at in self._items(channel_at, value):
                tail = self._dsl(text_at, "limit_tail_start")
                if tail is not None:
                    channel_id = (None if channel == ALL_CHANNELS
                                  else nodes.Ref(channel, self.doc.key_span(channel_at)))
                    yield (dataclasses.replace(tail, channel=channel_id),
                           self._line_span(channel_at, text_at))

    def _limits(self, limits: dict[str, Any]) -> Iterator[nodes.Limit]:
        for target, entries in limits.items():
            named_at = self.doc.key_span(pointer_join("/limits", target))
            if not entries:  # `{}` or `[]`: it would lower to nothing and silently disappear
                self.diagnostics.append(Diagnostic(
                    "limit.empty",
                    f"the limits of '{target}' are empty, so they state no limit: give a "
                    "channel and a rule, e.g. `retail: 30 g per 30 days`, or `retail: no limit` "
                    "to say there is none", named_at))
            for limit, span in self._lines(pointer_join("/limits", target), entries):
                yield dataclasses.replace(limit, target=nodes.Ref(target, named_at), span=span,
                                          target_span=named_at)

    def _approvals(self, at: str, approve: dict[str, Any]) -> Iterator[nodes.Approval]:
        for target, entries in approve.items():
            if not entries:  # `{}` or `[]`: it would lower to nothing and silently disappear
                self.diagnostics.append(Diagnostic(
                    "criterion.empty-approval",
                    f"the approvals of '{target}' are empty, so they approve nothing: give a "
                    "channel and a rule, e.g. `retail: 60 g per 30 days`, or write `approve: "
                    f"{{requested: [{target}]}}` to approve the quantity the request asks for",
                    self.doc.key_span(pointer_join(at, target))))
            for line, span in self._lines(pointer_join(at, target), entries):
                if (line.when or line.hard or line.note is not None or line.since is not None
                        or line.overrides or line.reject_code is not None or line.exempt):
                    self.diagnostics.append(Diagnostic(
                        "syntax.invalid-value",
                        "an approval states a channel and a rule only; selectors, `hard`, "
                        "`since` and `note` belong to base limits (and `override`, `reject`, "
                        "`unless`)",
                        line.span))
                named_at = self.doc.key_span(pointer_join(at, target))
                yield nodes.Approval(target=nodes.Ref(target, named_at), channel=line.channel,
                                     rule=line.rule, span=span, target_span=named_at)

    # -- facts and criteria --------------------------------------------------------------------
    def _fact(self, fact_id: str, data: dict[str, Any]) -> nodes.Fact:
        span = self.doc.key_span(pointer_join("/facts", fact_id))
        return nodes.Fact(id=nodes.Ref(fact_id, span), type=data["type"], question=data["question"],
                          values=tuple(data.get("values", ())), span=span)

    def _criterion(self, criterion_id: str, data: dict[str, Any]) -> nodes.Criterion:
        at = pointer_join("/criteria", criterion_id)
        span = self.doc.key_span(at)
        when = self._dsl(at + "/when", "expr_start")
        duration = self._dsl(at + "/duration", "duration_start") if "duration" in data else None
        approve = data.get("approve", {})
        # `approve: requested` (every product), or `approve: {requested: [ids]}` (these only)
        requested_for = approve.get("requested") if isinstance(approve, dict) else None
        named = (requested_for if isinstance(requested_for, list) else [])
        return nodes.Criterion(
            id=nodes.Ref(criterion_id, span),
            title=data.get("title"),
            when=when if when is not None else nodes.And(operands=(), span=span),
            approves=tuple(self._approvals(at + "/approve", approve)
                           if isinstance(approve, dict) and requested_for is None else ()),
            duration=duration,
            renews=(self._value_ref(at + "/renews", data["renews"]) if "renews" in data
                    else None),
            approves_requested=approve == "requested" or requested_for is not None,
            serves=data.get("for"),
            requested_for=tuple(self._value_ref(pointer_join(at + "/approve/requested", i), name)
                                for i, name in enumerate(named)),
            span=span,
            requested_for_span=tuple(self.doc.span(pointer_join(at + "/approve/requested", i))
                                     for i in range(len(named))),
        )

    # -- prose ---------------------------------------------------------------------------------
    def _section(self, index: int, data: dict[str, Any]) -> nodes.Section:
        return nodes.Section(kind=data["kind"], title=data["title"], text=data["text"],
                             span=self.doc.span(f"/sections/{index}"))

    def _revision(self, index: int, data: dict[str, Any]) -> nodes.Revision:
        at = f"/history/{index}"
        return nodes.Revision(
            type=data["type"],
            date=common.parse_policy_date(data["date"], self.doc.span(at + "/date"),
                                          self.diagnostics) or _NO_DATE,
            summary=data.get("summary"),
            span=self.doc.span(at),
        )
