"""Natural-key indexes: aggregates whose id is derived from a key.

An identity's index id is a keyed hash of the address (:func:`keyed_id`, keyed by a
secret derived from the master key), so the store alone cannot tell whether an address
was ever a customer's; the other indexes key on channel ids (a tweet id, a Message-ID,
a chat session), on a uuid5.

Creating one twice is a version conflict in the store, so a second customer for the
same identity, or a second record of the same tweet, can never be written, even by two
processes racing (the idea of the eventsourcing contentmanagement example's ``Index``).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

NAMESPACE = uuid5(NAMESPACE_URL, "https://parley.invalid/ns")


def key_id(kind: str, key: str) -> UUID:
    return uuid5(NAMESPACE, f"{kind}/{key}")


def keyed_id(secret: bytes, kind: str, key: str) -> UUID:
    """An id no one without ``secret`` can compute from the key (HMAC-SHA256)."""
    digest = hmac.new(secret, f"{kind}/{key}".encode(), hashlib.sha256).digest()
    return UUID(bytes=digest[:16], version=5)


class IdentityIndex(Aggregate):
    """Maps a customer identity (``email:ann@example.com``) to its customer, until that
    customer is erased (``customer_id`` None: released; the next generation's entry, a
    separate aggregate, may give the address to a new customer)."""

    TOPIC = "parley.IdentityIndex"

    class Created(Aggregate.Created):
        TOPIC = "parley.IdentityIndex.Created"

    @staticmethod
    def create_id(key: str) -> UUID:
        """The id of an index written before ids were keyed (read, never written)."""
        return key_id("identity", key)

    @staticmethod
    def keyed_id(secret: bytes, key: str, generation: int = 0) -> UUID:
        """Generation N > 0: the entry after N erasures of customers who had the key; a
        new aggregate each time, so nothing in the store links them."""
        return keyed_id(secret, "identity", key if generation == 0 else f"{key}#{generation}")

    @classmethod
    def claim(
        cls,
        secret: bytes,
        *,
        key: str,
        generation: int,
        customer_id: UUID,
        actor: str,
        timestamp: datetime,
    ) -> IdentityIndex:
        """A new entry, under the keyed id of ``key`` for that generation."""
        return cls._create(
            cls.Claimed,  # type: ignore[attr-defined]
            id=cls.keyed_id(secret, key, generation),
            key=key, customer_id=customer_id, actor=actor, timestamp=timestamp,
        )  # fmt: skip

    @event("Claimed", topic="parley.IdentityIndex.Claimed")
    def __init__(self, key: str, customer_id: UUID, actor: str, timestamp: datetime) -> None:
        self.key: str = key
        self.customer_id: UUID | None = customer_id

    @event("Released", topic="parley.IdentityIndex.Released")
    def release(self, actor: str, timestamp: datetime) -> None:
        """The customer was erased: the address belongs to no one (a later customer with
        it gets an entry of the next generation)."""
        self.customer_id = None


class InboundIndex(Aggregate):
    """Maps a channel's external id (tweet id, DM event id, Message-ID) to where it landed."""

    TOPIC = "parley.InboundIndex"

    class Created(Aggregate.Created):
        TOPIC = "parley.InboundIndex.Created"

    @staticmethod
    def create_id(channel: str, external_id: str) -> UUID:
        return key_id("inbound", f"{channel}:{external_id}")

    @event("Recorded", topic="parley.InboundIndex.Recorded")
    def __init__(
        self,
        channel: str,
        external_id: str,
        conversation_id: UUID,
        message_id: UUID,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.channel = channel
        self.external_id = external_id
        self.conversation_id = conversation_id
        self.message_id = message_id


class ThreadIndex(Aggregate):
    """Maps a channel's thread (a web chat session) to the case it began, so every later
    message of the session joins that case."""

    TOPIC = "parley.ThreadIndex"

    class Created(Aggregate.Created):
        TOPIC = "parley.ThreadIndex.Created"

    @staticmethod
    def create_id(channel: str, thread_id: str) -> UUID:
        return key_id("thread", f"{channel}:{thread_id}")

    @event("Recorded", topic="parley.ThreadIndex.Recorded")
    def __init__(
        self, channel: str, thread_id: str, conversation_id: UUID, actor: str, timestamp: datetime
    ) -> None:
        self.channel = channel
        self.thread_id = thread_id
        self.conversation_id = conversation_id


class OutboundIndex(Aggregate):
    """Maps the channel's id of a delivered reply (our tweet) to its conversation, so a
    customer answering *our* tweet lands in the same case."""

    TOPIC = "parley.OutboundIndex"

    class Created(Aggregate.Created):
        TOPIC = "parley.OutboundIndex.Created"

    @staticmethod
    def create_id(channel: str, external_id: str) -> UUID:
        return key_id("outbound", f"{channel}:{external_id}")

    @event("Recorded", topic="parley.OutboundIndex.Recorded")
    def __init__(
        self,
        channel: str,
        external_id: str,
        conversation_id: UUID,
        reply_id: UUID,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.channel = channel
        self.external_id = external_id
        self.conversation_id = conversation_id
        self.reply_id = reply_id


class CaseIndex(Aggregate):
    """A customer's conversations, in the order they were opened: where an inbound
    contact that names no case (a new DM) finds the customer's open one."""

    TOPIC = "parley.CaseIndex"

    class Created(Aggregate.Created):
        TOPIC = "parley.CaseIndex.Created"

    @staticmethod
    def create_id(customer_id: UUID) -> UUID:
        return key_id("cases", str(customer_id))

    @event("Started", topic="parley.CaseIndex.Started")
    def __init__(self, customer_id: UUID, actor: str, timestamp: datetime) -> None:
        self.customer_id = customer_id
        self.conversation_ids: list[UUID] = []

    @event("CaseAdded", topic="parley.CaseIndex.CaseAdded")
    def add(self, conversation_id: UUID, actor: str, timestamp: datetime) -> None:
        self.conversation_ids.append(conversation_id)

    @event("Closed", topic="parley.CaseIndex.Closed")
    def close(self, actor: str, timestamp: datetime) -> None:
        """The customer was erased: a case opened for them at that moment conflicts here
        (and, tried again, finds them erased), so the erasure names every case."""
        self.closed = True
