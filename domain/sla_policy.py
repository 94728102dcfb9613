"""SLA policies: versioned, chosen by rules, and pinned on a case when its clock starts.

An :class:`SlaPolicy` is versioned by its own events: created (version 1), revised,
retired; every edit is a new version, and each version's spec is kept, so a report can
be restated under any of them. The :class:`SlaPolicyBook` (one aggregate, fixed id)
holds the current version of every live policy; it is what a case's opening reads to
choose, so choosing costs one aggregate load (cached while its version is unchanged).
Both are saved in one transaction on every edit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.exceptions import InvalidTransitionError
from domain.indexes import key_id
from domain.sla_terms import DEFAULT_POLICY_ID, DEFAULT_SPEC, CaseFacts, PolicySpec


class SlaPolicy(Aggregate):
    """One policy and every version of it (``versions[n - 1]`` is version ``n``)."""

    TOPIC = "parley.SlaPolicy"

    class Created(Aggregate.Created):
        TOPIC = "parley.SlaPolicy.Created"

    @event("Defined", topic="parley.SlaPolicy.Defined")
    def __init__(self, spec: dict[str, Any], actor: str, timestamp: datetime) -> None:
        self.spec = spec
        self.retired = False
        self.versions: list[dict[str, Any]] = [
            {"version": 1, "spec": spec, "retired": False, "at": timestamp, "by": actor}
        ]

    def revise(self, spec: dict[str, Any], actor: str, timestamp: datetime) -> None:
        if self.retired:
            raise InvalidTransitionError("the policy is retired", field="policy")
        self._revise(spec=spec, actor=actor, timestamp=timestamp)

    @event("Revised", topic="parley.SlaPolicy.Revised")
    def _revise(self, spec: dict[str, Any], actor: str, timestamp: datetime) -> None:
        self.spec = spec
        self._keep(actor, timestamp)

    def retire(self, actor: str, timestamp: datetime) -> None:
        if self.retired:
            raise InvalidTransitionError("the policy is retired already", field="policy")
        self._retire(actor=actor, timestamp=timestamp)

    @event("Retired", topic="parley.SlaPolicy.Retired")
    def _retire(self, actor: str, timestamp: datetime) -> None:
        self.retired = True
        self._keep(actor, timestamp)

    def _keep(self, actor: str, timestamp: datetime) -> None:
        self.versions.append(
            {"version": len(self.versions) + 1, "spec": self.spec, "retired": self.retired,
             "at": timestamp, "by": actor}
        )  # fmt: skip

    @property
    def policy_version(self) -> int:
        return len(self.versions)

    def at_version(self, version: int) -> dict[str, Any] | None:
        return self.versions[version - 1] if 1 <= version <= len(self.versions) else None


class SlaPolicyBook(Aggregate):
    """The live policies, each at its current version: ``{id: (version, spec)}``."""

    TOPIC = "parley.SlaPolicyBook"

    class Created(Aggregate.Created):
        TOPIC = "parley.SlaPolicyBook.Created"

    @staticmethod
    def create_id() -> UUID:
        return key_id("registry", "sla-policies")

    @event("Opened", topic="parley.SlaPolicyBook.Opened")
    def __init__(self, actor: str, timestamp: datetime) -> None:
        self.entries: dict[str, tuple[int, dict[str, Any]]] = {}
        self.order: list[str] = []  # ids in the order they were first entered

    @event("Entered", topic="parley.SlaPolicyBook.Entered")
    def enter(
        self, policy_id: str, version: int, spec: dict[str, Any], actor: str, timestamp: datetime
    ) -> None:
        if policy_id not in self.entries:
            self.order.append(policy_id)
        self.entries[policy_id] = (version, spec)
        self._ranked: list[tuple[str, int, PolicySpec]] | None = None

    @event("Removed", topic="parley.SlaPolicyBook.Removed")
    def remove(self, policy_id: str, actor: str, timestamp: datetime) -> None:
        self.entries.pop(policy_id, None)
        self._ranked = None

    def choose(self, case: CaseFacts) -> tuple[str, int, PolicySpec]:
        """The first live policy (by rank, then age) whose conditions match the case."""
        return choose(self.ranked(), case)

    def ranked(self) -> list[tuple[str, int, PolicySpec]]:
        if getattr(self, "_ranked", None) is not None:
            return self._ranked  # type: ignore[return-value]
        age = {policy_id: n for n, policy_id in enumerate(self.order)}
        specs = [
            (policy_id, version, PolicySpec.from_dict(spec))
            for policy_id, (version, spec) in self.entries.items()
        ]
        self._ranked = sorted(specs, key=lambda s: (s[2].rank, age[s[0]]))
        return self._ranked


def choose(
    ranked: list[tuple[str, int, PolicySpec]], case: CaseFacts
) -> tuple[str, int, PolicySpec]:
    for policy_id, version, spec in ranked:
        if spec.conditions.matches(case):
            return policy_id, version, spec
    return DEFAULT_POLICY_ID, 0, DEFAULT_SPEC
