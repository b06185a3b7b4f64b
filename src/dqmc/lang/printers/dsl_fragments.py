"""The DSL spelling of a policy's pieces: strings, ids, quantities, rules, durations, conditions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import assert_never

from dqmc.lang.frontend import lower_common as common
from dqmc.lang.frontend.dsl_parse import parser
from dqmc.lang.ir import nodes
from dqmc.lang.ir.canonical import decimal_text
from dqmc.lang.source import NO_SPAN

MAX_WIDTH = 96  # a condition longer than this is broken onto continuation lines

_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*\Z")


class PrintError(ValueError):
    """The IR holds something the DSL cannot spell, so it did not come from a front end."""


@functools.lru_cache(maxsize=1)
def keywords() -> frozenset[str]:
    """The grammar's keywords that look like ids: an id spelled like one cannot be printed."""
    return frozenset(
        t.pattern.value for t in parser().terminals
        if t.pattern.type == "str" and _ID.match(t.pattern.value))


# ---------------------------------------------------------------------------------------------
# Values, strings and quantities

# Characters a spec must not carry raw: controls and line/paragraph separators break lines, bidi
# controls reorder what a reviewer sees (Trojan Source), other format characters are invisible.
_SEPARATORS = {"\u2028", "\u2029", "\u0085"}
_SIMPLE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}


def _needs_escape(char: str) -> bool:
    if char in _SEPARATORS:
        return True
    # \uXXXX spells only the Basic Multilingual Plane; astral format characters stay as written.
    return ord(char) <= 0xFFFF and unicodedata.category(char) in ("Cc", "Cf", "Cs")


def _quoted(text: str) -> str:
    out = ['"']
    for char in text:
        if char in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[char])
        elif _needs_escape(char):
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _long_form(text: str, indent: int) -> str | None:
    """`text` as a triple-quoted block whose lines sit at `indent`, or None if it cannot be one.

    The block must lower back to exactly `text`, and it must stay readable and robust: no
    characters that would need escaping, and no trailing whitespace an editor might strip.
    """
    if "\n" not in text or '"""' in text:
        return None
    if any(_needs_escape(c) for c in text if c not in "\n\t"):
        return None
    lines = text.split("\n")
    if any(line != line.rstrip() for line in lines):
        return None
    margin = " " * indent
    body = "".join((margin + line if line else "") + "\n" for line in lines)
    raw = '"""\n' + body + margin + '"""'
    if common.dedent_long_string(raw) != text:
        return None  # e.g. every line indented alike: the dedent would take that indent away
    return raw


def format_string(text: str, *, indent: int | None = None) -> str:
    """A string literal for `text`: double-quoted with escapes, or a `\"\"\"` block.

    The block form is used only for multi-line prose when `indent` (the column its lines sit at)
    is given and the block lowers back to the identical text; prose is never re-wrapped.
    Escaped: backslash, quote, newline, tab, and as \\uXXXX every control, format (bidi,
    zero-width) and line/paragraph separator character, so the spec text shows what it holds.
    """
    if indent is not None:
        block = _long_form(text, indent)
        if block is not None:
            return block
    return _quoted(text)


def format_id(name: str) -> str:
    if not _ID.match(name):
        raise PrintError(f"{name!r} is not an id the DSL can spell")
    return name


def format_decimal(value: Decimal) -> str:
    if not value.is_finite() or value < 0:
        raise PrintError(f"the DSL has no literal for the number {value}")
    return decimal_text(value)


