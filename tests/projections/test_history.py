"""Customer history: one timeline over channels and conversations, following merges."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.application import Conversations
from domain.values import Identity
from projections.db import ReadStore
from projections.history import customer_timeline
from projections.log import NotificationLog
from tests.conftest import Clock
from tests.projections.support import AGENT, CUSTOMER, INTEGRATION, SUPERVISOR, follower


def kinds(timeline: dict[str, Any]) -> list[tuple[str, str]]:
    return [(i["kind"], i["customer_id"]) for i in timeline["items"]]


def test_a_merged_customers_timeline_shows_the_absorbed_customers_entries_until_unmerged(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    email = Identity("email", "ann@example.com")
    survivor = application.register_customer(name="Ann", identities=[email], actor=SUPERVISOR).id
    clock.advance(minutes=1)
    mailed = application.open_conversation(
        channel="email", body="my invoice", actor=INTEGRATION, customer_id=survivor
    ).id
    clock.advance(minutes=1)
    tweeted = application.open_conversation(
        channel="x_public", body="@brand hello", actor=INTEGRATION,
        identity=Identity("x", "9090", handle="ann"), external_id="tweet-9",
    )  # fmt: skip
    absorbed: UUID = tweeted.extra["customer_id"]
    clock.advance(minutes=1)
    application.queue_reply(tweeted.id, kind="acknowledgement", body="DM us", actor=AGENT)
    live = follower(read_store, events, batch_size=3)
    live.run_once()

    assert kinds(customer_timeline(read_store, str(absorbed))) == [
        ("registered", str(absorbed)),
        ("conversation_opened", str(absorbed)),
        ("reply_queued:acknowledgement", str(absorbed)),
    ]
    alone = customer_timeline(read_store, str(survivor))
    assert alone["customer_ids"] == [str(survivor)]
    assert kinds(alone) == [("registered", str(survivor)), ("conversation_opened", str(survivor))]

    clock.advance(minutes=1)
    application.merge_customers(absorbed, survivor, actor=SUPERVISOR)
    clock.advance(minutes=1)
    application.receive_message(tweeted.id, channel="x_public", body="thanks", actor=CUSTOMER)
    live.run_once()

    merged = customer_timeline(read_store, str(survivor))
    assert merged["customer_ids"] == [str(survivor), str(absorbed)]
    assert kinds(merged) == [
        ("registered", str(survivor)),
        ("conversation_opened", str(survivor)),
        ("registered", str(absorbed)),
        ("conversation_opened", str(absorbed)),
        ("reply_queued:acknowledgement", str(absorbed)),
        ("merged", str(survivor)),
        ("message_received", str(absorbed)),
    ]
    positions = [i["position"] for i in merged["items"]]
    assert positions == sorted(positions)
    opened = merged["items"][3]
    assert (opened["conversation_id"], opened["channel"], opened["public"]) == (
        str(tweeted.id), "x_public", True,
    )  # fmt: skip
    assert merged["items"][1]["conversation_id"] == str(mailed)

    clock.advance(minutes=1)
    application.unmerge_customer(absorbed, actor=SUPERVISOR)
    live.run_once()

    split = customer_timeline(read_store, str(survivor))
    assert split["customer_ids"] == [str(survivor)]
    assert kinds(split) == [
        ("registered", str(survivor)),
        ("conversation_opened", str(survivor)),
        ("merged", str(survivor)),
    ]
    assert kinds(customer_timeline(read_store, str(absorbed)))[-2:] == [
        ("message_received", str(absorbed)),
        ("unmerged", str(absorbed)),
    ]


def test_a_timeline_is_read_in_pages_that_follow_each_other(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    customer = application.register_customer(
        name="Bo", identities=[Identity("email", "bo@example.com")], actor=SUPERVISOR
    ).id
    for n in range(3):
        clock.advance(minutes=5)
        conversation = application.open_conversation(
            channel="chat", body=f"chat {n}", actor=INTEGRATION, customer_id=customer
        ).id
        clock.advance(minutes=1)
        application.receive_message(conversation, channel="chat", body="more", actor=CUSTOMER)
        clock.advance(minutes=1)
        application.switch_channel(conversation, to="email", reason="details", actor=AGENT)
    follower(read_store, events).run_once()
    whole = customer_timeline(read_store, str(customer), limit=1000)
    assert whole["next_cursor"] is None
    assert len(whole["items"]) == 1 + 3 * 3

    pages: list[list[int]] = []
    cursor = 0
    while True:
        page = customer_timeline(read_store, str(customer), after=cursor, limit=4)
        pages.append([i["position"] for i in page["items"]])
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert [len(p) for p in pages] == [4, 4, 2]
    assert [p for page in pages for p in page] == [i["position"] for i in whole["items"]]
    switched = [i for i in whole["items"] if i["kind"] == "channel_switched"]
    assert [i["summary"] for i in switched] == ["chat -> email: details"] * 3
    assert {i["channel"] for i in switched} == {"email"}
    assert {i["actor"] for i in switched} == {AGENT}
