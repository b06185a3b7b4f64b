"""IR → canonical DSL text: `nodes.Policy` (plus the source's comments) → `.dqm` source.

The pieces (strings, quantities, rules, conditions and where a long one breaks) are spelled by
`dsl_fragments`; this module lays out whole policies and weaves the source's comments back in.
It re-exports the fragment printers, which the YAML printer, the language server and tests use.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from lark import Lark, Token, Tree

from dqmc.lang.frontend import lower_common as common
from dqmc.lang.frontend.dsl_parse import build_parser
from dqmc.lang.ir import nodes
from dqmc.lang.printers.dsl_fragments import (
    ConditionLayout,
    PrintError,
    condition_source_lines,
    format_decimal,
    format_duration,
    format_id,
    format_limit_tail,
    format_rule,
    format_string,
    format_symbols,
)
from dqmc.lang.source import SourceFile

__all__ = [
    "INDENT", "POLICY_END", "Comment", "Key", "SourceLayout", "collect_comments",
    "print_factors_file", "print_policy", "read_layout",
]

INDENT = 2

# Where a statement (or a block's closing brace) sits in the canonical layout. Both the printer
# and the source walk in `collect_comments` name statements this way, so a comment collected
# from the source finds the printed statement it belongs to even when items are reordered.
Key = tuple[object, ...]

POLICY_END: Key = ("policy", "end")  # after the policy's closing brace

_BLOCK_CLOSE = "}"


# ---------------------------------------------------------------------------------------------
# Comments


@dataclass(frozen=True, slots=True)
class Comment:
    """A `# ...` comment of the source and the statements it may be printed with, best first.

    A full-line comment goes before the first of `anchors` that is printed. A trailing comment
    (code before it on its line) goes at the end of its own statement, `anchors[0]`, or, when
    that statement is not printed or already has one, before the next printed anchor.
    """

    text: str
    line: int
    trailing: bool
    anchors: tuple[Key, ...]
    blank_before: bool = False  # a blank line separates it from what comes before
    blank_after: bool = False  # a blank line separates it from what comes after


_comment_sink: contextvars.ContextVar[list[Token] | None] = contextvars.ContextVar(
    "_comment_sink", default=None)


def _keep_comment(token: Token) -> Token:
    sink = _comment_sink.get()
    if sink is not None:
        sink.append(token)
    return token


@functools.lru_cache(maxsize=2)
def _commented_parser(start: str = "start") -> Lark:
    # The lowering parser's grammar and options (dsl_parse.build_parser); the grammar ignores
    # comments, and a lexer callback is the one place they are still seen, with their exact
    # positions. Every token is kept, so a condition's parentheses are in the tree (an `atom`
    # node around what they enclose) where the lowering parser drops them.
    return build_parser(keep_all_tokens=True, start=start,
                        lexer_callbacks={"COMMENT": _keep_comment})


@dataclass(frozen=True, slots=True)
class _SourceStatement:
    key: Key
    start: int
    end: int  # exclusive; for a block, just past its closing brace
    close: Key | None  # a block's closing brace


_SETTINGS = {
    "set_type": "type", "set_review_date": "review_date", "set_effective_date": "effective_date",
    "set_approval_duration": "approval_duration", "set_reject_code": "reject_code",
    "set_daily_rate_check": "daily_rate_check",
    "set_requires_authorization": "requires_authorization",
    "set_fallback": "fallback",
}
_PRODUCT_FIELDS = {
    "p_brand": "brand", "p_generic": "generic", "p_strength": "strength", "p_form": "form",
    "p_unit": "unit", "p_label": "label", "p_gpi": "gpi", "p_ndcs": "ndc",
    "p_requires_authorization": "requires_authorization", "p_dose": "dose",
}
_CRITERION_FIELDS = {"c_when": "when", "c_duration": "duration", "c_renews": "renews",
                     "c_approve_requested": "requested", "c_for": "for"}
_SIMPLE_ITEMS = ("channel_decl", "group", "factor_use", "fact", "section", "reference",
                 "revision")
_SIMPLE_KIND = {"channel_decl": "channel", "factor_use": "use-factors"}


def _subtrees(tree: Tree[Token]) -> list[Tree[Token]]:
    """A node's child statements, without its tokens (ids, titles) and absent optionals."""
    return [child for child in tree.children if isinstance(child, Tree)]


