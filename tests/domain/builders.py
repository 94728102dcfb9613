"""Aggregates built directly, with no store: the pure tier's starting points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from domain.conversation import Conversation
from domain.customer import Customer
from domain.values import Identity

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CUSTOMER = "customer"
AGENT = "agent:ann"
INTEGRATION = "integration:x"


def at(minutes: float) -> datetime:
    """A moment ``minutes`` after the case opened."""
    return T0 + timedelta(minutes=minutes)


def tweet_id() -> str:
    return str(uuid4().int)[:19]


_RANDOM = "random"


def a_conversation(
    channel: str = "x_public", external_id: str | None = _RANDOM, settled: bool = True
) -> Conversation:
    """A case opened by a customer's first contact at ``T0``.

    The first message has a random external id unless one (or ``None``) is given.
    ``settled`` collects the opening event, so ``pending_events`` then shows only what the
    test's own commands record.
    """
    conversation = Conversation(
        customer_id=uuid4(),
        channel=channel,
        public=channel == "x_public",
        subject=None,
        message_id=uuid4(),
        external_id=tweet_id() if external_id is _RANDOM else external_id,
        body="my parcel never arrived",
        published_at=T0 - timedelta(seconds=30),
        observed_at=T0,
        sender={"kind": "x", "value": "2244994945", "handle": "ann"},
        brand_account=None,
        thread_id=None,
        in_reply_to=None,
        actor=INTEGRATION,
        timestamp=T0,
    )
    if settled:
        conversation.collect_events()
    return conversation


def a_customer(*identities: Identity, settled: bool = True) -> Customer:
    identities = identities or (Identity("x", str(uuid4().int)[:19], handle="ann"),)
    customer = Customer(
        name="Ann",
        identities=[i.as_dict() for i in identities],
        actor=INTEGRATION,
        timestamp=T0,
    )
    if settled:
        customer.collect_events()
    return customer


def event_names(aggregate: Conversation | Customer) -> list[str]:
    return [type(e).__name__ for e in aggregate.pending_events]
