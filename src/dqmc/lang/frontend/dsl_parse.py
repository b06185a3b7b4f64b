"""DSL text → Lark parse tree; every Lark exception becomes a diagnostic here and nowhere else."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from typing import Any

from lark import (
    Lark,
    Token,
    Tree,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)
from lark.parsers.lalr_interactive_parser import InteractiveParser

from dqmc.lang.diagnostics import Diagnostic
from dqmc.lang.grammars import DSL_GRAMMAR
from dqmc.lang.source import SourceFile, Span

START_RULES = (
    "start", "expr_start", "rule_start", "limit_line_start", "limit_tail_start", "duration_start",
    "factors_file",
)

# What authors see instead of Lark's terminal names in "expected ..." lists.
_TERMINAL_WORDS = {
    "ID": "a name", "STRING": 'a "quoted string"', "LONG_STRING": 'a """long string"""',
    "NUMBER": "a number", "DATE": "a date (YYYY-MM-DD)", "LBRACE": "'{'", "RBRACE": "'}'",
    "LPAR": "'('", "RPAR": "')'", "COLON": "':'", "COMMA": "','", "$END": "the end of the text",
}


def build_parser(**options: Any) -> Lark:
    """A parser of the DSL grammar: LALR, strict, with positions on every node; `options` add
    to these (the formatter keeps every token and sees comments)."""
    return Lark(DSL_GRAMMAR.read_text(encoding="utf-8"), parser="lalr", strict=True,
                propagate_positions=True, maybe_placeholders=True, **options)


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    """The one DSL parser the front end uses, built on first use."""
    # Building the LALR tables is most of a cold `dqmc check`; Lark keeps them in the temp
    # folder, keyed by a hash of the grammar and these options.
    return build_parser(start=list(START_RULES), cache=True)


def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    for terminal in parser().terminals:
        if terminal.name == name and terminal.pattern.type == "str":
            return f"'{terminal.pattern.value}'"
    return name.lower()


def _expected(names: Iterable[str], found: str = "") -> str:
    """"; expected one of ...": at most 8 words, the ones nearest to what was found first, so a
    misspelling's intended word is never cut off the list."""
    words = sorted({_describe_terminal(n) for n in names})
    if not words:
        return ""
    if len(words) > 8:
        if found:
            nearest = difflib.get_close_matches(f"'{found}'", words, n=8, cutoff=0)
            words = nearest + [w for w in words if w not in nearest]
        return "; expected one of " + ", ".join(words[:8]) + ", ..."
    return "; expected " + (words[0] if len(words) == 1 else "one of " + ", ".join(words))


def _keywords(names: set[str] | frozenset[str]) -> list[str]:
    """The keywords among the terminals a parser state accepts (the words an author types)."""
    found = []
    for terminal in parser().terminals:
        if terminal.name in names and terminal.pattern.type == "str":
            word = terminal.pattern.value
            if word.replace("_", "").isalpha():
                found.append(word)
    return sorted(found)


def _did_you_mean(word: str, names: set[str] | frozenset[str]) -> str | None:
    """"'limit'", or "'day' or 'days'": the keywords accepted here that `word` is closest to."""
    close = difflib.get_close_matches(word, _keywords(names), n=2, cutoff=0.7)
    return " or ".join(f"'{w}'" for w in close) if close else None


def _taken(body: str, start: str, fed: int | None = None) -> tuple[list[Token], InteractiveParser]:
    """Replay the parse: the tokens the parser took before it failed (or the first `fed` of
    them), and the parser state after them, to ask what it accepted there."""
    state = parser().parse_interactive(body, start=start)
    taken: list[Token] = []
    try:
        for token in state.iter_parse():
            if fed is not None and len(taken) == fed:
                break
            taken.append(token)
    except UnexpectedInput:
        pass
    return taken, state


