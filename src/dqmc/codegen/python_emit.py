"""Python generator: checked policies (IR) → the standard-library package dqm_policies (design §7).

Each policy becomes one module. Its limits and approvals compile into one check function per
rule (constants hoisted, a `# file:line` comment above each); product matching, the unit and
channel checks and limit selection are straight-line code per product and channel; each
criterion becomes one three-valued condition function. What is not policy-specific — reading
claims, writing decisions, the bookkeeping of authorizations and reviews — is
`dqmc/runtime.py`, copied into the package as `_runtime.py`. The registry `__init__.py` holds
a hoisted index of product ids, NDCs and policy ids to module names and imports a policy module
only when a claim or request first needs it.

Safety and determinism: spec text reaches code only through `lit()` (repr) — docstrings and
comments included; identifiers come from ids through `identifier()`; every Python file passes
`ast.parse`; policies are emitted in policy-id order and everything else in source order, so
the output is byte-identical across runs, hash seeds and input orders.
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import keyword
import posixpath
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import jinja2

from dqmc import interpreter
from dqmc import runtime as rt
from dqmc.compiled import CompiledPolicy
from dqmc.ir import nodes
from dqmc.ir.canonical import decimal_text

PACKAGE = "dqm_policies"
RUNTIME_MODULE = "_runtime"
_RESERVED_MODULES = frozenset({RUNTIME_MODULE, "__init__", "__main__"})
_TEMPLATES = Path(__file__).parent / "templates"
# Text that can sit inside a triple-quoted docstring as it is: no quotes, backslashes or
# control characters. Anything else goes through repr().
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9 _.,:;()\[\]{}<>=+*/%&|!?@#$^~`-]*")


class EmitError(Exception):
    """The generator produced something unusable: a bug in dqmc, never in a spec."""


def emit_python_package(compiled: Sequence[CompiledPolicy], *, version: str) -> dict[str, str]:
    """{path under generated/python/ (posix): file text} for the whole package."""
    ordered = sorted(compiled, key=lambda c: c.policy.id)
    modules = module_names([c.policy.id for c in ordered])
    files: dict[str, str] = {}
    for item, module in zip(ordered, modules, strict=True):
        files[f"{PACKAGE}/{module}.py"] = emit_policy_module(item, version=version)
    files[f"{PACKAGE}/__init__.py"] = _emit_registry(ordered, modules, version)
    files[f"{PACKAGE}/{RUNTIME_MODULE}.py"] = _emit_runtime(version)
    files["pyproject.toml"] = _render("python_pyproject.toml.j2", version=version,
                                      header=_header(version, *_combined_provenance(ordered)))
    for path, text in files.items():
        if path.endswith(".py"):
            try:
                ast.parse(text, filename=path)
            except SyntaxError as exc:  # pragma: no cover - a generator bug
                raise EmitError(f"generated {path} is not valid Python: {exc}") from exc
    return dict(sorted(files.items()))


def emit_policy_module(item: CompiledPolicy, *, version: str) -> str:
    """The text of one policy's module."""
    return _PolicyEmitter(item, version).render()


def module_names(policy_ids: Sequence[str]) -> list[str]:
    """A distinct, safe module name per policy id, in order given: anzupgo-dqm → anzupgo_dqm."""
    taken: set[str] = set(_RESERVED_MODULES)
    names = []
    for policy_id in policy_ids:
        base = _words(policy_id) or "policy"
        if base[0].isdigit() or keyword.iskeyword(base) or base in _RESERVED_MODULES:
            base = f"policy_{base}"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        names.append(name)
    return names


def identifier(text: str) -> str:
    """ASCII lower-case letters, digits and underscores: anzupgo-2pct-cream → anzupgo_2pct_cream."""
    return _words(text) or "x"


def _words(text: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9_]+", "_", text.lower())).strip("_")


# ---------------------------------------------------------------------------------------------
# Literals: the only way spec values enter generated code


def lit(value: object) -> str:
    """A Python literal for a value; strings always go through repr()."""
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, Decimal):
        return f"Decimal({decimal_text(value)!r})"
    if isinstance(value, dt.date):
        return f"date({value.year}, {value.month}, {value.day})"
    if isinstance(value, tuple):
        if len(value) == 1:
            return f"({lit(value[0])},)"
        return "(" + ", ".join(lit(v) for v in value) + ")"
    raise EmitError(f"no literal for {type(value).__name__}")


