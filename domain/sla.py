"""Service-level targets: how soon a customer on each channel should hear back.

Public complaints on X expect an answer within the hour, so that is the default there.
A policy is a value, not state: SLA figures are recomputed from events for any policy.
Clocks run 24/7 (no business hours yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from domain import values as v

HOUR = timedelta(hours=1)


def _targets() -> dict[str, timedelta]:
    return {
        v.X_PUBLIC: HOUR,
        v.X_DM: HOUR,
        v.CHAT: timedelta(minutes=5),
        v.PHONE: HOUR,
        v.EMAIL: timedelta(hours=8),
        v.API: timedelta(hours=4),
    }


@dataclass(frozen=True)
class SlaPolicy:
    first_response: dict[str, timedelta] = field(default_factory=_targets)
    next_response: dict[str, timedelta] = field(default_factory=_targets)
    # Higher priorities tighten every target by this factor.
    priority_factor: dict[str, float] = field(default_factory=lambda: {"urgent": 0.5, "high": 0.75})

    def target(self, kind: str, channel: str, priority: str = "none") -> timedelta:
        """The target for a ``first`` or ``next`` response on ``channel`` at ``priority``."""
        targets = self.first_response if kind == "first" else self.next_response
        return targets.get(channel, HOUR) * self.priority_factor.get(priority, 1.0)


DEFAULT_POLICY = SlaPolicy()
