"""Source files and spans: where every IR node and diagnostic points back to."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A range in a source file; lines and columns are 1-based, the end is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    @classmethod
    def point(cls, file: str, line: int, col: int) -> Span:
        return cls(file, line, col, line, col + 1)

    def location(self) -> str:
        """`file:line`, the form the generated code and decision traces cite."""
        return f"{self.file}:{self.line}"


NO_SPAN = Span("<unknown>", 1, 1, 1, 2)


@dataclass(frozen=True)
class SourceFile:
    """A spec's text with a line index, so offsets and (line, col) convert both ways."""

    path: str
    text: str
    _line_starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        starts = [0]
        for index, char in enumerate(self.text):
            if char == "\n":
                starts.append(index + 1)
        object.__setattr__(self, "_line_starts", tuple(starts))

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline ("" when out of range)."""
        if line < 1 or line > len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end < 0 else self.text[start:end]

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based (line, col) of a 0-based character offset."""
        offset = max(0, min(offset, len(self.text)))
        line_index = bisect.bisect_right(self._line_starts, offset) - 1
        return line_index + 1, offset - self._line_starts[line_index] + 1

    def offset(self, line: int, col: int) -> int:
        """The 0-based character offset of a 1-based (line, col)."""
        line = max(1, min(line, len(self._line_starts)))
        return self._line_starts[line - 1] + col - 1

    def span(self, start: int, end: int) -> Span:
        """A span from 0-based character offsets [start, end)."""
        line, col = self.position(start)
        end_line, end_col = self.position(max(end, start + 1))
        return Span(self.path, line, col, end_line, end_col)


def known_or(span: Span, fallback: Span) -> Span:
    """`span`, or `fallback` when the IR was built without positions (NO_SPAN)."""
    return fallback if span == NO_SPAN else span
