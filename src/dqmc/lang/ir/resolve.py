"""Name resolution: every reference of a lowered policy bound to what it names.

The front ends lower ids as written: `Ref`s that carry where the source names them (the
unresolved IR). This pass, run by the pipeline between lowering and the checks, binds each
reference (a limit's or approval's target, a group member, a condition's fact, a renewed
criterion, a package selector, a channel, an `approve requested` target) to its definition, and
reports a reference that names nothing at the reference itself. It gives a `ResolvedPolicy`: the
policy with every id a plain `str` (what checks, generators and the evaluators read, and what
reaches generated data, whose readers check ids by exact type), its definitions, and its uses
with their spans, from which the language server answers definitions, references and hovers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from dqmc.lang.diagnostics import Diagnostic
from dqmc.lang.ir import nodes
from dqmc.lang.source import NO_SPAN, Span, known_or

# What a definition is, and what a reference may name (a target: a product or a group).
PRODUCT, GROUP, FACT, CRITERION, CHANNEL, PACKAGE = (
    "product", "group", "fact", "criterion", "channel", "package")
TARGET = "target"


@dataclass(frozen=True, slots=True)
class Definition:
    """Something the policy defines: its kind, id, where the id is written, and the node.
    `owner` scopes a package to its product."""

    kind: str
    id: str
    span: Span
    node: nodes.Node = field(compare=False)
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class Use:
    """One reference as written: what it may name, its id, where, and what it names (None:
    nothing this policy defines)."""

    kind: str  # TARGET, FACT, CRITERION, CHANNEL or PACKAGE
    id: str
    span: Span
    definition: Definition | None


def _contains(span: Span, line: int, col: int) -> bool:
    """Whether a cursor at (line, col) touches the span: its end counts, as editors expect."""
    return span != NO_SPAN and (span.line, span.col) <= (line, col) <= (span.end_line,
                                                                         span.end_col)


@dataclass(frozen=True)
class ResolvedPolicy:
    """A policy with every reference bound: its definitions and its uses, in source order.
    `policy` holds plain ids; where each was written is in `definitions` and `uses`."""

    policy: nodes.Policy
    definitions: tuple[Definition, ...]
    uses: tuple[Use, ...]

    def at(self, line: int, col: int) -> Definition | Use | None:
        """The definition or reference whose id is under a cursor, if any."""
        for use in self.uses:
            if _contains(use.span, line, col):
                return use
        return next((d for d in self.definitions if _contains(d.span, line, col)), None)

    def definition_of(self, item: Definition | Use) -> Definition | None:
        return item if isinstance(item, Definition) else item.definition

    def uses_of(self, definition: Definition) -> list[Use]:
        """Every reference bound to a definition, in source order."""
        return [use for use in self.uses if use.definition == definition]

    def same_symbol(self, item: Definition | Use) -> list[Definition | Use]:
        """The definition of what an item names (when the policy defines it) and every reference
        to it; for a name defined nowhere, every reference to that name."""
        definition = self.definition_of(item)
        if definition is not None:
            return [definition, *self.uses_of(definition)]
        return [use for use in self.uses
                if use.definition is None and (use.kind, use.id) == (item.kind, item.id)]


def resolve(policy: nodes.Policy) -> tuple[ResolvedPolicy, list[Diagnostic]]:
    """Bind every reference of a policy; unknown references reported where they are written."""
    definitions = tuple(_definitions(policy))
    binder = _Binder(policy, definitions)
    uses = tuple(binder.uses())
    plain = cast(nodes.Policy, policy.transform(_plain_ids))
    return ResolvedPolicy(plain, definitions, uses), binder.diagnostics


_CONTENT_FIELDS: dict[type, tuple[str, ...]] = {}


def _plain_ids(node: nodes.Node) -> nodes.Node:
    """The node with each Ref among its fields (or in a tuple field) made its plain id."""
    names = _CONTENT_FIELDS.get(type(node))
    if names is None:  # ids are content: spans and the policy's index hold none
        names = _CONTENT_FIELDS[type(node)] = tuple(
            f.name for f in dataclasses.fields(node) if f.compare)  # type: ignore[arg-type]
    changes: dict[str, Any] = {}
    for name in names:
        value = getattr(node, name)
        if isinstance(value, nodes.Ref):
            changes[name] = value.id
        elif isinstance(value, tuple) and any(isinstance(v, nodes.Ref) for v in value):
            changes[name] = tuple(v.id if isinstance(v, nodes.Ref) else v for v in value)
    return dataclasses.replace(node, **changes) if changes else node  # type: ignore[type-var]


def _at(item_id: str, fallback: Span) -> Span:
    return nodes.ref_span(item_id, fallback)


def _definitions(policy: nodes.Policy) -> Iterator[Definition]:
    for channel in policy.channels:
        if channel.span != NO_SPAN:  # the channels every policy knows are written nowhere
            yield Definition(CHANNEL, channel.id, _at(channel.id, channel.span), channel)
    for product in policy.products:
        yield Definition(PRODUCT, product.id, _at(product.id, product.span), product)
        for package in product.packages:
            yield Definition(PACKAGE, package.id, _at(package.id, package.span), package,
                             owner=product.id)
    for group in policy.groups:
        yield Definition(GROUP, group.id, _at(group.id, group.span), group)
    for fact in policy.facts:
        yield Definition(FACT, fact.id, _at(fact.id, fact.span), fact)
    for criterion in policy.criteria:
        yield Definition(CRITERION, criterion.id, _at(criterion.id, criterion.span), criterion)


def _known(items: Iterable[nodes.Product | nodes.Group | nodes.Fact]) -> str:
    ids = [i.id for i in items]
    return f" (known: {', '.join(ids)})" if ids else ""


class _Binder:
    def __init__(self, policy: nodes.Policy, definitions: tuple[Definition, ...]) -> None:
        self.policy = policy
        self.diagnostics: list[Diagnostic] = []
        self.first: dict[tuple[str, str | None, str], Definition] = {}
        for d in definitions:  # of a duplicated id the first, as the policy's index has it
            self.first.setdefault((d.kind, d.owner, d.id), d)
        self.packages: dict[str, list[Definition]] = {}
        for d in definitions:
            if d.kind == PACKAGE and d.owner is not None:
                self.packages.setdefault(d.owner, []).append(d)
        self.channel_ids = ", ".join(sorted({c.id for c in policy.channels}))

    def find(self, kind: str, ref: str, owner: str | None = None) -> Definition | None:
        if kind == TARGET:
            return self.first.get((PRODUCT, None, ref)) or self.first.get((GROUP, None, ref))
        return self.first.get((kind, owner, ref))

    def use(self, kind: str, ref: str) -> Use:
        return Use(kind, ref, nodes.ref_span(ref), self.find(kind, ref))

    def report(self, code: str, message: str, span: Span) -> None:
        self.diagnostics.append(Diagnostic(code, message, span))

    def uses(self) -> Iterator[Use]:
        policy = self.policy
        targets_known = _known(policy.products + policy.groups)
        for group in policy.groups:
            for member in group.products:
                use = self.use(PRODUCT, member)
                if use.definition is None:
                    self.report("group.unknown-product",
                                f"group '{group.id}' names unknown product '{member}'"
                                f"{_known(policy.products)}", _at(member, group.span))
                yield use
        unknown: set[str] = set()  # a limit's unknown target reported once, where first named
        for limit in policy.limits:
            target = self.use(TARGET, limit.target)
            if target.definition is None and limit.target not in unknown:
                unknown.add(limit.target)
                self.report("limit.unknown-product",
                            f"limit names unknown product or group '{limit.target}'"
                            f"{targets_known}", _at(limit.target, _named_at(limit)))
            yield target
            if limit.channel is not None:
                if target.definition is not None and policy.channel(limit.channel) is None:
                    self.report("limit.unknown-channel",
                                f"unknown channel '{limit.channel}'; use {self.channel_ids} or "
                                "`all`, or declare it with `channel ID \"Label\"`",
                                _at(limit.channel, limit.span))
                yield self.use(CHANNEL, limit.channel)
            for selector in limit.when:
                if isinstance(selector, nodes.PackageIs):
                    yield self._package(limit.target, target.definition is not None, selector)
        yield from self._facts(leaf for c in policy.criteria for leaf in nodes.leaves(c.when))
        for criterion in policy.criteria:
            yield from self._criterion(criterion, targets_known)

    def _package(self, target: str, target_known: bool, selector: nodes.PackageIs) -> Use:
        """A package selector names a package of the limit's product, or of a member of its
        group; reported when the target is known and has no such package."""
        package = selector.package
        group = self.policy.group(target)
        products = list(group.products) if self.policy.product(target) is None and group else [
            target]
        found = next((d for p in products if (d := self.find(PACKAGE, package, p)) is not None),
                     None)
        if found is None and target_known:
            known = sorted({d.id for p in products for d in self.packages.get(p, ())})
            self.report("limit.unknown-package",
                        f"'{target}' has no package '{package}'"
                        f"{' (known: ' + ', '.join(known) + ')' if known else ''}",
                        _at(package, selector.span))
        return Use(PACKAGE, package, nodes.ref_span(package), found)

    def _facts(self, found: Iterable[nodes.Leaf]) -> Iterator[Use]:
        policy = self.policy
        for leaf in found:
            use = self.use(FACT, leaf.fact)
            if use.definition is None:
                self.report("fact.unknown",
                            f"unknown fact '{leaf.fact}'; declare it with `fact {leaf.fact}: "
                            f"TYPE \"question\"`{_known(policy.facts)}", _at(leaf.fact, leaf.span))
            yield use

    def _criterion(self, criterion: nodes.Criterion, targets_known: str) -> Iterator[Use]:
        if criterion.renews is not None:
            use = self.use(CRITERION, criterion.renews)
            if use.definition is None:
                self.report("criterion.renews-unknown",
                            f"criterion '{criterion.id}' renews '{criterion.renews}', which is "
                            "not another criterion of this policy",
                            _at(criterion.renews, criterion.span))
            yield use
        unknown: set[str] = set()  # reported once per criterion, where the source names it
        named_at = criterion.requested_for_span
        for index, target in enumerate(criterion.requested_for):
            use = self.use(TARGET, target)
            if use.definition is None and target not in unknown:
                unknown.add(target)
                written = named_at[index] if index < len(named_at) else NO_SPAN
                self.report("criterion.unknown-product",
                            f"`approve requested` names unknown product or group '{target}'"
                            f"{targets_known}",
                            _at(target, known_or(written, criterion.span)))
            yield use
        for approval in criterion.approves:
            use = self.use(TARGET, approval.target)
            if use.definition is None and approval.target not in unknown:
                unknown.add(approval.target)
                self.report("criterion.unknown-product",
                            f"approval names unknown product or group '{approval.target}'"
                            f"{targets_known}", _at(approval.target, _named_at(approval)))
            yield use
            if approval.channel is not None:
                if use.definition is not None and self.policy.channel(approval.channel) is None:
                    self.report("criterion.unknown-channel",
                                f"unknown channel '{approval.channel}'; use {self.channel_ids} "
                                "or `all`", _at(approval.channel, approval.span))
                yield self.use(CHANNEL, approval.channel)


def _named_at(item: nodes.Limit | nodes.Approval) -> Span:
    """Where the source names a target; the whole line for an IR built without positions."""
    return known_or(item.target_span, item.span)
