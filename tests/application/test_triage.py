"""Triage use cases: the meaning of each command's arguments lives in the application."""

from __future__ import annotations

from datetime import timedelta

from domain.application import Conversations
from tests.application.conftest import AGENT, open_from_tweet
from tests.conftest import Clock


def test_assignment_names_assign_none_unassigns_and_absent_leaves_as_is(
    application: Conversations,
) -> None:
    opened = open_from_tweet(application)
    application.assign(opened.id, agent="bob", team="care", actor=AGENT)
    application.assign(opened.id, agent=None, actor=AGENT)  # team left as it is
    conversation = application.get_conversation(opened.id)
    assert (conversation.assignee, conversation.team) == (None, "care")

    application.assign(opened.id, agent="eve", team=None, actor=AGENT)
    conversation = application.get_conversation(opened.id)
    assert (conversation.assignee, conversation.team) == ("eve", None)
    assert [type(e).__name__ for e in application.conversation_events(opened.id)][-2:] == [
        "Unassigned",
        "Assigned",
    ]


def test_tags_are_added_then_removed_in_one_write(application: Conversations) -> None:
    opened = open_from_tweet(application)
    outcome = application.change_tags(opened.id, add=["refund", "vip"], remove=["vip"], actor=AGENT)
    assert application.get_conversation(opened.id).tags == ["refund"]
    assert outcome.version == 4  # Opened, Tagged, Tagged, Untagged


def test_snoozing_until_none_wakes_the_conversation(
    application: Conversations, clock: Clock
) -> None:
    opened = open_from_tweet(application)
    application.snooze(opened.id, until=clock() + timedelta(hours=2), actor=AGENT)
    assert application.get_conversation(opened.id).status == "snoozed"
    application.snooze(opened.id, until=None, actor=AGENT)
    assert application.get_conversation(opened.id).status == "open"


def test_a_note_gets_an_id_made_by_the_application(application: Conversations) -> None:
    opened = open_from_tweet(application)
    outcome = application.add_note(opened.id, body="called the courier", actor=AGENT)
    notes = application.get_conversation(opened.id).notes
    assert [n["id"] for n in notes] == [outcome.extra["note_id"]]
    assert notes[0]["author"] == AGENT
