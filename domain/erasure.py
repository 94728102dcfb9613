"""Erasing a customer's personal data (a right-to-erasure request) without rewriting history.

One command, one transaction: the customer (and each record merged into it) records
``Erased``, every identity index entry of theirs is released (the address may become a
new customer later, under a new entry), their case indexes are closed (so a case opened
for them at that moment conflicts, and is tried again against the erased customer), and
their data keys are destroyed with that save. From then on every field sealed under those
keys reads as erased; who did what, when, on which channel, and the SLA figures stay.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.customer import Customer
from domain.exceptions import InvalidTransitionError
from domain.idempotency import Claim
from domain.inbound import Inbound
from domain.indexes import CaseIndex
from domain.outcome import Outcome
from domain.values import identity_key


class Erasure(Inbound):
    def erase_customer(
        self,
        customer_id: UUID,
        *,
        actor: str,
        reference: str | None = None,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Erase the customer named and every record merged into it; a customer erased
        before is answered as it stands (``already``), nothing written. ``expected_version``
        is the customer's, as the supervisor reviewed it. A record merged into another is
        erased with that one (a person is erased, not half of one)."""
        customer = self.get_customer(customer_id)
        if customer.erased_at is not None:
            return self._unchanged(self._outcome(customer, already=True)(), claim)
        if customer.merged_into is not None:
            raise InvalidTransitionError(
                f"{customer_id} is merged into {customer.merged_into}: erase that customer,"
                " which erases this one too (or unmerge it first)"
            )
        self._check_version(customer, expected_version)
        records = [customer, *(self.get_customer(a) for a in customer.absorbed)]
        owners = [r.id for r in records]
        now = self.clock()
        pending: list[Aggregate] = []
        cases: dict[UUID, list[UUID]] = {}
        for record in records:
            pending += self._release_identities(record, owners, actor, now)
            index = self._close_cases(record, actor, now)
            pending.append(index)
            cases[record.id] = list(index.conversation_ids)
        conversations = [c for r in records for c in cases[r.id]]
        for record in records:  # the customer's event names every record and conversation
            whole = record is customer
            record.erase(
                owners=owners if whole else [record.id],
                conversation_ids=conversations if whole else cases[record.id],
                reference=reference, actor=actor, timestamp=now,
            )  # fmt: skip
        return self._save(
            *records, *pending, claim=claim, expected_version=expected_version,
            response=self._outcome(customer, already=False, conversations=len(conversations)),
            destroy_keys=owners,
        )  # fmt: skip

    def _close_cases(self, record: Customer, actor: str, now: datetime) -> CaseIndex:
        try:
            cases: CaseIndex = self.repository.get(CaseIndex.create_id(record.id))
        except AggregateNotFoundError:  # a customer with no case yet (or from before)
            cases = CaseIndex(customer_id=record.id, actor=actor, timestamp=now)
        cases.close(actor=actor, timestamp=now)
        return cases

    def _release_identities(
        self, record: Customer, owners: list[UUID], actor: str, now: datetime
    ) -> list[Aggregate]:
        """The record's index entries, released: its addresses belong to no one now."""
        released: list[Aggregate] = []
        for identity in record.identities:
            index = self._identity_index(identity_key(identity["kind"], identity["value"]))
            if index is not None and index.customer_id in owners:
                index.release(actor=actor, timestamp=now)
                released.append(index)
        return released