def _source_statements(policy: Tree[Token]) -> list[_SourceStatement]:
    """Every statement of a parsed policy (or shared factor file) with the key the printer gives
    it, in source order."""
    out: list[_SourceStatement] = []
    counts: dict[str, int] = {}

    def add(tree: Tree[Token], key: Key, close: Key | None = None) -> None:
        out.append(_SourceStatement(key, tree.meta.start_pos, tree.meta.end_pos, close))

    def next_index(kind: str) -> int:
        index = counts.get(kind, 0)
        counts[kind] = index + 1
        return index

    def add_block(tree: Tree[Token], scope: Key, line_key: Key, first: int) -> int:
        """A limit or approve block and its lines; returns the index after its last line."""
        lines = _subtrees(tree)
        if lines:
            add(tree, (*scope, first), (*scope, first, len(lines), _BLOCK_CLOSE))
        else:  # an empty block leaves nothing in the IR, so nothing printed can take its key
            add(tree, ("empty", tree.meta.start_pos), ("empty", tree.meta.start_pos, _BLOCK_CLOSE))
        for offset, line in enumerate(lines):
            add(line, (*line_key, first + offset))
        return first + len(lines)

    if policy.data == "policy":
        add(policy, ("policy",), ("policy", _BLOCK_CLOSE))
    limits = 0
    for item in _subtrees(policy):
        kind = str(item.data)
        if kind in _SETTINGS:
            add(item, ("setting", _SETTINGS[kind]))
        elif kind in _SIMPLE_ITEMS:
            name = _SIMPLE_KIND.get(kind, kind)
            add(item, (name, next_index(name)))
        elif kind == "product":
            index = next_index("product")
            add(item, ("product", index), ("product", index, _BLOCK_CLOSE))
            packages = contents = 0
            for field in _subtrees(item):
                if field.data in ("p_package", "p_package_drug_file"):
                    add(field, ("package", index, packages))
                    packages += 1
                elif field.data == "p_contains":
                    add(field, ("contains", index, contents))
                    contents += 1
                else:
                    add(field, ("product", index, _PRODUCT_FIELDS[str(field.data)]))
        elif kind == "factor_table":
            index = next_index("factors")
            add(item, ("factors", index), ("factors", index, _BLOCK_CLOSE))
            for row, factor in enumerate(_subtrees(item)):
                add(factor, ("factor", index, row))
        elif kind == "limit_block":
            limits = add_block(item, ("limit-block",), ("limit",), limits)
        elif kind == "criterion":
            index = next_index("criterion")
            add(item, ("criterion", index), ("criterion", index, _BLOCK_CLOSE))
            approvals = 0
            for field in _subtrees(item):
                if field.data in _CRITERION_FIELDS:
                    add(field, ("criterion", index, _CRITERION_FIELDS[str(field.data)]))
                else:
                    approvals = add_block(field, ("approve-block", index), ("approve", index),
                                          approvals)
    return out


def _condition_layout(node: Tree[Token] | Token) -> ConditionLayout:
    """How a parsed condition is written, mirroring the Expr lowered from it: its parentheses,
    the operands of each `and`/`or` chain that begin a line, the line of each test."""
    parens = False
    while isinstance(node, Tree) and node.data == "atom":  # "(" expr ")", redundant ones too
        parens = True
        node = node.children[1]
    assert isinstance(node, Tree)
    if node.data in ("or_expr", "and_expr"):  # operand, "or", operand, ...
        operands = [o for o in node.children[::2] if isinstance(o, Tree)]
        # A line break anywhere between two operands (before or after the operator, or at a
        # comment) starts the second on a new line.
        breaks = frozenset(k for k in range(1, len(operands))
                           if operands[k - 1].meta.end_line < operands[k].meta.line)
        return ConditionLayout(parens, tuple(_condition_layout(o) for o in operands), breaks)
    if node.data == "not_":  # "not", operand
        return ConditionLayout(parens, (_condition_layout(node.children[1]),))
    return ConditionLayout(parens, line=node.meta.line)


def _condition_layouts(policy: Tree[Token]) -> dict[int, ConditionLayout]:
    """Each criterion's `when`, by the criterion's index, as the author laid it out."""
    criteria = [item for item in _subtrees(policy) if item.data == "criterion"]
    return {index: _condition_layout(field.children[1])
            for index, criterion in enumerate(criteria)
            for field in _subtrees(criterion) if field.data == "c_when"}


