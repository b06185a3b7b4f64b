"""A checked policy with its provenance: what every generator receives."""

from __future__ import annotations

from dataclasses import dataclass

from dqmc.lang.ir.nodes import Policy


@dataclass(frozen=True)
class CompiledPolicy:
    """A policy that passed every check, the spec it came from, and its IR content hash."""

    policy: Policy
    source: str  # the spec's path relative to the repository, with forward slashes
    content_hash: str  # "sha256:<hex>" of the canonical IR (dqmc.lang.ir.canonical.content_hash)
