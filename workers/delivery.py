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
    held,
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


def retry_time(error: DeliveryError, now: datetime, attempt: int) -> datetime | None:
    """When a failed attempt is tried again: at the channel's rate-limit reset, after the
    backoff, or never (a permanent failure)."""
    if not error.retryable:
        return None
    return error.reset_at if isinstance(error, RateLimitedError) else now + backoff(attempt)


def outgoing_of(reply: dict[str, Any]) -> Outgoing:
    return Outgoing(
        reply_id=str(reply["id"]), channel=reply["channel"], body=reply["body"],
        in_reply_to=reply["in_reply_to"], recipient=reply["recipient"],
        from_account=reply["from_account"], queued_at=reply["queued_at"],
        subject=reply.get("subject"), references=tuple(reply.get("references") or ()),
    )  # fmt: skip


class Delivery:
    def __init__(
        self,
        app: Conversations,
        channels: dict[str, Channel],
        redis: Redis,
        *,
        attempt_seconds: float = LOCK_SECONDS,
    ) -> None:
        self.app, self.channels, self.redis = app, channels, redis
        self.attempt_seconds = attempt_seconds  # the longest an attempt may be in flight

    def run(self, conversation_id: UUID, reply_id: UUID) -> Result:
        lock = self.redis.lock(f"parley-delivering-{reply_id}", timeout=self.attempt_seconds)
        if not lock.acquire(blocking=False):
            raise ReplyBusyError(f"reply {reply_id} is being delivered by another job")
        try:
            try:
                return self._attempt(conversation_id, reply_id)
            except (VersionConflictError, InvalidTransitionError) as error:
                # Someone else moved the reply on first (another job's attempt): never
                # go on to post; the job runs again later and reads where it stands.
                raise ReplyBusyError(f"reply {reply_id} changed under this job: {error}") from error
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
        if reply["customer_erased"]:
            return self._refused(
                conversation_id, reply_id, int(reply["attempts"]), "customer_erased",
                "the customer's personal data was erased before the reply went out",
            )  # fmt: skip
        dispatched = reply.get("dispatched_at")
        if (
            reply["status"] == v.SENDING
            and dispatched is not None
            and (app.clock() - dispatched < timedelta(seconds=self.attempt_seconds))
        ):
            # An attempt started moments ago may still be in flight (its lock lost):
            # looking now could miss its post, and posting again would double it.
            raise ReplyBusyError(f"reply {reply_id}: an attempt started {dispatched}")
        outgoing = outgoing_of(reply)
        channel = self.channels.get(outgoing.channel)
        attempt = int(reply["attempts"])
        if channel is None:
            return self._refused(
                conversation_id, reply_id, attempt, "no_channel",
                f"no {outgoing.channel} channel is configured: set it up, then retry",
            )  # fmt: skip
        if reply["status"] == v.SENDING or reply["uncertain"]:
            try:
                found = self._look(channel, outgoing)
            except UncertainError as error:  # cannot tell: never post blind; later
                return self._failed(conversation_id, reply_id, attempt, error)
            if found:
                return self._found(conversation_id, reply_id, attempt, found)
        if attempt - int(reply.get("budget_from") or 0) >= MAX_ATTEMPTS:
            return self._refused(
                conversation_id, reply_id, attempt, "gave_up",
                f"{attempt} attempts failed (last: {reply['last_error']}); retry it",
            )  # fmt: skip
        if (until := held(channel, outgoing)) is not None:
            return self._held(conversation_id, reply_id, attempt, until)
        attempt += 1
        app.dispatch_reply(conversation_id, reply_id=reply_id, attempt=attempt, actor=ACTOR)
        try:
            external_id = channel.send(outgoing)
        except DuplicateError as error:
            # Maybe an attempt this job does not know of posted it: look once more.
            try:
                found = self._look(channel, outgoing)
            except UncertainError as looked:
                return self._failed(conversation_id, reply_id, attempt, looked)
            if found:
                return self._found(conversation_id, reply_id, attempt, found)
            return self._failed(conversation_id, reply_id, attempt, error)
        except DeliveryError as error:
            return self._failed(conversation_id, reply_id, attempt, error)
        self._record(conversation_id, reply_id, attempt, external_id, found=False)
        return Result("delivered", external_id)

    def _record(
        self, conversation_id: UUID, reply_id: UUID, attempt: int, external_id: str, found: bool
    ) -> None:
        """Record the outcome of a post that happened: only this step is retried on a
        race (someone tagged the case meanwhile), never the post."""
        for tries in range(5):
            try:
                self.app.record_delivery(
                    conversation_id, reply_id=reply_id, external_id=external_id,
                    attempt=attempt, found=found, actor=ACTOR,
                )  # fmt: skip
                return
            except VersionConflictError:
                if tries == 4:
                    raise

    def _held(self, conversation_id: UUID, reply_id: UUID, attempt: int, until: datetime) -> Result:
        """The channel's rate limit is spent until ``until``: wait for it without an
        attempt (nothing is sent, so no attempt of the budget is used up)."""
        self.app.record_delivery_failure(
            conversation_id, reply_id=reply_id, attempt=attempt, retryable=True,
            code="rate_limited", retry_at=until, actor=ACTOR,
            reason=f"held back: the channel's rate limit allows no more until {until.isoformat()}",
        )  # fmt: skip
        return Result("retry", "rate_limited")

    def _found(self, conversation_id: UUID, reply_id: UUID, attempt: int, found: str) -> Result:
        """An earlier attempt had posted it: record that, and post nothing."""
        self._record(conversation_id, reply_id, attempt, found, found=True)
        return Result("found", found)

    def _refused(
        self, conversation_id: UUID, reply_id: UUID, attempt: int, code: str, reason: str
    ) -> Result:
        """A failure decided without calling the channel."""
        self.app.record_delivery_failure(
            conversation_id, reply_id=reply_id, attempt=attempt, retryable=False, code=code,
            reason=reason, actor=ACTOR,
        )  # fmt: skip
        return Result("failed", code)

    def _look(self, channel: Channel, outgoing: Outgoing) -> str | None:
        """The channel's id of this reply if posted before; never one that another reply
        was recorded as (the same text, answering the same message, sent twice)."""

        def taken(external_id: str) -> bool:
            owner = self.app.delivered_as(outgoing.channel, external_id)
            return owner is not None and str(owner) != outgoing.reply_id

        return channel.find(outgoing, taken)

    def _failed(
        self, conversation_id: UUID, reply_id: UUID, attempt: int, error: DeliveryError
    ) -> Result:
        retry_at = retry_time(error, self.app.clock(), attempt)
        self.app.record_delivery_failure(
            conversation_id, reply_id=reply_id, reason=error.reason, attempt=attempt,
            retryable=error.retryable, code=error.code, retry_at=retry_at, actor=ACTOR,
        )  # fmt: skip
        return Result("retry" if error.retryable else "failed", error.code)
