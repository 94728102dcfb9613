"""Group commit on PostgreSQL: the saves that queue while one commits go in together, and
each still gets its own answer (``app.group_commit``).

To make a group form for certain, the test holds the events table's lock from another
connection: the first save waits for it alone, the rest queue behind it, and when the
lock is let go they commit as one group.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from app.config import Settings, event_store_env
from app.group_commit import GroupCommit
from domain.application import Conversations
from domain.exceptions import VersionConflictError
from tests.application.conftest import INTEGRATION, a_tweet_id, an_x_identity, open_from_tweet
from tests.application.test_concurrency import add_note
from tests.conftest import Clock
from tests.support.stores import store_settings


@pytest.fixture
def pg_store(tmp_path: Path) -> Iterator[dict[str, str]]:
    with store_settings("postgres", tmp_path) as settings:
        yield settings


@pytest.fixture
def app(pg_store: dict[str, str], clock: Clock) -> Iterator[Conversations]:
    env = event_store_env(Settings.from_env(pg_store), create_tables=True)
    application = Conversations(env={**env, "POSTGRES_POOL_SIZE": "20"}, clock=clock)
    yield application
    application.close()


def group_commit(app: Conversations) -> GroupCommit:
    group = getattr(app.recorder, "group_commit", None)
    assert isinstance(group, GroupCommit)
    return group


@contextmanager
def events_table_held(app: Conversations) -> Iterator[None]:
    """Hold the lock every save of the events table takes, from another connection."""
    recorder: Any = app.recorder
    datastore = recorder.datastore
    with psycopg.connect(**datastore.pool.kwargs) as conn:
        conn.execute(
            SQL("LOCK TABLE {}.{} IN EXCLUSIVE MODE").format(
                Identifier(datastore.schema), Identifier(recorder.events_table_name)
            )
        )
        yield
        conn.rollback()


def run_together(app: Conversations, commands: list[Callable[[], Any]]) -> list[Any]:
    """Run the commands in threads while the table is held, until all but the first are
    queued behind it; answer each one's result, or the exception it raised."""
    results: list[Any] = [None] * len(commands)

    def run(i: int) -> None:
        try:
            results[i] = commands[i]()
        except Exception as error:
            results[i] = error

    group = group_commit(app)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(commands))]
    with events_table_held(app):
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 4  # under the store's 5 s lock timeout
        while group.waiting < len(commands) - 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert group.waiting == len(commands) - 1, "the saves did not queue"
    for thread in threads:
        thread.join(10)
    return results


def test_saves_that_queue_commit_as_one_group_each_with_its_own_positions(
    app: Conversations,
) -> None:
    opened = [open_from_tweet(app) for _ in range(8)]
    group = group_commit(app)
    groups_before = group.groups

    def message(conversation_id: UUID) -> Callable[[], Any]:
        return lambda: app.receive_message(
            conversation_id, channel="x_public", body="any news?", actor=INTEGRATION,
            external_id=a_tweet_id(),
        )  # fmt: skip

    results = run_together(app, [message(o.id) for o in opened])

    assert not [r for r in results if isinstance(r, Exception)]
    assert group.groups - groups_before == 2  # the first alone, then the seven queued
    positions = [r.position for r in results]
    assert len(set(positions)) == 8
    log = {event.originator_id: position for position, event in app.global_events(limit=1000)
           if type(event).__name__ == "MessageReceived"}  # fmt: skip
    # Each caller was told the position of its own save's last event: the message's
    # inbound index record, stored right after the message.
    assert {r.id: r.position - 1 for r in results} == {o.id: log[o.id] for o in opened}
    for o in opened:
        assert [type(e).__name__ for e in app.conversation_events(o.id)] == [
            "Opened", "MessageReceived"
        ]  # fmt: skip


