"""Customer use cases: finding a customer by identity, registering, merging, unmerging.

A mixin of the one application (:class:`domain.application.Conversations`), kept apart
so each module stays about one noun.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain import values as v
from domain.access import MANAGE_IDENTITIES
from domain.customer import Customer
from domain.exceptions import (
    ChannelIdentityMissingError,
    IdentityTakenError,
    InvalidValueError,
    MergeError,
    NotPermittedError,
)
from domain.idempotency import Claim
from domain.indexes import IdentityIndex
from domain.outcome import Outcome
from domain.service import Service
from domain.values import Identity


class CustomerDirectory(Service):
    """Customers, their identities and merges."""

    # ------------------------------------------------------------------ reading
    def get_customer(self, customer_id: UUID) -> Customer:
        return self._load(Customer, customer_id)

    def customer_of(self, customer_id: UUID) -> Customer:
        """The customer who now stands for ``customer_id``, following merges."""
        customer = self.get_customer(customer_id)
        while customer.merged_into is not None:
            customer = self.get_customer(customer.merged_into)
        return customer

    def identities_of(self, customer: Customer) -> list[dict[str, Any]]:
        """A customer's identities and those of every record merged into it."""
        identities = list(customer.identities)
        for absorbed in customer.absorbed:
            identities += self.identities_of(self.get_customer(absorbed))
        return identities

    def find_customer(self, identity: Identity) -> Customer | None:
        return self._owner_of(identity.key)[0]

    def _owner_of(self, key: str) -> tuple[Customer | None, int]:
        """The customer ``key`` belongs to (or None), and the generation a new entry for it
        would take: one lookup for a contact that finds no customer and claims the key."""
        index, generation = self._identity_entries(key)
        if index is None or index.customer_id is None:
            return None, generation
        return self.customer_of(index.customer_id), generation

    def _identity_index(self, key: str) -> IdentityIndex | None:
        """The entry giving ``key`` to a customer now, if any."""
        return self._identity_entries(key)[0]

    def _identity_entries(self, key: str) -> tuple[IdentityIndex | None, int]:
        """The live entry of an identity (or None), and the generation a new one takes.

        The plain uuid5 id of a store written before keyed ids is read first; then the
        keyed ids, generation by generation, past entries of erased customers."""
        legacy = self._get_index(IdentityIndex.create_id(key))
        if legacy is not None and legacy.customer_id is not None:
            return legacy, 0
        generation = 0
        while (
            index := self._get_index(IdentityIndex.keyed_id(self.index_secret, key, generation))
        ) is not None:
            if index.customer_id is not None:
                return index, generation
            generation += 1
        return None, generation

    def _get_index(self, index_id: UUID) -> IdentityIndex | None:
        try:
            index: IdentityIndex = self.repository.get(index_id)
        except AggregateNotFoundError:
            return None
        return index

    def _claim_identity(
        self, key: str, customer: Customer, actor: str, now: datetime,
        generation: int | None = None,
    ) -> IdentityIndex:  # fmt: skip
        """A new index entry giving ``key`` to ``customer``, of the next free generation
        (so a race for it is a conflict on creating one aggregate); ``generation``: that
        generation, when the caller has just looked the key up."""
        if generation is None:
            _, generation = self._identity_entries(key)
        return IdentityIndex.claim(
            self.index_secret, key=key, generation=generation, customer_id=customer.id,
            actor=actor, timestamp=now,
        )  # fmt: skip

    # ------------------------------------------------------------------ writing
    def _resolve_customer(
        self,
        customer_id: UUID | None,
        identity: Identity | None,
        name: str | None,
        actor: str,
        now: datetime,
        *,
        may_add_identity: bool = True,
        anonymous: bool = False,
    ) -> tuple[Customer, list[Aggregate]]:
        """The customer a contact comes from, and any new index entries to save with it;
        ``anonymous`` makes one with no identity (a web chat visitor who gave none)."""
        if customer_id is not None:
            customer = self.customer_of(customer_id)
            customer.check_not_erased()
            if identity is None:
                return customer, []
            if not may_add_identity:
                self._refuse_new_identity(customer, identity)
            return customer, self._attach_identity(customer, identity, actor, now)
        if identity is None and anonymous:
            return Customer(name=name, identities=[], actor=actor, timestamp=now), []
        if identity is None:
            raise InvalidValueError("name the customer: customer_id or identity", field="customer")
        found, generation = self._owner_of(identity.key)
        if found is not None:
            return found, []
        customer = Customer(name=name, identities=[identity.as_dict()], actor=actor, timestamp=now)
        return customer, [self._claim_identity(identity.key, customer, actor, now, generation)]

    def _attach_identity(
        self, customer: Customer, identity: Identity, actor: str, now: datetime
    ) -> list[Aggregate]:
        """Add an identity to a customer; refuse one that is someone else's."""
        owner, generation = self._owner_of(identity.key)
        if owner is not None:
            if owner.id != customer.id:
                raise IdentityTakenError(f"{identity.key} belongs to customer {owner.id}")
            return []
        customer.check_not_erased()
        customer.add_identity(identity=identity, actor=actor, timestamp=now)
        return [self._claim_identity(identity.key, customer, actor, now, generation)]

    def _refuse_new_identity(self, customer: Customer, identity: Identity) -> None:
        """For an actor who may not change where replies go: only identities the customer
        has already (checked before whose an identity is, which would tell them)."""
        known = {v.identity_key(i["kind"], i["value"]) for i in self.identities_of(customer)}
        if identity.key not in known:
            raise NotPermittedError(
                "giving an existing customer a new identity changes where replies go",
                permission=MANAGE_IDENTITIES,
                field="identity",
            )

    def _check_reachable(self, customer: Customer, channel: str, field: str) -> None:
        needed = v.CHANNEL_IDENTITY_KIND[channel]
        if needed is None:
            return
        if not any(i["kind"] == needed for i in self.identities_of(customer)):
            raise ChannelIdentityMissingError(
                f"the customer has no {needed} identity to reach them on {channel}: give one",
                field=field,
            )

    def register_customer(
        self,
        *,
        name: str | None,
        identities: list[Identity],
        actor: str,
        claim: Claim | None = None,
    ) -> Outcome:
        if not identities:
            raise InvalidValueError("a customer needs at least one identity", field="identities")
        now = self.clock()
        generations: dict[str, int] = {}
        for identity in identities:
            owner, generations[identity.key] = self._owner_of(identity.key)
            if owner is not None:
                raise IdentityTakenError(f"{identity.key} belongs to customer {owner.id}")
        unique = {i.key: i for i in identities}
        customer = Customer(
            name=name, identities=[i.as_dict() for i in unique.values()], actor=actor, timestamp=now
        )
        indexes = [self._claim_identity(k, customer, actor, now, generations[k]) for k in unique]
        return self._save(customer, *indexes, claim=claim, response=self._outcome(customer))

    def add_identity(
        self,
        customer_id: UUID,
        *,
        identity: Identity,
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Give the customer (or the one it was merged into) another way to reach them.

        ``expected_version`` is that of the customer named, as its reader saw it.
        """
        named = self.get_customer(customer_id)
        self._check_version(named, expected_version)
        customer = self.customer_of(customer_id)
        claims = self._attach_identity(customer, identity, actor, self.clock())
        return self._save(
            customer, *claims,
            claim=claim, expected_version=expected_version, response=self._outcome(customer),
        )  # fmt: skip

    def change_customer_tags(
        self,
        customer_id: UUID,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Add, then remove, the customer's tags (on the record it was merged into)."""
        named = self.get_customer(customer_id)
        self._check_version(named, expected_version)
        customer = self.customer_of(customer_id)
        now = self.clock()
        for tag in add:
            customer.tag(tag=tag, actor=actor, timestamp=now)
        for tag in remove:
            customer.untag(tag=tag, actor=actor, timestamp=now)
        return self._save(
            customer, claim=claim, expected_version=expected_version,
            response=self._outcome(customer),
        )  # fmt: skip

    def merge_customers(
        self,
        source_id: UUID,
        target_id: UUID,
        *,
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Merge ``source`` into ``target``; ``expected_version`` is the source's."""
        source, target = self.get_customer(source_id), self.get_customer(target_id)
        self._check_version(source, expected_version)
        source.check_not_erased()
        target.check_not_erased()
        source.merge_into(target=target, actor=actor, timestamp=self.clock())
        return self._save(
            source, target,
            claim=claim, expected_version=expected_version, response=self._outcome(target),
        )  # fmt: skip

    def unmerge_customer(
        self,
        source_id: UUID,
        *,
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        source = self.get_customer(source_id)
        self._check_version(source, expected_version)
        source.check_not_erased()
        if source.merged_into is None:
            raise MergeError(f"{source_id} is not merged into anyone")
        target = self.get_customer(source.merged_into)
        source.unmerge_from(target=target, actor=actor, timestamp=self.clock())
        return self._save(
            source, target,
            claim=claim, expected_version=expected_version, response=self._outcome(source),
        )  # fmt: skip
