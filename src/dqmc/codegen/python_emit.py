"""Python generator: checked policies (IR) → the standard-library package dqm_policies."""

# Each policy becomes one module: a reader of plain-JSON claims written out for the policy
# (`evaluate_plain`: fields straight into local values, quantities in thousandths, dates as
# ordinals, the product, unit and channel looked up in the policy's constant tables), every limit
# and approval as a constant rule record under its `# file:line` comment, every product with its
# plan of limits per channel, a selector function wherever limits are chosen by age band or
# package, and one three-valued condition function per criterion. The decision code those tables
# drive (`judge`, `check_rules`, authorizations, and `decide_claim` for claims read by
# `parse_claim`) is written once, in the package `dqmc.runtime`, copied into the package as
# `_runtime/`:
# repeating it in every module would make a 1,000-policy package several times larger to build
# and to load, for no speed. The registry `__init__.py` holds a hoisted index of product ids,
# NDCs and policy ids to module names and imports a policy module only when a claim or request
# first needs it.
#
# Safety and determinism: spec text reaches code only through `lit()` (repr) — docstrings and
# comments included; identifiers come from ids through `identifier()`; every Python file is
# compiled before it is returned; policies are emitted in policy-id order and everything else in
# source order, so the output is byte-identical across runs, hash seeds and input orders.

from __future__ import annotations

import datetime as dt
import hashlib
import keyword
import posixpath
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import jinja2

from dqmc import runtime as rt
from dqmc.codegen.contracts import schema_files
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.ir import nodes, queries
from dqmc.lang.ir.canonical import decimal_text
from dqmc.lang.parallel import ordered_map

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
    for name, text in _emit_runtime(version).items():
        files[f"{PACKAGE}/{RUNTIME_MODULE}/{name}"] = text
    # The data contracts, verbatim (docs/contracts.md): package data, not modules.
    for name, text in schema_files().items():
        files[f"{PACKAGE}/schemas/{name}"] = text
    files["pyproject.toml"] = _render("python_pyproject.toml.j2", version=version,
                                      header=_header(version, *_combined_provenance(ordered)))
    # Compiling is 60% of emitting a large package, and texts are cheap to send to a worker
    # (policies are not: rendering stays in this process).
    ordered_map(_check_compiles, [(p, t) for p, t in files.items() if p.endswith(".py")])
    return dict(sorted(files.items()))


def _check_compiles(path_and_text: tuple[str, str]) -> None:
    """EmitError unless Python compiles the generated module."""
    # Compiled rather than only parsed: a stricter check (names bound as the scopes allow,
    # `return` only in functions) that is also cheaper than building the AST.
    path, text = path_and_text
    try:
        compile(text, path, "exec", dont_inherit=True)
    except SyntaxError as exc:  # pragma: no cover - a generator bug
        raise EmitError(f"generated {path} is not valid Python: {exc}") from exc


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
    """One rule (a base limit or an approval) as a constant the checks read."""

    name: str  # _LIMIT_1, _APPROVAL_2
    location: str  # comment text
    doc: str  # comment text: what the rule says
    call: str  # the rt.rule(...) expression


@dataclass
class SelectorView:
    """The selection among one product's limits at one channel by age band and package."""

    function: str
    doc: str
    lines: list[str]


@dataclass
class ProductView:
    """One product: its names, packages and, per channel with limits, its plan."""

    name: str  # _PRODUCT_1
    location: str
    call: str  # the rt.product(...) expression


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
    requested: str
    serves: str
    requested_for: str  # the literal tuple; empty when the criterion names no products


class _ConditionCode(nodes.Visitor[str]):
    """A condition as a three-valued Python expression, one operand per line, at `depth`."""

    def __init__(self, emitter: _PolicyEmitter, names: dict[str, str], depth: int) -> None:
        self.emitter, self.names, self.depth = emitter, names, depth

    def _inner(self, expr: nodes.Expr) -> str:
        return _ConditionCode(self.emitter, self.names, self.depth + 1).visit(expr)

    def _all(self, helper: str, operands: tuple[nodes.Expr, ...]) -> str:
        pad = "    " * self.depth
        inner = "".join(f"{pad}    {self._inner(e)},\n" for e in operands)
        return f"{helper}(\n{inner}{pad})"

    def visit_And(self, expr: nodes.And) -> str:
        return self._all("rt.all_of", expr.operands)

    def visit_Or(self, expr: nodes.Or) -> str:
        return self._all("rt.any_of", expr.operands)

    def visit_Not(self, expr: nodes.Not) -> str:
        pad = "    " * self.depth
        label = self.emitter._leaf_label(expr)
        inner = self._inner(expr.operand)
        return f"rt.negation(\n{pad}    {inner},\n{pad}    {label},\n{pad})"

    def generic_visit(self, expr: nodes.Node) -> str:
        assert isinstance(expr, nodes.LEAF_TYPES), expr
        label = self.emitter._leaf_label(expr)
        name = self.names[expr.fact]
        test = self.emitter._leaf_test(expr, name)
        return f"rt.leaf(None if {name} is None else {test}, {label})"


