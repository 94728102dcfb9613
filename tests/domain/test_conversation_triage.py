"""Channel switches, assignment, tags, priority, snooze, resolve and reopen."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from domain import values as v
from domain.exceptions import (
    ConversationResolvedError,
    InvalidTransitionError,
    InvalidValueError,
)
from tests.domain.builders import AGENT, a_conversation, at, event_names


def test_a_switch_moves_the_case_and_keeps_its_channel_history() -> None:
    conversation = a_conversation()

    conversation.switch_channel(to="x_dm", reason="order number", actor=AGENT, timestamp=at(1))

    assert event_names(conversation) == ["ChannelSwitched", "DmReachRecorded"]
    switched, reach = conversation.pending_events
    assert reach.requirement == "follows_brand_or_open_dms"  # type: ignore[attr-defined]
    assert reach.receives_dms is None  # type: ignore[attr-defined]
    assert switched.from_channel == "x_public"  # type: ignore[attr-defined]
    assert switched.to_channel == "x_dm"  # type: ignore[attr-defined]
    assert conversation.current_channel == "x_dm"
    assert conversation.origin_channel == "x_public"
    assert [h["channel"] for h in conversation.channel_history] == ["x_public", "x_dm"]
    assert conversation.channel_history[-1]["since"] == at(1)


def test_a_switch_to_the_current_channel_is_refused() -> None:
    conversation = a_conversation()

    with pytest.raises(InvalidTransitionError) as refused:
        conversation.switch_channel(to="x_public", reason="", actor=AGENT, timestamp=at(1))

    assert refused.value.field == "channel"
    assert conversation.pending_events == []


def test_a_switch_to_an_unknown_channel_is_refused() -> None:
    conversation = a_conversation()

    with pytest.raises(InvalidValueError):
        conversation.switch_channel(to="fax", reason="", actor=AGENT, timestamp=at(1))

    assert conversation.pending_events == []


def test_a_resolved_conversation_cannot_switch_channel() -> None:
    conversation = a_conversation()
    conversation.resolve(resolution="fixed", actor=AGENT, timestamp=at(1))
    conversation.collect_events()

    with pytest.raises(ConversationResolvedError):
        conversation.switch_channel(to="email", reason="", actor=AGENT, timestamp=at(2))

    assert conversation.pending_events == []
    assert conversation.current_channel == "x_public"


def test_assigning_records_agent_and_team() -> None:
    conversation = a_conversation()

    assert conversation.assign(agent="ann", team="billing", actor=AGENT, timestamp=at(1))

    assert event_names(conversation) == ["Assigned"]
    assert (conversation.assignee, conversation.team) == ("ann", "billing")


def test_assigning_only_a_team_keeps_the_agent() -> None:
    conversation = a_conversation()
    conversation.assign(agent="ann", team=None, actor=AGENT, timestamp=at(1))

    conversation.assign(agent=None, team="billing", actor=AGENT, timestamp=at(2))

    assert (conversation.assignee, conversation.team) == ("ann", "billing")


def test_assigning_the_same_agent_and_team_again_records_nothing() -> None:
    conversation = a_conversation()
    conversation.assign(agent="ann", team="billing", actor=AGENT, timestamp=at(1))
    conversation.collect_events()

    assert conversation.assign(agent="ann", team="billing", actor=AGENT, timestamp=at(2)) is False
    assert conversation.assign(agent="ann", team=None, actor=AGENT, timestamp=at(3)) is False
    assert conversation.assign(agent=None, team="billing", actor=AGENT, timestamp=at(4)) is False

    assert conversation.pending_events == []


def test_assigning_nobody_is_refused() -> None:
    conversation = a_conversation()

    with pytest.raises(InvalidValueError) as refused:
        conversation.assign(agent=None, team=None, actor=AGENT, timestamp=at(1))

    assert refused.value.field == "agent"
    assert conversation.pending_events == []


def test_unassigning_clears_only_what_is_asked() -> None:
    conversation = a_conversation()
    conversation.assign(agent="ann", team="billing", actor=AGENT, timestamp=at(1))
    conversation.collect_events()

    assert conversation.unassign(agent=True, team=False, actor=AGENT, timestamp=at(2)) is True

    assert event_names(conversation) == ["Unassigned"]
    assert (conversation.assignee, conversation.team) == (None, "billing")


def test_unassigning_an_unassigned_conversation_records_nothing() -> None:
    conversation = a_conversation()

    assert conversation.unassign(agent=True, team=True, actor=AGENT, timestamp=at(1)) is False

    assert conversation.pending_events == []


def test_tagging_twice_records_one_tag() -> None:
    conversation = a_conversation()

    assert conversation.tag(tag="refund", actor=AGENT, timestamp=at(1)) is True
    assert conversation.tag(tag="refund", actor=AGENT, timestamp=at(2)) is False

    assert event_names(conversation) == ["Tagged"]
    assert conversation.tags == ["refund"]


def test_untagging_a_missing_tag_records_nothing() -> None:
    conversation = a_conversation()
    conversation.tag(tag="refund", actor=AGENT, timestamp=at(1))
    conversation.collect_events()

    assert conversation.untag(tag="vip", actor=AGENT, timestamp=at(2)) is False
    assert conversation.pending_events == []

    assert conversation.untag(tag="refund", actor=AGENT, timestamp=at(3)) is True
    assert event_names(conversation) == ["Untagged"]
    assert conversation.tags == []


def test_changing_priority_to_the_same_value_records_nothing() -> None:
    conversation = a_conversation()

    assert conversation.change_priority(priority="none", actor=AGENT, timestamp=at(1)) is False
    assert conversation.pending_events == []

    assert conversation.change_priority(priority="urgent", actor=AGENT, timestamp=at(2)) is True
    assert conversation.change_priority(priority="urgent", actor=AGENT, timestamp=at(3)) is False
    assert event_names(conversation) == ["PriorityChanged"]
    assert conversation.priority == "urgent"


def test_an_unknown_priority_is_refused() -> None:
    conversation = a_conversation()

    with pytest.raises(InvalidValueError) as refused:
        conversation.change_priority(priority="asap", actor=AGENT, timestamp=at(1))

    assert refused.value.field == "priority"


def test_notes_are_kept_with_their_author() -> None:
    conversation = a_conversation()
    note_id = uuid4()

    conversation.add_note(note_id=note_id, body="called them", actor=AGENT, timestamp=at(1))

    assert event_names(conversation) == ["NoteAdded"]
    assert conversation.notes == [
        {"id": note_id, "author": AGENT, "body": "called them", "added_at": at(1)}
    ]


def test_snooze_must_end_in_the_future() -> None:
    conversation = a_conversation()

    for until in (at(1), at(1) - timedelta(seconds=1)):
        with pytest.raises(InvalidValueError) as refused:
            conversation.snooze(until=until, actor=AGENT, timestamp=at(1))
        assert refused.value.field == "until"

    assert conversation.pending_events == []
    assert conversation.status == v.OPEN


def test_snooze_and_unsnooze() -> None:
    conversation = a_conversation()

    conversation.snooze(until=at(60), actor=AGENT, timestamp=at(1))
    assert (conversation.status, conversation.snoozed_until) == (v.SNOOZED, at(60))

    assert conversation.unsnooze(actor=AGENT, timestamp=at(2)) is True
    assert (conversation.status, conversation.snoozed_until) == (v.OPEN, None)

    assert conversation.unsnooze(actor=AGENT, timestamp=at(3)) is False
    assert event_names(conversation) == ["Snoozed", "Unsnoozed"]


def test_a_resolved_conversation_cannot_be_snoozed() -> None:
    conversation = a_conversation()
    conversation.resolve(resolution="fixed", actor=AGENT, timestamp=at(1))
    conversation.collect_events()

    with pytest.raises(ConversationResolvedError):
        conversation.snooze(until=at(60), actor=AGENT, timestamp=at(2))

    assert conversation.pending_events == []


def test_resolving_records_the_resolution_and_clears_a_snooze() -> None:
    conversation = a_conversation()
    conversation.snooze(until=at(60), actor=AGENT, timestamp=at(1))

    conversation.resolve(resolution="answered", actor=AGENT, timestamp=at(2))

    assert conversation.status == v.RESOLVED
    assert conversation.resolution == "answered"
    assert conversation.resolved_at == at(2)
    assert conversation.snoozed_until is None


def test_resolving_twice_is_refused() -> None:
    conversation = a_conversation()
    conversation.resolve(resolution="answered", actor=AGENT, timestamp=at(1))
    conversation.collect_events()

    with pytest.raises(InvalidTransitionError):
        conversation.resolve(resolution="answered", actor=AGENT, timestamp=at(2))

    assert conversation.pending_events == []


def test_an_unknown_resolution_code_is_refused() -> None:
    conversation = a_conversation()

    with pytest.raises(InvalidValueError) as refused:
        conversation.resolve(resolution="meh", actor=AGENT, timestamp=at(1))

    assert refused.value.field == "resolution"
    assert conversation.status == v.OPEN


def test_reopening_a_resolved_conversation() -> None:
    conversation = a_conversation()
    conversation.resolve(resolution="answered", actor=AGENT, timestamp=at(1))
    conversation.collect_events()

    conversation.reopen(reason="agent decision", actor=AGENT, timestamp=at(2))

    assert event_names(conversation) == ["Reopened"]
    assert conversation.status == v.OPEN
    assert (conversation.resolution, conversation.resolved_at) == (None, None)


@pytest.mark.parametrize("snoozed", [False, True])
def test_reopening_a_conversation_that_is_not_resolved_is_refused(snoozed: bool) -> None:
    conversation = a_conversation()
    if snoozed:
        conversation.snooze(until=at(60), actor=AGENT, timestamp=at(1))
        conversation.collect_events()

    with pytest.raises(InvalidTransitionError):
        conversation.reopen(reason="", actor=AGENT, timestamp=at(2))

    assert conversation.pending_events == []
