"""Erasing a customer's personal data (a right-to-erasure request) without rewriting history.

One command, one transaction: the customer (and each record merged into it) records
``Erased``, every identity index entry of theirs is released (the address may become a
new customer later), and their data keys are destroyed with that save. From then on
every field sealed under those keys reads as erased; who did what, when, on which
channel, and the SLA figures stay as they were.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.customer import Customer
from domain.idempotency import Claim
from domain.inbound import Inbound
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
        is the customer's, as the supervisor reviewed it."""
        customer = self.get_customer(customer_id)
        if customer.erased_at is not None:
            return self._unchanged(self._outcome(customer, already=True)(), claim)
        self._check_version(customer, expected_version)
        records = [customer, *(self.get_customer(a) for a in customer.absorbed)]
        owners = [r.id for r in records]
        conversations = self.cases_of(customer)
        now = self.clock()
        pending: list[Aggregate] = []
        for record in records:
            pending += self._release_identities(record, owners, actor, now)
            mine = conversations if record is customer else self.cases_of(record)
            record.erase(
                owners=owners if record is customer else [record.id],
                conversation_ids=mine, reference=reference, actor=actor, timestamp=now,
            )  # fmt: skip
        self.keys.destroy(owners)
        return self._save(
            *records, *pending, claim=claim, expected_version=expected_version,
            response=self._outcome(customer, already=False, conversations=len(conversations)),
        )  # fmt: skip

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