class _PolicyEmitter:
    """Builds the view model of one policy module and renders it."""

    def __init__(self, item: CompiledPolicy, version: str) -> None:
        self.item = item
        self.policy = item.policy
        self.version = version
        self.names = Namer(["evaluate", "evaluate_plain", "evaluate_claim", "decide", "review",
                            "decide_review"])
        self.uses_date = False
        self.leaves: list[tuple[str, str]] = []  # (name, literal) of condition labels
        self.values: list[tuple[str, str]] = []  # (name, literal) of hoisted comparison values
        self.sets: dict[tuple[str, ...], str] = {}  # frozenset contents → constant name
        self.selectors: list[SelectorView] = []
        # (index, limit) by target: each product looks up its own limits, not every limit.
        self.limits_by_target: dict[str, list[tuple[int, nodes.Limit]]] = {}
        for index, limit in enumerate(self.policy.limits):
            self.limits_by_target.setdefault(limit.target, []).append((index, limit))

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
        channels = queries.known_channels(policy)
        # Product-level NDCs first, then each package's, as the interpreter reads them.
        ndcs: dict[str, tuple[str, str | None]] = {}
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
            at_policy=lit(queries.location(policy)),
            daily_rate=lit(policy.daily_rate_check), uses_date=self.uses_date,
            sets=[(name, frozenset_lit(values)) for values, name in self.sets.items()],
            rules=[*limits, *approvals.values()], selectors=self.selectors, products=products,
            criteria=criteria, leaves=self.leaves, values=self.values, has_ndcs=bool(ndcs),
            drug_file=any(p.drug_file_sized for p in policy.products),
            therapy=any(isinstance(lim.rule, nodes.TherapyMax) for lim in policy.limits)
            or any(isinstance(a.rule, nodes.TherapyMax) for c in policy.criteria
                   for a in c.approves),
            ndcs=dict_lit((lit(k), lit(v)) for k, v in ndcs.items()),
            product_table=dict_lit((lit(p.id), v.name)
                                   for p, v in zip(policy.products, products, strict=True)),
            facts=dict_lit((lit(k), lit(v)) for k, v in queries.review_facts(policy).items()),
            review_targets=dict_lit((lit(k), lit(v))
                                    for k, v in queries.review_targets(policy).items()),
            # only a policy with an `approve requested` criterion checks a requested unit
            review_units=(dict_lit((lit(k), lit(v))
                                   for k, v in queries.review_units(policy).items())
                          if any(c.approves_requested for c in policy.criteria) else ""),
            criteria_at=dict_lit((lit(c.id), lit(queries.location(c)))
                                 for c in policy.criteria))

    def _set(self, values: Sequence[str]) -> str:
        """The name of a hoisted frozenset with these members (one constant per distinct set)."""
        key = tuple(values)
        if key not in self.sets:
            self.sets[key] = f"_SET_{len(self.sets) + 1}"
        return self.sets[key]

    # -- rules --------------------------------------------------------------------------------

    def _rule(self, rule: nodes.Rule, target: str, channel: str | None, node: object, const: str,
              origin: str, hard: bool, criterion: str | None = None) -> RuleView:
        """A rule's constant; `origin` is "base" for a limit, "override" for an approval."""
        kind, quantity, unit, days, fills, max_days = queries.rule_fields(rule)
        products = queries.scope_products(self.policy, target)
        location = queries.location(node)
        options = ""
        if hard:
            options += ", hard=True"
        if origin != "base":
            options += f", origin={lit(origin)}"
        if self.policy.daily_rate_check and kind == "per_window":
            options += ", daily_rate=True"
        noun = queries.drug_file_noun(self.policy, rule)
        if noun is not None:
            options += f", noun={lit(noun)}"
        quantity_text = None if quantity is None else decimal_text(quantity)
        call = (f"rt.rule({lit(kind)}, {lit(quantity_text)}, {lit(unit)}, {lit(days)}, "
                f"{lit(fills)}, {lit(max_days)},\n"
                f"    {self._set(products)}, "
                f"{self._set(queries.scope_ndcs(self.policy, products))}, "
                f"{lit(location)}{options})")
        where = "every channel" if channel is None else channel
        named = f"criterion {criterion}: " if criterion else ""
        ceiling = " (hard ceiling)" if hard else ""
        return RuleView(name=const, location=comment(location),
                        doc=comment(f"{named}{target} at {where}: "
                                    f"{queries.rule_text(rule)}{ceiling}"),
                        call=call)

    # -- products and channels ----------------------------------------------------------------

    def _product(self, index: int, product: nodes.Product, limits: list[RuleView],
                 approvals: dict[tuple[int, int], RuleView]) -> ProductView:
        policy = self.policy
        group = queries.group_of(policy, product.id)
        targets = (product.id,) if group is None else (product.id, group.id)
        own_scope = queries.own_products(policy, product)
        location = queries.location(product)
        plans = []
        for channel in queries.known_channels(policy):
            candidates = sorted((i, lim) for target in targets
                                for i, lim in self.limits_by_target.get(target, ())
                                if lim.channel in (None, channel))
            if not candidates:
                continue
            table = []
            for c, criterion in enumerate(policy.criteria):
                chosen = [approvals[(c, a)].name for a, approval in enumerate(criterion.approves)
                          if approval.target in targets and approval.channel in (None, channel)]
                if chosen:
                    table.append((lit(criterion.id), names_tuple(chosen)))
            select = ""
            if any(lim.when or lim.since is not None for _, lim in candidates):
                select = ", " + self._selector(product, channel, candidates, limits)
            rules = names_tuple([limits[i].name for i, _ in candidates])
            plans.append(f"{lit(channel)}: ({rules}, {dict_lit(table, 4)}{select}),")
        options = []
        if group is not None:
            options.append(f"group={lit(group.id)}, scope={self._set(own_scope)}")
        if queries.product_ndcs(product):
            options.append(f"ndcs={lit(queries.product_ndcs(product))}")
        scope_ndcs = queries.scope_ndcs(policy, own_scope)
        if scope_ndcs:
            options.append(f"scope_ndcs={self._set(scope_ndcs)}")
        if product.packages:
            options.append("sizes=" + dict_lit(
                (lit(p.id), lit(None if p.size is None else decimal_text(p.size.amount)))
                for p in product.packages))
        required = queries.authorization_source(policy, product)
        if required is not None:
            options.append(f"authorization={lit(required)}")
        call = (f"rt.product(\n    {lit(product.id)}, {lit(product.unit)}, {lit(location)},\n"
                + "".join(f"    {option},\n" for option in options)
                + "    plans={" + "".join(f"\n        {plan}" for plan in plans) + "\n    })")
        return ProductView(name=f"_PRODUCT_{index}", location=comment(location), call=call)

    def _selector(self, product: nodes.Product, channel: str,
                  candidates: list[tuple[int, nodes.Limit]], limits: list[RuleView]) -> str:
        """A function choosing the base limits whose selectors hold; refusing what cannot be
        told."""
        function = self.names(f"_select_{identifier(product.id)}_{identifier(channel)}")
        lines = ["base = []"]
        for index, limit in candidates:
            location = queries.location(limit)
            lines.append(f"# {comment(location)}")
            depth = 0
            if limit.since is not None:
                # Decided first: a rule not yet implemented needs nothing else from the claim.
                lines.append(f"if end >= {lit(limit.since.toordinal())}:  # since "
                             f"{limit.since.isoformat()}")
                depth = 1
            for selector in limit.when:
                pad = "    " * depth
                if isinstance(selector, nodes.AgeBand):
                    detail = (f"the limit at {location} depends on age and the claim has no "
                              "member.birth_date")
                    lines.append(f"{pad}if birth is None:")
                    lines += _refusal(pad + "    ", "CODE_BIRTH_DATE", "M/I DATE OF BIRTH", detail,
                                      location)
                    age = "rt.age_between(birth, end)"
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
            lines.append(f"{'    ' * depth}base.append({limits[index].name})")
        lines.append("return tuple(base)")
        self.selectors.append(SelectorView(
            function=function, lines=lines,
            doc=docstring(f"The base limits of {product.id} at {channel} that the claim's date, "
                          "age and package select.")))
        return function

    # -- criteria -----------------------------------------------------------------------------

    def _criterion(self, criterion: nodes.Criterion) -> CriterionView:
        function = self.names(f"_when_{identifier(criterion.id)}")
        local = Namer(["answers", "rt", "date", "Decimal"])
        fact_names = {}
        for fact in queries.condition_facts(criterion.when):
            word = identifier(fact)
            fact_names[fact] = local(word if not word[0].isdigit() else f"fact_{word}")
        lines = [f"{name} = answers.get({lit(fact)})" for fact, name in fact_names.items()]
        lines += ("return " + self._condition(criterion.when, fact_names, 0)).split("\n")
        duration = queries.approval_duration(self.policy, criterion)
        approved = [f"rt.ApprovedLimit({lit(a.target)}, {lit(a.channel)}, {lit(a.kind)},\n"
                    f"                 {lit(a.quantity)}, {lit(a.unit)}, {lit(a.days)}, "
                    f"{lit(a.text)})"
                    for a in queries.approved_limits(self.policy, criterion)]
        condition = queries.condition_text(criterion.when)
        return CriterionView(
            function=function, location=comment(queries.location(criterion.when)),
            doc=docstring(f"Criterion {criterion.id}: {condition}"), lines=lines,
            id=lit(criterion.id), renews=lit(criterion.renews), approved=approved,
            duration=lit(queries.duration_fields(duration)),
            requested=lit(criterion.approves_requested), serves=lit(criterion.serves),
            requested_for=lit(criterion.requested_for) if criterion.requested_for else "")

    def _condition(self, expr: nodes.Expr, names: dict[str, str], depth: int) -> str:
        """A three-valued expression for a condition, one operand per line."""
        return _ConditionCode(self, names, depth).visit(expr)

    def _leaf_test(self, expr: nodes.Leaf, name: str) -> str:
        """The Python test of one leaf over its fact's answer, bound to `name`."""
        if isinstance(expr, nodes.FactRef):
            return f"{name} is True"
        if isinstance(expr, nodes.InSet):
            return f"{name} in {lit(expr.values)}"
        if isinstance(expr, nodes.Subset):
            return f"{name} <= {self._value(frozenset_lit(expr.values))}"
        value = expr.value
        if isinstance(value, bool) and expr.op in ("==", "!="):
            return f"{name} {'is' if expr.op == '==' else 'is not'} {value!r}"
        if isinstance(value, dt.date):
            self.uses_date = True
        shown = lit(value) if isinstance(value, str) else self._value(lit(value))
        return f"{name} {expr.op} {shown}"

    def _leaf_label(self, expr: nodes.Expr) -> str:
        name = f"_LEAF_{len(self.leaves) + 1}"
        text = queries.condition_text(expr)
        self.leaves.append((name, lit((text, queries.condition_facts(expr)))))
        return name

    def _value(self, literal: str) -> str:
        name = f"_VALUE_{len(self.values) + 1}"
        self.values.append((name, literal))
        return name


