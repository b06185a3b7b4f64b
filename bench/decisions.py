"""Sections 1 and 2 of the bench: the Anzupgo decision side by side, and history scaling."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import measure
import peers
from paths import REPO, SPECS

POLICY_ID = "anzupgo-dqm"
OVERRIDE = {"id": "pa-7", "criterion": "additional-quantity", "products": [peers.PRODUCT],
            "effective_from": "2025-06-01", "effective_through": "2027-05-31"}


@dataclass
class Setup:
    """The evaluators under test: the generated package (a real `dqmc build` of policy_specs/)
    and the interpreter over the same compiled policies (Anzupgo's as `interpret`)."""

    package: ModuleType
    interpret: Callable[[object], dict]
    policy_hash: str
    folder: tempfile.TemporaryDirectory = field(repr=False)
    compiled: dict[str, Any] = field(default_factory=dict, repr=False)  # by policy id

    def interpreter(self, policy_id: str) -> Callable[[object], dict]:
        """The interpreter over one policy of policy_specs/."""
        from dqmc import interpreter

        compiled = self.compiled[policy_id]
        return lambda claim: interpreter.evaluate(compiled, claim)


def setup() -> Setup:
    from dqmc import interpreter
    from dqmc.lang.pipeline import compile_paths

    folder = tempfile.TemporaryDirectory(prefix="dqmc-bench-")
    out = Path(folder.name) / "generated"
    subprocess.run([sys.executable, "-m", "dqmc", "build", str(SPECS), "--out", str(out)],
                   cwd=REPO, check=True, capture_output=True)
    sys.path.insert(0, str(out / "python"))
    import dqm_policies

    assert Path(dqm_policies.__file__).is_relative_to(out), dqm_policies.__file__
    compiled = {c.policy.id: c for c in compile_paths([SPECS]).compiled}
    anzupgo = compiled[POLICY_ID]
    return Setup(dqm_policies, lambda claim: interpreter.evaluate(anzupgo, claim),
                 anzupgo.content_hash, folder, compiled)


# ---------------------------------------------------------------------------------------------
# Claims


def history_entries(rng: random.Random, day: dt.date, count: int, inside: float,
                    claim: int) -> list[dict]:
    """`count` earlier fills: a share `inside` within 29 days, the rest 40 days to 3 years back."""
    entries = []
    for k in range(count):
        back = rng.randint(1, 29) if rng.random() < inside else rng.randint(40, 1095)
        entries.append({"claim_id": f"h-{claim}-{k}",
                        "date_of_service": (day - dt.timedelta(days=back)).isoformat(),
                        "product": peers.PRODUCT, "quantity": rng.choice(["5", "10", "15"]),
                        "days_supply": 30, "channel": rng.choice(["retail", "home_delivery"]),
                        "status": "paid" if rng.random() < 0.9 else "reversed"})
    return entries


def anzupgo_claims(count: int, history: int, authorized: bool, seed: int = 7) -> list[dict]:
    """Claims for Anzupgo as a pharmacy system sends them (decoded JSON)."""
    rng = random.Random(seed)
    claims = []
    for i in range(count):
        retail = rng.random() < 0.7
        day = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(0, 364))
        claims.append({
            "claim_id": f"c-{i}", "date_of_service": day.isoformat(), "product": peers.PRODUCT,
            "ndc": None,
            "quantity": rng.choice(["10", "15", "20", "30", "45", "60"] if retail
                                   else ["30", "45", "60", "90", "120", "180"]),
            "unit": "g", "days_supply": 30 if retail else 90,
            "channel": "retail" if retail else "home_delivery",
            "member": {"birth_date": f"{rng.randint(1940, 2005)}-0{rng.randint(1, 9)}-15"},
            "history": history_entries(rng, day, history, 0.2, i),
            "authorizations": [OVERRIDE] if authorized else []})
    return claims


OPIOID_POLICY = "cms-partd-opioid-safety"
OPIOIDS = ("oxycodone-10mg-tab", "hydrocodone-apap-10-325-tab", "morphine-er-30mg-tab",
           "tramadol-50mg-tab")


