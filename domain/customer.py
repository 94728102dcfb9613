"""The Customer aggregate: a person, and every identity they reach us by.

A merge joins two records of one person (the same customer wrote by e-mail and on X);
the absorbed record keeps its own identities and events, and only points at the one it
joined, so an unmerge restores exactly what the merge joined.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.exceptions import CustomerErasedError, InvalidValueError, MergeError
from domain.values import MAX_TAGS, Identity, identity_key


class Customer(Aggregate):
    TOPIC = "parley.Customer"

    class Event(Aggregate.Event):
        actor: str

    class Created(Event, Aggregate.Created):
        TOPIC = "parley.Customer.Created"

    @event("Registered", topic="parley.Customer.Registered")
    def __init__(
        self,
        name: str | None,
        identities: list[dict[str, Any]],
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.name = name
        self.identities: list[dict[str, Any]] = list(identities)
        self.registered_at = timestamp
        self.merged_into: UUID | None = None
        self.absorbed: list[UUID] = []
        self.erased_at: datetime | None = None
        self.tags: list[str] = []  # the team's labels (vip, press, ...): SLA rules read them

    def tag(self, *, tag: str, actor: str, timestamp: datetime) -> bool:
        if tag in self.tags:
            return False
        if len(self.tags) >= MAX_TAGS:
            raise InvalidValueError(f"a customer has at most {MAX_TAGS} tags", field="tags")
        self._tag(tag=tag, actor=actor, timestamp=timestamp)
        return True

    @event("Tagged", topic="parley.Customer.Tagged")
    def _tag(self, tag: str, actor: str, timestamp: datetime) -> None:
        self.tags.append(tag)

    def untag(self, *, tag: str, actor: str, timestamp: datetime) -> bool:
        if tag not in self.tags:
            return False
        self._untag(tag=tag, actor=actor, timestamp=timestamp)
        return True

    @event("Untagged", topic="parley.Customer.Untagged")
    def _untag(self, tag: str, actor: str, timestamp: datetime) -> None:
        self.tags.remove(tag)

    def has_identity(self, identity: Identity) -> bool:
        return any(identity_key(i["kind"], i["value"]) == identity.key for i in self.identities)

    def add_identity(self, *, identity: Identity, actor: str, timestamp: datetime) -> bool:
        if self.has_identity(identity):
            return False
        self._add_identity(identity=identity.as_dict(), actor=actor, timestamp=timestamp)
        return True

    @event("IdentityAdded", topic="parley.Customer.IdentityAdded")
    def _add_identity(self, identity: dict[str, Any], actor: str, timestamp: datetime) -> None:
        self.identities.append(identity)

    def merge_into(self, *, target: Customer, actor: str, timestamp: datetime) -> None:
        """Join this customer into ``target``: both aggregates record their side."""
        if target.id == self.id:
            raise MergeError("a customer cannot be merged into itself", field="target_id")
        if self.merged_into is not None:
            raise MergeError(f"{self.id} is merged into {self.merged_into} already")
        if target.merged_into is not None:
            raise MergeError(
                f"{target.id} is itself merged into {target.merged_into}: merge into that one",
                field="target_id",
            )
        if self.absorbed:
            raise MergeError(f"{self.id} has absorbed others: merge them the other way round")
        self._merge(target_id=target.id, actor=actor, timestamp=timestamp)
        target._absorb(source_id=self.id, actor=actor, timestamp=timestamp)

    @event("Merged", topic="parley.Customer.Merged")
    def _merge(self, target_id: UUID, actor: str, timestamp: datetime) -> None:
        self.merged_into = target_id

    @event("Absorbed", topic="parley.Customer.Absorbed")
    def _absorb(self, source_id: UUID, actor: str, timestamp: datetime) -> None:
        self.absorbed.append(source_id)

    def unmerge_from(self, *, target: Customer, actor: str, timestamp: datetime) -> None:
        if self.merged_into != target.id or self.id not in target.absorbed:
            raise MergeError(f"{self.id} is not merged into {target.id}")
        self._unmerge(target_id=target.id, actor=actor, timestamp=timestamp)
        target._release(source_id=self.id, actor=actor, timestamp=timestamp)

    @event("Unmerged", topic="parley.Customer.Unmerged")
    def _unmerge(self, target_id: UUID, actor: str, timestamp: datetime) -> None:
        self.merged_into = None

    @event("Released", topic="parley.Customer.Released")
    def _release(self, source_id: UUID, actor: str, timestamp: datetime) -> None:
        self.absorbed.remove(source_id)

    def check_not_erased(self) -> None:
        if self.erased_at is not None:
            raise CustomerErasedError(
                f"customer {self.id} was erased at {self.erased_at.isoformat()}"
            )

    @event("Erased", topic="parley.Customer.Erased")
    def erase(
        self,
        owners: list[UUID],
        conversation_ids: list[UUID],
        reference: str | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        """The customer's personal data is erased: the data keys of ``owners`` (this
        customer and those merged into it) are destroyed with this event, and the read
        models drop their copies of it for ``conversation_ids``. ``reference`` is the
        request's own reference (a ticket number), never personal data."""
        self.erased_at = timestamp
