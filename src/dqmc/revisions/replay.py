"""The impact replay: claims through two policy versions, counting the outcomes that change.

The same code runs on one machine (`run_embedded`) and in Spark executors
(`dqmc.revisions.spark_impact`); `dqmc impact` (`dqmc.revisions.impact`) chooses. The replay:

* Claims are taken per member in date order, ties in file order. Each version builds the
  member's history from its own decisions: a claim it pays (or that no policy limits,
  `not_applicable`, which the plan pays) becomes paid history for the member's later claims
  under that version; a claim it rejects does not.
* `status` says what a row is: `paid` or `rejected` (what production decided) is a submission,
  re-decided by each version; `reversed` is a reversal, which removes the paid claim with that
  claim id from each version's history. A submission whose claim id is already in the history
  is a rebill: it is decided without the original (as the evaluator does), replaces it when it
  pays, and leaves it in place when it is rejected (a rejected rebill reverses nothing).
* Only history inside the longest window of either version can count, so older entries are
  dropped as the member's dates advance: memory is bounded by one member's recent history.
* A product whose packages are sized `from drug file` needs each row's `package_size` column
  (billing units per package, as the processor's drug file gives it); rows without it are
  rejected 21 by both versions, as the evaluator rejects such a claim.
* Daily-dose edits read two optional columns: `exclusions` (the member's, `hospice;cancer`) and
  `dur_pps` (the DUR/PPS entries a pharmacy sent, `reason/service/result` each, `;` between
  entries, an empty part not sent: `/M0/1G`), and each fill's `days_supply`.
* The claims file carries no authorizations, so the replay shows the point of service; what a
  new criterion would approve on review is the diff's business.

The embedded engine streams: the file must be sorted by member id (text order), then date,
and unsorted input is reported with the first row out of order; `--sort` sorts it first on
disk (an external merge sort, memory bounded by the chunk size).
"""

from __future__ import annotations

import csv
import datetime as dt
import heapq
import io
import json
import math
import os
import pickle
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from dqmc.lang.ir import nodes
from dqmc.lang.ir.queries import history_days
from dqmc.revisions.synth import claims_format

SUBMISSION_STATUSES = ("paid", "rejected")
REVERSAL_STATUS = "reversed"
ALLOWED_OUTCOMES = ("paid", "not_applicable")  # the plan pays both; history counts both
PAID_TO_REJECTED, REJECTED_TO_PAID, OTHER_CHANGE = "paid_to_rejected", "rejected_to_paid", "other"
NONE_KEY = "(none)"  # how reports name a missing product or channel
DEFAULT_EXAMPLES = 3
SORT_CHUNK_ROWS = 200_000
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DIGITS = re.compile(r"[0-9]+")

Evaluate = Callable[[dict], dict]


class ClaimRow(NamedTuple):
    """One row of a claims file, normalised; `seq` is its position in the file (ties in a day)."""

    seq: int
    member_id: str
    claim_id: str | None
    date_of_service: str  # ISO text: ordering by text is ordering by date
    product: str | None
    ndc: str | None
    quantity: Any  # as read: the evaluator validates it (E7) like any claim
    unit: str | None
    days_supply: Any  # an int when the file holds digits, else as read (the evaluator says 19)
    channel: str | None
    status: str
    birth_date: str | None
    package: str | None
    package_size: Any  # as read, or None: billing units per package, from the drug file
    # `hospice;cancer`: the member's exclusions (daily-dose edits), or None
    exclusions: str | None = None
    # `ER/M0/1G;/M0/1G`: DUR/PPS entries as reason/service/result (empty: not sent), or None
    dur_pps: str | None = None

    @property
    def product_key(self) -> str:
        return self.product or self.ndc or NONE_KEY


class UnsortedClaims(Exception):
    """The streaming engine met a row that sorts before the one it read last."""


class ClaimsInputError(Exception):
    """A claims file that cannot be read: unknown kind, bad header, missing column."""


# ---------------------------------------------------------------------------------------------
# Reading claims files