def opioid_claims(count: int, history: int, seed: int = 11) -> list[dict]:
    """Opioid claims under the daily-dose edits, each with `history` earlier opioid fills over
    the last 90 days (about a third still active on the date of service)."""
    rng = random.Random(seed)
    claims = []
    for i in range(count):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(0, 364))
        fills = [{"claim_id": f"h-{i}-{k}",
                  "date_of_service": (day - dt.timedelta(days=rng.randint(1, 90))).isoformat(),
                  "product": rng.choice(OPIOIDS), "quantity": rng.choice(["30", "60", "90"]),
                  "days_supply": 30, "channel": "retail",
                  "status": "paid" if rng.random() < 0.9 else "reversed"} for k in range(history)]
        claims.append({
            "claim_id": f"c-{i}", "date_of_service": day.isoformat(),
            "product": rng.choice(OPIOIDS), "quantity": rng.choice(["20", "30", "60", "120"]),
            "unit": "each", "days_supply": rng.choice([5, 7, 30]), "channel": "retail",
            "member": {"birth_date": "1950-04-15"}, "history": fills})
    return claims


# ---------------------------------------------------------------------------------------------
# Section 1


@dataclass
class Row:
    key: str
    label: str
    seconds: dict[str, float | None]  # by column key


@dataclass(frozen=True)
class Column:
    """One kind of claim the decision table times every evaluator on."""

    key: str
    header: str  # the table's heading of its time column
    claims: Callable[[int], list[dict]]  # how many → the claims (decoded JSON)
    authorized: bool = False  # the peers get "an override is on file"
    policy: str = POLICY_ID  # the policy of policy_specs/ that decides them (the interpreter's)


HISTORY = 10

# The columns of section 1, in table order. A column added here (the cumulative-dose claims of
# another policy, say) is timed for the generated evaluator and the interpreter over its policy,
# for the floor when the floor decides its claims, and for the peers when its claims are
# Anzupgo's; `run.targets` names the columns it judges by key (`run.DOSE_COLUMN`).
COLUMNS: list[Column] = [
    Column("none", "no history µs", lambda n: anzupgo_claims(n, 0, False), False),
    Column("history", f"{HISTORY}-entry history µs", lambda n: anzupgo_claims(n, HISTORY, False),
           False),
    Column("authorized", "authorization on file µs", lambda n: anzupgo_claims(n, 0, True), True),
    # Beside the Anzupgo columns: an opioid claim under the cumulative MME and acetaminophen
    # edits with a 10-fill opioid history (generated and interpreter only: no peer states them)
    Column("dose", f"opioid MME edits, {HISTORY}-fill history µs",
           lambda n: opioid_claims(n, HISTORY), policy=OPIOID_POLICY),
]


def decision_rows(s: Setup, claims: int, repeats: int, sample: float) -> list[Row]:
    """Median time per decision of every contender, for each column's claims."""
    zen = peers.zen_decision()
    cedar = peers.cedar_deciders()
    rego = peers.rego_decision()
    floor = peers.floor_decision(s.policy_hash)
    found: dict[str, dict[str, float | None]] = {}
    for column in COLUMNS:
        batch = column.claims(claims)
        interpret = s.interpreter(column.policy)
        decisions = [interpret(c) for c in batch]
        for claim, expected in zip(batch, decisions, strict=True):
            generated = s.package.evaluate(claim)
            assert generated == expected, (claim, generated, expected)
        contenders: dict[str, tuple[Callable[[Any], object], list]] = {
            "generated": (s.package.evaluate, batch),
            "interpreter": (interpret, batch),
        }
        if all(floor(c) == d for c, d in zip(batch, decisions, strict=True)):
            contenders["floor"] = (floor, batch)
        if all(c.get("product") == peers.PRODUCT for c in batch):
            contenders.update(_peers(batch, decisions, column.authorized, zen, cedar, rego))
        timed = measure.per_call(contenders, repeats, sample)
        for name, seconds in timed.items():
            found.setdefault(name, {c.key: None for c in COLUMNS})[column.key] = seconds
    labels = {
        "generated": "generated (`dqm_policies.evaluate`, JSON claim → full decision)",
        "floor": "hand-written floor (the same full decision from the JSON claim)",
        "interpreter": "IR interpreter (`interpreter.evaluate`)",
        "zen": "zen-engine, JSON decision table (window total passed in)",
        "cedar-text": "cedarpy, policies as text (window total passed in)",
        "cedar-parsed": "cedarpy, pre-parsed PolicySet (window total passed in)",
        "rego": "regopy (window total passed in)",
        "outcome-only": "hand-written, outcome and max only (what the peers answer)",
        "assemble": "building the decision's dicts alone, every value ready beforehand",
    }
    return [Row(name, labels[name], found[name]) for name in labels if name in found]


