"""Inbound customer messages on an open conversation."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.application import Conversations
from domain.exceptions import ConversationNotFoundError, PreconditionFailedError
from tests.application.conftest import AGENT, INTEGRATION, a_tweet_id, open_from_tweet
from tests.conftest import Clock


def test_a_message_with_a_seen_external_id_is_recorded_once(
    application: Conversations, clock: Clock
) -> None:
    opened = open_from_tweet(application)
    dm_id = a_tweet_id()
    clock.advance(minutes=1)
    first = application.receive_message(
        opened.id, channel="x_dm", body="order 42", actor=INTEGRATION, external_id=dm_id
    )
    head = application.head_position()
    clock.advance(minutes=1)

    again = application.receive_message(
        opened.id, channel="x_dm", body="order 42", actor=INTEGRATION, external_id=dm_id
    )

    assert first.extra["created"] is True and first.position == head
    assert again.extra["created"] is False
    assert again.extra["message_id"] == first.extra["message_id"]
    assert again.position is None
    assert again.version == first.version == 2
    assert application.head_position() == head
    assert len(application.get_conversation(opened.id).messages) == 2


def test_a_reply_tweet_already_recorded_as_the_opening_is_not_recorded_again(
    application: Conversations,
) -> None:
    tweet_id = a_tweet_id()
    opened = open_from_tweet(application, tweet_id=tweet_id)
    head = application.head_position()

    again = application.receive_message(
        opened.id, channel="x_public", body="same", actor=INTEGRATION, external_id=tweet_id
    )

    assert again.extra["created"] is False
    assert application.head_position() == head


def test_a_message_on_a_resolved_conversation_reopens_it(
    application: Conversations, clock: Clock
) -> None:
    opened = open_from_tweet(application)
    application.update(
        opened.id, lambda c, now: c.resolve(resolution="answered", actor=AGENT, timestamp=now)
    )
    clock.advance(hours=2)

    received = application.receive_message(
        opened.id,
        channel="x_public",
        body="still broken",
        actor=INTEGRATION,
        external_id=a_tweet_id(),
    )

    assert received.version == 4
    names = [type(e).__name__ for e in application.conversation_events(opened.id)]
    assert names == ["Opened", "Resolved", "Reopened", "MessageReceived"]
    assert application.get_conversation(opened.id).status == "open"


def test_a_message_for_a_conversation_that_does_not_exist_is_refused(
    application: Conversations,
) -> None:
    with pytest.raises(ConversationNotFoundError):
        application.receive_message(uuid4(), channel="chat", body="hi", actor="customer")


def test_a_stale_expected_version_is_refused_with_the_current_version(
    application: Conversations, clock: Clock
) -> None:
    opened = open_from_tweet(application)
    application.receive_message(opened.id, channel="x_public", body="?", actor=INTEGRATION)
    head = application.head_position()

    with pytest.raises(PreconditionFailedError) as refused:
        application.queue_reply(
            opened.id, kind="answer", body="hi", actor=AGENT, expected_version=1
        )

    assert refused.value.current_version == 2
    assert refused.value.expected == 1
    assert refused.value.aggregate_id == opened.id
    assert application.head_position() == head


def test_the_current_expected_version_is_accepted(application: Conversations) -> None:
    opened = open_from_tweet(application)

    replied = application.queue_reply(
        opened.id, kind="answer", body="hi", actor=AGENT, expected_version=1
    )

    assert replied.version == 2


def test_a_message_id_recorded_on_another_conversation_is_refused_not_misfiled(
    application: Conversations,
) -> None:
    from domain.exceptions import InvalidTransitionError

    first, second = open_from_tweet(application), open_from_tweet(application)
    dm_id = a_tweet_id()
    application.receive_message(
        first.id, channel="x_dm", body="order 42", actor=INTEGRATION, external_id=dm_id
    )
    head = application.head_position()

    with pytest.raises(InvalidTransitionError) as refused:
        application.receive_message(
            second.id, channel="x_dm", body="order 42", actor=INTEGRATION, external_id=dm_id
        )

    assert refused.value.field == "external_id"
    assert str(first.id) in str(refused.value)
    assert application.head_position() == head
