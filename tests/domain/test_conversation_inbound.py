"""Customer messages: de-duplication, reopening a resolved case, waking a snoozed one."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain import values as v
from domain.conversation import Conversation
from domain.exceptions import InvalidValueError
from tests.domain.builders import AGENT, CUSTOMER, a_conversation, at, event_names, tweet_id


def receive(
    conversation: Conversation, external_id: str | None, minutes: float, channel: str = "x_public"
) -> bool:
    return conversation.receive_message(
        message_id=uuid4(),
        channel=channel,
        external_id=external_id,
        body="any news?",
        published_at=at(minutes),
        actor=CUSTOMER,
        timestamp=at(minutes),
    )


def test_opening_records_the_first_message_on_its_channel() -> None:
    conversation = a_conversation(external_id="111", settled=False)

    assert event_names(conversation) == ["Opened"]
    assert conversation.status == v.OPEN
    assert conversation.origin_channel == conversation.current_channel == "x_public"
    assert conversation.origin_public is True
    assert [m["external_id"] for m in conversation.messages] == ["111"]
    assert conversation.messages[0]["public"] is True


def test_a_customer_message_is_recorded_with_its_channel_and_times() -> None:
    conversation = a_conversation()

    assert receive(conversation, "222", minutes=5, channel="x_dm") is True

    assert event_names(conversation) == ["MessageReceived"]
    message = conversation.messages[-1]
    assert message["channel"] == "x_dm"
    assert message["public"] is False
    assert message["external_id"] == "222"
    assert message["observed_at"] == at(5)


def test_duplicate_external_id_on_the_same_conversation_is_a_no_op() -> None:
    external_id = tweet_id()
    conversation = a_conversation(external_id=external_id)
    version = conversation.version

    assert receive(conversation, external_id, minutes=1) is False

    assert conversation.pending_events == []
    assert conversation.version == version
    assert len(conversation.messages) == 1


def test_a_later_duplicate_of_a_follow_up_message_is_a_no_op() -> None:
    conversation = a_conversation()
    follow_up = tweet_id()
    assert receive(conversation, follow_up, minutes=1) is True

    assert receive(conversation, follow_up, minutes=2) is False

    assert event_names(conversation) == ["MessageReceived"]
    assert len(conversation.messages) == 2


def test_the_same_external_id_on_another_channel_is_another_message() -> None:
    conversation = a_conversation(external_id="333")

    assert receive(conversation, "333", minutes=1, channel="email") is True

    assert event_names(conversation) == ["MessageReceived"]


def test_messages_without_external_id_are_never_deduplicated() -> None:
    conversation = a_conversation(channel="phone", external_id=None)

    assert receive(conversation, None, minutes=1, channel="phone") is True
    assert receive(conversation, None, minutes=2, channel="phone") is True

    assert event_names(conversation) == ["MessageReceived", "MessageReceived"]


def test_a_message_on_an_unknown_channel_is_refused_and_records_nothing() -> None:
    conversation = a_conversation()

    with pytest.raises(InvalidValueError) as refused:
        receive(conversation, tweet_id(), minutes=1, channel="pigeon")

    assert refused.value.field == "channel"
    assert conversation.pending_events == []


def test_a_customer_message_on_a_resolved_conversation_reopens_it_first() -> None:
    conversation = a_conversation()
    conversation.resolve(resolution="answered", actor=AGENT, timestamp=at(1))
    conversation.collect_events()

    assert receive(conversation, tweet_id(), minutes=2) is True

    assert event_names(conversation) == ["Reopened", "MessageReceived"]
    reopened = conversation.pending_events[0]
    assert reopened.reason == "customer_message"  # type: ignore[attr-defined]
    assert reopened.actor == CUSTOMER  # type: ignore[attr-defined]
    assert conversation.status == v.OPEN
    assert conversation.resolution is None
    assert conversation.resolved_at is None


def test_a_duplicate_message_does_not_reopen_a_resolved_conversation() -> None:
    external_id = tweet_id()
    conversation = a_conversation(external_id=external_id)
    conversation.resolve(resolution="answered", actor=AGENT, timestamp=at(1))
    conversation.collect_events()

    assert receive(conversation, external_id, minutes=2) is False

    assert conversation.pending_events == []
    assert conversation.status == v.RESOLVED


def test_a_customer_message_wakes_a_snoozed_conversation() -> None:
    conversation = a_conversation()
    conversation.snooze(until=at(60), actor=AGENT, timestamp=at(1))
    assert conversation.status == v.SNOOZED
    conversation.collect_events()

    receive(conversation, tweet_id(), minutes=2)

    assert event_names(conversation) == ["MessageReceived"]
    assert conversation.status == v.OPEN
    assert conversation.snoozed_until is None
