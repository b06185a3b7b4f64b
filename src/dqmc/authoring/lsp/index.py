"""Each id of one spec as written, and its outline, for the language server.

Definitions, references and the hovers of defined names come from the resolved IR
(`lang/ir/resolve.py`, `FileResult.resolved`); this index still gives the outline, hovers of
what resolution does not bind (an enum value, the policy's id), and the names completion offers.

The DSL is indexed from its Lark parse tree, a YAML spec from its composed document plus the
DSL fragments it embeds (`when:`, rules), parsed by the same grammar. Spans are the compiler's
(1-based, end exclusive), so they convert to editor ranges exactly as diagnostics do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lark import Token, Tree

from dqmc.lang.frontend.dsl_parse import parse_text, shift_span
from dqmc.lang.frontend.yaml_load import YamlDocument, load_yaml, pointer_join
from dqmc.lang.pipeline import DSL_SUFFIXES
from dqmc.lang.source import SourceFile, Span

# What an occurrence names. A limit or approval target is a product or a group: which one is
# decided once every definition of the spec is known.
PRODUCT, GROUP, FACT, CRITERION, CHANNEL, PACKAGE, VALUE, POLICY = (
    "product", "group", "fact", "criterion", "channel", "package", "value", "policy")
_TARGET = "target"

# Kinds of outline entries that are not ids: limit blocks, prose sections.
LIMIT, SECTION = "limit", "section"

ALL_CHANNELS = "all"


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One id as written: its kind, its name, where, and whether this is its definition.

    `owner` scopes names that are only unique inside something else: an enum value belongs to
    its fact, a package to its product.
    """

    kind: str
    name: str
    span: Span
    definition: bool
    owner: str | None = None

    def contains(self, line: int, col: int) -> bool:
        """Whether a cursor at (line, col) touches the id: its end counts, as editors expect."""
        s = self.span
        return (s.line, s.col) <= (line, col) <= (s.end_line, s.end_col)


@dataclass(frozen=True, slots=True)
class OutlineItem:
    """An entry of the document outline: the whole statement and the id that names it."""

    kind: str
    name: str
    detail: str
    span: Span
    selection: Span
    children: tuple[OutlineItem, ...] = ()


@dataclass
class SpecIndex:
    occurrences: list[Occurrence] = field(default_factory=list)
    outline: list[OutlineItem] = field(default_factory=list)
    nouns: list[str] = field(default_factory=list)  # package nouns a quantity may count in

    def at(self, line: int, col: int) -> Occurrence | None:
        """The id under a cursor, if any."""
        return next((o for o in self.occurrences if o.contains(line, col)), None)

    def same_symbol(self, occurrence: Occurrence) -> list[Occurrence]:
        return [o for o in self.occurrences
                if (o.kind, o.name, o.owner)
                == (occurrence.kind, occurrence.name, occurrence.owner)]

    def definition_of(self, occurrence: Occurrence) -> Occurrence | None:
        return next((o for o in self.same_symbol(occurrence) if o.definition), None)


def index_spec(source: SourceFile) -> SpecIndex | None:
    """The index of a DSL or YAML spec; None when the text does not parse at all."""
    if source.path.endswith(DSL_SUFFIXES):
        return _index_dsl(source)
    return _index_yaml(source)


# -- the DSL -----------------------------------------------------------------------------------


def _is_tree(node: Any, *names: str) -> bool:
    return isinstance(node, Tree) and (not names or node.data in names)