def _blank(value: Any) -> Any:
    """None for what files use to say "no value": empty text, NaN (pandas), None."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


# Each reader below first takes text as it is (CSV and JSON Lines files hold mostly text): the
# replay reads every field of every row, so these are most of its reading cost.


def _text(value: Any) -> str | None:
    if value.__class__ is str:
        return value or None
    value = _blank(value)
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return value if isinstance(value, str) else str(value)


def _date_text(value: Any) -> str | None:
    if value.__class__ is str:
        return value or None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    return _text(value)


def _days(value: Any) -> Any:
    if value.__class__ is str and value.isdigit() and value.isascii():
        return int(value)
    value = _blank(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return value.item()
    return value


def _quantity(value: Any) -> Any:
    if value.__class__ is str:
        return value or None
    value = _blank(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes, Decimal)):
        return value.item()
    return value


_DATES: set[str] = set()  # texts _is_date accepted (a claims file repeats a few thousand dates)


def _is_date(text: str) -> bool:
    if text in _DATES:
        return True
    if not _ISO_DATE.fullmatch(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    if len(_DATES) >= 100_000:  # a bound: memory stays flat whatever the file holds
        _DATES.clear()
    _DATES.add(text)
    return True


def normalize_row(raw: Mapping[str, Any], seq: int) -> ClaimRow | str:
    """A ClaimRow, or why the row cannot take part in the replay.

    Rows the replay cannot place (no member, no ISO date, an unknown status, a reversal with no
    claim id) are counted as invalid; every other problem is the evaluator's to reject.
    """
    member = _text(raw.get("member_id"))
    if member is None:
        return "member_id is missing"
    date = _date_text(raw.get("date_of_service", raw.get("date")))
    if date is None or not _is_date(date):
        return "date_of_service is not a date YYYY-MM-DD"
    status = (_text(raw.get("status")) or "").lower()
    if status not in SUBMISSION_STATUSES and status != REVERSAL_STATUS:
        return "status is not paid, rejected or reversed"
    claim_id = _text(raw.get("claim_id"))
    if status == REVERSAL_STATUS and claim_id is None:
        return "a reversal has no claim_id"
    return ClaimRow(seq, member, claim_id, date, _text(raw.get("product")),
                    _text(raw.get("ndc")), _quantity(raw.get("quantity")),
                    _text(raw.get("unit")), _days(raw.get("days_supply")),
                    _text(raw.get("channel")), status, _date_text(raw.get("birth_date")),
                    _text(raw.get("package")), _quantity(raw.get("package_size")),
                    _text(raw.get("exclusions")), _text(raw.get("dur_pps")))


class _Position:
    """How far a reader got, in the unit its total is in (bytes or rows)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0


def read_claims(path: str | Path, position: _Position | None = None) -> Iterator[dict[str, Any]]:
    """The rows of a CSV, JSON Lines or Parquet claims file as dicts, streamed."""
    try:
        kind = claims_format(path)
    except ValueError as exc:
        raise ClaimsInputError(str(exc)) from None
    if kind == "parquet":
        yield from _read_parquet(Path(path), position)
        return
    with open(path, "rb") as handle:
        if position is not None:
            position.total = os.fstat(handle.fileno()).st_size
        lines = _decoded_lines(handle, position, str(path))
        if kind == "csv":
            yield from _read_csv(lines, str(path))
        else:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    try:
                        item = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ClaimsInputError(f"{path}:{number}: not JSON: {exc.msg}") from None
                    if not isinstance(item, dict):
                        raise ClaimsInputError(f"{path}:{number}: not a JSON object")
                    yield item


def _decoded_lines(handle: io.BufferedReader, position: _Position | None,
                   name: str) -> Iterator[str]:
    first = True
    for number, line in enumerate(handle, start=1):
        if position is not None:
            position.done += len(line)
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ClaimsInputError(f"{name}:{number}: not UTF-8 (byte {exc.start})") from None
        if first:
            text, first = text.removeprefix("\ufeff"), False
        yield text


def _read_csv(lines: Iterator[str], name: str) -> Iterator[dict[str, Any]]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return
    header = [h.strip() for h in header]
    missing = {"member_id", "status"} - set(header)
    if missing:
        raise ClaimsInputError(f"{name}: the header has no {', '.join(sorted(missing))} column")
    for values in reader:
        if values:
            yield dict(zip(header, values, strict=False))  # a ragged row: as far as it goes


