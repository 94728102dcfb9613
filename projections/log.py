"""Reading the event store's notification log in order, in pages."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from domain.privacy import ERASURE_TOPIC
from projections.base import Batch, Skipped
from projections.wakeup import EVENTS, Wakeup

Wanted = Callable[[str], bool]  # whether a reader wants events of this topic decoded


class EventLog(Protocol):
    def read(self, after: int, limit: int, wanted: Wanted | None = None) -> Batch:
        """Up to ``limit`` events after position ``after``, in order. With ``wanted``, an
        event whose topic it refuses may come as a :class:`~projections.base.Skipped`
        (its position kept): a reader may always decode more than it was asked to."""
        ...

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

    def read(self, after: int, limit: int, wanted: Wanted | None = None) -> Batch:
        notifications = self.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        if wanted is None:
            events = self._decode(notifications)
            return [(n.id, e) for n, e in zip(notifications, events, strict=True)]
        # Decoding (and decrypting) is most of a read: an event no reader handles is
        # passed over by its topic, which the log stores in the clear.
        verdicts: dict[str, bool] = {}
        kept: list[Any] = []
        for n in notifications:
            keep = verdicts.get(n.topic)
            if keep is None:
                # An erasure always: decoding it makes the mapper forget the erased keys.
                keep = verdicts[n.topic] = n.topic == ERASURE_TOPIC or wanted(n.topic)
            if keep:
                kept.append(n)
        decoded = iter(self._decode(kept))
        return [
            (n.id, next(decoded) if verdicts[n.topic] else Skipped(n.topic)) for n in notifications
        ]

    def _decode(self, notifications: list[Any]) -> list[Any]:
        """Each decoded, in order: together where the mapper can (its data keys read in a
        few statements, ``PersonalDataMapper.to_domain_events``)."""
        together = getattr(self.mapper, "to_domain_events", None)
        if together is not None:
            return list(together(notifications))
        return [self.mapper.to_domain_event(n) for n in notifications]

    def head(self) -> int:
        return int(self.recorder.max_notification_id() or 0)


def follow(
    step: Callable[[], int],
    stop: threading.Event,
    *,
    what: str,
    poll_interval: float = 0.2,
    max_backoff: float = 60.0,
    wakeup: Wakeup | None = None,
) -> None:
    """Call ``step`` (one batch of the log; how much it moved) until ``stop``, pausing
    when there was nothing to do. A failing step (a database or Redis outage) is waited
    out with a growing pause, never fatal: the next step starts where the last one
    committed.

    With a ``wakeup`` an idle pause ends as soon as a save of events commits (PostgreSQL
    LISTEN/NOTIFY); ``poll_interval`` stays its upper bound, so a notification missed
    only delays the step to the next poll. A failing step's pause is not cut short."""
    log = logging.getLogger(f"parley.{what}")
    pause = poll_interval
    wakeup = wakeup or Wakeup()  # nobody bumps it: a timed poll
    while not stop.is_set():
        mark = wakeup.mark(EVENTS)  # before the step reads: a save during it is not missed
        failed = False
        try:
            moved = step()
            pause = poll_interval
        except Exception:
            log.exception("%s step failed; retrying in %.1f s", what, pause)
            moved, failed = 0, True
            pause = min(max(pause * 2, 1.0), max_backoff)
        if failed:
            stop.wait(pause)
        elif not moved:
            wakeup.wait(mark, pause, stop)
