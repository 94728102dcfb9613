"""Reply delivery outcomes recorded by workers, persisted and replayed."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from domain.application import Conversations
from domain.exceptions import InvalidTransitionError, UnknownReplyError
from tests.application.conftest import AGENT, a_tweet_id, open_from_tweet
from tests.conftest import Clock

WORKER = "system"


def test_a_delivery_is_persisted_with_its_external_id(
    application: Conversations, clock: Clock
) -> None:
    opened = open_from_tweet(application)
    queued = application.queue_reply(opened.id, kind="answer", body="hi", actor=AGENT)
    reply_id, tweet_id = queued.extra["reply_id"], a_tweet_id()
    delivered_at = clock.advance(seconds=4)

    delivered = application.record_delivery(
        opened.id, reply_id=reply_id, external_id=tweet_id, actor=WORKER
    )

    assert delivered.version == 3
    assert delivered.position == application.head_position()
    reply = application.get_conversation(opened.id).replies[str(reply_id)]
    assert (reply["status"], reply["external_id"]) == ("delivered", tweet_id)
    assert reply["delivered_at"] == delivered_at
    assert reply["queued_at"] == delivered_at - timedelta(seconds=4)


def test_a_repeated_delivery_is_recorded_once(application: Conversations) -> None:
    opened = open_from_tweet(application)
    reply_id = application.queue_reply(opened.id, kind="answer", body="hi", actor=AGENT).extra[
        "reply_id"
    ]
    tweet_id = a_tweet_id()
    application.record_delivery(opened.id, reply_id=reply_id, external_id=tweet_id, actor=WORKER)
    head = application.head_position()

    again = application.record_delivery(
        opened.id, reply_id=reply_id, external_id=tweet_id, actor=WORKER
    )

    assert (again.version, again.position) == (3, None)
    assert application.head_position() == head
    with pytest.raises(InvalidTransitionError):
        application.record_delivery(
            opened.id, reply_id=reply_id, external_id=a_tweet_id(), actor=WORKER
        )
    assert application.head_position() == head


def test_failures_are_persisted_retryable_then_final(application: Conversations) -> None:
    opened = open_from_tweet(application)
    reply_id = application.queue_reply(opened.id, kind="answer", body="hi", actor=AGENT).extra[
        "reply_id"
    ]

    application.record_delivery_failure(
        opened.id, reply_id=reply_id, reason="503", attempt=1, retryable=True, actor=WORKER
    )
    reply = application.get_conversation(opened.id).replies[str(reply_id)]
    assert (reply["status"], reply["attempts"], reply["last_error"]) == ("queued", 1, "503")

    failed = application.record_delivery_failure(
        opened.id,
        reply_id=reply_id,
        reason="403 duplicate",
        attempt=2,
        retryable=False,
        actor=WORKER,
    )
    assert failed.version == 4
    reply = application.get_conversation(opened.id).replies[str(reply_id)]
    assert (reply["status"], reply["attempts"], reply["last_error"]) == (
        "failed",
        2,
        "403 duplicate",
    )
    events = application.conversation_events(opened.id, after_version=2)
    assert [(type(e).__name__, e.retryable) for e in events] == [  # type: ignore[attr-defined]
        ("ReplyDeliveryFailed", True),
        ("ReplyDeliveryFailed", False),
    ]


def test_a_retried_reply_is_delivered_after_a_retryable_failure(
    application: Conversations,
) -> None:
    opened = open_from_tweet(application)
    reply_id = application.queue_reply(opened.id, kind="answer", body="hi", actor=AGENT).extra[
        "reply_id"
    ]
    application.record_delivery_failure(
        opened.id, reply_id=reply_id, reason="timeout", attempt=1, retryable=True, actor=WORKER
    )

    application.record_delivery(
        opened.id, reply_id=reply_id, external_id=a_tweet_id(), actor=WORKER
    )

    reply = application.get_conversation(opened.id).replies[str(reply_id)]
    assert (reply["status"], reply["attempts"]) == ("delivered", 1)


def test_an_outcome_for_an_unknown_reply_is_refused(application: Conversations) -> None:
    opened = open_from_tweet(application)
    head = application.head_position()

    with pytest.raises(UnknownReplyError):
        application.record_delivery(
            opened.id, reply_id=uuid4(), external_id=a_tweet_id(), actor=WORKER
        )
    with pytest.raises(UnknownReplyError):
        application.record_delivery_failure(
            opened.id, reply_id=uuid4(), reason="x", attempt=1, retryable=True, actor=WORKER
        )

    assert application.head_position() == head