def test_a_conflict_in_one_save_fails_that_save_only(app: Conversations) -> None:
    contested, *others = [open_from_tweet(app) for _ in range(5)]
    loaded = threading.Barrier(2)

    def note_after_both_loaded(body: str) -> Callable[[], Any]:
        def change(conversation: Any, now: Any) -> None:
            loaded.wait(5)  # both have loaded version 1 before either saves
            add_note(body, "agent:ann")(conversation, now)

        return lambda: app.update(contested.id, change)

    def note(conversation_id: UUID) -> Callable[[], Any]:
        return lambda: app.update(conversation_id, add_note("fine", "agent:bob"))

    results = run_together(
        app, [note(others[0].id), note_after_both_loaded("one"), note_after_both_loaded("two"),
              *(note(o.id) for o in others[1:])],
    )  # fmt: skip

    lost = [r for r in results if isinstance(r, Exception)]
    assert len(lost) == 1 and isinstance(lost[0], VersionConflictError)
    assert lost[0].current_version == 2
    notes = [n["body"] for n in app.get_conversation(contested.id).notes]
    assert len(notes) == 1 and notes[0] in ("one", "two")
    for o in others:
        assert [n["body"] for n in app.get_conversation(o.id).notes] == ["fine"]


def test_new_customers_keys_are_stored_with_their_group_and_a_loser_keeps_none(
    app: Conversations, pg_store: dict[str, str], clock: Clock
) -> None:
    first = open_from_tweet(app)  # something to wait behind
    taken = an_x_identity()
    results = run_together(
        app,
        [
            lambda: open_from_tweet(app),
            lambda: open_from_tweet(app, identity=taken),
            lambda: open_from_tweet(app, identity=taken),
            lambda: open_from_tweet(app),
        ],
    )

    assert not [r for r in results if isinstance(r, Exception)], results
    customers = {r.extra["customer_id"] for r in [first, *results]}
    # Both tweets from one identity each made a new customer; one of them lost on the
    # identity in the group (its savepoint rolled back) and was retried onto the winner.
    assert len(customers) == 4
    # Another process (no keys in memory) reads every customer's personal data: each new
    # key was committed in the group's transaction, and the loser's new key with none.
    other = Conversations(env=event_store_env(Settings.from_env(pg_store)), clock=clock)
    try:
        for customer_id in customers:
            assert other.customer_of(customer_id).identities
        datastore: Any = other.recorder.datastore  # type: ignore[attr-defined]
        with datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT owner_id FROM {}.parley_data_keys").format(
                Identifier(datastore.schema)))  # fmt: skip
            owners = {row["owner_id"] for row in curs.fetchall()}
        assert owners == customers
    finally:
        other.close()


def test_group_commit_can_be_turned_off(pg_store: dict[str, str], clock: Clock) -> None:
    settings = Settings.from_env({**pg_store, "PARLEY_GROUP_COMMIT": "no"})
    app = Conversations(env=event_store_env(settings, create_tables=True), clock=clock)
    try:
        assert getattr(app.recorder, "group_commit", None) is None
        assert open_from_tweet(app).position
    finally:
        app.close()


def test_a_save_takes_the_table_lock_under_its_lock_timeout_in_one_query(
    pg_store: dict[str, str], clock: Clock
) -> None:
    """A group's transaction sends the library's two lock statements as one query
    (``PostgresKeyRecorder._lock_table_at_once``): both must run, in that transaction."""
    settings = Settings.from_env({**pg_store, "PARLEY_POSTGRES_LOCK_TIMEOUT": "3"})
    application = Conversations(env=event_store_env(settings, create_tables=True), clock=clock)
    recorder: Any = application.recorder
    try:
        connection = recorder.datastore.get_connection()
        with connection as conn, conn.transaction(), conn.cursor() as curs:
            recorder._lock_table_at_once(curs)
            timeout = curs.execute("SHOW lock_timeout").fetchone()
            locks = curs.execute(
                "SELECT mode FROM pg_locks WHERE pid = pg_backend_pid()"
                " AND relation = %s::regclass",
                (f"{recorder.datastore.schema}.{recorder.events_table_name}",),
            ).fetchall()
        assert next(iter(timeout.values())) == "3s"
        assert {"mode": "ExclusiveLock"} in locks
        open_from_tweet(application)  # and a save still works
    finally:
        application.close()
