"""The Conversation aggregate's event classes that carry a class version.

Declared here, apart from the aggregate, so that ``domain/conversation.py`` holds the
rules; the aggregate names each one (``Conversation.Opened`` ...) and its ``@event``
methods apply them. Each changed event has an ``upcast_vN_vN+1``, so events stored by
earlier versions still load (``tests/application/fixtures/events_v1.json``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate


def _inbound_v1_v2(state: dict[str, Any]) -> None:
    """Version 1 inbound messages named no sender, account or thread; they were observed
    when recorded."""
    for name in ("sender", "brand_account", "thread_id", "in_reply_to"):
        state.setdefault(name, None)
    state.setdefault("observed_at", state["timestamp"])


class Event(Aggregate.Event):
    """Every conversation event says who caused it (``actor``) and when (``timestamp``)."""

    actor: str


class Created(Event, Aggregate.Created):
    TOPIC = "parley.Conversation.Created"


class Opened(Created):
    """The first contact: what the channel said, who wrote (``sender``), to which brand
    account, in which external thread, and when (published by the channel, observed
    by Parley)."""

    TOPIC = "parley.Conversation.Opened"
    class_version = 2
    customer_id: UUID
    channel: str
    public: bool
    subject: str | None
    message_id: UUID
    external_id: str | None
    body: str
    published_at: datetime
    observed_at: datetime
    sender: dict[str, Any] | None
    brand_account: str | None
    thread_id: str | None
    in_reply_to: str | None
    upcast_v1_v2 = staticmethod(_inbound_v1_v2)


class MessageReceived(Event):
    TOPIC = "parley.Conversation.MessageReceived"
    class_version = 2
    message_id: UUID
    channel: str
    external_id: str | None
    body: str
    public: bool
    published_at: datetime
    observed_at: datetime
    sender: dict[str, Any] | None
    brand_account: str | None
    thread_id: str | None
    in_reply_to: str | None
    upcast_v1_v2 = staticmethod(_inbound_v1_v2)


class ReplyQueued(Event):
    """An agent's reply, and whom it goes to, decided now: the message it answers
    (``in_reply_to``), the ``recipient`` identity and the brand account it leaves from."""

    TOPIC = "parley.Conversation.ReplyQueued"
    class_version = 2
    reply_id: UUID
    author: str
    channel: str
    public: bool
    kind: str
    body: str
    in_reply_to: str | None
    recipient: dict[str, Any] | None
    from_account: str | None

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Version 1 replies named no target (none was delivered anywhere)."""
        state.update(in_reply_to=None, recipient=None, from_account=None)


class ReplyDelivered(Event):
    TOPIC = "parley.Conversation.ReplyDelivered"
    class_version = 2
    reply_id: UUID
    external_id: str
    attempt: int | None
    found: bool  # found on the channel after an uncertain attempt, not answered by it

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state.update(attempt=None, found=False)


class ReplyDeliveryFailed(Event):
    TOPIC = "parley.Conversation.ReplyDeliveryFailed"
    class_version = 2
    reply_id: UUID
    reason: str
    attempt: int
    retryable: bool
    code: str  # what kind of failure (domain.values.FAILURE_CODES)
    retry_at: datetime | None  # when a retryable failure is tried again

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state.update(code="unknown", retry_at=None)
