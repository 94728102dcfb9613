"""Service-level targets: how soon a customer on each channel should hear back.

Public complaints on X expect an answer within the hour, so that is the default there.
A policy is a value, not state: SLA figures are recomputed from events for any policy.
Clocks run 24/7 (no business hours yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from domain import values as v
from domain.awaiting import ACKNOWLEDGEMENT, REPLY

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


class Due(NamedTuple):
    """When the first response is due (only while none was given), and the next one."""

    first_response: datetime | None
    response: datetime | None


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

    def due(
        self,
        *,
        status: str,
        awaiting: str,
        waiting_since: datetime | None,
        origin_channel: str,
        current_channel: str,
        priority: str,
    ) -> Due:
        """Due times of an open case (a snoozed or resolved one is due nothing).

        A first response is measured on the channel the case began on, a later one on
        the channel it is on now.
        """
        if waiting_since is None or status != v.OPEN:
            return Due(None, None)
        if awaiting == ACKNOWLEDGEMENT:
            first = waiting_since + self.target("first", origin_channel, priority)
            return Due(first, first)
        if awaiting == REPLY:
            return Due(None, waiting_since + self.target("next", current_channel, priority))
        return Due(None, None)


DEFAULT_POLICY = SlaPolicy()
