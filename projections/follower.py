"""The follower: reads the notification log in order and feeds each projection.

Projections are independent: each has its own tables and position, and one that fails
stops at the event it could not process (recorded with the error) while the others go
on. Events are applied in batches, one transaction per batch per projection.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

import psycopg
from psycopg_pool import PoolTimeout

from projections import positions
from projections.base import LIVE, Batch, Projection, TableNames, event_type
from projections.collector import collector_paused
from projections.db import ReadStore
from projections.log import EventLog, Wanted, follow

log = logging.getLogger(__name__)

DEFAULT_BATCH = 500
CATCH_UP_BATCH = 10_000  # events per transaction while far behind (the app's, the CLI's)
BEHIND_BATCHES = 4  # far behind: a full read with this many short batches more to go
MAX_BACKOFF = 60.0
# SQLite reports a busy database and a missing column alike as OperationalError; only
# these messages mean the database, not the handler, is at fault (for now).
SQLITE_TRANSIENT = (
    "database is locked", "database table is locked", "database is busy", "disk i/o error",
    "unable to open database file", "database or disk is full", "locking protocol",
    "interrupted",
)  # fmt: skip


def is_transient(error: BaseException) -> bool:
    """Whether the database, not the event or its handler, is at fault: retry later and
    never mark the event as poison. A programming error (``no such column``, a syntax
    error) is permanent: it pins the projection as failed, to be seen and fixed."""
    if isinstance(error, psycopg.OperationalError | PoolTimeout):
        return True
    if isinstance(error, sqlite3.OperationalError):
        message = str(error).lower()
        return any(text in message for text in SQLITE_TRANSIENT)
    return False


class _HandlerFailedError(Exception):
    """A projection's handler raised on an event: the event cannot be applied as is."""


class ProjectionFailedError(Exception):
    def __init__(self, name: str, position: int, event: str, error: str) -> None:
        super().__init__(f"{name} stopped at position {position} ({event}): {error}")
        self.name, self.position, self.event, self.error = name, position, event, error


def wanted_by(projections: Sequence[Projection]) -> Wanted:
    """The topics any of ``projections`` handles: the others need not be decoded."""
    return lambda topic: any(p.handles(topic) for p in projections)


