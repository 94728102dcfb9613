"""Opening conversations from inbound contacts, and finding their customers."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.application import Conversations
from domain.customer import Customer
from domain.exceptions import (
    ChannelIdentityMissingError,
    CustomerNotFoundError,
    IdentityTakenError,
    InvalidValueError,
)
from domain.values import Identity
from tests.application.conftest import (
    AGENT,
    INTEGRATION,
    a_tweet_id,
    an_email_identity,
    an_x_identity,
    open_from_tweet,
)
from tests.conftest import Clock


def test_a_tweet_from_a_new_x_user_opens_a_conversation_for_a_new_customer(
    application: Conversations, clock: Clock
) -> None:
    identity, tweet_id = an_x_identity(), a_tweet_id()

    opened = open_from_tweet(application, identity, tweet_id)

    assert opened.extra["created"] is True
    assert opened.version == 1
    assert opened.position == application.head_position() > 0
    conversation = application.get_conversation(opened.id)
    assert conversation.customer_id == opened.extra["customer_id"]
    assert conversation.origin_channel == conversation.current_channel == "x_public"
    assert conversation.origin_public is True
    assert conversation.opened_at == clock.now
    assert conversation.opened_by == INTEGRATION
    [message] = conversation.messages
    assert message["external_id"] == tweet_id
    assert message["id"] == opened.extra["message_id"]
    customer = application.get_customer(opened.extra["customer_id"])
    assert customer.identities == [identity.as_dict()]


def test_duplicate_tweet_is_recorded_once(application: Conversations, clock: Clock) -> None:
    identity, tweet_id = an_x_identity(), a_tweet_id()
    first = open_from_tweet(application, identity, tweet_id)
    head = application.head_position()
    clock.advance(minutes=5)

    again = open_from_tweet(application, identity, tweet_id)

    assert again.id == first.id
    assert again.extra["created"] is False
    assert again.extra["customer_id"] == first.extra["customer_id"]
    assert again.extra["message_id"] == first.extra["message_id"]
    assert again.position is None
    assert again.version == 1
    assert application.head_position() == head


def test_the_same_x_user_twice_is_one_customer(application: Conversations) -> None:
    identity = an_x_identity()

    first = open_from_tweet(application, identity)
    second = open_from_tweet(application, Identity("x", identity.value, handle="renamed"))

    assert second.id != first.id
    assert second.extra["customer_id"] == first.extra["customer_id"]
    found = application.find_customer(identity)
    assert isinstance(found, Customer)
    assert found.id == first.extra["customer_id"]


def test_an_unknown_identity_finds_no_customer(application: Conversations) -> None:
    assert application.find_customer(an_x_identity()) is None


def test_e_mail_identities_are_found_case_insensitively(application: Conversations) -> None:
    local = uuid4().hex[:8]
    registered = application.register_customer(
        name="Ann", identities=[Identity("email", f"{local}@Example.com")], actor=AGENT
    )

    found = application.find_customer(Identity("email", f"{local.upper()}@EXAMPLE.COM"))

    assert found is not None and found.id == registered.id


def test_registering_an_identity_already_taken_is_refused(application: Conversations) -> None:
    identity = an_x_identity()
    opened = open_from_tweet(application, identity)
    head = application.head_position()

    with pytest.raises(IdentityTakenError) as refused:
        application.register_customer(
            name="Impostor", identities=[an_email_identity(), identity], actor=AGENT
        )

    assert refused.value.field == "identity"
    assert str(opened.extra["customer_id"]) in str(refused.value)
    assert application.head_position() == head


def test_a_customer_needs_an_identity(application: Conversations) -> None:
    with pytest.raises(InvalidValueError) as refused:
        application.register_customer(name="Nobody", identities=[], actor=AGENT)

    assert refused.value.field == "identities"
    assert application.head_position() == 0


def test_opening_for_a_customer_that_does_not_exist_is_refused(
    application: Conversations,
) -> None:
    with pytest.raises(CustomerNotFoundError):
        application.open_conversation(
            channel="chat", body="hello", actor="customer", customer_id=uuid4()
        )

    assert application.head_position() == 0


def test_a_conversation_id_is_not_a_customer_id(application: Conversations) -> None:
    opened = open_from_tweet(application)

    with pytest.raises(CustomerNotFoundError):
        application.open_conversation(
            channel="chat", body="hello", actor="customer", customer_id=opened.id
        )


def test_opening_for_a_known_customer_by_id(application: Conversations) -> None:
    registered = application.register_customer(
        name="Ann", identities=[an_email_identity()], actor=AGENT
    )

    opened = application.open_conversation(
        channel="email",
        body="invoice wrong",
        actor="customer",
        customer_id=registered.id,
        subject="Invoice",
    )

    conversation = application.get_conversation(opened.id)
    assert conversation.customer_id == registered.id
    assert conversation.subject == "Invoice"
    assert conversation.origin_public is False


def test_opening_on_a_channel_the_customer_cannot_be_reached_on_is_refused(
    application: Conversations,
) -> None:
    registered = application.register_customer(
        name="Ann", identities=[an_email_identity()], actor=AGENT
    )
    head = application.head_position()

    with pytest.raises(ChannelIdentityMissingError) as refused:
        application.open_conversation(
            channel="x_dm", body="hi", actor=INTEGRATION, customer_id=registered.id
        )

    assert refused.value.field == "channel"
    assert application.head_position() == head


def test_opening_on_an_unknown_channel_is_refused(application: Conversations) -> None:
    with pytest.raises(InvalidValueError) as refused:
        application.open_conversation(
            channel="carrier_pigeon", body="coo", actor="customer", identity=an_x_identity()
        )

    assert refused.value.field == "channel"
    assert application.head_position() == 0


def test_opening_without_naming_the_customer_is_refused(application: Conversations) -> None:
    with pytest.raises(InvalidValueError) as refused:
        application.open_conversation(channel="chat", body="hi", actor="customer")

    assert refused.value.field == "customer"
    assert application.head_position() == 0
