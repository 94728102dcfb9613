"""Idempotency keys: a retried request gets the first answer and records nothing twice.

One protocol for every caller that can retry: the REST API's ``Idempotency-Key``, a
webhook's delivery id, a job's own key. The key is claimed in the same transaction as
the command's events, so a retry either finds the claim (and its answer) or the first
attempt wrote nothing at all. Claims are kept for a time to live (24 hours by default):
a request with a key claimed longer ago than that runs as a new request and claims the
key afresh (``Reclaimed``); the earlier claim stays in the log.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.indexes import key_id
from domain.outcome import Outcome
from domain.values import plain

MAX_KEY_LENGTH = 255


def fingerprint(operation: str, payload: Any, secret: bytes | None = None) -> str:
    """A hash of what was asked: the operation and its parsed arguments, canonically.

    Parsed, not raw: the same JSON with other whitespace or key order is the same request.
    Keyed (``secret``, HMAC-SHA256): a request's body can hold an address, and a plain
    hash stored in the log would let anyone with the store test a guess of it.
    """
    canonical = json.dumps([operation, plain(payload)], sort_keys=True, separators=(",", ":"))
    data = canonical.encode("utf-8", "surrogatepass")
    if secret is not None:
        return "hmac:" + hmac.new(secret, data, hashlib.sha256).hexdigest()
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class IdempotentRequest:
    """Who asked, with which key, for what (the fingerprint)."""

    principal: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Replay:
    """The answer recorded by the first request with this key."""

    response: dict[str, Any]
    changed: bool  # whether the first request changed anything (a no-op records its key too)
    claimed_at: datetime


class IdempotencyKey(Aggregate):
    TOPIC = "parley.IdempotencyKey"

    class Created(Aggregate.Created):
        TOPIC = "parley.IdempotencyKey.Created"

    class Claimed(Aggregate.Created):
        TOPIC = "parley.IdempotencyKey.Claimed"
        class_version = 2
        principal: str
        key: str
        fingerprint: str
        response: dict[str, Any]
        changed: bool
        actor: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 kept the HTTP status beside the response, and only claimed keys
            for commands that changed something."""
            status = state.pop("status", None)
            state["response"] = {"status": status, "body": state.get("response", {})}
            state["changed"] = True

    @staticmethod
    def create_id(principal: str, key: str) -> UUID:
        return key_id("idempotency", f"{principal}/{key}")

    @event(Claimed)
    def __init__(
        self,
        principal: str,
        key: str,
        fingerprint: str,
        response: dict[str, Any],
        changed: bool,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.principal = principal
        self.key = key
        self._claim(fingerprint, response, changed, timestamp)

    def _claim(
        self, fingerprint: str, response: dict[str, Any], changed: bool, timestamp: datetime
    ) -> None:
        self.fingerprint = fingerprint
        self.response = response
        self.changed = changed
        self.claimed_at = timestamp

    def expired(self, now: datetime, ttl: timedelta) -> bool:
        return now - self.claimed_at > ttl

    @event("Reclaimed", topic="parley.IdempotencyKey.Reclaimed")
    def reclaim(
        self,
        fingerprint: str,
        response: dict[str, Any],
        changed: bool,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self._claim(fingerprint, response, changed, timestamp)


@dataclass(frozen=True)
class Claim:
    """A request's key as a command saves it: new, or an expired claim taken afresh."""

    request: IdempotentRequest
    expired: IdempotencyKey | None = None
    # What to keep of the outcome as the answer to replay; default: the outcome itself.
    recorder: Callable[[Outcome], dict[str, Any]] | None = None

    def record(self, outcome: Outcome, *, changed: bool, now: datetime) -> IdempotencyKey:
        """The key aggregate, claimed for this request, holding its answer."""
        if self.recorder is not None:
            response = plain(self.recorder(outcome))
        else:
            response = {k: x for k, x in plain(outcome.as_dict()).items() if k != "position"}
        request = self.request
        if self.expired is not None:
            # A copy each time: a command that retries its save must not build on a
            # reclaim its failed save left applied to the loaded key.
            key = copy.deepcopy(self.expired)
            key.reclaim(
                fingerprint=request.fingerprint, response=response, changed=changed,
                actor=request.principal, timestamp=now,
            )  # fmt: skip
            return key
        return IdempotencyKey(
            principal=request.principal, key=request.key, fingerprint=request.fingerprint,
            response=response, changed=changed, actor=request.principal, timestamp=now,
        )  # fmt: skip