def _last_word(tokens: list[Token]) -> list[Token]:
    """The tokens of the last word: adjacent name or keyword tokens with nothing between them
    ("dayz" lexes as the keyword 'day' and the name 'z')."""
    word: list[Token] = []
    for token in reversed(tokens):
        if not str(token).replace("_", "").isalnum():
            break
        if word and token.end_pos != word[0].start_pos:
            break
        word.insert(0, token)
    return word


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
        return None, [_diagnostic(exc, source, body, line_offset, col_offset, start)]


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
                line_offset: int, col_offset: int, start: str = "start") -> Diagnostic:
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
        return _unexpected_token(exc, source, body, line_offset, col_offset, start)
    if isinstance(exc, UnexpectedCharacters):
        char = exc.char  # body[exc.pos_in_stream], which lark types as None
        shown = repr(char) if char.isprintable() and char else f"U+{ord(char):04X}" if char else "?"
        span = shift_span(source.path, line, column, line, column + 1, line_offset, col_offset)
        return Diagnostic("syntax.unexpected-char",
                          f"unexpected character {shown}" + _expected(exc.allowed or set()), span)
    span = shift_span(source.path, line, column, line, column + 1, line_offset, col_offset)
    return Diagnostic("syntax.unexpected-token", str(exc).splitlines()[0], span)


def _unexpected_token(exc: UnexpectedToken, source: SourceFile, body: str, line_offset: int,
                      col_offset: int, start: str) -> Diagnostic:
    token = exc.token
    accepted = exc.accepts or exc.expected
    line = token.line or 1

    def span_of(t: Token) -> Span:
        first_line, first_col = t.line or 1, t.column or 1
        end_col = (t.end_column or first_col + 1) if t.end_line == first_line else first_col + 1
        return shift_span(source.path, first_line, first_col, first_line,
                          max(end_col, first_col + 1), line_offset, col_offset)

    if start == "start" and str(token) == "policy" and accepted <= {"$END"}:
        named = body[token.end_pos or 0:].split(None, 1)
        where = (f"policy '{named[0]}' in a file of its own ({named[0]}.dqm)"
                 if named and named[0].replace("-", "").replace("_", "").isalnum()
                 else "this policy in a file of its own")
        return Diagnostic("syntax.second-policy",
                          f"a .dqm file holds one policy; put {where}", span_of(token))
    if token.type == "ID":
        guess = _did_you_mean(str(token), accepted)
        hint = f" (did you mean {guess}?)" if guess else ""
        return Diagnostic("syntax.unexpected-token", f"unexpected name '{token}'{hint}"
                          + _expected(accepted, str(token)), span_of(token))
    found = (_describe_terminal(token.type) if token.type in _TERMINAL_WORDS
             else f"'{token.value}'")
    taken = _taken(body, start)[0] if token.type != "$END" else []
    taken = [t for t in taken if (t.start_pos or 0) < (token.start_pos or 0)]
    previous = taken[-1] if taken else None
    word = _last_word(taken)
    if word and any(t.type == "ID" for t in word):
        # A misspelt keyword the grammar can also read as names ("30 dayz when ..."): the error
        # shows only at the next token, but the word to fix is the one before it.
        _, state = _taken(body, start, fed=len(taken) - len(word))
        text = "".join(str(t) for t in word)
        guess = _did_you_mean(text, state.accepts())
        if guess is not None and guess != f"'{text}'":
            first, last = word[0], word[-1]
            span = shift_span(source.path, first.line or 1, first.column or 1, last.end_line or 1,
                              last.end_column or 1, line_offset, col_offset)
            return Diagnostic("syntax.unexpected-token",
                              f"unexpected name '{text}'; did you mean {guess}?", span)
    if previous is not None and (previous.end_line or 0) < line:
        # The missing word belongs on the previous line: point just after its last token.
        end_line, end_col = previous.end_line or 1, previous.end_column or 1
        span = shift_span(source.path, end_line, end_col, end_line, end_col + 1,
                          line_offset, col_offset)
        return Diagnostic("syntax.unexpected-token",
                          f"the line ends after '{previous}'" + _expected(accepted), span)
    return Diagnostic("syntax.unexpected-token",
                      f"unexpected {found}" + _expected(accepted), span_of(token))
