"""The use cases: commands in, events out, all in one event store.

One application, so one notification log: conversations, customers, tokens and the
natural-key indexes share one total order, which the projections and auditors follow.
Every command loads, checks, and saves everything it touched in one transaction, and
answers with an :class:`~domain.outcome.Outcome` carrying the global position of its
last event. The use cases live in mixins by noun (inbound, chat, mail, calls,
deliveries, triage, customers, tokens, incidents: an outage's cases, which the inbound
use cases link as they open),
each derived from the typed :class:`~domain.service.Service` base.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.calls import Calls
from domain.canned_service import CannedResponses
from domain.chat import Chat
from domain.conversation import Conversation
from domain.deliveries import Deliveries
from domain.erasure import Erasure
from domain.exceptions import ConversationNotFoundError
from domain.idempotency import Claim
from domain.mail import Mail
from domain.outcome import Outcome
from domain.service import Clock, utc_now
from domain.tokens import TokenDirectory
from domain.triage import Triage
from domain.values import Identity

__all__ = ["Clock", "Conversations", "Outcome", "utc_now"]


class Conversations(
    CannedResponses, Erasure, Chat, Mail, Calls, Deliveries, Triage, TokenDirectory
):
    """The care desk's application: conversations and the customers they belong to."""

    # ------------------------------------------------------------------ reading
    def get_conversation(
        self, conversation_id: UUID, as_of: datetime | None = None
    ) -> Conversation:
        """The conversation now, or as it stood at ``as_of`` (auditors' time travel).

        For reading only: it may be the one this process keeps loaded (``domain.load_cache``),
        shared with every other reader, so it must not be changed."""
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
        return self._load(Conversation, conversation_id, version=version, shared=True)

    def get_conversation_at_version(self, conversation_id: UUID, version: int) -> Conversation:
        """The conversation right after its event number ``version`` (a replay's step)."""
        return self._load(Conversation, conversation_id, version=version)

    def conversation_events(
        self, conversation_id: UUID, after_version: int = 0, limit: int = 100
    ) -> list[Any]:
        self._load(Conversation, conversation_id, shared=True)
        return list(self.events.get(conversation_id, gt=after_version, limit=limit))

    def global_events(self, after: int = 0, limit: int = 100) -> Iterator[tuple[int, Any]]:
        """The notification log from ``after`` (exclusive), decoded: (position, event)."""
        for notification in self.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        ):
            yield notification.id, self.mapper.to_domain_event(notification)

    # ------------------------------------------------------------------ handling
    def switch_channel(
        self,
        conversation_id: UUID,
        *,
        to: str,
        reason: str,
        actor: str,
        identity: Identity | None = None,
        may_add_identity: bool = True,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Move the case to another channel the customer can be reached on (or add one,
        which ``may_add_identity=False`` refuses unless the customer has it already)."""
        conversation = self._conversation(conversation_id, expected_version)
        now = self.clock()
        conversation.switch_channel(to=to, reason=reason, actor=actor, timestamp=now)
        customer = self.customer_of(conversation.customer_id)
        pending: list[Aggregate] = [conversation]
        if identity is not None and not may_add_identity:
            self._refuse_new_identity(customer, identity)
        if identity is not None:
            pending += [customer, *self._attach_identity(customer, identity, actor, now)]
        self._check_reachable(customer, to, field="identity")
        return self._save(
            *pending,
            claim=claim,
            expected_version=expected_version,
            response=self._outcome(conversation),
        )