class Follower:
    def __init__(
        self,
        store: ReadStore,
        log: EventLog,
        projections: Sequence[Projection],
        *,
        batch_size: int = DEFAULT_BATCH,
        catch_up_batch: int | None = None,
        pause_collector: bool = True,
    ) -> None:
        self.store = store
        self.log = log
        self.projections = list(projections)
        self.batch_size = batch_size
        # Far behind (a full read, BEHIND_BATCHES short batches or more still to go), a
        # projection takes up to this many events per transaction: a batch costs about the
        # same per case whatever its length, so a long one covers the work in fewer passes.
        self.catch_up_batch = max(batch_size, catch_up_batch or batch_size)
        self._behind: set[str] = set()
        # Off for a build inside a request (an as-of replay): there, several at once could
        # keep the collector off for as long as the load lasts (projections.collector).
        self.pause_collector = pause_collector
        self.failed: dict[str, ProjectionFailedError] = {}  # stopped in this process
        self._retry_at: dict[str, float] = {}
        self._backoff: dict[str, float] = {}

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
                    positions.start(tx, projection.name, token, projection.version)

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
        """One batch for every projection not waiting out a failure; one read per position.

        A projection with a recorded error is retried after a growing pause, so a fix
        deployed (or a rebuild that clears the error) lets it go on without a restart.
        """
        by_position: dict[int, list[Projection]] = {}
        current = positions.statuses(self.store)
        now = time.monotonic()
        for projection in self.projections:
            status = current.get(projection.name)
            if status is None or status.version != projection.version:
                continue  # not set up, or its tables are another version's: rebuild first
            if status.error and now < self._retry_at.get(projection.name, 0.0):
                continue
            by_position.setdefault(status.position, []).append(projection)
        moved = 0
        with self.collector_held():  # the reads and applying of the step, collected after it
            for after, group in by_position.items():
                moved += self._step_group(after, group)
        return moved

    def _step_group(self, after: int, group: list[Projection]) -> int:
        """One read from ``after`` for the projections there, applied to each of them."""
        behind = any(p.name in self._behind for p in group)
        limit = self.catch_up_batch if behind else self.batch_size
        batch = self.log.read(after, limit, wanted_by(group))
        # Behind: a full read, and several short batches more to go (a burst that fills
        # one short batch is not worth a long transaction that delays its readers).
        behind = (
            self.catch_up_batch > self.batch_size
            and len(batch) >= limit
            and self.log.head() - batch[-1][0] >= BEHIND_BATCHES * self.batch_size
        )
        for projection in group:
            self._behind.discard(projection.name)
            if behind:
                self._behind.add(projection.name)
        return sum(self.apply_batch(p, p.name, LIVE, batch) for p in group) if batch else 0

    def run_forever(self, stop: threading.Event, poll_interval: float = 0.2) -> None:
        """Follow the log until ``stop``; a database outage is waited out, not fatal.
        On PostgreSQL a save wakes it at once (the read store's wakeup); the poll is the
        fallback."""
        follow(self.step, stop, what="follower", poll_interval=poll_interval,
               max_backoff=MAX_BACKOFF, wakeup=self.store.wakeup())  # fmt: skip

    def collector_held(self) -> AbstractContextManager[None]:
        """The cyclic collector held off (projections.collector), unless told not to."""
        return collector_paused() if self.pause_collector else nullcontext()

    # ------------------------------------------------------------------ applying
    def apply_batch(self, projection: Projection, key: str, variant: str, batch: Batch) -> int:
        """Apply the part of ``batch`` past position ``key``, in one transaction.

        ``variant`` chooses the tables: live, a rebuild's shadow, or a verify's scratch.
        A handler error rolls the batch back and pins the event at fault; a database
        error propagates (the caller retries later) and marks nothing.
        """
        names = TableNames.of(projection, variant)
        try:
            applied = self._apply(projection, key, names, batch)
        except _HandlerFailedError:
            chunk = min(self.batch_size, DEFAULT_BATCH)
            if len(batch) <= chunk:
                return self._apply_one_by_one(projection, key, names, batch)
            # A long (catch-up or rebuild) batch: the short one holding the bad event is
            # found first, so only it is retried one event per transaction.
            applied = 0
            for start in range(0, len(batch), chunk):
                applied += self.apply_batch(projection, key, variant, batch[start : start + chunk])
                if key in self.failed:
                    break
            return applied
        self._recovered(key)
        if applied and any(event_type(e) == "Customer.Erased" for _, e in batch):
            self.store.forget_overwritten()  # the erased previews' old pages leave the files
        return applied

    def _apply(self, projection: Projection, key: str, names: TableNames, batch: Batch) -> int:
        with self.store.transaction(lock_key=key) as tx:
            row = positions.read(tx, key)
            reached = int(row["position"]) if row else None
            todo = [(p, e) for p, e in batch if reached is not None and p > reached]
            if todo:
                try:
                    projection.apply(tx, names, todo)
                except Exception as error:
                    if is_transient(error):
                        raise
                    raise _HandlerFailedError(error) from error
                positions.advance(tx, key, todo[-1][0])
            return len(todo)

    def _apply_one_by_one(
        self, projection: Projection, key: str, names: TableNames, batch: Batch
    ) -> int:
        applied = 0
        for position, event in batch:
            try:
                applied += self._apply(projection, key, names, [(position, event)])
            except _HandlerFailedError as failed:
                error = failed.__cause__
                failure = ProjectionFailedError(
                    key, position, event_type(event), f"{type(error).__name__}: {error}"
                )
                log.error("%s\n%s", failure, "".join(traceback.format_exception(error)))
                with self.store.transaction(lock_key=key) as tx:
                    positions.record_error(tx, key, position, failure.event, failure.error)
                self.failed[key] = failure
                pause = min(self._backoff.get(key, 0.5) * 2, MAX_BACKOFF)
                self._backoff[key] = pause
                self._retry_at[key] = time.monotonic() + pause
                break
        return applied

    def _recovered(self, key: str) -> None:
        self.failed.pop(key, None)
        self._retry_at.pop(key, None)
        self._backoff.pop(key, None)
