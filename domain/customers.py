"""Customer use cases: finding a customer by identity, registering, merging, unmerging.

A mixin of the one application (:class:`domain.application.Conversations`), kept apart
so each module stays about one noun.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.access import ApiToken, hash_token
from domain.customer import Customer
from domain.exceptions import (
    ConversationNotFoundError,
    CustomerNotFoundError,
    IdentityTakenError,
    InvalidValueError,
    MergeError,
    NotFoundError,
)
from domain.indexes import IdentityIndex
from domain.values import Identity, check_in

if TYPE_CHECKING:
    from domain.application import Outcome


class CustomerDirectory:
    """Customers, their identities and merges; and the API tokens of the people serving them."""

    repository: Any
    clock: Any
    _save: Any
    _outcome: Any

    @staticmethod
    def _not_found(cls: type, aggregate_id: UUID) -> NotFoundError:
        from domain.conversation import Conversation

        if cls is Conversation:
            return ConversationNotFoundError(f"no conversation {aggregate_id}")
        if cls is Customer:
            return CustomerNotFoundError(f"no customer {aggregate_id}")
        return NotFoundError(f"no {cls.__name__} {aggregate_id}")

    # ------------------------------------------------------------------ reading
    def get_customer(self, customer_id: UUID) -> Customer:
        try:
            customer = self.repository.get(customer_id)
        except AggregateNotFoundError:
            customer = None
        if not isinstance(customer, Customer):
            raise self._not_found(Customer, customer_id)
        return customer

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
        try:
            index: IdentityIndex = self.repository.get(IdentityIndex.create_id(identity.key))
        except AggregateNotFoundError:
            return None
        return self.customer_of(index.customer_id)

    # ------------------------------------------------------------------ writing
    def _resolve_customer(
        self,
        customer_id: UUID | None,
        identity: Identity | None,
        name: str | None,
        actor: str,
        now: datetime,
    ) -> tuple[Customer, list[Aggregate]]:
        """The customer a contact comes from, and any new index entries to save with it."""
        if customer_id is not None:
            customer = self.customer_of(customer_id)
            claims = self._attach_identity(customer, identity, actor, now) if identity else []
            return customer, claims
        if identity is None:
            raise InvalidValueError("name the customer: customer_id or identity", field="customer")
        found = self.find_customer(identity)
        if found is not None:
            return found, []
        customer = Customer(name=name, identities=[identity.as_dict()], actor=actor, timestamp=now)
        index = IdentityIndex(key=identity.key, customer_id=customer.id, actor=actor, timestamp=now)
        return customer, [index]

    def _attach_identity(
        self, customer: Customer, identity: Identity, actor: str, now: datetime
    ) -> list[Aggregate]:
        """Add an identity to a customer; refuse one that is someone else's."""
        owner = self.find_customer(identity)
        if owner is not None:
            if owner.id != customer.id:
                raise IdentityTakenError(f"{identity.key} belongs to customer {owner.id}")
            return []
        customer.add_identity(identity=identity, actor=actor, timestamp=now)
        return [
            IdentityIndex(key=identity.key, customer_id=customer.id, actor=actor, timestamp=now)
        ]

    def register_customer(
        self, *, name: str | None, identities: list[Identity], actor: str, claim: Any = None
    ) -> Outcome:
        if not identities:
            raise InvalidValueError("a customer needs at least one identity", field="identities")
        now = self.clock()
        for identity in identities:
            if (owner := self.find_customer(identity)) is not None:
                raise IdentityTakenError(f"{identity.key} belongs to customer {owner.id}")
        unique = {i.key: i for i in identities}
        customer = Customer(
            name=name, identities=[i.as_dict() for i in unique.values()], actor=actor, timestamp=now
        )
        indexes = [
            IdentityIndex(key=k, customer_id=customer.id, actor=actor, timestamp=now)
            for k in unique
        ]
        return self._save(customer, *indexes, claim=claim, response=self._outcome(customer))

    def add_identity(
        self, customer_id: UUID, *, identity: Identity, actor: str, claim: Any = None
    ) -> Outcome:
        customer = self.customer_of(customer_id)
        claims = self._attach_identity(customer, identity, actor, self.clock())
        return self._save(customer, *claims, claim=claim, response=self._outcome(customer))

    def merge_customers(
        self, source_id: UUID, target_id: UUID, *, actor: str, claim: Any = None
    ) -> Outcome:
        source, target = self.get_customer(source_id), self.get_customer(target_id)
        source.merge_into(target=target, actor=actor, timestamp=self.clock())
        return self._save(source, target, claim=claim, response=self._outcome(target))

    def unmerge_customer(self, source_id: UUID, *, actor: str, claim: Any = None) -> Outcome:
        source = self.get_customer(source_id)
        if source.merged_into is None:
            raise MergeError(f"{source_id} is not merged into anyone")
        target = self.get_customer(source.merged_into)
        source.unmerge_from(target=target, actor=actor, timestamp=self.clock())
        return self._save(source, target, claim=claim, response=self._outcome(source))

    # ------------------------------------------------------------------ tokens
    def issue_token(self, *, name: str, role: str, token: str, actor: str) -> ApiToken:
        """Record a new API token; only its hash is stored. The caller shows it once."""
        from domain.access import ROLES

        check_in(role, ROLES, "role")
        api_token = ApiToken(
            token_hash=hash_token(token),
            name=name,
            role=role,
            actor=actor,
            timestamp=self.clock(),
        )
        self._save(api_token, response=self._outcome(api_token))
        return api_token

    def authenticate(self, token: str) -> ApiToken | None:
        try:
            api_token: ApiToken = self.repository.get(ApiToken.create_id(hash_token(token)))
        except AggregateNotFoundError:
            return None
        return None if api_token.revoked else api_token

    def revoke_token(self, token: str, *, actor: str) -> bool:
        api_token = self.authenticate(token)
        if api_token is None:
            return False
        api_token.revoke(actor=actor, timestamp=self.clock())
        self._save(api_token, response=self._outcome(api_token))
        return True
