"""E-mail no person wrote: out-of-office answers, list notices, delivery reports.

They are kept on the case whose thread they answer, for the record, but they neither
reopen it nor stop its clock (an auto-reply is not the customer speaking). One not
answering a known case is dropped. A bounce of one of our replies marks it failed
(:meth:`~domain.deliveries.Deliveries.record_bounce`).
"""

from __future__ import annotations

from uuid import uuid4

from domain.awaiting import customer_time
from domain.conversation import Conversation
from domain.idempotency import Claim
from domain.inbound import Contact, Inbound
from domain.outcome import Outcome


class Mail(Inbound):
    def receive_automated(
        self, contact: Contact, kind: str, claim: Claim | None = None
    ) -> Outcome | None:
        """Keep an automated message on the case it answers; None if it answers none."""
        case = self._thread_of(contact)
        if case is None:
            return None
        conversation = self._load(Conversation, case)
        now = self.clock()
        message_id = uuid4()
        published = customer_time(contact.published_at or now, now)
        recorded = conversation.receive_automated(
            message_id=message_id, channel=contact.channel, kind=kind,
            external_id=contact.external_id, body=contact.body,
            sender=contact.sender.as_dict(), published_at=published, details=contact.details,
            actor=contact.actor, timestamp=now,
        )  # fmt: skip
        extra = {"created": recorded, "message_id": message_id if recorded else None}
        if not recorded:
            return self._unchanged(self._outcome(conversation, **extra)(), claim)
        return self._save(conversation, claim=claim, response=self._outcome(conversation, **extra))
