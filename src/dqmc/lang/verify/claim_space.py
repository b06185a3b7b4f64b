"""Claim-space analysis: the gaps, overlaps and dead rules of a policy, as coded diagnostics.

For each product and channel the claims a pharmacy can send are partitioned by date of service
(the `since` dates), member age (whole years from 0 up, split at every band's first and last
birthday) and package. Each cell is decided by the base lines that select it (docs/semantics.md
§4.1: every selected line is in force, the strictest decides). Three things are holes:

* a **gap**: a product limited somewhere with no line for some reachable age range, package, or
  channel the policy covers, so those claims are paid unlimited. A `no limit` line states such
  a gap on purpose, and the document prints it;
* an **overlap**: two lines of the same kind and window, neither containing the other, giving
  different limits to the claims they share: which one the author meant there is not stated;
* a **dead rule**: a line that never decides (another line of the same kind and window is
  in force for every claim it selects and is at least as strict, or `not covered` rejects those
  claims first, or its selectors select nothing), and a criterion whose approvals are never
  looser than the base limits they replace.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from dqmc.lang.diagnostics import Diagnostic
from dqmc.lang.ir import nodes, queries
from dqmc.lang.source import Span

# Ages are split at band edges up to here; older is one open range.
_OPEN = None


@dataclass(frozen=True, slots=True)
class _Line:
    """A base line as the analysis sees it: when it selects, and what it limits."""

    limit: nodes.Limit
    since: dt.date | None
    low: int  # youngest age selected
    high: int | None  # oldest age selected (None: no upper bound); low > high: none
    package: str | None  # the package selected; None: any
    selects_nothing: bool  # contradictory selectors (two bands that do not meet, two packages)

    @property
    def kind(self) -> str:
        return queries.rule_fields(self.limit.rule)[0]

    @property
    def key(self) -> tuple[str, int | None, str | None]:
        """Lines of one key limit the same measure: kind, window days, unit."""
        kind, _, unit, days, _, _ = queries.rule_fields(self.limit.rule)
        if kind in ("days_supply_max", "therapy_max"):
            return kind, None, None
        return kind, days, unit

    def has_age(self) -> bool:
        return any(isinstance(s, nodes.AgeBand) for s in self.limit.when)


def _line(limit: nodes.Limit) -> _Line:
    low, high = 0, None
    package: str | None = None
    nothing = False
    for selector in limit.when:
        if isinstance(selector, nodes.AgeBand):
            low = max(low, selector.min_years or 0)
            if selector.max_years is not None:
                high = selector.max_years if high is None else min(high, selector.max_years)
        else:
            if package is not None and package != selector.package:
                nothing = True
            package = selector.package
    if high is not None and low > high:
        nothing = True
    return _Line(limit, limit.since, low, high, package, nothing)


def _band(low: int, high: int | None) -> str:
    if high is None:
        return f"{low}.." if low else "every age"
    return f"{low}..{high}"


def verify_policy(policy: nodes.Policy) -> list[Diagnostic]:
    """Every verification finding of a checked policy, in no particular order."""
    found: list[Diagnostic] = []
    covered = _covered_channels(policy)
    for product in policy.products:
        group = queries.group_of(policy, product.id)
        targets = {product.id} | ({group.id} if group is not None else set())
        lines_of = {channel: [_line(limit) for limit in policy.limits
                              if limit.target in targets and limit.channel in (None, channel)]
                    for channel in queries.known_channels(policy)}
        limited = {c for c, lines in lines_of.items() if lines}
        if not limited:
            continue
        found += _channel_gaps(policy, product, lines_of, covered)
        for channel in sorted(limited, key=list(lines_of).index):
            lines = lines_of[channel]
            found += _cell_gaps(product, channel, lines)
            found += _overlaps_and_dead(product, channel, lines)
    found += _dead_criteria(policy)
    return _once(found)


def _once(found: list[Diagnostic]) -> list[Diagnostic]:
    # A line on `all` channels or on a group is examined once per channel and member: say each
    # finding once.
    seen: set[tuple[str, Span, str]] = set()
    out = []
    for d in found:
        key = (d.code, d.span, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _covered_channels(policy: nodes.Policy) -> list[str]:
    """The channels the policy covers: those some line names. A line on `all` channels covers
    whatever channels there are, and makes no channel covered by itself (a policy with a
    `mail` column and `all` lines does not thereby cover the default `home_delivery`)."""
    named = {limit.channel for limit in policy.limits}
    return [c for c in queries.known_channels(policy) if c in named]


def _channel_gaps(policy: nodes.Policy, product: nodes.Product,
                  lines_of: dict[str, list[_Line]], covered: list[str]) -> Iterator[Diagnostic]:
    missing = [c for c in covered if not lines_of[c]]
    if not missing:
        return
    first = next(line.limit for c in covered for line in lines_of[c])
    channels = ", ".join(missing)
    yield Diagnostic(
        "verify.channel-gap",
        f"'{product.id}' has no line at {channels}, where this policy limits other claims: "
        f"claims there are paid with no limit; add a line, or write `{missing[0]} no limit` "
        f"(or `{missing[0]} not covered`) to say so", first.target_span or first.span)


def _regions(lines: list[_Line]) -> list[dt.date | None]:
    """The first day of each date range in which the set of lines in force is the same: None
    for the days before every `since`, then each `since` date, in order."""
    return [None, *sorted({line.since for line in lines if line.since is not None})]


def _in_force(line: _Line, start: dt.date | None) -> bool:
    return line.since is None or (start is not None and line.since <= start)


def _age_cuts(lines: list[_Line]) -> list[int]:
    cuts = {0}
    for line in lines:
        cuts.add(line.low)
        if line.high is not None:
            cuts.add(line.high + 1)
    return sorted(cuts)


def _cell_gaps(product: nodes.Product, channel: str, lines: list[_Line]) -> Iterator[Diagnostic]:
    """Ages and packages with no line, in each date range where the product has some line."""
    if not any(line.has_age() or line.package is not None for line in lines):
        return
    packages: list[str | None] = [p.id for p in product.packages] or [None]
    if not any(line.package is not None for line in lines):
        packages = [None]
    # Only from the latest `since` on, when every line is in force: before it the product's
    # limits were not yet what the spec states, and a gap there could not be stated (a line
    # has a first day, `since`, but no last).
    regions = _regions(lines)[-1:]
    for start in regions:
        live = [line for line in lines if _in_force(line, start) and not line.selects_nothing]
        if not live:
            continue
        cuts = _age_cuts(live)
        for package in packages:
            holes: list[tuple[int, int | None]] = []
            for index, low in enumerate(cuts):
                high = cuts[index + 1] - 1 if index + 1 < len(cuts) else None
                if not any(line.low <= low and (line.high is None or (
                        high is not None and high <= line.high))
                        and line.package in (None, package) for line in live):
                    if holes and holes[-1][1] is not None and holes[-1][1] + 1 == low:
                        holes[-1] = (holes[-1][0], high)
                    else:
                        holes.append((low, high))
            anchor = next((line for line in live if line.has_age() or line.package), live[0])
            for low, high in holes:
                who = f"ages {_band(low, high)}" if (low, high) != (0, None) else "claims"
                what = f" of package {package}" if package is not None else ""
                when = f" from {start}" if start is not None else ""
                if (low, high) != (0, None):
                    example = f"`{channel} no limit when age {_band(low, high)}`"
                elif package is not None:
                    example = f"`{channel} no limit when package {package}`"
                else:  # a group's lines select only other members' packages
                    example = f"`{channel} no limit` on '{product.id}'"
                yield Diagnostic(
                    "verify.age-gap" if (low, high) != (0, None) else "verify.package-gap",
                    f"{who}{what} at {channel}{when} have no limit for '{product.id}': no line "
                    f"selects them, so they are paid unlimited; add a line, or write {example} "
                    "to say so", anchor.limit.span)


def _contains(outer: _Line, inner: _Line) -> bool:
    """Whether `outer` is in force for every claim `inner` selects."""
    return ((outer.since is None or (inner.since is not None and outer.since <= inner.since))
            and outer.low <= inner.low
            and (outer.high is None or (inner.high is not None and inner.high <= outer.high))
            and outer.package in (None, inner.package))


def _meet(a: _Line, b: _Line) -> bool:
    """Whether some claim selects both."""
    low = max(a.low, b.low)
    highs = [h for h in (a.high, b.high) if h is not None]
    return ((not highs or low <= min(highs))
            and (a.package is None or b.package is None or a.package == b.package))


def _measure(rule: nodes.Rule) -> tuple[Decimal, ...] | None:
    """What a rule allows, larger looser, comparable between rules of one key; None for rules
    that allow nothing to compare (not covered, no limit)."""
    kind, quantity, _, days, fills, max_days = queries.rule_fields(rule)
    if kind in ("per_window", "per_fill"):
        assert quantity is not None
        return (quantity,)
    if kind == "per_day":
        assert quantity is not None
        return (quantity, Decimal(max_days) if max_days is not None else Decimal("Infinity"))
    if kind == "fills_per_window":
        return (Decimal(fills or 0),)
    if kind in ("days_supply_max", "therapy_max"):
        return (Decimal(days or 0),)
    return None


def _at_most(a: tuple[Decimal, ...], b: tuple[Decimal, ...]) -> bool:
    """Whether a allows no more than b in every measure."""
    return all(x <= y for x, y in zip(a, b, strict=True))


def _overlaps_and_dead(product: nodes.Product, channel: str,
                       lines: list[_Line]) -> Iterator[Diagnostic]:
    yield from _no_limit_conflicts(product, channel, lines)
    for line in lines:
        if line.selects_nothing:
            yield Diagnostic(
                "verify.dead-rule",
                "this line's selectors cannot all hold (two age bands that do not meet, or two "
                "packages), so it selects no claim and never decides; fix or remove them",
                line.limit.span)
            continue
        excluded = next((o for o in lines if o is not line and o.kind == "not_covered"
                         and line.kind != "not_covered" and _contains(o, line)), None)
        if excluded is not None:
            yield Diagnostic(
                "verify.dead-rule",
                f"'{product.id}' is not covered at {channel} for every claim this line selects "
                f"(line {excluded.limit.span.line}), so it never decides"
                + (f": no date from {line.since} reaches it" if line.since else "")
                + "; remove it or narrow the `not covered` line", line.limit.span)
            continue
    measured = [line for line in lines if not line.selects_nothing
                and _measure(line.limit.rule) is not None]
    dead: set[int] = set()
    for line in measured:
        mine = _measure(line.limit.rule)
        assert mine is not None
        for other in measured:
            if other is line or other.key != line.key:
                continue
            theirs = _measure(other.limit.rule)
            assert theirs is not None
            if other.limit == line.limit:
                continue  # the same line twice: limit.duplicate says so
            # Equal limits restate each other (a row giving "14 each" and "1 kit of 14"): the
            # first of equals is the headline, and neither is a hole. Strictly looser is dead.
            if (_contains(other, line) and _at_most(theirs, mine) and theirs != mine
                    and (other.limit.hard or not line.limit.hard)):
                since = (f"; from its `since {line.since}` on, every date is already decided "
                         f"by line {other.limit.span.line}" if line.since is not None else "")
                yield Diagnostic(
                    "verify.dead-rule",
                    f"this line never decides: line {other.limit.span.line} "
                    f"(`{queries.rule_text(other.limit.rule)}`) is in force for every claim it "
                    f"selects at {channel} and is at least as strict{since}; remove it, or "
                    "narrow the other line's selectors", line.limit.span)
                dead.add(id(line))
                break
    for i, line in enumerate(measured):
        mine = _measure(line.limit.rule)
        for other in measured[i + 1:]:
            if (other.key != line.key or not _meet(line, other) or id(line) in dead
                    or id(other) in dead):
                continue
            theirs = _measure(other.limit.rule)
            if theirs == mine or _contains(line, other) or _contains(other, line):
                continue
            shared = _shared(line, other)
            yield Diagnostic(
                "verify.overlap",
                f"{shared} at {channel} are selected by this line and by line "
                f"{line.limit.span.line} (`{queries.rule_text(line.limit.rule)}`), which give "
                f"'{product.id}' different limits; both are in force there and the stricter "
                "decides. Make their selectors disjoint to say which one applies", other.limit.span)


def _no_limit_conflicts(product: nodes.Product, channel: str,
                        lines: list[_Line]) -> Iterator[Diagnostic]:
    """A `no limit` line says its claims have no limit; a limiting line that selects some of
    them says the opposite, and wins (evaluators never select `no limit`)."""
    for line in lines:
        if line.kind != "no_limit" or line.selects_nothing:
            continue
        other = next((o for o in lines if o.kind != "no_limit" and not o.selects_nothing
                      and _meet(line, o)), None)
        if other is not None:
            yield Diagnostic(
                "verify.overlap",
                f"this line says {_shared(line, other)} at {channel} have no limit, but line "
                f"{other.limit.span.line} (`{queries.rule_text(other.limit.rule)}`) limits "
                f"'{product.id}' for them, and it applies; make their selectors disjoint",
                line.limit.span)


def _shared(a: _Line, b: _Line) -> str:
    """The claims two meeting lines both select, in words."""
    low = max(a.low, b.low)
    highs = [h for h in (a.high, b.high) if h is not None]
    high = min(highs) if highs else None
    parts = [f"ages {_band(low, high)}" if (low, high) != (0, None) else "claims"]
    package = a.package or b.package
    if package is not None:
        parts.append(f"of package {package}")
    since = max((d for d in (a.since, b.since) if d is not None), default=None)
    if since is not None:
        parts.append(f"from {since}")
    return " ".join(parts)


def _dead_criteria(policy: nodes.Policy) -> Iterator[Diagnostic]:
    """A criterion none of whose approvals allows more than the base it replaces."""
    for criterion in policy.criteria:
        if criterion.approves_requested or not criterion.approves:
            continue
        # Under prior authorization an approval of the base limit itself is what lets a claim
        # pay at all (75 otherwise): never dead.
        if policy.requires_authorization or any(
                (product := policy.product(member)) is not None and product.requires_authorization
                for approval in criterion.approves
                for member in queries.scope_products(policy, approval.target)):
            continue
        if all(_never_looser(policy, approval) for approval in criterion.approves):
            yield Diagnostic(
                "verify.dead-criterion",
                f"criterion '{criterion.id}' approves nothing looser than the base limits: an "
                "authorization under it never lets a claim pay that the base rejects; approve "
                "more, or remove it", criterion.span)


def _never_looser(policy: nodes.Policy, approval: nodes.Approval) -> bool:
    """Whether every base line the approval replaces, for each product it covers, is at least
    as loose as it: same key and no stricter in any measure, with nothing else lifted."""
    mine = _measure(approval.rule)
    if mine is None:
        return False
    approved = _line(nodes.Limit(target=approval.target, channel=approval.channel,
                                 rule=approval.rule))
    members = queries.scope_products(policy, approval.target)
    for product_id in members:
        group = queries.group_of(policy, product_id)
        targets = {product_id} | ({group.id} if group is not None else set())
        channels = ([approval.channel] if approval.channel is not None
                    else list(queries.known_channels(policy)))
        for channel in channels:
            base = [_line(limit) for limit in policy.limits if limit.target in targets
                    and limit.channel in (None, channel) and not limit.hard]
            if not base:
                continue
            for line in base:
                measure = _measure(line.limit.rule)
                if line.key != approved.key or measure is None or not _at_most(mine, measure):
                    return False
    return True
