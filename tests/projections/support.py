"""Helpers for the projection tests: fresh worlds, table dumps, waiting for the follower.

A *world* is one fresh event store (SQLite file or PostgreSQL schema), a Conversations
application on it, a read store and the decoded notification log: what a test needs to
write events and project them. Hypothesis examples build one world each.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from app.config import Settings, event_store_env
from domain.application import Conversations
from projections.base import LIVE, Projection, TableNames, event_type
from projections.db import ReadStore, open_read_store
from projections.follower import Follower
from projections.log import EventLog, NotificationLog
from projections.registry import all_projections
from projections.status import projection_status
from tests.conftest import Clock
from tests.support.stores import postgres_schema, store_settings

AGENT = "agent:ann"
SUPERVISOR = "supervisor:sue"
INTEGRATION = "integration:x"
CUSTOMER = "customer"
WORKER = "system"

# Events that write one entry each into the customer history (NoteAdded, assignment,
# tags, priority, snoozes and the index/bookkeeping aggregates' events write none).
HISTORY_EVENTS = frozenset(
    {
        "Conversation.Opened",
        "Conversation.MessageReceived",
        "Conversation.ReplyQueued",
        "Conversation.ReplyDelivered",
        "Conversation.ReplyDeliveryFailed",
        "Conversation.ChannelSwitched",
        "Conversation.Resolved",
        "Conversation.Reopened",
        "Customer.Registered",
        "Customer.IdentityAdded",
        "Customer.Merged",
        "Customer.Unmerged",
    }
)


def add_note(application: Conversations, conversation: UUID, body: str = "psst") -> None:
    """A private note on ``conversation`` (a fresh note id each time)."""
    note = uuid4()
    application.update(
        conversation,
        lambda c, now: c.add_note(note_id=note, body=body, actor=AGENT, timestamp=now),
    )


def new_application(store: dict[str, str], clock: Clock) -> Conversations:
    """A Conversations application on ``store``, as tests/conftest.py builds it."""
    settings = Settings.from_env(store)
    return Conversations(env=event_store_env(settings, create_tables=True), clock=clock)


@dataclass
class World:
    store: dict[str, str]
    clock: Clock
    application: Conversations
    read_store: ReadStore
    events: NotificationLog


@contextmanager
def fresh_world(kind: str, tmp_path: Path) -> Iterator[World]:
    """A fresh store of ``kind`` with an application and a read store; all closed on exit."""
    with store_settings(kind, tmp_path) as store:
        clock = Clock()
        application = new_application(store, clock)
        read_store = open_read_store(Settings.from_env(store))
        try:
            yield World(
                store,
                clock,
                application,
                read_store,
                NotificationLog(application.recorder, application.mapper),
            )
        finally:
            read_store.close()
            application.close()


@contextmanager
def second_read_store(store: dict[str, str], tmp_path: Path) -> Iterator[ReadStore]:
    """Another, empty read store over the same event log (another file / another schema)."""
    if store["PARLEY_STORE"] == "sqlite":
        settings = Settings.from_env(
            {**store, "PARLEY_READ_STORE_PATH": str(tmp_path / "second-projections.db")}
        )
        read_store = open_read_store(settings)
        try:
            yield read_store
        finally:
            read_store.close()
        return
    with postgres_schema() as schema:
        read_store = open_read_store(Settings.from_env({**store, "PARLEY_POSTGRES_SCHEMA": schema}))
        try:
            yield read_store
        finally:
            read_store.close()


def follower(world_or_store: World | ReadStore, events: EventLog | None = None,
             projections: Sequence[Projection] | None = None, *, batch_size: int = 500) -> Follower:  # fmt: skip
    """A set-up follower over every projection (or the given ones)."""
    if isinstance(world_or_store, World):
        read_store, events = world_or_store.read_store, world_or_store.events
    else:
        read_store = world_or_store
    assert events is not None
    built = Follower(
        read_store,
        events,
        list(projections) if projections is not None else all_projections(),
        batch_size=batch_size,
    )
    built.setup()
    return built


# ---------------------------------------------------------------------- tables
_PK = re.compile(r"PRIMARY KEY \(([^)]*)\)")


def primary_key(projection: Projection, logical: str) -> list[str]:
    """The primary key columns of a projection's table, read from its DDL."""
    for statement in projection.tables[logical]:
        found = _PK.search(statement)
        if found:
            return [c.strip() for c in found.group(1).split(",")]
    raise AssertionError(f"{projection.name}.{logical} declares no primary key")


def dump_tables(
    read_store: ReadStore, projections: Sequence[Projection] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Every live table of the projections: ``proj_<logical>`` -> rows ordered by its key."""
    out: dict[str, list[dict[str, Any]]] = {}
    for projection in projections if projections is not None else all_projections():
        names = TableNames.of(projection, LIVE)
        for logical, physical in names.items():
            order = ", ".join(primary_key(projection, logical))
            out[physical] = read_store.query(f"SELECT * FROM {physical} ORDER BY {order}")
    return out


def position_rows(read_store: ReadStore) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in read_store.query("SELECT * FROM proj_positions")}


def log_types(events: NotificationLog) -> list[tuple[int, str]]:
    """The whole log as (position, event type)."""
    out: list[tuple[int, str]] = []
    after = 0
    while batch := events.read(after, 1000):
        out += [(p, event_type(e)) for p, e in batch]
        after = batch[-1][0]
    return out


def wait_until_caught_up(
    read_store: ReadStore,
    events: NotificationLog,
    projections: Sequence[Projection] | None = None,
    timeout: float = 30.0,
) -> None:
    """Wait until every projection's lag is 0 (the follower runs elsewhere)."""
    deadline = time.monotonic() + timeout
    projections = list(projections) if projections is not None else all_projections()
    while True:
        status = projection_status(read_store, events, projections)
        if all(s["lag"] == 0 for s in status):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"projections did not catch up: {status}")
        time.sleep(0.02)


class Background:
    """Run a function in a thread; re-raise what it raised on ``join``."""

    def __init__(self, target: Callable[[], Any]) -> None:
        self.error: BaseException | None = None

        def run() -> None:
            try:
                target()
            except BaseException as error:  # surfaced in join()
                self.error = error

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self, timeout: float = 60.0) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "background thread did not finish"
        if self.error is not None:
            raise self.error
