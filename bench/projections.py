"""The read side: how fast the projections are built and followed, how fast the inbox
answers, and how soon a write shows in it.

    python -m bench.projections [--store sqlite|postgres|both] [--events 100000]
                                [--conversations 100000]

For each store, in one run, on one fresh store (a new SQLite file; a new PostgreSQL schema):

1. seed      C open conversations (plus C/20 resolved and C/50 snoozed), two per customer
             (a customer and an identity index for the first, a returning customer for the
             second), written straight from the domain classes with many aggregates per
             ``save``: first every opening, then rounds of follow-ups
             (assign, tag, priority, note, channel switch, reply, delivery, customer
             message, resolve, snooze) in a shuffled order, so a page of the log touches
             conversations opened long before, as a live log does; then customer messages
             until at least E events
2. read      the notification log paged 1000 at a time: ``select_notifications`` alone
             (raw) and ``NotificationLog.read`` (select + decode): the ceiling
3. build     ``rebuild`` of each projection from 0 (batch 1000); the follower catching all
             three up from 0 on fresh read tables (batch 500); and over the first 5,000
             events only, the follower with batch 1 against batch 500
4. inbox     ``GET /v1/inbox`` through the Flask test client (agent token), 200 requests
             per query after 10 warm-ups: first page, by assignee, by tag, by channel +
             awaiting, and page 20 (its cursor found by following ``next_cursor``); then,
             inside ``query_inbox``, its page and counts statements timed apart, with the
             page's plan; at the end the same after ``ANALYZE`` of the inbox tables (which
             nothing in the product runs), and the first page through HTTP again
5. visible   a follower thread (``run_forever``, poll 0.05 s) beside the app; after each
             ``POST /v1/conversations/{id}/messages`` answers, the time until the inbox
             covers its position: polled with ``position_of`` (every 1 ms), or as a client
             sees it, ``GET /v1/inbox?min_position=`` answering ``caught_up``; on
             PostgreSQL twice, woken by LISTEN/NOTIFY and with the poll alone (listening
             off), the poll interval the same in both

Rates of step 3 are compared with the decoded read rate of the same store in the same
run. See bench/README.md for how to read the figures.
"""

from __future__ import annotations

import argparse
import math
import random
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from app import create_app, follower_for
from app.config import Settings, event_store_env
from app.state import application
from bench.stores import KINDS, describe_machine, fresh_store, postgres_schema
from domain import values as v
from domain.application import Conversations
from domain.conversation import Conversation
from domain.customer import Customer
from domain.indexes import IdentityIndex
from domain.values import Identity
from projections.base import Batch
from projections.db import PostgresReadStore, ReadStore, SQLiteReadStore, open_read_store
from projections.follower import CATCH_UP_BATCH, Follower
from projections.log import EventLog, NotificationLog, Wanted
from projections.rebuild import REBUILD_BATCH, rebuild
from projections.registry import all_projections
from projections.status import position_of

ACTOR_CUSTOMER = "customer"
SEED = 7  # the seed is the same on every run and every store
OPEN_CHUNK = 1000  # conversations opened per save (3 aggregates, 3 events each)
FOLLOW_CHUNK = 2000  # follow-up events per save
READ_PAGE = 1000  # the log page of step 2
FOLLOW_BATCH = 500  # the follower's default (projections.follower.DEFAULT_BATCH)
SMALL_EVENTS = 5000  # the batch 1 versus batch 500 comparison: the first events only
REQUESTS = 200  # timed inbox requests per query
WARM_UP = 10  # untimed requests before each query
PAGE_DEPTH = 20  # the deep page: page 20 of the unfiltered inbox
PAGE_SIZE = 50
PART_REQUESTS = 20  # runs per query when timing the page and counts statements apart
PART_WARM_UP = 2
WRITES = 200  # timed writes per mode of step 5
POLL_INTERVAL = 0.05  # the follower thread's idle wait
SPIN = 0.001  # how often step 5 asks position_of

AGENTS = [f"agent-{i:02d}" for i in range(40)]
TEAMS = ["billing", "delivery", "returns", "tech", "vip"]
TAGS = [
    "refund", "late", "damaged", "wrong-item", "invoice", "login", "app", "complaint",
    "praise", "cancel", "address", "warranty", "gift", "promo", "vip", "legal", "press",
    "outage", "fraud", "other",
]  # fmt: skip
CHANNEL_WEIGHTS = {v.X_PUBLIC: 35, v.X_DM: 15, v.EMAIL: 30, v.CHAT: 15, v.PHONE: 5}
CONVERSATIONS_PER_CUSTOMER = 2  # half the conversations come from returning customers
REACHES = {v.IDENTITY_X: (v.X_PUBLIC, v.X_DM), v.IDENTITY_EMAIL: (v.EMAIL, v.CHAT),
           v.IDENTITY_PHONE: (v.PHONE, v.CHAT)}  # fmt: skip
