"""Completion candidates at a cursor: grammar keywords the parser accepts there, and the ids,
channels, units and enum values that fit, in a DSL file or in a YAML spec's DSL values.

The text is usually half typed and does not parse. Keywords come from Lark's interactive parser
fed the text before the cursor (so they are exactly what the grammar allows next); ids come from
what the spec defines, found by patterns that need no parse.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from lark.exceptions import LarkError

from dqmc.authoring.lsp.index import (
    ALL_CHANNELS,
    CHANNEL,
    CRITERION,
    FACT,
    GROUP,
    PRODUCT,
    Names,
    cursor_in_string_or_comment,
    mask_dsl,
)
from dqmc.lang.frontend.dsl_parse import parser
from dqmc.lang.ir import nodes

# What a candidate is, so the editor can show an icon for it.
KEYWORD, ID_REF, UNIT, VALUE, CHANNEL_ITEM, TYPE = (
    "keyword", "id", "unit", "value", "channel", "type")

_WORD_AT_END = re.compile(r"[A-Za-z0-9_-]*\Z")
_TOKEN = re.compile(r'[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*|[0-9]+(?:\.[0-9]+)?'
                    r'|==|!=|<=|>=|\.\.|[<>{}(),:]')
_BILLING_UNITS = nodes.BILLING_UNITS
_FACT_TYPES = nodes.FACT_TYPES


@dataclass(frozen=True, slots=True)
class Candidate:
    label: str
    kind: str
    detail: str = ""


@functools.lru_cache(maxsize=1)
def _keyword_terminals() -> dict[str, str]:
    """Terminal name → keyword, for every word-like string literal of grammar/dqm.lark."""
    return {t.name: t.pattern.value for t in parser().terminals
            if t.pattern.type == "str" and re.fullmatch(r"[a-z_]+", t.pattern.value)}


def grammar_keywords() -> list[str]:
    return sorted(set(_keyword_terminals().values()))


def _accepted(text: str, start: str) -> set[str] | None:
    """The terminals the grammar accepts after `text`, or None if `text` is already wrong."""
    try:
        interactive = parser().parse_interactive(text, start=start)
        interactive.exhaust_lexer()
        return set(interactive.accepts())
    except LarkError:
        return None


def word_start(line_before_cursor: str) -> int:
    """The column (0-based) where the word being typed starts: completion replaces from there."""
    match = _WORD_AT_END.search(line_before_cursor)
    return match.start() if match else len(line_before_cursor)


# -- ids by context --------------------------------------------------------------------------


def _ids(names: Names, *kinds: str) -> list[Candidate]:
    out = []
    for kind in kinds:
        out += [Candidate(name, ID_REF, kind) for name in names.ids.get(kind, [])]
    return out


def _channels(names: Names) -> list[Candidate]:
    declared = list(names.ids.get(CHANNEL, []))
    ids = [cid for cid, _ in nodes.DEFAULT_CHANNELS] + declared
    return ([Candidate(c, CHANNEL_ITEM, "channel") for c in dict.fromkeys(ids)]
            + [Candidate(ALL_CHANNELS, CHANNEL_ITEM, "every channel")])


def _units(names: Names) -> list[Candidate]:
    return ([Candidate(u, UNIT, "billing unit") for u in _BILLING_UNITS]
            + [Candidate(n, UNIT, "package noun") for n in names.nouns]
            + [Candidate(n + "s", UNIT, "package noun") for n in names.nouns])


def _values(names: Names, fact: str) -> list[Candidate]:
    return [Candidate(v, VALUE, f"value of {fact}") for v in names.values.get(fact, [])]


@dataclass
class _Context:
    """The tokens before the cursor and the block the cursor is in."""

    tokens: list[str]
    block: str | None  # policy, product, limit, approve, criterion, or "values of FACT"
    first_on_line: bool

    def last(self, n: int) -> str:
        return self.tokens[-n] if len(self.tokens) >= n else ""


def _context(masked_before: str) -> _Context:
    tokens = _TOKEN.findall(masked_before)
    stack: list[str] = []
    for index, token in enumerate(tokens):
        if token == "{":
            stack.append(_block_kind(tokens[max(0, index - 2):index]))
        elif token == "}" and stack:
            stack.pop()
    line = masked_before.rsplit("\n", 1)[-1]
    return _Context(tokens, stack[-1] if stack else None, not line.strip())


def _block_kind(before: list[str]) -> str:
    """What a `{` opens, from the two tokens before it (strings are masked away)."""
    if len(before) == 2 and before[1] in ("in", "<="):
        return "values of " + before[0]
    if len(before) == 2 and before[0] in ("policy", "product", "limit", "approve", "criterion"):
        return before[0]
    return "other"


def _expression_ids(ctx: _Context, names: Names) -> list[Candidate]:
    """Facts after `when`, `and`, `or`, `not`, `(`; enum values after `FACT ==`."""
    t1, t2 = ctx.last(1), ctx.last(2)
    if t1 in ("==", "!=") and t2:
        return _values(names, t2)
    if t1 in ("when", "and", "or", "not", "(") or not ctx.tokens:
        return _ids(names, FACT)
    return []


def dsl_candidates(text_before: str, names: Names, start: str = "start") -> list[Candidate]:
    """Candidates for the word being typed at the end of `text_before` (a DSL text or fragment)."""
    line = text_before.rsplit("\n", 1)[-1]
    head = text_before[: len(text_before) - (len(line) - word_start(line))]
    if cursor_in_string_or_comment(head):
        return []
    accepted = _accepted(head, start)
    keywords = _keyword_terminals()
    out = []
    if accepted is None or "ID" in accepted:
        out += _ids_in_context(_context(mask_dsl(head)), names, start)
    if accepted is None:  # an earlier mistake: offer every keyword and let the prefix filter
        out += [Candidate(k, KEYWORD) for k in grammar_keywords()]
    else:
        out += [Candidate(keywords[t], KEYWORD) for t in sorted(accepted) if t in keywords]
    return _unique(out)


def _ids_in_context(ctx: _Context, names: Names, start: str) -> list[Candidate]:
    t1, t3 = ctx.last(1), ctx.last(3)
    if ctx.block and ctx.block.startswith("values of "):
        return _values(names, ctx.block.removeprefix("values of "))
    if t1 in ("limit", "approve") or (t1 == "requested" and ctx.last(2) == "approve") or (
            t1 == "," and _in_requested_list(ctx)):
        return _ids(names, PRODUCT, GROUP)
    if t1 == "renews":
        return _ids(names, CRITERION)
    if t1 == "for" and ctx.block == "criterion":
        return _serves()
    if t1 == "type" and ctx.block == "policy":
        return [Candidate(t, TYPE, "policy type") for t in nodes.POLICY_TYPES]
    if t1 == "unit" and ctx.block == "product":
        return [Candidate(u, UNIT, "billing unit") for u in _BILLING_UNITS]
    if t1 == ":" and t3 == "fact":
        return [Candidate(t, TYPE, "fact type") for t in _FACT_TYPES]
    if (t1 == ":" and t3 == "group") or (t1 == "," and _in_group_list(ctx)):
        return _ids(names, PRODUCT)
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", t1) and (
            ctx.block in ("limit", "approve") or start in ("rule_start", "limit_tail_start",
                                                           "limit_line_start")):
        return _units(names)
    if ctx.block in ("limit", "approve") and ctx.first_on_line:
        return _channels(names)
    if start == "limit_line_start" and not ctx.tokens:
        return _channels(names)
    if ctx.block == "criterion" or start == "expr_start":
        return _expression_ids(ctx, names)
    return []


def _in_group_list(ctx: _Context) -> bool:
    """Whether the cursor follows `group ID "..." : a, b,` (the title is masked away)."""
    tokens = ctx.tokens
    index = len(tokens) - 1
    while (index >= 1 and tokens[index] == ","
           and re.fullmatch(r"[A-Za-z_][\w-]*", tokens[index - 1])):
        index -= 2
    return index >= 2 and tokens[index] == ":" and tokens[index - 2] == "group"


def _in_requested_list(ctx: _Context) -> bool:
    """Whether the cursor follows `approve requested a, b,`."""
    tokens = ctx.tokens
    index = len(tokens) - 1
    while (index >= 1 and tokens[index] == ","
           and re.fullmatch(r"[A-Za-z_][\w-]*", tokens[index - 1])):
        index -= 2
    return index >= 1 and tokens[index] == "requested" and tokens[index - 1] == "approve"


def _unique(candidates: list[Candidate]) -> list[Candidate]:
    """One candidate per label, the first: ids, channels and values come before keywords."""
    chosen: dict[str, Candidate] = {}
    for candidate in candidates:
        chosen.setdefault(candidate.label, candidate)
    return list(chosen.values())


# -- YAML specs ------------------------------------------------------------------------------

_KEY_LINE = re.compile(r"^(\s*)(?:-\s+)?([A-Za-z0-9_.-]+)\s*:(?:\s|$)")
_BLOCK_INDICATOR = re.compile(r"^\s*[|>][+-]?\s*(?:#.*)?$")


def _yaml_path(lines: list[str], row: int) -> list[tuple[str, int]]:
    """The keys enclosing line `row` (0-based), outermost first, each with the line it is on."""
    current = lines[row]
    indent = len(current) - len(current.lstrip(" "))
    path: list[tuple[str, int]] = []
    for index in range(row - 1, -1, -1):
        line = lines[index]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _KEY_LINE.match(line)
        line_indent = len(line) - len(line.lstrip(" "))
        if match and line_indent < indent:
            path.append((match.group(2), index))
            indent = line_indent
            if indent == 0:
                break
    return path[::-1]


def yaml_candidates(text_before: str, names: Names) -> list[Candidate]:
    """Candidates in a YAML spec: ids as keys, and the DSL values the spec embeds."""
    lines = text_before.split("\n")
    line = lines[-1]
    path = _yaml_path(lines, len(lines) - 1)
    keys = [k for k, _ in path]
    if keys[:1] == ["criteria"] and keys[-1:] == ["when"]:  # a folded condition's later line
        return dsl_candidates(_when_text(lines, path[-1][1]), names, "expr_start")
    own = _KEY_LINE.match(line)
    item = line.strip().startswith("-")
    if own and not item:
        keys.append(own.group(2))
    top, depth = (keys[0] if keys else ""), len(keys)
    in_approve = top == "criteria" and keys[2:3] == ["approve"]
    # Where limit lines are: under a target (`- retail 30 g per 30 days`), or under a channel.
    line_level = (top == "limits" and depth == 2) or (in_approve and depth == 4)
    rule_level = (top == "limits" and depth == 3) or (in_approve and depth == 5)
    if item:
        text = line.strip()[1:].lstrip()
        if top == "groups" and keys[-1:] == ["products"]:
            return _ids(names, PRODUCT)
        if in_approve and keys[3:] == ["requested"]:  # `approve: {requested: [ids]}`
            return _ids(names, PRODUCT, GROUP)
        if line_level:
            return dsl_candidates(_unquoted(text), names, "limit_line_start")
        if rule_level:
            return dsl_candidates(_unquoted(text), names, "limit_tail_start")
        return []
    if not own:  # typing a key
        if (top == "limits" and depth == 1) or (in_approve and depth == 3):
            return _ids(names, PRODUCT, GROUP)
        if line_level:
            return _channels(names)
        return []
    key, value = keys[-1], line[own.end():]
    if top == "criteria" and key == "when":
        return dsl_candidates(_unquoted(value.lstrip()), names, "expr_start")
    if top == "criteria" and key == "renews":
        return _ids(names, CRITERION)
    if top == "criteria" and key == "for":
        return _serves()
    if top == "facts" and key == "type":
        return [Candidate(t, TYPE, "fact type") for t in _FACT_TYPES]
    if top == "policy" and key == "type":
        return [Candidate(t, TYPE, "policy type") for t in nodes.POLICY_TYPES]
    if top == "products" and key == "unit":
        return [Candidate(u, UNIT, "billing unit") for u in _BILLING_UNITS]
    if rule_level:
        return dsl_candidates(_unquoted(value.lstrip()), names, "limit_tail_start")
    return []


def _serves() -> list[Candidate]:
    """The kinds of request a criterion may serve (`for initial requests`)."""
    return [Candidate("initial", VALUE, "requests without an earlier authorization"),
            Candidate("renewal", VALUE, "requests with an earlier authorization")]


def _unquoted(text: str) -> str:
    return text[1:] if text[:1] in ("'", '"') else text


def _when_text(lines: list[str], when_row: int) -> str:
    """The DSL text of a `when:` value up to the cursor, from its key line on."""
    key = _KEY_LINE.match(lines[when_row])
    head = lines[when_row][key.end():] if key else ""
    first = [] if _BLOCK_INDICATOR.match(head) else [_unquoted(head.strip())]
    body = first + lines[when_row + 1:]
    return "\n".join(body).lstrip()
