"""Delivering one reply: at least once, with exactly one effect on the channel.

The log is the durable record keyed by the reply: before the channel is called the
attempt is recorded (``ReplyDispatched``), after it the outcome. A job that finds an
attempt without an outcome (its work-horse was killed after the post, say), or whose
last attempt ended uncertain (a timeout, a 5xx), asks the channel whether the reply is
there before posting again. A Redis lock keeps two jobs for one reply from working at
the same moment; the attempt numbers in the log keep them apart if the lock expires.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from redis import Redis

from domain import values as v
from domain.application import Conversations
from domain.exceptions import InvalidTransitionError, VersionConflictError
from workers.channels.base import (
    Channel,
    DeliveryError,
    DuplicateError,
    Outgoing,
    RateLimitedError,
    UncertainError,
)

log = logging.getLogger(__name__)

ACTOR = "system:delivery"
MAX_ATTEMPTS = 8
# Longer than an attempt takes (a look and a post, 10 s timeout each); a job whose
# work-horse was killed holds the lock no longer than this.
LOCK_SECONDS = 45
BACKOFF = (5, 15, 60, 120, 300, 600)  # seconds before retryable attempt n + 1


class ReplyBusyError(Exception):
    """Another job is delivering this reply right now: this one runs again later."""


@dataclass(frozen=True)
class Result:
    outcome: str  # delivered, found, failed, retry, skipped
    detail: str = ""


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=BACKOFF[min(attempt, len(BACKOFF)) - 1])


def outgoing_of(reply: dict[str, Any]) -> Outgoing:
    return Outgoing(
        reply_id=str(reply["id"]), channel=reply["channel"], body=reply["body"],
        in_reply_to=reply["in_reply_to"], recipient=reply["recipient"],
        from_account=reply["from_account"], queued_at=reply["queued_at"],
    )  # fmt: skip


class Delivery:
    def __init__(self, app: Conversations, channels: dict[str, Channel], redis: Redis) -> None:
        self.app, self.channels, self.redis = app, channels, redis

    def run(self, conversation_id: UUID, reply_id: UUID) -> Result:
        lock = self.redis.lock(f"parley-delivering-{reply_id}", timeout=LOCK_SECONDS)
        if not lock.acquire(blocking=False):
            raise ReplyBusyError(f"reply {reply_id} is being delivered by another job")
        try:
            for _ in range(3):  # lost a race on the conversation: look again
                try:
                    return self._attempt(conversation_id, reply_id)
                except (VersionConflictError, InvalidTransitionError) as error:
                    log.info("reply %s: %s; looking again", reply_id, error)
            raise ReplyBusyError(f"reply {reply_id} kept changing under this job")
        finally:
            try:
                lock.release()
            except Exception:  # expired, or Redis went away: the next job decides
                log.warning("could not release the delivery lock of reply %s", reply_id)

    def _attempt(self, conversation_id: UUID, reply_id: UUID) -> Result:
        app = self.app
        reply = app.find_reply(conversation_id, reply_id)
        if reply["status"] == v.DELIVERED:
            return Result("skipped", "delivered already")
        if reply["status"] == v.FAILED:
            return Result("skipped", "failed; waiting for an operator's retry")
        outgoing = outgoing_of(reply)
        channel = self.channels.get(outgoing.channel)
        attempt = int(reply["attempts"])
        if channel is None:
            app.record_delivery_failure(
                conversation_id, reply_id=reply_id, attempt=attempt, retryable=False,
                code="no_channel", actor=ACTOR,
                reason=f"no {outgoing.channel} channel is configured: set it up, then retry",
            )  # fmt: skip
            return Result("failed", "no_channel")
        if (reply["status"] == v.SENDING or reply["uncertain"]) and (
            found := self._look(channel, outgoing)
        ):
            return self._found(conversation_id, reply_id, attempt, found)
        if attempt >= MAX_ATTEMPTS:
            app.record_delivery_failure(
                conversation_id, reply_id=reply_id, attempt=attempt, retryable=False,
                code="gave_up", actor=ACTOR,
                reason=f"{attempt} attempts failed (last: {reply['last_error']}); retry it",
            )  # fmt: skip
            return Result("failed", "gave_up")
        attempt += 1
        app.dispatch_reply(conversation_id, reply_id=reply_id, attempt=attempt, actor=ACTOR)
        try:
            external_id = channel.send(outgoing)
        except DuplicateError as error:
            # Maybe an attempt this job does not know of posted it: look once more.
            if found := self._look(channel, outgoing):
                return self._found(conversation_id, reply_id, attempt, found)
            return self._failed(conversation_id, reply_id, attempt, error)
        except DeliveryError as error:
            return self._failed(conversation_id, reply_id, attempt, error)
        app.record_delivery(
            conversation_id, reply_id=reply_id, external_id=external_id, attempt=attempt,
            actor=ACTOR,
        )  # fmt: skip
        return Result("delivered", external_id)

    def _found(self, conversation_id: UUID, reply_id: UUID, attempt: int, found: str) -> Result:
        """An earlier attempt had posted it: record that, and post nothing."""
        self.app.record_delivery(
            conversation_id, reply_id=reply_id, external_id=found, attempt=attempt, found=True,
            actor=ACTOR,
        )  # fmt: skip
        return Result("found", found)

    def _look(self, channel: Channel, outgoing: Outgoing) -> str | None:
        try:
            return channel.find(outgoing)
        except UncertainError as error:
            # Cannot tell: do not post blind; try again later (the job is retried).
            raise ReplyBusyError(f"could not look before posting again: {error}") from error

    def _failed(
        self, conversation_id: UUID, reply_id: UUID, attempt: int, error: DeliveryError
    ) -> Result:
        retry_at: datetime | None = None
        if error.retryable:
            retry_at = (
                error.reset_at
                if isinstance(error, RateLimitedError)
                else self.app.clock() + backoff(attempt)
            )
        self.app.record_delivery_failure(
            conversation_id, reply_id=reply_id, reason=error.reason, attempt=attempt,
            retryable=error.retryable, code=error.code, retry_at=retry_at, actor=ACTOR,
        )  # fmt: skip
        return Result("retry" if error.retryable else "failed", error.code)
