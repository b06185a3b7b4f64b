"""IR nodes: frozen dataclasses for every concept a DQM policy states (docs/language.md).

Every node carries a `span` (where it was written) that is excluded from equality, so the YAML
and DSL spellings of one policy compare equal. Children are tuples, in source order. Quantities
are Decimal in billing units; how the author wrote them ("2 tubes") is kept for the documents.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from dqmc.lang.source import NO_SPAN, Span

# The closed set of NCPDP billing units (600-28: GM, ML, EA).
BillingUnit = Literal["g", "mL", "each"]
BILLING_UNITS: tuple[str, ...] = ("g", "mL", "each")
NCPDP_UNIT = {"g": "GM", "mL": "ML", "each": "EA"}

# The channels every policy knows without declaring them (docs/language.md, Channels).
DEFAULT_CHANNELS: tuple[tuple[str, str], ...] = (("retail", "Retail"),
                                                 ("home_delivery", "Home Delivery"))

PolicyType = Literal["per_days", "per_rx", "per_day", "mixed", "prior_authorization",
                     "override_guideline"]
POLICY_TYPES: tuple[str, ...] = ("per_days", "per_rx", "per_day", "mixed", "prior_authorization",
                                 "override_guideline")

FactType = Literal["bool", "enum", "set", "number", "date"]
FACT_TYPES: tuple[str, ...] = ("bool", "enum", "set", "number", "date")

CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]
COMPARE_OPS: tuple[str, ...] = ("==", "!=", "<", "<=", ">", ">=")

TimeUnit = Literal["days", "weeks", "months", "years"]
TIME_UNITS: tuple[str, ...] = ("days", "weeks", "months", "years")

SECTION_KINDS: tuple[str, ...] = ("overview", "dosing", "availability", "policy_statement", "other")

# Which exception requests a criterion serves: a renewal request brings an earlier authorization
# for the product (`prior_authorization`), an initial request does not. None: both.
Serves = Literal["initial", "renewal"]
SERVES: tuple[str, ...] = ("initial", "renewal")


MONTH_NAMES: tuple[str, ...] = ("January", "February", "March", "April", "May", "June", "July",
                                 "August", "September", "October", "November", "December")


@dataclass(frozen=True, slots=True)
class Month:
    """A date the source gives to the month only ("July 2020"): a review or revision date. No day
    is ever invented for it. It orders before every day of its month (`date_key`); `surely_after`
    compares at the coarser precision of the two."""

    year: int
    month: int

    def isoformat(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def __str__(self) -> str:
        return self.isoformat()

    def __lt__(self, other: object) -> bool:
        return _date_compare(self, other, lambda a, b: a < b)

    def __le__(self, other: object) -> bool:
        return _date_compare(self, other, lambda a, b: a <= b)

    def __gt__(self, other: object) -> bool:
        return _date_compare(self, other, lambda a, b: a > b)

    def __ge__(self, other: object) -> bool:
        return _date_compare(self, other, lambda a, b: a >= b)


# A review or revision date: a day, or a month when the source gives no day.
PolicyDate = dt.date | Month


def date_key(value: PolicyDate) -> tuple[int, int, int]:
    """The order of policy dates: by day, a month before every day within it."""
    if isinstance(value, Month):
        return (value.year, value.month, 0)
    return (value.year, value.month, value.day)


def _date_compare(left: Month, right: object, op: Any) -> Any:
    if not isinstance(right, (Month, dt.date)):
        return NotImplemented
    return op(date_key(left), date_key(right))


def surely_after(later: PolicyDate, earlier: PolicyDate) -> bool:
    """Whether `later` is after `earlier` whatever days the month-only ones stand for: compared
    at the coarser precision of the two (2020-07-15 is not surely after 2020-07)."""
    if isinstance(later, Month) or isinstance(earlier, Month):
        return (later.year, later.month) > (earlier.year, earlier.month)
    return later > earlier


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)


# ---------------------------------------------------------------------------------------------
# References


class Ref(str):
    """A reference to something the policy defines (a product, group, fact, criterion, package or
    channel), or a definition's own id, as written: the id, and where the source names it
    (`span`).

    A Ref is its id: a `str` whose equality, hash, ordering, repr and canonical JSON are the
    id's, so YAML and DSL spellings compare equal and content hashes do not see spans. The front
    ends lower every id as a Ref (the unresolved IR); name resolution (`resolve.py`) binds each
    to its definition and gives the policy back with plain ids, their spans kept in its
    `ResolvedPolicy`. Fields that hold references are typed `str`: an IR built by hand (tests,
    synth) holds plain ids, which have no span (`ref_span`).
    """

    span: Span

    def __new__(cls, id: str, span: Span = NO_SPAN) -> Ref:
        ref = super().__new__(cls, id)
        ref.span = span
        return ref

    @property
    def id(self) -> str:
        """The id as a plain string."""
        return str.__str__(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Ref, (self.id, self.span))


def ref_span(reference: str, fallback: Span = NO_SPAN) -> Span:
    """Where the source names a reference; `fallback` for a plain id or a Ref with no span."""
    span = reference.span if isinstance(reference, Ref) else NO_SPAN
    return fallback if span == NO_SPAN else span


# ---------------------------------------------------------------------------------------------
# The base of every node, and the one way passes walk the IR (after Jinja2's `nodes.Node` and
# `NodeVisitor`, and sqlglot's `Expression.walk`)


class Node:
    """The base of every IR dataclass. A node's children are the nodes among its fields, in field
    order, looking inside tuples; everything else (ids, numbers, text, spans, dates) is a value.

    Passes collect through `walk()` and compute per node type through a `Visitor`, so only this
    module knows where a node keeps its children."""

    __slots__ = ()

    def children(self) -> Iterator[Node]:
        """The child nodes, in field order, through tuples."""
        for name in _child_fields(type(self)):
            value = getattr(self, name)
            if isinstance(value, Node):
                yield value
            elif isinstance(value, tuple):
                for item in value:
                    if isinstance(item, Node):
                        yield item

    def walk(self) -> Iterator[Node]:
        """This node and every node below it, pre-order: the node first, then each child's walk."""
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(tuple(node.children())))

    def transform(self, fn: Callable[[Node], Node]) -> Node:
        """Rebuild bottom-up: each child is transformed first, then `fn` is given this node with
        its new children (`dataclasses.replace`, spans kept). Returns the same object wherever
        nothing changed, so `tree.transform(f) is tree` says `f` changed nothing."""
        changes: dict[str, Any] = {}
        for name in _child_fields(type(self)):
            value = getattr(self, name)
            if isinstance(value, Node):
                new = value.transform(fn)
                if new is not value:
                    changes[name] = new
            elif isinstance(value, tuple):
                items = tuple(item.transform(fn) if isinstance(item, Node) else item
                              for item in value)
                if any(new is not old for new, old in zip(items, value, strict=True)):
                    changes[name] = items
        node = dataclasses.replace(self, **changes) if changes else self  # type: ignore[type-var]
        return fn(node)


