"""A checked policy with its provenance: what every generator receives."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

from dqmc.lang.ir.nodes import Policy

if TYPE_CHECKING:
    from dqmc.lang.plan import PolicyPlan


@dataclass(frozen=True)
class CompiledPolicy:
    """A policy that passed every check, the spec it came from, and its IR content hash.

    A live policy also carries its kept earlier versions (`earlier`, oldest first), each a
    CompiledPolicy of its own with the last day it was in force: a claim is decided by the
    version in force on its date of service (docs/semantics.md §2.7).
    """

    policy: Policy
    source: str  # the spec's path relative to the repository, with forward slashes
    content_hash: str  # "sha256:<hex>" of the canonical IR (dqmc.lang.ir.canonical.content_hash)
    earlier: tuple[CompiledPolicy, ...] = ()  # kept earlier versions, oldest first
    last_day: dt.date | None = None  # a kept version's last day in force; None for the live one
    # the first day in force when the version before this one says it (its last day + 1); the
    # policy's own `effective_date` takes precedence (the build reports any disagreement)
    starts: dt.date | None = None
    # one version decides claims of every date, as `dqmc impact` replays each side (and
    # `--as-of` forces a version): no routing by date
    forced: bool = False

    @cached_property
    def plan(self) -> PolicyPlan:
        """The policy lowered for evaluators (dqmc.lang.plan), lowered once, when first asked."""
        from dqmc.lang.plan import lower  # the plan reads the IR's queries, which name this class

        return lower(self.policy)

    @property
    def first_day(self) -> dt.date | None:
        """The first day this version is in force; None when it has no start."""
        return self.policy.effective_date or self.starts

    @property
    def versions(self) -> tuple[CompiledPolicy, ...]:
        """Every version of the policy, oldest first, this (the live one) last."""
        return (*self.earlier, self)

    @property
    def dated(self) -> bool:
        """Whether a claim's date can change which version decides it (or refuse it)."""
        return not self.forced and (bool(self.earlier) or self.first_day is not None)

    def alone(self) -> CompiledPolicy:
        """This version by itself, deciding claims of every date."""
        return replace(self, earlier=(), forced=True)

    def version_on(self, day: dt.date) -> CompiledPolicy | None:
        """The version in force on `day`; None when `day` is before the first version."""
        first = self.versions[0].first_day
        if first is not None and day < first:
            return None
        for version in self.earlier:
            if version.last_day is not None and day <= version.last_day:
                return version
        return self

    def version_as_of(self, day: dt.date) -> CompiledPolicy:
        """The version a caller forces with `as_of` (`dqmc eval --as-of`). ValueError when
        `day` is before the first version, which is a usage error there, not a claim's."""
        version = self.version_on(day)
        if version is None:
            raise ValueError(f"{self.policy.id} took effect on {self.versions[0].first_day}: "
                             f"no version is in force on {day.isoformat()}")
        return version
