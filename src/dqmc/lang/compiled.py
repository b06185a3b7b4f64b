"""A checked policy with its provenance: what every generator receives."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from dqmc.lang.ir.nodes import Policy

if TYPE_CHECKING:
    from dqmc.lang.plan import PolicyPlan


@dataclass(frozen=True)
class CompiledPolicy:
    """A policy that passed every check, the spec it came from, and its IR content hash."""

    policy: Policy
    source: str  # the spec's path relative to the repository, with forward slashes
    content_hash: str  # "sha256:<hex>" of the canonical IR (dqmc.lang.ir.canonical.content_hash)

    @cached_property
    def plan(self) -> PolicyPlan:
        """The policy lowered for evaluators (dqmc.lang.plan), lowered once, when first asked."""
        from dqmc.lang.plan import lower  # the plan reads the IR's queries, which name this class

        return lower(self.policy)
