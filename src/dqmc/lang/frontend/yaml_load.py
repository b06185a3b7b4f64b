"""YAML text → plain data and a {json_pointer: Span} map, safely: no tags, aliases or bombs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dqmc.lang.diagnostics import Diagnostic
from dqmc.lang.frontend.lower_common import forbidden_char
from dqmc.lang.source import SourceFile, Span

DEFAULT_MAX_BYTES = 1 << 20  # 1 MiB, as the pipeline's read limit
DEFAULT_MAX_DEPTH = 64  # a policy nests about 7 deep; this only stops hostile input

_CORE = "tag:yaml.org,2002:"
STR, NULL, BOOL, INT, FLOAT = (_CORE + t for t in ("str", "null", "bool", "int", "float"))
SEQ, MAP = _CORE + "seq", _CORE + "map"

# The YAML 1.2 core schema's plain scalars, the way editors (yaml-language-server) read them:
# `yes`, `no`, `on`, `off` stay text, and so do dates (the schema's pattern checks those), unlike
# PyYAML's YAML 1.1 resolvers. The emitter quotes anything either reading could take for a
# non-string, so emitted files mean the same to both.
# Each entry: tag, pattern, the first characters PyYAML indexes it by ("" for the empty scalar).
CORE_SCHEMA_RESOLVERS: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = (
    (NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ("~", "n", "N", "")),
    (BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), tuple("tTfF")),
    (INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), tuple("-+0123456789")),
    (FLOAT, re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), tuple("-+0123456789.")),
)
_ALLOWED_TAGS = {STR, NULL, BOOL, INT, FLOAT, SEQ, MAP}
_NODE_KIND_TAG = {SequenceNode: SEQ, MappingNode: MAP}


@dataclass(frozen=True, slots=True)
class LoadLimits:
    """Bounds on what a spec may cost to read; specs far below them are every real policy."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH


DEFAULT_LIMITS = LoadLimits()

@dataclass(frozen=True, slots=True)
class Fragment:
    """DSL text embedded in a YAML scalar and where its first character is in the file.

    `text` is the scalar's source slice whenever that parses the same as its value (positions are
    then exact on every line); otherwise it is the value itself and only its start is exact.
    """

    file: str
    text: str
    line: int
    col: int

    def span(self, start: int, end: int) -> Span:
        """The file span of [start, end) in `text`, under the same placement as the DSL parser."""
        return Span(self.file, *self._point(start), *self._point(max(end, start + 1)))

    def _point(self, offset: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, offset)
        if line == 0:
            return self.line, self.col + offset
        return self.line + line, offset - self.text.rfind("\n", 0, offset)


@dataclass
class YamlDocument:
    """A loaded spec: plain data (dicts in file order, lists, str, int, float, bool, None) and where
    each value and key was written, by JSON pointer (`/products/x/form`, keys as `.../form#key`)."""

    source: SourceFile
    data: Any
    spans: dict[str, Span]
    _scalars: dict[str, ScalarNode] = field(default_factory=dict, repr=False)

    def span(self, pointer: str) -> Span:
        """Where the value at `pointer` was written, else its nearest written ancestor."""
        while True:
            if pointer in self.spans:
                return self.spans[pointer]
            if not pointer:
                return Span.point(self.source.path, 1, 1)
            pointer = pointer.rsplit("/", 1)[0]

    def key_span(self, pointer: str) -> Span:
        """Where the key holding the value at `pointer` was written (the value for list items)."""
        return self.spans.get(pointer + "#key") or self.span(pointer)

    def fragment(self, pointer: str) -> Fragment:
        """The text of the string scalar at `pointer`, placed for the DSL parser."""
        node = self._scalars[pointer]
        return _fragment(self.source, node)


def pointer_join(pointer: str, key: str | int) -> str:
    """Append one JSON pointer segment (RFC 6901: `~` → `~0`, `/` → `~1`)."""
    return pointer + "/" + str(key).replace("~", "~0").replace("/", "~1")