def frozenset_lit(values: Sequence[str]) -> str:
    return f"frozenset({lit(tuple(values))})" if values else "frozenset()"


def names_tuple(names: Sequence[str]) -> str:
    """A tuple expression of names that are already valid identifiers."""
    if not names:
        return "()"
    return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"


def dict_lit(pairs: Iterable[tuple[str, str]], indent: int = 0) -> str:
    """A dict display from (key, value) source texts: one line when short, else one per line."""
    items = [f"{key}: {value}" for key, value in pairs]
    flat = "{" + ", ".join(items) + "}"
    if len(flat) + indent <= 72 and "\n" not in flat:
        return flat
    pad = " " * indent
    return "{\n" + "".join(f"{pad}    {item},\n" for item in items) + pad + "}"


def docstring(text: str, indent: int = 4) -> str:
    """A docstring literal: triple-quoted (wrapped when long) if the text is plain, else repr()."""
    if not _PLAIN_TEXT.fullmatch(text):
        return repr(text)
    lines = textwrap.wrap(text, 92 - indent) or [""]
    if len(lines) == 1:
        return f'"""{lines[0]}"""'
    pad = " " * indent
    return '"""' + lines[0] + "".join(f"\n{pad}{line}" for line in lines[1:]) + f'\n{pad}"""'



def comment(text: str) -> str:
    """Text for a `#` comment: as it is when printable on one line, else its repr()."""
    return text if text.isprintable() and "\\" not in text else repr(text)


class Namer:
    """Hands out distinct Python identifiers, deterministically, in the order asked."""

    def __init__(self, reserved: Sequence[str] = ()) -> None:
        self.taken = set(reserved)

    def __call__(self, base: str) -> str:
        name, n = base, 1
        while name in self.taken or keyword.iskeyword(name):
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name


# ---------------------------------------------------------------------------------------------
# View models: what the template lays out, with every spec value already a literal


@dataclass
class RuleView:
    """One rule (a base limit or an approval) compiled to a check function."""

    function: str
    const: str  # the prefix of its constants: _LIMIT_1, _APPROVAL_2
    location: str  # comment text
    doc: str
    kind: str
    quantity: str | None  # the name of its hoisted Decimal
    quantity_value: str | None
    unit: str
    days: int | None
    fills: int | None
    max_days: int | None
    in_scope: str  # a boolean expression over `entry`: does this history entry count?
    scope_consts: list[tuple[str, str]]
    source: str
    message: str
    applied: str  # the AppliedLimit it reports
    select_text: str  # how the select step lists it (raw text; "(hard)" marks a hard ceiling)
    hard: bool
    daily: str | None  # the name of its daily-rate check, when the policy declares one
    daily_message: str | None


@dataclass
class ChannelView:
    """The limits of one product at one channel: selection, authorizations, then the checks."""

    channel: str
    function: str
    doc: str
    matched: str  # the name of its hoisted match step
    matched_value: str
    static_checks: list[str] | None  # the check calls when no selector applies
    static_select: str | None  # the name of its hoisted select step, likewise
    static_select_value: str | None
    selection: list[str]  # statements that fill `base` when selectors apply
    hard: str  # an expression for the hard ceilings among the base limits
    approvals: str  # the name of its table: criterion → approvals that replace the base
    approvals_value: str


@dataclass
class ProductView:
    """One product: its unit and channel checks, and a ChannelView per channel with limits."""

    function: str
    const: str  # the prefix of its constants: _PRODUCT_1
    location: str
    at: str  # the location as a literal, for the trace
    doc: str
    product_id: str
    unit: str
    unit_message: str
    unit_detail: str
    sizes: str  # package id → size, for max allowed in whole packages
    default_size: str
    cover: str  # the ids an authorization may name it by
    scope: str  # the products whose history counts for explicit limits and used fills
    scope_ndcs: str
    channels: list[ChannelView] = field(default_factory=list)


@dataclass
class CriterionView:
    """One criterion: its condition function and its entry in the review table."""

    function: str
    location: str
    doc: str
    lines: list[str]
    id: str
    renews: str
    approved: list[str]
    duration: str


