"""Reply use cases: queue a reply with its target, and record every delivery attempt.

Intent and outcome are separate events (``ReplyQueued``; ``ReplyDispatched`` before the
channel is called; ``ReplyDelivered`` or ``ReplyDeliveryFailed`` after). Workers call
these use cases; they never build events themselves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from domain import values as v
from domain.conversation import Conversation
from domain.customers import CustomerDirectory
from domain.exceptions import ChannelIdentityMissingError, InvalidTransitionError, InvalidValueError
from domain.idempotency import Claim
from domain.indexes import OutboundIndex
from domain.outcome import Outcome


class Deliveries(CustomerDirectory):
    def queue_reply(
        self,
        conversation_id: UUID,
        *,
        kind: str,
        body: str,
        actor: str,
        channel: str | None = None,
        invite_to_dm: bool = False,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Queue an agent's reply; the target (recipient, brand account, the message it
        answers) is decided now and recorded with it. ``invite_to_dm`` appends the
        invitation to follow the brand and DM it (a public acknowledgement only)."""
        conversation = self._load(Conversation, conversation_id)
        self._check_version(conversation, expected_version)
        if invite_to_dm:
            body = _with_dm_invitation(conversation, kind, channel, body)
        reply_id = self._queue_on(conversation, kind=kind, body=body, actor=actor, channel=channel)
        reply = conversation.replies[str(reply_id)]
        extra = {"reply_id": reply_id, "channel": reply["channel"], "public": reply["public"]}
        return self._save(
            conversation, claim=claim, expected_version=expected_version,
            response=self._outcome(conversation, **extra),
        )  # fmt: skip

    def _queue_on(
        self,
        conversation: Conversation,
        *,
        kind: str,
        body: str,
        actor: str,
        channel: str | None = None,
    ) -> UUID:
        """Queue a reply on a loaded conversation (saved by the caller): its target is
        decided now. The reply's id."""
        self._check_not_erased(conversation.customer_id)
        reply_id = uuid4()
        on = channel or conversation.current_channel
        if channel is None and kind == "follow_up" and conversation.status == v.RESOLVED:
            on = conversation.origin_channel  # where a resolved case's follow-up goes
        if on == v.PHONE:
            raise InvalidValueError(
                "a reply cannot go out by phone: call the customer and log the call "
                "(POST /v1/conversations/{id}/calls), or reply on another channel",
                field="channel",
            )
        if on == v.CHAT and conversation.chat_ended:
            on = self._after_chat(conversation, actor)
            channel = on
        conversation.queue_reply(
            reply_id=reply_id, kind=kind, body=body, channel=channel,
            recipient=self._recipient(conversation, on),
            from_account=self.accounts.get(on), actor=actor, timestamp=self.clock(),
        )  # fmt: skip
        return reply_id

    def _after_chat(self, conversation: Conversation, actor: str) -> str:
        """The customer left the chat: the case moves to e-mail if they have an address;
        otherwise the agent is told the reply cannot be delivered."""
        customer = self.customer_of(conversation.customer_id)
        if not any(i["kind"] == v.IDENTITY_EMAIL for i in self.identities_of(customer)):
            raise ChannelIdentityMissingError(
                "the customer left the chat and has no e-mail address to reply to: add one "
                "(POST /v1/customers/{id}/identities), or call them",
                field="channel",
            )
        if conversation.current_channel != v.EMAIL:
            conversation.switch_channel(
                to=v.EMAIL, reason="chat_ended", actor=actor, timestamp=self.clock()
            )
        return v.EMAIL

    def _recipient(self, conversation: Conversation, channel: str) -> dict[str, Any] | None:
        """Whom a reply on ``channel`` reaches: the identity that wrote last on a channel of
        that kind, else the customer's own identity of that kind (none for chat or API)."""
        kind = v.CHANNEL_IDENTITY_KIND[channel]
        if kind is None:
            return None
        if (sender := conversation.last_sender(kind)) is not None:
            return sender
        customer = self.customer_of(conversation.customer_id)
        return next((dict(i) for i in self.identities_of(customer) if i["kind"] == kind), None)

    def dm_recipient(self, conversation_id: UUID) -> str | None:
        """The X account id a DM on this case would go to (None: the customer has none)."""
        conversation = self._load(Conversation, conversation_id)
        return (self._recipient(conversation, v.X_DM) or {}).get("value")

    def record_dm_reach(
        self,
        conversation_id: UUID,
        *,
        receives_dms: bool | None,
        follows_brand: bool | None,
        actor: str,
    ) -> Outcome:
        """What X said of whether the brand's DM reaches the customer."""
        conversation = self._load(Conversation, conversation_id)
        conversation.record_dm_reach(
            receives_dms=receives_dms, follows_brand=follows_brand, source="x",
            actor=actor, timestamp=self.clock(),
        )  # fmt: skip
        return self._save(conversation, response=self._outcome(conversation))

    def find_reply(self, conversation_id: UUID, reply_id: UUID) -> dict[str, Any]:
        """The reply as recorded, and whether its customer was erased since (then it
        must never go out: its text and recipient are gone)."""
        conversation = self._load(Conversation, conversation_id)
        reply = dict(conversation._reply(reply_id))
        reply["customer_erased"] = self.is_erased(conversation.customer_id)
        return reply

    def delivered_as(self, channel: str, external_id: str) -> UUID | None:
        """The reply a channel's id was recorded for, if any (the outbound index)."""
        try:
            index: OutboundIndex = self.repository.get(
                OutboundIndex.create_id(channel, external_id)
            )
        except AggregateNotFoundError:
            return None
        return UUID(str(index.reply_id))

    def dispatch_reply(
        self, conversation_id: UUID, *, reply_id: UUID, attempt: int, actor: str
    ) -> Outcome:
        """Record that attempt ``attempt`` starts, before the channel is called."""
        conversation = self._load(Conversation, conversation_id)
        conversation.dispatch_reply(
            reply_id=reply_id, attempt=attempt, actor=actor, timestamp=self.clock()
        )
        return self._save(conversation, response=self._outcome(conversation))

    def record_delivery(
        self,
        conversation_id: UUID,
        *,
        reply_id: UUID,
        external_id: str,
        actor: str,
        attempt: int | None = None,
        found: bool = False,
    ) -> Outcome:
        """Record that a reply reached its channel as ``external_id``, and index that id
        so an answer to it lands in this case. A repeat is a no-op."""
        conversation = self._load(Conversation, conversation_id)
        now = self.clock()
        changed = conversation.record_delivery(
            reply_id=reply_id, external_id=external_id, actor=actor, timestamp=now,
            attempt=attempt, found=found,
        )  # fmt: skip
        channel = conversation.replies[str(reply_id)]["channel"]
        # A reply sent again after a bounce is the same mail (its Message-ID comes from the
        # reply), already indexed by its first delivery.
        indexed = self.delivered_as(channel, external_id) is not None
        index = [
            OutboundIndex(
                channel=channel, external_id=external_id, conversation_id=conversation.id,
                reply_id=reply_id, actor=actor, timestamp=now,
            )
        ] if changed and not indexed else []  # fmt: skip
        return self._save(conversation, *index, response=self._outcome(conversation))

    def record_delivery_failure(
        self,
        conversation_id: UUID,
        *,
        reply_id: UUID,
        reason: str,
        attempt: int,
        retryable: bool,
        actor: str,
        code: str = "unknown",
        retry_at: datetime | None = None,
    ) -> Outcome:
        conversation = self._load(Conversation, conversation_id)
        conversation.record_delivery_failure(
            reply_id=reply_id, reason=reason, attempt=attempt, retryable=retryable,
            code=code, retry_at=retry_at, actor=actor, timestamp=self.clock(),
        )  # fmt: skip
        return self._save(conversation, response=self._outcome(conversation))

    def request_redelivery(
        self,
        conversation_id: UUID,
        *,
        reply_id: UUID,
        actor: str,
        claim: Claim | None = None,
    ) -> Outcome:
        """Try a failed reply again (an operator fixed the cause)."""
        conversation = self._load(Conversation, conversation_id)
        conversation.request_redelivery(reply_id=reply_id, actor=actor, timestamp=self.clock())
        extra = {"reply_id": reply_id}
        return self._save(conversation, claim=claim, response=self._outcome(conversation, **extra))

    def record_receipt(
        self,
        conversation_id: UUID,
        *,
        reply_id: UUID,
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """The integration that shows a chat or API reply says it reached the customer's
        screen; a repeat is a no-op. X and e-mail replies are recorded by the workers."""
        conversation = self._load(Conversation, conversation_id)
        self._check_version(conversation, expected_version)
        self._check_not_erased(conversation.customer_id)  # its text is gone: never shown
        reply = conversation._reply(reply_id)
        if reply["channel"] not in v.PULLED_CHANNELS:
            raise InvalidTransitionError(
                f"a {reply['channel']} reply is delivered by Parley's workers, not by a receipt",
                field="reply_id",
            )
        conversation.record_delivery(
            reply_id=reply_id, external_id=f"{reply['channel']}:{reply_id}", actor=actor,
            timestamp=self.clock(),
        )  # fmt: skip
        return self._save(
            conversation, claim=claim, expected_version=expected_version,
            response=self._outcome(conversation, reply_id=reply_id),
        )  # fmt: skip

    def record_bounce(
        self,
        *,
        message_id: str,
        reason: str,
        status: str | None,
        bounce_id: str,
        actor: str,
        recipient: str | None = None,
    ) -> Outcome | None:
        """A bounce of the e-mail we sent as ``message_id`` marks that reply failed; None
        when no reply was sent as it (a bounce of someone else's mail), or when the bounce
        names another recipient (a forwarding hop's, say): it does not say ours failed."""
        reply_id = self.delivered_as(v.EMAIL, message_id)
        if reply_id is None:
            return None
        index: OutboundIndex = self.repository.get(OutboundIndex.create_id(v.EMAIL, message_id))
        conversation = self._load(Conversation, UUID(str(index.conversation_id)))
        ours = (conversation._reply(reply_id).get("recipient") or {}).get("value")
        if recipient is not None and ours is not None and not _same_address(recipient, ours):
            return None
        changed = conversation.record_bounce(
            reply_id=reply_id, reason=reason, status=status, bounce_id=bounce_id, actor=actor,
            timestamp=self.clock(),
        )  # fmt: skip
        extra = {"reply_id": reply_id, "created": changed}
        if not changed:
            return Outcome(conversation.id, conversation.version, None, extra)
        return self._save(conversation, response=self._outcome(conversation, **extra))


def _with_dm_invitation(
    conversation: Conversation, kind: str, channel: str | None, body: str
) -> str:
    """The care guidance's public acknowledgement: answer in public, invite the customer
    to follow the brand and DM it, because X delivers a brand's DM to followers only."""
    on = channel or conversation.current_channel
    if kind != "acknowledgement" or on != v.X_PUBLIC:
        raise InvalidValueError(
            "only a public acknowledgement on X invites the customer to DM", field="invite_to_dm"
        )
    text = f"{body.rstrip()} {v.DM_INVITATION}"
    if len(text) > v.TWEET_LIMIT:
        raise InvalidValueError(
            f"with the DM invitation the tweet is {len(text)} characters; X takes"
            f" {v.TWEET_LIMIT}: shorten the body to {v.TWEET_LIMIT - len(v.DM_INVITATION) - 1}",
            field="body",
        )
    return text


def _same_address(a: str, b: str) -> bool:
    return v.identity_key(v.IDENTITY_EMAIL, a) == v.identity_key(v.IDENTITY_EMAIL, b)
