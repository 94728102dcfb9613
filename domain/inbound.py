"""Inbound use cases: a customer's first contact opens a case, later ones join it.

At-least-once in, exactly-once effect: a contact carrying its channel's external id (a
tweet id, a DM event id, a Message-ID) is recorded once, however often it is delivered,
because its :class:`~domain.indexes.InboundIndex` can be created only once.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain import values as v
from domain.awaiting import PUBLISHED_MAX_AGE, PUBLISHED_MAX_AHEAD
from domain.conversation import Conversation
from domain.customers import CustomerDirectory
from domain.exceptions import (
    IdentityTakenError,
    InvalidTransitionError,
    InvalidValueError,
    VersionConflictError,
)
from domain.idempotency import Claim
from domain.indexes import InboundIndex
from domain.outcome import Outcome
from domain.values import Identity


def check_published_at(published_at: datetime | None, now: datetime) -> datetime:
    """The channel's time of a message, held to a window around the moment it arrived.

    A contact claiming to be from year 1 (or next year) would top every inbox and skew
    every SLA figure; a channel's clock is trusted only this far.
    """
    if published_at is None:
        return now
    if not now - PUBLISHED_MAX_AGE <= published_at <= now + PUBLISHED_MAX_AHEAD:
        raise InvalidValueError(
            f"published_at must lie between {PUBLISHED_MAX_AGE.days} days before and "
            f"{int(PUBLISHED_MAX_AHEAD.total_seconds() // 60)} minutes after the moment the "
            f"message is recorded ({now.isoformat()})",
            field="published_at",
        )
    return published_at


class Inbound(CustomerDirectory):
    def open_conversation(
        self,
        *,
        channel: str,
        body: str,
        actor: str,
        customer_id: UUID | None = None,
        identity: Identity | None = None,
        customer_name: str | None = None,
        external_id: str | None = None,
        published_at: datetime | None = None,
        subject: str | None = None,
        may_add_identity: bool = True,
        claim: Claim | None = None,
    ) -> Outcome:
        """Open a case from a customer's first contact; a repeat of the same contact is a
        no-op. ``may_add_identity=False`` refuses to give an existing customer a new
        identity on the way (an integration may not redirect where replies go)."""

        def attempt() -> Outcome:
            return self._open(
                channel=channel, body=body, actor=actor, customer_id=customer_id,
                identity=identity, customer_name=customer_name, external_id=external_id,
                published_at=published_at, subject=subject, may_add_identity=may_add_identity,
                claim=claim,
            )  # fmt: skip

        try:
            return attempt()
        except (VersionConflictError, IdentityTakenError):
            # Lost a race: to another record of the same contact, or of the same new customer.
            if external_id is not None and (found := self._find_inbound(channel, external_id)):
                return self._unchanged(found, claim)
            if customer_id is None and identity is not None:
                return attempt()  # the customer exists now: this contact joins them
            raise

    def _open(
        self,
        *,
        channel: str,
        body: str,
        actor: str,
        customer_id: UUID | None,
        identity: Identity | None,
        customer_name: str | None,
        external_id: str | None,
        published_at: datetime | None,
        subject: str | None,
        may_add_identity: bool,
        claim: Claim | None,
    ) -> Outcome:
        v.check_channel(channel)
        if external_id is not None and (found := self._find_inbound(channel, external_id)):
            return self._unchanged(found, claim)
        now = self.clock()
        published = check_published_at(published_at, now)
        customer, identity_claims = self._resolve_customer(
            customer_id, identity, customer_name, actor, now, may_add_identity=may_add_identity
        )
        self._check_reachable(customer, channel, field="channel")
        message_id = uuid4()
        conversation = Conversation(
            customer_id=customer.id,
            channel=channel,
            public=v.is_public(channel),
            subject=subject,
            message_id=message_id,
            external_id=external_id,
            body=body,
            published_at=published,
            actor=actor,
            timestamp=now,
        )
        index = self._inbound_index(channel, external_id, conversation, message_id, actor, now)
        extra = {"created": True, "customer_id": customer.id, "message_id": message_id}
        return self._save(
            customer, *identity_claims, conversation, *index,
            claim=claim, response=self._outcome(conversation, **extra),
        )  # fmt: skip

    @staticmethod
    def _inbound_index(
        channel: str,
        external_id: str | None,
        conversation: Conversation,
        message_id: UUID,
        actor: str,
        now: datetime,
    ) -> list[Aggregate]:
        """The record that makes a channel's external id land once (none without an id)."""
        if external_id is None:
            return []
        return [
            InboundIndex(
                channel=channel, external_id=external_id, conversation_id=conversation.id,
                message_id=message_id, actor=actor, timestamp=now,
            )
        ]  # fmt: skip

    def _find_inbound(self, channel: str, external_id: str) -> Outcome | None:
        """Where a channel's external id landed already, as a no-op outcome, if it did."""
        try:
            index: InboundIndex = self.repository.get(InboundIndex.create_id(channel, external_id))
        except AggregateNotFoundError:
            return None
        conversation = self._load(Conversation, index.conversation_id)
        extra = {
            "created": False,
            "customer_id": conversation.customer_id,
            "message_id": index.message_id,
        }
        return Outcome(conversation.id, conversation.version, None, extra)

    def receive_message(
        self,
        conversation_id: UUID,
        *,
        channel: str,
        body: str,
        actor: str,
        external_id: str | None = None,
        published_at: datetime | None = None,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Record a customer's message; one seen before (same external id) is a no-op."""
        v.check_channel(channel)
        try:
            return self._receive(
                conversation_id, channel, body, actor, external_id, published_at,
                expected_version, claim,
            )  # fmt: skip
        except VersionConflictError:
            if external_id is not None and (
                found := self._seen(conversation_id, channel, external_id)
            ):
                return self._unchanged(found, claim)
            raise

    def _seen(self, conversation_id: UUID, channel: str, external_id: str) -> Outcome | None:
        found = self._find_inbound(channel, external_id)
        if found is not None and found.id != conversation_id:
            raise InvalidTransitionError(
                f"{channel} message {external_id} belongs to conversation {found.id}",
                field="external_id",
            )
        return found

    def _receive(
        self,
        conversation_id: UUID,
        channel: str,
        body: str,
        actor: str,
        external_id: str | None,
        published_at: datetime | None,
        expected_version: int | None,
        claim: Claim | None,
    ) -> Outcome:
        if external_id is not None and (found := self._seen(conversation_id, channel, external_id)):
            return self._unchanged(found, claim)
        conversation = self._load(Conversation, conversation_id)
        self._check_version(conversation, expected_version)
        now = self.clock()
        published = check_published_at(published_at, now)
        message_id = uuid4()
        recorded = conversation.receive_message(
            message_id=message_id,
            channel=channel,
            external_id=external_id,
            body=body,
            published_at=published,
            actor=actor,
            timestamp=now,
        )
        index = self._inbound_index(channel, external_id, conversation, message_id, actor, now)
        extra = {"created": recorded, "message_id": message_id if recorded else None}
        return self._save(
            conversation, *(index if recorded else []),
            claim=claim, expected_version=expected_version,
            response=self._outcome(conversation, **extra),
        )  # fmt: skip
