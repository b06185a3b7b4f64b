"""Canonical JSON of the IR (sorted keys, decimals as strings, no spans) and its content hash."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from decimal import Decimal
from typing import Any

from dqmc.lang.ir import nodes

# Members of the IR's unions carry their node name, so the JSON says which variant it is.
_TAGGED = (
    nodes.PerWindow, nodes.PerFill, nodes.PerDay, nodes.FillsPerWindow, nodes.DaysSupplyMax,
    nodes.TherapyMax, nodes.DailyDose, nodes.FirstFill, nodes.NotCovered, nodes.NoLimit,
    nodes.AgeBand, nodes.PackageIs,
    nodes.FactRef, nodes.Compare, nodes.InSet, nodes.Subset, nodes.Not, nodes.And, nodes.Or,
)

# The version of the IR's JSON schema, written beside every policy and covered by its content
# hash. Bump it whenever the JSON a policy produces changes shape (a field or node added,
# renamed or removed, a value written differently): every content hash then changes once, on
# purpose, instead of old hashes being held stable by leaving new fields out. 1 was the unnamed
# schema of the first published hashes, which left fields added later out at their defaults;
# 2 writes every field; 3 states the defaults a spec leaves out (a policy with criteria always
# has its approval duration, lower_common.fill_defaults), so the same JSON now means what the
# evaluators do without a fallback of their own; 4 adds daily-dose rules, ingredient contents,
# factor tables and soft edits (DUR/PPS overrides, exclusions, per-line reject codes); 5 adds a
# factor table's `origin`, the shared factor file a policy took it from (`use factors`).
IR_VERSION = 5


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def decimal_text(value: Decimal) -> str:
    """A Decimal as plain text without exponent or trailing zeros: 30.0 → "30", 1E+1 → "10"."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def to_data(value: Any) -> Any:
    """A JSON-ready value for any IR node or field value; spans are left out."""
    if isinstance(value, nodes.Month):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        if isinstance(value, _TAGGED):
            out["node"] = snake(type(value).__name__)
        for f in dataclasses.fields(value):
            if not f.compare:  # source positions and the policy's index: not content
                continue
            out[f.name] = to_data(getattr(value, f.name))
        return out
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return [to_data(v) for v in value]
    raise TypeError(f"not an IR value: {type(value).__name__}")


def ir_data(policy: nodes.Policy) -> dict[str, Any]:
    """What the content hash covers: the IR schema version and the policy."""
    return {"ir_version": IR_VERSION, "policy": to_data(policy)}


def canonical_json(policy: nodes.Policy) -> str:
    """The IR as canonical JSON text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(ir_data(policy), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def content_hash(policy: nodes.Policy) -> str:
    """`sha256:<hex>` over the compact canonical JSON (`ir_data`), the policy's identity in every
    artifact."""
    compact = json.dumps(ir_data(policy), sort_keys=True, separators=(",", ":"),
                         ensure_ascii=False)
    return "sha256:" + hashlib.sha256(compact.encode("utf-8")).hexdigest()


def ir_document(policy: nodes.Policy) -> str:
    """What `dqmc ir` prints and generated/ir/<id>.json holds: the hash, the IR version and the
    policy."""
    doc = {"content_hash": content_hash(policy), **ir_data(policy)}
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
