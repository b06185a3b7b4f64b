"""`dqmc synth`: seeded, reproducible synthetic claim files shaped by a policy's limits.

Each member is drawn from its own random stream (seeded by the seed and the member's number),
so a file for N members is the first part of the file for N + 1 members, and two runs with one
seed are byte-identical. Members refill on a rhythm set by the policy's limits (a 30-day window
gives 30-day fills), with heavy users who ask for twice the usual quantity, early refills, late
refills, channel switches, reversals and rebills under the same claim id. Rows are written
sorted by member, then date, as `dqmc impact` streams them.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from dqmc.lang.ir import nodes
from dqmc.lang.ir.canonical import decimal_text

# The columns of a claims file, in the order the writers use (what `dqmc impact` reads).
COLUMNS = ("member_id", "claim_id", "date_of_service", "product", "ndc", "quantity", "unit",
           "days_supply", "channel", "status", "birth_date")
DEFAULT_START = dt.date(2025, 1, 1)
DEFAULT_DAYS = 365

# Behaviour, per member or per fill. Chosen to look like a specialty-light retail book: most
# members refill on time; a minority are heavy users, refill early, switch channels or stop.
CHANNEL_WEIGHTS = {"retail": 0.7, "home_delivery": 0.3}
OTHER_CHANNEL_WEIGHT = 0.1  # a channel a policy declares beyond the defaults
HEAVY_USER = 0.2  # asks for twice the usual quantity on every fill
LIGHT_USER = 0.1  # asks for half the usual quantity (never less than one package)
CHILD = 0.1  # 2–17 years old, for policies with age bands
STOPS_EARLY = 0.3  # stops after 1–4 fills
EARLY_REFILL = 0.12  # refills after 50–80 % of the days supply
LATE_REFILL = 0.08  # refills after 130–200 % of the days supply
SWITCH_CHANNEL = 0.06  # moves to another channel, for good, at this fill
REVERSAL = 0.04  # the fill is reversed 0–5 days later...
REBILL_AFTER_REVERSAL = 0.6  # ...and often billed again under the same claim id
NDC_INSTEAD_OF_ID = 0.5  # for products that list NDCs: the claim names the NDC


@dataclass(frozen=True)
class Fill:
    """The usual fill of one product at one channel, derived from the policy's base limits."""

    quantity: Decimal
    days_supply: int


@dataclass(frozen=True)
class ProductPlan:
    """A product members can be on: its billing unit, its NDCs and its usual fill per channel."""

    product: str
    unit: str
    ndcs: tuple[str, ...]
    package: Decimal | None  # the one package size, when there is one
    fills: dict[str, Fill]  # channel → usual fill


# ---------------------------------------------------------------------------------------------
# Plans from a policy


def product_plans(policies: Sequence[nodes.Policy]) -> list[ProductPlan]:
    """One plan per product that has a base limit at some channel, in policy and product order
    (but none for a product whose package size comes from the drug file)."""
    from dqmc.lang.ir.queries import group_of, known_channels, product_ndcs

    plans = []
    for policy in sorted(policies, key=lambda p: p.id):
        channels = known_channels(policy)
        for product in policy.products:
            if product.drug_file_sized:
                continue  # its claims need a package_size from the drug file, which files lack
            group = group_of(policy, product.id)
            targets = {product.id} | ({group.id} if group is not None else set())
            sizes = sorted({p.size.amount for p in product.packages if p.size is not None})
            package = sizes[0] if len(sizes) == 1 else None
            fills = {}
            for channel in channels:
                rules = [lim.rule for lim in policy.limits
                         if lim.target in targets and lim.channel in (channel, None)]
                if rules:
                    fills[channel] = usual_fill(rules, channel, package)
            if fills:
                plans.append(ProductPlan(product.id, product.unit, product_ndcs(product),
                                         package, fills))
    return plans


