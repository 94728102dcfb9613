"""The care policy's rules as one versioned document: every save is a new version.

One aggregate with a fixed id (there is one care policy), so an inbound message costs
one load to classify and route (cached while its version is unchanged), and two
supervisors saving at once conflict on it: one wins, the other gets 409 (or 412 with
``If-Match``). Each version's rules are kept whole (``versions[n - 1]`` is version
``n``), so a classification recorded under version 3 can be read against the rules of
version 3, whatever was saved since.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.care_rules import CareRules
from domain.indexes import key_id


class CarePolicy(Aggregate):
    TOPIC = "parley.CarePolicy"

    class Created(Aggregate.Created):
        TOPIC = "parley.CarePolicy.Created"

    @staticmethod
    def create_id() -> UUID:
        return key_id("registry", "care-policy")

    @event("Adopted", topic="parley.CarePolicy.Adopted")
    def __init__(self, rules: dict[str, Any], actor: str, timestamp: datetime) -> None:
        self.versions: list[dict[str, Any]] = []
        self._keep(rules, actor, timestamp)

    @event("Revised", topic="parley.CarePolicy.Revised")
    def revise(self, rules: dict[str, Any], actor: str, timestamp: datetime) -> None:
        self._keep(rules, actor, timestamp)

    def _keep(self, rules: dict[str, Any], actor: str, timestamp: datetime) -> None:
        self.rules = rules
        self._parsed: CareRules | None = None
        self.versions.append(
            {"version": len(self.versions) + 1, "rules": rules, "at": timestamp, "by": actor}
        )

    @property
    def policy_version(self) -> int:
        return len(self.versions)

    @property
    def parsed(self) -> CareRules:
        """The current rules as values (parsed once per version, not per message)."""
        if getattr(self, "_parsed", None) is None:
            self._parsed = CareRules.from_dict(self.rules)
        return self._parsed  # type: ignore[return-value]

    def at_version(self, version: int) -> dict[str, Any] | None:
        return self.versions[version - 1] if 1 <= version <= len(self.versions) else None
