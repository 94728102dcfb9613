"""API tokens and what each role may do.

A token is stored only as its SHA-256 hash; the aggregate's id is derived from that hash,
so a request's token is found with one read and no table scan. That id is also the
token's public id (``parley tokens list``, ``parley tokens revoke ID``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.indexes import key_id

ROLES = ("agent", "supervisor", "auditor", "ops", "integration")

# Permissions, by the name the edge asks for.
READ = "read"  # conversations, customers, read models
READ_NOTES = "read_notes"  # the bodies of private notes
READ_EVENTS = "read_events"  # the global log (audit)
WATCH = "watch"  # the live stream
OPEN = "open"  # open conversations, record inbound messages, register customers
HANDLE = "handle"  # reply, switch, assign, note, tag, resolve ...
MANAGE_IDENTITIES = "manage_identities"  # give an existing customer another identity
MERGE = "merge"  # merge / unmerge customers
ERASE = "erase"  # erase a customer's personal data (a right-to-erasure request)
OPERATE = "operate"  # ops endpoints
INGEST = "ingest"  # a channel's integration: raw e-mail in, chat widget traffic, receipts
MANAGE_SLA = "manage_sla"  # create, revise and retire SLA policies; apply one to a case again
MANAGE_CARE = "manage_care"  # the care policy: classifier, routing, canned responses
INCIDENTS = "incidents"  # declare outages, acknowledge and follow up their cases, post updates

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "agent": frozenset({READ, READ_NOTES, WATCH, OPEN, HANDLE, MANAGE_IDENTITIES}),
    "supervisor": frozenset(
        {READ, READ_NOTES, READ_EVENTS, WATCH, OPEN, HANDLE, MANAGE_IDENTITIES, MERGE, ERASE}
        | {MANAGE_SLA, MANAGE_CARE, INCIDENTS}
    ),
    "auditor": frozenset({READ, READ_EVENTS, WATCH}),
    "ops": frozenset({READ, READ_EVENTS, WATCH, OPERATE}),
    "integration": frozenset({READ, OPEN, INGEST}),
}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def may(role: str, permission: str) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def roles_with(permission: str) -> list[str]:
    """The roles granted ``permission``, in the order of ``ROLES``."""
    return [role for role in ROLES if may(role, permission)]


class ApiToken(Aggregate):
    TOPIC = "parley.ApiToken"

    class Created(Aggregate.Created):
        TOPIC = "parley.ApiToken.Created"

    class Issued(Aggregate.Created):
        TOPIC = "parley.ApiToken.Issued"
        class_version = 2
        token_hash: str
        name: str
        role: str
        expires_at: datetime | None
        actor: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 tokens never expired."""
            state["expires_at"] = None

    @staticmethod
    def create_id(token_hash: str) -> UUID:
        return key_id("token", token_hash)

    @event(Issued)
    def __init__(
        self,
        token_hash: str,
        name: str,
        role: str,
        expires_at: datetime | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.token_hash = token_hash
        self.name = name
        self.role = role
        self.expires_at = expires_at
        self.issued_by = actor
        self.issued_at = timestamp
        self.revoked = False
        self.revoked_at: datetime | None = None

    @property
    def principal(self) -> str:
        """The actor string this token's holder appears as on events."""
        return f"{self.role}:{self.name}"

    def live(self, now: datetime) -> bool:
        return not self.revoked and (self.expires_at is None or now < self.expires_at)

    def revoke(self, *, actor: str, timestamp: datetime) -> bool:
        if self.revoked:
            return False
        self._revoke(actor=actor, timestamp=timestamp)
        return True

    @event("Revoked", topic="parley.ApiToken.Revoked")
    def _revoke(self, actor: str, timestamp: datetime) -> None:
        self.revoked = True
        self.revoked_at = timestamp


class TokenRegistry(Aggregate):
    """Every token ever issued, by id: what ``parley tokens list`` walks.

    One aggregate with a fixed id (tokens are few and issued rarely); two issued at the
    same moment conflict on it and the loser retries.
    """

    TOPIC = "parley.TokenRegistry"

    class Created(Aggregate.Created):
        TOPIC = "parley.TokenRegistry.Created"

    @staticmethod
    def create_id() -> UUID:
        return key_id("registry", "tokens")

    @event("Started", topic="parley.TokenRegistry.Started")
    def __init__(self, actor: str, timestamp: datetime) -> None:
        self.token_ids: list[UUID] = []

    @event("Listed", topic="parley.TokenRegistry.Listed")
    def add(self, token_id: UUID, actor: str, timestamp: datetime) -> None:
        self.token_ids.append(token_id)