SWITCH_TO = {v.X_PUBLIC: v.X_DM, v.X_DM: v.X_PUBLIC, v.EMAIL: v.CHAT, v.CHAT: v.EMAIL,
             v.PHONE: v.CHAT}  # fmt: skip
# The inbox queries of step 4 (besides the deep page).
QUERIES: dict[str, dict[str, str]] = {
    "first page": {},
    "by assignee": {"assignee": AGENTS[7]},
    "by tag": {"tag": TAGS[0]},
    "channel+awaiting": {"channel": v.EMAIL, "awaiting": "reply"},
}


# ---------------------------------------------------------------------------- figures
def per_second(events: int, seconds: float) -> float:
    return events / seconds if seconds else 0.0


@dataclass
class SeedRow:
    store: str
    conversations: dict[str, int]  # status -> count
    events: int
    seconds: float
    save_seconds: float  # of which inside application.save

    @property
    def rate(self) -> float:
        return per_second(self.events, self.seconds)


@dataclass
class RateRow:
    store: str
    what: str
    events: int  # log positions read or applied (a follower applies each to 3 projections)
    seconds: float
    base: str | None = "read+decode"  # the row this one is compared with

    @property
    def rate(self) -> float:
        return per_second(self.events, self.seconds)


@dataclass
class LatencyRow:
    store: str
    what: str
    samples: list[float]  # seconds
    note: str = ""
    errors: int = 0
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class StoreResult:
    store: str
    seed: SeedRow | None = None
    rates: list[RateRow] = field(default_factory=list)
    inbox: list[LatencyRow] = field(default_factory=list)
    visible: list[LatencyRow] = field(default_factory=list)
    parts: list[PartRow] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per step


