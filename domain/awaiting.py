"""What a case awaits, and since when: one rule for the aggregate and the inbox.

Decided by the order of events, never by comparing their timestamps: a message recorded
after a reply is unanswered even if both carry the same time. The aggregate folds its
events through :class:`Wait` as they are applied; the inbox projection keeps the same
two facts in its row and asks the same questions, so both always read alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain import values as v

# How far a channel's published_at may stand from the moment Parley observed the message.
PUBLISHED_MAX_AGE = timedelta(days=7)
PUBLISHED_MAX_AHEAD = timedelta(minutes=5)

ACKNOWLEDGEMENT, REPLY, NOTHING = "acknowledgement", "reply", "nothing"
AWAITING = (ACKNOWLEDGEMENT, REPLY, NOTHING)


def customer_time(published_at: datetime, observed_at: datetime) -> datetime:
    """When the customer spoke, for every clock: as the channel says, but never later than
    Parley saw it, nor earlier than the window new contacts are held to (so events
    recorded before that window was enforced cannot skew a clock by centuries)."""
    return max(min(published_at, observed_at), observed_at - PUBLISHED_MAX_AGE)


@dataclass(frozen=True)
class Wait:
    """Whether anyone has replied yet, and since when the customer waits unanswered."""

    replied: bool = False
    unanswered_since: datetime | None = None

    def message(self, at: datetime) -> Wait:
        """A customer message: an unanswered wait keeps its start."""
        return self if self.unanswered_since is not None else replace(self, unanswered_since=at)

    def reply(self) -> Wait:
        """A reply queued: nobody waits any more."""
        return Wait(replied=True, unanswered_since=None)

    def awaiting(self, status: str) -> str:
        """``acknowledgement`` (never replied), ``reply`` or ``nothing``; resolving keeps
        the unanswered wait, so a reopened case awaits what it awaited."""
        if status == v.RESOLVED or self.unanswered_since is None:
            return NOTHING
        return REPLY if self.replied else ACKNOWLEDGEMENT

    def waiting_since(self, status: str) -> datetime | None:
        return None if self.awaiting(status) == NOTHING else self.unanswered_since
