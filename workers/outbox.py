"""The outbox: follows the event log and turns each outbound intent into an RQ job.

Nothing is enqueued from a web request: a reply is an event (``ReplyQueued``), and this
loop, reading the log in order, enqueues its delivery, as it does a retry a failure
scheduled (``ReplyDeliveryFailed`` with ``retry_at``) or an operator asked for
(``RedeliveryRequested``), the supervisors' alert of an SLA breach (``SlaBreached``), and
an incident's general update (``Incident.UpdateQueued``, and its retries). Its position is kept in the read store's database, in a table
of its own, and moves only after the jobs of a batch are in Redis: with Redis down the
outbox waits, and resumes where it was; a crash between enqueueing and moving on
enqueues a job again, which the job's idempotency makes harmless. Job ids are
deterministic (``deliver-<reply>-<position>``).

Redis may also come back *empty* (a restart without persistence, a failover to a replica
that had not caught up): the jobs of replies the outbox had already passed are gone. So
the outbox keeps the replies still waiting for an outcome in a table of its own
(``outbox_open``, written in the transaction that moves its position) and a marker key in
Redis; a Redis without the marker has lost what it held, and every open reply is enqueued
again (the job's idempotency makes that harmless for one that was not lost).
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
from workers.jobs import check_dm_reach, deliver_incident_update, deliver_reply
from workers.sla_notify import notify_sla_breach

log = logging.getLogger(__name__)

TABLE = "outbox_position"
OPEN = "outbox_open"  # replies enqueued and not yet delivered or given up
MARKER = "parley:outbox:epoch"  # absent: this Redis lost its data (or is new)
NAME = "outbox"
DELIVERED_BY_WORKERS = frozenset({v.X_PUBLIC, v.X_DM, v.EMAIL})  # chat, phone, api: in Parley
MAX_BACKOFF = 30.0
# An incident's update is kept open beside the replies, its incident id so marked in the
# conversation_id column: the table is the outbox's own, for the work it has not seen end.
INCIDENT = "incident:"

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
        tx.run(
            f"CREATE TABLE IF NOT EXISTS {OPEN} (reply_id TEXT NOT NULL PRIMARY KEY,"
            " conversation_id TEXT NOT NULL, position BIGINT NOT NULL)"
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


def _concludes(event: Any) -> str | None:
    """The reply (or update) after whose outcome no job of it is wanted (until a
    redelivery), if ``event`` is such an outcome."""
    kind = event_type(event)
    if kind in ("Conversation.ReplyDelivered", "Conversation.ReplyBounced") or (
        kind == "Conversation.ReplyDeliveryFailed" and not event.retryable
    ):
        return str(event.reply_id)
    if kind == "Incident.UpdateDelivered" or (
        kind == "Incident.UpdateDeliveryFailed" and not event.retryable
    ):
        return str(event.update_id)
    return None


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
        self.recover_lost_jobs()
        after = self.position()
        batch = self.events.read(after, self.batch_size)
        opened: dict[str, tuple[str, int]] = {}
        closed: set[str] = set()
        for position, event in batch:
            if event_type(event) == "Conversation.SlaBreached":
                self._alert(position, event)
            elif event_type(event) == "Conversation.DmReachRecorded":
                self._check_reach(position, event)
            elif self._jobs_for(position, event):
                opened[str(event.reply_id)] = (str(event.originator_id), position)
                closed.discard(str(event.reply_id))
            elif self._update_job(position, event):
                opened[str(event.update_id)] = (INCIDENT + str(event.originator_id), position)
                closed.discard(str(event.update_id))
            elif (done := _concludes(event)) is not None:
                closed.add(done)
                opened.pop(done, None)
        if batch:
            with self.store.transaction(lock_key=NAME) as tx:
                tx.run(
                    f"UPDATE {TABLE} SET position = ?, updated_at = ? WHERE name = ?"
                    " AND position < ?",
                    [batch[-1][0], timestamp(datetime.now(UTC)), NAME, batch[-1][0]],
                )
                for reply_id, (conversation_id, position) in opened.items():
                    tx.run(f"DELETE FROM {OPEN} WHERE reply_id = ?", [reply_id])
                    tx.run(
                        f"INSERT INTO {OPEN} (reply_id, conversation_id, position)"
                        " VALUES (?, ?, ?)",
                        [reply_id, conversation_id, position],
                    )
                for reply_id in closed:
                    tx.run(f"DELETE FROM {OPEN} WHERE reply_id = ?", [reply_id])
        return len(batch)

    def recover_lost_jobs(self) -> int:
        """If Redis lost its data (no marker), enqueue every open reply again; how many."""
        if self.redis.exists(MARKER):
            return 0
        rows = self.store.query(f"SELECT reply_id, conversation_id FROM {OPEN} ORDER BY position")
        epoch = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
        for row in rows:
            owner = str(row["conversation_id"])
            job: Callable[[str, str], str] = deliver_reply
            if owner.startswith(INCIDENT):
                owner, job = owner.removeprefix(INCIDENT), deliver_incident_update
            self.enqueue(
                self.redis, queues.DELIVERIES, job, owner, row["reply_id"],
                job_id=f"deliver-{row['reply_id']}-recovered-{epoch}", at=None,
            )  # fmt: skip
        self.redis.set(MARKER, epoch)
        if rows:
            log.warning("Redis had lost its jobs: %d open replies enqueued again", len(rows))
        return len(rows)

    def _jobs_for(self, position: int, event: Any) -> bool:
        """Enqueue the job ``event`` asks for, if any; whether it did."""
        kind = event_type(event)
        at: datetime | None = None
        if kind == "Conversation.ReplyQueued":
            if event.channel not in DELIVERED_BY_WORKERS:
                return False
        elif kind == "Conversation.ReplyDeliveryFailed":
            if not event.retryable:
                return False
            at = event.retry_at
        elif kind != "Conversation.RedeliveryRequested":
            return False
        self.enqueue(
            self.redis, queues.DELIVERIES, deliver_reply,
            str(event.originator_id), str(event.reply_id),
            job_id=f"deliver-{event.reply_id}-{position}", at=at,
        )  # fmt: skip
        self.enqueued += 1
        return True

    def _update_job(self, position: int, event: Any) -> bool:
        """Enqueue the posting of an incident's general update (or its retry at its
        time); whether it did."""
        kind = event_type(event)
        if kind == "Incident.UpdateQueued":
            at = None
        elif kind == "Incident.UpdateDeliveryFailed" and event.retryable:
            at = event.retry_at
        else:
            return False
        self.enqueue(
            self.redis, queues.DELIVERIES, deliver_incident_update,
            str(event.originator_id), str(event.update_id),
            job_id=f"update-{event.update_id}-{position}", at=at,
        )  # fmt: skip
        self.enqueued += 1
        return True

    def _alert(self, position: int, event: Any) -> None:
        """A breach: its policy's supervisors are told by e-mail (workers.sla_notify)."""
        self.enqueue(
            self.redis, queues.DEFAULT, notify_sla_breach,
            str(event.originator_id), event.metric, event.seq,
            job_id=f"sla-alert-{event.originator_id}-{event.metric}-{event.seq}", at=None,
        )  # fmt: skip
        self.enqueued += 1

    def _check_reach(self, position: int, event: Any) -> None:
        """A case moved to DM: ask X whether the DM can reach the customer."""
        if event.source != "switch":
            return
        self.enqueue(
            self.redis, queues.DEFAULT, check_dm_reach, str(event.originator_id),
            job_id=f"dm-reach-{event.originator_id}-{position}", at=None,
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