def percentile(samples: list[float], q: float) -> float:
    """Nearest rank: the smallest sample with at least ``q`` of the samples at or below it."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = min(len(ordered), max(1, math.ceil(q * len(ordered))))
    return ordered[rank - 1]


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- 1. seed
@dataclass
class Seeded:
    open_ids: list[tuple[str, str]]  # (conversation id, channel) of conversations left open
    events: int


class Seeder:
    """Writes the seed straight from the domain classes, many aggregates per save."""

    def __init__(self, app: Conversations, conversations: int, min_events: int) -> None:
        self.app = app
        self.rng = random.Random(SEED)
        self.open_n = conversations
        self.resolved_n = conversations // 20
        self.snoozed_n = conversations // 50
        self.min_events = min_events
        self.now = datetime.now(UTC)
        self.events = 0
        self.save_seconds = 0.0
        self.conversations: list[Conversation] = []
        self.customers: list[tuple[UUID, str]] = []  # (id, identity kind)
        total = conversations + self.resolved_n + self.snoozed_n
        self.customers_n = max(1, -(-total // CONVERSATIONS_PER_CUSTOMER))
        self.fate: list[str] = []  # open | resolved | snoozed, by index

    def save(self, *aggregates: Any) -> None:
        self.events += sum(len(a.pending_events) for a in aggregates)
        start = time.perf_counter()
        self.app.save(*aggregates)
        self.save_seconds += time.perf_counter() - start

    def run(self) -> Seeded:
        total = self.open_n + self.resolved_n + self.snoozed_n
        fates = ["open"] * self.open_n + ["resolved"] * self.resolved_n
        fates += ["snoozed"] * self.snoozed_n
        self.rng.shuffle(fates)
        self.fate = fates
        # Opened over the last 10 days, oldest first; the last one an hour ago.
        self.step = timedelta(days=10) / max(total, 1)
        self.first = self.now - timedelta(days=10, hours=1)
        for start in range(0, total, OPEN_CHUNK):
            pending: list[Any] = []
            for i in range(start, min(total, start + OPEN_CHUNK)):
                pending += self.open_one(i)
            self.save(*pending)
        for follow_ups in (self.triage, self.reply, self.after_reply, self.close):
            self.round(follow_ups)
        self.top_up()
        open_ids = [
            (str(c.id), c.current_channel)
            for c, fate in zip(self.conversations, self.fate, strict=True)
            if fate == "open"
        ]
        return Seeded(open_ids, self.events)

    def opened_at(self, i: int) -> datetime:
        return self.first + self.step * i

    def open_one(self, i: int) -> list[Any]:
        """Conversation i; its customer is new for the first half, returning for the second."""
        at = self.opened_at(i)
        new: list[Any] = []
        if i < self.customers_n:
            channel = self.rng.choices(list(CHANNEL_WEIGHTS), list(CHANNEL_WEIGHTS.values()))[0]
            if channel in (v.X_PUBLIC, v.X_DM):
                identity = Identity(v.IDENTITY_X, str(10**15 + i), f"customer{i}")
            elif channel == v.PHONE:
                identity = Identity(v.IDENTITY_PHONE, f"+44755{i:07d}")
            else:
                identity = Identity(v.IDENTITY_EMAIL, f"customer{i}@example.com")
            customer = Customer(
                name=f"Customer {i}", identities=[identity.as_dict()], actor="system", timestamp=at
            )
            index = IdentityIndex(
                key=identity.key, customer_id=customer.id, actor="system", timestamp=at
            )
            new += [customer, index]
            self.customers.append((customer.id, identity.kind))
        else:  # a returning customer, on a channel their identity reaches
            customer_id, kind = self.customers[i % self.customers_n]
            channel = self.rng.choice(REACHES[kind])
        conversation = Conversation(
            customer_id=new[0].id if new else customer_id,
            channel=channel,
            public=v.is_public(channel),
            subject=None if channel != v.EMAIL else f"Order {i}",
            message_id=uuid.uuid4(),
            external_id=None if channel in (v.CHAT, v.PHONE) else f"ext-{i}",
            body=f"Hello, my order #{i} has not arrived and nobody answers. " * 2,
            published_at=at,
            observed_at=at,
            sender=None,
            brand_account=None,
            thread_id=None,
            in_reply_to=None,
            actor=f"integration:{channel}",
            timestamp=at,
        )
        self.conversations.append(conversation)
        return [*new, conversation]

    def round(self, follow_ups: Callable[[int, Conversation], None]) -> None:
        """One follow-up round over every conversation, shuffled; saved in chunks."""
        order = list(range(len(self.conversations)))
        self.rng.shuffle(order)
        touched: list[Conversation] = []
        count = 0
        for i in order:
            conversation = self.conversations[i]
            before = len(conversation.pending_events)
            follow_ups(i, conversation)
            if len(conversation.pending_events) > before:
                touched.append(conversation)
                count += len(conversation.pending_events) - before
            if count >= FOLLOW_CHUNK:
                self.save(*touched)
                touched, count = [], 0
        if touched:
            self.save(*touched)

    def at(self, i: int, minutes: float) -> datetime:
        return self.opened_at(i) + timedelta(minutes=minutes)

    def triage(self, i: int, c: Conversation) -> None:
        rng = self.rng
        if rng.random() < 0.5:
            c.assign(
                agent=rng.choice(AGENTS), team=rng.choice(TEAMS), actor="supervisor:lead",
                timestamp=self.at(i, 2),
            )  # fmt: skip
        if rng.random() < 0.3:
            for tag in rng.sample(TAGS, 2 if rng.random() < 0.15 else 1):
                c.tag(tag=tag, actor="agent:triage", timestamp=self.at(i, 3))
        if rng.random() < 0.15:
            priority = rng.choice(("low", "medium", "high", "urgent"))
            c.change_priority(priority=priority, actor="agent:triage", timestamp=self.at(i, 4))
        if rng.random() < 0.05:
            c.add_note(
                note_id=uuid.uuid4(), body="called the courier", actor="agent:triage",
                timestamp=self.at(i, 5),
            )  # fmt: skip
        if rng.random() < 0.02:
            c.switch_channel(
                to=SWITCH_TO[c.current_channel], reason="customer asked", actor="agent:triage",
                timestamp=self.at(i, 6),
            )  # fmt: skip

    def reply(self, i: int, c: Conversation) -> None:
        if self.fate[i] == "resolved" or self.rng.random() < 0.4:
            kind = "acknowledgement" if self.rng.random() < 0.5 else "answer"
            c.queue_reply(
                reply_id=uuid.uuid4(), kind=kind, body="We are looking into it.",
                channel=None, actor=f"agent:{self.rng.choice(AGENTS)}", timestamp=self.at(i, 10),
            )  # fmt: skip

    def after_reply(self, i: int, c: Conversation) -> None:
        if not c.replies:
            return
        if self.rng.random() < 0.75:
            reply_id = next(iter(c.replies.values()))["id"]
            c.record_delivery(
                reply_id=reply_id, external_id=f"out-{i}", actor="system",
                timestamp=self.at(i, 11),
            )  # fmt: skip
        if self.rng.random() < 0.3:
            self.message(i, c, self.at(i, 20))

    def message(self, i: int, c: Conversation, at: datetime) -> None:
        c.receive_message(
            message_id=uuid.uuid4(), channel=c.current_channel,
            external_id=None, body=f"Any news about order #{i}?", published_at=at,
            actor=ACTOR_CUSTOMER, timestamp=at,
        )  # fmt: skip

    def close(self, i: int, c: Conversation) -> None:
        if self.fate[i] == "resolved":
            c.resolve(resolution="answered", actor="agent:closer", timestamp=self.at(i, 30))
        elif self.fate[i] == "snoozed":
            until = self.now + timedelta(hours=self.rng.uniform(1, 48))
            c.snooze(until=until, actor="agent:closer", timestamp=self.at(i, 30))

    def top_up(self) -> None:
        """Customer messages on random open conversations until there are enough events."""
        open_index = [i for i, fate in enumerate(self.fate) if fate == "open"]
        minutes = 40.0
        while self.events < self.min_events and open_index:
            chunk: dict[int, Conversation] = {}
            for _ in range(min(FOLLOW_CHUNK, self.min_events - self.events)):
                i = self.rng.choice(open_index)
                self.message(i, self.conversations[i], self.at(i, minutes))
                chunk[i] = self.conversations[i]
            self.save(*chunk.values())
            minutes += 1  # later messages get later times


def bench_seed(kind: str, app: Conversations, conversations: int, events: int) -> tuple[
    SeedRow, Seeded
]:  # fmt: skip
    seeder = Seeder(app, conversations, events)
    start = time.perf_counter()
    seeded = seeder.run()
    seconds = time.perf_counter() - start
    statuses = {
        "open": seeder.open_n,
        "snoozed": seeder.snoozed_n,
        "resolved": seeder.resolved_n,
    }
    return SeedRow(kind, statuses, seeded.events, seconds, seeder.save_seconds), seeded


# ---------------------------------------------------------------------------- 2. read
def bench_read(kind: str, app: Conversations) -> list[RateRow]:
    recorder = app.recorder
    start = time.perf_counter()
    after = count = 0
    while notifications := recorder.select_notifications(
        start=after, limit=READ_PAGE, inclusive_of_start=False
    ):
        count += len(notifications)
        after = notifications[-1].id
    raw = time.perf_counter() - start
    log = NotificationLog(recorder, app.mapper)
    start = time.perf_counter()
    after = decoded = 0
    while batch := log.read(after, READ_PAGE):
        decoded += len(batch)
        after = batch[-1][0]
    seconds = time.perf_counter() - start
    return [
        RateRow(kind, "raw select (no decode)", count, raw),
        RateRow(kind, "read+decode", decoded, seconds, base=None),
    ]


# ---------------------------------------------------------------------------- 3. build
class CappedLog:
    """The log up to position ``until``: the first events only."""

    def __init__(self, log: EventLog, until: int) -> None:
        self.log, self.until = log, until

    def read(self, after: int, limit: int, wanted: Wanted | None = None) -> Batch:
        return [(p, e) for p, e in self.log.read(after, limit, wanted) if p <= self.until]

    def head(self) -> int:
        return min(self.log.head(), self.until)


def position_of_nth(app: Conversations, n: int) -> tuple[int, int]:
    """The position of the n-th event of the log (or the last), and how many that is."""
    notifications = app.recorder.select_notifications(start=0, limit=n, inclusive_of_start=False)
    return (notifications[-1].id if notifications else 0), len(notifications)


@contextmanager
def scratch_read_store(kind: str, store: dict[str, str], directory: Path, name: str) -> Iterator[
    ReadStore
]:  # fmt: skip
    """A fresh, empty read store: its own SQLite file, or its own PostgreSQL schema."""
    with ExitStack() as stack:
        read_store: ReadStore
        if kind == "sqlite":
            read_store = SQLiteReadStore(str(directory / f"{kind}-{name}-projections.sqlite"))
        else:
            schema = stack.enter_context(postgres_schema())
            read_store = open_read_store(
                Settings.from_env({**store, "PARLEY_POSTGRES_SCHEMA": schema})
            )
        stack.callback(read_store.close)
        yield read_store


def follow(
    store: ReadStore, log: EventLog, batch_size: int, catch_up_batch: int | None = None
) -> tuple[int, float]:
    """A follower catching all projections up from 0 on fresh tables: (positions, seconds)."""
    follower = Follower(
        store, log, all_projections(), batch_size=batch_size, catch_up_batch=catch_up_batch
    )
    follower.setup()
    if any(position_of(store, p.name) for p in all_projections()):
        raise RuntimeError("the scratch read store is not empty")
    start = time.perf_counter()
    follower.run_once()
    seconds = time.perf_counter() - start
    if follower.failed:
        raise RuntimeError(f"projection failed: {follower.failed}")
    head = log.head()
    behind = [p.name for p in all_projections() if position_of(store, p.name) != head]
    if behind:
        raise RuntimeError(f"follower did not reach the head {head}: {behind}")
    return head, seconds


def bench_build(
    kind: str, store: dict[str, str], app: Conversations, directory: Path, read_store: ReadStore
) -> list[RateRow]:
    log = NotificationLog(app.recorder, app.mapper)
    events = len_log(app)
    rows: list[RateRow] = []
    for projection in all_projections():
        progress(f"{kind} rebuild {projection.name}")
        start = time.perf_counter()
        rebuild(read_store, log, projection, batch_size=REBUILD_BATCH)
        rows.append(
            RateRow(kind, f"rebuild {projection.name} (batch {REBUILD_BATCH})", events,
                    time.perf_counter() - start)
        )  # fmt: skip
    progress(f"{kind} follower from 0, batch {FOLLOW_BATCH}")
    with scratch_read_store(kind, store, directory, "follow") as scratch:
        _, seconds = follow(scratch, log, FOLLOW_BATCH, CATCH_UP_BATCH)
    rows.append(
        RateRow(kind, f"follower x3 from 0 (batch {FOLLOW_BATCH}, catch-up {CATCH_UP_BATCH})",
                events, seconds)
    )  # fmt: skip
    until, small = position_of_nth(app, SMALL_EVENTS)
    capped = CappedLog(log, until)
    for batch_size in (1, FOLLOW_BATCH):
        progress(f"{kind} follower, first {small} events, batch {batch_size}")
        with scratch_read_store(kind, store, directory, f"small{batch_size}") as scratch:
            _, seconds = follow(scratch, capped, batch_size)
        rows.append(
            RateRow(kind, f"follower x3 first {small} (batch {batch_size})", small, seconds,
                    base="batch 500" if batch_size == 1 else "read+decode")
        )  # fmt: skip
    return rows


def len_log(app: Conversations) -> int:
    """How many events the log holds (positions may have gaps: counted, not subtracted)."""
    after = count = 0
    while notifications := app.recorder.select_notifications(
        start=after, limit=10_000, inclusive_of_start=False
    ):
        count += len(notifications)
        after = notifications[-1].id
    return count


# ---------------------------------------------------------------------------- 4. inbox
def bench_inbox(
    kind: str, client: Any, headers: dict[str, str], only: tuple[str, ...] | None = None
) -> tuple[list[LatencyRow], str | None]:
    """The inbox queries through HTTP (``only``: a subset); and the cursor of page 20."""
    rows: list[LatencyRow] = []

    def timed_get(url: str, what: str) -> LatencyRow:
        errors = 0
        items = 0
        for _ in range(WARM_UP):
            client.get(url, headers=headers)
        samples = []
        for _ in range(REQUESTS):
            start = time.perf_counter()
            response = client.get(url, headers=headers)
            samples.append(time.perf_counter() - start)
            if response.status_code != 200:
                errors += 1
            else:
                items = len(response.get_json()["items"])
        return LatencyRow(kind, what, samples, note=f"{items} rows/page", errors=errors)

    for what, filters in QUERIES.items():
        if only is not None and what not in only:
            continue
        query = "&".join(f"{k}={val}" for k, val in {**filters, "limit": PAGE_SIZE}.items())
        progress(f"{kind} inbox {what}")
        rows.append(timed_get(f"/v1/inbox?{query}", what))
    if only is not None and f"page {PAGE_DEPTH}" not in only:
        return rows, None
    # Page 20: follow next_cursor once (each page timed once), then time page 20 itself.
    progress(f"{kind} inbox page {PAGE_DEPTH}")
    cursor = None
    walk: list[float] = []
    for _ in range(PAGE_DEPTH - 1):
        url = f"/v1/inbox?limit={PAGE_SIZE}" + (f"&cursor={cursor}" if cursor else "")
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        walk.append(time.perf_counter() - start)
        cursor = response.get_json()["next_cursor"]
        if cursor is None:
            break
    deep = timed_get(f"/v1/inbox?limit={PAGE_SIZE}&cursor={cursor}", f"page {PAGE_DEPTH}")
    mean = sum(walk) / len(walk) if walk else float("nan")
    deep.note += f"; pages 1-{len(walk)} walked at {mean * 1000:.1f} ms/page"
    rows.append(deep)
    return rows, cursor


def bench_query_only(kind: str, read_store: ReadStore) -> LatencyRow:
    """The unfiltered first page without HTTP: ``query_inbox`` alone (SQL + presenting)."""
    from projections.inbox import query_inbox

    for _ in range(WARM_UP):
        query_inbox(read_store, {}, limit=PAGE_SIZE)
    samples = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        query_inbox(read_store, {}, limit=PAGE_SIZE)
        samples.append(time.perf_counter() - start)
    return LatencyRow(kind, "first page, query_inbox only", samples, note="no HTTP, no auth")


class TimingTx:
    """A transaction that times each statement it runs (for the page/counts split)."""

    def __init__(self, tx: Any, log: list[tuple[str, list[Any], float]]) -> None:
        self.tx, self.log = tx, log

    def all(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        start = time.perf_counter()
        rows: list[dict[str, Any]] = self.tx.all(sql, params)
        self.log.append((sql, list(params), time.perf_counter() - start))
        return rows

    def one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def run(self, sql: str, params: Any = ()) -> None:
        self.tx.run(sql, params)

    def run_many(self, sql: str, rows: Any) -> None:
        self.tx.run_many(sql, rows)


class TimingStore(ReadStore):
    """Wraps a read store; every statement run through it is timed into ``log``."""

    def __init__(self, inner: ReadStore) -> None:
        self.inner = inner
        self.log: list[tuple[str, list[Any], float]] = []

    @contextmanager
    def transaction(self, *, lock_key: str | None = None) -> Iterator[Any]:
        with self.inner.transaction(lock_key=lock_key) as tx:
            yield TimingTx(tx, self.log)

    def close(self) -> None:
        pass


@dataclass
class PartRow:
    store: str
    what: str
    state: str  # as built | after ANALYZE
    page: list[float]
    counts: list[float]
    plan: str


def short_plan(read_store: ReadStore, sql: str, params: list[Any]) -> str:
    """The page query's plan in one line: the scan and sort nodes, index tokens dropped."""
    import re

    with read_store.transaction() as tx:
        if isinstance(read_store, SQLiteReadStore):
            rows = tx.all("EXPLAIN QUERY PLAN " + sql, params)
            steps = [str(r["detail"]) for r in rows]
        else:
            rows = tx.all("EXPLAIN " + sql, params)
            steps = [str(next(iter(r.values()))).strip(" ->").split("  (cost")[0] for r in rows]
            steps = [s for s in steps if not s.startswith(("Filter", "Sort Key", "Index Cond",
                                                           "Recheck", "Hash Cond"))]  # fmt: skip
    plan = "; ".join(steps)
    plan = re.sub(r"_[0-9a-f]{8}(?=_|\b)", "", plan).replace("__shadow", "").replace("proj_", "")
    return plan if len(plan) <= 90 else plan[:89] + "…"


