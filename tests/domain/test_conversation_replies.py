"""Agent replies: the channel they leave by, delivery outcomes, what the case awaits."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from domain import values as v
from domain.conversation import Conversation
from domain.exceptions import (
    ConversationResolvedError,
    InvalidTransitionError,
    InvalidValueError,
    UnknownReplyError,
)
from tests.domain.builders import AGENT, CUSTOMER, a_conversation, at, event_names, tweet_id

WORKER = "system"


def reply(
    conversation: Conversation, minutes: float, channel: str | None = None, kind: str = "answer"
) -> UUID:
    reply_id = uuid4()
    conversation.queue_reply(
        reply_id=reply_id,
        kind=kind,
        body="sorry about that, we're on it",
        channel=channel,
        actor=AGENT,
        timestamp=at(minutes),
    )
    return reply_id


def switch(conversation: Conversation, to: str, minutes: float) -> None:
    conversation.switch_channel(to=to, reason="details", actor=AGENT, timestamp=at(minutes))


def test_a_reply_is_queued_on_the_current_channel_by_default() -> None:
    conversation = a_conversation()

    reply_id = reply(conversation, minutes=1)

    assert event_names(conversation) == ["ReplyQueued"]
    queued = conversation.replies[str(reply_id)]
    assert queued["status"] == v.QUEUED
    assert queued["channel"] == "x_public"
    assert queued["public"] is True
    assert queued["author"] == AGENT
    assert queued["queued_at"] == at(1)
    assert queued["external_id"] is None


def test_a_reply_may_go_back_to_the_origin_channel_after_a_switch() -> None:
    conversation = a_conversation()
    switch(conversation, "x_dm", minutes=1)

    private = reply(conversation, minutes=2)
    public = reply(conversation, minutes=3, channel="x_public", kind="follow_up")

    assert conversation.replies[str(private)]["channel"] == "x_dm"
    assert conversation.replies[str(private)]["public"] is False
    assert conversation.replies[str(public)]["channel"] == "x_public"
    assert conversation.replies[str(public)]["public"] is True


def test_a_reply_on_a_channel_neither_current_nor_origin_is_refused() -> None:
    conversation = a_conversation()
    switch(conversation, "x_dm", minutes=1)
    conversation.collect_events()

    with pytest.raises(InvalidValueError) as refused:
        reply(conversation, minutes=2, channel="email")

    assert refused.value.field == "channel"
    assert conversation.pending_events == []
    assert conversation.replies == {}


def test_a_reply_of_an_unknown_kind_is_refused() -> None:
    conversation = a_conversation()

    with pytest.raises(InvalidValueError) as refused:
        reply(conversation, minutes=1, kind="shrug")

    assert refused.value.field == "kind"
    assert conversation.pending_events == []


def test_a_reply_on_a_resolved_conversation_is_refused_and_records_nothing() -> None:
    conversation = a_conversation()
    conversation.resolve(resolution="answered", actor=AGENT, timestamp=at(1))
    conversation.collect_events()
    version = conversation.version

    with pytest.raises(ConversationResolvedError):
        reply(conversation, minutes=2)

    assert conversation.pending_events == []
    assert conversation.version == version
    assert conversation.replies == {}


def test_delivery_records_the_channel_external_id() -> None:
    conversation = a_conversation()
    reply_id = reply(conversation, minutes=1)
    conversation.collect_events()

    recorded = conversation.record_delivery(
        reply_id=reply_id, external_id="999", actor=WORKER, timestamp=at(2)
    )

    assert recorded is True
    assert event_names(conversation) == ["ReplyDelivered"]
    delivered = conversation.replies[str(reply_id)]
    assert delivered["status"] == v.DELIVERED
    assert delivered["external_id"] == "999"
    assert delivered["delivered_at"] == at(2)


def test_delivery_recorded_twice_with_the_same_external_id_is_a_no_op() -> None:
    conversation = a_conversation()
    reply_id = reply(conversation, minutes=1)
    external_id = tweet_id()
    conversation.record_delivery(
        reply_id=reply_id, external_id=external_id, actor=WORKER, timestamp=at(2)
    )
    conversation.collect_events()

    again = conversation.record_delivery(
        reply_id=reply_id, external_id=external_id, actor=WORKER, timestamp=at(3)
    )

    assert again is False
    assert conversation.pending_events == []
    assert conversation.replies[str(reply_id)]["delivered_at"] == at(2)


def test_delivery_recorded_again_with_another_external_id_is_refused() -> None:
    conversation = a_conversation()
    reply_id = reply(conversation, minutes=1)
    conversation.record_delivery(
        reply_id=reply_id, external_id=tweet_id(), actor=WORKER, timestamp=at(2)
    )
    conversation.collect_events()

    with pytest.raises(InvalidTransitionError):
        conversation.record_delivery(
            reply_id=reply_id, external_id=tweet_id(), actor=WORKER, timestamp=at(3)
        )

    assert conversation.pending_events == []


def test_delivery_of_an_unknown_reply_is_refused() -> None:
    conversation = a_conversation()

    with pytest.raises(UnknownReplyError) as refused:
        conversation.record_delivery(
            reply_id=uuid4(), external_id=tweet_id(), actor=WORKER, timestamp=at(1)
        )

    assert refused.value.field == "reply_id"
    assert conversation.pending_events == []


def test_a_retryable_failure_keeps_the_reply_queued() -> None:
    conversation = a_conversation()
    reply_id = reply(conversation, minutes=1)
    conversation.collect_events()

    conversation.record_delivery_failure(
        reply_id=reply_id,
        reason="429 rate limited",
        attempt=1,
        retryable=True,
        actor=WORKER,
        timestamp=at(2),
    )

    assert event_names(conversation) == ["ReplyDeliveryFailed"]
    failed = conversation.replies[str(reply_id)]
    assert failed["status"] == v.QUEUED
    assert failed["attempts"] == 1
    assert failed["last_error"] == "429 rate limited"


def test_a_non_retryable_failure_marks_the_reply_failed() -> None:
    conversation = a_conversation()
    reply_id = reply(conversation, minutes=1)

    conversation.record_delivery_failure(
        reply_id=reply_id,
        reason="403 duplicate content",
        attempt=3,
        retryable=False,
        actor=WORKER,
        timestamp=at(2),
    )

    failed = conversation.replies[str(reply_id)]
    assert failed["status"] == v.FAILED
    assert failed["attempts"] == 3
    assert failed["last_error"] == "403 duplicate content"


def test_a_failure_after_delivery_is_refused() -> None:
    conversation = a_conversation()
    reply_id = reply(conversation, minutes=1)
    conversation.record_delivery(
        reply_id=reply_id, external_id=tweet_id(), actor=WORKER, timestamp=at(2)
    )
    conversation.collect_events()

    with pytest.raises(InvalidTransitionError):
        conversation.record_delivery_failure(
            reply_id=reply_id,
            reason="timeout",
            attempt=2,
            retryable=True,
            actor=WORKER,
            timestamp=at(3),
        )

    assert conversation.pending_events == []
    assert conversation.replies[str(reply_id)]["status"] == v.DELIVERED


def test_a_new_case_awaits_acknowledgement() -> None:
    assert a_conversation().awaiting == "acknowledgement"


def test_a_case_awaits_nothing_after_a_reply_and_a_reply_after_a_new_message() -> None:
    conversation = a_conversation()
    assert conversation.awaiting == "acknowledgement"

    reply(conversation, minutes=1, kind="acknowledgement")
    assert conversation.awaiting == "nothing"

    conversation.receive_message(
        message_id=uuid4(),
        channel="x_public",
        external_id=tweet_id(),
        body="still broken",
        published_at=at(2),
        actor=CUSTOMER,
        timestamp=at(2),
    )
    assert conversation.awaiting == "reply"

    reply(conversation, minutes=3)
    assert conversation.awaiting == "nothing"


def test_a_resolved_case_awaits_nothing() -> None:
    conversation = a_conversation()
    conversation.resolve(resolution="spam", actor=AGENT, timestamp=at(1))

    assert conversation.awaiting == "nothing"


def test_a_message_recorded_after_a_reply_at_the_same_instant_awaits_a_reply() -> None:
    """Order decides, not timestamps: the message came after the reply."""
    conversation = a_conversation()
    reply(conversation, minutes=1, kind="acknowledgement")
    conversation.receive_message(
        message_id=uuid4(),
        channel="x_public",
        external_id=tweet_id(),
        body="and another thing",
        published_at=at(1),
        actor=CUSTOMER,
        timestamp=at(1),
    )

    assert conversation.awaiting == "reply"
    assert conversation.waiting_since == at(1)