class _Mark(Protocol):
    """Where in the text: PyYAML's Mark, or its C extension's (the stubs allow either)."""

    index: int  # the character index


class _Refused(Exception):
    """Stops composing at the first anchor, alias or over-deep collection."""

    def __init__(self, code: str, message: str, mark: _Mark | None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.mark = mark


class _CoreSchemaLoader(yaml.SafeLoader):
    """PyYAML's safe composer with YAML 1.2 core-schema resolution and no anchors or aliases."""

    def __init__(self, stream: str, max_depth: int) -> None:
        super().__init__(stream)
        self._depth = 0
        self._max_depth = max_depth

    def fetch_flow_collection_start(self, TokenClass: type) -> None:
        # Refuse `[[[[...` as the scanner meets it: the scanner reads ahead of the composer, and
        # its simple-key bookkeeping grows with each open bracket.
        if self.flow_level >= self._max_depth:
            raise _Refused("yaml.too-deep", self._too_deep_message(), self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def _too_deep_message(self) -> str:
        return (f"the YAML nests more than {self._max_depth} levels deep; "
                "a policy spec needs far fewer")

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        # Refuse anchors as well as aliases: a spec never needs them, and an alias bomb
        # (a billion laughs) costs nothing to write and everything to expand.
        if isinstance(event, AliasEvent) or event.anchor is not None:
            raise _Refused(
                "yaml.alias", "anchors and aliases (&name, *name) are not allowed in policy specs; "
                "write the value out in full", event.start_mark)
        if not isinstance(event, (MappingStartEvent, SequenceStartEvent)):
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > self._max_depth:
            raise _Refused("yaml.too-deep", self._too_deep_message(), event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# A fresh table (PyYAML keeps it on the class): none of PyYAML's YAML 1.1 resolvers.
_CoreSchemaLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in CORE_SCHEMA_RESOLVERS:
    _CoreSchemaLoader.add_implicit_resolver(_tag, _pattern, list(_first))


def load_yaml(
    source: SourceFile, limits: LoadLimits = DEFAULT_LIMITS,
) -> tuple[YamlDocument | None, list[Diagnostic]]:
    """Compose one YAML document safely; None (with diagnostics) when it cannot be used."""
    size = len(source.text.encode("utf-8"))
    if size > limits.max_bytes:
        return None, [Diagnostic(
            "io.too-large", f"the file has {size} bytes; specs are limited to {limits.max_bytes}",
            Span.point(source.path, 1, 1))]
    loader: _CoreSchemaLoader | None = None
    try:
        # The reader checks every character when it is built, so building it can fail too.
        loader = _CoreSchemaLoader(source.text, limits.max_depth)
        root = loader.get_single_node()
    except _Refused as refusal:
        return None, [Diagnostic(refusal.code, refusal.message, _mark_span(source, refusal.mark))]
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_diagnostic(source, exc)]
    except yaml.YAMLError as exc:  # a ReaderError: a character YAML does not allow
        return None, [_reader_diagnostic(source, exc)]
    except RecursionError:  # a max_depth configured beyond what Python's stack allows
        return None, [Diagnostic("yaml.too-deep", "the YAML nests too deeply for a policy spec",
                                 Span.point(source.path, 1, 1))]
    finally:
        if loader is not None:
            loader.dispose()
    builder = _Builder(source)
    data = builder.value(root, "") if root is not None else None
    if builder.diagnostics:
        return None, builder.diagnostics
    return YamlDocument(source, data, builder.spans, builder.scalars), []


# -- building plain data ---------------------------------------------------------------------


class _Builder:
    """Turns composed nodes into plain data, recording spans and reporting what YAML let through."""

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.spans: dict[str, Span] = {}
        self.scalars: dict[str, ScalarNode] = {}
        self.diagnostics: list[Diagnostic] = []

    def value(self, node: Node, pointer: str) -> Any:
        self.spans[pointer] = _node_span(self.source, node)
        if isinstance(node, ScalarNode):
            self.scalars[pointer] = node
            self._check_text(node)
            return self._scalar(node)
        assert isinstance(node, (SequenceNode, MappingNode))  # the composer makes no other node
        self._check_collection_tag(node)
        if isinstance(node, SequenceNode):
            return [self.value(item, pointer_join(pointer, i)) for i, item in enumerate(node.value)]
        return self._mapping(node, pointer)

    def _mapping(self, node: MappingNode, pointer: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_seen: dict[str, Span] = {}
        for key_node, value_node in node.value:
            key_span = _node_span(self.source, key_node)
            if not isinstance(key_node, ScalarNode):
                self.diagnostics.append(Diagnostic(
                    "yaml.syntax", "a key must be plain text, not a list or a mapping", key_span))
                continue
            self._check_scalar_tag(key_node)
            self._check_text(key_node)
            # Keys are text, as in JSON: `1:` and `true:` name the keys "1" and "true".
            key = key_node.value
            if key in first_seen:
                self.diagnostics.append(Diagnostic(
                    "yaml.duplicate-key",
                    f"key '{key}' is repeated (first at line {first_seen[key].line}); YAML would "
                    "keep only the last value: merge the two or rename one", key_span))
                continue
            first_seen[key] = key_span
            child = pointer_join(pointer, key)
            self.spans[child + "#key"] = key_span
            out[key] = self.value(value_node, child)
        return out

    def _check_text(self, node: ScalarNode) -> None:
        # A "\ud800" escape gives a lone surrogate, which no UTF-8 output can hold (it used to
        # end `dqmc check` in an internal error while hashing the IR): refuse it here, in place.
        found = forbidden_char(node.value)
        if found is not None:
            self.diagnostics.append(Diagnostic(
                "yaml.syntax", f"this text holds {found[1]}; remove it",
                _node_span(self.source, node)))

    def _scalar(self, node: ScalarNode) -> Any:
        tag = node.tag
        if not self._check_scalar_tag(node):
            return node.value
        text = node.value
        if tag == STR:
            return text
        pattern = next(p for t, p, _ in CORE_SCHEMA_RESOLVERS if t == tag)
        if not pattern.match(text):
            self.diagnostics.append(Diagnostic(
                "yaml.unsafe-tag", f"'{text}' is tagged !!{tag[len(_CORE):]} but is not one; "
                "remove the tag", _node_span(self.source, node)))
            return text
        if tag == NULL:
            return None
        if tag == BOOL:
            return text.lower() == "true"
        if tag == INT:
            if text.startswith(("0o", "0x")):
                return int(text[2:], 8 if text[1] == "o" else 16)
            return int(text)
        return float(text.replace(".inf", "inf").replace(".Inf", "inf").replace(".INF", "inf")
                     .replace(".nan", "nan").replace(".NaN", "nan").replace(".NAN", "nan"))

    def _check_scalar_tag(self, node: ScalarNode) -> bool:
        if node.tag in _ALLOWED_TAGS and node.tag not in (SEQ, MAP):
            return True
        self._unsafe_tag(node)
        return False

    def _check_collection_tag(self, node: SequenceNode | MappingNode) -> None:
        if node.tag != _NODE_KIND_TAG[type(node)]:
            self._unsafe_tag(node)

    def _unsafe_tag(self, node: Node) -> None:
        shown = "!!" + node.tag[len(_CORE):] if node.tag.startswith(_CORE) else node.tag
        self.diagnostics.append(Diagnostic(
            "yaml.unsafe-tag", f"the tag {shown} is not allowed: policy specs hold only text, "
            "numbers, true/false, lists and mappings; remove the tag",
            _mark_span(self.source, node.start_mark)))


# -- positions ---------------------------------------------------------------------------------


def _mark_span(source: SourceFile, mark: _Mark | None) -> Span:
    if mark is None:
        return Span.point(source.path, 1, 1)
    # Through the character index, not PyYAML's line count: PyYAML also breaks lines at \r,
    # U+0085, U+2028 and U+2029, SourceFile (and so the caret renderer) only at \n.
    return source.span(mark.index, mark.index + 1)


def _node_span(source: SourceFile, node: Node) -> Span:
    start, end = node.start_mark.index, node.end_mark.index
    if isinstance(node, ScalarNode) and node.style in ("'", '"'):
        start, end = start + 1, end - 1  # the text inside the quotes
    return source.span(start, end)


def _fragment(source: SourceFile, node: ScalarNode) -> Fragment:
    text = source.text
    start, end = node.start_mark.index, node.end_mark.index
    if node.style in ("|", ">"):
        # Block scalars: the content starts on the line after the `|` / `>` header.
        newline = text.find("\n", start)
        start = end if newline < 0 or newline >= end else newline + 1
    elif node.style in ("'", '"'):
        start, end = start + 1, end - 1
    raw = text[start:end]
    # Trailing whitespace means nothing to the DSL; without it "the text ends too early" points
    # just after the last word rather than at the line below a block.
    if raw == node.value or _parses_like_value(raw, node.style):
        return Fragment(source.path, raw.rstrip(), *source.position(start))
    if node.style in ("|", ">"):
        start += len(raw) - len(raw.lstrip(" "))  # the value starts after the indentation
    return Fragment(source.path, node.value.rstrip(), *source.position(start))


def _parses_like_value(raw: str, style: str | None) -> bool:
    """Whether the DSL reads the source slice as it reads the scalar's value.

    YAML folding and indentation only change whitespace, which the DSL ignores, unless a DSL
    "string" or `# comment` spans a line break; escapes (`\\"`, `''`) change the text itself.
    """
    if style == "|":  # literal: the value is the slice less its indentation, line for line
        return True
    if (style == '"' and "\\" in raw) or (style == "'" and "''" in raw):
        return False
    if "#" in raw:  # a DSL comment ends at a line break, which folding removes
        return False
    return all(line.count('"') % 2 == 0 for line in raw.split("\n"))


# -- syntax errors -----------------------------------------------------------------------------

_HINTS = (
    ("mapping values are not allowed here",
     "a value containing ': ' must be quoted, or a key is indented wrongly"),
    ("found character '\\t' that cannot start any token", "indent YAML with spaces, not tabs"),
    ("could not find expected ':'", "a key needs ': ' after it, or a quoted value is not closed"),
    ("expected <block end>", "check the indentation of this line against the lines above"),
    ("found unexpected end of stream", "a quoted value or a bracket is not closed"),
    ("found unknown escape character",
     "in double quotes write \\\\ for a backslash, or use single quotes"),
)


def _syntax_diagnostic(source: SourceFile, exc: yaml.MarkedYAMLError) -> Diagnostic:
    if exc.problem == "but found another document":
        return Diagnostic("yaml.syntax", "a policy file holds one YAML document; remove the "
                          "second `---` document or move it to its own file",
                          _mark_span(source, exc.problem_mark))
    problem = exc.problem or exc.context or "the text is not valid YAML"
    message = f"invalid YAML: {problem}"
    if exc.context and exc.problem:
        message += f" ({exc.context}{_at_line(source, exc.context_mark)})"
    hint = next((h for needle, h in _HINTS if needle in problem), None)
    if hint is None and exc.context and "flow" in exc.context:
        hint = "inside [...] or {...}, quote text that contains , ? : [ ] { } or #"
    if hint:
        message += f"; {hint}"
    mark = exc.problem_mark or exc.context_mark
    return Diagnostic("yaml.syntax", message, _mark_span(source, mark))


def _at_line(source: SourceFile, mark: yaml.Mark | None) -> str:
    return f" at line {source.position(mark.index)[0]}" if mark is not None else ""


def _reader_diagnostic(source: SourceFile, exc: yaml.YAMLError) -> Diagnostic:
    position = getattr(exc, "position", 0)
    character = getattr(exc, "character", None)  # the code point, as an int
    shown = f"U+{character:04X}" if isinstance(character, int) else "a character"
    return Diagnostic("yaml.syntax", f"{shown} is not allowed in YAML text; remove it or write it "
                      "as an escape in a double-quoted string", source.span(position, position + 1))
