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


def _inbound_v2_v3(state: dict[str, Any]) -> None:
    """Version 2 inbound messages carried no channel details (an e-mail's HTML...)."""
    state.setdefault("details", None)


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
    class_version = 4
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
    # What the channel knew beyond the text: an e-mail's HTML, its attachments (name,
    # type, size), where quoted earlier mail begins in ``body`` (``quoted_at``).
    details: dict[str, Any] | None
    # The SLA policy pinned when the case's clock started: its id, version, name and the
    # terms it promised (domain.sla_terms.Terms as JSON); None before policies existed.
    sla: dict[str, Any] | None
    upcast_v1_v2 = staticmethod(_inbound_v1_v2)
    upcast_v2_v3 = staticmethod(_inbound_v2_v3)

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        """Version 3 openings pinned no SLA policy: the built-in one applies."""
        state.setdefault("sla", None)


class MessageReceived(Event):
    TOPIC = "parley.Conversation.MessageReceived"
    class_version = 3
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
    # What the channel knew beyond the text: an e-mail's HTML, its attachments (name,
    # type, size), where quoted earlier mail begins in ``body`` (``quoted_at``).
    details: dict[str, Any] | None
    upcast_v1_v2 = staticmethod(_inbound_v1_v2)
    upcast_v2_v3 = staticmethod(_inbound_v2_v3)


class ReplyQueued(Event):
    """An agent's reply, and whom it goes to, decided now: the message it answers
    (``in_reply_to``), the ``recipient`` identity and the brand account it leaves from."""

    TOPIC = "parley.Conversation.ReplyQueued"
    class_version = 3
    reply_id: UUID
    author: str
    channel: str
    public: bool
    kind: str
    body: str
    in_reply_to: str | None
    recipient: dict[str, Any] | None
    from_account: str | None
    subject: str | None  # an e-mail's Subject ("Re: " the case's)
    references: list[str]  # an e-mail's thread: earlier Message-IDs, oldest first

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Version 1 replies named no target (none was delivered anywhere)."""
        state.update(in_reply_to=None, recipient=None, from_account=None)

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """Version 2 replies carried no e-mail thread (none went by e-mail)."""
        state.update(subject=None, references=[])


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


class ReplyBounced(Event):
    """The receiving side returned a reply after taking it (an e-mail's delivery status
    notification): it did not reach the customer after all."""

    TOPIC = "parley.Conversation.ReplyBounced"
    reply_id: UUID
    reason: str
    status: str | None  # the DSN's status code (5.1.1 ...)
    bounce_id: str  # the bounce's own Message-ID: a repeat is a no-op


class AutomatedMessageReceived(Event):
    """A message no person wrote (an out-of-office, a mailing list's notice, a bounce)
    on the thread of a case: kept for the record; it neither reopens the case nor
    answers its clock."""

    TOPIC = "parley.Conversation.AutomatedMessageReceived"
    message_id: UUID
    channel: str
    kind: str  # auto_reply or bounce
    external_id: str
    body: str
    sender: dict[str, Any] | None
    published_at: datetime
    details: dict[str, Any] | None


class CallLogged(Event):
    """A phone call an agent logged: outbound it answers the customer; inbound it is
    the customer's contact and, taken by the agent, answered in the same breath."""

    TOPIC = "parley.Conversation.CallLogged"
    call_id: UUID
    direction: str  # inbound or outbound
    started_at: datetime
    duration_seconds: int
    agent: str | None
    summary: str
    number: str | None  # the customer's number on the call, if known


class ChatEnded(Event):
    """The customer left the web chat: replies go by e-mail from now on, if they can."""

    TOPIC = "parley.Conversation.ChatEnded"
    session_id: str
    reason: str


class DmReachRecorded(Event):
    """What is known of whether an X DM can reach the customer: X delivers a brand's DM
    only to someone who follows the brand or accepts DMs from anyone. Recorded when the
    case moves to DM (nothing known yet), when X is asked, and when X refuses a DM."""

    TOPIC = "parley.Conversation.DmReachRecorded"
    requirement: str  # what the DM needs of the customer (domain.values.DM_REQUIREMENT)
    receives_dms: bool | None  # None: not known
    follows_brand: bool | None
    source: str  # switch (the move to DM), x (X was asked) or delivery (X refused a DM)
