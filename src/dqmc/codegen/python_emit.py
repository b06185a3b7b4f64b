"""Python generator: checked policies' plans → the standard-library package dqm_policies."""

# Each policy becomes one module of tables written from its plan (dqmc.lang.plan, through
# `CompiledPolicy.plan`): every limit and approval as a constant `rt.rule(kind=..., ...)` under
# its `# file:line` comment, every product with its plan of limits per channel, a selector
# function wherever limits are chosen by implementation date, age band or package (dates
# written as `date(2008, 8, 6)`), and, from the IR, one three-valued condition function per
# criterion for exception review. Arguments are named and left out at their defaults. The code
# those tables drive is written once, in the package `dqmc.runtime`, copied into the package
# as `_runtime/`: the plain-JSON reader (`decide_plain`, bound to the module's policy as its
# `evaluate_plain`), `judge`, the checks per rule kind, authorizations, and `decide_claim` for
# claims read by `parse_claim`. Repeating it in every module would make a 1,000-policy package
# several times larger to build and to load, for no speed. The registry `__init__.py` holds a
# hoisted index of product ids, NDCs and policy ids to module names and imports a policy module
# only when a claim or request first needs it.
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
from dqmc.lang import plan as plan_ir
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
        for kept, name in zip(item.earlier, version_modules(module, item), strict=True):
            files[f"{PACKAGE}/{name}.py"] = emit_policy_module(kept, version=version)
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


def version_modules(module: str, item: CompiledPolicy) -> list[str]:
    """The module of each kept version of a policy, by its last day: anzupgo_dqm__2025_11_11.

    `module_names` never writes two underscores in a row, so these cannot be a policy's."""
    return [f"{module}__{kept.last_day:%Y_%m_%d}" for kept in item.earlier]


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


