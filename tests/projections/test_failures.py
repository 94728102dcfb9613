"""A projection that cannot process an event stops there, alone, and leaves no partial rows."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from domain.application import Conversations
from domain.values import Identity
from projections.base import Context, Projection, event_type
from projections.db import ReadStore
from projections.follower import Follower
from projections.log import NotificationLog
from projections.registry import all_projections
from projections.status import projection_status
from tests.conftest import Clock
from tests.projections.support import (
    CUSTOMER,
    INTEGRATION,
    add_note,
    log_types,
    position_rows,
)

PROBED = ("Conversation.Opened", "Conversation.MessageReceived", "Conversation.NoteAdded")


class Probe(Projection):
    """A tiny real projection: a row per event it handles, and a cached count per conversation.

    With ``fail_at`` it writes its rows for that event and then raises, so a partial
    write would show if the transaction did not roll back.
    """

    name = "probe"
    tables = {
        "probe_events": [
            "CREATE TABLE {t} (position BIGINT NOT NULL, type TEXT NOT NULL,"
            " conversation_id TEXT NOT NULL, CONSTRAINT {t}_pk_{g} PRIMARY KEY (position))",
        ],
        "probe_counts": [
            "CREATE TABLE {t} (conversation_id TEXT NOT NULL, events INTEGER NOT NULL,"
            " CONSTRAINT {t}_pk_{g} PRIMARY KEY (conversation_id))",
        ],
    }
    cached = {"probe_counts": ("conversation_id", ("conversation_id", "events"))}

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at

    def _seen(self, ctx: Context, position: int, event: Any) -> None:
        key = str(event.originator_id)
        ctx.tx.run(
            f"INSERT INTO {ctx.names['probe_events']} (position, type, conversation_id)"
            " VALUES (?, ?, ?)",
            [position, event_type(event), key],
        )
        counts = ctx.rows["probe_counts"]
        row = counts.get(key) or {"conversation_id": key, "events": 0}
        counts.put(key, {**row, "events": row["events"] + 1})
        if position == self.fail_at:
            raise RuntimeError(f"probe refuses position {position}")

    on_Conversation_Opened = _seen
    on_Conversation_MessageReceived = _seen
    on_Conversation_NoteAdded = _seen


def write_some_conversations(application: Conversations, clock: Clock) -> None:
    for n in range(2):
        opened = application.open_conversation(
            channel="chat",
            body=f"hello {n}",
            actor=INTEGRATION,
            identity=Identity("email", f"probe{n}@example.com"),
        )
        for m in range(4):
            clock.advance(minutes=1)
            application.receive_message(opened.id, channel="chat", body=f"m{m}", actor=CUSTOMER)
            add_note(application, opened.id)


def probe_rows(read_store: ReadStore) -> tuple[list[int], dict[str, int]]:
    events = [r["position"] for r in read_store.query(
        "SELECT position FROM proj_probe_events ORDER BY position")]  # fmt: skip
    counts = {r["conversation_id"]: r["events"] for r in read_store.query(
        "SELECT * FROM proj_probe_counts")}  # fmt: skip
    return events, counts


def expected_probe_rows(
    log: list[tuple[int, str]], events: NotificationLog, until: int
) -> tuple[list[int], dict[str, int]]:
    positions = [p for p, t in log if t in PROBED and p <= until]
    decoded = dict(events.read(0, 10_000))
    counts = Counter(str(decoded[p].originator_id) for p in positions)
    return positions, dict(counts)


@pytest.mark.parametrize("batch_size", [1, 4, 500])
def test_a_failing_event_stops_only_its_projection_and_leaves_no_partial_rows(
    application: Conversations,
    clock: Clock,
    read_store: ReadStore,
    events: NotificationLog,
    batch_size: int,
) -> None:
    write_some_conversations(application, clock)
    log = log_types(events)
    messages = [p for p, t in log if t == "Conversation.MessageReceived"]
    fail_at = messages[5]  # in the second conversation, mid-log
    before = max(p for p, _ in log if p < fail_at)
    head = events.head()

    follower = Follower(
        read_store, events, [*all_projections(), Probe(fail_at)], batch_size=batch_size
    )
    follower.setup()
    follower.run_once()

    assert set(follower.failed) == {"probe"}
    failure = follower.failed["probe"]
    assert (failure.position, failure.event) == (fail_at, "Conversation.MessageReceived")
    rows = position_rows(read_store)
    probe = rows["probe"]
    assert probe["position"] == before
    assert probe["error_position"] == fail_at
    assert probe["error_event"] == "Conversation.MessageReceived"
    assert "RuntimeError: probe refuses position" in probe["error"]
    # Nothing of the failing event, everything of the ones before it, each exactly once.
    assert probe_rows(read_store) == expected_probe_rows(log, events, before)
    for projection in all_projections():
        assert rows[projection.name]["position"] == head
        assert rows[projection.name]["error"] is None

    status = {
        s["name"]: s for s in projection_status(read_store, events, [*all_projections(), Probe()])
    }
    assert status["probe"]["state"] == "failed"
    assert status["probe"]["position"] == before
    assert status["probe"]["lag"] == head - before
    assert status["probe"]["last_error"]["position"] == fail_at
    assert status["probe"]["last_error"]["event"] == "Conversation.MessageReceived"
    assert "probe refuses" in status["probe"]["last_error"]["error"]
    assert all(status[p.name]["state"] == "running" for p in all_projections())
    assert all(status[p.name]["lag"] == 0 for p in all_projections())

    # Later events: the others go on, the failed one stays where it stopped.
    conversation = application.open_conversation(
        channel="chat",
        body="later",
        actor=INTEGRATION,
        identity=Identity("email", "late@example.com"),
    ).id
    follower.run_once()
    rows = position_rows(read_store)
    assert rows["probe"]["position"] == before
    assert rows["inbox"]["position"] == events.head()
    assert read_store.query(
        "SELECT conversation_id FROM proj_inbox WHERE conversation_id = ?", [str(conversation)]
    )

    # Fixed and restarted: it resumes after the last event it applied, nothing doubled.
    healed = Follower(read_store, events, [*all_projections(), Probe()], batch_size=batch_size)
    healed.setup()
    healed.run_once()
    assert healed.failed == {}
    rows = position_rows(read_store)
    assert rows["probe"]["position"] == events.head()
    assert rows["probe"]["error"] is None
    assert probe_rows(read_store) == expected_probe_rows(log_types(events), events, events.head())
    status = {s["name"]: s for s in projection_status(read_store, events, [Probe()])}
    assert (status["probe"]["state"], status["probe"]["last_error"]) == ("running", None)


def test_a_stopped_projection_goes_on_in_the_same_process_once_the_fault_is_fixed(
    application: Conversations,
    clock: Clock,
    read_store: ReadStore,
    events: NotificationLog,
) -> None:
    """No restart needed: the follower retries a failed projection after a pause."""
    write_some_conversations(application, clock)
    fail_at = [p for p, t in log_types(events) if t == "Conversation.MessageReceived"][3]
    probe = Probe(fail_at)
    follower = Follower(read_store, events, [probe], batch_size=4)
    follower.setup()
    follower.run_once()
    assert position_rows(read_store)["probe"]["error_position"] == fail_at

    follower.run_once()  # within the pause: not retried, still stopped
    assert position_rows(read_store)["probe"]["error_position"] == fail_at

    probe.fail_at = None  # the fix is deployed
    follower._retry_at["probe"] = 0.0  # the pause is over
    follower.run_once()
    row = position_rows(read_store)["probe"]
    assert (row["position"], row["error"]) == (events.head(), None)
    assert follower.failed == {}


class BrokenSql(Projection):
    """A handler with a programming error the database itself reports (a missing column):
    SQLite calls it an OperationalError, as it does a busy database."""

    name = "broken"
    tables = {
        "broken_rows": [
            "CREATE TABLE {t} (position BIGINT NOT NULL, CONSTRAINT {t}_pk_{g} PRIMARY KEY"
            " (position))"
        ]
    }

    def on_Conversation_Opened(self, ctx: Context, position: int, event: Any) -> None:
        ctx.tx.run(f"SELECT no_such_column FROM {ctx.names['broken_rows']}")


def test_a_handler_whose_sql_is_wrong_pins_its_projection_as_failed_not_retried_as_busy(
    application: Conversations,
    clock: Clock,
    read_store: ReadStore,
    events: NotificationLog,
) -> None:
    write_some_conversations(application, clock)
    follower = Follower(read_store, events, [*all_projections(), BrokenSql()])
    follower.setup()

    follower.run_once()  # returns: the error is the handler's, not the database's

    assert set(follower.failed) == {"broken"}
    assert "no_such_column" in position_rows(read_store)["broken"]["error"]
    assert all(position_rows(read_store)[p.name]["error"] is None for p in all_projections())


def test_a_busy_or_unreachable_database_is_transient_and_a_missing_column_is_not() -> None:
    import sqlite3

    import psycopg

    from projections.follower import is_transient

    assert is_transient(sqlite3.OperationalError("database is locked"))
    assert is_transient(sqlite3.OperationalError("unable to open database file"))
    assert is_transient(psycopg.OperationalError("connection refused"))
    assert not is_transient(sqlite3.OperationalError("no such column: no_such_column"))
    assert not is_transient(sqlite3.OperationalError('near "SELEC": syntax error'))
    assert not is_transient(RuntimeError("a handler's own bug"))
