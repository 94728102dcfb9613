"""A read model as it stood at a moment, replayed from the log (never read from the live
tables): the events in commit order up to the first one recorded after that moment.

Each replay builds the projection into a scratch SQLite file of its own and throws it
away afterwards; it costs a pass over the log up to the moment (an auditor's read, not
an agent's).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from projections.base import Batch, Projection
from projections.db import ReadStore, SQLiteReadStore
from projections.log import EventLog, Wanted
from projections.rebuild import rebuild

REPLAY_BATCH = 1000


class UntilMoment:
    """The log up to ``moment``: it ends at the first event recorded after it."""

    def __init__(self, events: EventLog, moment: datetime) -> None:
        self.events, self.moment = events, moment
        self.ended_at: int | None = None  # the last position taken, once the end is seen
        self.last = 0

    def read(self, after: int, limit: int, wanted: Wanted | None = None) -> Batch:
        if self.ended_at is not None and after >= self.ended_at:
            return []
        taken = []
        # Every event decoded (``wanted`` not passed on): the end is found by each one's
        # own time, which a skipped event would not show.
        for position, event in self.events.read(after, limit):
            if event.timestamp > self.moment:
                self.ended_at = self.last
                break
            taken.append((position, event))
            self.last = position
        return taken

    def head(self) -> int:
        return self.events.head()


@contextmanager
def replayed(
    events: EventLog, projection: Projection, moment: datetime
) -> Iterator[tuple[ReadStore, int]]:
    """A read store holding ``projection`` as of ``moment``, and the last position in it."""
    # In memory, not a temporary file: the replay holds customers' personal data, which
    # must not be left in a deleted file's blocks on disk.
    store = SQLiteReadStore(":memory:")
    try:
        bounded = UntilMoment(events, moment)
        # Short batches and the collector left alone: this runs inside a request, maybe
        # beside others (projections.collector).
        position = rebuild(store, bounded, projection, batch_size=REPLAY_BATCH,
                           pause_collector=False)  # fmt: skip
        yield store, position
    finally:
        store.close()
