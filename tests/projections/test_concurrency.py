"""The live follower beside concurrent writers, and a rebuild swapped in while it runs."""

from __future__ import annotations

import threading
import time
from functools import partial
from uuid import UUID, uuid4

from domain.application import Conversations
from domain.values import Identity
from projections.db import ReadStore
from projections.follower import Follower
from projections.inbox import Inbox, query_inbox
from projections.log import NotificationLog
from projections.rebuild import rebuild, verify
from projections.registry import all_projections
from tests.conftest import Clock
from tests.projections.support import (
    AGENT,
    CUSTOMER,
    HISTORY_EVENTS,
    INTEGRATION,
    Background,
    add_note,
    follower,
    log_types,
    new_application,
    position_rows,
    wait_until_caught_up,
)

WRITERS, COMMANDS = 3, 30


def write_commands(
    application: Conversations, clock: Clock, name: str, count: int, opened: list[UUID]
) -> None:
    """``count`` commands by one writer: two conversations of its own, then messages,
    notes and replies on them in turn."""
    for n in range(2):
        conversation = application.open_conversation(
            channel="chat",
            body=f"{name} needs help ({n})",
            actor=INTEGRATION,
            identity=Identity("email", f"{name}-{n}-{uuid4().hex[:6]}@example.com"),
        ).id
        opened.append(conversation)
    for i in range(count - 2):
        clock.advance(minutes=1)
        conversation = opened[i % 2]
        if i % 3 == 0:
            application.receive_message(
                conversation, channel="chat", body=f"{name} #{i}", actor=CUSTOMER
            )
        elif i % 3 == 1:
            add_note(application, conversation)
        else:
            application.queue_reply(conversation, kind="answer", body="on it", actor=AGENT)


def run_live(live: Follower, stop: threading.Event) -> Background:
    return Background(lambda: live.run_forever(stop, poll_interval=0.01))


def assert_inbox_versions(
    read_store: ReadStore, application: Conversations, conversations: list[UUID]
) -> None:
    rows = {
        r["conversation_id"]: r["version"]
        for r in read_store.query("SELECT conversation_id, version FROM proj_inbox")
    }
    assert rows == {str(c): application.get_conversation(c).version for c in conversations}


def test_concurrent_writers_while_the_follower_runs_lose_and_double_nothing(
    store: dict[str, str],
    application: Conversations,
    read_store: ReadStore,
    events: NotificationLog,
) -> None:
    live = follower(read_store, events, batch_size=7)
    stop = threading.Event()
    running = run_live(live, stop)
    opened: list[list[UUID]] = [[] for _ in range(WRITERS)]
    apps = [new_application(store, Clock()) for _ in range(WRITERS)]
    try:
        writers = [
            Background(partial(write_commands, app, app.clock, f"w{n}", COMMANDS, opened[n]))
            for n, app in enumerate(apps)
        ]
        for writer in writers:
            writer.join()
        wait_until_caught_up(read_store, events)
    finally:
        stop.set()
        running.join()
        for app in apps:
            app.close()

    assert live.failed == {}
    conversations = [c for mine in opened for c in mine]
    assert len(conversations) == WRITERS * 2
    assert_inbox_versions(read_store, application, conversations)
    log = log_types(events)
    expected = sorted(p for p, t in log if t in HISTORY_EVENTS)
    history = [r["position"] for r in read_store.query(
        "SELECT position FROM proj_history ORDER BY position")]  # fmt: skip
    assert history == expected
    assert len([t for _, t in log if t.startswith("Conversation.")]) == WRITERS * COMMANDS
    for projection in all_projections():
        assert verify(read_store, events, projection) == [], projection.name


def test_a_rebuild_swaps_in_while_the_live_follower_keeps_running(
    store: dict[str, str],
    application: Conversations,
    clock: Clock,
    read_store: ReadStore,
    events: NotificationLog,
) -> None:
    seeded: list[UUID] = []
    write_commands(application, clock, "seed", 40, seeded)
    live = follower(read_store, events, batch_size=5)
    live.run_once()
    token = position_rows(read_store)["inbox"]["token"]
    started, halfway = threading.Event(), threading.Event()
    heads: list[int] = []

    def progress(position: int, head: int) -> None:
        # The shadow build has begun: let the writer write half its commands meanwhile.
        if not started.is_set():
            started.set()
            assert halfway.wait(30)
        heads.append(events.head())

    writer_app = new_application(store, Clock(clock()))
    more: list[UUID] = []

    def write() -> None:
        assert started.wait(30)
        write_commands(writer_app, writer_app.clock, "during", 20, more)
        halfway.set()
        write_commands(writer_app, writer_app.clock, "later", 20, more)

    seen: list[int] = []

    def read_all_along() -> None:
        # A reader sees the old view or the new one, never an empty or a half-built one.
        while not stop.is_set():
            seen.append(int(read_store.query("SELECT COUNT(*) AS n FROM proj_inbox")[0]["n"]))
            query_inbox(read_store, {"status": "open"}, limit=5)  # and never an error

    stop = threading.Event()
    running = run_live(live, stop)
    reader = Background(read_all_along)
    try:
        writer = Background(write)
        head_before = events.head()
        rebuilt = rebuild(read_store, events, Inbox(), batch_size=4, progress=progress)
        writer.join()
        wait_until_caught_up(read_store, events)
    finally:
        halfway.set()
        stop.set()
        running.join()
        reader.join()
        writer_app.close()

    assert live.failed == {}
    assert seen and seen == sorted(seen)  # the number of cases never went back
    assert seen[0] >= len(seeded) and seen[-1] == len(seeded) + len(more)
    assert max(heads) > head_before  # events were written while the shadow was built
    assert rebuilt > head_before
    rows = position_rows(read_store)
    assert rows["inbox"]["token"] != token
    assert rows["inbox"]["position"] == events.head()
    assert "inbox__shadow" not in rows
    assert_inbox_versions(read_store, application, seeded + more)
    for projection in all_projections():
        assert verify(read_store, events, projection) == [], projection.name


def test_an_inbox_page_and_its_counts_describe_one_moment_while_the_follower_writes(
    store: dict[str, str],
    application: Conversations,
    read_store: ReadStore,
    events: NotificationLog,
) -> None:
    """``query_inbox`` reads the page and the counts in one transaction: they must agree
    (everything fits in one page here) however the follower commits meanwhile."""
    live = follower(read_store, events, batch_size=1)
    stop, enough = threading.Event(), threading.Event()
    running = run_live(live, stop)
    writer_app = new_application(store, Clock())
    opened: list[UUID] = []

    def write() -> None:
        n = 0
        while not enough.is_set():
            write_commands(writer_app, writer_app.clock, f"c{n}", 2, opened)
            n += 1

    mismatches: list[tuple[int, int]] = []
    reads = 0
    deadline, hard_deadline = time.monotonic() + 3.0, time.monotonic() + 30.0
    try:
        writer = Background(write)
        while (
            not mismatches
            and time.monotonic() < hard_deadline
            and (time.monotonic() < deadline or reads <= 10 or len(opened) <= 10)
        ):  # at least 3 s, and enough of both even on a loaded machine
            page = query_inbox(read_store, {"status": None}, limit=100_000)
            reads += 1
            total = sum(page["counts"].values())
            if len(page["items"]) != total:
                mismatches.append((len(page["items"]), total))
        enough.set()
        writer.join()
        wait_until_caught_up(read_store, events)
    finally:
        enough.set()
        stop.set()
        running.join()
        writer_app.close()

    assert live.failed == {}
    assert reads > 10 and len(opened) > 10
    assert mismatches == []  # (items, counts): read from two moments
