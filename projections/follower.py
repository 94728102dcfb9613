"""The follower: reads the notification log in order and feeds each projection.

Projections are independent: each has its own tables and position, and one that fails
stops at the event it could not process (recorded with the error) while the others go
on. Events are applied in batches, one transaction per batch per projection.
"""

from __future__ import annotations

import logging
import threading
import traceback
import uuid
from collections.abc import Callable, Sequence

from projections import positions
from projections.base import LIVE, Batch, Projection, TableNames, event_type
from projections.db import ReadStore
from projections.log import EventLog

log = logging.getLogger(__name__)

DEFAULT_BATCH = 500


class ProjectionFailedError(Exception):
    def __init__(self, name: str, position: int, event: str, error: str) -> None:
        super().__init__(f"{name} stopped at position {position} ({event}): {error}")
        self.name, self.position, self.event, self.error = name, position, event, error


class Follower:
    def __init__(
        self,
        store: ReadStore,
        log: EventLog,
        projections: Sequence[Projection],
        *,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        self.store = store
        self.log = log
        self.projections = list(projections)
        self.batch_size = batch_size
        self.failed: dict[str, ProjectionFailedError] = {}

    # ------------------------------------------------------------------ set-up
    def setup(self) -> None:
        """Create the positions table and any projection's live tables not there yet."""
        positions.ensure_table(self.store)
        for projection in self.projections:
            with self.store.transaction(lock_key=projection.name) as tx:
                if positions.read(tx, projection.name) is None:
                    token = uuid.uuid4().hex[:8]
                    names = TableNames.of(projection, LIVE)
                    projection.drop_tables(tx, names)
                    projection.create_tables(tx, names, token)
                    positions.start(tx, projection.name, token)

    # ------------------------------------------------------------------ running
    def run_once(self, progress: Callable[[int], None] | None = None) -> int:
        """Bring every healthy projection up to the head of the log; return events applied."""
        applied = 0
        while True:
            moved = self.step()
            applied += moved
            if progress and moved:
                progress(moved)
            if not moved:
                return applied

    def step(self) -> int:
        """One batch for every healthy projection; projections at one position share a read."""
        by_position: dict[int, list[Projection]] = {}
        current = positions.statuses(self.store)
        for projection in self.projections:
            if projection.name in self.failed or projection.name not in current:
                continue
            by_position.setdefault(current[projection.name].position, []).append(projection)
        moved = 0
        for after, group in by_position.items():
            batch = self.log.read(after, self.batch_size)
            if not batch:
                continue
            for projection in group:
                moved += self.apply_batch(projection, projection.name, LIVE, batch)
        return moved

    def run_forever(self, stop: threading.Event, poll_interval: float = 0.2) -> None:
        while not stop.is_set():
            if not self.step():
                stop.wait(poll_interval)

    # ------------------------------------------------------------------ applying
    def apply_batch(self, projection: Projection, key: str, variant: str, batch: Batch) -> int:
        """Apply the part of ``batch`` past position ``key``, in one transaction.

        ``variant`` chooses the tables: live, or a rebuild's shadow, or a verify's scratch.
        """
        names = TableNames.of(projection, variant)
        try:
            with self.store.transaction(lock_key=key) as tx:
                row = positions.read(tx, key)
                todo = [(p, e) for p, e in batch if row and p > int(row["position"])]
                if todo:
                    projection.apply(tx, names, todo)
                    positions.advance(tx, key, todo[-1][0])
                return len(todo)
        except Exception:
            # The batch rolled back whole; find the event at fault, one per transaction.
            return self._apply_one_by_one(projection, key, names, batch)

    def _apply_one_by_one(
        self, projection: Projection, key: str, names: TableNames, batch: Batch
    ) -> int:
        applied = 0
        for position, event in batch:
            try:
                with self.store.transaction(lock_key=key) as tx:
                    row = positions.read(tx, key)
                    if row is None or position <= int(row["position"]):
                        continue
                    projection.apply(tx, names, [(position, event)])
                    positions.advance(tx, key, position)
                    applied += 1
            except Exception as error:
                failure = ProjectionFailedError(
                    key, position, event_type(event), f"{type(error).__name__}: {error}"
                )
                log.error("%s", failure, extra={"trace": traceback.format_exc()})
                with self.store.transaction(lock_key=key) as tx:
                    positions.record_error(tx, key, position, failure.event, failure.error)
                self.failed[key] = failure
                break
        return applied
