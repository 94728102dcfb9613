"""The inbox read model: what each case awaits and when it is due, filters, order, pages."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from domain.application import Conversations
from domain.sla_terms import DEFAULT_TERMS
from domain.values import Identity
from projections.db import ReadStore
from projections.inbox import query_inbox
from projections.log import NotificationLog
from tests.conftest import Clock
from tests.projections.support import AGENT, CUSTOMER, INTEGRATION, follower

HOUR = timedelta(hours=1)


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def open_tweet(app: Conversations, n: int) -> UUID:
    return app.open_conversation(
        channel="x_public", body=f"@brand help {n}", actor=INTEGRATION,
        identity=Identity("x", f"7{n:04d}"), external_id=f"tweet-{n}",
    ).id  # fmt: skip


def open_email(app: Conversations, n: int) -> UUID:
    return app.open_conversation(
        channel="email", body=f"invoice {n}", actor=INTEGRATION,
        identity=Identity("email", f"mail{n}@example.com"),
    ).id  # fmt: skip


def open_chat(app: Conversations, n: int) -> UUID:
    return app.open_conversation(
        channel="chat", body=f"chat {n}", actor=INTEGRATION,
        identity=Identity("email", f"chat{n}@example.com"),
    ).id  # fmt: skip


def answer(app: Conversations, conversation: UUID, kind: str = "answer", body: str = "ok") -> None:
    """A reply queued and delivered (a response counts for the SLA when delivered)."""
    queued = app.queue_reply(conversation, kind=kind, body=body, actor=AGENT)
    app.record_delivery(
        conversation, reply_id=queued.extra["reply_id"], external_id=f"out-{queued.position}",
        actor="system",
    )  # fmt: skip


def target(metric: str, channel: str) -> timedelta:
    found = DEFAULT_TERMS.target(metric, channel, "none")
    assert found is not None
    return timedelta(seconds=found.seconds)


def row_of(read_store: ReadStore, conversation: UUID, **filters: Any) -> dict[str, Any]:
    items = query_inbox(read_store, {"status": None, **filters}, limit=500)["items"]
    found = [i for i in items if i["conversation_id"] == str(conversation)]
    assert len(found) == 1, f"{conversation} not in the inbox"
    return found[0]


def ids(page: dict[str, Any]) -> set[str]:
    return {i["conversation_id"] for i in page["items"]}


def test_a_case_awaits_acknowledgement_then_nothing_after_a_reply_then_a_reply_again(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    live = follower(read_store, events, batch_size=3)
    opened_at = clock()
    conversation = open_tweet(application, 1)
    live.run_once()

    row = row_of(read_store, conversation)
    assert row["awaiting"] == "acknowledgement"
    assert at(row["waiting_since"]) == opened_at
    assert at(row["due"]) == at(row["first_response_due"]) == opened_at + HOUR  # x_public: 1 h
    assert row["origin_public"] is True

    clock.advance(minutes=10)
    queued = application.queue_reply(
        conversation, kind="acknowledgement", body="looking", actor=AGENT
    )
    live.run_once()
    row = row_of(read_store, conversation)
    assert (row["awaiting"], row["waiting_since"]) == ("nothing", None)
    assert at(row["due"]) == opened_at + HOUR  # queued is not delivered: the clock runs
    application.record_delivery(
        conversation, reply_id=queued.extra["reply_id"], external_id="out-1", actor="system"
    )
    live.run_once()
    row = row_of(read_store, conversation)
    assert (row["due"], row["first_response_due"]) == (None, None)

    written_at = clock.advance(minutes=20)
    application.receive_message(conversation, channel="x_public", body="still?", actor=CUSTOMER)
    live.run_once()
    row = row_of(read_store, conversation)
    assert row["awaiting"] == "reply"
    assert at(row["waiting_since"]) == written_at
    assert at(row["due"]) == written_at + HOUR
    assert row["last_message_preview"] == "still?"

    clock.advance(minutes=1)
    application.update(
        conversation,
        lambda c, now: c.change_priority(priority="urgent", actor=AGENT, timestamp=now),
    )
    live.run_once()
    row = row_of(read_store, conversation)
    assert at(row["due"]) == written_at + HOUR / 2  # urgent halves the target
    assert row["version"] == application.get_conversation(conversation).version


def reopen_by_agent(app: Conversations, conversation: UUID, clock: Clock) -> None:
    clock.advance(minutes=5)
    app.update(
        conversation, lambda c, now: c.resolve(resolution="spam", actor=AGENT, timestamp=now)
    )
    clock.advance(minutes=5)
    app.update(conversation, lambda c, now: c.reopen(reason="not spam", actor=AGENT, timestamp=now))


def never_acknowledged_reopened_by_an_agent(app: Conversations, c: UUID, clock: Clock) -> None:
    reopen_by_agent(app, c, clock)


def unanswered_message_reopened_by_an_agent(app: Conversations, c: UUID, clock: Clock) -> None:
    clock.advance(minutes=5)
    app.queue_reply(c, kind="acknowledgement", body="looking", actor=AGENT)
    clock.advance(minutes=5)
    app.receive_message(c, channel="x_public", body="and?", actor=CUSTOMER)
    reopen_by_agent(app, c, clock)


def never_acknowledged_reopened_by_the_customer(app: Conversations, c: UUID, clock: Clock) -> None:
    clock.advance(minutes=5)
    app.update(c, lambda c_, now: c_.resolve(resolution="spam", actor=AGENT, timestamp=now))
    clock.advance(minutes=5)
    app.receive_message(c, channel="x_public", body="hello??", actor=CUSTOMER)


@pytest.mark.parametrize(
    "history",
    [
        never_acknowledged_reopened_by_an_agent,
        unanswered_message_reopened_by_an_agent,
        never_acknowledged_reopened_by_the_customer,
    ],
    ids=lambda f: f.__name__,
)
def test_a_reopened_case_awaits_in_the_inbox_what_the_conversation_awaits(
    application: Conversations,
    clock: Clock,
    read_store: ReadStore,
    events: NotificationLog,
    history: Any,
) -> None:
    conversation = open_tweet(application, 2)
    history(application, conversation, clock)
    follower(read_store, events).run_once()

    expected = application.get_conversation(conversation)
    row = row_of(read_store, conversation)
    assert row["status"] == expected.status == "open"
    assert row["awaiting"] == expected.awaiting
    assert row["due"] is not None  # a case awaiting an answer has a due time


def test_filters_select_by_status_assignee_team_channel_priority_tag_and_awaiting(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    tweet, mail, chat, snoozed, resolved, moved = (
        open_tweet(application, 10), open_email(application, 11), open_chat(application, 12),
        open_chat(application, 13), open_email(application, 14), open_tweet(application, 15),
    )  # fmt: skip
    clock.advance(minutes=3)

    def do(conversation: UUID, command: Any) -> None:
        application.update(conversation, command)

    do(
        tweet,
        lambda c, now: c.assign(agent="agent:ann", team="billing", actor=AGENT, timestamp=now),
    )
    do(tweet, lambda c, now: c.change_priority(priority="high", actor=AGENT, timestamp=now))
    do(tweet, lambda c, now: c.tag(tag="vip", actor=AGENT, timestamp=now))
    do(mail, lambda c, now: c.assign(agent=None, team="tech", actor=AGENT, timestamp=now))
    do(mail, lambda c, now: c.tag(tag="vip", actor=AGENT, timestamp=now))
    do(mail, lambda c, now: c.tag(tag="refund", actor=AGENT, timestamp=now))
    do(mail, lambda c, now: c.untag(tag="vip", actor=AGENT, timestamp=now))
    do(chat, lambda c, now: c.assign(agent="agent:bob", team=None, actor=AGENT, timestamp=now))
    do(chat, lambda c, now: c.unassign(agent=True, team=False, actor=AGENT, timestamp=now))
    application.queue_reply(chat, kind="answer", body="done?", actor=AGENT)
    until = clock() + HOUR
    do(snoozed, lambda c, now: c.snooze(until=until, actor=AGENT, timestamp=now))
    do(resolved, lambda c, now: c.resolve(resolution="answered", actor=AGENT, timestamp=now))
    application.switch_channel(moved, to="x_dm", reason="order number", actor=AGENT)
    answer(application, moved, body="dm us")
    clock.advance(minutes=3)
    application.receive_message(moved, channel="x_dm", body="sent", actor=CUSTOMER)
    follower(read_store, events, batch_size=4).run_once()

    def query(**filters: Any) -> set[str]:
        return ids(query_inbox(read_store, filters, limit=100))

    every_active = {str(c) for c in (tweet, mail, chat, snoozed, moved)}
    page = query_inbox(read_store, {}, limit=100)
    assert ids(page) == every_active  # resolved ones are left out by default...
    assert page["counts"] == {"open": 4, "snoozed": 1, "resolved": 1}  # ...and counted
    assert query(status="resolved") == {str(resolved)}
    assert query(status="snoozed") == {str(snoozed)}
    assert query(status="open") == every_active - {str(snoozed)}
    assert query(assignee="agent:ann") == {str(tweet)}
    assert query(assigned=True) == {str(tweet)}
    assert query(assigned=False) == every_active - {str(tweet)}
    assert query(team="tech") == {str(mail)}
    assert query(team="billing", assignee="agent:ann") == {str(tweet)}
    assert query(channel="x_dm") == {str(moved)}
    assert query(channel="chat") == {str(chat), str(snoozed)}
    assert query(priority="high") == {str(tweet)}
    assert query(tag="vip") == {str(tweet)}
    assert query(tag="refund") == {str(mail)}
    assert query(tag="refund", status="resolved") == set()
    assert query(awaiting="reply") == {str(moved)}
    assert query(awaiting="nothing") == {str(chat)}
    assert query(awaiting="acknowledgement") == {str(tweet), str(mail), str(snoozed)}
    assert query(channel="x_dm", awaiting="acknowledgement") == set()
    assert query_inbox(read_store, {"assignee": "agent:ann"}, limit=10)["counts"] == {
        "open": 1,
        "snoozed": 0,
        "resolved": 0,
    }
    snoozed_row = row_of(read_store, snoozed)
    assert at(snoozed_row["snoozed_until"]) == until
    # paused while snoozed: due what was left of its target once the snooze ends
    assert at(snoozed_row["due"]) == application.sla_clock(snoozed).response_due()
    assert at(snoozed_row["due"]) > until  # type: ignore[operator]
    assert row_of(read_store, mail)["tags"] == ["refund"]


def test_cursor_pages_return_every_case_once_most_overdue_first_then_longest_waiting(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    expected: dict[str, tuple[datetime | None, datetime | None]] = {}  # id -> (due, waiting)
    for n in range(25):
        clock.advance(minutes=7 * (n % 4) + 1)
        channel = ("x_public", "email", "chat")[n % 3]
        opener = {"x_public": open_tweet, "email": open_email, "chat": open_chat}[channel]
        conversation = opener(application, 100 + n)
        opened_at = clock()
        expected[str(conversation)] = (opened_at + target("first_response", channel), opened_at)
        if n % 5 == 1:  # answered: nothing due, not waiting
            clock.advance(minutes=1)
            answer(application, conversation)
            expected[str(conversation)] = (None, None)
        elif n % 5 == 3:  # answered, then the customer wrote again
            clock.advance(minutes=1)
            answer(application, conversation)
            written = clock.advance(minutes=2)
            application.receive_message(conversation, channel=channel, body="hm", actor=CUSTOMER)
            expected[str(conversation)] = (written + target("next_response", channel), written)
    follower(read_store, events, batch_size=6).run_once()

    seen: list[dict[str, Any]] = []
    cursor = None
    sizes = []
    while True:
        page = query_inbox(read_store, {}, limit=7, cursor=cursor)
        sizes.append(len(page["items"]))
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sizes == [7, 7, 7, 4]
    got = [i["conversation_id"] for i in seen]
    assert len(got) == len(set(got)) == 25

    last = datetime.max.replace(tzinfo=clock().tzinfo)

    def key(conversation_id: str) -> tuple[datetime, datetime, str]:
        due, waiting = expected[conversation_id]
        return (due or last, waiting or last, conversation_id)

    assert got == sorted(expected, key=key)
    for item in seen:
        due, waiting = expected[item["conversation_id"]]
        assert (at(item["due"]), at(item["waiting_since"])) == (due, waiting)


def test_a_cursor_that_is_not_ours_is_refused(
    read_store: ReadStore, events: NotificationLog
) -> None:
    follower(read_store, events).run_once()
    with pytest.raises(ValueError):
        query_inbox(read_store, {}, cursor="bm90IGEgY3Vyc29y")


def test_the_inbox_and_the_conversation_agree_on_a_message_timed_like_the_reply_before_it(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    cid = open_tweet(application, 900)
    clock.advance(minutes=10)
    application.queue_reply(cid, kind="acknowledgement", body="on it", actor=AGENT)
    application.receive_message(cid, channel="x_public", body="and?", actor=CUSTOMER)
    follower(read_store, events).run_once()

    [row] = query_inbox(read_store, {}, limit=10)["items"]
    conversation = application.get_conversation(cid)

    assert row["awaiting"] == conversation.awaiting == "reply"
    assert at(row["waiting_since"]) == conversation.waiting_since == clock()
    assert at(row["due"]) == application.sla_clock(cid).response_due()
