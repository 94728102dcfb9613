"""The use cases: commands in, events out, all in one event store.

One application, so one notification log: conversations, customers, tokens and the
natural-key indexes share one total order, which the projections and auditors follow.
Every command loads, checks, and saves everything it touched in one transaction, and
answers with an :class:`Outcome` carrying the global position of its last event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, NoReturn, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain import values as v
from domain.conversation import Conversation
from domain.customer import Customer
from domain.customers import CustomerDirectory
from domain.exceptions import (
    ChannelIdentityMissingError,
    ConversationNotFoundError,
    IdempotencyKeyReusedError,
    IdentityTakenError,
    InvalidTransitionError,
    PreconditionFailedError,
    VersionConflictError,
)
from domain.idempotency import IdempotencyKey
from domain.indexes import IdentityIndex, InboundIndex
from domain.triage import Triage
from domain.values import Identity

Clock = Callable[[], datetime]
A = TypeVar("A", bound=Aggregate)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class IdempotencyClaim:
    """A client's Idempotency-Key, claimed in the same transaction as the command."""

    principal: str
    key: str
    fingerprint: str  # a hash of the request, so a key reused for another request is caught
    status: int  # the HTTP status the first response had


@dataclass
class Outcome:
    """What a command did: the aggregate, its new version, the position of its last event."""

    id: UUID
    version: int
    position: int | None  # None when the command changed nothing (an idempotent no-op)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "position": self.position, **self.extra}


