"""Moving a case to a private channel the customer can be reached on."""

from __future__ import annotations

import pytest

from domain.application import Conversations
from domain.exceptions import (
    ChannelIdentityMissingError,
    ConversationResolvedError,
    IdentityTakenError,
    InvalidTransitionError,
)
from tests.application.conftest import AGENT, an_email_identity, open_from_tweet
from tests.conftest import Clock


def test_a_public_tweet_moves_to_dm_on_the_same_x_identity(application: Conversations) -> None:
    opened = open_from_tweet(application)

    switched = application.switch_channel(
        opened.id, to="x_dm", reason="order number", actor=AGENT, expected_version=1
    )

    assert switched.version == 3  # ChannelSwitched, and what the DM needs (DmReachRecorded)
    assert switched.position == application.head_position()
    conversation = application.get_conversation(opened.id)
    assert (conversation.origin_channel, conversation.current_channel) == ("x_public", "x_dm")


def test_a_switch_to_email_without_an_email_identity_is_refused(
    application: Conversations,
) -> None:
    opened = open_from_tweet(application)
    head = application.head_position()

    with pytest.raises(ChannelIdentityMissingError) as refused:
        application.switch_channel(opened.id, to="email", reason="invoice", actor=AGENT)

    assert refused.value.field == "identity"
    assert application.head_position() == head
    assert application.get_conversation(opened.id).current_channel == "x_public"


def test_a_switch_to_email_with_a_new_address_adds_it_to_the_customer(
    application: Conversations, clock: Clock
) -> None:
    opened = open_from_tweet(application)
    email = an_email_identity()
    clock.advance(minutes=3)

    switched = application.switch_channel(
        opened.id, to="email", reason="invoice", actor=AGENT, identity=email
    )

    assert switched.version == 2
    assert application.get_conversation(opened.id).current_channel == "email"
    customer = application.get_customer(opened.extra["customer_id"])
    assert email.as_dict() in customer.identities
    assert customer.version == 2
    found = application.find_customer(email)
    assert found is not None and found.id == customer.id
    events = [event for _, event in application.global_events()]
    names = [type(e).__name__ for e in events]
    assert names[-3:] == ["ChannelSwitched", "IdentityAdded", "Claimed"]
    identity_added = events[-2]
    assert identity_added.identity == email.as_dict()  # type: ignore[attr-defined]
    assert identity_added.actor == AGENT  # type: ignore[attr-defined]
    assert identity_added.timestamp == clock.now


def test_a_switch_with_an_address_the_customer_has_adds_nothing(
    application: Conversations,
) -> None:
    email = an_email_identity()
    opened = open_from_tweet(application)
    application.switch_channel(opened.id, to="email", reason="", actor=AGENT, identity=email)
    application.switch_channel(opened.id, to="x_dm", reason="", actor=AGENT)
    customer_version = application.get_customer(opened.extra["customer_id"]).version

    application.switch_channel(opened.id, to="email", reason="", actor=AGENT, identity=email)

    customer = application.get_customer(opened.extra["customer_id"])
    assert customer.version == customer_version
    assert customer.identities.count(email.as_dict()) == 1


def test_a_switch_with_someone_elses_address_is_refused_and_writes_nothing(
    application: Conversations,
) -> None:
    email = an_email_identity()
    someone_else = application.register_customer(name="Bob", identities=[email], actor=AGENT)
    opened = open_from_tweet(application)
    head = application.head_position()

    with pytest.raises(IdentityTakenError) as refused:
        application.switch_channel(
            opened.id, to="email", reason="invoice", actor=AGENT, identity=email
        )

    assert str(someone_else.id) in str(refused.value)
    assert application.head_position() == head
    assert application.get_conversation(opened.id).current_channel == "x_public"
    assert application.get_customer(opened.extra["customer_id"]).version == 1


def test_a_switch_to_the_current_channel_is_refused(application: Conversations) -> None:
    opened = open_from_tweet(application)

    with pytest.raises(InvalidTransitionError):
        application.switch_channel(opened.id, to="x_public", reason="", actor=AGENT)


def test_a_resolved_conversation_cannot_switch(application: Conversations) -> None:
    opened = open_from_tweet(application)
    application.update(
        opened.id, lambda c, now: c.resolve(resolution="answered", actor=AGENT, timestamp=now)
    )
    head = application.head_position()

    with pytest.raises(ConversationResolvedError):
        application.switch_channel(
            opened.id, to="email", reason="", actor=AGENT, identity=an_email_identity()
        )

    assert application.head_position() == head


def test_replies_after_a_switch_go_privately_or_back_where_the_case_began(
    application: Conversations,
) -> None:
    opened = open_from_tweet(application)
    application.switch_channel(opened.id, to="x_dm", reason="details", actor=AGENT)

    private = application.queue_reply(opened.id, kind="answer", body="refunded", actor=AGENT)
    public = application.queue_reply(
        opened.id, kind="follow_up", body="sorted in DM", actor=AGENT, channel="x_public"
    )

    assert (private.extra["channel"], private.extra["public"]) == ("x_dm", False)
    assert (public.extra["channel"], public.extra["public"]) == ("x_public", True)