@dataclass(frozen=True, slots=True)
class SourceLayout:
    """What a DSL file says that its IR does not keep, for the printer to say again: its
    comments, and how each criterion's condition is written (by the criterion's index)."""

    comments: tuple[Comment, ...] = ()
    conditions: Mapping[int, ConditionLayout] = field(default_factory=dict)


def collect_comments(source: SourceFile, start_rule: str = "start") -> list[Comment]:
    """The comments of a DSL file that parses, each with the statements it may be printed with
    (a shared factor file with `start_rule="factors_file"`).

    Raises ValueError if the file does not parse (lower it first to get the diagnostics).
    """
    return list(read_layout(source, start_rule).comments)


def read_layout(source: SourceFile, start_rule: str = "start") -> SourceLayout:
    """The comments and condition layouts of a DSL file that parses (see SourceLayout); a
    shared factor file with `start_rule="factors_file"`.

    Raises ValueError if the file does not parse (lower it first to get the diagnostics).
    """
    sink: list[Token] = []
    reset = _comment_sink.set(sink)
    try:
        tree = _commented_parser(start_rule).parse(source.text)
    except Exception as exc:  # any Lark error: the caller lowers first, so this is misuse
        raise ValueError(f"{source.path} does not parse; lower it first") from exc
    finally:
        _comment_sink.reset(reset)
    policy = tree.children[0] if start_rule == "start" else tree
    assert isinstance(policy, Tree)
    statements = _source_statements(policy)
    # Places a full-line comment can precede, in source order: statement starts, closing braces.
    points = sorted(
        [(s.start, s.key) for s in statements]
        + [(s.end - 1, s.close) for s in statements if s.close is not None],
        key=lambda point: point[0])
    comments: list[Comment] = []
    for token in sink:
        start = token.start_pos or 0
        line = token.line or 1
        before = source.text[source.offset(line, 1):start]
        following = (*(key for pos, key in points if pos > start), POLICY_END)
        trailing = bool(before.strip())
        if trailing:
            code = source.offset(line, 1) + len(before.rstrip()) - 1
            anchors = (_owner(statements, code), *following)
        else:
            anchors = following
        comments.append(Comment(
            text=str(token).rstrip(),
            line=line,
            trailing=trailing,
            anchors=anchors,
            blank_before=not trailing and _blank(source, line - 1),
            blank_after=not trailing and _blank(source, line + 1),
        ))
    return SourceLayout(tuple(comments), _condition_layouts(policy))


def _blank(source: SourceFile, line: int) -> bool:
    return 1 <= line <= source.line_count and not source.line_text(line).strip()


def _owner(statements: Sequence[_SourceStatement], pos: int) -> Key:
    """The key of the printed line that holds the code character at `pos`."""
    inner = max((s for s in statements if s.start <= pos < s.end), key=lambda s: s.start)
    if inner.close is not None and pos == inner.end - 1:
        return inner.close
    return inner.key


# ---------------------------------------------------------------------------------------------
# The policy


@dataclass(frozen=True, slots=True)
class _Statement:
    """One printed statement: its lines (already indented) and the key comments attach to."""

    key: Key
    indent: int
    lines: tuple[str, ...]
    opens: bool = False  # ends with `{`: no blank line may follow it
    closes: bool = False  # a closing brace: comments before it sit one level deeper
    # For a condition over several lines: the source line each line's first test is on, so a
    # comment written after a test ends the line that holds it (otherwise the last line).
    sources: tuple[int | None, ...] = ()

    def line_of(self, comment: Comment) -> int:
        """Which of the lines a trailing comment on the source line `comment.line` ends."""
        known = [(i, line) for i, line in enumerate(self.sources) if line is not None]
        if not known:
            return len(self.lines) - 1
        held = [i for i, line in known if line <= comment.line]
        return held[-1] if held else 0  # a comment before the first test: the first line


_BLANK = None  # a separator line between top-level items
# The settings a policy has without saying so are not printed.
_DEFAULT_REJECT_CODE = next(
    f.default for f in dataclasses.fields(nodes.Policy) if f.name == "reject_code")
_T = TypeVar("_T")


