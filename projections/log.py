"""Reading the event store's notification log in order, in pages."""

from __future__ import annotations

from typing import Any, Protocol

from projections.base import Batch


class EventLog(Protocol):
    def read(self, after: int, limit: int) -> Batch: ...
    def head(self) -> int: ...


class NotificationLog:
    """The log of an eventsourcing application (recorder + mapper), decoded.

    A pull loop over ``select_notifications`` works on SQLite and PostgreSQL alike; the
    library's subscription-based runner does not exist for SQLite. Positions can have
    gaps on PostgreSQL: pages are read by ``> after``, never by counting.
    """

    def __init__(self, recorder: Any, mapper: Any) -> None:
        self.recorder = recorder
        self.mapper = mapper

    def read(self, after: int, limit: int) -> Batch:
        notifications = self.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        return [(n.id, self.mapper.to_domain_event(n)) for n in notifications]

    def head(self) -> int:
        return int(self.recorder.max_notification_id() or 0)
