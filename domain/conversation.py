"""The Conversation aggregate: one customer case, across every channel it moves through.

Public methods check the rules and then call the ``@event`` methods. Only the ``@event``
bodies change state, and they run again on every load, so nothing in them may consult
the clock, make ids or raise on a rule: that all happens before, in the public method.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from domain import conversation_events as events
from domain import values as v
from domain.awaiting import Wait, customer_time
from domain.exceptions import (
    ConversationResolvedError,
    InvalidTransitionError,
    InvalidValueError,
    UnknownReplyError,
)
from domain.privacy import OWNER, SEALINGS
from domain.sla_terms import DEFAULT_POLICY_ID, DEFAULT_SPEC

MAX_REFERENCES = 20  # Message-IDs an e-mail reply's References carries at most
CALL_DIRECTIONS = ("inbound", "outbound")


class Conversation(Aggregate):
    TOPIC = "parley.Conversation"

    Event = events.Event
    Created = events.Created
    Opened = events.Opened
    MessageReceived = events.MessageReceived
    ReplyQueued = events.ReplyQueued
    ReplyDelivered = events.ReplyDelivered
    ReplyDeliveryFailed = events.ReplyDeliveryFailed
    ReplyBounced = events.ReplyBounced
    AutomatedMessageReceived = events.AutomatedMessageReceived
    CallLogged = events.CallLogged
    ChatEnded = events.ChatEnded
    DmReachRecorded = events.DmReachRecorded

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        """Every event with personal data names whose key seals it: the customer's."""
        super().trigger_event(event_class, **kwargs)
        if get_topic(event_class) in SEALINGS:
            # As text: one typed value fewer for the store's transcoder, on every load.
            object.__setattr__(self._pending_events[-1], OWNER, str(self.customer_id))

    # ------------------------------------------------------------------ opening
    @event(events.Opened)
    def __init__(
        self,
        customer_id: UUID,
        channel: str,
        public: bool,
        subject: str | None,
        message_id: UUID,
        external_id: str | None,
        body: str,
        published_at: datetime,
        observed_at: datetime,
        sender: dict[str, Any] | None,
        brand_account: str | None,
        thread_id: str | None,
        in_reply_to: str | None,
        actor: str,
        timestamp: datetime,
        details: dict[str, Any] | None = None,
        sla: dict[str, Any] | None = None,
    ) -> None:
        self.customer_id = customer_id
        self.sla_policy: dict[str, Any] | None = None  # None: opened before policies
        self.sla_breaches: list[dict[str, Any]] = []
        self.sla_warned: set[tuple[str, int]] = set()  # at-risk warnings, (metric, seq)
        if sla is not None:
            self._pin_sla(sla, reason="rules", timestamp=timestamp)
        self.origin_channel = channel
        self.origin_public = public
        self.current_channel = channel
        self.subject = subject
        self.status = v.OPEN
        self.opened_at = timestamp
        self.opened_by = actor
        self.assignee: str | None = None
        self.team: str | None = None
        self.priority = "none"
        self.tags: list[str] = []
        self.snoozed_until: datetime | None = None
        self.resolution: str | None = None
        self.resolved_at: datetime | None = None
        self.resolved_on: str | None = None  # the channel the case was on when resolved
        self.followed_up_at: datetime | None = None  # a public follow-up delivered since
        self.messages: list[dict[str, Any]] = []
        self.replies: dict[str, dict[str, Any]] = {}
        self.notes: list[dict[str, Any]] = []
        self.channel_history: list[dict[str, Any]] = [
            {"channel": channel, "since": timestamp, "reason": "opened"}
        ]
        self.external_ids: set[str] = set()
        self.calls: list[dict[str, Any]] = []
        self.automated: list[dict[str, Any]] = []
        self.bounces: set[str] = set()
        # The web chat session the case began in, and whether the customer left it.
        self.chat_session: str | None = thread_id if channel == v.CHAT else None
        self.chat_ended = False
        # Whether an X DM can reach the customer: None until the case first moves to DM.
        self.dm_reach: dict[str, Any] | None = None
        self.mail_ids: list[str] = []  # the case's e-mails, theirs and ours, in event order
        self.wait = Wait()
        # The care policy's word on the case: each message's classification (by message
        # id) and the routing rule that last set its team or priority.
        self.classifications: dict[str, dict[str, Any]] = {}
        self.routed: dict[str, Any] | None = None
        self._add_message(
            message_id=message_id, channel=channel, external_id=external_id, body=body,
            public=public, published_at=published_at, observed_at=observed_at, sender=sender,
            brand_account=brand_account, thread_id=thread_id, in_reply_to=in_reply_to,
            details=details,
        )  # fmt: skip

    # ------------------------------------------------------------------ inbound
    def receive_message(
        self,
        *,
        message_id: UUID,
        channel: str,
        external_id: str | None,
        body: str,
        published_at: datetime,
        actor: str,
        timestamp: datetime,
        origin: v.Origin = v.Origin(),
        details: dict[str, Any] | None = None,
    ) -> bool:
        """Record a customer's message. A resolved conversation is reopened first.

        Returns False (and records nothing) when the channel's external id was seen already.
        """
        v.check_in(channel, v.CHANNELS, "channel")
        if external_id is not None and f"{channel}:{external_id}" in self.external_ids:
            return False
        if self.status == v.RESOLVED:
            self._reopen(reason="customer_message", actor=actor, timestamp=timestamp)
        self._receive_message(
            message_id=message_id,
            channel=channel,
            external_id=external_id,
            body=body,
            public=v.is_public(channel),
            published_at=published_at,
            observed_at=timestamp,
            **origin.as_fields(),
            details=details,
            actor=actor,
            timestamp=timestamp,
        )
        return True

    @event(events.MessageReceived)
    def _receive_message(
        self,
        message_id: UUID,
        channel: str,
        external_id: str | None,
        body: str,
        public: bool,
        published_at: datetime,
        observed_at: datetime,
        sender: dict[str, Any] | None,
        brand_account: str | None,
        thread_id: str | None,
        in_reply_to: str | None,
        actor: str,
        timestamp: datetime,
        details: dict[str, Any] | None = None,
    ) -> None:
        self._add_message(
            message_id=message_id, channel=channel, external_id=external_id, body=body,
            public=public, published_at=published_at, observed_at=observed_at, sender=sender,
            brand_account=brand_account, thread_id=thread_id, in_reply_to=in_reply_to,
            details=details,
        )  # fmt: skip
        if self.status == v.SNOOZED:  # a customer writing wakes a snoozed case
            self.status = v.OPEN
            self.snoozed_until = None

    def _add_message(self, **message: Any) -> None:
        """Keep an inbound message: its fields are those of ``Opened``/``MessageReceived``."""
        if message["external_id"] is not None:
            self.external_ids.add(f"{message['channel']}:{message['external_id']}")
            if message["channel"] == v.EMAIL:
                self.mail_ids.append(str(message["external_id"]))
        self.wait = self.wait.message(
            customer_time(message["published_at"], message["observed_at"])
        )
        self.messages.append({"id": message.pop("message_id"), **message})

    # ------------------------------------------------------------------ replies
    def queue_reply(
        self,
        *,
        reply_id: UUID,
        kind: str,
        body: str,
        channel: str | None,
        actor: str,
        timestamp: datetime,
        recipient: dict[str, Any] | None = None,
        from_account: str | None = None,
    ) -> None:
        """Record an agent's intent to reply, and its target; a worker delivers it.

        The target is decided now, so the log says whom we wrote to and why: the latest
        message the customer sent on that channel (the tweet a public reply answers),
        the ``recipient`` the application chose and the brand account it leaves from.
        """
        v.check_in(kind, v.REPLY_KINDS, "kind")
        if self.status == v.RESOLVED:
            channel = self._follow_up_channel(kind, channel)
        channel = channel or self.current_channel
        if channel not in (self.current_channel, self.origin_channel):
            raise InvalidValueError(
                f"a reply goes out on the current channel ({self.current_channel}) or where "
                f"the case began ({self.origin_channel}), not {channel}",
                field="channel",
            )
        if channel == v.CHAT and self.chat_ended:
            raise InvalidTransitionError(
                "the customer left the chat: reply by e-mail (or call them)", field="channel"
            )
        email = channel == v.EMAIL
        self._queue_reply(
            reply_id=reply_id, author=actor, channel=channel, public=v.is_public(channel),
            kind=kind, body=body, in_reply_to=self.last_external_id(channel),
            recipient=recipient, from_account=from_account,
            subject=self.reply_subject() if email else None,
            references=self.mail_thread() if email else [],
            actor=actor, timestamp=timestamp,
        )  # fmt: skip

    def _follow_up_channel(self, kind: str, channel: str | None) -> str:
        """A resolved case takes one kind of reply: a ``follow_up`` where it began (the
        care guidance: resolve in private, then follow up in public), without reopening."""
        if kind != "follow_up":
            raise ConversationResolvedError(
                "the conversation is resolved: reopen it first, or send a follow_up where"
                f" it began ({self.origin_channel})",
                field="status",
            )
        if channel not in (None, self.origin_channel):
            raise InvalidValueError(
                f"a follow-up on a resolved case goes where it began ({self.origin_channel})",
                field="channel",
            )
        return self.origin_channel

    @property
    def follow_up_owed(self) -> bool:
        """Whether the case began in public, was resolved elsewhere, and no public
        follow-up has been delivered where it began since."""
        return (
            self.status == v.RESOLVED
            and self.origin_public
            and self.resolved_on != self.origin_channel
            and self.followed_up_at is None
        )

    def reply_subject(self) -> str:
        """An e-mail reply's Subject: ``Re:`` the case's (one ``Re:``, never ``Re: Re:``)."""
        subject = " ".join((self.subject or "").split())
        if not subject:
            return "Re: your message"
        return subject if subject.lower().startswith("re:") else f"Re: {subject}"

    def mail_thread(self) -> list[str]:
        """The Message-IDs an e-mail reply's References carry, oldest first: the thread's
        root as the customer's client named it, then every mail of the case (theirs, and
        our delivered replies) in the order recorded. Long threads keep the root and the
        latest (RFC 5322)."""
        ids = list(self.mail_ids)
        root = next(
            (m["thread_id"] for m in self.messages if m["channel"] == v.EMAIL and m["thread_id"]),
            None,
        )
        if root is not None:
            ids.insert(0, str(root))
        unique = list(dict.fromkeys(ids))
        return (
            unique
            if len(unique) <= MAX_REFERENCES
            else [unique[0], *unique[-(MAX_REFERENCES - 1) :]]
        )

    def last_external_id(self, channel: str) -> str | None:
        """The channel's id of the customer's latest message on ``channel``, if any."""
        for message in reversed(self.messages):
            if message["channel"] == channel and message["external_id"] is not None:
                return str(message["external_id"])
        return None

    def last_sender(self, kind: str) -> dict[str, Any] | None:
        """The identity of ``kind`` that wrote the customer's latest message, if any."""
        for message in reversed(self.messages):
            if (message.get("sender") or {}).get("kind") == kind:
                return dict(message["sender"])
        return None

    @event(events.ReplyQueued)
    def _queue_reply(
        self,
        reply_id: UUID,
        author: str,
        channel: str,
        public: bool,
        kind: str,
        body: str,
        in_reply_to: str | None,
        recipient: dict[str, Any] | None,
        from_account: str | None,
        actor: str,
        timestamp: datetime,
        subject: str | None = None,
        references: list[str] | None = None,
    ) -> None:
        self.wait = self.wait.reply()
        self.replies[str(reply_id)] = {
            "id": reply_id, "author": author, "channel": channel, "public": public,
            "kind": kind, "body": body, "in_reply_to": in_reply_to, "recipient": recipient,
            "from_account": from_account, "subject": subject,
            "references": list(references or []), "queued_at": timestamp, "status": v.QUEUED,
            "external_id": None, "delivered_at": None, "attempts": 0, "last_error": None,
            "failure_code": None, "retry_at": None, "uncertain": False, "retries": 0,
            "dispatched_at": None, "budget_from": 0,
        }  # fmt: skip

    def _reply(self, reply_id: UUID) -> dict[str, Any]:
        try:
            return self.replies[str(reply_id)]
        except KeyError:
            raise UnknownReplyError(f"no reply {reply_id} in this conversation") from None

    def dispatch_reply(
        self, *, reply_id: UUID, attempt: int, actor: str, timestamp: datetime
    ) -> None:
        """Record that a delivery attempt starts, before the channel is called.

        After a crash between the channel accepting the post and the outcome being
        recorded, the next attempt finds this one unanswered (``uncertain``) and looks on
        the channel before posting again. Attempts are numbered: two workers racing for
        one reply cannot both record the same attempt.
        """
        reply = self._reply(reply_id)
        if reply["status"] in (v.DELIVERED, v.FAILED):
            raise InvalidTransitionError(f"reply {reply_id} is {reply['status']}")
        if attempt != reply["attempts"] + 1:
            raise InvalidTransitionError(
                f"attempt {attempt} of reply {reply_id}: {reply['attempts']} were made already"
            )
        self._dispatch_reply(reply_id=reply_id, attempt=attempt, actor=actor, timestamp=timestamp)

    @event("ReplyDispatched", topic="parley.Conversation.ReplyDispatched")
    def _dispatch_reply(
        self, reply_id: UUID, attempt: int, actor: str, timestamp: datetime
    ) -> None:
        reply = self.replies[str(reply_id)]
        reply.update(
            status=v.SENDING, attempts=attempt, uncertain=True, retry_at=None,
            dispatched_at=timestamp,
        )  # fmt: skip

    def record_delivery(
        self,
        *,
        reply_id: UUID,
        external_id: str,
        actor: str,
        timestamp: datetime,
        attempt: int | None = None,
        found: bool = False,
    ) -> bool:
        """Record that a reply reached its channel. A repeat with the same id is a no-op."""
        reply = self._reply(reply_id)
        if reply["status"] == v.DELIVERED:
            if reply["external_id"] == external_id:
                return False
            raise InvalidTransitionError(
                f"reply {reply_id} was delivered already as {reply['external_id']}"
            )
        self._deliver_reply(
            reply_id=reply_id, external_id=external_id, attempt=attempt, found=found,
            actor=actor, timestamp=timestamp,
        )  # fmt: skip
        return True

    @event(events.ReplyDelivered)
    def _deliver_reply(
        self,
        reply_id: UUID,
        external_id: str,
        attempt: int | None,
        found: bool,
        actor: str,
        timestamp: datetime,
    ) -> None:
        reply = self.replies[str(reply_id)]
        reply.update(
            status=v.DELIVERED, external_id=external_id, delivered_at=timestamp,
            uncertain=False, retry_at=None,
        )  # fmt: skip
        if reply["channel"] == v.EMAIL:
            self.mail_ids.append(external_id)
        if (
            reply["kind"] == "follow_up" and reply["channel"] == self.origin_channel
            and self.status == v.RESOLVED
        ):  # fmt: skip
            self.followed_up_at = timestamp

    def record_delivery_failure(
        self,
        *,
        reply_id: UUID,
        reason: str,
        attempt: int,
        retryable: bool,
        actor: str,
        timestamp: datetime,
        code: str = "unknown",
        retry_at: datetime | None = None,
    ) -> None:
        """Record a failed attempt: retryable ones are tried again at ``retry_at``; an
        ``uncertain`` code (a timeout, a 5xx after sending) makes the next one look first."""
        v.check_in(code, v.FAILURE_CODES, "code")
        if self._reply(reply_id)["status"] == v.DELIVERED:
            raise InvalidTransitionError(f"reply {reply_id} was delivered already")
        self._fail_reply(
            reply_id=reply_id, reason=reason, attempt=attempt, retryable=retryable, code=code,
            retry_at=retry_at if retryable else None, actor=actor, timestamp=timestamp,
        )  # fmt: skip
        if code == "recipient_not_following":  # X refused the DM: the agent sees why
            self.record_dm_reach(
                receives_dms=False, follows_brand=False, source="delivery", actor=actor,
                timestamp=timestamp,
            )  # fmt: skip

    @event(events.ReplyDeliveryFailed)
    def _fail_reply(
        self,
        reply_id: UUID,
        reason: str,
        attempt: int,
        retryable: bool,
        code: str,
        retry_at: datetime | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        reply = self.replies[str(reply_id)]
        reply.update(
            status=v.QUEUED if retryable else v.FAILED,
            attempts=max(attempt, reply["attempts"]),
            last_error=reason,
            failure_code=code,
            retry_at=retry_at,
            # A failure that never reached the channel keeps what was known before it.
            uncertain=code == "uncertain" or (reply["uncertain"] and code in v.OFF_CHANNEL),
        )

    def request_redelivery(self, *, reply_id: UUID, actor: str, timestamp: datetime) -> None:
        """An operator asks for a reply to be tried again: a failed one (the fault is
        fixed), or one left waiting (queued or sending) that no job is working on."""
        reply = self._reply(reply_id)
        if reply["status"] == v.DELIVERED:
            raise InvalidTransitionError(f"reply {reply_id} was delivered already")
        self._request_redelivery(reply_id=reply_id, actor=actor, timestamp=timestamp)

    @event("RedeliveryRequested", topic="parley.Conversation.RedeliveryRequested")
    def _request_redelivery(self, reply_id: UUID, actor: str, timestamp: datetime) -> None:
        reply = self.replies[str(reply_id)]
        # A new budget of attempts starts from here; an uncertain last attempt stays so.
        reply.update(
            status=v.QUEUED, retries=reply["retries"] + 1, retry_at=None,
            budget_from=reply["attempts"],
        )  # fmt: skip

    def record_bounce(
        self,
        *,
        reply_id: UUID,
        reason: str,
        status: str | None,
        bounce_id: str,
        actor: str,
        timestamp: datetime,
    ) -> bool:
        """A delivered e-mail reply came back: it failed after all. False for a repeat."""
        reply = self._reply(reply_id)
        if bounce_id in self.bounces:
            return False
        if reply["channel"] != v.EMAIL:
            raise InvalidTransitionError(f"reply {reply_id} did not go by e-mail")
        self._bounce_reply(
            reply_id=reply_id, reason=reason, status=status, bounce_id=bounce_id, actor=actor,
            timestamp=timestamp,
        )  # fmt: skip
        return True

    @event(events.ReplyBounced)
    def _bounce_reply(
        self,
        reply_id: UUID,
        reason: str,
        status: str | None,
        bounce_id: str,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.bounces.add(bounce_id)
        self.replies[str(reply_id)].update(
            status=v.FAILED, failure_code="bounced", last_error=reason, retry_at=None,
            uncertain=False,
        )  # fmt: skip

    # ------------------------------------------------------------------ automated mail
    def receive_automated(
        self,
        *,
        message_id: UUID,
        channel: str,
        kind: str,
        external_id: str,
        body: str,
        sender: dict[str, Any] | None,
        published_at: datetime,
        details: dict[str, Any] | None,
        actor: str,
        timestamp: datetime,
    ) -> bool:
        """Keep an auto-reply or bounce on the case's record; False if seen before."""
        v.check_in(kind, v.AUTOMATED_KINDS, "kind")
        if f"{channel}:{external_id}" in self.external_ids:
            return False
        self._receive_automated(
            message_id=message_id, channel=channel, kind=kind, external_id=external_id,
            body=body, sender=sender, published_at=published_at, details=details, actor=actor,
            timestamp=timestamp,
        )  # fmt: skip
        return True

    @event(events.AutomatedMessageReceived)
    def _receive_automated(
        self,
        message_id: UUID,
        channel: str,
        kind: str,
        external_id: str,
        body: str,
        sender: dict[str, Any] | None,
        published_at: datetime,
        details: dict[str, Any] | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.external_ids.add(f"{channel}:{external_id}")
        self.automated.append(
            {"id": message_id, "channel": channel, "kind": kind, "external_id": external_id,
             "body": body, "sender": sender, "published_at": published_at,
             "observed_at": timestamp, "details": details}
        )  # fmt: skip

    # ------------------------------------------------------------------ phone
    def log_call(
        self,
        *,
        call_id: UUID,
        direction: str,
        started_at: datetime,
        duration_seconds: int,
        agent: str | None,
        summary: str,
        number: str | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        """Log a phone call. An inbound call on a resolved case reopens it (the customer
        came back); an outbound one is a fact recorded as it happened."""
        v.check_in(direction, CALL_DIRECTIONS, "direction")
        if duration_seconds < 0:
            raise InvalidValueError("a call lasts zero seconds or more", field="duration_seconds")
        if started_at > timestamp:
            raise InvalidValueError("a call is logged after it started", field="started_at")
        if direction == "inbound" and self.status == v.RESOLVED:
            self._reopen(reason="customer_call", actor=actor, timestamp=timestamp)
        self._log_call(
            call_id=call_id, direction=direction, started_at=started_at,
            duration_seconds=duration_seconds, agent=agent, summary=summary, number=number,
            actor=actor, timestamp=timestamp,
        )  # fmt: skip

    @event(events.CallLogged)
    def _log_call(
        self,
        call_id: UUID,
        direction: str,
        started_at: datetime,
        duration_seconds: int,
        agent: str | None,
        summary: str,
        number: str | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.calls.append(
            {"id": call_id, "direction": direction, "started_at": started_at,
             "duration_seconds": duration_seconds, "agent": agent, "summary": summary,
             "number": number, "logged_by": actor, "logged_at": timestamp}
        )  # fmt: skip
        if direction == "inbound":  # the customer called: they spoke, and were heard
            self.wait = self.wait.message(min(started_at, timestamp))
            if self.status == v.SNOOZED:
                self.status = v.OPEN
                self.snoozed_until = None
        self.wait = self.wait.reply()

    # ------------------------------------------------------------------ web chat
    def end_chat(self, *, reason: str, actor: str, timestamp: datetime) -> bool:
        """The customer left the chat; a repeat is a no-op."""
        if self.chat_session is None:
            raise InvalidTransitionError("the conversation did not begin in a web chat")
        if self.chat_ended:
            return False
        self._end_chat(
            session_id=self.chat_session, reason=reason, actor=actor, timestamp=timestamp
        )
        return True

    @event(events.ChatEnded)
    def _end_chat(self, session_id: str, reason: str, actor: str, timestamp: datetime) -> None:
        self.chat_ended = True

    # ------------------------------------------------------------------ channel
    def switch_channel(self, *, to: str, reason: str, actor: str, timestamp: datetime) -> None:
        """Move the case to another channel. The application checks the customer's identity."""
        self._check_not_resolved()
        v.check_in(to, v.CHANNELS, "channel")
        if to == self.current_channel:
            raise InvalidTransitionError(f"the conversation is on {to} already", field="channel")
        self._switch_channel(
            from_channel=self.current_channel,
            to_channel=to,
            reason=reason,
            actor=actor,
            timestamp=timestamp,
        )
        if to == v.X_DM:  # what the DM needs of the customer, on record with the move
            known = self.dm_reach or {}
            self._record_dm_reach(
                requirement=v.DM_REQUIREMENT, receives_dms=known.get("receives_dms"),
                follows_brand=known.get("follows_brand"), source="switch", actor=actor,
                timestamp=timestamp,
            )  # fmt: skip

    @event("ChannelSwitched", topic="parley.Conversation.ChannelSwitched")
    def _switch_channel(
        self, from_channel: str, to_channel: str, reason: str, actor: str, timestamp: datetime
    ) -> None:
        self.current_channel = to_channel
        self.channel_history.append({"channel": to_channel, "since": timestamp, "reason": reason})

    def record_dm_reach(
        self,
        *,
        receives_dms: bool | None,
        follows_brand: bool | None,
        source: str,
        actor: str,
        timestamp: datetime,
    ) -> bool:
        """What X says of whether a DM reaches the customer; False (nothing recorded)
        when it says what is on record already."""
        v.check_in(source, v.DM_REACH_SOURCES, "source")
        known = self.dm_reach or {}
        if (
            known.get("receives_dms") == receives_dms
            and known.get("follows_brand") == follows_brand
            and known.get("source") == source
        ):
            return False
        self._record_dm_reach(
            requirement=v.DM_REQUIREMENT, receives_dms=receives_dms,
            follows_brand=follows_brand, source=source, actor=actor, timestamp=timestamp,
        )  # fmt: skip
        return True

    @event(events.DmReachRecorded)
    def _record_dm_reach(
        self,
        requirement: str,
        receives_dms: bool | None,
        follows_brand: bool | None,
        source: str,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.dm_reach = {
            "requirement": requirement, "receives_dms": receives_dms,
            "follows_brand": follows_brand, "source": source, "recorded_at": timestamp,
        }  # fmt: skip

    # ------------------------------------------------------------------ triage
    def assign(
        self, *, agent: str | None, team: str | None, actor: str, timestamp: datetime
    ) -> bool:
        if agent is None and team is None:
            raise InvalidValueError("name an agent, a team or both", field="agent")
        if (agent or self.assignee) == self.assignee and (team or self.team) == self.team:
            return False
        self._assign(agent=agent, team=team, actor=actor, timestamp=timestamp)
        return True

    @event("Assigned", topic="parley.Conversation.Assigned")
    def _assign(self, agent: str | None, team: str | None, actor: str, timestamp: datetime) -> None:
        if agent is not None:
            self.assignee = agent
        if team is not None:
            self.team = team

    def unassign(self, *, agent: bool, team: bool, actor: str, timestamp: datetime) -> bool:
        agent = agent and self.assignee is not None
        team = team and self.team is not None
        if not (agent or team):
            return False
        self._unassign(agent=agent, team=team, actor=actor, timestamp=timestamp)
        return True

    @event("Unassigned", topic="parley.Conversation.Unassigned")
    def _unassign(self, agent: bool, team: bool, actor: str, timestamp: datetime) -> None:
        if agent:
            self.assignee = None
        if team:
            self.team = None

    def add_note(self, *, note_id: UUID, body: str, actor: str, timestamp: datetime) -> None:
        self._add_note(note_id=note_id, body=body, actor=actor, timestamp=timestamp)

    @event("NoteAdded", topic="parley.Conversation.NoteAdded")
    def _add_note(self, note_id: UUID, body: str, actor: str, timestamp: datetime) -> None:
        self.notes.append({"id": note_id, "author": actor, "body": body, "added_at": timestamp})

    def tag(self, *, tag: str, actor: str, timestamp: datetime) -> bool:
        if tag in self.tags:
            return False
        if len(self.tags) >= v.MAX_TAGS:
            raise InvalidValueError(f"a conversation has at most {v.MAX_TAGS} tags", field="tags")
        self._tag(tag=tag, actor=actor, timestamp=timestamp)
        return True

    @event("Tagged", topic="parley.Conversation.Tagged")
    def _tag(self, tag: str, actor: str, timestamp: datetime) -> None:
        self.tags.append(tag)

    def untag(self, *, tag: str, actor: str, timestamp: datetime) -> bool:
        if tag not in self.tags:
            return False
        self._untag(tag=tag, actor=actor, timestamp=timestamp)
        return True

    @event("Untagged", topic="parley.Conversation.Untagged")
    def _untag(self, tag: str, actor: str, timestamp: datetime) -> None:
        self.tags.remove(tag)

    def change_priority(self, *, priority: str, actor: str, timestamp: datetime) -> bool:
        v.check_in(priority, v.PRIORITIES, "priority")
        if priority == self.priority:
            return False
        self._change_priority(priority=priority, actor=actor, timestamp=timestamp)
        return True

    @event("PriorityChanged", topic="parley.Conversation.PriorityChanged")
    def _change_priority(self, priority: str, actor: str, timestamp: datetime) -> None:
        self.priority = priority

    def snooze(self, *, until: datetime, actor: str, timestamp: datetime) -> None:
        self._check_not_resolved()
        if until <= timestamp:
            raise InvalidValueError("snooze until a moment in the future", field="until")
        self._snooze(until=until, actor=actor, timestamp=timestamp)

    @event("Snoozed", topic="parley.Conversation.Snoozed")
    def _snooze(self, until: datetime, actor: str, timestamp: datetime) -> None:
        self.status = v.SNOOZED
        self.snoozed_until = until

    def unsnooze(self, *, actor: str, timestamp: datetime) -> bool:
        if self.status != v.SNOOZED:
            return False
        self._unsnooze(actor=actor, timestamp=timestamp)
        return True

    @event("Unsnoozed", topic="parley.Conversation.Unsnoozed")
    def _unsnooze(self, actor: str, timestamp: datetime) -> None:
        self.status = v.OPEN
        self.snoozed_until = None

    # ------------------------------------------------------------------ care policy
    def classify_message(
        self,
        *,
        message_id: UUID,
        label: str,
        rule: str | None,
        position: int | None,
        policy_version: int,
        actor: str,
        timestamp: datetime,
    ) -> None:
        """Record what the care policy's classifier made of a message (``rule`` None:
        no rule matched, the classifier's default label)."""
        if str(message_id) not in {str(m["id"]) for m in self.messages}:
            raise InvalidValueError(f"no message {message_id} in this case", field="message_id")
        self._classify(
            message_id=message_id, label=label, rule=rule, position=position,
            policy_version=policy_version, actor=actor, timestamp=timestamp,
        )  # fmt: skip

    @event("MessageClassified", topic="parley.Conversation.MessageClassified")
    def _classify(
        self,
        message_id: UUID,
        label: str,
        rule: str | None,
        position: int | None,
        policy_version: int,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.classifications[str(message_id)] = {
            "label": label, "rule": rule, "position": position,
            "policy_version": policy_version, "classified_at": timestamp,
        }  # fmt: skip

    def route(
        self,
        *,
        message_id: UUID,
        rule: str,
        position: int,
        policy_version: int,
        team: str | None,
        priority: str | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        """Record that a routing rule matched a message, and what it set: the team and
        priority themselves change by the usual events (``Assigned``,
        ``PriorityChanged``), by the same actor, right after this one."""
        self._route(
            message_id=message_id, rule=rule, position=position,
            policy_version=policy_version, team=team, priority=priority, actor=actor,
            timestamp=timestamp,
        )  # fmt: skip
        if team is not None:
            self.assign(agent=None, team=team, actor=actor, timestamp=timestamp)
        if priority is not None:
            self.change_priority(priority=priority, actor=actor, timestamp=timestamp)

    @event("Routed", topic="parley.Conversation.Routed")
    def _route(
        self,
        message_id: UUID,
        rule: str,
        position: int,
        policy_version: int,
        team: str | None,
        priority: str | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.routed = {
            "message_id": message_id, "rule": rule, "position": position,
            "policy_version": policy_version, "team": team, "priority": priority,
            "routed_at": timestamp,
        }  # fmt: skip

    # ------------------------------------------------------------------ SLA
    def apply_sla(
        self,
        *,
        policy_id: str,
        policy_version: int,
        policy_name: str,
        terms: dict[str, Any],
        reason: str,
        actor: str,
        timestamp: datetime,
    ) -> None:
        """Pin what the case is promised (``reason``: ``rules`` when its clock starts,
        ``reapplied`` when a supervisor applies a policy again)."""
        self._apply_sla(
            policy_id=policy_id, policy_version=policy_version, policy_name=policy_name,
            terms=terms, reason=reason, actor=actor, timestamp=timestamp,
        )  # fmt: skip

    @event("SlaApplied", topic="parley.Conversation.SlaApplied")
    def _apply_sla(
        self,
        policy_id: str,
        policy_version: int,
        policy_name: str,
        terms: dict[str, Any],
        reason: str,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self._pin_sla(
            {"policy_id": policy_id, "policy_version": policy_version,
             "policy_name": policy_name, "terms": terms},
            reason=reason, timestamp=timestamp,
        )  # fmt: skip

    def _pin_sla(self, sla: dict[str, Any], *, reason: str, timestamp: datetime) -> None:
        self.sla_policy = {
            "id": sla["policy_id"], "version": sla["policy_version"],
            "name": sla["policy_name"], "applied_at": timestamp, "reason": reason,
        }  # fmt: skip
        self.sla_terms = sla["terms"]

    def record_sla_breach(
        self, *, metric: str, seq: int, deadline: datetime, actor: str, timestamp: datetime
    ) -> bool:
        """Record that ``metric`` (wait number ``seq``) missed ``deadline``; False if that
        breach is on record already (another worker found it first)."""
        if any((b["metric"], b["seq"]) == (metric, seq) for b in self.sla_breaches):
            return False
        policy = self.sla_policy_or_default
        self._breach(
            metric=metric, seq=seq, deadline=deadline, detected_at=timestamp,
            policy_id=policy["id"], policy_version=policy["version"], actor=actor,
            timestamp=timestamp,
        )  # fmt: skip
        return True

    @event("SlaBreached", topic="parley.Conversation.SlaBreached")
    def _breach(
        self,
        metric: str,
        seq: int,
        deadline: datetime,
        detected_at: datetime,
        policy_id: str,
        policy_version: int,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.sla_breaches.append(
            {"metric": metric, "seq": seq, "deadline": deadline, "detected_at": detected_at}
        )

    def record_sla_at_risk(
        self, *, metric: str, seq: int, at: datetime, deadline: datetime, actor: str,
        timestamp: datetime,
    ) -> bool:  # fmt: skip
        """Record that ``metric`` (wait ``seq``) is at risk since ``at``; False if known."""
        if (metric, seq) in self.sla_warned:
            return False
        self._at_risk(
            metric=metric, seq=seq, at=at, deadline=deadline, actor=actor, timestamp=timestamp
        )
        return True

    @event("SlaAtRisk", topic="parley.Conversation.SlaAtRisk")
    def _at_risk(
        self, metric: str, seq: int, at: datetime, deadline: datetime, actor: str,
        timestamp: datetime,
    ) -> None:  # fmt: skip
        self.sla_warned.add((metric, seq))

    @property
    def sla_policy_or_default(self) -> dict[str, Any]:
        """The policy pinned on the case; cases opened before policies, the built-in one."""
        return self.sla_policy or {
            "id": DEFAULT_POLICY_ID, "version": 0, "name": DEFAULT_SPEC.name,
            "applied_at": None, "reason": "built-in",
        }  # fmt: skip

    # ------------------------------------------------------------------ closing
    def resolve(self, *, resolution: str, actor: str, timestamp: datetime) -> None:
        v.check_in(resolution, v.RESOLUTION_CODES, "resolution")
        if self.status == v.RESOLVED:
            raise InvalidTransitionError("the conversation is resolved already")
        self._resolve(resolution=resolution, actor=actor, timestamp=timestamp)

    @event("Resolved", topic="parley.Conversation.Resolved")
    def _resolve(self, resolution: str, actor: str, timestamp: datetime) -> None:
        self.status = v.RESOLVED
        self.resolution = resolution
        self.resolved_at = timestamp
        self.snoozed_until = None
        self.resolved_on = self.current_channel
        self.followed_up_at = None

    def reopen(self, *, reason: str, actor: str, timestamp: datetime) -> None:
        if self.status != v.RESOLVED:
            raise InvalidTransitionError("only a resolved conversation can be reopened")
        self._reopen(reason=reason, actor=actor, timestamp=timestamp)

    @event("Reopened", topic="parley.Conversation.Reopened")
    def _reopen(self, reason: str, actor: str, timestamp: datetime) -> None:
        self.status = v.OPEN
        self.resolution = None
        self.resolved_at = None

    # ------------------------------------------------------------------ guards
    def _check_not_resolved(self) -> None:
        if self.status == v.RESOLVED:
            raise ConversationResolvedError(
                "the conversation is resolved: reopen it first", field="status"
            )

    @property
    def awaiting(self) -> str:
        """What the case waits for: ``acknowledgement``, ``reply`` or ``nothing``."""
        return self.wait.awaiting(self.status)

    @property
    def waiting_since(self) -> datetime | None:
        """Since when the customer waits unanswered (their time), if they do."""
        return self.wait.waiting_since(self.status)