def bench_parts(kind: str, read_store: ReadStore, state: str, cursor: str | None) -> list[
    PartRow
]:  # fmt: skip
    """``query_inbox`` for each query, its two statements timed apart: the page, the counts."""
    from projections.inbox import query_inbox

    rows = []
    queries: list[tuple[str, dict[str, str], str | None]] = [
        (what, dict(f), None) for what, f in QUERIES.items()
    ]
    queries.append((f"page {PAGE_DEPTH}", {}, cursor))
    for what, filters, at in queries:
        timing = TimingStore(read_store)
        for _ in range(PART_WARM_UP):
            query_inbox(timing, filters, limit=PAGE_SIZE, cursor=at)
        timing.log.clear()
        for _ in range(PART_REQUESTS):
            query_inbox(timing, filters, limit=PAGE_SIZE, cursor=at)
        page = [(sql, params, t) for sql, params, t in timing.log if "COUNT(" not in sql]
        counts = [t for sql, _, t in timing.log if "COUNT(" in sql]
        plan = short_plan(read_store, page[0][0], page[0][1]) if page else "-"
        rows.append(PartRow(kind, what, state, [t for _, _, t in page], counts, plan))
    return rows


def analyze(read_store: ReadStore) -> None:
    """``ANALYZE`` the inbox's tables: what the rebuild does not do (see bench/README.md)."""
    from projections.base import LIVE, TableNames
    from projections.inbox import Inbox

    with read_store.transaction(lock_key="inbox") as tx:
        for table in TableNames.of(Inbox(), LIVE).values():
            tx.run(f"ANALYZE {table}")