class _Collector:
    """Gathers occurrences from parse trees; fragments pass their offset into the host file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.occurrences: list[Occurrence] = []

    def token_span(self, token: Token, line_offset: int = 0, col_offset: int = 0) -> Span:
        line, col = token.line or 1, token.column or 1
        return shift_span(self.path, line, col, token.end_line or line,
                          token.end_column or col + len(token), line_offset, col_offset)

    def tree_span(self, tree: Tree, line_offset: int = 0, col_offset: int = 0) -> Span:
        meta = tree.meta
        if getattr(meta, "empty", True):
            return Span.point(self.path, 1 + line_offset, 1 + col_offset)
        return shift_span(self.path, meta.line, meta.column, meta.end_line, meta.end_column,
                          line_offset, col_offset)

    def add(self, kind: str, name: str, span: Span, definition: bool,
            owner: str | None = None) -> Occurrence:
        occurrence = Occurrence(kind, name, span, definition, owner)
        self.occurrences.append(occurrence)
        return occurrence

    def token(self, kind: str, token: Token, definition: bool, owner: str | None = None,
              offset: tuple[int, int] = (0, 0)) -> Occurrence:
        return self.add(kind, str(token), self.token_span(token, *offset), definition, owner)

    # Subtrees shared by the DSL file and the fragments YAML embeds.

    def limit_lines(self, target: str, lines: list[Any], offset: tuple[int, int]) -> None:
        for line in lines:
            if _is_tree(line, "limit_line"):
                channel, tail = line.children
                if _is_tree(channel, "channel_named"):
                    self.token(CHANNEL, channel.children[0], False, offset=offset)
                self.limit_tail(target, tail, offset)

    def limit_tail(self, target: str, tail: Any, offset: tuple[int, int]) -> None:
        for node in tail.iter_subtrees() if _is_tree(tail) else ():
            if node.data == "sel_package":
                self.token(PACKAGE, node.children[0], False, owner=target, offset=offset)

    def expr(self, tree: Any, offset: tuple[int, int]) -> None:
        for node in tree.iter_subtrees_topdown() if _is_tree(tree) else ():
            if node.data in ("fact_ref", "compare", "subset", "in_set"):
                fact = node.children[0]
                self.token(FACT, fact, False, offset=offset)
                for value in node.children[1:]:
                    for token in _value_tokens(value):
                        self.token(VALUE, token, False, owner=str(fact), offset=offset)

    def resolve_targets(self) -> None:
        """Name each limit or approval target a group or a product, by what the spec defines."""
        groups = {o.name for o in self.occurrences if o.kind == GROUP and o.definition}
        self.occurrences = [
            Occurrence(GROUP if o.name in groups else PRODUCT, o.name, o.span, o.definition,
                       o.owner) if o.kind == _TARGET else o
            for o in self.occurrences]


def _value_tokens(node: Any) -> Iterator[Token]:
    """The enum symbols of a comparison value or a `{a, b}` set."""
    if _is_tree(node, "v_symbol"):
        yield node.children[0]
    elif _is_tree(node, "symbol_set"):
        yield from (t for t in node.children if isinstance(t, Token))


def _string_value(token: Any) -> str:
    text = str(token) if token is not None else ""
    if text.startswith('"""'):
        return " ".join(text[3:-3].split())
    return text[1:-1] if text.startswith('"') else text


def _index_dsl(source: SourceFile) -> SpecIndex | None:
    tree, _ = parse_text(source)
    if tree is None:
        return None
    # The grammar (grammar/dqm.lark) decides which child is a token and which a subtree; Lark
    # types them all as either.
    policy: Any = tree.children[0]
    c = _Collector(source.path)
    no_offset = (0, 0)
    policy_id = c.token(POLICY, policy.children[0], True)
    children: list[OutlineItem] = []
    nouns: list[str] = []
    for item in policy.children[2:]:
        if not _is_tree(item) or not item.children:  # only settings may have none
            continue
        span = c.tree_span(item)
        head = item.children[0]
        match item.data:
            case "channel_decl":
                name = c.token(CHANNEL, head, True)
                children.append(OutlineItem(CHANNEL, name.name, _string_value(item.children[1]),
                                            span, name.span))
            case "product":
                name = c.token(PRODUCT, head, True)
                packages = []
                for field_item in item.children[1:]:
                    if _is_tree(field_item, "p_dose"):  # `dose 1 each`: limits may count doses
                        nouns.append(DOSE_NOUN)
                    # `package ID SIZE UNIT "desc" opts`, or `package ID from drug file "desc" opts`
                    if _is_tree(field_item, "p_package") or _is_tree(field_item,
                                                                     "p_package_drug_file"):
                        package = c.token(PACKAGE, field_item.children[0], True, owner=name.name)
                        noun = field_item.children[-1].children[0]
                        if noun is not None:
                            nouns.append(str(noun))
                        packages.append(OutlineItem(
                            PACKAGE, package.name, _string_value(field_item.children[-2]),
                            c.tree_span(field_item), package.span))
                brand = next((_string_value(f.children[0]) for f in item.children[1:]
                              if _is_tree(f, "p_brand")), "")
                children.append(OutlineItem(PRODUCT, name.name, brand, span, name.span,
                                            tuple(packages)))
            case "group":
                name = c.token(GROUP, head, True)
                for member in item.children[2].children:
                    c.token(PRODUCT, member, False)
                children.append(OutlineItem(GROUP, name.name, _string_value(item.children[1]),
                                            span, name.span))
            case "limit_block":
                name = c.token(_TARGET, head, False)
                c.limit_lines(name.name, item.children[1:], no_offset)
                children.append(OutlineItem(LIMIT, name.name, "limits", span, name.span))
            case "fact":
                name = c.token(FACT, head, True)
                fact_type = item.children[1]
                for value in fact_type.children[0].children if fact_type.children else ():
                    c.token(VALUE, value, True, owner=name.name)
                kind_word = fact_type.data.removeprefix("ft_")
                children.append(OutlineItem(FACT, name.name, kind_word, span, name.span))
            case "criterion":
                name = c.token(CRITERION, head, True)
                for field_item in item.children[2:]:
                    if _is_tree(field_item, "c_when"):
                        c.expr(field_item.children[0], no_offset)
                    elif _is_tree(field_item, "c_approve"):
                        target = c.token(_TARGET, field_item.children[0], False)
                        c.limit_lines(target.name, field_item.children[1:], no_offset)
                    elif _is_tree(field_item, "c_renews"):
                        c.token(CRITERION, field_item.children[0], False)
                    elif _is_tree(field_item, "c_approve_requested") and field_item.children[0]:
                        for target_token in field_item.children[0].children:  # approve_targets
                            c.token(_TARGET, target_token, False)
                children.append(OutlineItem(CRITERION, name.name,
                                            _string_value(item.children[1]), span, name.span))
            case "section":
                kind = head
                children.append(OutlineItem(SECTION, _string_value(item.children[1]), str(kind),
                                            span, c.token_span(kind)))
    c.resolve_targets()
    outline = [OutlineItem(POLICY, policy_id.name, _string_value(policy.children[1]),
                           c.tree_span(policy), policy_id.span, tuple(children))]
    return SpecIndex(c.occurrences, outline, nouns)


