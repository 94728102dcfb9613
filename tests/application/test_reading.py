"""Reading back: a conversation now and as it stood, its history, the global log."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from domain.application import Conversations
from domain.exceptions import ConversationNotFoundError
from tests.application.conftest import AGENT, INTEGRATION, open_from_tweet
from tests.conftest import Clock


def test_a_conversation_as_of_a_past_moment_is_its_state_then(
    application: Conversations, clock: Clock
) -> None:
    opened_at = clock.now
    opened = open_from_tweet(application)
    replied_at = clock.advance(minutes=10)
    application.queue_reply(opened.id, kind="acknowledgement", body="on it", actor=AGENT)
    clock.advance(minutes=10)
    application.update(
        opened.id, lambda c, now: c.resolve(resolution="answered", actor=AGENT, timestamp=now)
    )

    at_opening = application.get_conversation(opened.id, as_of=opened_at)
    before_reply = application.get_conversation(opened.id, as_of=replied_at - timedelta(seconds=1))
    at_reply = application.get_conversation(opened.id, as_of=replied_at)
    now = application.get_conversation(opened.id)

    assert (at_opening.version, at_opening.awaiting, at_opening.replies) == (
        1,
        "acknowledgement",
        {},
    )
    assert before_reply.version == 1
    assert (at_reply.version, at_reply.status, len(at_reply.replies)) == (2, "open", 1)
    assert (now.version, now.status) == (3, "resolved")
    far_future = application.get_conversation(opened.id, as_of=clock.now + timedelta(days=365))
    assert far_future.version == 3


def test_a_conversation_as_of_before_it_opened_is_not_found(
    application: Conversations, clock: Clock
) -> None:
    before = clock.now - timedelta(microseconds=1)
    opened = open_from_tweet(application)

    with pytest.raises(ConversationNotFoundError):
        application.get_conversation(opened.id, as_of=before)


def test_an_unknown_conversation_is_not_found_now_or_then(
    application: Conversations, clock: Clock
) -> None:
    with pytest.raises(ConversationNotFoundError):
        application.get_conversation(uuid4())
    with pytest.raises(ConversationNotFoundError):
        application.get_conversation(uuid4(), as_of=clock.now)


def test_a_customer_id_is_not_a_conversation(application: Conversations) -> None:
    opened = open_from_tweet(application)

    with pytest.raises(ConversationNotFoundError):
        application.get_conversation(opened.extra["customer_id"])
    with pytest.raises(ConversationNotFoundError):
        application.conversation_events(opened.extra["customer_id"])


def test_stored_events_keep_their_actor_and_utc_time(
    application: Conversations, clock: Clock
) -> None:
    opened = open_from_tweet(application)
    clock.advance(minutes=7, microseconds=123)
    application.queue_reply(opened.id, kind="answer", body="hi", actor=AGENT)

    opening, reply = application.conversation_events(opened.id)

    assert (opening.actor, reply.actor) == (INTEGRATION, AGENT)  # type: ignore[attr-defined]
    assert reply.timestamp == clock.now
    assert opening.timestamp == clock.now - timedelta(minutes=7, microseconds=123)
    assert reply.timestamp.utcoffset() == timedelta(0)


def test_conversation_events_page_by_version(application: Conversations) -> None:
    opened = open_from_tweet(application)
    for n in range(4):
        application.update(
            opened.id,
            lambda c, now, n=n: c.add_note(
                note_id=uuid4(), body=f"{n}", actor=AGENT, timestamp=now
            ),
        )

    page = application.conversation_events(opened.id, after_version=2, limit=2)

    assert [e.originator_version for e in page] == [3, 4]


def test_the_global_log_is_in_order_and_after_is_an_exclusive_cursor(
    application: Conversations, clock: Clock
) -> None:
    first = open_from_tweet(application)
    clock.advance(minutes=1)
    second = open_from_tweet(application)
    clock.advance(minutes=1)
    application.queue_reply(first.id, kind="answer", body="hi", actor=AGENT)

    log = list(application.global_events())

    positions = [position for position, _ in log]
    assert positions == sorted(set(positions))  # strictly increasing; gaps are allowed
    assert positions[-1] == application.head_position()
    names = [type(event).__name__ for _, event in log]
    # Each opening: customer, its identity index, the conversation, its inbound index,
    # and the customer's list of cases (started, then the case added).
    opening = ["Registered", "Claimed", "Opened", "Recorded", "Started", "CaseAdded"]
    assert names == opening * 2 + ["ReplyQueued"]
    assert log[2][1].originator_id == first.id
    assert log[8][1].originator_id == second.id
    assert log[5][0] == first.position  # a command answers with its last event's position
    assert [e.timestamp for _, e in log] == sorted(e.timestamp for _, e in log)

    cursor = positions[3]
    after = list(application.global_events(after=cursor))
    assert [p for p, _ in after] == positions[4:]

    page = list(application.global_events(after=positions[1], limit=3))
    assert [p for p, _ in page] == positions[2:5]
    assert list(application.global_events(after=positions[-1])) == []


def test_last_versions_read_together_answer_until_the_block_ends(
    application: Conversations,
) -> None:
    """``versions_read_together``: one statement for several aggregates' last versions,
    answered from it inside the block (nested blocks keep the outer reading), read afresh
    outside."""
    first, second = open_from_tweet(application).id, open_from_tweet(application).id
    application.add_note(second, body="checked", actor=AGENT)
    missing = uuid4()
    assert application.latest_version(first) == 1
    assert application.latest_version(second) == 2
    assert application.latest_version(missing) is None

    with application.versions_read_together([first, second, missing]):
        application.add_note(first, body="while the block is open", actor=AGENT)
        assert application.latest_version(first) == 1  # as read when the block began
        assert application.latest_version(second) == 2
        assert application.latest_version(missing) is None
        with application.versions_read_together([first]):
            assert application.latest_version(first) == 1
        assert application.latest_version(uuid4()) is None  # not in the block: read now
    assert application.latest_version(first) == 2