def _peers(batch: list[dict], decisions: list[dict], authorized: bool, zen: Any, cedar: dict,
           rego: Any) -> dict[str, tuple[Callable[[Any], object], list]]:
    """The peers' contenders for Anzupgo claims, each answer checked against the decision."""
    contexts = [peers.peer_input(claim["channel"], authorized, int(claim["quantity"]),
                                 int(Decimal(expected["prior_quantity"])))
                for claim, expected in zip(batch, decisions, strict=True)]
    contenders: dict[str, tuple[Callable[[Any], object], list]] = {}
    for context, expected in zip(contexts, decisions, strict=True):
        answer = peers.hand_outcome(context)
        assert answer["outcome"] == expected["outcome"], (context, expected)
        assert str(answer["max_allowed"]) == expected["max_allowed_quantity"]
    if zen is not None:
        for context, expected in zip(contexts, decisions, strict=True):
            answer = zen(context)
            assert answer["outcome"] == expected["outcome"], (context, answer, expected)
            assert str(answer["max_allowed"]) == expected["max_allowed_quantity"]
        contenders["zen"] = (zen, contexts)
    requests = [peers.cedar_request(c) for c in contexts]
    for name, decide in cedar.items():
        for request, expected in zip(requests, decisions, strict=True):
            assert decide(request) == (expected["outcome"] == "paid"), (request, expected)
        contenders[f"cedar-{name}"] = (decide, requests)
    if rego is not None:
        inputs = [json.dumps(c) for c in contexts]
        for text, expected in zip(inputs, decisions, strict=True):
            answer = rego(text)
            want = f'"{expected["outcome"]}",{expected["max_allowed_quantity"]}'
            assert want in answer.replace(" ", ""), (text, answer, expected)
        contenders["rego"] = (rego, inputs)
    contenders["outcome-only"] = (peers.hand_outcome, contexts)
    parts = [peers.parts_of(d) for d in decisions]
    for values, expected in zip(parts, decisions, strict=True):
        assert peers.assemble(values) == expected
    contenders["assemble"] = (peers.assemble, parts)
    return contenders


def decision_section(s: Setup, claims: int, repeats: int, sample: float
                     ) -> tuple[str, dict[str, dict[str, float | None]]]:
    """The table of section 1, and the medians by contender and column."""
    rows = decision_rows(s, claims, repeats, sample)
    generated = rows[0].seconds
    body = []
    for row in rows:
        cells: list[object] = [row.label]
        for column in COLUMNS:
            seconds = row.seconds[column.key]
            base = generated[column.key]
            ratio = None if seconds is None or base is None else seconds / base
            cells += [measure.micros(seconds), measure.times(ratio)]
        body.append(cells)
    header = ["evaluator"]
    for column in COLUMNS:
        header += [column.header, "÷ generated"]
    return measure.table(header, body), {row.key: row.seconds for row in rows}


# ---------------------------------------------------------------------------------------------
# Section 2


def history_section(s: Setup, sizes: list[int], repeats: int, sample: float
                    ) -> tuple[str, dict[str, float]]:
    """Per decision and per entry, 10 % of entries inside the window; then all out, all in."""
    base = anzupgo_claims(1, 0, False, seed=11)[0]
    base["quantity"] = "1"  # within the limit whatever the history holds
    cases = [(f"{n:,}", n, 0.1) for n in sizes]
    largest = sizes[-1]
    middle = 1000 if 1000 in sizes else largest
    cases += [(f"{middle:,}, all outside the window", middle, 0.0),
              (f"{middle:,}, all inside the window", middle, 1.0)]
    day = dt.date.fromisoformat(base["date_of_service"])
    rows, metrics = [], {}
    zero: dict[str, float] = {}
    for label, count, inside in cases:
        claim = dict(base, history=history_entries(random.Random(count), day, count, inside, 0))
        assert s.package.evaluate(claim) == s.interpret(claim)
        timed = measure.per_call({"generated": (s.package.evaluate, [claim]),
                                  "interpreter": (s.interpret, [claim])},
                                 max(3, repeats // (3 if count >= 1000 else 1)), sample)
        if count == 0:
            zero = timed
        per_entry = {k: (timed[k] - zero[k]) / count if count else None for k in timed}
        rows.append([label, measure.micros(timed["generated"]),
                     measure.micros(per_entry["generated"]),
                     measure.micros(timed["interpreter"]),
                     measure.micros(per_entry["interpreter"]),
                     measure.times(timed["interpreter"] / timed["generated"])])
        metrics[label] = timed["generated"]
        if count:
            metrics[f"{label} per entry"] = per_entry["generated"]  # type: ignore[assignment]
    text = measure.table(["history entries", "generated µs", "µs per entry",
                          "interpreter µs", "µs per entry", "interpreter ÷ generated"], rows)
    return text, metrics