def _factor_table(index: int, table: nodes.FactorTable, indent: int) -> list[_Statement]:
    """A `factors` block at `indent`: inside a policy, or at the top of a shared factor file."""
    pad = " " * (indent + INDENT)
    out = [_statement(("factors", index), indent,
                      f"{' ' * indent}factors {format_id(table.id)} "
                      f"{format_string(table.title)} {{", opens=True)]
    out += [_statement(("factor", index, j), indent + INDENT,
                       f"{pad}{format_id(f.ingredient)} {format_decimal(f.factor)}")
            for j, f in enumerate(table.factors)]
    if table.source is not None:
        out.append(_statement(("factors", index, "source"), indent + INDENT,
                              f"{pad}source {format_string(table.source)}"))
    out.append(_close(("factors", index, _BLOCK_CLOSE), indent))
    return out


def _statement(key: Key, indent: int, *lines: str, opens: bool = False) -> _Statement:
    return _Statement(key, indent, tuple(lines), opens=opens)


def _close(key: Key, indent: int) -> _Statement:
    return _Statement(key, indent, (" " * indent + "}",), closes=True)


def _aligned_lines(pairs: Sequence[tuple[str, str]], indent: int) -> list[str]:
    """Channel column padded to one width, as a policy table lines up its columns."""
    width = max(len(channel) for channel, _ in pairs) + 1
    return [" " * indent + channel.ljust(width) + tail for channel, tail in pairs]


def _channel_text(channel: str | None) -> str:
    return "all" if channel is None else format_id(channel)


def _runs(items: Sequence[_T], target: Callable[[_T], str]) -> list[tuple[int, int]]:
    """[begin, end) ranges of consecutive items with the same target."""
    runs: list[tuple[int, int]] = []
    begin = 0
    for index in range(1, len(items) + 1):
        if index == len(items) or target(items[index]) != target(items[begin]):
            runs.append((begin, index))
            begin = index
    return runs