# -- YAML ----------------------------------------------------------------------------------------


class _YamlIndexer:
    """Walks a composed YAML spec defensively: the data need not satisfy the schema yet."""

    def __init__(self, document: YamlDocument) -> None:
        self.doc = document
        self.c = _Collector(document.source.path)
        self.nouns: list[str] = []

    def key(self, kind: str, pointer: str, name: str, definition: bool,
            owner: str | None = None) -> Occurrence:
        return self.c.add(kind, name, self.doc.key_span(pointer), definition, owner)

    def value(self, kind: str, pointer: str, name: str, definition: bool,
              owner: str | None = None) -> Occurrence:
        return self.c.add(kind, name, self.doc.span(pointer), definition, owner)

    def entry_span(self, pointer: str) -> Span:
        """From a key to the end of its value: the YAML statement an outline entry covers."""
        key, value = self.doc.key_span(pointer), self.doc.span(pointer)
        return Span(key.file, key.line, key.col, value.end_line, value.end_col)

    def fragment(self, pointer: str, start: str) -> tuple[Tree | None, tuple[int, int]]:
        """The parse tree of the DSL text at `pointer` and the offset of its tokens in the file."""
        try:
            fragment = self.doc.fragment(pointer)
        except KeyError:  # not a scalar: the schema check reports it
            return None, (0, 0)
        offset = (fragment.line - 1, fragment.col - 1)
        tree, _ = parse_text(self.doc.source, start, text=fragment.text,
                             line_offset=offset[0], col_offset=offset[1])
        return tree, offset

    def index(self) -> SpecIndex:
        data = self.doc.data if isinstance(self.doc.data, dict) else {}
        outline: list[OutlineItem] = []
        settings = data.get("policy")
        policy_item = None
        if isinstance(settings, dict) and isinstance(settings.get("id"), str):
            name = self.value(POLICY, "/policy/id", settings["id"], True)
            title = settings.get("title")
            if not isinstance(title, str):
                title = ""
            policy_item = OutlineItem(POLICY, name.name, title, self.entry_span("/policy"),
                                      name.span)
        for channel, label in _mapping(data.get("channels")):
            at = pointer_join("/channels", channel)
            name = self.key(CHANNEL, at, channel, True)
            outline.append(OutlineItem(CHANNEL, channel, str(label), self.entry_span(at),
                                       name.span))
        for product, fields in _mapping(data.get("products")):
            outline.append(self.product(product, fields))
        for group, fields in _mapping(data.get("groups")):
            at = pointer_join("/groups", group)
            name = self.key(GROUP, at, group, True)
            members = fields.get("products") if isinstance(fields, dict) else None
            for index, member in enumerate(members if isinstance(members, list) else []):
                if isinstance(member, str):
                    self.value(PRODUCT, pointer_join(at + "/products", index), member, False)
            title = fields.get("title", "") if isinstance(fields, dict) else ""
            outline.append(OutlineItem(GROUP, group, str(title), self.entry_span(at), name.span))
        for target, entries in _mapping(data.get("limits")):
            at = pointer_join("/limits", target)
            name = self.key(_TARGET, at, target, False)
            self.limit_entries(at, target, entries)
            outline.append(OutlineItem(LIMIT, target, "limits", self.entry_span(at), name.span))
        for fact, fields in _mapping(data.get("facts")):
            outline.append(self.fact(fact, fields))
        for criterion, fields in _mapping(data.get("criteria")):
            outline.append(self.criterion(criterion, fields))
        sections = data.get("sections")
        for index, section in enumerate(sections if isinstance(sections, list) else []):
            if isinstance(section, dict):
                at = f"/sections/{index}"
                span = self.doc.span(at)
                outline.append(OutlineItem(SECTION, str(section.get("title", "")),
                                           str(section.get("kind", "")), span,
                                           self.doc.span(at + "/title")))
        self.c.resolve_targets()
        if policy_item is not None:
            whole = Span(self.doc.source.path, 1, 1, self.doc.source.line_count + 1, 1)
            outline = [OutlineItem(POLICY, policy_item.name, policy_item.detail, whole,
                                   policy_item.selection, tuple(outline))]
        return SpecIndex(self.c.occurrences, outline, self.nouns)

    def product(self, product: str, fields: Any) -> OutlineItem:
        at = pointer_join("/products", product)
        name = self.key(PRODUCT, at, product, True)
        if isinstance(fields, dict) and "dose" in fields:  # limits may count doses
            self.nouns.append(DOSE_NOUN)
        packages = []
        for package, package_fields in _mapping(
                fields.get("packages") if isinstance(fields, dict) else None):
            package_at = pointer_join(at + "/packages", package)
            occurrence = self.key(PACKAGE, package_at, package, True, owner=product)
            package_fields = package_fields if isinstance(package_fields, dict) else {}
            description = package_fields.get("description", "")
            if isinstance(package_fields.get("noun"), str):
                self.nouns.append(package_fields["noun"])
            packages.append(OutlineItem(PACKAGE, package, str(description),
                                        self.entry_span(package_at), occurrence.span))
        brand = fields.get("brand", "") if isinstance(fields, dict) else ""
        return OutlineItem(PRODUCT, product, str(brand), self.entry_span(at), name.span,
                           tuple(packages))

    def fact(self, fact: str, fields: Any) -> OutlineItem:
        at = pointer_join("/facts", fact)
        name = self.key(FACT, at, fact, True)
        values = fields.get("values") if isinstance(fields, dict) else None
        for index, value in enumerate(values if isinstance(values, list) else []):
            if isinstance(value, str):
                self.value(VALUE, pointer_join(at + "/values", index), value, True, owner=fact)
        kind = fields.get("type", "") if isinstance(fields, dict) else ""
        return OutlineItem(FACT, fact, str(kind), self.entry_span(at), name.span)

    def criterion(self, criterion: str, fields: Any) -> OutlineItem:
        at = pointer_join("/criteria", criterion)
        name = self.key(CRITERION, at, criterion, True)
        fields = fields if isinstance(fields, dict) else {}
        if "when" in fields:
            tree, offset = self.fragment(at + "/when", "expr_start")
            if tree is not None:
                self.c.expr(tree, offset)
        requested = fields.get("approve", {}).get("requested") \
            if isinstance(fields.get("approve"), dict) else None
        for index, target in enumerate(requested if isinstance(requested, list) else []):
            if isinstance(target, str):  # `approve: {requested: [ids]}`
                self.value(_TARGET, pointer_join(at + "/approve/requested", index), target, False)
        for target, entries in _mapping(fields.get("approve") if requested is None else None):
            target_at = pointer_join(at + "/approve", target)
            self.key(_TARGET, target_at, target, False)
            self.limit_entries(target_at, target, entries)
        if isinstance(fields.get("renews"), str):
            self.value(CRITERION, at + "/renews", fields["renews"], False)
        title = fields.get("title", "")
        return OutlineItem(CRITERION, criterion, str(title), self.entry_span(at), name.span)

    def limit_entries(self, at: str, target: str, entries: Any) -> None:
        """`channel: rule`, `channel: [rule, ...]` or a list of `channel rule` lines."""
        if isinstance(entries, list):
            for index in range(len(entries)):
                tree, offset = self.fragment(pointer_join(at, index), "limit_line_start")
                if tree is not None:
                    self.c.limit_lines(target, tree.children, offset)
            return
        for channel, value in _mapping(entries):
            channel_at = pointer_join(at, channel)
            if channel != ALL_CHANNELS:
                self.key(CHANNEL, channel_at, channel, False)
            texts = ([pointer_join(channel_at, i) for i in range(len(value))]
                     if isinstance(value, list) else [channel_at])
            for text_at in texts:
                tree, offset = self.fragment(text_at, "limit_tail_start")
                if tree is not None:
                    self.c.limit_tail(target, tree.children[0], offset)