# ---------------------------------------------------------------------------- 5. visible
def bench_visible(
    kind: str,
    settings: Settings,
    client: Any,
    headers: dict[str, str],
    read_store: ReadStore,
    open_ids: list[tuple[str, str]],
    served: ReadStore,
    *,
    listen: bool = False,
) -> list[LatencyRow]:
    """Write through HTTP, wait for the inbox to cover the write's position.

    ``listen`` (PostgreSQL): the follower and the served ``?min_position`` wait wake on
    LISTEN/NOTIFY; the poll interval stays the same either way."""
    rng = random.Random(SEED + 1)
    follower_app = Conversations(env=event_store_env(settings))  # as a separate process would
    follower_store = open_read_store(replace(settings, listen_notify=listen))
    if isinstance(served, PostgresReadStore):
        served.listen = listen
    follower = follower_for(follower_app, follower_store)
    stop = threading.Event()
    thread = threading.Thread(
        target=follower.run_forever,
        args=(stop,),
        kwargs={"poll_interval": POLL_INTERVAL},
        name="follower",
        daemon=True,
    )
    thread.start()
    post: list[float] = []
    polled: list[float] = []
    answered: list[float] = []
    errors = {"poll": 0, "get": 0}
    try:
        head = follower_app.head_position()
        deadline = time.monotonic() + 120
        while position_of(read_store, "inbox") < head and time.monotonic() < deadline:
            time.sleep(0.05)
        for i in range(2 * WRITES + 2 * WARM_UP):
            # A random phase against the follower's poll: the next write does not start
            # right after the follower went to sleep.
            time.sleep(rng.uniform(0, POLL_INTERVAL))
            conversation_id, channel = rng.choice(open_ids)
            body = {"channel": channel, "body": f"still waiting ({i})", "external_id": f"w{i}"}
            if channel in (v.CHAT, v.PHONE):
                body.pop("external_id")
            start = time.perf_counter()
            response = client.post(
                f"/v1/conversations/{conversation_id}/messages", json=body, headers=headers
            )
            written = time.perf_counter()
            mode = "poll" if i % 2 == 0 else "get"
            if response.status_code != 201:
                errors[mode] += 1
                continue
            position = response.get_json()["position"]
            if mode == "poll":
                deadline = time.monotonic() + 10
                while position_of(read_store, "inbox") < position:
                    if time.monotonic() > deadline:
                        errors[mode] += 1
                        break
                    time.sleep(SPIN)
                visible = time.perf_counter() - written
                if i >= 2 * WARM_UP:
                    polled.append(visible)
            else:
                got = client.get(f"/v1/inbox?limit=1&min_position={position}", headers=headers)
                visible = time.perf_counter() - written
                if got.status_code != 200 or not got.get_json()["projection"]["caught_up"]:
                    errors[mode] += 1
                if i >= 2 * WARM_UP:
                    answered.append(visible)
            if i >= 2 * WARM_UP:
                post.append(written - start)
    finally:
        stop.set()
        thread.join(timeout=30)
        follower_store.close()
        follower_app.close()
    if follower.failed:
        raise RuntimeError(f"follower failed: {follower.failed}")
    poll_note = f"follower poll {POLL_INTERVAL} s"
    mode = ""
    if kind == "postgres":
        mode = ", LISTEN/NOTIFY" if listen else ", poll only"
        poll_note += " and LISTEN/NOTIFY" if listen else " (listening off)"
    return [
        LatencyRow(kind, f"POST message (201){mode}", post, note="the write itself",
                   errors=errors["poll"] + errors["get"]),
        LatencyRow(kind, f"-> position_of >= position{mode}", polled,
                   note=f"{poll_note}; asked every {SPIN * 1000:.0f} ms", errors=errors["poll"]),
        LatencyRow(kind, f"-> GET ?min_position caught_up{mode}", answered,
                   note=f"{poll_note}; the server's wait backs off 10-100 ms",
                   errors=errors["get"]),
    ]  # fmt: skip


