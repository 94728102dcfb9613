"""Inbound use cases: a customer's first contact opens a case, later ones join it.

At-least-once in, exactly-once effect: a contact carrying its channel's external id (a
tweet id, a DM event id, a Message-ID) is recorded once, however often it is delivered,
because its :class:`~domain.indexes.InboundIndex` can be created only once. Channel
adapters hand over a :class:`Contact` and :meth:`Inbound.receive_contact` threads it:
to the case of the message it answers, to the customer's open private case, or to a
new case.
"""

from __future__ import annotations

import random
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain import values as v
from domain.awaiting import PUBLISHED_MAX_AGE, PUBLISHED_MAX_AHEAD
from domain.care_policy import CarePolicy
from domain.care_service import CarePolicies, message_text
from domain.conversation import Conversation
from domain.customer import Customer
from domain.exceptions import (
    IdentityTakenError,
    InvalidTransitionError,
    InvalidValueError,
    VersionConflictError,
)
from domain.idempotency import Claim
from domain.incident import IncidentBook
from domain.incidents import Incidents
from domain.indexes import CaseIndex, InboundIndex, OutboundIndex, ThreadIndex
from domain.outcome import Outcome
from domain.sla_policy import SlaPolicyBook
from domain.sla_service import SlaUseCases
from domain.values import Identity, Origin

# An opening that lost a race on an index (most often the customer's list of cases, when
# several of their contacts arrive at once) tries again, a little later each time.
ATTEMPTS = 12
# What every opening consults, kept in this process and checked for changes by their last
# versions: read together (Service.versions_read_together).
BOOKS = (CarePolicy.create_id(), SlaPolicyBook.create_id(), IncidentBook.create_id())


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


@dataclass(frozen=True)
class Contact:
    """One inbound message as a channel adapter normalised it (a tweet, a DM, a mail)."""

    channel: str
    body: str
    external_id: str
    sender: Identity
    actor: str
    published_at: datetime | None = None
    origin: Origin = field(default_factory=Origin)
    customer_name: str | None = None
    subject: str | None = None
    # Earlier messages of the thread, oldest first (an e-mail's References): tried, after
    # ``origin.in_reply_to``, to find the case the contact continues.
    references: tuple[str, ...] = ()
    # What a channel knows beyond the text (an e-mail's HTML, attachments, where the
    # quoted earlier mail begins): kept with the message as its ``details``.
    details: dict[str, Any] | None = None