_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(cls: type) -> tuple[str, ...]:
    """The fields of a node class that can hold nodes: its content fields (spans, source
    positions and the policy index are compared by nothing, and hold none)."""
    names = _CHILD_FIELDS.get(cls)
    if names is None:
        names = _CHILD_FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.compare)
    return names


T = TypeVar("T")


class Visitor(Generic[T]):
    """A computation per node type: `visit(node)` calls `visit_<ClassName>(node)`, and
    `generic_visit(node)` for a class it has no method for. A visitor answers for the connectives
    (And, Or, Not) itself where the answer is not a collection (three-valued truth, text);
    collections of the nodes below are `walk()`'s job."""

    def visit(self, node: Node) -> T:
        method: Callable[[Any], T] = getattr(self, "visit_" + type(node).__name__,
                                             self.generic_visit)
        return method(node)

    def generic_visit(self, node: Node) -> T:
        """Called for a node type with no `visit_` method; by default that is a mistake."""
        raise TypeError(f"{type(self).__name__} has no visit_{type(node).__name__}")


# ---------------------------------------------------------------------------------------------
# Quantities and products


@dataclass(frozen=True, slots=True, kw_only=True)
class Quantity(Node):
    """An amount in a billing unit; `packages`/`package` record an author's "2 tubes" form."""

    amount: Decimal
    unit: BillingUnit
    packages: Decimal | None = None  # the count the author wrote, when written in packages
    package: str | None = None  # the id of the package that count refers to
    # True when `package`'s size comes from the drug file: `amount` then counts packages (equal
    # to `packages`), and billing units are known only per claim (its `package_size`).
    per_package: bool = False
    # The dosage-form word an author counted `each` in ("2 blisters": "blister"), so documents
    # say what the source says; None for "2 each" and for amounts in g or mL.
    noun: str | None = None
    doses: Decimal | None = None  # the count the author wrote in doses (`16 doses`)
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Package(Node):
    """One package a product is sold in: its size in billing units and its own name."""

    id: str
    size: Quantity | None  # None: `from drug file`, the claim brings the size (`package_size`)
    description: str  # e.g. "30 gram tube"
    noun: str | None = None  # what authors count in: "tube" lets a limit say "2 tubes"
    ndcs: tuple[str, ...] = ()  # NDC-11s of this package, never invented
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Content(Node):
    """`contains 10 mg oxycodone`: how much of one ingredient one billing unit holds, in a unit of
    strength (mg, mcg, mcg/h...); daily-dose rules add these up across products."""

    amount: Decimal
    unit: str
    ingredient: str
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Factor(Node):
    """One row of a conversion-factor table: an ingredient and what one unit of it counts as."""

    ingredient: str
    factor: Decimal
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class FactorTable(Node):
    """`factors mme "..." { oxycodone 1.5 ... }`: conversion factors a daily-dose rule multiplies
    each ingredient's amount by (e.g. morphine milligram equivalents), with the source cited."""

    id: str
    title: str
    factors: tuple[Factor, ...]
    source: str | None = None
    # `use factors mme from "shared/cdc-2022-mme.dqm"`: the shared factor file the table was
    # taken from, as the policy writes it (relative to the policy's file); None for a table the
    # policy states itself. Content: where the factors come from is part of what the policy says.
    origin: str | None = None
    # a table taken from a shared file: where that file defines it (`span` is the `use` line)
    defined_at: Span = _span()
    span: Span = _span()

    def factor(self, ingredient: str) -> Decimal | None:
        return next((f.factor for f in self.factors if f.ingredient == ingredient), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Product(Node):
    """A product row of the policy: one strength and form, billed in one unit."""

    id: str
    brand: str
    generic: str
    strength: str | None
    form: str
    unit: BillingUnit
    packages: tuple[Package, ...] = ()
    ndcs: tuple[str, ...] = ()  # NDC-11s matching the product whatever the package
    gpi: str | None = None  # GPI-14 or a GPI prefix, as the source states it
    label: str | None = None  # the row name the document shows, e.g. "Triptan tablets"
    # "(PA required)": a claim is rejected with 75 unless an active authorization covers it
    requires_authorization: bool = False
    # `dose 1 each`: one dose in billing units, so that limits may count doses ("16 doses")
    dose: Quantity | None = None
    # `contains 10 mg oxycodone`: what one billing unit holds, for daily-dose rules
    contents: tuple[Content, ...] = ()
    span: Span = _span()

    @property
    def drug_file_sized(self) -> bool:
        """Whether its package size comes from the drug file: limits count its packages."""
        return any(package.size is None for package in self.packages)


@dataclass(frozen=True, slots=True, kw_only=True)
class Group(Node):
    """Products whose paid quantities accumulate together against one limit."""

    id: str
    title: str
    products: tuple[str, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel(Node):
    """A dispensing channel a limit can be stated for (retail, home delivery, specialty...)."""

    id: str
    label: str
    span: Span = _span()


# ---------------------------------------------------------------------------------------------
# Rules: the closed set of limit kinds real policies use


@dataclass(frozen=True, slots=True, kw_only=True)
class PerWindow(Node):
    """`Q per N days`: paid quantity in a rolling N-day window, plus this claim, at most Q."""

    quantity: Quantity
    days: int
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class PerFill(Node):
    """`Q per fill`: one claim's quantity at most Q (a "per Rx" limit)."""

    quantity: Quantity
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class PerDay(Node):
    """`Q per day [for up to M days]`: quantity / days supply at most Q, days supply at most M."""

    quantity: Quantity
    max_days: int | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class FillsPerWindow(Node):
    """`K fills per N days`: at most K paid claims in a rolling N-day window, this one included."""

    fills: int
    days: int
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class DaysSupplyMax(Node):
    """`days supply <= D`: one claim's days supply at most D."""

    days: int
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class TherapyMax(Node):
    """`therapy <= D days`: the course of therapy this claim continues, counted from its first
    day to the last day of this claim's supply, at most D days (docs/language.md, *Therapy*)."""

    days: int
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyDose(Node):
    """`dose mme < 90 per day`, `dose acetaminophen <= 4000 mg per day`: the cumulative daily dose
    of an ingredient (or, through a factor table, of every ingredient it lists) over this claim
    and every active prior fill, below (`<`) or at most (`<=`) the limit (docs/language.md,
    *Daily dose*). A fill is active from its date of service through date + days supply - 1."""

    measure: str  # an ingredient, or the id of a factor table
    op: Literal["<", "<="]
    limit: Decimal
    unit: str | None  # the ingredient's unit (mg); None for a factor table (its id names it)
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class FirstFill(Node):
    """`days supply <= 7 if no fill in 60 days`: a member with no paid fill of the rule's products
    dated in the `lookback` days before the date of service may have at most `days` days supply."""

    days: int
    lookback: int
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class NotCovered(Node):
    """`not covered`: the product is not available at the channel; a claim there is rejected and
    no authorization can approve it (e.g. a drug "not available by mail")."""

    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class NoLimit(Node):
    """`no limit`: the claims the line selects are, on purpose, limited by nothing (e.g. "no
    limit for ages under 4"). Evaluators never select it (such claims are `not_applicable`, as
    claims no line selects are); it states a gap, so that verification accepts it and the
    document prints it."""

    span: Span = _span()


Rule = (PerWindow | PerFill | PerDay | FillsPerWindow | DaysSupplyMax | TherapyMax | DailyDose
        | FirstFill | NotCovered | NoLimit)
# The rules that state a quantity (their `quantity` field); `isinstance(rule, QuantityRule)`.
QuantityRule = PerWindow | PerFill | PerDay


# Selectors: conditions that choose which rule applies to a claim.


@dataclass(frozen=True, slots=True, kw_only=True)
class AgeBand(Node):
    """The member's age in whole years on the date of service is within [min, max] inclusive."""

    min_years: int | None = None
    max_years: int | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageIs(Node):
    """The claim is for one named package of the product (limits that differ by package size)."""

    package: str
    span: Span = _span()


Selector = AgeBand | PackageIs


@dataclass(frozen=True, slots=True, kw_only=True)
class DurOverride(Node):
    """`override service "M0" result "1G"`: the DUR/PPS codes (NCPDP 439-E4 reason for service,
    440-E5 professional service, 441-E6 result of service) with which a pharmacist passes a soft
    edit; a code left out matches any value the claim sends."""

    reason: str | None = None
    service: str | None = None
    result: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit(Node):
    """A base limit: a product or group, a channel (None: every channel), a rule and when it
    applies."""

    target: str  # product id or group id
    channel: str | None
    rule: Rule
    when: tuple[Selector, ...] = ()
    hard: bool = False  # a ceiling no override may pass
    note: str | None = None  # a qualifier the document prints, e.g. "before chemotherapy"
    since: dt.date | None = None  # the implementation date: claims dated before it ignore the rule
    # A soft edit: DUR/PPS code sets any one of which, sent on the claim, passes this line
    overrides: tuple[DurOverride, ...] = ()
    reject_code: str | None = None  # the code this line rejects with (None: the policy's)
    # `unless member hospice, cancer`: a member with any of these exclusions is exempt
    exempt: tuple[str, ...] = ()
    span: Span = _span()
    target_span: Span = _span()  # where the source names the target, for diagnostics about it


# ---------------------------------------------------------------------------------------------
# Facts and criteria


@dataclass(frozen=True, slots=True, kw_only=True)
class Fact(Node):
    """A typed question an exception review answers."""

    id: str
    type: FactType
    question: str
    values: tuple[str, ...] = ()  # for enum and set facts
    span: Span = _span()


Value = bool | str | Decimal | dt.date


@dataclass(frozen=True, slots=True, kw_only=True)
class FactRef(Node):
    """A bool fact used as a condition on its own."""

    fact: str
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Compare(Node):
    """`fact OP value`: equality for any type, ordering for numbers and dates."""

    fact: str
    op: CompareOp
    value: Value
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class InSet(Node):
    """`fact in {a, b}`: an enum fact's answer is one of the values."""

    fact: str
    values: tuple[str, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Subset(Node):
    """`fact <= {a, b}`: every member of a set fact's answer is one of the values."""

    fact: str
    values: tuple[str, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Not(Node):
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class And(Node):
    operands: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Or(Node):
    operands: tuple[Expr, ...]
    span: Span = _span()


Expr = FactRef | Compare | InSet | Subset | Not | And | Or
# The tests of a condition, each reading one fact; And, Or and Not only combine them.
Leaf = FactRef | Compare | InSet | Subset
LEAF_TYPES = (FactRef, Compare, InSet, Subset)


def leaves(node: Node) -> Iterator[Leaf]:
    """The tests below a node (a condition, a criterion, a policy), in source order."""
    return (n for n in node.walk() if isinstance(n, LEAF_TYPES))


class ThreeValued(Visitor["bool | None"]):
    """Three-valued truth of a condition (None: unknown): And, Or and Not combine by Kleene's
    rules (false wins an And, true an Or, not unknown is unknown) what `leaf` says of each test."""

    def leaf(self, expr: Leaf) -> bool | None:
        raise NotImplementedError

    def visit_And(self, expr: And) -> bool | None:
        values = [self.visit(op) for op in expr.operands]
        return False if False in values else (None if None in values else True)

    def visit_Or(self, expr: Or) -> bool | None:
        values = [self.visit(op) for op in expr.operands]
        return True if True in values else (None if None in values else False)

    def visit_Not(self, expr: Not) -> bool | None:
        value = self.visit(expr.operand)
        return None if value is None else not value

    def generic_visit(self, node: Node) -> bool | None:
        if not isinstance(node, LEAF_TYPES):
            raise TypeError(f"not a condition: {type(node).__name__}")
        return self.leaf(node)


@dataclass(frozen=True, slots=True, kw_only=True)
class Duration(Node):
    """How long an approval lasts: `fixed` for amount × unit, `one_time` for a single fill,
    `as_requested` until the review request's `requested.through`, `one_time_or_requested` until
    that date when the request gives one, else a single fill."""

    kind: Literal["fixed", "one_time", "as_requested", "one_time_or_requested"]
    amount: int = 0
    unit: TimeUnit | None = None
    span: Span = _span()


# Durations whose end date the review request gives (`requested.through`), with their DSL text.
REQUESTED_DURATIONS = {"as_requested": "as requested",
                       "one_time_or_requested": "one time or as requested"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Approval(Node):
    """What a criterion approves for a product or group at one channel (None: every channel)."""

    target: str
    channel: str | None
    rule: Rule
    span: Span = _span()
    target_span: Span = _span()  # where the source names the target, for diagnostics about it


@dataclass(frozen=True, slots=True, kw_only=True)
class Criterion(Node):
    """An exception criterion: a condition over facts and the limits it approves instead."""

    id: str
    title: str | None
    when: Expr
    approves: tuple[Approval, ...]
    duration: Duration | None = None  # None: the policy's approval duration
    renews: str | None = None  # for a renewal criterion: the id of the initial criterion
    # `approve requested`: the approval grants the limit the exception request asks for
    approves_requested: bool = False
    # `for initial requests` / `for renewal requests`: the only requests it is tried for
    serves: Serves | None = None
    # `approve requested a, b`: the products or groups it approves the quantity requested for;
    # empty: every product (a plain `approve requested`)
    requested_for: tuple[str, ...] = ()
    span: Span = _span()
    # where the source names each of `requested_for`, for diagnostics about it
    requested_for_span: tuple[Span, ...] = field(default=(), compare=False, repr=False)


# ---------------------------------------------------------------------------------------------
# Prose, references, history and the policy


@dataclass(frozen=True, slots=True, kw_only=True)
class Section(Node):
    """A prose section of the published document, in the authors' own words."""

    kind: str  # one of SECTION_KINDS
    title: str
    text: str
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference(Node):
    text: str
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Revision(Node):
    """A row of the revision history table."""

    type: str  # e.g. "New Policy", "Annual Revision"
    date: PolicyDate
    summary: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy(Node):
    """A whole policy: the unit the compiler checks, hashes and generates code and documents for."""

    id: str
    title: str
    type: PolicyType
    review_date: PolicyDate | None = None
    effective_date: dt.date | None = None
    approval_duration: Duration | None = None
    reject_code: str = "76"
    daily_rate_check: bool = False  # docs/semantics.md §3.5, only where the policy declares it
    requires_authorization: bool = False  # every product needs prior authorization (75)
    # a fallback guideline: a request naming no policy, for a product whose own policy has no
    # criteria, is reviewed under this policy (DSL `applies to any product without its own
    # criteria`, YAML `applies_to: fallback`)
    fallback: bool = False
    channels: tuple[Channel, ...] = ()
    products: tuple[Product, ...] = ()
    groups: tuple[Group, ...] = ()
    factor_tables: tuple[FactorTable, ...] = ()
    limits: tuple[Limit, ...] = ()
    facts: tuple[Fact, ...] = ()
    criteria: tuple[Criterion, ...] = ()
    sections: tuple[Section, ...] = ()
    references: tuple[Reference, ...] = ()
    history: tuple[Revision, ...] = ()
    span: Span = _span()

    # Products, groups, facts and channels by id, built once: generators look products and groups
    # up once per product and rule, and a scan each time made a policy of thousands of products
    # quadratic. A Policy is frozen, so an index built at construction stays right; it is on the
    # policy itself, compared and hashed by nothing, and not part of the content.
    index: PolicyIndex = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", PolicyIndex.of(self))

    def product(self, product_id: str) -> Product | None:
        return self.index.products.get(product_id)

    def group(self, group_id: str) -> Group | None:
        return self.index.groups.get(group_id)

    def fact(self, fact_id: str) -> Fact | None:
        return self.index.facts.get(fact_id)

    def channel(self, channel_id: str) -> Channel | None:
        return self.index.channels.get(channel_id)

    def factor_table(self, table_id: str) -> FactorTable | None:
        return next((t for t in self.factor_tables if t.id == table_id), None)


@dataclass(frozen=True, slots=True)
class PolicyIndex:
    """A policy's products, groups, facts and channels by id; of a duplicated id, the first
    declaration, as a scan would find (duplicates are reported by the checks)."""

    products: dict[str, Product]
    groups: dict[str, Group]
    facts: dict[str, Fact]
    channels: dict[str, Channel]

    @staticmethod
    def of(policy: Policy) -> PolicyIndex:
        return PolicyIndex(products=_first_by_id(policy.products),
                           groups=_first_by_id(policy.groups),
                           facts=_first_by_id(policy.facts),
                           channels=_first_by_id(policy.channels))


_Item = TypeVar("_Item", Product, Group, Fact, Channel)


def _first_by_id(items: tuple[_Item, ...]) -> dict[str, _Item]:
    index: dict[str, _Item] = {}
    for item in items:
        index.setdefault(item.id, item)
    return index


def default_channels() -> tuple[Channel, ...]:
    return tuple(Channel(id=cid, label=label) for cid, label in DEFAULT_CHANNELS)
