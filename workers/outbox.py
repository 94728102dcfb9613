"""The outbox: follows the event log and turns each outbound intent into an RQ job.

Nothing is enqueued from a web request: a reply is an event (``ReplyQueued``), and this
loop, reading the log in order, enqueues its delivery, as it does a retry a failure
scheduled (``ReplyDeliveryFailed`` with ``retry_at``) or an operator asked for
(``RedeliveryRequested``). Its position is kept in the read store's database, in a table
of its own, and moves only after the jobs of a batch are in Redis: with Redis down the
outbox waits, and resumes where it was; a crash between enqueueing and moving on
enqueues a job again, which the job's idempotency makes harmless. Job ids are
deterministic (``deliver-<reply>-<position>``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from redis import Redis

from domain import values as v
from projections.base import event_type
from projections.db import ReadStore, timestamp
from projections.log import EventLog, follow
from workers import queues
from workers.jobs import deliver_reply

log = logging.getLogger(__name__)

TABLE = "outbox_position"
NAME = "outbox"
DELIVERED_BY_WORKERS = frozenset({v.X_PUBLIC, v.X_DM, v.EMAIL})  # chat, phone, api: in Parley
MAX_BACKOFF = 30.0

Enqueue = Callable[..., None]


def ensure_table(store: ReadStore, start_at: int) -> None:
    """The outbox's own table (never a projection's). A new outbox starts at ``start_at``,
    the log's head when it is set up: replies recorded before any outbox existed (by a
    version that delivered nothing) are not sent days late; an operator retries them."""
    with store.transaction(lock_key=NAME) as tx:
        tx.run(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (name TEXT NOT NULL PRIMARY KEY,"
            " position BIGINT NOT NULL, updated_at TEXT)"
        )
        if tx.one(f"SELECT position FROM {TABLE} WHERE name = ?", [NAME]) is None:
            tx.run(f"INSERT INTO {TABLE} (name, position) VALUES (?, ?)", [NAME, start_at])


def position(store: ReadStore) -> int | None:
    """How far the outbox has got; None if it was never set up."""
    try:
        rows = store.query(f"SELECT position FROM {TABLE} WHERE name = ?", [NAME])
    except Exception:  # no table yet: never set up
        return None
    return int(rows[0]["position"]) if rows else None


class Outbox:
    def __init__(
        self,
        store: ReadStore,
        events: EventLog,
        redis: Redis,
        *,
        batch_size: int = 200,
        enqueue: Enqueue = queues.enqueue,
    ) -> None:
        self.store, self.events, self.redis = store, events, redis
        self.batch_size = batch_size
        self.enqueue = enqueue
        self.enqueued = 0

    def setup(self) -> None:
        ensure_table(self.store, self.events.head())

    def position(self) -> int:
        return position(self.store) or 0

    def step(self) -> int:
        """Enqueue the jobs of one batch of the log; the number of events read."""
        after = self.position()
        batch = self.events.read(after, self.batch_size)
        for position, event in batch:
            self._jobs_for(position, event)
        if batch:
            with self.store.transaction(lock_key=NAME) as tx:
                tx.run(
                    f"UPDATE {TABLE} SET position = ?, updated_at = ? WHERE name = ?"
                    " AND position < ?",
                    [batch[-1][0], timestamp(datetime.now(UTC)), NAME, batch[-1][0]],
                )
        return len(batch)

    def _jobs_for(self, position: int, event: Any) -> None:
        kind = event_type(event)
        at: datetime | None = None
        if kind == "Conversation.ReplyQueued":
            if event.channel not in DELIVERED_BY_WORKERS:
                return
        elif kind == "Conversation.ReplyDeliveryFailed":
            if not event.retryable:
                return
            at = event.retry_at
        elif kind != "Conversation.RedeliveryRequested":
            return
        self.enqueue(
            self.redis, queues.DELIVERIES, deliver_reply,
            str(event.originator_id), str(event.reply_id),
            job_id=f"deliver-{event.reply_id}-{position}", at=at,
        )  # fmt: skip
        self.enqueued += 1

    def run_once(self) -> int:
        total = 0
        while moved := self.step():
            total += moved
        return total

    def run_forever(self, stop: threading.Event, poll_interval: float = 0.2) -> None:
        """Follow the log until ``stop``; Redis or the store down is waited out."""
        follow(self.step, stop, what="outbox", poll_interval=poll_interval,
               max_backoff=MAX_BACKOFF)  # fmt: skip
