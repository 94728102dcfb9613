"""Posting an incident's general update: once, as a reply is delivered once.

The same protocol as :mod:`workers.delivery`, on the incident's update instead of a
case's reply: a Redis lock per update; the attempt recorded before the channel is called
(``UpdateDispatched``), the outcome after (``UpdateDelivered`` / ``UpdateDeliveryFailed``);
after an attempt without an outcome, or an uncertain one, the brand's recent standalone
tweets are looked through for the update's text before anything is posted again; a
duplicate-content refusal is looked up too. X's rate limit is waited for without an
attempt (the channel's ``hold``), as replies' are.
"""

from __future__ import annotations

import logging
from datetime import timedelta
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
    UncertainError,
    held,
)
from workers.delivery import LOCK_SECONDS, MAX_ATTEMPTS, ReplyBusyError, Result, retry_time

log = logging.getLogger(__name__)

ACTOR = "system:delivery"


def outgoing_of_update(update: dict[str, Any]) -> Outgoing:
    """The update as the channel needs it: a post answering nobody, naming nobody."""
    return Outgoing(
        reply_id=str(update["id"]), channel=update["channel"], body=update["body"],
        in_reply_to=None, recipient=None, from_account=update["from_account"],
        queued_at=update["queued_at"],
    )  # fmt: skip


class UpdateDelivery:
    def __init__(
        self,
        app: Conversations,
        channels: dict[str, Channel],
        redis: Redis,
        *,
        attempt_seconds: float = LOCK_SECONDS,
    ) -> None:
        self.app, self.channels, self.redis = app, channels, redis
        self.attempt_seconds = attempt_seconds

    def run(self, incident_id: UUID, update_id: UUID) -> Result:
        lock = self.redis.lock(f"parley-posting-{update_id}", timeout=self.attempt_seconds)
        if not lock.acquire(blocking=False):
            raise ReplyBusyError(f"update {update_id} is being posted by another job")
        try:
            try:
                return self._attempt(incident_id, update_id)
            except (VersionConflictError, InvalidTransitionError) as error:
                raise ReplyBusyError(
                    f"update {update_id} changed under this job: {error}"
                ) from error
        finally:
            try:
                lock.release()
            except Exception:  # expired, or Redis went away: the next job decides
                log.warning("could not release the posting lock of update %s", update_id)

    def _attempt(self, incident_id: UUID, update_id: UUID) -> Result:
        app = self.app
        update = app.find_incident_update(incident_id, update_id)
        if update["status"] == v.DELIVERED:
            return Result("skipped", "delivered already")
        if update["status"] == v.FAILED:
            return Result("skipped", "failed; post another update")
        dispatched = update.get("dispatched_at")
        if (
            update["status"] == v.SENDING
            and dispatched is not None
            and app.clock() - dispatched < timedelta(seconds=self.attempt_seconds)
        ):
            raise ReplyBusyError(f"update {update_id}: an attempt started {dispatched}")
        outgoing = outgoing_of_update(update)
        channel = self.channels.get(outgoing.channel)
        attempt = int(update["attempts"])
        if channel is None:
            return self._refused(
                incident_id, update_id, attempt, "no_channel",
                f"no {outgoing.channel} channel is configured: set it up, then post again",
            )  # fmt: skip
        if update["status"] == v.SENDING or update["uncertain"]:
            try:
                found = self._look(incident_id, channel, outgoing)
            except UncertainError as error:
                return self._failed(incident_id, update_id, attempt, error)
            if found:
                return self._record(incident_id, update_id, attempt, found, found=True)
        if attempt >= MAX_ATTEMPTS:
            return self._refused(
                incident_id, update_id, attempt, "gave_up",
                f"{attempt} attempts failed (last: {update['last_error']}); post it again",
            )  # fmt: skip
        if (until := held(channel, outgoing)) is not None:
            app.record_incident_update_failure(
                incident_id, update_id=update_id, attempt=attempt, retryable=True,
                code="rate_limited", retry_at=until, actor=ACTOR,
                reason=f"held back: X's rate limit allows no more posts until {until.isoformat()}",
            )  # fmt: skip
            return Result("retry", "rate_limited")
        attempt += 1
        app.dispatch_incident_update(incident_id, update_id=update_id, attempt=attempt, actor=ACTOR)
        try:
            external_id = channel.send(outgoing)
        except DuplicateError as error:
            try:
                found = self._look(incident_id, channel, outgoing)
            except UncertainError as looked:
                return self._failed(incident_id, update_id, attempt, looked)
            if found:
                return self._record(incident_id, update_id, attempt, found, found=True)
            return self._failed(incident_id, update_id, attempt, error)
        except DeliveryError as error:
            return self._failed(incident_id, update_id, attempt, error)
        return self._record(incident_id, update_id, attempt, external_id, found=False)

    def _look(self, incident_id: UUID, channel: Channel, outgoing: Outgoing) -> str | None:
        """The tweet of this update if an earlier attempt posted it; never one recorded
        for another update of the incident."""

        def taken(external_id: str) -> bool:
            owner = self.app.incident_update_delivered_as(incident_id, external_id)
            return owner is not None and str(owner) != outgoing.reply_id

        return channel.find(outgoing, taken)

    def _record(
        self, incident_id: UUID, update_id: UUID, attempt: int, external_id: str, found: bool
    ) -> Result:
        for tries in range(5):  # only recording is retried on a race, never the post
            try:
                self.app.record_incident_update_delivery(
                    incident_id, update_id=update_id, external_id=external_id,
                    attempt=attempt, found=found, actor=ACTOR,
                )  # fmt: skip
                break
            except VersionConflictError:
                if tries == 4:
                    raise
        return Result("found" if found else "delivered", external_id)

    def _refused(
        self, incident_id: UUID, update_id: UUID, attempt: int, code: str, reason: str
    ) -> Result:
        self.app.record_incident_update_failure(
            incident_id, update_id=update_id, attempt=attempt, retryable=False, code=code,
            reason=reason, actor=ACTOR,
        )  # fmt: skip
        return Result("failed", code)

    def _failed(
        self, incident_id: UUID, update_id: UUID, attempt: int, error: DeliveryError
    ) -> Result:
        retry_at = retry_time(error, self.app.clock(), attempt)
        self.app.record_incident_update_failure(
            incident_id, update_id=update_id, reason=error.reason, attempt=attempt,
            retryable=error.retryable, code=error.code, retry_at=retry_at, actor=ACTOR,
        )  # fmt: skip
        return Result("retry" if error.retryable else "failed", error.code)