class Conversations(Triage, CustomerDirectory, Application):  # type: ignore[misc]
    """The care desk's application: conversations and the customers they belong to."""

    name = "parley"
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": "var/parley.sqlite",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "SQLITE_LOCK_TIMEOUT": "10",
    }

    def __init__(self, env: Mapping[str, str] | None = None, clock: Clock = utc_now) -> None:
        super().__init__(env=env)
        self.clock = clock

    # ------------------------------------------------------------------ persistence
    def _save(
        self,
        *aggregates: Aggregate,
        claim: IdempotencyClaim | None = None,
        response: Callable[[], Outcome],
    ) -> Outcome:
        """Save atomically; map a lost race to VersionConflictError; claim the key last."""
        outcome = response()
        if not any(a.pending_events for a in aggregates):
            return outcome  # nothing changed: no write (not even the key), no position
        pending: list[Aggregate] = list(aggregates)
        if claim is not None:
            body = outcome.as_dict()
            body.pop("position")
            pending.append(
                IdempotencyKey(
                    principal=claim.principal,
                    key=claim.key,
                    fingerprint=claim.fingerprint,
                    status=claim.status,
                    response=v.plain(body),
                    actor=claim.principal,
                    timestamp=self.clock(),
                )
            )
        loaded = {a.id: a.version - len(a.pending_events) for a in aggregates}
        try:
            recordings = self.save(*pending)
        except IntegrityError:
            self._raise_conflict(aggregates, loaded)
        outcome.position = max(r.notification.id for r in recordings)
        return outcome

    def _raise_conflict(
        self, aggregates: tuple[Aggregate, ...], loaded: dict[UUID, int]
    ) -> NoReturn:
        """Name the aggregate someone changed first; else (an index or a key was taken
        first) the first aggregate as it stands. The library's error never leaks out."""

        def stored(aggregate: Aggregate) -> int:
            try:
                return int(self.repository.get(aggregate.id).version)
            except AggregateNotFoundError:
                return 0  # created by this command

        changed = [
            (a.id, now)
            for a in aggregates
            if isinstance(a, Conversation | Customer) and (now := stored(a)) != loaded[a.id]
        ]
        if changed:
            raise VersionConflictError(*changed[0]) from None
        for aggregate in aggregates:
            if isinstance(aggregate, IdentityIndex) and stored(aggregate):
                raise IdentityTakenError(f"{aggregate.key} was just claimed by another customer")
        raise VersionConflictError(aggregates[0].id, stored(aggregates[0])) from None

    def find_claim(self, principal: str, key: str, fingerprint: str) -> IdempotencyKey | None:
        """The earlier response to this Idempotency-Key, if any (refusing a changed request)."""
        try:
            claim: IdempotencyKey = self.repository.get(IdempotencyKey.create_id(principal, key))
        except AggregateNotFoundError:
            return None
        if claim.fingerprint != fingerprint:
            raise IdempotencyKeyReusedError("this Idempotency-Key was used for a different request")
        return claim

    def head_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    # ------------------------------------------------------------------ reading
    def get_conversation(
        self, conversation_id: UUID, as_of: datetime | None = None
    ) -> Conversation:
        """The conversation now, or as it stood at ``as_of`` (auditors' time travel)."""
        version = None
        if as_of is not None:
            version = 0
            for stored in self.events.get(conversation_id):
                if stored.timestamp > as_of:  # type: ignore[attr-defined]
                    break
                version = stored.originator_version
            if version == 0:
                raise ConversationNotFoundError(
                    f"conversation {conversation_id} did not exist then"
                )
        return self._load(Conversation, conversation_id, version=version)

    def conversation_events(
        self, conversation_id: UUID, after_version: int = 0, limit: int = 100
    ) -> list[Any]:
        self._load(Conversation, conversation_id)
        return list(self.events.get(conversation_id, gt=after_version, limit=limit))

    def global_events(self, after: int = 0, limit: int = 100) -> Iterator[tuple[int, Any]]:
        """The notification log from ``after`` (exclusive), decoded: (position, event)."""
        for notification in self.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        ):
            yield notification.id, self.mapper.to_domain_event(notification)

    def _load(self, cls: type[A], aggregate_id: UUID, version: int | None = None) -> A:
        try:
            aggregate = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            aggregate = None
        if not isinstance(aggregate, cls):
            raise self._not_found(cls, aggregate_id)
        return aggregate

    def _conversation(self, conversation_id: UUID, expected_version: int | None) -> Conversation:
        conversation = self._load(Conversation, conversation_id)
        if expected_version is not None and conversation.version != expected_version:
            raise PreconditionFailedError(conversation.id, conversation.version, expected_version)
        return conversation

    def _outcome(self, aggregate: Aggregate, **extra: Any) -> Callable[[], Outcome]:
        return lambda: Outcome(aggregate.id, aggregate.version, None, extra)

    # ------------------------------------------------------------------ inbound
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
        claim: IdempotencyClaim | None = None,
    ) -> Outcome:
        """Open a case from a customer's first contact; a repeat of the same contact is a no-op."""
        attempt = partial(
            self._open, channel=channel, body=body, actor=actor, customer_id=customer_id,
            identity=identity, customer_name=customer_name, external_id=external_id,
            published_at=published_at, subject=subject, claim=claim,
        )  # fmt: skip
        try:
            return attempt()
        except (VersionConflictError, IdentityTakenError):
            # Lost a race: to another record of the same contact, or of the same new customer.
            if external_id is not None and (found := self._find_inbound(channel, external_id)):
                return found
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
        claim: IdempotencyClaim | None,
    ) -> Outcome:
        v.check_channel(channel)
        if external_id is not None and (found := self._find_inbound(channel, external_id)):
            return found
        now = self.clock()
        customer, identity_claims = self._resolve_customer(
            customer_id, identity, customer_name, actor, now
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
            published_at=published_at or now,
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
        claim: IdempotencyClaim | None = None,
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
                return found
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
        claim: IdempotencyClaim | None,
    ) -> Outcome:
        if external_id is not None and (found := self._seen(conversation_id, channel, external_id)):
            return found
        conversation = self._conversation(conversation_id, expected_version)
        now = self.clock()
        message_id = uuid4()
        recorded = conversation.receive_message(
            message_id=message_id,
            channel=channel,
            external_id=external_id,
            body=body,
            published_at=published_at or now,
            actor=actor,
            timestamp=now,
        )
        index = self._inbound_index(channel, external_id, conversation, message_id, actor, now)
        extra = {"created": recorded, "message_id": message_id if recorded else None}
        return self._save(
            conversation, *(index if recorded else []),
            claim=claim, response=self._outcome(conversation, **extra),
        )  # fmt: skip

    # ------------------------------------------------------------------ handling
    def queue_reply(
        self,
        conversation_id: UUID,
        *,
        kind: str,
        body: str,
        actor: str,
        channel: str | None = None,
        expected_version: int | None = None,
        claim: IdempotencyClaim | None = None,
    ) -> Outcome:
        conversation = self._conversation(conversation_id, expected_version)
        reply_id = uuid4()
        conversation.queue_reply(
            reply_id=reply_id,
            kind=kind,
            body=body,
            channel=channel,
            actor=actor,
            timestamp=self.clock(),
        )
        reply = conversation.replies[str(reply_id)]
        extra = {"reply_id": reply_id, "channel": reply["channel"], "public": reply["public"]}
        return self._save(conversation, claim=claim, response=self._outcome(conversation, **extra))

    def record_delivery(
        self, conversation_id: UUID, *, reply_id: UUID, external_id: str, actor: str
    ) -> Outcome:
        conversation = self._load(Conversation, conversation_id)
        conversation.record_delivery(
            reply_id=reply_id, external_id=external_id, actor=actor, timestamp=self.clock()
        )
        return self._save(conversation, response=self._outcome(conversation))

    def record_delivery_failure(
        self,
        conversation_id: UUID,
        *,
        reply_id: UUID,
        reason: str,
        attempt: int,
        retryable: bool,
        actor: str,
    ) -> Outcome:
        conversation = self._load(Conversation, conversation_id)
        conversation.record_delivery_failure(
            reply_id=reply_id,
            reason=reason,
            attempt=attempt,
            retryable=retryable,
            actor=actor,
            timestamp=self.clock(),
        )
        return self._save(conversation, response=self._outcome(conversation))

    def switch_channel(
        self,
        conversation_id: UUID,
        *,
        to: str,
        reason: str,
        actor: str,
        identity: Identity | None = None,
        expected_version: int | None = None,
        claim: IdempotencyClaim | None = None,
    ) -> Outcome:
        """Move the case to another channel the customer can be reached on (or add one)."""
        conversation = self._conversation(conversation_id, expected_version)
        now = self.clock()
        conversation.switch_channel(to=to, reason=reason, actor=actor, timestamp=now)
        customer = self.customer_of(conversation.customer_id)
        pending: list[Aggregate] = [conversation]
        if identity is not None:
            pending += [customer, *self._attach_identity(customer, identity, actor, now)]
        self._check_reachable(customer, to, field="identity")
        return self._save(*pending, claim=claim, response=self._outcome(conversation))

    def _check_reachable(self, customer: Customer, channel: str, field: str) -> None:
        needed = v.CHANNEL_IDENTITY_KIND[channel]
        if needed is None:
            return
        if not any(i["kind"] == needed for i in self.identities_of(customer)):
            raise ChannelIdentityMissingError(
                f"the customer has no {needed} identity to reach them on {channel}: give one",
                field=field,
            )

    def update(
        self,
        conversation_id: UUID,
        command: Callable[[Conversation, datetime], Any],
        *,
        expected_version: int | None = None,
        claim: IdempotencyClaim | None = None,
        **extra: Any,
    ) -> Outcome:
        """Run one command on a conversation: assign, tag, note, snooze, resolve, reopen...

        ``command`` receives the loaded conversation and the time, and calls one of its
        public methods; rules are the aggregate's, so this stays a thin use case.
        """
        conversation = self._conversation(conversation_id, expected_version)
        command(conversation, self.clock())
        return self._save(conversation, claim=claim, response=self._outcome(conversation, **extra))