# ---------------------------------------------------------------------------- one store
def bench_store(kind: str, directory: Path, conversations: int, events: int) -> StoreResult:
    result = StoreResult(kind)
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        result.seconds[step] = now - clock
        clock = now

    with fresh_store(kind, directory, "store") as store, ExitStack() as stack:
        settings = Settings.from_env(store)
        app = Conversations(env=event_store_env(settings, create_tables=True))
        stack.callback(app.close)
        progress(f"{kind} seed: {conversations} open conversations, at least {events} events")
        result.seed, seeded = bench_seed(kind, app, conversations, events)
        lap("seed")
        progress(f"{kind} read the log")
        result.rates += bench_read(kind, app)
        lap("read")
        # The rebuilds build the read tables the app reads (its default read store).
        read_store = open_read_store(settings)
        stack.callback(read_store.close)
        result.rates += bench_build(kind, store, app, directory, read_store)
        lap("build")

        flask_app = create_app(environ={**store, "PARLEY_CREATE_TABLES": "yes"})
        stack.callback(flask_app.extensions["parley.read_store"].close)
        stack.callback(flask_app.extensions["parley.application"].close)
        token = "prl_" + secrets.token_urlsafe(32)
        with flask_app.app_context():
            application().issue_token(name="bench", role="agent", token=token, actor="ops:bench")
        client = flask_app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        inbox, cursor = bench_inbox(kind, client, headers)
        result.inbox += inbox
        result.inbox.append(bench_query_only(kind, read_store))
        progress(f"{kind} inbox statements, page and counts apart")
        served = flask_app.extensions["parley.read_store"]
        result.parts += bench_parts(kind, served, "as built", cursor)
        lap("inbox")
        progress(f"{kind} write-to-visible, {WRITES} writes per mode")
        # PostgreSQL: pushed (LISTEN/NOTIFY) and, for comparison, the poll alone; both
        # with the same poll interval. SQLite has only the poll.
        for listen in (True, False) if kind == "postgres" else (False,):
            result.visible += bench_visible(
                kind, settings, client, headers, read_store, seeded.open_ids, served,
                listen=listen,
            )  # fmt: skip
        lap("visible")
        progress(f"{kind} ANALYZE the inbox tables, then again")
        analyze(served)  # on the serving connection: SQLite loads new statistics per connection
        result.parts += bench_parts(kind, served, "after ANALYZE", cursor)
        after, _ = bench_inbox(kind, client, headers, only=("first page",))
        for row in after:
            row.what += " (after ANALYZE)"
        result.inbox += after
        lap("analyzed")
    return result


