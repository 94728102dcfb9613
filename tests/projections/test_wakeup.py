"""Live updates pushed, not polled: PostgreSQL LISTEN/NOTIFY wakes the follower and the
readers at once; the poll stays as the fallback (and is all there is on SQLite)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

from app.config import Settings
from bench.stores import postgres_settings
from domain.application import Conversations
from domain.values import Identity
from projections.db import PostgresReadStore, ReadStore, open_read_store
from projections.follower import Follower
from projections.status import position_of, wait_for
from projections.wakeup import EVENTS, POSITIONS, RECONNECT_PAUSE, Listener, channel
from tests.projections.support import INTEGRATION, World, follower, fresh_world

LONG_POLL = 5.0  # the follower's poll: far longer than any bound asserted below
PROMPTLY = 1.0  # generous: a NOTIFY arrives in milliseconds


def open_case(application: Conversations) -> int:
    """A new conversation; the position of its last event."""
    application.open_conversation(
        channel="chat", body="hello?", actor=INTEGRATION,
        identity=Identity("email", f"c-{uuid4().hex[:8]}@example.com"),
    )  # fmt: skip
    return application.head_position()


@contextmanager
def running(live: Follower, poll_interval: float) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=live.run_forever, args=(stop, poll_interval), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive(), "the follower did not honour stop promptly"


def listening(read_store: ReadStore) -> Listener:
    """The read store's listener, connected."""
    assert isinstance(read_store, PostgresReadStore)
    read_store.wakeup()
    listener = read_store.listener
    assert listener is not None
    assert listener.connected.wait(5), "the listener never connected"
    return listener


def wait_until(predicate: object, timeout: float) -> float:
    """Seconds until ``predicate()`` held; fails past ``timeout``."""
    start = time.monotonic()
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() - start < timeout, "not within the bound"
        time.sleep(0.005)
    return time.monotonic() - start


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[World]:
    with fresh_world("postgres", tmp_path) as world:
        yield world


def test_a_save_committed_wakes_the_follower_long_before_its_poll(pg: World) -> None:
    live = follower(pg)
    with running(live, LONG_POLL):
        listening(pg.read_store)
        time.sleep(0.3)  # the follower is now idle, in its 5 s wait
        position = open_case(pg.application)
        took = wait_until(lambda: position_of(pg.read_store, "inbox") >= position, PROMPTLY)
        assert took < PROMPTLY
        # and again: each idle wait ends with the next save, not only the first
        time.sleep(0.3)
        position = open_case(pg.application)
        wait_until(lambda: position_of(pg.read_store, "inbox") >= position, PROMPTLY)
    assert not live.failed


def test_a_min_position_wait_ends_when_the_projection_commits(pg: World) -> None:
    live = follower(pg)
    listening(pg.read_store)
    with running(live, LONG_POLL):
        time.sleep(0.3)
        position = open_case(pg.application)
        reached, covered = wait_for(pg.read_store, "inbox", position, timeout=PROMPTLY)
    assert covered and reached >= position


def test_a_save_rejected_or_a_transaction_rolled_back_wakes_nobody(pg: World) -> None:
    open_case(pg.application)
    wakeup = listening(pg.read_store).wakeup
    # A save the store rejects (the same event again: its version is taken) rolls back.
    stored = pg.application.recorder.select_notifications(start=1, limit=1)[0]
    mark = wakeup.mark(EVENTS)
    with pytest.raises(IntegrityError):
        pg.application.recorder.insert_events([stored])
    assert not wakeup.wait(mark, 0.5)
    # A read-store transaction that notified and then failed: nothing is delivered.
    mark = wakeup.mark(POSITIONS)
    with pytest.raises(RuntimeError), pg.read_store.transaction(lock_key="test") as tx:
        tx.notify(POSITIONS, "test 1")
        raise RuntimeError("rolled back")
    assert not wakeup.wait(mark, 0.5)
    # The same, committed, is.
    with pg.read_store.transaction(lock_key="test") as tx:
        tx.notify(POSITIONS, "test 1")
    assert wakeup.wait(mark, PROMPTLY)
    mark = wakeup.mark(EVENTS)
    open_case(pg.application)
    assert wakeup.wait(mark, PROMPTLY)


def test_two_schemas_do_not_wake_each_other(pg: World, tmp_path: Path) -> None:
    wakeup = listening(pg.read_store).wakeup
    with fresh_world("postgres", tmp_path / "other") as other:
        other_wakeup = listening(other.read_store).wakeup
        mark, other_mark = wakeup.mark(), other_wakeup.mark()
        open_case(other.application)
        assert other_wakeup.wait(other_mark, PROMPTLY)
        assert not wakeup.wait(mark, 0.5), "a save in another schema woke this one"
        other_mark = other_wakeup.mark()
        open_case(pg.application)
        assert wakeup.wait(mark, PROMPTLY)
        assert not other_wakeup.wait(other_mark, 0.5)


def test_the_listener_survives_its_connection_killed_and_listens_again(pg: World) -> None:
    live = follower(pg)
    with running(live, LONG_POLL):
        listener = listening(pg.read_store)
        killed = listener.backend_pid
        with psycopg.connect(**postgres_settings(), autocommit=True) as admin:  # type: ignore[arg-type]
            admin.execute("SELECT pg_terminate_backend(%s)", (killed,))
        wait_until(lambda: listener.connections == 2 and listener.connected.is_set(),
                   10 * RECONNECT_PAUSE + 5)  # fmt: skip
        assert listener.backend_pid != killed
        time.sleep(0.3)
        position = open_case(pg.application)
        wait_until(lambda: position_of(pg.read_store, "inbox") >= position, PROMPTLY)
    assert not live.failed


def test_sqlite_follows_by_polling(tmp_path: Path) -> None:
    with fresh_world("sqlite", tmp_path) as world:
        wakeup = world.read_store.wakeup()
        mark = wakeup.mark()
        live = follower(world)
        with running(live, 0.05):
            position = open_case(world.application)
            wait_until(lambda: position_of(world.read_store, "inbox") >= position, 5)
        assert wakeup.mark() == mark  # nobody bumps it: the poll found the save


def test_listen_notify_off_polls_on_postgresql(tmp_path: Path) -> None:
    with fresh_world("postgres", tmp_path) as world:
        settings = Settings.from_env({**world.store, "PARLEY_LISTEN_NOTIFY": "no"})
        assert Settings.from_env(world.store).listen_notify is True  # the default
        polling = open_read_store(settings)
        try:
            assert isinstance(polling, PostgresReadStore) and not polling.listen
            mark = polling.wakeup().mark()
            live = follower(polling, world.events)
            with running(live, 0.05):
                position = open_case(world.application)
                wait_until(lambda: position_of(polling, "inbox") >= position, 5)
            assert polling.listener is None and polling.wakeup().mark() == mark
        finally:
            polling.close()


def test_listen_notify_must_be_yes_or_no() -> None:
    with pytest.raises(ValueError, match="PARLEY_LISTEN_NOTIFY"):
        Settings.from_env({"PARLEY_LISTEN_NOTIFY": "maybe"})


def test_channels_are_plain_identifiers_of_at_most_63_bytes() -> None:
    assert channel(EVENTS, None) == "parley_events_public"
    assert channel(POSITIONS, "t_0123abcd") == "parley_positions_t_0123abcd"
    long, odd = "s" * 63, 'Tenant "A"'
    for schema in (long, odd):
        name = channel(POSITIONS, schema)
        assert len(name.encode()) <= 63 and name.isidentifier() and name == name.lower()
    assert channel(EVENTS, long) != channel(POSITIONS, long) != channel(POSITIONS, odd)
