"""DSL text → Lark parse tree; every Lark exception becomes a diagnostic here and nowhere else."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from lark import Lark, Tree, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from dqmc.lang.diagnostics import Diagnostic
from dqmc.lang.grammars import DSL_GRAMMAR
from dqmc.lang.source import SourceFile, Span

START_RULES = (
    "start", "expr_start", "rule_start", "limit_line_start", "limit_tail_start", "duration_start",
)

# What authors see instead of Lark's terminal names in "expected ..." lists.
_TERMINAL_WORDS = {
    "ID": "a name", "STRING": 'a "quoted string"', "LONG_STRING": 'a """long string"""',
    "NUMBER": "a number", "DATE": "a date (YYYY-MM-DD)", "LBRACE": "'{'", "RBRACE": "'}'",
    "LPAR": "'('", "RPAR": "')'", "COLON": "':'", "COMMA": "','", "$END": "the end of the text",
}


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    """The one DSL parser, built on first use: LALR, strict, with positions on every node."""
    return Lark(
        DSL_GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        strict=True,
        propagate_positions=True,
        maybe_placeholders=True,
        start=list(START_RULES),
        # Building the LALR tables is most of a cold `dqmc check`; Lark keeps them in the
        # temp folder, keyed by a hash of the grammar and these options.
        cache=True,
    )


def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    for terminal in parser().terminals:
        if terminal.name == name and terminal.pattern.type == "str":
            return f"'{terminal.pattern.value}'"
    return name.lower()


def _expected(names: Iterable[str]) -> str:
    words = sorted({_describe_terminal(n) for n in names})
    if not words:
        return ""
    if len(words) > 8:
        return "; expected one of " + ", ".join(words[:8]) + ", ..."
    return "; expected " + (words[0] if len(words) == 1 else "one of " + ", ".join(words))


def parse_text(
    source: SourceFile,
    start: str = "start",
    *,
    text: str | None = None,
    line_offset: int = 0,
    col_offset: int = 0,
) -> tuple[Tree | None, list[Diagnostic]]:
    """Parse a whole DSL file, or a fragment of a YAML file (`text` placed at the offsets).

    Fragments embedded in YAML report positions in the YAML file: `line_offset` lines and, on
    the fragment's first line, `col_offset` columns are added to Lark's positions.
    """
    body = source.text if text is None else text
    try:
        return parser().parse(body, start=start), []
    except UnexpectedInput as exc:
        return None, [_diagnostic(exc, source, body, line_offset, col_offset)]


def shift_span(file: str, line: int, col: int, end_line: int, end_col: int,
               line_offset: int, col_offset: int) -> Span:
    """Move a fragment-relative position into its host file."""
    return Span(
        file,
        line + line_offset,
        col + (col_offset if line == 1 else 0),
        end_line + line_offset,
        end_col + (col_offset if end_line == 1 else 0),
    )


def _diagnostic(exc: UnexpectedInput, source: SourceFile, body: str,
                line_offset: int, col_offset: int) -> Diagnostic:
    line = getattr(exc, "line", 1) or 1
    column = getattr(exc, "column", 1) or 1
    if isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        # Point just past the last character, where the missing text would go.
        end_line = body.count("\n") + 1
        last = body.rsplit("\n", 1)[-1]
        span = shift_span(source.path, end_line, len(last) + 1, end_line, len(last) + 2,
                          line_offset, col_offset)
        return Diagnostic("syntax.unexpected-eof",
                          "the text ends too early" + _expected(exc.expected), span)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        end_col = (token.end_column or column + 1) if token.end_line == token.line else column + 1
        span = shift_span(source.path, line, column, line, max(end_col, column + 1),
                          line_offset, col_offset)
        found = (_describe_terminal(token.type) if token.type in _TERMINAL_WORDS
                 else f"'{token.value}'")
        if token.type == "ID":
            found = f"name '{token.value}'"
        return Diagnostic("syntax.unexpected-token",
                          f"unexpected {found}" + _expected(exc.accepts or exc.expected), span)
    if isinstance(exc, UnexpectedCharacters):
        char = exc.char  # body[exc.pos_in_stream], which lark types as None
        shown = repr(char) if char.isprintable() and char else f"U+{ord(char):04X}" if char else "?"
        span = shift_span(source.path, line, column, line, column + 1, line_offset, col_offset)
        return Diagnostic("syntax.unexpected-char",
                          f"unexpected character {shown}" + _expected(exc.allowed or set()), span)
    span = shift_span(source.path, line, column, line, column + 1, line_offset, col_offset)
    return Diagnostic("syntax.unexpected-token", str(exc).splitlines()[0], span)