class _PolicyEmitter:
    """Builds the view model of one policy module and renders it."""

    def __init__(self, item: CompiledPolicy, version: str) -> None:
        self.item = item
        self.policy = item.policy
        self.version = version
        self.names = Namer(["evaluate", "decide", "evaluate_claim", "review", "decide_review"])
        self.uses_date = False
        self.leaves: list[tuple[str, str]] = []  # (name, literal) of condition labels
        self.values: list[tuple[str, str]] = []  # (name, literal) of hoisted comparison values

    def render(self) -> str:
        policy, item = self.policy, self.item
        limits = [self._rule(limit.rule, limit.target, limit.channel, limit, f"_LIMIT_{i}",
                             "base", limit.hard)
                  for i, limit in enumerate(policy.limits, 1)]
        approvals: dict[tuple[int, int], RuleView] = {}
        for c, criterion in enumerate(policy.criteria):
            for a, approval in enumerate(criterion.approves):
                approvals[(c, a)] = self._rule(approval.rule, approval.target, approval.channel,
                                               approval, f"_APPROVAL_{len(approvals) + 1}",
                                               "override", False, criterion.id)
        products = [self._product(p, product, limits, approvals)
                    for p, product in enumerate(policy.products, 1)]
        criteria = [self._criterion(c) for c in policy.criteria]
        channels = interpreter.known_channels(policy)
        ndcs = {}  # product-level NDCs first, then each package's, as the interpreter reads them
        for product in policy.products:
            for ndc in product.ndcs:
                ndcs.setdefault(ndc, (product.id, None))
            for package in product.packages:
                for ndc in package.ndcs:
                    ndcs.setdefault(ndc, (product.id, package.id))
        return _render(
            "python_policy.py.j2",
            header=_header(self.version, item.source, item.content_hash),
            policy_id=lit(policy.id), policy_hash=lit(item.content_hash), title=lit(policy.title),
            source=lit(item.source), reject_code=lit(policy.reject_code), channels=lit(channels),
            channel_list=lit(", ".join(channels)), at_policy=lit(interpreter.location(policy)),
            daily_rate=lit(policy.daily_rate_check), uses_date=self.uses_date,
            rules=[*limits, *approvals.values()], products=products, criteria=criteria,
            leaves=self.leaves, values=self.values,
            ndcs=dict_lit((lit(k), lit(v)) for k, v in ndcs.items()),
            products_with_ndcs=frozenset_lit(
                [p.id for p in policy.products if interpreter.product_ndcs(p)]),
            packages=dict_lit((lit(p.id), lit(tuple(pk.id for pk in p.packages)))
                              for p in policy.products),
            product_table=dict_lit((p.product_id, p.function) for p in products),
            facts=dict_lit((lit(k), lit(v)) for k, v in interpreter.review_facts(policy).items()),
            review_targets=dict_lit((lit(k), lit(v))
                                    for k, v in interpreter.review_targets(policy).items()),
            criteria_at=dict_lit((lit(c.id), lit(interpreter.location(c)))
                                 for c in policy.criteria))

    # -- rules --------------------------------------------------------------------------------

    def _rule(self, rule: nodes.Rule, target: str, channel: str | None, node: object, const: str,
              origin: str, hard: bool, criterion: str | None = None) -> RuleView:
        """A rule's check function; `origin` is "base" for a limit, "override" for an approval."""
        kind, quantity, unit, days, fills, max_days = interpreter.rule_fields(rule)
        products = interpreter.scope_products(self.policy, target)
        ndcs = interpreter.scope_ndcs(self.policy, products)
        scope_consts: list[tuple[str, str]] = []
        if len(products) == 1:
            in_scope = f"entry.product == {lit(products[0])}"
        else:
            scope_consts.append((f"{const}_SCOPE", frozenset_lit(products)))
            in_scope = f"entry.product in {const}_SCOPE"
        if ndcs:
            scope_consts.append((f"{const}_NDCS", frozenset_lit(ndcs)))
            in_scope = f"({in_scope} or entry.ndc in {const}_NDCS)"
        where = "all" if channel is None else channel
        named = f"{const.lower()}_{identifier(criterion)}" if criterion else const.lower()
        function = self.names(f"{named}_{identifier(target)}_{identifier(where)}")
        daily = daily_message = None
        if self.policy.daily_rate_check and kind == "per_window":
            daily = self.names(f"{function}_daily_rate")
            daily_message = lit(rt.daily_rate_message(quantity, unit, days))  # type: ignore[arg-type]
        text = interpreter.rule_text(rule)
        location = interpreter.location(node)
        channel_text = "every channel" if channel is None else channel
        ceiling = " (hard ceiling)" if hard else ""
        return RuleView(
            function=function, const=const, location=comment(location),
            doc=docstring(f"{target} at {channel_text}: {text}{ceiling}."),
            kind=kind, quantity=None if quantity is None else f"{const}_QUANTITY",
            quantity_value=None if quantity is None else lit(quantity), unit=lit(unit), days=days,
            fills=fills, max_days=max_days, in_scope=in_scope, scope_consts=scope_consts,
            source=lit(location), message=lit(interpreter.rule_message(rule)),
            applied=(f"rt.AppliedLimit({lit(kind)}, {lit(quantity)}, {lit(unit)}, {lit(days)},\n"
                     f"    {lit(text)}, {lit(origin)}, None)"),
            select_text=text + (" (hard)" if hard else ""), hard=hard, daily=daily,
            daily_message=daily_message)

    # -- products and channels ----------------------------------------------------------------

    def _product(self, index: int, product: nodes.Product, limits: list[RuleView],
                 approvals: dict[tuple[int, int], RuleView]) -> ProductView:
        policy = self.policy
        group = interpreter.group_of(policy, product.id)
        targets = (product.id,) if group is None else (product.id, group.id)
        own_scope = interpreter.scope_products(policy, group.id if group else product.id)
        prefix = f"_PRODUCT_{index}"
        location = interpreter.location(product)
        cover = list(dict.fromkeys(targets + interpreter.product_ndcs(product)))
        view = ProductView(
            function=self.names(f"_product_{index}_{identifier(product.id)}"), const=prefix,
            location=comment(location), at=lit(location),
            doc=docstring(f"Product {product.id}, billed in {product.unit}."),
            product_id=lit(product.id), unit=lit(product.unit),
            unit_message=lit(rt.message(f"UNIT MUST BE {rt.unit_message(product.unit)}")),
            unit_detail=lit(f" is not {product.unit}, the billing unit of {product.id}"),
            sizes=dict_lit((lit(p.id), lit(p.size.amount)) for p in product.packages),
            default_size=lit(interpreter.package_size(product, None)),
            cover=frozenset_lit(cover), scope=frozenset_lit(own_scope),
            scope_ndcs=frozenset_lit(interpreter.scope_ndcs(policy, own_scope)))
        for c, channel in enumerate(interpreter.known_channels(policy), 1):
            candidates = [(i, lim) for i, lim in enumerate(policy.limits)
                          if lim.target in targets and lim.channel in (None, channel)]
            if candidates:
                view.channels.append(self._channel(product, targets, channel, candidates, limits,
                                                   approvals, view, f"{prefix}_AT_{c}"))
        return view

    def _channel(self, product: nodes.Product, targets: tuple[str, ...], channel: str,
                 candidates: list[tuple[int, nodes.Limit]], limits: list[RuleView],
                 approvals: dict[tuple[int, int], RuleView], product_view: ProductView,
                 prefix: str) -> ChannelView:
        rules = [limits[i] for i, _ in candidates]
        static_checks = static_select = static_select_value = None
        selection: list[str] = []
        if all(not lim.when for _, lim in candidates):
            static_checks = [f"{r.function}(claim, history, {r.const})" for r in rules]
            static_checks += [f"{r.daily}(claim, {r.const})" for r in rules if r.daily]
            static_select = f"{prefix}_SELECT"
            static_select_value = (
                f"rt.select_step(\n    {lit(tuple(r.select_text for r in rules))},\n"
                f"    None, {lit(interpreter.location(candidates[0][1]))})")
            hard = names_tuple([f"{r.const}_RULE" for r in rules if r.hard])
        else:
            selection = self._selection(product, channel, candidates, limits)
            hard = "[entry for entry in base if entry.hard]"
        table = []
        for c, criterion in enumerate(self.policy.criteria):
            chosen = [approvals[(c, a)] for a, approval in enumerate(criterion.approves)
                      if approval.target in targets and approval.channel in (None, channel)]
            if chosen:
                table.append((lit(criterion.id), names_tuple([f"{v.const}_RULE" for v in chosen])))
        return ChannelView(
            channel=lit(channel),
            function=self.names(f"{product_view.function}_at_{identifier(channel)}"),
            doc=docstring(f"{product.id} at {channel}: select the limits, apply authorizations, "
                          "check."),
            matched=f"{prefix}_MATCHED",
            matched_value=(f"rt.matched_step(\n    {lit(product.id)}, {lit(channel)}, "
                           f"{lit(interpreter.location(product))})"),
            static_checks=static_checks, static_select=static_select,
            static_select_value=static_select_value, selection=selection, hard=hard,
            approvals=f"{prefix}_APPROVALS", approvals_value=dict_lit(table))

    def _selection(self, product: nodes.Product, channel: str,
                   candidates: list[tuple[int, nodes.Limit]], limits: list[RuleView]) -> list[str]:
        """Statements appending each base limit whose selectors hold; refuse what cannot be told."""
        lines = ["base = []"]
        for index, limit in candidates:
            location = interpreter.location(limit)
            lines.append(f"# {comment(location)}")
            depth = 0
            for selector in limit.when:
                pad = "    " * depth
                if isinstance(selector, nodes.AgeBand):
                    detail = (f"the limit at {location} depends on age and the claim has no "
                              "member.birth_date")
                    lines.append(f"{pad}if claim.birth_date is None:")
                    lines += _refusal(pad + "    ", "CODE_BIRTH_DATE", "M/I DATE OF BIRTH", detail,
                                      location)
                    age = "rt.age_on(claim.birth_date, claim.date_of_service)"
                    low, high = selector.min_years, selector.max_years
                    if low is not None and high is not None:
                        test = f"{lit(low)} <= {age} <= {lit(high)}"
                    elif low is not None:
                        test = f"{age} >= {lit(low)}"
                    elif high is not None:
                        test = f"{age} <= {lit(high)}"
                    else:
                        continue  # any age: only the birth date is required
                else:
                    detail = (f"the limit at {location} depends on the package and neither the "
                              "ndc nor the claim's package names one")
                    lines.append(f"{pad}if package is None:")
                    lines += _refusal(pad + "    ", "CODE_PRODUCT", "PACKAGE NOT IDENTIFIED",
                                      detail, location)
                    test = f"package == {lit(selector.package)}"
                lines.append(f"{pad}if {test}:")
                depth += 1
            lines.append(f"{'    ' * depth}base.append({limits[index].const}_RULE)")
        if any(not limit.when for _, limit in candidates):
            return lines  # a limit without selectors always applies
        detail = f"no limit for {product.id} at {channel} applies to this claim"
        lines += ["if not base:",
                  "    return rt.not_applicable(claim, POLICY_ID, POLICY_HASH, steps, (",
                  f"        'select', 'skip', {lit(detail)},",
                  f"        {lit(interpreter.location(candidates[0][1]))}))"]
        return lines

    # -- criteria -----------------------------------------------------------------------------

    def _criterion(self, criterion: nodes.Criterion) -> CriterionView:
        function = self.names(f"_when_{identifier(criterion.id)}")
        local = Namer(["answers", "rt", "date", "Decimal"])
        fact_names = {}
        for fact in interpreter.condition_facts(criterion.when):
            word = identifier(fact)
            fact_names[fact] = local(word if not word[0].isdigit() else f"fact_{word}")
        lines = [f"{name} = answers.get({lit(fact)})" for fact, name in fact_names.items()]
        lines += ("return " + self._condition(criterion.when, fact_names, 0)).split("\n")
        duration = interpreter.approval_duration(self.policy, criterion)
        approved = [f"rt.ApprovedLimit({lit(a.target)}, {lit(a.channel)}, {lit(a.kind)},\n"
                    f"                 {lit(a.quantity)}, {lit(a.unit)}, {lit(a.days)}, "
                    f"{lit(a.text)})"
                    for a in interpreter.approved_limits(criterion)]
        condition = interpreter.condition_text(criterion.when)
        return CriterionView(
            function=function, location=comment(interpreter.location(criterion.when)),
            doc=docstring(f"Criterion {criterion.id}: {condition}"), lines=lines,
            id=lit(criterion.id), renews=lit(criterion.renews), approved=approved,
            duration=lit(interpreter.duration_fields(duration)))

    def _condition(self, expr: nodes.Expr, names: dict[str, str], depth: int) -> str:
        """A three-valued expression for a condition, one operand per line."""
        pad = "    " * depth
        if isinstance(expr, (nodes.And, nodes.Or)):
            helper = "rt.all_of" if isinstance(expr, nodes.And) else "rt.any_of"
            inner = "".join(f"{pad}    {self._condition(e, names, depth + 1)},\n"
                            for e in expr.operands)
            return f"{helper}(\n{inner}{pad})"
        label = self._leaf_label(expr)
        if isinstance(expr, nodes.Not):
            inner = self._condition(expr.operand, names, depth + 1)
            return f"rt.negation(\n{pad}    {inner},\n{pad}    {label},\n{pad})"
        name = names[expr.fact]  # type: ignore[union-attr]
        if isinstance(expr, nodes.FactRef):
            test = f"{name} is True"
        elif isinstance(expr, nodes.InSet):
            test = f"{name} in {lit(expr.values)}"
        elif isinstance(expr, nodes.Subset):
            test = f"{name} <= {self._value(frozenset_lit(expr.values))}"
        else:
            assert isinstance(expr, nodes.Compare)
            value = expr.value
            if isinstance(value, bool) and expr.op in ("==", "!="):
                test = f"{name} {'is' if expr.op == '==' else 'is not'} {value!r}"
            else:
                if isinstance(value, dt.date):
                    self.uses_date = True
                shown = lit(value) if isinstance(value, str) else self._value(lit(value))
                test = f"{name} {expr.op} {shown}"
        return f"rt.leaf(None if {name} is None else {test}, {label})"

    def _leaf_label(self, expr: nodes.Expr) -> str:
        name = f"_LEAF_{len(self.leaves) + 1}"
        text = interpreter.condition_text(expr)
        self.leaves.append((name, lit((text, interpreter.condition_facts(expr)))))
        return name

    def _value(self, literal: str) -> str:
        name = f"_VALUE_{len(self.values) + 1}"
        self.values.append((name, literal))
        return name