def _mapping(value: Any) -> Iterator[tuple[str, Any]]:
    return iter(value.items()) if isinstance(value, dict) else iter(())


def _index_yaml(source: SourceFile) -> SpecIndex | None:
    document, _ = load_yaml(source)
    if document is None:
        return None
    return _YamlIndexer(document).index()


# -- what completion can rely on while the text is being typed -----------------------------------

_DSL_MASK = re.compile(r'"""(?:.|\n)*?(?:"""|\Z)|"(?:[^"\\\n]|\\.)*"?|#[^\n]*')


def mask_dsl(text: str) -> str:
    """The DSL text with strings and comments blanked out, offsets and line breaks kept.

    Completion reads a half-typed document that does not parse; masking keeps a word inside a
    string or a comment from being taken for a keyword or an id.
    """
    return _DSL_MASK.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def cursor_in_string_or_comment(text_before: str) -> bool:
    """Whether the end of `text_before` lies inside a string or a comment, where no id goes."""
    for match in _DSL_MASK.finditer(text_before):
        if match.end() != len(text_before):
            continue
        found = match.group(0)
        if found.startswith("#"):
            return True
        if found.startswith('"""'):
            return not (len(found) >= 6 and found.endswith('"""'))
        return not (len(found) >= 2 and found.endswith('"'))
    return False