class _Printer:
    """Lays a policy out as keyed statements, in the IR's order, one method per item kind."""

    def __init__(self, policy: nodes.Policy, conditions: Mapping[int, ConditionLayout]):
        self.policy = policy
        self.conditions = conditions  # how the source wrote each criterion's `when`

    def items(self) -> list[_Statement | None]:
        """The whole policy as statements, with separators between top-level items."""
        policy = self.policy
        out: list[_Statement | None] = [_statement(
            ("policy",), 0,
            f"policy {format_id(policy.id)} {format_string(policy.title)} {{", opens=True)]
        groups = [
            ("setting", [[s] for s in self.settings()]),
            ("channel", [[s] for s in self.channels()]),
            ("product", [self.product(i, p) for i, p in enumerate(policy.products)]),
            ("group", [[self.group(i, g)] for i, g in enumerate(policy.groups)]),
            ("factors", [self.factor_table(i, t) for i, t in enumerate(
                t for t in policy.factor_tables if t.origin is None)]),
            ("use-factors", [[self.factor_use(i, t)] for i, t in enumerate(
                t for t in policy.factor_tables if t.origin is not None)]),
            ("limit", self.limit_blocks()),
            ("fact", [[self.fact(i, f)] for i, f in enumerate(policy.facts)]),
            ("criterion", [self.criterion(i, c) for i, c in enumerate(policy.criteria)]),
            ("section", [[self.section(i, s)] for i, s in enumerate(policy.sections)]),
            ("reference", [[self.reference(i, r)] for i, r in enumerate(policy.references)]),
            ("revision", [[self.revision(i, r)] for i, r in enumerate(policy.history)]),
        ]
        previous: str | None = None
        for kind, entries in groups:
            for entry in entries:
                # Items of a new kind start a paragraph; items of one kind stay together.
                if previous is not None and kind != previous:
                    out.append(_BLANK)
                out.extend(entry)
                previous = kind
        out.append(_close(("policy", _BLOCK_CLOSE), 0))
        return out

    def settings(self) -> list[_Statement]:
        policy = self.policy
        pad = " " * INDENT
        out = [_statement(("setting", "type"), INDENT, f"{pad}type {format_id(policy.type)}")]
        if policy.review_date is not None:
            out.append(_statement(("setting", "review_date"), INDENT,
                                  f"{pad}review_date {policy.review_date.isoformat()}"))
        if policy.effective_date is not None:
            out.append(_statement(("setting", "effective_date"), INDENT,
                                  f"{pad}effective_date {policy.effective_date.isoformat()}"))
        if policy.approval_duration is not None:
            out.append(_statement(
                ("setting", "approval_duration"), INDENT,
                f"{pad}approvals last {format_duration(policy.approval_duration)}"))
        if policy.reject_code != _DEFAULT_REJECT_CODE:
            out.append(_statement(("setting", "reject_code"), INDENT,
                                  f"{pad}reject_code {format_string(policy.reject_code)}"))
        if policy.daily_rate_check:
            out.append(_statement(("setting", "daily_rate_check"), INDENT,
                                  f"{pad}daily_rate_check true"))
        if policy.requires_authorization:
            out.append(_statement(("setting", "requires_authorization"), INDENT,
                                  f"{pad}requires authorization"))
        if policy.fallback:
            out.append(_statement(("setting", "fallback"), INDENT,
                                  f"{pad}applies to any product without its own criteria"))
        return out

    def channels(self) -> list[_Statement]:
        defaults = nodes.default_channels()
        channels = self.policy.channels
        if channels[: len(defaults)] != defaults:
            raise PrintError("a DSL policy always knows retail and home_delivery first")
        return [
            _statement(("channel", i), INDENT,
                       f"{' ' * INDENT}channel {format_id(c.id)} {format_string(c.label)}")
            for i, c in enumerate(channels[len(defaults):])]

    def product(self, index: int, product: nodes.Product) -> list[_Statement]:
        inner = INDENT * 2
        pad = " " * inner

        def field(name: str, value: str) -> _Statement:
            return _statement(("product", index, name), inner, f"{pad}{name} {value}")

        out = [_statement(("product", index), INDENT,
                          f"{' ' * INDENT}product {format_id(product.id)} {{", opens=True)]
        out.append(field("brand", format_string(product.brand)))
        out.append(field("generic", format_string(product.generic)))
        if product.strength is not None:
            out.append(field("strength", format_string(product.strength)))
        out.append(field("form", format_string(product.form)))
        # The unit is implied by the first package; say it only when it is not.
        if _unit_unsaid(product):
            out.append(field("unit", product.unit))
        if product.label is not None:
            out.append(field("label", format_string(product.label)))
        if product.gpi is not None:
            out.append(field("gpi", format_string(product.gpi)))
        if product.ndcs:
            out.append(field("ndc", _ndc_list(product.ndcs)))
        if product.requires_authorization:
            out.append(_statement(("product", index, "requires_authorization"), inner,
                                  f"{pad}requires authorization"))
        if product.dose is not None:
            out.append(field("dose", f"{format_decimal(product.dose.amount)} {product.dose.unit}"))
        for j, content in enumerate(product.contents):
            out.append(_statement(("contains", index, j), inner,
                                  f"{pad}contains {format_decimal(content.amount)} {content.unit}"
                                  f" {format_id(content.ingredient)}"))
        for j, package in enumerate(product.packages):
            out.append(_statement(("package", index, j), inner, pad + _package(package)))
        out.append(_close(("product", index, _BLOCK_CLOSE), INDENT))
        return out

    def factor_table(self, index: int, table: nodes.FactorTable) -> list[_Statement]:
        return _factor_table(index, table, INDENT)

    def factor_use(self, index: int, table: nodes.FactorTable) -> _Statement:
        """`use factors mme from "shared/cdc-2022-mme.dqm"`: the reference, never the factors
        it brings (they are the shared file's)."""
        assert table.origin is not None
        return _statement(("use-factors", index), INDENT,
                          f"{' ' * INDENT}use factors {format_id(table.id)} from "
                          f"{format_string(table.origin)}")

    def group(self, index: int, group: nodes.Group) -> _Statement:
        if not group.products:
            raise PrintError(f"group {group.id!r} needs at least one product")
        members = ", ".join(format_id(p) for p in group.products)
        return _statement(
            ("group", index), INDENT,
            f"{' ' * INDENT}group {format_id(group.id)} {format_string(group.title)}: {members}")

    def limit_blocks(self) -> list[list[_Statement]]:
        limits = self.policy.limits
        blocks = []
        for begin, end in _runs(limits, lambda limit: limit.target):
            target = limits[begin].target
            products = common.target_products(self.policy, target)
            pairs = [(_channel_text(limit.channel), format_limit_tail(limit, products))
                     for limit in limits[begin:end]]
            lines = _aligned_lines(pairs, INDENT * 2)
            block = [_statement(("limit-block", begin), INDENT,
                                f"{' ' * INDENT}limit {format_id(target)} {{", opens=True)]
            block += [_statement(("limit", begin + n), INDENT * 2, line)
                      for n, line in enumerate(lines)]
            block.append(_close(("limit-block", begin, end - begin, _BLOCK_CLOSE), INDENT))
            blocks.append(block)
        return blocks

    def fact(self, index: int, fact: nodes.Fact) -> _Statement:
        kind: str = fact.type
        if fact.type in ("enum", "set"):
            kind = f"{fact.type} {format_symbols(fact.values)}"
        return _statement(
            ("fact", index), INDENT,
            f"{' ' * INDENT}fact {format_id(fact.id)}: {kind} {format_string(fact.question)}")

    def criterion(self, index: int, criterion: nodes.Criterion) -> list[_Statement]:
        inner = INDENT * 2
        pad = " " * inner
        title = "" if criterion.title is None else " " + format_string(criterion.title)
        out = [_statement(("criterion", index), INDENT,
                          f"{' ' * INDENT}criterion {format_id(criterion.id)}{title} {{",
                          opens=True)]
        if criterion.serves is not None:
            out.append(_statement(("criterion", index, "for"), inner,
                                  f"{pad}for {criterion.serves} requests"))
        when = condition_source_lines(criterion.when, "when ", inner, self.conditions.get(index))
        out.append(_Statement(("criterion", index, "when"), inner,
                              tuple(text for text, _ in when),
                              sources=tuple(line for _, line in when)))
        approves = criterion.approves
        for begin, end in _runs(approves, lambda approval: approval.target):
            target = approves[begin].target
            products = common.target_products(self.policy, target)
            pairs = [(_channel_text(a.channel), format_rule(a.rule, products))
                     for a in approves[begin:end]]
            out.append(_statement(("approve-block", index, begin), inner,
                                  f"{pad}approve {format_id(target)} {{", opens=True))
            out += [_statement(("approve", index, begin + n), inner + INDENT, line)
                    for n, line in enumerate(_aligned_lines(pairs, inner + INDENT))]
            out.append(_close(("approve-block", index, begin, end - begin, _BLOCK_CLOSE), inner))
        if criterion.approves_requested:
            named = ", ".join(format_id(target) for target in criterion.requested_for)
            out.append(_statement(("criterion", index, "requested"), inner,
                                  f"{pad}approve requested{' ' + named if named else ''}"))
        if criterion.duration is not None:
            out.append(_statement(("criterion", index, "duration"), inner,
                                  f"{pad}approvals last {format_duration(criterion.duration)}"))
        if criterion.renews is not None:
            out.append(_statement(("criterion", index, "renews"), inner,
                                  f"{pad}renews {format_id(criterion.renews)}"))
        out.append(_close(("criterion", index, _BLOCK_CLOSE), INDENT))
        return out

    def section(self, index: int, section: nodes.Section) -> _Statement:
        head = f"section {format_id(section.kind)} {format_string(section.title)}"
        return self._prose(("section", index), head, section.text)

    def reference(self, index: int, reference: nodes.Reference) -> _Statement:
        return self._prose(("reference", index), "reference", reference.text)

    def revision(self, index: int, revision: nodes.Revision) -> _Statement:
        head = f"revision {revision.date.isoformat()} {format_string(revision.type)}"
        if revision.summary is None:
            return _statement(("revision", index), INDENT, " " * INDENT + head)
        return self._prose(("revision", index), head, revision.summary)

    def _prose(self, key: Key, head: str, text: str) -> _Statement:
        literal = format_string(text, indent=INDENT * 2)
        lines = f"{' ' * INDENT}{head} {literal}".split("\n")
        return _Statement(key, INDENT, tuple(lines))