def _refusal(pad: str, code: str, text: str, detail: str, location: str) -> list[str]:
    """Lines of a `return _refuse(...)` at the select step, for a limit that cannot be told."""
    indent = pad + " " * len("return _refuse(")
    return [f"{pad}return _refuse(claim, steps, rt.{code}, {lit(text)},",
            f"{indent}{lit(detail)},",
            f"{indent}{lit(location)}, 'select')"]


# ---------------------------------------------------------------------------------------------
# Registry, runtime, headers


def _emit_registry(ordered: Sequence[CompiledPolicy], modules: Sequence[str], version: str) -> str:
    by_product: dict[str, str] = {}
    by_ndc: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for item, module in zip(ordered, modules, strict=True):
        for product in item.policy.products:
            by_product.setdefault(product.id, module)
            for ndc in interpreter.product_ndcs(product):
                by_ndc.setdefault(ndc, module)
        for name in interpreter.review_targets(item.policy):
            by_name.setdefault(name, module)
    by_policy = {item.policy.id: module for item, module in zip(ordered, modules, strict=True)}
    listing = [dict_lit([("'id'", lit(item.policy.id)), ("'title'", lit(item.policy.title)),
                         ("'content_hash'", lit(item.content_hash)), ("'source'", lit(item.source)),
                         ("'module'", lit(module))], indent=4)
               for item, module in zip(ordered, modules, strict=True)]

    def table(mapping: dict[str, str]) -> str:
        return dict_lit((lit(k), lit(v)) for k, v in mapping.items())

    return _render("python_init.py.j2", header=_header(version, *_combined_provenance(ordered)),
                   by_product=table(by_product), by_ndc=table(by_ndc), by_name=table(by_name),
                   by_policy=table(by_policy), listing=listing)


