"""What every conversation event carries: who, when (UTC), and a stable explicit topic."""

from __future__ import annotations

from datetime import UTC, timedelta
from uuid import uuid4

from eventsourcing.domain import CanMutateAggregate
from eventsourcing.utils import get_topic, resolve_topic

from domain.conversation import Conversation
from tests.domain.builders import AGENT, CUSTOMER, INTEGRATION, T0, a_conversation, at, tweet_id

WORKER = "system"


def a_busy_conversation() -> Conversation:
    """One case through every command that records something, one minute apart."""
    conversation = a_conversation(settled=False)
    first_reply, second_reply = uuid4(), uuid4()
    conversation.receive_message(
        message_id=uuid4(),
        channel="x_public",
        external_id=tweet_id(),
        body="hello?",
        published_at=at(1),
        actor=CUSTOMER,
        timestamp=at(1),
    )
    conversation.queue_reply(
        reply_id=first_reply,
        kind="acknowledgement",
        body="on it",
        channel=None,
        actor=AGENT,
        timestamp=at(2),
    )
    conversation.record_delivery(
        reply_id=first_reply, external_id=tweet_id(), actor=WORKER, timestamp=at(3)
    )
    conversation.switch_channel(to="x_dm", reason="details", actor=AGENT, timestamp=at(4))
    conversation.queue_reply(
        reply_id=second_reply,
        kind="answer",
        body="order?",
        channel=None,
        actor=AGENT,
        timestamp=at(5),
    )
    conversation.record_delivery_failure(
        reply_id=second_reply,
        reason="timeout",
        attempt=1,
        retryable=True,
        actor=WORKER,
        timestamp=at(6),
    )
    conversation.assign(agent="ann", team="billing", actor=AGENT, timestamp=at(7))
    conversation.unassign(agent=True, team=True, actor=AGENT, timestamp=at(8))
    conversation.add_note(note_id=uuid4(), body="vip", actor=AGENT, timestamp=at(9))
    conversation.tag(tag="refund", actor=AGENT, timestamp=at(10))
    conversation.untag(tag="refund", actor=AGENT, timestamp=at(11))
    conversation.change_priority(priority="high", actor=AGENT, timestamp=at(12))
    conversation.snooze(until=at(60), actor=AGENT, timestamp=at(13))
    conversation.unsnooze(actor=AGENT, timestamp=at(14))
    conversation.resolve(resolution="answered", actor=AGENT, timestamp=at(15))
    conversation.reopen(reason="not fixed", actor=AGENT, timestamp=at(16))
    return conversation


def conversation_event_classes() -> dict[str, type]:
    """Every event class the Conversation aggregate declares (not the abstract bases)."""
    return {
        name: cls
        for name, cls in vars(Conversation).items()
        if isinstance(cls, type)
        and issubclass(cls, CanMutateAggregate)
        and name not in ("Event", "Created")
    }


def test_every_event_carries_its_actor_and_the_given_utc_timestamp() -> None:
    conversation = a_busy_conversation()
    events = conversation.pending_events

    assert len(events) == 18  # the switch to DM records two: ChannelSwitched, DmReachRecorded
    expected_actors = [INTEGRATION, CUSTOMER, AGENT, WORKER, AGENT, AGENT, AGENT, WORKER]
    expected_actors += [AGENT] * 10
    assert [e.actor for e in events] == expected_actors  # type: ignore[attr-defined]
    minutes = [0, 1, 2, 3, 4, 4, *range(5, 17)]
    assert [e.timestamp for e in events] == [T0 + timedelta(minutes=n) for n in minutes]
    assert all(e.timestamp.utcoffset() == timedelta(0) for e in events)
    assert all(e.timestamp.tzinfo is UTC for e in events)


def test_the_aggregate_remembers_when_it_was_opened_and_last_changed() -> None:
    conversation = a_busy_conversation()

    assert conversation.created_on == T0
    assert conversation.opened_at == T0
    assert conversation.opened_by == INTEGRATION
    assert conversation.modified_on == at(16)


def test_every_recorded_event_has_its_explicit_parley_topic() -> None:
    events = a_busy_conversation().pending_events

    for event in events:
        topic = f"parley.Conversation.{type(event).__name__}"
        assert get_topic(type(event)) == topic
        assert get_topic(type(event)) == topic


def test_every_declared_event_class_has_a_registered_explicit_topic() -> None:
    classes = conversation_event_classes()

    assert set(classes) >= {
        "Opened",
        "MessageReceived",
        "ReplyQueued",
        "ReplyDelivered",
        "ReplyDeliveryFailed",
        "ChannelSwitched",
        "Assigned",
        "Unassigned",
        "NoteAdded",
        "Tagged",
        "Untagged",
        "PriorityChanged",
        "Snoozed",
        "Unsnoozed",
        "Resolved",
        "Reopened",
    }
    for name, cls in classes.items():
        topic = f"parley.Conversation.{name}"
        assert getattr(cls, "TOPIC", None) == topic, name
        assert get_topic(cls) == topic
        assert resolve_topic(topic) is cls
        assert ":" not in topic  # not a module path: moving the module breaks nothing


def test_the_aggregate_itself_has_an_explicit_topic() -> None:
    assert get_topic(Conversation) == "parley.Conversation"
    assert resolve_topic("parley.Conversation") is Conversation