def _refusal(pad: str, code: str, text: str, detail: str, location: str) -> list[str]:
    """Lines returning the rt.Refusal of a selector the claim cannot answer."""
    indent = pad + " " * len("return rt.Refusal(")
    return [f"{pad}return rt.Refusal(rt.{code}, {lit(text)},",
            f"{indent}{lit(detail)},",
            f"{indent}{lit(location)})"]


# ---------------------------------------------------------------------------------------------
# Registry, runtime, headers


def _emit_registry(ordered: Sequence[CompiledPolicy], modules: Sequence[str], version: str) -> str:
    by_product: dict[str, str] = {}
    by_ndc: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for item, module in zip(ordered, modules, strict=True):
        for product in item.policy.products:
            by_product.setdefault(product.id, module)
            for ndc in queries.product_ndcs(product):
                by_ndc.setdefault(ndc, module)
        for name in queries.review_targets(item.policy):
            by_name.setdefault(name, module)
    by_policy = {item.policy.id: module for item, module in zip(ordered, modules, strict=True)}
    # The registry is imported on a service's first claim: keep it small. A review's name is
    # looked up here first, then as a product id, then as an NDC, so only the names for which
    # those tables would answer differently are listed.
    by_name = {name: module for name, module in by_name.items()
               if (by_product.get(name) or by_ndc.get(name)) != module}
    listing = [lit((item.policy.id, item.policy.title, item.content_hash, item.source, module))
               for item, module in zip(ordered, modules, strict=True)]
    fallback, routes = queries.fallback_routes(ordered)
    fallback_module = (modules[list(ordered).index(fallback)] if fallback is not None else None)

    def table(mapping: dict[str, str]) -> str:
        return dict_lit((lit(k), lit(v)) for k, v in mapping.items())

    return _render("python_init.py.j2", header=_header(version, *_combined_provenance(ordered)),
                   by_product=table(by_product), by_ndc=table(by_ndc), by_name=table(by_name),
                   by_policy=table(by_policy), listing=listing, fallback=lit(fallback_module),
                   routed=dict_lit((lit(k), lit(v)) for k, v in routes.items()))


def _emit_runtime(version: str) -> dict[str, str]:
    """{file name: text} of the runtime package, each file under a header naming its source."""
    files = {}
    for path in sorted(Path(rt.__file__).parent.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        digest = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
        files[path.name] = _header(version, f"src/dqmc/runtime/{path.name}", digest) + text
    return files


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
