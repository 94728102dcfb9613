"""verify() is what the other tests lean on: it must see a live view that drifted."""

from __future__ import annotations

from domain.application import Conversations
from domain.values import Identity
from projections.db import ReadStore
from projections.history import CustomerHistory
from projections.inbox import Inbox
from projections.log import NotificationLog
from projections.rebuild import rebuild, verify
from projections.registry import all_projections
from tests.conftest import Clock
from tests.projections.support import AGENT, INTEGRATION, dump_tables, follower, position_rows


def test_verify_names_rows_a_live_view_changed_lost_or_gained_and_a_rebuild_repairs_them(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    conversations = []
    for n in range(3):
        clock.advance(minutes=2)
        conversations.append(
            application.open_conversation(
                channel="email", body=f"hello {n}", actor=INTEGRATION,
                identity=Identity("email", f"drift{n}@example.com"),
            ).id
        )  # fmt: skip
    application.update(
        conversations[0], lambda c, now: c.tag(tag="vip", actor=AGENT, timestamp=now)
    )
    follower(read_store, events, batch_size=2).run_once()
    healthy = dump_tables(read_store)
    with read_store.transaction(lock_key="inbox") as tx:
        tx.run("UPDATE proj_inbox SET priority = 'urgent' WHERE conversation_id = ?",
               [str(conversations[1])])  # fmt: skip
        tx.run("DELETE FROM proj_inbox_tags")
    with read_store.transaction(lock_key="history") as tx:
        tx.run("DELETE FROM proj_history WHERE position = (SELECT MAX(position) FROM proj_history)")

    inbox = verify(read_store, events, Inbox())
    history = verify(read_store, events, CustomerHistory())

    assert sorted((d["table"], d["only_in"]) for d in inbox) == [
        ("inbox", "live"), ("inbox", "rebuilt"), ("inbox_tags", "rebuilt"),
    ]  # fmt: skip
    changed = {d["only_in"]: d["row"] for d in inbox if d["table"] == "inbox"}
    assert changed["live"]["priority"] == "urgent"
    assert changed["rebuilt"]["priority"] == "none"
    assert [(d["table"], d["only_in"]) for d in history] == [("history", "rebuilt")]
    assert not any(name.endswith("__scratch") for name in position_rows(read_store))

    for projection in all_projections():
        rebuild(read_store, events, projection, batch_size=3)
        assert verify(read_store, events, projection) == []
    assert dump_tables(read_store) == healthy
