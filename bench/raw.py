"""The ceiling: the eventsourcing library alone, with the most trivial aggregate there is.

Kept in its own module so the event topics are stable (``bench.raw:Counter...``) whether the
benchmark runs as ``python -m bench.ingest`` or is imported.
"""

from __future__ import annotations

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Counter(Aggregate):
    """One integer; every command is exactly one event."""

    @event("Started")
    def __init__(self) -> None:
        self.count = 0

    @event("Bumped")
    def bump(self) -> None:
        self.count += 1


class RawLibrary(Application):  # type: ignore[misc]
    """A bare application: no indexes, no reads before a write, nothing but ``save``."""

    name = "benchraw"  # the PostgreSQL table prefix (benchraw_events)