def _ndc_list(ndcs: Sequence[str]) -> str:
    return ", ".join(format_string(n) for n in ndcs)


def _unit_unsaid(product: nodes.Product) -> bool:
    """Whether the unit must be written: the first package sized in the spec implies it."""
    sized = [p.size for p in product.packages if p.size is not None]
    return not sized or sized[0].unit != product.unit


def _package(package: nodes.Package) -> str:
    size = package.size
    amount = "from drug file" if size is None else f"{format_decimal(size.amount)} {size.unit}"
    text = f"package {format_id(package.id)} {amount} {format_string(package.description)}"
    if package.noun is not None:
        text += f" as {format_id(package.noun)}"
    if package.ndcs:
        text += f" {{ ndc {_ndc_list(package.ndcs)} }}"
    return text


# ---------------------------------------------------------------------------------------------
# Weaving comments into the printed statements


def _place_comments(
    comments: Iterable[Comment], printed: Mapping[Key, _Statement],
) -> tuple[dict[Key, list[Comment]], dict[tuple[Key, int], Comment]]:
    """Which comments go before which statement, and which one ends which statement's line
    (keyed by the statement and the index of the line)."""
    leading: dict[Key, list[Comment]] = {}
    trailing: dict[tuple[Key, int], Comment] = {}
    for comment in sorted(comments, key=lambda c: c.line):
        anchors = comment.anchors
        if comment.trailing and anchors:
            owner, anchors = anchors[0], anchors[1:]
            statement = printed.get(owner)
            if statement is not None:
                spot = (owner, statement.line_of(comment))
                if spot not in trailing:
                    trailing[spot] = comment
                    continue
        key = next((k for k in anchors if k in printed or k == POLICY_END), POLICY_END)
        leading.setdefault(key, []).append(comment)
    return leading, trailing


