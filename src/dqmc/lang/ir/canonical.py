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
    nodes.TherapyMax, nodes.NotCovered,
    nodes.AgeBand, nodes.PackageIs,
    nodes.FactRef, nodes.Compare, nodes.InSet, nodes.Subset, nodes.Not, nodes.And, nodes.Or,
)

# Fields added after policies were first published, left out of the JSON at their default so
# that every policy that does not use them keeps its content hash.
_NO_DEFAULT = object()
_OMITTED_AT_DEFAULT = {(nodes.Criterion, "approves_requested"): False,
                       (nodes.Quantity, "per_package"): False,
                       (nodes.Quantity, "noun"): None,
                       (nodes.Criterion, "serves"): None,
                       (nodes.Quantity, "doses"): None,
                       (nodes.Product, "dose"): None,
                       (nodes.Policy, "fallback"): False,
                       (nodes.Criterion, "requested_for"): ()}


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
            default = _OMITTED_AT_DEFAULT.get((type(value), f.name), _NO_DEFAULT)
            if default is not _NO_DEFAULT and getattr(value, f.name) == default:
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


def canonical_json(policy: nodes.Policy) -> str:
    """The IR as canonical JSON text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(to_data(policy), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def content_hash(policy: nodes.Policy) -> str:
    """`sha256:<hex>` over the compact canonical JSON, the policy's identity in every artifact."""
    compact = json.dumps(to_data(policy), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(compact.encode("utf-8")).hexdigest()


def ir_document(policy: nodes.Policy) -> str:
    """What `dqmc ir` prints and generated/ir/<id>.json holds: the hash and the policy."""
    doc = {"content_hash": content_hash(policy), "policy": to_data(policy)}
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