def format_value(value: nodes.Value) -> str:
    """A comparison value: enum symbols bare, numbers plain, dates ISO, booleans true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return format_id(value)
    raise PrintError(f"not a comparison value: {value!r}")


def format_symbols(values: Sequence[str]) -> str:
    """`{a, b}`: the values of an enum or set fact, or of an `in` or `<=` test."""
    if not values:
        raise PrintError("a set of values needs at least one value")
    return "{" + ", ".join(format_id(v) for v in values) + "}"


def _count_words(noun: str, count: Decimal) -> list[str]:
    """The words `count` of `noun` may be written in, best first: singular for one, plural for
    more ("tablets" is its own plural, never "tabletses"), then the other spellings lowering
    accepts for a package noun. `_spells` keeps only those that lower back."""
    one = common.singular_noun(noun)
    many = common.plural_noun(one)
    best = [one, noun, many] if count == 1 else [many, noun + "s", noun + "es", noun, one]
    return list(dict.fromkeys([*best, noun, noun + "s", noun + "es"]))


def _spells(q: nodes.Quantity, count: Decimal, word: str,
            products: Sequence[nodes.Product]) -> bool:
    """Whether `count word` lowers, as the front ends resolve it, to exactly `q`."""
    if word in common.UNIT_WORDS or word in keywords() or not _ID.match(word):
        return False
    return common.resolve_word(count, word, list(products), NO_SPAN, []) == q


def format_quantity(q: nodes.Quantity, products: Sequence[nodes.Product] = ()) -> str:
    """`30 g`; `2 tubes` when the author counted packages; `2 tablets` for a product's form.

    `products` are those the quantity is resolved against (a limit's target, narrowed by a
    `when package` selector). A package count prints in the package's noun, and a count of
    `each` in the form's noun ("tablet" for a tablet), but only when that word lowers back
    (through `resolve_word`, the front ends' own resolution) to this very quantity. Otherwise
    the amount prints in billing units: the same amount, though no longer counted in packages.
    """
    if q.doses is not None:
        return f"{format_decimal(q.doses)} {'dose' if q.doses == 1 else 'doses'}"
    if q.per_package and q.package is None:
        assert q.packages is not None  # `N packages` of any package: lowering keeps the count
        return f"{format_decimal(q.packages)} {'package' if q.packages == 1 else 'packages'}"
    if q.packages is not None and q.package is not None:
        for product in products:
            for package in product.packages:
                if package.id != q.package or not package.noun:
                    continue
                for word in _count_words(package.noun, q.packages):
                    if _spells(q, q.packages, word, products):
                        return f"{format_decimal(q.packages)} {word}"
        if q.per_package:
            # A count of packages sized by the drug file has no billing-unit spelling: print the
            # count in the package's noun as it is (only an IR built by hand gets here).
            nouns = [pk.noun for p in products for pk in p.packages if pk.id == q.package]
            noun = nouns[0] if nouns and nouns[0] else q.package
            return f"{format_decimal(q.packages)} {_count_words(noun, q.packages)[0]}"
    elif q.unit == "each" and q.noun is not None:
        # The author counted in the form's noun ("2 blisters"): print that word again.
        for word in _count_words(q.noun, q.amount):
            if _spells(q, q.amount, word, products):
                return f"{format_decimal(q.amount)} {word}"
    return f"{format_decimal(q.amount)} {q.unit}"


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def format_rule(rule: nodes.Rule, products: Sequence[nodes.Product] = ()) -> str:
    """A rule as written in a limit line: `30 g per 30 days`, `2 fills per 30 days`, ..."""
    match rule:
        case nodes.PerWindow():
            return f"{format_quantity(rule.quantity, products)} per {_days(rule.days)}"
        case nodes.PerFill():
            return f"{format_quantity(rule.quantity, products)} per fill"
        case nodes.PerDay():
            tail = "" if rule.max_days is None else f" for up to {_days(rule.max_days)}"
            return f"{format_quantity(rule.quantity, products)} per day{tail}"
        case nodes.FillsPerWindow():
            fills = "1 fill" if rule.fills == 1 else f"{rule.fills} fills"
            return f"{fills} per {_days(rule.days)}"
        case nodes.DaysSupplyMax():
            return f"days supply <= {rule.days}"
        case nodes.TherapyMax():
            return f"therapy <= {_days(rule.days)}"
        case nodes.DailyDose():
            unit = "" if rule.unit is None else f" {rule.unit}"
            return (f"dose {format_id(rule.measure)} {rule.op} {format_decimal(rule.limit)}{unit}"
                    " per day")
        case nodes.FirstFill():
            return f"days supply <= {rule.days} if no fill in {_days(rule.lookback)}"
        case nodes.NotCovered():
            return "not covered"
        case nodes.NoLimit():
            return "no limit"
        case _:
            assert_never(rule)


def format_selector(selector: nodes.Selector) -> str:
    match selector:
        case nodes.AgeBand(min_years=None, max_years=None):
            raise PrintError("an age band needs at least one bound")
        case nodes.AgeBand(min_years=low, max_years=None):
            return f"age {low}.."
        case nodes.AgeBand(min_years=None, max_years=high):
            return f"age ..{high}"
        case nodes.AgeBand(min_years=low, max_years=high):
            return f"age {low}..{high}"
        case nodes.PackageIs():
            return f"package {format_id(selector.package)}"
        case _:
            assert_never(selector)


def format_rule_when(rule: nodes.Rule, products: Sequence[nodes.Product],
                     when: Sequence[nodes.Selector] = ()) -> str:
    """A rule and its selectors (`3 boxes per 30 days when package large`): under `when package
    ID` only that package's noun can name the count, as lowering resolves it."""
    text = format_rule(rule, common.selected_packages(products, when))
    if when:
        text += " when " + " and ".join(format_selector(s) for s in when)
    return text


def format_limit_tail(limit: nodes.Limit, products: Sequence[nodes.Product] = ()) -> str:
    """A limit without target and channel: rule, selectors, `hard`, `since`, note.

    This is the value of a YAML limit's `channel: TEXT` entry; `products` are the limit
    target's (the product, or a group's members), which name packages in quantities.
    """
    parts = [format_rule_when(limit.rule, products, limit.when)]
    if limit.hard:
        parts.append("hard")
    if limit.since is not None:
        parts.append(f"since {limit.since.isoformat()}")
    for override in limit.overrides:
        parts.append("override " + format_override(override))
    if limit.reject_code is not None:
        parts.append("reject " + format_string(limit.reject_code))
    if limit.exempt:
        parts.append("unless member " + ", ".join(format_id(m) for m in limit.exempt))
    if limit.note is not None:
        parts.append("note " + format_string(limit.note))
    return " ".join(parts)


def format_override(override: nodes.DurOverride) -> str:
    """The DUR/PPS codes of a soft edit's override: `service "M0" result "1G"`."""
    codes = [(word, code) for word, code in (("reason", override.reason),
                                             ("service", override.service),
                                             ("result", override.result)) if code is not None]
    if not codes:
        raise PrintError("an override names at least one DUR/PPS code")
    return " ".join(f"{word} {format_string(code)}" for word, code in codes)


def format_duration(duration: nodes.Duration) -> str:
    if duration.kind == "one_time":
        return "one time"
    if duration.kind in nodes.REQUESTED_DURATIONS:
        return nodes.REQUESTED_DURATIONS[duration.kind]
    if duration.unit is None:
        raise PrintError("a fixed duration needs a unit")
    unit = duration.unit[:-1] if duration.amount == 1 else duration.unit
    return f"{duration.amount} {unit}"


# ---------------------------------------------------------------------------------------------
# Conditions

# Parentheses are printed where the grammar needs them to rebuild the same tree: the parser
# makes one flat And for `a and b and c`, so a nested And (or Or) can only come from
# parentheses, and `and` binds tighter than `or`, `not` tighter than both. The IR does not keep
# the parentheses an author wrote for the reader (`(a and b) or c`); `dqmc fmt` reads them from
# the source as a ConditionLayout and keeps those that group a sub-condition.


@dataclass(frozen=True, slots=True)
class ConditionLayout:
    """How the author wrote a condition, where its IR does not say: parentheses, line breaks.

    It mirrors the Expr it describes: `operands` are an And's or an Or's operands, or a Not's
    one; a test (a fact, a comparison) has none. A layout of another shape is ignored.
    """

    parens: bool = False  # written inside parentheses (one pair or more)
    operands: tuple[ConditionLayout, ...] = ()
    breaks: frozenset[int] = frozenset()  # And, Or: the operands written at a line's start
    line: int | None = None  # a test: the source line it is written on


def _matches(layout: ConditionLayout, expr: nodes.Expr) -> bool:
    match expr:
        case nodes.And() | nodes.Or():
            pairs = zip(layout.operands, expr.operands, strict=False)
            return len(layout.operands) == len(expr.operands) and all(
                _matches(sub, operand) for sub, operand in pairs)
        case nodes.Not():
            return len(layout.operands) == 1 and _matches(layout.operands[0], expr.operand)
        case _:
            return not layout.operands


def _checked(expr: nodes.Expr, layout: ConditionLayout | None) -> ConditionLayout | None:
    return layout if layout is not None and _matches(layout, expr) else None


def _sub(layout: ConditionLayout | None, index: int) -> ConditionLayout | None:
    return None if layout is None else layout.operands[index]


def _needs_parens(parent: nodes.Expr, child: nodes.Expr) -> bool:
    if isinstance(parent, nodes.Or):
        return isinstance(child, nodes.Or)
    return isinstance(child, (nodes.And, nodes.Or))


def _parenthesised(parent: nodes.Expr, child: nodes.Expr, layout: ConditionLayout | None) -> bool:
    """Whether `child` prints inside parentheses: where the grammar needs them, and where the
    author wrote them around what they group for the reader, an `and`, `or` or `not`
    (`(a and b) or c`, `(not a) and b`) or what a `not` negates unless a bare fact
    (`not (n >= 2)`). The author's parentheses around a lone test elsewhere (`(a) and b`) and
    around the whole condition are dropped; none are added."""
    if _needs_parens(parent, child):
        return True
    if layout is None or not layout.parens:
        return False
    if isinstance(child, (nodes.And, nodes.Or, nodes.Not)):
        return True
    return isinstance(parent, nodes.Not) and not isinstance(child, nodes.FactRef)


def _operand(parent: nodes.Expr, child: nodes.Expr, layout: ConditionLayout | None = None) -> str:
    text = _format(child, layout)
    return f"({text})" if _parenthesised(parent, child, layout) else text


def _operands(expr: nodes.And | nodes.Or) -> tuple[nodes.Expr, ...]:
    if len(expr.operands) < 2:
        # The parser never builds one: a lone operand stands for itself, and `()` is no condition.
        raise PrintError(f"{type(expr).__name__} needs at least two operands")
    return expr.operands


def format_expr(expr: nodes.Expr, layout: ConditionLayout | None = None) -> str:
    """A condition on one line: with the fewest parentheses that give back the same tree, plus,
    given the author's `layout`, the parentheses they wrote that group a sub-condition."""
    return _format(expr, _checked(expr, layout))


def _format(expr: nodes.Expr, layout: ConditionLayout | None) -> str:
    match expr:
        case nodes.FactRef():
            return format_id(expr.fact)
        case nodes.Compare():
            return f"{format_id(expr.fact)} {expr.op} {format_value(expr.value)}"
        case nodes.InSet():
            return f"{format_id(expr.fact)} in {format_symbols(expr.values)}"
        case nodes.Subset():
            return f"{format_id(expr.fact)} <= {format_symbols(expr.values)}"
        case nodes.Not():
            return "not " + _operand(expr, expr.operand, _sub(layout, 0))
        case nodes.And():
            return " and ".join(_operand(expr, o, _sub(layout, k))
                                for k, o in enumerate(_operands(expr)))
        case nodes.Or():
            return " or ".join(_operand(expr, o, _sub(layout, k))
                               for k, o in enumerate(_operands(expr)))
        case _:
            assert_never(expr)


def _balanced_groups(widths: Sequence[int], base: int, sep: int) -> list[tuple[int, int]]:
    """Split pieces into the fewest lines that fit, then make the longest line as short as can be.

    A line holding pieces [i, j) is `base + sum(widths[i:j]) + sep * (j - i - 1)` wide. A piece
    too wide on its own gets a line to itself (and does not count towards the longest line).
    """
    n = len(widths)
    # best[i]: (lines, longest line) for the first i pieces, with the start of the last line.
    best: list[tuple[int, int]] = [(0, 0)] + [(n + 1, 0)] * n
    start = [0] * (n + 1)
    for end in range(1, n + 1):
        for begin in range(end):
            width = base + sum(widths[begin:end]) + sep * (end - begin - 1)
            if width > MAX_WIDTH and end - begin > 1:
                continue
            counted = width if width <= MAX_WIDTH else 0
            lines, longest = best[begin]
            candidate = (lines + 1, max(longest, counted))
            if candidate < best[end]:
                best[end], start[end] = candidate, begin
    groups: list[tuple[int, int]] = []
    end = n
    while end > 0:
        groups.append((start[end], end))
        end = start[end]
    return groups[::-1]


# Laying a condition out on lines: it is written as a stream of text, the places where a chain
# of `and`s or `or`s may break before an operand, and where each chain's first operand begins
# (its continuation lines align there). The author's breaks are taken; a line still wider than
# MAX_WIDTH is broken at its outermost chain's remaining places, into balanced lines, until
# every line fits or has no place left.


@dataclass(frozen=True, slots=True)
class _Text:
    text: str
    line: int | None = None  # a test's line in the source, for comments written after it


@dataclass(frozen=True, slots=True)
class _Start:
    chain: int
    grouped: bool  # inside its own parentheses: operators continue at the chain's column


@dataclass(frozen=True, slots=True)
class _Break:
    id: int
    chain: int
    word: str  # "and" or "or"
    depth: int  # how many chains enclose this one: the outermost breaks first
    written: bool  # the author began this operand on a new line


class _Stream:
    def __init__(self) -> None:
        self.items: list[_Text | _Start | _Break] = []
        self.chains = 0

    def add(self, expr: nodes.Expr, layout: ConditionLayout | None,
            parent: nodes.Expr | None, depth: int) -> None:
        parens = parent is not None and _parenthesised(parent, expr, layout)
        if parens:
            self.items.append(_Text("("))
        match expr:
            case nodes.And() | nodes.Or():
                word = "and" if isinstance(expr, nodes.And) else "or"
                chain, self.chains = self.chains, self.chains + 1
                self.items.append(_Start(chain, parens))
                for index, operand in enumerate(_operands(expr)):
                    if index:
                        written = layout is not None and index in layout.breaks
                        self.items.append(_Break(len(self.items), chain, word, depth, written))
                    self.add(operand, _sub(layout, index), expr, depth + 1)
            case nodes.Not():
                self.items.append(_Text("not "))
                self.add(expr.operand, _sub(layout, 0), expr, depth)
            case _:
                self.items.append(_Text(_format(expr, None), layout.line if layout else None))
        if parens:
            self.items.append(_Text(")"))


@dataclass
class _Line:
    text: str
    source: int | None = None  # the source line of its first test
    open: list[tuple[_Break, int]] = dataclasses.field(default_factory=list)  # (place, column)


def _render(items: Sequence[_Text | _Start | _Break], taken: set[int], head: str,
            indent: int) -> tuple[list[_Line], dict[int, tuple[int, bool]]]:
    """The lines with the `taken` breaks, and the column each chain's operands align at."""
    lines = [_Line(head)]
    columns: dict[int, tuple[int, bool]] = {}  # by chain: its column, and whether grouped
    for item in items:
        line = lines[-1]
        if isinstance(item, _Text):
            if line.source is None:
                line.source = item.line
            line.text += item.text
        elif isinstance(item, _Start):
            columns[item.chain] = (len(line.text), item.grouped)
        elif item.id in taken:
            lines.append(_Line(" " * _continuation(item, columns, indent) + item.word + " "))
        else:
            line.open.append((item, len(line.text)))
            line.text += f" {item.word} "
    return lines, columns


def _continuation(place: _Break, columns: dict[int, tuple[int, bool]], indent: int) -> int:
    """Where a continuation line's operator starts: right-aligned before the chain's column
    (` and`, `  or` under `when`), never left of the indent (YAML's blocks have no lead);
    inside parentheses, at the column itself, so it stays visibly inside them."""
    column, grouped = columns[place.chain]
    return column if grouped else max(column - len(place.word) - 1, indent)


def _more_breaks(lines: Sequence[_Line], columns: dict[int, tuple[int, bool]],
                 indent: int) -> set[int]:
    """Breaks that split the first line wider than MAX_WIDTH that can still be split, at its
    outermost chain's places, into the fewest, then most even, lines; none when all fit."""
    for line in lines:
        if len(line.text) <= MAX_WIDTH or not line.open:
            continue
        depth = min(place.depth for place, _ in line.open)
        chain = next(place.chain for place, _ in line.open if place.depth == depth)
        places = [(place, at) for place, at in line.open if place.chain == chain]
        word = places[0][0].word
        sep = len(word) + 2
        # A broken-off line is its operator's lead, then its pieces; the first keeps its start.
        # The lead ends at the chain's column (under `when`); a YAML block's lead, which has
        # nothing to align under, is counted so too, as it always was.
        column, grouped = columns[chain]
        base = column + len(word) + 1 if grouped else column
        starts = [at for _, at in places]
        widths = [starts[0] - base] + [end - (at + sep) for at, end in
                                       zip(starts, [*starts[1:], len(line.text)], strict=True)]
        groups = _balanced_groups(widths, base, sep)
        return {places[begin - 1][0].id for begin, _ in groups[1:]}
    return set()


def condition_lines(expr: nodes.Expr, lead: str, indent: int,
                    layout: ConditionLayout | None = None) -> list[str]:
    """`lead` + the condition, broken before `and`/`or` where the author broke it (`layout`,
    when known) and wherever else a line would pass MAX_WIDTH.

    Continuation lines start with the operator right-aligned under `lead` (`when` is four
    characters, like ` and` and `  or`), so the operands line up in one column; inside
    parentheses, under the group's first operand.
    """
    return [text for text, _ in condition_source_lines(expr, lead, indent, layout)]


def condition_source_lines(expr: nodes.Expr, lead: str, indent: int,
                           layout: ConditionLayout | None = None,
                           ) -> list[tuple[str, int | None]]:
    """`condition_lines`, each with the source line of its first test (None without layout),
    so that a comment written after a test goes on the line that holds it."""
    layout = _checked(expr, layout)
    stream = _Stream()
    stream.add(expr, layout, None, 0)
    taken = {item.id for item in stream.items if isinstance(item, _Break) and item.written}
    head = " " * indent + lead
    while True:
        lines, columns = _render(stream.items, taken, head, indent)
        more = _more_breaks(lines, columns, indent)
        if not more:
            return [(line.text, line.source) for line in lines]
        taken |= more
