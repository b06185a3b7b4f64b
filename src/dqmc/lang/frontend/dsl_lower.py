"""DSL parse tree → IR: one transformer method per grammar rule, spans from Lark's positions."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lark import Token, Transformer, Tree, v_args
from lark.exceptions import VisitError

from dqmc.lang.diagnostics import Diagnostic
from dqmc.lang.frontend import lower_common as common
from dqmc.lang.frontend.dsl_parse import parse_text, shift_span
from dqmc.lang.ir import nodes
from dqmc.lang.source import SourceFile, Span


@dataclass(frozen=True)
class _Item:
    """A statement inside a block, before the block assembles its node."""

    kind: str
    value: Any
    span: Span


@v_args(meta=True)
class _ToIR(Transformer):
    """Builds IR nodes bottom-up; collects diagnostics instead of raising."""

    def __init__(self, source: SourceFile, line_offset: int = 0, col_offset: int = 0):
        super().__init__()
        self.source = source
        self.line_offset = line_offset
        self.col_offset = col_offset
        self.diagnostics: list[Diagnostic] = []

    # -- positions ---------------------------------------------------------------------------
    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return Span.point(self.source.path, 1 + self.line_offset, 1 + self.col_offset)
        return shift_span(self.source.path, meta.line, meta.column, meta.end_line, meta.end_column,
                          self.line_offset, self.col_offset)

    def _tspan(self, token: Token) -> Span:
        return shift_span(self.source.path, token.line or 1, token.column or 1,
                          token.end_line or token.line or 1,
                          token.end_column or (token.column or 1) + 1,
                          self.line_offset, self.col_offset)

    def _ref(self, token: Token) -> nodes.Ref:
        """An id as written, with where the source names it."""
        return nodes.Ref(str(token), self._tspan(token))

    def _string(self, token: Token) -> str:
        if token.type == "LONG_STRING":
            value = common.dedent_long_string(str(token))
        else:
            value = common.unescape_string(str(token), self._tspan(token), self.diagnostics)
        # A `\uD800` escape gives a lone surrogate, which no UTF-8 output can hold (it used to
        # end `dqmc check` in an internal error while hashing the IR); see lower_common.
        if (found := common.forbidden_char(value)) is not None:
            self.diagnostics.append(Diagnostic(
                "syntax.invalid-value",
                f"this text holds {found[1]}; remove it",
                self._tspan(token)))
        return value

    def _int(self, token: Token, what: str) -> int:
        return common.whole_number(str(token), what, self._tspan(token), self.diagnostics)

    def _decimal(self, token: Token) -> Decimal:
        return common.parse_decimal(str(token)) or Decimal(0)

    # -- start rules -------------------------------------------------------------------------
    def start(self, meta, children):
        return children[0]

    def expr_start(self, meta, children):
        return children[0]

    def rule_start(self, meta, children):
        return children[0]

    def limit_line_start(self, meta, children):
        return children[0]

    def limit_tail_start(self, meta, children):
        return children[0]

    def duration_start(self, meta, children):
        return children[0]

    def factors_file(self, meta, children):
        return tuple(item.value for item in children)

    # -- policy ------------------------------------------------------------------------------
    def policy(self, meta, children):
        policy_id, title, *items = children
        span = self._span(meta)
        settings: dict[str, Any] = {}
        lists: dict[str, list[Any]] = {k: [] for k in (
            "channel", "product", "group", "factors", "use_factors", "limit", "fact", "criterion",
            "section", "reference", "revision")}
        for item in items:
            if item.kind in lists:
                if item.kind == "limit":
                    lists["limit"].extend(item.value)
                else:
                    lists[item.kind].append(item.value)
                continue
            if item.kind in settings:
                self.diagnostics.append(Diagnostic(
                    "policy.duplicate-setting",
                    f"'{item.kind}' is already set for this policy; keep one", item.span))
                continue
            settings[item.kind] = item.value
        if "type" not in settings:
            self.diagnostics.append(Diagnostic(
                "policy.missing-setting",
                "the policy needs a type: add `type per_days` (or per_rx, per_day, mixed, "
                "prior_authorization, override_guideline)", self._tspan(policy_id)))
        return nodes.Policy(
            id=str(policy_id),
            title=self._string(title),
            type=settings.get("type", "per_days"),
            review_date=settings.get("review_date"),
            effective_date=settings.get("effective_date"),
            approval_duration=settings.get("approval_duration"),
            reject_code=settings.get("reject_code", "76"),
            daily_rate_check=settings.get("daily_rate_check", False),
            requires_authorization=settings.get("requires_authorization", False),
            fallback=settings.get("fallback", False),
            channels=nodes.default_channels() + tuple(lists["channel"]),
            products=tuple(lists["product"]),
            groups=tuple(lists["group"]),
            # the tables a policy states, then those it uses, as the YAML spelling orders them
            factor_tables=tuple(lists["factors"] + lists["use_factors"]),
            limits=tuple(lists["limit"]),
            facts=tuple(lists["fact"]),
            criteria=tuple(lists["criterion"]),
            sections=tuple(lists["section"]),
            references=tuple(lists["reference"]),
            history=tuple(lists["revision"]),
            span=span,
        )

    def set_type(self, meta, children):
        token = children[0]
        if str(token) not in nodes.POLICY_TYPES:
            self.diagnostics.append(Diagnostic(
                "policy.unknown-type", f"unknown policy type '{token}'; use one of "
                f"{', '.join(nodes.POLICY_TYPES)}", self._tspan(token)))
        return _Item("type", str(token), self._span(meta))

    def set_review_date(self, meta, children):
        return _Item("review_date", common.parse_policy_date(
            str(children[0]), self._tspan(children[0]), self.diagnostics), self._span(meta))

    def set_effective_date(self, meta, children):
        return _Item("effective_date", common.parse_date(
            str(children[0]), self._tspan(children[0]), self.diagnostics), self._span(meta))

    def set_approval_duration(self, meta, children):
        return _Item("approval_duration", children[0], self._span(meta))

    def set_reject_code(self, meta, children):
        code = self._string(children[0])
        if not common.REJECT_CODE_PATTERN.match(code):
            self.diagnostics.append(Diagnostic(
                "policy.reject-code", f"reject code '{code}' is not an NCPDP reject code (2–3 "
                "capital letters or digits, e.g. \"76\")", self._tspan(children[0])))
        return _Item("reject_code", code, self._span(meta))

    def set_daily_rate_check(self, meta, children):
        return _Item("daily_rate_check", children[0], self._span(meta))

    def set_requires_authorization(self, meta, children):
        return _Item("requires_authorization", True, self._span(meta))

    def set_fallback(self, meta, children):
        return _Item("fallback", True, self._span(meta))

    def bool(self, meta, children):
        return str(children[0]) == "true"

    def channel_decl(self, meta, children):
        span = self._span(meta)
        return _Item("channel", nodes.Channel(
            id=self._ref(children[0]), label=self._string(children[1]), span=span), span)

    # -- products and groups -----------------------------------------------------------------
    def product(self, meta, children):
        product_id, *items = children
        span = self._span(meta)
        fields: dict[str, Any] = {}
        packages: list[nodes.Package] = []
        contents: list[nodes.Content] = []
        for item in items:
            if item.kind == "package":
                packages.append(item.value)
            elif item.kind == "contains":
                contents.append(item.value)
            elif item.kind in fields:
                self.diagnostics.append(Diagnostic(
                    "product.duplicate-field",
                    f"'{item.kind}' is already given for product '{product_id}'; keep one",
                    item.span))
            else:
                fields[item.kind] = item.value
        for required in ("brand", "generic", "form"):
            if required not in fields:
                self.diagnostics.append(Diagnostic(
                    "product.missing-field",
                    f"product '{product_id}' needs `{required} \"...\"`", self._tspan(product_id)))
        unit = common.product_unit(fields.get("unit"), tuple(packages), str(product_id),
                                   self._tspan(product_id), self.diagnostics)
        return _Item("product", nodes.Product(
            id=self._ref(product_id),
            brand=fields.get("brand", ""),
            generic=fields.get("generic", ""),
            strength=fields.get("strength"),
            form=fields.get("form", ""),
            unit=unit,
            packages=tuple(packages),
            ndcs=fields.get("ndc", ()),
            gpi=fields.get("gpi"),
            label=fields.get("label"),
            requires_authorization=fields.get("requires_authorization", False),
            dose=fields.get("dose"),
            contents=tuple(contents),
            span=span,
        ), span)

    def _field(self, kind: str, meta, value: Any) -> _Item:
        return _Item(kind, value, self._span(meta))

    def p_brand(self, meta, children):
        return self._field("brand", meta, self._string(children[0]))

    def p_generic(self, meta, children):
        return self._field("generic", meta, self._string(children[0]))

    def p_strength(self, meta, children):
        return self._field("strength", meta, self._string(children[0]))

    def p_form(self, meta, children):
        return self._field("form", meta, self._string(children[0]))

    def p_dose(self, meta, children):
        amount, word = children
        size = common.billing_size(self._decimal(amount), str(word), self._tspan(word),
                                   self.diagnostics)
        return self._field("dose", meta, dataclasses.replace(size, span=self._tspan(amount)))

    def p_contains(self, meta, children):
        amount, unit, ingredient = children
        return self._field("contains", meta, nodes.Content(
            amount=self._decimal(amount), unit=str(unit), ingredient=str(ingredient),
            span=self._span(meta)))

    def p_unit(self, meta, children):
        return self._field("unit", meta, str(children[0]))

    def p_label(self, meta, children):
        return self._field("label", meta, self._string(children[0]))

    def p_gpi(self, meta, children):
        return self._field("gpi", meta, self._string(children[0]))

    def p_requires_authorization(self, meta, children):
        return self._field("requires_authorization", meta, True)

    def p_ndcs(self, meta, children):
        return self._field("ndc", meta, children[0])

    def p_package(self, meta, children):
        package_id, amount, word, description, (noun, ndcs) = children
        span = self._span(meta)
        size = common.billing_size(self._decimal(amount), str(word),
                                   self._tspan(word), self.diagnostics)
        size = dataclasses.replace(size, span=self._tspan(amount))
        return _Item("package", nodes.Package(
            id=self._ref(package_id), size=size, description=self._string(description),
            noun=noun, ndcs=ndcs, span=span), span)

    def p_package_drug_file(self, meta, children):
        package_id, description, (noun, ndcs) = children
        span = self._span(meta)
        return _Item("package", nodes.Package(
            id=self._ref(package_id), size=None, description=self._string(description),
            noun=noun, ndcs=ndcs, span=span), span)

    def package_opts(self, meta, children):
        noun, ndcs = children
        return (str(noun) if noun is not None else None, ndcs or ())

    def ndc_list(self, meta, children):
        return tuple(self._string(t) for t in children)

    def group(self, meta, children):
        group_id, title, members = children
        span = self._span(meta)
        return _Item("group", nodes.Group(
            id=self._ref(group_id), title=self._string(title), products=members, span=span), span)

    def id_list(self, meta, children):
        return tuple(self._ref(t) for t in children)

    def factor_table(self, meta, children):
        table_id, title, *rows = children
        source = rows.pop() if rows and not isinstance(rows[-1], nodes.Factor) else None
        span = self._span(meta)
        return _Item("factors", nodes.FactorTable(
            id=self._ref(table_id), title=self._string(title), factors=tuple(rows),
            source=None if source is None else self._string(source), span=span), span)

    def factor_use(self, meta, children):
        table_id, path = children
        span = self._span(meta)
        # Taken from the shared file when the pipeline links the policy (shared_factors): until
        # then the table has its id and origin only.
        return _Item("use_factors", nodes.FactorTable(
            id=self._ref(table_id), title="", factors=(), origin=self._string(path), span=span),
            span)

    def factor(self, meta, children):
        ingredient, amount = children
        return nodes.Factor(ingredient=str(ingredient), factor=self._decimal(amount),
                            span=self._span(meta))

    # -- limits ------------------------------------------------------------------------------
    def limit_block(self, meta, children):
        target, *lines = children
        span = self._span(meta)
        named_at = self._tspan(target)
        if not lines:  # it would lower to nothing and the block would silently disappear
            self.diagnostics.append(Diagnostic(
                "limit.empty",
                f"`limit {target} {{ }}` states no limit: add a line for each channel, e.g. "
                f"`retail 30 g per 30 days`, or `retail no limit` to say there is none", span))
        limits = tuple(dataclasses.replace(line, target=self._ref(target), target_span=named_at)
                       for line in lines)
        return _Item("limit", limits, span)

    def limit_line(self, meta, children):
        channel, tail = children
        return dataclasses.replace(tail, channel=channel, span=self._span(meta))

    def limit_tail(self, meta, children):
        """A limit without its target and channel: the YAML `channel: ...` value form."""
        rule, selectors, *flags = children
        hard = any(f == ("hard", None) for f in flags)
        notes = [value for kind, value in flags if kind == "note"]
        dates = [value for kind, value in flags if kind == "since"]
        codes = [value for kind, value in flags if kind == "reject"]
        exempt = tuple(m for kind, value in flags if kind == "unless" for m in value)
        for name, found in (("since", dates), ("reject", codes)):
            if len(found) > 1:
                self.diagnostics.append(Diagnostic(
                    "syntax.invalid-value", f"a limit line has one `{name}`; keep one",
                    self._span(meta)))
        return nodes.Limit(
            target="", channel=None, rule=rule, when=selectors or (), hard=hard,
            note=notes[0] if notes else None, since=dates[0] if dates else None,
            overrides=tuple(value for kind, value in flags if kind == "override"),
            reject_code=codes[0] if codes else None, exempt=exempt,
            span=self._span(meta))

    def channel_named(self, meta, children):
        return self._ref(children[0])

    def channel_all(self, meta, children):
        return None

    def selectors(self, meta, children):
        return tuple(children)

    def sel_age(self, meta, children):
        low, high = children[0]
        return nodes.AgeBand(min_years=low, max_years=high, span=self._span(meta))

    def sel_package(self, meta, children):
        return nodes.PackageIs(package=self._ref(children[0]), span=self._span(meta))

    def age_between(self, meta, children):
        return (self._int(children[0], "an age"), self._int(children[1], "an age"))

    def age_from(self, meta, children):
        return (self._int(children[0], "an age"), None)

    def age_upto(self, meta, children):
        return (None, self._int(children[0], "an age"))

    def flag_hard(self, meta, children):
        return ("hard", None)

    def flag_note(self, meta, children):
        return ("note", self._string(children[0]))

    def flag_since(self, meta, children):
        return ("since", common.parse_date(str(children[0]), self._tspan(children[0]),
                                           self.diagnostics))

    def flag_override(self, meta, children):
        codes: dict[str, str] = {}
        for kind, value in children:
            if kind in codes:
                self.diagnostics.append(Diagnostic(
                    "syntax.invalid-value", f"an override names one {kind} code; keep one",
                    self._span(meta)))
            codes.setdefault(kind, value)
        return ("override", nodes.DurOverride(span=self._span(meta), **codes))

    def dur_reason(self, meta, children):
        return ("reason", self._string(children[0]))

    def dur_service(self, meta, children):
        return ("service", self._string(children[0]))

    def dur_result(self, meta, children):
        return ("result", self._string(children[0]))

    def flag_reject(self, meta, children):
        return ("reject", self._string(children[0]))

    def flag_unless(self, meta, children):
        return ("unless", tuple(str(m) for m in children[0]))

    def quantity(self, meta, children):
        amount, word = children
        return common.RawQuantity(amount=self._decimal(amount), word=str(word),
                                  span=self._span(meta))

    def per_window(self, meta, children):
        quantity, days = children
        return nodes.PerWindow(quantity=quantity, days=self._int(days, "a window in days"),
                               span=self._span(meta))

    def per_fill(self, meta, children):
        return nodes.PerFill(quantity=children[0], span=self._span(meta))

    def per_day(self, meta, children):
        quantity, up_to = children
        return nodes.PerDay(quantity=quantity, max_days=up_to, span=self._span(meta))

    def for_up_to(self, meta, children):
        return self._int(children[0], "a number of days")

    def fills_per_window(self, meta, children):
        fills, days = children
        return nodes.FillsPerWindow(fills=self._int(fills, "a number of fills"),
                                    days=self._int(days, "a window in days"), span=self._span(meta))

    def days_supply_max(self, meta, children):
        return nodes.DaysSupplyMax(days=self._int(children[0], "a days supply"),
                                   span=self._span(meta))

    def therapy_max(self, meta, children):
        return nodes.TherapyMax(days=self._int(children[0], "a length of therapy in days"),
                                span=self._span(meta))

    def daily_dose(self, meta, children):
        measure, op, amount, unit = children
        return nodes.DailyDose(measure=self._ref(measure), op=op, limit=self._decimal(amount),
                               unit=None if unit is None else str(unit), span=self._span(meta))

    def dose_op(self, meta, children):
        return str(children[0])

    def first_fill(self, meta, children):
        days, lookback = children
        return nodes.FirstFill(days=self._int(days, "a days supply"),
                               lookback=self._int(lookback, "a look-back in days"),
                               span=self._span(meta))

    def not_covered(self, meta, children):
        return nodes.NotCovered(span=self._span(meta))

    def no_limit(self, meta, children):
        return nodes.NoLimit(span=self._span(meta))

    # -- facts and criteria ------------------------------------------------------------------
    def fact(self, meta, children):
        fact_id, (fact_type, values), question = children
        span = self._span(meta)
        return _Item("fact", nodes.Fact(id=self._ref(fact_id), type=fact_type, values=values,
                                        question=self._string(question), span=span), span)

    def ft_bool(self, meta, children):
        return ("bool", ())

    def ft_number(self, meta, children):
        return ("number", ())

    def ft_date(self, meta, children):
        return ("date", ())

    def ft_enum(self, meta, children):
        return ("enum", children[0])

    def ft_set(self, meta, children):
        return ("set", children[0])

    def symbol_set(self, meta, children):
        return tuple(str(t) for t in children)

    def criterion(self, meta, children):
        criterion_id, title, *items = children
        span = self._span(meta)
        fields: dict[str, Any] = {}
        approves: list[nodes.Approval] = []
        requested: Span | None = None
        requested_for: tuple[tuple[str, Span], ...] = ()
        for item in items:
            if item.kind == "approve":
                approves.extend(item.value)
            elif item.kind == "requested" and requested is not None:
                self.diagnostics.append(Diagnostic(
                    "criterion.duplicate-field",
                    f"criterion '{criterion_id}' already has 'approve requested'; keep one "
                    "(list every product it serves in that one)", item.span))
            elif item.kind == "requested":
                requested, requested_for = item.span, item.value
            elif item.kind in fields:
                self.diagnostics.append(Diagnostic(
                    "criterion.duplicate-field",
                    f"criterion '{criterion_id}' already has '{item.kind}'; keep one", item.span))
            else:
                fields[item.kind] = item.value
        when = fields.get("when")
        if when is None:
            self.diagnostics.append(Diagnostic(
                "criterion.missing-when",
                f"criterion '{criterion_id}' needs a condition: add `when ...`",
                self._tspan(criterion_id)))
            when = nodes.And(operands=(), span=span)
        return _Item("criterion", nodes.Criterion(
            id=self._ref(criterion_id),
            title=self._string(title) if title is not None else None,
            when=when,
            approves=tuple(approves),
            duration=fields.get("duration"),
            renews=fields.get("renews"),
            approves_requested=requested is not None,
            serves=fields.get("for"),
            requested_for=tuple(target for target, _ in requested_for),
            span=span,
            requested_for_span=tuple(at for _, at in requested_for),
        ), span)

    def c_when(self, meta, children):
        return _Item("when", children[0], self._span(meta))

    def c_approve(self, meta, children):
        target, *lines = children
        if not lines:  # it would lower to nothing and the block would silently disappear
            self.diagnostics.append(Diagnostic(
                "criterion.empty-approval",
                f"`approve {target} {{ }}` approves nothing: add a line for each channel, e.g. "
                f"`retail 60 g per 30 days`, or write `approve requested {target}` to approve the "
                "quantity the request asks for", self._span(meta)))
        approvals = []
        for line in lines:
            if (line.when or line.hard or line.note or line.since or line.overrides
                    or line.reject_code or line.exempt):
                self.diagnostics.append(Diagnostic(
                    "syntax.invalid-value",
                    "an approval line states a channel and a rule only; selectors, `hard`, "
                    "`since` and `note` belong to base limits (and `override`, `reject`, "
                    "`unless`)",
                        line.span))
            approvals.append(nodes.Approval(target=self._ref(target), channel=line.channel,
                                            rule=line.rule, span=line.span,
                                            target_span=self._tspan(target)))
        return _Item("approve", approvals, self._span(meta))

    def c_approve_requested(self, meta, children):
        return _Item("requested", children[0] or (), self._span(meta))

    def approve_targets(self, meta, children):
        """`approve requested a, b`: each product or group with where it is named."""
        return tuple((self._ref(token), self._tspan(token)) for token in children)

    def c_duration(self, meta, children):
        return _Item("duration", children[0], self._span(meta))

    def c_renews(self, meta, children):
        return _Item("renews", self._ref(children[0]), self._span(meta))

    def c_for(self, meta, children):
        token = children[0]
        if str(token) not in nodes.SERVES:
            self.diagnostics.append(Diagnostic(
                "criterion.unknown-requests", f"'{token}' is not a kind of request; write "
                "`for initial requests` or `for renewal requests`", self._tspan(token)))
            return _Item("for", None, self._span(meta))
        return _Item("for", str(token), self._span(meta))

    def fixed_duration(self, meta, children):
        amount, unit = children
        return nodes.Duration(kind="fixed", amount=self._int(amount, "a duration"), unit=unit,
                              span=self._span(meta))

    def one_time_duration(self, meta, children):
        return nodes.Duration(kind="one_time", span=self._span(meta))

    def as_requested_duration(self, meta, children):
        return nodes.Duration(kind="as_requested", span=self._span(meta))

    def one_time_or_requested_duration(self, meta, children):
        return nodes.Duration(kind="one_time_or_requested", span=self._span(meta))

    def time_unit(self, meta, children):
        word = str(children[0])
        return word if word.endswith("s") else word + "s"

    def or_expr(self, meta, children):
        return nodes.Or(operands=tuple(children), span=self._span(meta))

    def and_expr(self, meta, children):
        return nodes.And(operands=tuple(children), span=self._span(meta))

    def not_(self, meta, children):
        return nodes.Not(operand=children[0], span=self._span(meta))

    def fact_ref(self, meta, children):
        return nodes.FactRef(fact=self._ref(children[0]), span=self._span(meta))

    def compare(self, meta, children):
        fact, op, value = children
        return nodes.Compare(fact=self._ref(fact), op=op, value=value, span=self._span(meta))

    def compare_op(self, meta, children):
        return str(children[0])

    def subset(self, meta, children):
        return nodes.Subset(fact=self._ref(children[0]), values=children[1], span=self._span(meta))

    def in_set(self, meta, children):
        return nodes.InSet(fact=self._ref(children[0]), values=children[1], span=self._span(meta))

    def v_number(self, meta, children):
        return self._decimal(children[0])

    def v_date(self, meta, children):
        token = children[0]
        return common.parse_date(str(token), self._tspan(token), self.diagnostics) or str(token)

    def v_bool(self, meta, children):
        return children[0]

    def v_symbol(self, meta, children):
        return str(children[0])

    # -- prose -------------------------------------------------------------------------------
    def section(self, meta, children):
        kind, title, text = children
        span = self._span(meta)
        return _Item("section", nodes.Section(kind=str(kind), title=self._string(title),
                                              text=self._string(text), span=span), span)

    def reference(self, meta, children):
        span = self._span(meta)
        return _Item("reference", nodes.Reference(text=self._string(children[0]), span=span), span)

    def revision(self, meta, children):
        date, rev_type, summary = children
        span = self._span(meta)
        return _Item("revision", nodes.Revision(
            type=self._string(rev_type),
            date=common.parse_policy_date(str(date), self._tspan(date), self.diagnostics)
            or _EPOCH,
            summary=self._string(summary) if summary is not None else None,
            span=span), span)


import datetime as _dt  # noqa: E402  (kept next to its one use)

_EPOCH = _dt.date(1, 1, 1)  # placeholder after a date.invalid error; the compile stops there


# The deepest a condition may nest (`not`, and `and`/`or` under parentheses). Real criteria
# nest three or four levels; the limit exists because every later stage (the transformer, the
# checks, the generators, the generated code, which Python refuses past 200 open brackets)
# walks conditions recursively, so an unbounded `not not not ...` or `(a and (a and (...`
# would end in a RecursionError instead of a diagnostic. Redundant parentheses around one
# operand add no depth (the grammar inlines them) and are not counted.
MAX_CONDITION_DEPTH = 32
_CONDITION_RULES = frozenset({"not_", "and_expr", "or_expr"})


def _too_deep(tree: Tree, source: SourceFile, line_offset: int,
              col_offset: int) -> Diagnostic | None:
    """A diagnostic at the first condition nested deeper than MAX_CONDITION_DEPTH, if any.

    Iterative on purpose: the tree this guards against is too deep to recurse over.
    """
    stack: list[tuple[Tree, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.data in _CONDITION_RULES:
            depth += 1
            if depth > MAX_CONDITION_DEPTH:
                meta = node.meta
                span = shift_span(source.path, meta.line, meta.column, meta.line,
                                  meta.column + 1, line_offset, col_offset)
                return Diagnostic(
                    "syntax.invalid-value",
                    f"this condition nests more than {MAX_CONDITION_DEPTH} levels deep (`not`, "
                    "or `and`/`or` inside parentheses); write it with fewer levels", span)
        stack.extend((child, depth) for child in reversed(node.children)
                     if isinstance(child, Tree))
    return None


def _transform(tree: Tree, source: SourceFile, line_offset: int = 0,
               col_offset: int = 0) -> tuple[Any, list[Diagnostic]]:
    transformer = _ToIR(source, line_offset, col_offset)
    try:
        result = transformer.transform(tree)
    except VisitError as exc:  # a bug in a callback: unwrap so it surfaces as itself
        raise exc.orig_exc from None
    return result, transformer.diagnostics


def bidi_controls(source: SourceFile, limit: int = 50) -> list[Diagnostic]:
    """A diagnostic at the first bidi control of each line that has one (at most `limit`).

    Refused anywhere in the file, comments included: an invisible override can make a spec
    display differently from what the parser reads ("Trojan Source", CVE-2021-42574), so a
    reviewer could approve a limit other than the one compiled.
    """
    found: list[Diagnostic] = []
    last_line = 0
    for match in common.BIDI_PATTERN.finditer(source.text):
        span = source.span(match.start(), match.end())
        if span.line == last_line:
            continue
        last_line = span.line
        found.append(Diagnostic(
            "syntax.unexpected-char",
            f"unexpected character {common.describe_char(match.group())}; remove it", span))
        if len(found) >= limit:
            break
    return found


def _parse_whole(source: SourceFile, start: str, max_bytes: int
                 ) -> tuple[Tree | None, list[Diagnostic]]:
    # As load_yaml does: text compiled from memory skips the pipeline's file-size check.
    size = len(source.text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        return None, [Diagnostic(
            "io.too-large", f"the file has {size} bytes; specs are limited to {max_bytes}",
            Span.point(source.path, 1, 1))]
    if bidi := bidi_controls(source):
        return None, bidi
    tree, diagnostics = parse_text(source, start)
    if tree is None:
        return None, diagnostics
    if (deep := _too_deep(tree, source, 0, 0)) is not None:
        return None, [deep]
    return tree, diagnostics


def lower_factors_file(source: SourceFile, max_bytes: int = common.MAX_SPEC_BYTES,
                       ) -> tuple[tuple[nodes.FactorTable, ...] | None, list[Diagnostic]]:
    """Parse and lower a shared factor file (`factors` blocks only); None when it does not
    parse."""
    tree, diagnostics = _parse_whole(source, "factors_file", max_bytes)
    if tree is None:
        return None, diagnostics
    tables, found = _transform(tree, source)
    return tables, diagnostics + found


def lower_dsl(source: SourceFile, max_bytes: int = common.MAX_SPEC_BYTES,
              ) -> tuple[nodes.Policy | None, list[Diagnostic]]:
    """Parse and lower a whole `.dqm` file; quantities come out in billing units."""
    tree, diagnostics = _parse_whole(source, "start", max_bytes)
    if tree is None:
        return None, diagnostics
    policy, diagnostics = _transform(tree, source)
    policy, resolve_diagnostics = common.resolve_quantities(policy)
    policy = common.fill_defaults(policy)
    return policy, diagnostics + resolve_diagnostics


def lower_fragment(source: SourceFile, start: str, text: str, line: int,
                   col: int) -> tuple[Any, list[Diagnostic]]:
    """Parse a fragment embedded in another file (a YAML `when:` or rule string).

    `line`/`col` are the 1-based position of the fragment's first character in `source`.
    Rules come back with RawQuantity; the caller resolves them with the whole policy.
    """
    tree, diagnostics = parse_text(source, start, text=text, line_offset=line - 1,
                                   col_offset=col - 1)
    if tree is None:
        return None, diagnostics
    if (deep := _too_deep(tree, source, line - 1, col - 1)) is not None:
        return None, [deep]
    return _transform(tree, source, line - 1, col - 1)
