"""Idempotency keys: a retried request returns the first response and records nothing twice.

The key is claimed in the same transaction as the command's events, so a retry either
finds the claim (and its response) or the first attempt wrote nothing at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.indexes import key_id


class IdempotencyKey(Aggregate):
    TOPIC = "parley.IdempotencyKey"

    class Created(Aggregate.Created):
        TOPIC = "parley.IdempotencyKey.Created"

    @staticmethod
    def create_id(principal: str, key: str) -> UUID:
        return key_id("idempotency", f"{principal}/{key}")

    @event("Claimed", topic="parley.IdempotencyKey.Claimed")
    def __init__(
        self,
        principal: str,
        key: str,
        fingerprint: str,
        status: int,
        response: dict[str, Any],
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.principal = principal
        self.key = key
        self.fingerprint = fingerprint
        self.status = status
        self.response = response