def usual_fill(rules: Sequence[nodes.Rule], channel: str, package: Decimal | None) -> Fill:
    """What a member on the usual dose asks for, so that the base rules just pass."""
    days = 90 if channel == "home_delivery" else 30
    quantity: Decimal | None = None
    for rule in rules:
        if isinstance(rule, nodes.PerWindow):
            days = min(rule.days, 90)
            # A window longer than the fill is shared by several fills.
            quantity = rule.quantity.amount * days / rule.days
            break
    for rule in rules:
        if isinstance(rule, (nodes.DaysSupplyMax, nodes.TherapyMax)):
            days = min(days, rule.days)  # a course of therapy is at least one fill long
        elif isinstance(rule, nodes.PerDay) and rule.max_days is not None:
            days = min(days, rule.max_days)
        elif isinstance(rule, nodes.FillsPerWindow) and quantity is None:
            days = min(days, max(1, rule.days // rule.fills))
    for rule in rules:
        if isinstance(rule, nodes.PerDay) and quantity is None:
            quantity = rule.quantity.amount * days
        elif isinstance(rule, nodes.PerFill) and quantity is None:
            quantity = rule.quantity.amount
    if quantity is None:
        quantity = (package or Decimal(30)) * max(1, days // 30)
    return Fill(_round_quantity(quantity, package), days)


def _round_quantity(quantity: Decimal, package: Decimal | None) -> Decimal:
    """Whole packages when the product has one size (at least one), else 3 decimals."""
    if package is not None and package > 0:
        count = max(Decimal(1), (quantity / package).to_integral_value(ROUND_HALF_UP))
        return count * package
    return max(quantity.quantize(Decimal("0.001"), ROUND_HALF_UP), Decimal("0.001"))


# ---------------------------------------------------------------------------------------------
# Members and their claims


def member_id(number: int, members: int) -> str:
    """Zero-padded, so that text order is numeric order (the order `dqmc impact` expects)."""
    return f"m{number:0{max(7, len(str(members)))}d}"


def generate(policies: Sequence[nodes.Policy], members: int, seed: int, *,
             start: dt.date = DEFAULT_START, days: int = DEFAULT_DAYS) -> Iterator[dict[str, Any]]:
    """Claim rows for `members` members, sorted by member id, then date."""
    plans = product_plans(policies)
    if not plans:
        raise ValueError("the policies state no base limit, so there is no usual fill to draw")
    for number in range(1, members + 1):
        rng = random.Random(f"{seed}:{number}")  # string seeds hash the same on every platform
        yield from _member_claims(rng, member_id(number, members), plans, start, days)


def _choose(rng: random.Random, weights: dict[str, float]) -> str:
    total = sum(weights.values())
    point = rng.random() * total
    for key, weight in weights.items():
        point -= weight
        if point < 0:
            return key
    return next(reversed(weights))


def _member_claims(rng: random.Random, member: str, plans: Sequence[ProductPlan],
                   start: dt.date, days: int) -> list[dict[str, Any]]:
    plan = plans[int(rng.random() * len(plans))]
    channel_weights = {c: CHANNEL_WEIGHTS.get(c, OTHER_CHANNEL_WEIGHT) for c in plan.fills}
    channel = _choose(rng, channel_weights)
    if rng.random() < CHILD:
        age = 2 + int(rng.random() * 16)
    else:
        age = 18 + int(rng.random() * 68)
    birth = start - dt.timedelta(days=age * 365 + int(rng.random() * 365))
    dose = Decimal(1)
    roll = rng.random()
    if roll < HEAVY_USER:
        dose = Decimal(2)
    elif roll < HEAVY_USER + LIGHT_USER:
        dose = Decimal("0.5")
    fills_left = 1 + int(rng.random() * 4) if rng.random() < STOPS_EARLY else None
    by_ndc = bool(plan.ndcs) and rng.random() < NDC_INSTEAD_OF_ID
    ndc = plan.ndcs[int(rng.random() * len(plan.ndcs))] if by_ndc else None

    end = start + dt.timedelta(days=days - 1)
    day = start + dt.timedelta(days=int(rng.random() * 90))
    events: list[tuple[dt.date, int, dict[str, Any]]] = []  # (date, order, row)
    count = 0

    def row(claim_id: str, date: dt.date, quantity: Decimal, days_supply: int, channel: str,
            status: str) -> dict[str, Any]:
        return {"member_id": member, "claim_id": claim_id, "date_of_service": date.isoformat(),
                "product": None if by_ndc else plan.product, "ndc": ndc,
                "quantity": decimal_text(quantity), "unit": plan.unit,
                "days_supply": days_supply, "channel": channel, "status": status,
                "birth_date": birth.isoformat()}

    while day <= end and (fills_left is None or fills_left > 0):
        if len(plan.fills) > 1 and rng.random() < SWITCH_CHANNEL:
            others = {c: w for c, w in channel_weights.items() if c != channel}
            channel = _choose(rng, others)
        fill = plan.fills[channel]
        quantity = _round_quantity(fill.quantity * dose, plan.package)
        count += 1
        claim_id = f"{member}-{count:04d}"
        events.append((day, len(events), row(claim_id, day, quantity, fill.days_supply, channel,
                                             "paid")))
        if rng.random() < REVERSAL:
            reversed_on = day + dt.timedelta(days=int(rng.random() * 6))
            if reversed_on <= end:
                reversal = row(claim_id, reversed_on, quantity, fill.days_supply, channel,
                               "reversed")
                events.append((reversed_on, len(events), reversal))
                if rng.random() < REBILL_AFTER_REVERSAL:
                    # Billed again, often for a corrected (smaller) quantity.
                    corrected = quantity if rng.random() < 0.5 else \
                        _round_quantity(quantity / 2, plan.package)
                    events.append((reversed_on, len(events), row(
                        claim_id, reversed_on, corrected, fill.days_supply, channel, "paid")))
        if fills_left is not None:
            fills_left -= 1
        roll = rng.random()
        if roll < EARLY_REFILL:
            factor = 0.5 + rng.random() * 0.3
        elif roll < EARLY_REFILL + LATE_REFILL:
            factor = 1.3 + rng.random() * 0.7
        else:
            factor = 0.9 + rng.random() * 0.2
        day += dt.timedelta(days=max(1, round(fill.days_supply * factor)))
    events.sort(key=lambda event: (event[0], event[1]))
    return [event[2] for event in events]


# ---------------------------------------------------------------------------------------------
# Writers


def claims_format(path: str | Path) -> str:
    """csv, jsonl or parquet, from the file name (what readers and writers share)."""
    name = str(path).lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise ValueError(f"{path}: name claims files *.csv, *.jsonl or *.parquet")


def write_claims(rows: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Write rows as CSV, JSON Lines or Parquet (by extension); returns how many were written."""
    kind = claims_format(path)
    if kind == "parquet":
        return _write_parquet(rows, Path(path))
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as out:
        if kind == "csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(COLUMNS)
            for item in rows:
                writer.writerow(["" if item.get(c) is None else item[c] for c in COLUMNS])
                count += 1
        else:
            for item in rows:
                out.write(json.dumps({c: item.get(c) for c in COLUMNS}, ensure_ascii=False))
                out.write("\n")
                count += 1
    return count


PARQUET_BATCH = 65536


def _write_parquet(rows: Iterable[dict[str, Any]], path: Path) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError("Parquet needs pyarrow: pip install 'dqmc[parquet]'") from None
    types = {c: pa.string() for c in COLUMNS}
    types.update(days_supply=pa.int32(), date_of_service=pa.date32(), birth_date=pa.date32())
    schema = pa.schema([(c, types[c]) for c in COLUMNS])
    count = 0
    with pq.ParquetWriter(path, schema) as writer:
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            columns = {c: [_parquet_value(c, item.get(c)) for item in batch] for c in COLUMNS}
            writer.write_table(pa.table(columns, schema=schema))
            batch.clear()

        for item in rows:
            batch.append(item)
            count += 1
            if len(batch) >= PARQUET_BATCH:
                flush()
        if batch or count == 0:
            flush()
    return count


def _parquet_value(column: str, value: Any) -> Any:
    if column in ("date_of_service", "birth_date") and isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


# ---------------------------------------------------------------------------------------------
# Command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", required=True, metavar="SPEC",
                        help="spec file or folder whose products and limits shape the claims")
    parser.add_argument("--members", type=int, required=True, metavar="N")
    parser.add_argument("--seed", type=int, default=0, metavar="S")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=DEFAULT_START,
                        metavar="YYYY-MM-DD",
                        help=f"first day of the period (default {DEFAULT_START})")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS,
                        help=f"length of the period in days (default {DEFAULT_DAYS})")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="*.csv, *.jsonl or *.parquet")


def run(args: argparse.Namespace) -> int:
    from dqmc.lang.diagnostics import render_all
    from dqmc.lang.pipeline import compile_paths, no_policy

    if args.members < 1 or args.days < 1:
        print("dqmc: error: --members and --days must be at least 1", file=sys.stderr)
        return 2
    try:
        claims_format(args.out)
    except ValueError as exc:
        print(f"dqmc: error: {exc}", file=sys.stderr)
        return 2
    if not Path(args.policy).exists():
        print(f"dqmc: error: no such spec file or folder: {args.policy}", file=sys.stderr)
        return 2
    result = compile_paths([args.policy])
    if not result.ok:
        print(render_all(result.diagnostics, result.sources), file=sys.stderr)
        return 1
    if not result.compiled:  # a shared factor file checks clean but holds no policy
        print(f"dqmc: error: {no_policy(args.policy)}", file=sys.stderr)
        return 2
    policies = [c.policy for c in result.compiled]
    try:
        rows = generate(policies, args.members, args.seed, start=args.start, days=args.days)
        count = write_claims(rows, args.out)
    except ValueError as exc:
        print(f"dqmc: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {count} claim rows for {args.members} members to {args.out}", file=sys.stderr)
    return 0