_ID = r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*"
_DSL_DEFINITIONS = {
    PRODUCT: re.compile(rf"\bproduct\s+({_ID})"),
    GROUP: re.compile(rf"\bgroup\s+({_ID})"),
    FACT: re.compile(rf"\bfact\s+({_ID})"),
    CRITERION: re.compile(rf"\bcriterion\s+({_ID})"),
    CHANNEL: re.compile(rf"\bchannel\s+({_ID})"),
}
_DSL_FACT_VALUES = re.compile(rf"\bfact\s+({_ID})\s*:\s*(?:enum|set)\s*\{{([^}}]*)\}}")
# In masked text the package's "description" is blank, so `as NOUN` follows the unit word.
_DSL_DOSE = re.compile(r"\bdose\s+[0-9]")
DOSE_NOUN = "dose"  # a product's `dose` lets quantities count "doses", as a package noun would
_DSL_PACKAGE_NOUN = re.compile(rf"\bpackage\s+{_ID}\s+[0-9.]+\s+{_ID}\s+as\s+({_ID})")


@dataclass
class Names:
    """The ids a spec defines, by kind, with enum values per fact and package nouns."""

    ids: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, list[str]] = field(default_factory=dict)
    nouns: list[str] = field(default_factory=list)


def dsl_names(text: str) -> Names:
    """The ids a possibly broken DSL text defines, found by patterns over the masked text."""
    masked = mask_dsl(text)
    names = Names()
    for kind, pattern in _DSL_DEFINITIONS.items():
        names.ids[kind] = list(dict.fromkeys(m.group(1) for m in pattern.finditer(masked)))
    for match in _DSL_FACT_VALUES.finditer(masked):
        names.values[match.group(1)] = [v.strip() for v in match.group(2).split(",") if v.strip()]
    names.nouns = list(dict.fromkeys(m.group(1) for m in _DSL_PACKAGE_NOUN.finditer(masked)))
    if _DSL_DOSE.search(masked):
        names.nouns.append(DOSE_NOUN)
    return names


def index_names(index: SpecIndex) -> Names:
    """The ids an index records as defined (YAML, where the document composes while typing)."""
    names = Names(nouns=list(dict.fromkeys(index.nouns)))
    for o in index.occurrences:
        if not o.definition:
            continue
        if o.kind == VALUE and o.owner is not None:
            names.values.setdefault(o.owner, []).append(o.name)
        elif o.kind != PACKAGE:
            names.ids.setdefault(o.kind, []).append(o.name)
    return names