def _emit_runtime(version: str) -> str:
    text = Path(rt.__file__).read_text(encoding="utf-8")
    digest = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return _header(version, "src/dqmc/runtime.py", digest) + text


def _combined_provenance(ordered: Sequence[CompiledPolicy]) -> tuple[str, str]:
    """(source, hash) of a file made from every policy: their common folder, a hash of hashes."""
    sources = [c.source for c in ordered]
    if len(sources) == 1:
        source = sources[0]
    elif sources:
        try:
            common = posixpath.commonpath(sources)
        except ValueError:  # absolute and relative paths mixed
            common = ""
        source = f"{common}/" if common else f"{len(sources)} policies"
    else:
        source = "no policies"
    listing = "\n".join(f"{c.policy.id} {c.content_hash}" for c in ordered)
    return source, "sha256:" + hashlib.sha256(listing.encode("utf-8")).hexdigest()


def _header(version: str, source: str, content_hash: str) -> str:
    shown = source if source.isprintable() and source.strip() == source else repr(source)
    return (f"# @generated by dqmc {version} from {shown} ({content_hash})\n"
            "# DO NOT EDIT. Change the source policy and run `dqmc build`.\n")


_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(_TEMPLATES)), undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
_ENVIRONMENT.filters["lit"] = lit


def _render(template: str, **context: object) -> str:
    return _ENVIRONMENT.get_template(template).render(**context)
