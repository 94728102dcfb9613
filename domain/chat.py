"""Web chat: messages arrive through the API with the widget's session id as the thread.

The first message of a session opens a case (its customer found by the e-mail address
the visitor gave, or a new, anonymous one); every later message of the session joins
it. The widget's backend fetches the case's chat replies and acknowledges each one it
showed (:meth:`~domain.deliveries.Deliveries.record_receipt`). When the visitor leaves,
the case goes on as any other: replies go by e-mail if the customer has an address.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from domain import values as v
from domain.conversation import Conversation
from domain.exceptions import (
    ConversationNotFoundError,
    InvalidTransitionError,
    InvalidValueError,
    VersionConflictError,
)
from domain.idempotency import Claim
from domain.inbound import ATTEMPTS, Inbound
from domain.outcome import Outcome
from domain.values import Identity, Origin

# Why a chat reply left unseen failed: the visitor was gone before the widget showed it.
LEFT_UNSEEN = "customer_left"


class Chat(Inbound):
    def receive_chat(
        self,
        session_id: str,
        *,
        body: str,
        actor: str,
        customer_name: str | None = None,
        email: str | None = None,
        external_id: str | None = None,
        published_at: datetime | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Record a visitor's chat message: the session's case, or a new one.

        The address the visitor gave with the session's first message decides its
        customer (as a mail's From does: the widget's backend vouches for it); one given
        later changes nothing, so no message can redirect where the replies go.
        """
        try:
            identity = Identity(v.IDENTITY_EMAIL, email) if email else None
        except ValueError as error:
            raise InvalidValueError(str(error), field="email") from None
        for attempt in range(ATTEMPTS):
            case = self.case_of_thread(v.CHAT, session_id)
            if case is not None:
                return self._continue_chat(
                    case, session_id, body=body, actor=actor, external_id=external_id,
                    published_at=published_at, claim=claim,
                )  # fmt: skip
            try:
                return self.open_conversation(
                    channel=v.CHAT, body=body, actor=actor, identity=identity,
                    customer_name=customer_name, external_id=external_id,
                    published_at=published_at,
                    origin=Origin(sender=identity, thread_id=session_id),
                    may_add_identity=False, anonymous=identity is None, claim=claim,
                )  # fmt: skip
            except VersionConflictError:
                # The session's first message twice at once: the other one opened it.
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _continue_chat(
        self,
        case: UUID,
        session_id: str,
        *,
        body: str,
        actor: str,
        external_id: str | None,
        published_at: datetime | None,
        claim: Claim | None,
    ) -> Outcome:
        if self._load(Conversation, case).chat_ended:
            raise InvalidTransitionError(
                f"chat session {session_id} ended: a new chat starts a new session",
                field="session_id",
            )
        return self.receive_message(
            case, channel=v.CHAT, body=body, actor=actor, external_id=external_id,
            published_at=published_at, origin=Origin(thread_id=session_id), claim=claim,
        )  # fmt: skip

    def chat_case(self, session_id: str) -> Conversation:
        case = self.case_of_thread(v.CHAT, session_id)
        if case is None:
            raise ConversationNotFoundError(f"no chat session {session_id}")
        return self._load(Conversation, case)

    def end_chat(
        self,
        session_id: str,
        *,
        actor: str,
        reason: str = "customer_left",
        claim: Claim | None = None,
    ) -> Outcome:
        """The visitor left: chat replies the widget never showed fail, saying so, so the
        agent sends them again (by e-mail, if the customer has an address)."""
        conversation = self.chat_case(session_id)
        now = self.clock()
        if not conversation.end_chat(reason=reason, actor=actor, timestamp=now):
            return self._unchanged(self._outcome(conversation)(), claim)
        for reply in list(conversation.replies.values()):
            if reply["channel"] == v.CHAT and reply["status"] == v.QUEUED:
                conversation.record_delivery_failure(
                    reply_id=reply["id"], attempt=int(reply["attempts"]), retryable=False,
                    code=LEFT_UNSEEN, actor=actor, timestamp=now,
                    reason="the customer left the chat before it was shown: send it again",
                )  # fmt: skip
        return self._save(conversation, claim=claim, response=self._outcome(conversation))