# ---------------------------------------------------------------------------- report
def header(kinds: list[str], conversations: int, events: int) -> str:
    lines = [
        f"# bench.projections  {describe_machine(kinds)}",
        f"# seed: {conversations} open conversations (+{conversations // 20} resolved,"
        f" +{conversations // 50} snoozed), {CONVERSATIONS_PER_CUSTOMER} per customer; at least"
        f" {events}"
        f" events; written from the domain classes, {OPEN_CHUNK} openings or {FOLLOW_CHUNK}"
        " follow-up events per save, follow-ups shuffled across conversations",
        f"# read: log pages of {READ_PAGE}; build: rebuild batch {REBUILD_BATCH}, follower"
        f" batch {FOLLOW_BATCH} (x3 = inbox, sla, history in one follower; events/s counts"
        " log positions, each applied to all three); one fresh store per store kind",
        f"# inbox: Flask test client, agent token, limit {PAGE_SIZE}, {REQUESTS} requests"
        f" per row after {WARM_UP} warm-ups; visible: {WRITES} writes per mode, follower thread"
        f" run_forever(poll_interval={POLL_INTERVAL}) in the same process, a random pause of"
        f" 0-{POLL_INTERVAL} s before each write (PostgreSQL: woken by LISTEN/NOTIFY, then"
        " the poll alone, same interval); time.perf_counter",
    ]
    return "\n".join(lines)