def _read_parquet(path: Path, position: _Position | None) -> Iterator[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ClaimsInputError(
            "reading Parquet needs pyarrow: pip install 'dqmc[parquet]'") from None
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise ClaimsInputError(f"{path}: not a Parquet file: {exc}") from None
    if position is not None:
        position.total = parquet.metadata.num_rows
    for batch in parquet.iter_batches(batch_size=65536):
        rows = batch.to_pylist()
        if position is not None:
            position.done += len(rows)
        yield from rows


# ---------------------------------------------------------------------------------------------
# Ordering: verify the stream, or sort it on disk


def sorted_checked(rows: Iterable[ClaimRow], name: str) -> Iterator[ClaimRow]:
    """The rows unchanged, raising UnsortedClaims at the first one out of member/date order."""
    last_member, last_date = "", ""
    for row in rows:
        if row.member_id < last_member or (row.member_id == last_member
                                           and row.date_of_service < last_date):
            raise UnsortedClaims(
                f"{name}: row {row.seq + 1} (member {row.member_id}, {row.date_of_service}) "
                f"comes after member {last_member}, {last_date}: the embedded engine streams "
                "claims sorted by member_id, then date_of_service; sort the file first "
                "or pass --sort")
        last_member, last_date = row.member_id, row.date_of_service
        yield row


def _order(row: ClaimRow) -> tuple[str, str, int]:
    return row.member_id, row.date_of_service, row.seq


def external_sort(rows: Iterable[ClaimRow], chunk_rows: int = SORT_CHUNK_ROWS,
                  folder: str | None = None) -> Iterator[ClaimRow]:
    """Rows in (member, date, file order), sorting chunks in memory and merging them from disk."""
    with tempfile.TemporaryDirectory(prefix="dqmc-sort-", dir=folder) as tmp:
        runs: list[Path] = []
        chunk: list[ClaimRow] = []

        def spill() -> None:
            chunk.sort(key=_order)
            path = Path(tmp, f"run-{len(runs)}.pickle")
            with open(path, "wb") as out:
                for start in range(0, len(chunk), 4096):  # blocks: fewer, larger pickles
                    pickle.dump(chunk[start:start + 4096], out, protocol=pickle.HIGHEST_PROTOCOL)
            runs.append(path)
            chunk.clear()

        for row in rows:
            chunk.append(row)
            if len(chunk) >= chunk_rows:
                spill()
        if not runs:  # everything fits in one chunk: no disk needed
            yield from sorted(chunk, key=_order)
            return
        if chunk:
            spill()
        yield from heapq.merge(*(_read_run(p) for p in runs), key=_order)


def _read_run(path: Path) -> Iterator[ClaimRow]:
    with open(path, "rb") as handle:
        while True:
            try:
                block = pickle.load(handle)
            except EOFError:
                return
            yield from block


# ---------------------------------------------------------------------------------------------
# The replay


def lookback_days(policies: Iterable[nodes.Policy]) -> int:
    """The longest history any rule reads (`queries.history_days`: a window rule its window,
    a therapy rule D + 999 days): older history can never count."""
    longest = 1
    for policy in policies:
        rules = [limit.rule for limit in policy.limits]
        rules += [a.rule for c in policy.criteria for a in c.approves]
        for rule in rules:
            longest = max(longest, history_days(rule))
    return longest


def claim_request(row: ClaimRow) -> dict[str, Any]:
    """The evaluator's claim for a row, without history (each version adds its own)."""
    claim: dict[str, Any] = {"claim_id": row.claim_id, "date_of_service": row.date_of_service,
                             "quantity": row.quantity, "unit": row.unit,
                             "days_supply": row.days_supply, "channel": row.channel}
    if row.product is not None:
        claim["product"] = row.product
    if row.ndc is not None:
        claim["ndc"] = row.ndc
    if row.package is not None:
        claim["package"] = row.package
    if row.package_size is not None:
        claim["package_size"] = row.package_size
    member: dict[str, Any] = {}
    if row.birth_date is not None:
        member["birth_date"] = row.birth_date
    if row.exclusions is not None:
        member["exclusions"] = [e.strip() for e in row.exclusions.split(";") if e.strip()]
    if member:
        claim["member"] = member
    if row.dur_pps is not None:
        claim["dur_pps"] = [_dur_entry(text) for text in row.dur_pps.split(";") if text.strip()]
    return claim


def _dur_entry(text: str) -> dict[str, str | None]:
    """`ER/M0/1G` → {reason, professional_service, result}; an empty part is not sent. A part
    that is no code goes through as written, for the evaluator to reject (E4, E5, E6)."""
    parts = [p.strip() or None for p in text.split("/")] + [None, None]
    return {"reason": parts[0], "professional_service": parts[1], "result": parts[2]}


def _history_entry(row: ClaimRow) -> dict[str, Any]:
    entry = {"claim_id": row.claim_id, "date_of_service": row.date_of_service,
             "quantity": row.quantity, "days_supply": row.days_supply,
             "channel": row.channel, "status": "paid"}
    if row.product is not None:
        entry["product"] = row.product
    if row.ndc is not None:
        entry["ndc"] = row.ndc
    if row.package_size is not None:
        entry["package_size"] = row.package_size
    return entry


class _VersionHistory:
    """One member's paid history under one version, oldest first, pruned to the lookback."""

    __slots__ = ("entries", "evaluate", "lookback")

    def __init__(self, evaluate: Evaluate, lookback: int) -> None:
        self.evaluate = evaluate
        self.lookback = lookback
        self.entries: list[dict[str, Any]] = []

    def decide(self, row: ClaimRow, claim: dict[str, Any], first_day: str) -> dict:
        """The version's decision for a claim; `first_day` is the first day (ISO text) of the
        lookback ending on the claim's date: older entries are dropped first."""
        entries = self.entries
        if entries:
            drop = 0
            while drop < len(entries) and entries[drop]["date_of_service"] < first_day:
                drop += 1
            if drop:
                del entries[:drop]
        decision = self.evaluate({**claim, "history": entries})
        if decision.get("outcome") in ALLOWED_OUTCOMES:
            if row.claim_id is not None:
                self.reverse(row.claim_id)  # a paid rebill replaces the claim it rebills
            entries.append(_history_entry(row))
        return decision

    def reverse(self, claim_id: str) -> None:
        entries = self.entries
        for index in range(len(entries) - 1, -1, -1):
            if entries[index]["claim_id"] == claim_id:
                del entries[index]
                return


class Replay:
    """Members one at a time, their rows in date order, through each version."""

    def __init__(self, evaluators: Sequence[Evaluate], lookback: int) -> None:
        self.evaluators = tuple(evaluators)
        self.lookback = lookback
        self._first_days: dict[str, str] = {}  # date of service → first day of its lookback
        self.histories: list[_VersionHistory] = []
        self.start_member()

    def start_member(self) -> None:
        self.histories = [_VersionHistory(e, self.lookback) for e in self.evaluators]

    def apply(self, row: ClaimRow) -> list[dict] | None:
        """Each version's decision for a submission; None for a reversal."""
        if row.status == REVERSAL_STATUS:
            for history in self.histories:
                history.reverse(row.claim_id)  # type: ignore[arg-type]
            return None
        claim = claim_request(row)
        day = row.date_of_service
        first_day = self._first_days.get(day)
        if first_day is None:  # the same few hundred dates recur, from member to member
            first_day = (dt.date.fromisoformat(day)
                         - dt.timedelta(days=self.lookback - 1)).isoformat()
            if len(self._first_days) >= 100_000:  # a bound: memory stays flat
                self._first_days.clear()
            self._first_days[day] = first_day
        return [history.decide(row, claim, first_day) for history in self.histories]


def change_of(old_outcome: str, new_outcome: str) -> str | None:
    """How a claim's outcome moved between versions; None when it did not."""
    if old_outcome == new_outcome:
        return None
    old_paid, new_paid = old_outcome in ALLOWED_OUTCOMES, new_outcome in ALLOWED_OUTCOMES
    if old_paid and new_outcome == "rejected":
        return PAID_TO_REJECTED
    if old_outcome == "rejected" and new_paid:
        return REJECTED_TO_PAID
    return OTHER_CHANGE


def example_of(row: ClaimRow, old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A changed claim as the report shows it: the row and both decisions in brief."""
    def brief(decision: Mapping[str, Any]) -> dict[str, Any]:
        return {"outcome": decision.get("outcome"), "reject_code": decision.get("reject_code"),
                "messages": list(decision.get("messages") or [])}

    return {"member_id": row.member_id, "claim_id": row.claim_id,
            "date_of_service": row.date_of_service, "product": row.product, "ndc": row.ndc,
            "quantity": _json_value(row.quantity), "unit": row.unit,
            "days_supply": _json_value(row.days_supply), "channel": row.channel,
            "old": brief(old), "new": brief(new)}


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        from dqmc.lang.ir.canonical import decimal_text

        return decimal_text(value)
    return value


# ---------------------------------------------------------------------------------------------
# The report


@dataclass
class GroupCounts:
    claims: int = 0
    paid_old: int = 0
    paid_new: int = 0
    paid_to_rejected: int = 0
    rejected_to_paid: int = 0
    other_changes: int = 0


@dataclass
class ImpactReport:
    """What a replay found: counts per product and channel, and the first changed claims."""

    examples_per_group: int = DEFAULT_EXAMPLES
    rows: int = 0
    members: int = 0
    claims: int = 0
    reversals: int = 0
    invalid: Counter = field(default_factory=Counter)  # reason → rows
    transitions: Counter = field(default_factory=Counter)  # (product, channel, old, new) → claims
    # (product, channel, change) → [((member, date, seq), example)], the first in replay order
    examples: dict[tuple[str, str, str], list[tuple[tuple, dict[str, Any]]]] = field(
        default_factory=dict)

    def record(self, row: ClaimRow, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        product, channel = row.product_key, row.channel or NONE_KEY
        old_outcome, new_outcome = str(old.get("outcome")), str(new.get("outcome"))
        self.claims += 1
        self.transitions[(product, channel, old_outcome, new_outcome)] += 1
        change = change_of(old_outcome, new_outcome)
        if change is not None:
            kept = self.examples.setdefault((product, channel, change), [])
            if len(kept) < self.examples_per_group:
                kept.append((_order(row), example_of(row, old, new)))

    def merge(self, other: ImpactReport) -> None:
        """Add a report of other members (another Spark partition) to this one."""
        self.rows += other.rows
        self.members += other.members
        self.claims += other.claims
        self.reversals += other.reversals
        self.invalid.update(other.invalid)
        self.transitions.update(other.transitions)
        for key, items in other.examples.items():
            # Members never span reports, so replay order across them is member order.
            merged = sorted(self.examples.get(key, []) + items, key=lambda item: item[0])
            self.examples[key] = merged[:self.examples_per_group]

    def groups(self) -> dict[tuple[str, str], GroupCounts]:
        found: dict[tuple[str, str], GroupCounts] = {}
        for (product, channel, old, new), n in sorted(self.transitions.items()):
            group = found.setdefault((product, channel), GroupCounts())
            group.claims += n
            group.paid_old += n if old in ALLOWED_OUTCOMES else 0
            group.paid_new += n if new in ALLOWED_OUTCOMES else 0
            change = change_of(old, new)
            if change == PAID_TO_REJECTED:
                group.paid_to_rejected += n
            elif change == REJECTED_TO_PAID:
                group.rejected_to_paid += n
            elif change == OTHER_CHANGE:
                group.other_changes += n
        return found

    def counts(self) -> dict[str, Any]:
        """Every number of the report (what two engines must agree on), without examples."""
        groups = self.groups()
        return {
            "rows": self.rows, "members": self.members, "claims": self.claims,
            "reversals": self.reversals, "invalid_rows": dict(sorted(self.invalid.items())),
            "changed": sum(g.paid_to_rejected + g.rejected_to_paid + g.other_changes
                           for g in groups.values()),
            "paid_to_rejected": sum(g.paid_to_rejected for g in groups.values()),
            "rejected_to_paid": sum(g.rejected_to_paid for g in groups.values()),
            "by_product_channel": [{"product": p, "channel": c, **vars(g)}
                                   for (p, c), g in groups.items()],
            "transitions": [{"product": p, "channel": c, "old": o, "new": n, "claims": k}
                            for (p, c, o, n), k in sorted(self.transitions.items())],
        }

    def to_data(self) -> dict[str, Any]:
        data = self.counts()
        data["examples"] = [{"product": p, "channel": c, "change": ch,
                             "claims": [item for _, item in items]}
                            for (p, c, ch), items in sorted(self.examples.items())]
        return data

    def table(self) -> str:
        """The report for people: one line per product and channel, totals, then examples."""
        groups = self.groups()
        head = ("product", "channel", "claims", "paid old", "paid new", "paid→rejected",
                "rejected→paid", "other")
        body = [(p, c, g.claims, g.paid_old, g.paid_new, g.paid_to_rejected,
                 g.rejected_to_paid, g.other_changes) for (p, c), g in groups.items()]
        totals = self.counts()
        body.append(("total", "", self.claims, sum(g.paid_old for g in groups.values()),
                     sum(g.paid_new for g in groups.values()), totals["paid_to_rejected"],
                     totals["rejected_to_paid"],
                     sum(g.other_changes for g in groups.values())))
        cells = [tuple(f"{v:,}" if isinstance(v, int) else str(v) for v in line)
                 for line in [head, *body]]
        widths = [max(len(line[i]) for line in cells) for i in range(len(head))]
        lines = []
        for index, line in enumerate(cells):
            lines.append("  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w)
                                   in enumerate(zip(line, widths, strict=True))).rstrip())
            if index == 0 or index == len(cells) - 2:
                lines.append("  ".join("-" * w for w in widths))
        invalid = sum(self.invalid.values())
        lines.append("")
        lines.append(f"{self.rows:,} rows: {self.claims:,} claims of {self.members:,} members, "
                     f"{self.reversals:,} reversals, {invalid:,} invalid rows; "
                     f"{totals['changed']:,} claims change outcome.")
        for reason, n in sorted(self.invalid.items()):
            lines.append(f"  invalid: {n:,} rows: {reason}")
        if self.examples:
            lines.append("")
            lines.append("Examples:")
        for (product, channel, change), items in sorted(self.examples.items()):
            lines.append(f"  {product} at {channel}, {change.replace('_', ' ')}:")
            for _, item in items:
                old, new = item["old"], item["new"]
                lines.append(
                    f"    {item['claim_id']} member {item['member_id']} {item['date_of_service']} "
                    f"{item['quantity']} {item['unit']} / {item['days_supply']} days: "
                    f"{_decision_words(old)} → {_decision_words(new)}")
        return "\n".join(lines)


def _decision_words(decision: Mapping[str, Any]) -> str:
    if decision.get("outcome") != "rejected":
        return str(decision.get("outcome"))
    messages = " / ".join(decision.get("messages") or [])
    return f"rejected {decision.get('reject_code')}" + (f" ({messages})" if messages else "")


# ---------------------------------------------------------------------------------------------
# The embedded engine


class Progress:
    """A one-line progress bar on stderr, redrawn at most a few times a second."""

    def __init__(self, position: _Position, label: str, enabled: bool,
                 stream: Any = None) -> None:
        self.position, self.label, self.enabled = position, label, enabled
        self.stream = stream or sys.stderr
        self.started = self.last = time.monotonic()
        self.rows = 0

    def tick(self, rows: int) -> None:
        self.rows = rows
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last >= 0.25:
            self.last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        total, done = self.position.total, self.position.done
        fraction = min(1.0, done / total) if total else 0.0
        elapsed = now - self.started
        bar = "#" * int(fraction * 30)
        eta = (elapsed / fraction - elapsed) if fraction > 0 else 0.0
        self.stream.write(f"\r{self.label} [{bar:<30}] {fraction:6.1%} {self.rows:,} rows "
                          f"{self.rows / max(elapsed, 1e-9):,.0f}/s ETA {eta:,.0f} s ")
        self.stream.flush()

    def finish(self, rows: int) -> None:
        self.rows = rows
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()


def replay_stream(rows: Iterable[ClaimRow], replay: Replay, report: ImpactReport) -> None:
    """Feed member-sorted rows through the replay into the report."""
    current: str | None = None
    for row in rows:
        if row.member_id != current:
            current = row.member_id
            report.members += 1
            replay.start_member()
        decisions = replay.apply(row)
        if decisions is None:
            report.reversals += 1
        else:
            report.record(row, decisions[0], decisions[1])


def valid_rows(records: Iterable[tuple[int, Mapping[str, Any]]], report: ImpactReport
               ) -> Iterator[ClaimRow]:
    """Normalised rows from (file position, raw row) pairs; the rest are counted as invalid."""
    for seq, raw in records:
        report.rows += 1
        row = normalize_row(raw, seq)
        if isinstance(row, str):
            report.invalid[row] += 1
        else:
            yield row


def run_embedded(old: Evaluate, new: Evaluate, lookback: int, claims: str | Path, *,
                 sort: bool = False, examples: int = DEFAULT_EXAMPLES,
                 progress: bool = False, sort_chunk_rows: int = SORT_CHUNK_ROWS) -> ImpactReport:
    """Replay a claims file on this machine, streaming."""
    report = ImpactReport(examples_per_group=examples)
    position = _Position(0)
    bar = Progress(position, "replaying" if not sort else "reading", progress)

    def records() -> Iterator[tuple[int, dict[str, Any]]]:
        for seq, raw in enumerate(read_claims(claims, position)):
            if not seq % 1024:
                bar.tick(seq)
            yield seq, raw

    rows = valid_rows(records(), report)
    ordered = (external_sort(rows, sort_chunk_rows) if sort
               else sorted_checked(rows, str(claims)))
    try:
        replay_stream(ordered, Replay((old, new), lookback), report)
    finally:
        bar.finish(report.rows)
    return report