def keyword_call(function: str, arguments: Sequence[tuple[str, str]], indent: int = 0) -> str:
    """`function(name=value, ...)` from (name, value source text) pairs, wrapped under its
    opening parenthesis when longer than a line."""
    pad = " " * (indent + len(function) + 1)
    lines: list[str] = []
    line = ""
    for k, (name, value) in enumerate(arguments):
        item = f"{name}={value}" + (", " if k < len(arguments) - 1 else "")
        if line and len(pad) + len(line) + len(item) > 96:
            lines.append(line.rstrip())
            line = ""
        line += item
    lines.append(line)
    return f"{function}(" + f"\n{pad}".join(lines) + ")"


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
    """Builds the view model of one policy module from its plan (`CompiledPolicy.plan`) and, for
    exception review, from the IR's criteria, and renders it."""

    def __init__(self, item: CompiledPolicy, version: str) -> None:
        self.item = item
        self.policy = item.policy
        self.plan = item.plan
        self.version = version
        self.names = Namer(["evaluate", "evaluate_plain", "evaluate_claim", "decide", "review",
                            "decide_review"])
        self.uses_date = False
        self.leaves: list[tuple[str, str]] = []  # (name, literal) of condition labels
        self.values: list[tuple[str, str]] = []  # (name, literal) of hoisted comparison values
        self.sets: dict[tuple[str, ...], str] = {}  # frozenset contents → constant name
        self.since: dict[dt.date, str] = {}  # implementation date → its ordinal's constant
        self.selectors: list[SelectorView] = []
        self.rule_names: dict[int, str] = {}  # id() of a RulePlan → its constant

    def render(self) -> str:
        plan, item = self.plan, self.item
        rules = [self._rule(r, f"_LIMIT_{i}") for i, r in enumerate(plan.limits, 1)]
        rules += [self._rule(r, f"_APPROVAL_{i}") for i, r in enumerate(plan.approvals, 1)]
        products = [self._product(p, product) for p, product in enumerate(plan.products, 1)]
        criteria = [self._criterion(c) for c in self.policy.criteria]
        return _render(
            "python_policy.py.j2",
            header=_header(self.version, item.source, item.content_hash),
            policy_id=lit(plan.id), policy_hash=lit(item.content_hash), title=lit(plan.title),
            source=lit(item.source), reject_code=lit(plan.reject_code),
            channels=lit(plan.channels), at_policy=lit(plan.source),
            daily_rate=lit(plan.daily_rate), uses_date=self.uses_date,
            sets=[(name, frozenset_lit(values)) for values, name in self.sets.items()],
            since=[(name, f"{lit(day)}.toordinal()") for day, name in sorted(self.since.items())],
            rules=rules, selectors=self.selectors, products=products,
            criteria=criteria, leaves=self.leaves, values=self.values,
            ndcs=dict_lit((lit(c.ndc), lit((c.product, c.package))) for c in plan.ndcs),
            product_table=dict_lit((lit(p.id), v.name)
                                   for p, v in zip(plan.products, products, strict=True)),
            facts=dict_lit((lit(k), lit(v)) for k, v in queries.review_facts(self.policy).items()),
            review_targets=dict_lit((lit(k), lit(v))
                                    for k, v in queries.review_targets(self.policy).items()),
            # only a policy with an `approve requested` criterion checks a requested unit
            review_units=(dict_lit((lit(k), lit(v))
                                   for k, v in queries.review_units(self.policy).items())
                          if any(c.approves_requested for c in self.policy.criteria) else ""),
            criteria_at=dict_lit((lit(c), lit(at)) for c, at in plan.criteria_at))

    def _set(self, values: Sequence[str]) -> str:
        """The name of a hoisted frozenset with these members (one constant per distinct set)."""
        key = tuple(values)
        if key not in self.sets:
            self.sets[key] = f"_SET_{len(self.sets) + 1}"
        return self.sets[key]

    def _since(self, day: dt.date) -> str:
        """The constant holding an implementation date as the ordinal claims' dates are read
        as: written `date(2008, 8, 6).toordinal()`, compared as an int."""
        self.uses_date = True
        if day not in self.since:
            self.since[day] = f"_SINCE_{day.year}_{day.month:02}_{day.day:02}"
        return self.since[day]

    # -- rules --------------------------------------------------------------------------------

    def _rule(self, r: plan_ir.RulePlan, const: str) -> RuleView:
        """A rule's constant: rt.rule(...) with every argument not at its default named."""
        self.rule_names[id(r)] = const
        arguments = [
            ("kind", lit(r.kind), False),
            ("quantity", lit(None if r.quantity is None else decimal_text(r.quantity)),
             r.quantity is None),
            ("unit", lit(r.unit), r.unit is None),
            ("days", lit(r.days), r.days is None),
            ("fills", lit(r.fills), r.fills is None),
            ("max_days", lit(r.max_days), r.max_days is None),
            ("scope", self._set(r.scope) if r.scope else "", not r.scope),
            ("ndcs", self._set(r.scope_ndcs) if r.scope_ndcs else "", not r.scope_ndcs),
            ("source", lit(r.source), False),
            ("hard", "True", not r.hard),
            ("origin", lit(r.origin), r.origin == plan_ir.BASE),
            ("daily_rate", "True", not r.daily_rate),
            ("noun", lit(r.noun), r.noun is None),
            ("terms", dict_lit((lit(k), lit(decimal_text(v))) for k, v in r.terms or ()),
             r.terms is None),
            ("overrides", lit(r.overrides), not r.overrides),
            ("exempt", self._set(r.exempt) if r.exempt else "", not r.exempt),
            ("reject_code", lit(r.reject_code), r.reject_code is None),
        ]
        call = keyword_call("rt.rule", [(k, v) for k, v, default in arguments if not default],
                            len(f"{const} = "))
        where = "every channel" if r.channel is None else r.channel
        named = f"criterion {r.criterion}: " if r.criterion else ""
        ceiling = " (hard ceiling)" if r.hard else ""
        return RuleView(name=const, location=comment(r.source),
                        doc=comment(f"{named}{r.target} at {where}: {r.text}{ceiling}"),
                        call=call)

    # -- products and channels ----------------------------------------------------------------

    def _product(self, index: int, product: plan_ir.ProductPlan) -> ProductView:
        plans = []
        for channel in product.channels:
            entry = [("rules", names_tuple([self.rule_names[id(r)] for r in channel.rules])),
                     ("approvals", dict_lit(((lit(a.criterion),
                                              names_tuple([self.rule_names[id(r)]
                                                           for r in a.rules]))
                                             for a in channel.approvals), 8))]
            if channel.selects:
                entry.append(("select", self._selector(product, channel)))
            plans.append(f"{lit(channel.channel)}: "
                         + dict_lit(((lit(k), v) for k, v in entry), 8) + ",")
        options = [f"product_id={lit(product.id)}", f"unit={lit(product.unit)}",
                   f"location={lit(product.source)}"]
        if product.group is not None:
            options.append(f"group={lit(product.group)}, scope={self._set(product.scope)}")
        if product.ndcs:
            options.append(f"ndcs={lit(product.ndcs)}")
        if product.scope_ndcs:
            options.append(f"scope_ndcs={self._set(product.scope_ndcs)}")
        if product.packages:
            options.append("sizes=" + dict_lit(
                (lit(p.id), lit(None if p.size is None else decimal_text(p.size)))
                for p in product.packages))
        if product.authorization is not None:
            options.append(f"authorization={lit(product.authorization)}")
        call = ("rt.product(\n" + "".join(f"    {option},\n" for option in options)
                + "    plans={" + "".join(f"\n        {plan}" for plan in plans) + "\n    })")
        return ProductView(name=f"_PRODUCT_{index}", location=comment(product.source), call=call)

    def _selector(self, product: plan_ir.ProductPlan, channel: plan_ir.ChannelPlan) -> str:
        """A function choosing the base limits whose selectors hold; refusing what cannot be
        told."""
        function = self.names(f"_select_{identifier(product.id)}_{identifier(channel.channel)}")
        lines = ["base = []"]
        for r in channel.rules:
            location = r.source
            lines.append(f"# {comment(location)}")
            depth = 0
            selection = r.selection
            if selection is not None and selection.since is not None:
                # Decided first: a rule not yet implemented needs nothing else from the claim.
                lines.append(f"if end >= {self._since(selection.since)}:")
                depth = 1
            for condition in selection.conditions if selection is not None else ():
                pad = "    " * depth
                if isinstance(condition, plan_ir.AgeBand):
                    detail = (f"the limit at {location} depends on age and the claim has no "
                              "member.birth_date")
                    lines.append(f"{pad}if birth is None:")
                    lines += _refusal(pad + "    ", "CODE_BIRTH_DATE", "M/I DATE OF BIRTH", detail,
                                      location)
                    age = "rt.age_between(birth, end)"
                    low, high = condition.min_years, condition.max_years
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
                    test = f"package == {lit(condition.package)}"
                lines.append(f"{pad}if {test}:")
                depth += 1
            lines.append(f"{'    ' * depth}base.append({self.rule_names[id(r)]})")
        lines.append("return tuple(base)")
        self.selectors.append(SelectorView(
            function=function, lines=lines,
            doc=docstring(f"The base limits of {product.id} at {channel.channel} that the "
                          "claim's date, age and package select.")))
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
    module_of = {item.policy.id: module for item, module in zip(ordered, modules, strict=True)}
    by_id, by_code = queries.claim_routes(ordered)
    by_product = {name: module_of[item.policy.id] for name, item in by_id.items()}
    by_ndc = {ndc: module_of[item.policy.id] for ndc, item in by_code.items()}
    by_name = {name: module_of[item.policy.id]
               for name, item in queries.review_routes(ordered).items()}
    by_policy = module_of
    # The registry is imported on a service's first claim: keep it small. A review's name is
    # looked up here first, then as a product id, then as an NDC, so only the names for which
    # those tables would answer differently are listed.
    by_name = {name: module for name, module in by_name.items()
               if (by_product.get(name) or by_ndc.get(name)) != module}
    listing = [lit((item.policy.id, item.policy.title, item.content_hash, item.source, module))
               for item, module in zip(ordered, modules, strict=True)]
    # The versions of a policy whose claims are routed by date (docs/semantics.md §2.7): (policy
    # id, first day or None, last day of each kept version, module, period in words, spec line
    # of each version, oldest first, the live one last; the first version's content hash).
    versions = {}
    for item, module in zip(ordered, modules, strict=True):
        if item.dated:
            dated = item.versions
            versions[module] = lit((
                item.policy.id,
                None if dated[0].first_day is None else dated[0].first_day.isoformat(),
                tuple(k.last_day.isoformat() for k in item.earlier if k.last_day is not None),
                (*version_modules(module, item), module),
                tuple(rt.period_text(v.first_day, v.last_day) for v in dated),
                tuple(v.plan.source for v in dated),
                dated[0].content_hash))
    fallback, routes = queries.fallback_routes(ordered)
    fallback_module = (modules[list(ordered).index(fallback)] if fallback is not None else None)

    def table(mapping: dict[str, str]) -> str:
        return dict_lit((lit(k), lit(v)) for k, v in mapping.items())

    return _render("python_init.py.j2", header=_header(version, *_combined_provenance(ordered)),
                   by_product=table(by_product), by_ndc=table(by_ndc), by_name=table(by_name),
                   by_policy=table(by_policy), listing=listing,
                   versions=dict_lit((lit(k), v) for k, v in versions.items()),
                   fallback=lit(fallback_module),
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