class Inbound(Incidents, SlaUseCases, CarePolicies):
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
        origin: Origin | None = None,
        may_add_identity: bool = True,
        details: dict[str, Any] | None = None,
        anonymous: bool = False,
        claim: Claim | None = None,
    ) -> Outcome:
        """Open a case from a customer's first contact; a repeat of the same contact is a
        no-op. ``may_add_identity=False`` refuses to give an existing customer a new
        identity on the way (an integration may not redirect where replies go)."""
        if origin is None or origin.sender is None:
            base = origin or Origin()
            origin = Origin(identity, base.brand_account, base.thread_id, base.in_reply_to)
        for attempt in range(ATTEMPTS):
            try:
                with self.versions_read_together(BOOKS):
                    return self._open(
                        channel=channel, body=body, actor=actor, customer_id=customer_id,
                        identity=identity, customer_name=customer_name,
                        external_id=external_id, published_at=published_at, subject=subject,
                        origin=origin, may_add_identity=may_add_identity, details=details,
                        anonymous=anonymous, claim=claim,
                    )  # fmt: skip
            except (VersionConflictError, IdentityTakenError):
                # Lost a race: to another record of the same contact, of the same new
                # customer, or to another case of the same customer: look, then retry.
                if external_id is not None and (found := self._find_inbound(channel, external_id)):
                    return self._unchanged(found, claim)
                if attempt == ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise AssertionError("unreachable")  # pragma: no cover

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
        origin: Origin,
        may_add_identity: bool,
        details: dict[str, Any] | None,
        anonymous: bool,
        claim: Claim | None,
    ) -> Outcome:
        v.check_channel(channel)
        if external_id is not None and (found := self._find_inbound(channel, external_id)):
            return self._unchanged(found, claim)
        now = self.clock()
        published = check_published_at(published_at, now)
        customer, identity_claims = self._resolve_customer(
            customer_id, identity, customer_name, actor, now, may_add_identity=may_add_identity,
            anonymous=anonymous,
        )  # fmt: skip
        self._check_reachable(customer, channel, field="channel")
        message_id = uuid4()
        care = self._care_decision(message_text(subject, body), channel, customer.tags)
        conversation = Conversation(
            customer_id=customer.id, channel=channel, public=v.is_public(channel),
            subject=subject, message_id=message_id, external_id=external_id, body=body,
            published_at=published, observed_at=now,
            **self._with_account(channel, origin).as_fields(), details=details,
            sla=self._sla_at_opening(
                channel, customer.tags, care.team if care else None, care.priority if care else None
            ),
            actor=actor, timestamp=now,
        )  # fmt: skip
        # Classified and routed in this save: an inbox never shows the case unsorted.
        rosters = self._apply_care(conversation, message_id, care, now, opening=True)
        index = self._inbound_index(channel, external_id, conversation, message_id, actor, now)
        index += self._thread_index(channel, origin.thread_id, conversation, actor, now)
        cases = self._case_index(customer, conversation, actor, now)
        # A live incident whose keywords the first message names links the case now, in
        # this save (and acknowledges it, once the incident's acknowledgement stands).
        incidents = self._incident_links(conversation, f"{subject or ''}\n{body}", now)
        extra = {"created": True, "customer_id": customer.id, "message_id": message_id}
        return self._save(
            customer, *identity_claims, conversation, *rosters, *index, cases, *incidents,
            claim=claim, response=self._outcome(conversation, **extra),
        )  # fmt: skip

    def _with_account(self, channel: str, origin: Origin) -> Origin:
        """The origin, its brand account defaulting to the one configured for the channel."""
        if origin.brand_account is not None:
            return origin
        account = self.accounts.get(channel)
        return Origin(origin.sender, account, origin.thread_id, origin.in_reply_to)

    def _case_index(
        self, customer: Customer, conversation: Conversation, actor: str, now: datetime
    ) -> CaseIndex:
        cases: CaseIndex | None = None
        # A customer this command makes has a new id: no index can be stored under it.
        if customer.version != len(customer.pending_events):
            with suppress(AggregateNotFoundError):
                cases = self.repository.get(CaseIndex.create_id(customer.id))
        if cases is None:
            cases = CaseIndex(customer_id=customer.id, actor=actor, timestamp=now)
        cases.add(conversation_id=conversation.id, actor=actor, timestamp=now)
        return cases

    def cases_of(self, customer: Customer) -> list[UUID]:
        """The conversations of a customer and of every record merged into it."""
        try:
            index: CaseIndex = self.repository.get(CaseIndex.create_id(customer.id))
            found = list(index.conversation_ids)
        except AggregateNotFoundError:
            found = []
        for absorbed in customer.absorbed:
            found += self.cases_of(self.get_customer(absorbed))
        return found

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

    @staticmethod
    def _thread_index(
        channel: str, thread_id: str | None, conversation: Conversation, actor: str, now: datetime
    ) -> list[Aggregate]:
        """A web chat's session, as the thread every later message of it joins."""
        if channel != v.CHAT or thread_id is None:
            return []
        return [
            ThreadIndex(
                channel=channel, thread_id=thread_id, conversation_id=conversation.id,
                actor=actor, timestamp=now,
            )
        ]  # fmt: skip

    def case_of_thread(self, channel: str, thread_id: str) -> UUID | None:
        """The case a channel's thread (a web chat session) belongs to, if any."""
        try:
            index: ThreadIndex = self.repository.get(ThreadIndex.create_id(channel, thread_id))
        except AggregateNotFoundError:
            return None
        return UUID(str(index.conversation_id))

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
        origin: Origin | None = None,
        details: dict[str, Any] | None = None,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Record a customer's message; one seen before (same external id) is a no-op."""
        v.check_channel(channel)
        for attempt in range(ATTEMPTS):
            try:
                return self._receive(
                    conversation_id, channel, body, actor, external_id, published_at,
                    origin or Origin(), details, expected_version, claim,
                )  # fmt: skip
            except VersionConflictError:
                if external_id is not None and (
                    found := self._seen(conversation_id, channel, external_id)
                ):
                    return self._unchanged(found, claim)
                # Someone else wrote to the case meanwhile (another message of a burst,
                # an agent's tag): append again on top, unless the caller named a version.
                if expected_version is not None or attempt == ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise AssertionError("unreachable")  # pragma: no cover

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
        origin: Origin,
        details: dict[str, Any] | None,
        expected_version: int | None,
        claim: Claim | None,
    ) -> Outcome:
        if external_id is not None and (found := self._seen(conversation_id, channel, external_id)):
            return self._unchanged(found, claim)
        conversation = self._load(Conversation, conversation_id)
        self._check_version(conversation, expected_version)
        self._check_not_erased(conversation.customer_id)
        now = self.clock()
        published = check_published_at(published_at, now)
        message_id = uuid4()
        recorded = conversation.receive_message(
            message_id=message_id, channel=channel, external_id=external_id, body=body,
            published_at=published, actor=actor, timestamp=now,
            origin=self._with_account(channel, origin), details=details,
        )  # fmt: skip
        rosters = []
        if recorded and self.care_policy() is not None:  # no customer load without one
            customer = self.customer_of(conversation.customer_id)
            care = self._care_decision(body, channel, customer.tags)
            rosters = self._apply_care(conversation, message_id, care, now, opening=False)
        index = self._inbound_index(channel, external_id, conversation, message_id, actor, now)
        extra = {"created": recorded, "message_id": message_id if recorded else None}
        return self._save(
            conversation, *rosters, *(index if recorded else []),
            claim=claim, expected_version=expected_version,
            response=self._outcome(conversation, **extra),
        )  # fmt: skip

    # ------------------------------------------------------------------ channels
    def receive_contact(self, contact: Contact, claim: Claim | None = None) -> Outcome:
        """Thread a channel's contact into its case, or open one; a repeat is a no-op.

        In order: a contact seen before (its external id); one answering a message of a
        known case (the customer's earlier tweet, or our reply); a DM from a customer
        whose open case moved to DM; otherwise a new case on the contact's channel.
        """
        for attempt in range(ATTEMPTS):  # the threading is decided again after a lost race
            try:
                return self._receive_contact(contact, claim)
            except (VersionConflictError, IdentityTakenError):
                if attempt == ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise AssertionError("unreachable")  # pragma: no cover

    def _receive_contact(self, contact: Contact, claim: Claim | None) -> Outcome:
        if (found := self._find_inbound(contact.channel, contact.external_id)) is not None:
            return self._unchanged(found, claim)
        target = self._thread_of(contact)
        if target is not None:
            return self.receive_message(
                target, channel=contact.channel, body=contact.body, actor=contact.actor,
                external_id=contact.external_id, published_at=contact.published_at,
                origin=contact.origin, details=contact.details, claim=claim,
            )  # fmt: skip
        return self.open_conversation(
            channel=contact.channel, body=contact.body, actor=contact.actor,
            identity=contact.sender, customer_name=contact.customer_name,
            external_id=contact.external_id, published_at=contact.published_at,
            subject=contact.subject, origin=contact.origin, details=contact.details,
            claim=claim,
        )  # fmt: skip

    def _thread_of(self, contact: Contact) -> UUID | None:
        """The case a contact continues, if any: only one of that case's own customer.

        Someone else replying in a customer's thread ("same here!") opens a case of their
        own; joining the customer's would send the agent's next reply to them.
        """
        answered = [contact.origin.in_reply_to, *reversed(contact.references)]
        sender = self.find_customer(contact.sender) if any(answered) else None
        for reply_to in dict.fromkeys(a for a in answered if a):
            for index_id in (
                InboundIndex.create_id(contact.channel, reply_to),
                OutboundIndex.create_id(contact.channel, reply_to),
            ):
                try:
                    case = UUID(str(self.repository.get(index_id).conversation_id))
                except AggregateNotFoundError:
                    continue
                owner = self.customer_of(self._load(Conversation, case).customer_id)
                if sender is not None and sender.id == owner.id:
                    return case
                return None if contact.channel == v.X_PUBLIC else self._private(contact)
        return self._private(contact)

    def _private(self, contact: Contact) -> UUID | None:
        """A private contact answering nothing known: the sender's open case there."""
        if contact.channel == v.CHAT and contact.origin.thread_id is not None:
            return self.case_of_thread(v.CHAT, contact.origin.thread_id)
        if contact.channel in v.PRIVATE_THREADED:
            return self._open_case_on(contact.sender, contact.channel)
        return None

    def _open_case_on(self, sender: Identity, channel: str) -> UUID | None:
        """The sender's latest open (or snoozed) case whose current channel is ``channel``."""
        customer = self.find_customer(sender)
        if customer is None:
            return None
        for conversation_id in reversed(self.cases_of(customer)):
            conversation = self._load(Conversation, conversation_id)
            if conversation.status != v.RESOLVED and conversation.current_channel == channel:
                return conversation.id
        return None