def _closes_previous(group: Sequence[Comment]) -> bool:
    """Whether the comments before an item start as a note on the item above it.

    They do when the first sits right under that item and a blank line follows further down:
    that blank line then separates the two items, and the note stays where it was written.
    """
    if not group or group[0].blank_before:
        return False
    return group[-1].blank_after or any(c.blank_before for c in group[1:])


def print_policy(policy: nodes.Policy, comments: Sequence[Comment] = (), *,
                 conditions: Mapping[int, ConditionLayout] | None = None) -> str:
    """The canonical DSL text of `policy`, with `comments` (from `collect_comments`) woven in.

    `conditions` (from `read_layout`) are how the source wrote each criterion's condition: the
    parentheses kept for the reader. Lowering the result gives back a policy equal to `policy`.
    Raises PrintError for IR no front end produces (an id the DSL cannot spell, a negative
    number, an empty `and`).
    """
    return _weave(_Printer(policy, conditions or {}).items(), comments)


def print_factors_file(tables: Sequence[nodes.FactorTable],
                       comments: Sequence[Comment] = ()) -> str:
    """The canonical text of a shared factor file: its `factors` blocks at the top level, a
    blank line between them, with `comments` (from `read_layout(..., "factors_file")`)."""
    items: list[_Statement | None] = []
    for index, table in enumerate(tables):
        if index:
            items.append(_BLANK)
        items += _factor_table(index, table, 0)
    return _weave(items, comments)


def _weave(items: Sequence[_Statement | None], comments: Sequence[Comment]) -> str:
    """Printed statements with the source's comments woven back in, as text."""
    printed = {item.key: item for item in items if item is not None}
    leading, trailing = _place_comments(comments, printed)
    out: list[str] = []
    last_opens = False  # the previous line ends with `{`: no blank line directly after it

    def blank() -> None:
        if out and out[-1] != "" and not last_opens:
            out.append("")

    def emit_comments(group: Sequence[Comment], indent: int, before_close: bool) -> None:
        nonlocal last_opens
        for comment in group:
            if comment.blank_before:
                blank()
            out.append(" " * indent + comment.text)
            last_opens = False
        if group and group[-1].blank_after and not before_close:
            blank()

    separate = False  # a new kind of item starts: a blank line goes before it
    for item in items:
        if item is None:
            separate = True
            continue
        group = leading.get(item.key, ())
        if separate and not _closes_previous(group):
            blank()
        separate = False
        emit_comments(group, item.indent + (INDENT if item.closes else 0), item.closes)
        lines = list(item.lines)
        for index in range(len(lines)):
            if (item.key, index) in trailing:
                lines[index] += "  " + trailing[item.key, index].text
        out.extend(lines)
        last_opens = item.opens
    emit_comments(leading.get(POLICY_END, ()), 0, False)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"
