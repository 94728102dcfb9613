"""Phone calls, logged on the case by the agent who made or took them.

A call is not delivered by anyone: it happened. Logging an outbound call answers the
customer (it counts as a response for the clock); an inbound call is the customer's
contact, answered as it was taken. Both stay in the case's history beside its messages.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from domain.awaiting import PUBLISHED_MAX_AGE
from domain.conversation import Conversation
from domain.customers import CustomerDirectory
from domain.exceptions import InvalidValueError
from domain.idempotency import Claim
from domain.outcome import Outcome


class Calls(CustomerDirectory):
    def log_call(
        self,
        conversation_id: UUID,
        *,
        direction: str,
        started_at: datetime,
        duration_seconds: int,
        summary: str,
        actor: str,
        agent: str | None = None,
        number: str | None = None,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Log a call on the case; ``agent`` defaults to whoever logs it."""
        conversation = self._load(Conversation, conversation_id)
        self._check_version(conversation, expected_version)
        self._check_not_erased(conversation.customer_id)
        now = self.clock()
        if started_at < now - PUBLISHED_MAX_AGE:
            raise InvalidValueError(
                f"a call is logged within {PUBLISHED_MAX_AGE.days} days of it", field="started_at"
            )
        call_id = uuid4()
        conversation.log_call(
            call_id=call_id, direction=direction, started_at=started_at,
            duration_seconds=duration_seconds, agent=agent or actor, summary=summary,
            number=number, actor=actor, timestamp=now,
        )  # fmt: skip
        return self._save(
            conversation, claim=claim, expected_version=expected_version,
            response=self._outcome(conversation, call_id=call_id),
        )  # fmt: skip