def seed_table(results: list[StoreResult]) -> str:
    out = [
        f"{'store':<9}{'open':>8}{'snoozed':>8}{'resolved':>9}{'events':>9}{'seconds':>9}"
        f"{'events/s':>10}{'in save':>9}"
    ]
    for r in results:
        s = r.seed
        if s is None:
            continue
        c = s.conversations
        share = f"{s.save_seconds / s.seconds:.0%}" if s.seconds else "-"
        out.append(
            f"{s.store:<9}{c['open']:>8}{c['snoozed']:>8}{c['resolved']:>9}{s.events:>9}"
            f"{s.seconds:>9.1f}{s.rate:>10.0f}{share:>9}"
        )
    return "\n".join(out)


def rate_table(results: list[StoreResult]) -> str:
    out = [f"{'store':<9}{'what':<38}{'events':>8}{'seconds':>9}{'events/s':>10}{'ratio':>8}  to"]
    for r in results:
        by_name = {row.what: row for row in r.rates}
        decode = by_name.get("read+decode")
        small_fast = next(
            (row for row in r.rates if row.what.startswith("follower x3 first")
             and row.what.endswith(f"(batch {FOLLOW_BATCH})")),
            None,
        )  # fmt: skip
        for row in r.rates:
            base = decode if row.base == "read+decode" else small_fast if row.base else None
            ratio = f"{row.rate / base.rate:.2f}" if base and base.rate else "-"
            to = "" if base is None else "decode" if base is decode else "batch 500"
            out.append(
                f"{row.store:<9}{row.what:<38}{row.events:>8}{row.seconds:>9.2f}"
                f"{row.rate:>10.0f}{ratio:>8}  {to}"
            )
    return "\n".join(out)


def latency_table(rows: list[LatencyRow]) -> str:
    out = [
        f"{'store':<9}{'what':<32}{'n':>5}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'errors':>7}  note"
    ]
    for row in rows:
        ms = [s * 1000 for s in row.samples]
        out.append(
            f"{row.store:<9}{row.what:<32}{len(ms):>5}{percentile(ms, 0.5):>9.1f}"
            f"{percentile(ms, 0.99):>9.1f}{max(ms, default=float('nan')):>9.1f}"
            f"{row.errors:>7}  {row.note}"
        )
    return "\n".join(out)


def parts_table(rows: list[PartRow]) -> str:
    out = [f"{'store':<9}{'query':<18}{'state':<15}{'page p50':>9}{'counts p50':>11}  page plan"]
    for row in rows:
        page = percentile([t * 1000 for t in row.page], 0.5)
        counts = percentile([t * 1000 for t in row.counts], 0.5)
        out.append(
            f"{row.store:<9}{row.what:<18}{row.state:<15}{page:>9.1f}{counts:>11.1f}  {row.plan}"
        )
    return "\n".join(out)


def run(kinds: list[str], conversations: int, events: int) -> list[StoreResult]:
    results = []
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
        for kind in kinds:
            results.append(bench_store(kind, Path(tmp), conversations, events))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.projections", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--store", choices=[*KINDS, "both"], default="both")
    parser.add_argument(
        "--events", type=int, default=100_000, help="at least this many events (default 100000)"
    )
    parser.add_argument(
        "--conversations",
        type=int,
        default=100_000,
        help="open conversations in the inbox (default 100000)",
    )
    args = parser.parse_args(argv)
    kinds = list(KINDS) if args.store == "both" else [args.store]
    started = time.perf_counter()
    results = run(kinds, args.conversations, args.events)
    print(header(kinds, args.conversations, args.events))
    print("\n## 1. seed (domain objects, many aggregates per save)")
    print(seed_table(results))
    print("\n## 2-3. log read ceiling, rebuilds, follower (ratio: events/s over the 'to' row)")
    print(rate_table(results))
    print("\n## 4. GET /v1/inbox latency")
    print(latency_table([row for r in results for row in r.inbox]))
    print(
        f"\n## 4b. inside query_inbox: the page SELECT and the counts SELECT apart, ms,"
        f" p50 of {PART_REQUESTS}"
    )
    print(parts_table([row for r in results for row in r.parts]))
    print("\n## 5. write-to-visible (inbox)")
    print(latency_table([row for r in results for row in r.visible]))
    steps = "; ".join(
        f"{r.store}: " + ", ".join(f"{k} {s:.0f} s" for k, s in r.seconds.items()) for r in results
    )
    print(f"\n# wall time per step: {steps}")
    print(f"# total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
