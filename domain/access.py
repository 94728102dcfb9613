"""API tokens and what each role may do.

A token is stored only as its SHA-256 hash; the aggregate's id is derived from that hash,
so a request's token is found with one read and no table scan.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.indexes import key_id

ROLES = ("agent", "supervisor", "auditor", "ops", "integration")

# Permissions, by the name the HTTP edge asks for.
READ = "read"  # conversations, customers
READ_EVENTS = "read_events"  # the global log, histories (audit)
OPEN = "open"  # open conversations, record inbound messages
HANDLE = "handle"  # reply, switch, assign, note, tag, resolve ...
MERGE = "merge"  # merge / unmerge customers
OPERATE = "operate"  # ops endpoints

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "agent": frozenset({READ, OPEN, HANDLE}),
    "supervisor": frozenset({READ, READ_EVENTS, OPEN, HANDLE, MERGE}),
    "auditor": frozenset({READ, READ_EVENTS}),
    "ops": frozenset({READ, READ_EVENTS, OPERATE}),
    "integration": frozenset({READ, OPEN}),
}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def may(role: str, permission: str) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


class ApiToken(Aggregate):
    TOPIC = "parley.ApiToken"

    class Created(Aggregate.Created):
        TOPIC = "parley.ApiToken.Created"

    @staticmethod
    def create_id(token_hash: str) -> UUID:
        return key_id("token", token_hash)

    @event("Issued", topic="parley.ApiToken.Issued")
    def __init__(
        self, token_hash: str, name: str, role: str, actor: str, timestamp: datetime
    ) -> None:
        self.token_hash = token_hash
        self.name = name
        self.role = role
        self.issued_by = actor
        self.revoked = False

    @property
    def principal(self) -> str:
        """The actor string this token's holder appears as on events."""
        return f"{self.role}:{self.name}"

    def revoke(self, *, actor: str, timestamp: datetime) -> None:
        if not self.revoked:
            self._revoke(actor=actor, timestamp=timestamp)

    @event("Revoked", topic="parley.ApiToken.Revoked")
    def _revoke(self, actor: str, timestamp: datetime) -> None:
        self.revoked = True
