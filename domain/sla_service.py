"""SLA use cases: keep policies, pin one on a case, record breaches and warnings.

A case's policy is chosen when its clock starts (the case opens): the book's first live
policy, by rank, whose conditions match the case as it then is; the built-in default
when none does. The choice and the terms it promises are recorded on the case
(``SlaApplied``), so a later edit of the policy changes no promise already made; a
supervisor may apply a policy again (``reapply_sla``), which is itself an event.

Breaches and at-risk warnings are found by :meth:`SlaUseCases.record_sla_alarms`, run by
a scheduled job for the cases a read model says are due. The case's own events decide
(the read model may lag): a deadline met meanwhile records nothing, and a breach already
recorded (another worker was first) is not recorded twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.conversation import Conversation
from domain.customers import CustomerDirectory
from domain.exceptions import (
    InvalidValueError,
    NotFoundError,
    PreconditionFailedError,
    VersionConflictError,
)
from domain.idempotency import Claim
from domain.outcome import Outcome
from domain.sla_clock import SlaClock
from domain.sla_policy import SlaPolicy, SlaPolicyBook
from domain.sla_terms import DEFAULT_POLICY_ID, DEFAULT_SPEC, CaseFacts, PolicySpec

SYSTEM_ACTOR = "system:sla"
ALARM_ATTEMPTS = 3


class SlaPolicyNotFoundError(NotFoundError):
    pass


class SlaUseCases(CustomerDirectory):
    _book_cache: tuple[int, SlaPolicyBook] | None = None

    # ------------------------------------------------------------------ policies
    def create_sla_policy(
        self, spec: dict[str, Any], *, actor: str, claim: Claim | None = None
    ) -> Outcome:
        """A new policy, version 1, live from now on for the cases it matches."""
        checked = PolicySpec.from_dict(spec).to_dict()
        now = self.clock()
        policy = SlaPolicy(spec=checked, actor=actor, timestamp=now)
        book = self._book_for_edit(actor, now)
        book.enter(policy_id=str(policy.id), version=1, spec=checked, actor=actor, timestamp=now)
        return self._save(policy, book, claim=claim, response=self._policy_outcome(policy))

    def revise_sla_policy(
        self,
        policy_id: UUID,
        spec: dict[str, Any],
        *,
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """A new version of the policy; cases already pinned to an older one keep it."""
        checked = PolicySpec.from_dict(spec).to_dict()
        policy = self.get_sla_policy(policy_id)
        self._check_version(policy, expected_version)
        now = self.clock()
        policy.revise(checked, actor, now)
        book = self._book_for_edit(actor, now)
        book.enter(
            policy_id=str(policy.id), version=policy.policy_version, spec=checked, actor=actor,
            timestamp=now,
        )  # fmt: skip
        return self._save(
            policy, book, claim=claim, expected_version=expected_version,
            response=self._policy_outcome(policy),
        )  # fmt: skip

    def retire_sla_policy(
        self,
        policy_id: UUID,
        *,
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """The policy applies to no new case (its versions stay, for reports)."""
        policy = self.get_sla_policy(policy_id)
        self._check_version(policy, expected_version)
        now = self.clock()
        policy.retire(actor, now)
        book = self._book_for_edit(actor, now)
        book.remove(policy_id=str(policy.id), actor=actor, timestamp=now)
        return self._save(
            policy, book, claim=claim, expected_version=expected_version,
            response=self._policy_outcome(policy),
        )  # fmt: skip

    def get_sla_policy(self, policy_id: UUID) -> SlaPolicy:
        policy: Any
        try:
            policy = self.repository.get(policy_id)
        except AggregateNotFoundError:
            policy = None
        if not isinstance(policy, SlaPolicy):
            raise SlaPolicyNotFoundError(f"no SLA policy {policy_id}", field="policy_id")
        return policy

    def sla_policy_spec(self, policy_id: str, version: int | None = None) -> tuple[int, PolicySpec]:
        """A policy's spec at ``version`` (its latest if None); ``default`` is built in."""
        if policy_id == DEFAULT_POLICY_ID:
            if version not in (None, 0):
                raise InvalidValueError("the built-in policy has version 0 only", field="version")
            return 0, DEFAULT_SPEC
        try:
            uuid = UUID(policy_id)
        except ValueError:
            raise SlaPolicyNotFoundError(f"no SLA policy {policy_id}", field="policy") from None
        policy = self.get_sla_policy(uuid)
        chosen = policy.policy_version if version is None else version
        found = policy.at_version(chosen)
        if found is None:
            raise InvalidValueError(
                f"policy {policy_id} has versions 1 to {policy.policy_version}", field="version"
            )
        return chosen, PolicySpec.from_dict(found["spec"])

    def list_sla_policies(self, include_retired: bool = False) -> list[SlaPolicy]:
        """The policies in the order they apply (rank, then age); retired ones last."""
        book = self.sla_book()
        live = [self.get_sla_policy(UUID(pid)) for pid, _, _ in book.ranked()] if book else []
        if not include_retired or book is None:
            return live
        retired = [self.get_sla_policy(UUID(pid)) for pid in book.order if pid not in book.entries]
        return live + retired

    def sla_book(self) -> SlaPolicyBook | None:
        """The book of live policies, reloaded only when it has changed."""
        kept: SlaPolicyBook | None = self._kept_current(SlaPolicyBook.create_id(), "_book_cache")
        return kept

    def _book_for_edit(self, actor: str, now: datetime) -> SlaPolicyBook:
        try:
            book: SlaPolicyBook = self.repository.get(SlaPolicyBook.create_id())
            return book
        except AggregateNotFoundError:
            return SlaPolicyBook(actor=actor, timestamp=now)

    @staticmethod
    def _policy_outcome(policy: SlaPolicy) -> Any:
        return lambda: Outcome(
            policy.id, policy.version, None, {"policy_version": policy.policy_version}
        )

    # ------------------------------------------------------------------ cases
    def _sla_at_opening(
        self,
        channel: str,
        customer_tags: Sequence[str],
        team: str | None = None,
        priority: str | None = None,
    ) -> dict[str, Any]:
        """What a case opening now on ``channel`` is promised: the ``sla`` of its
        ``Opened`` event (the rules see it as it opens: its channel, its customer's tags,
        and the team and priority the care policy's routing gives it; no tags yet)."""
        policy_id, version, spec = self._choose(
            CaseFacts(
                channel=channel, customer_tags=customer_tags, team=team,
                priority=priority or "none",
            )
        )  # fmt: skip
        return {
            "policy_id": policy_id, "policy_version": version, "policy_name": spec.name,
            "terms": spec.terms.to_dict(),
        }  # fmt: skip

    def _choose_policy(self, conversation: Conversation) -> tuple[str, int, PolicySpec]:
        customer = self.customer_of(conversation.customer_id)
        return self._choose(
            CaseFacts(
                channel=conversation.origin_channel, priority=conversation.priority,
                tags=conversation.tags, team=conversation.team, customer_tags=customer.tags,
            )
        )  # fmt: skip

    def _choose(self, case: CaseFacts) -> tuple[str, int, PolicySpec]:
        book = self.sla_book()
        if book is None:
            return DEFAULT_POLICY_ID, 0, DEFAULT_SPEC
        return book.choose(case)

    def reapply_sla(
        self,
        conversation_id: UUID,
        *,
        actor: str,
        policy_id: str | None = None,
        version: int | None = None,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Apply a policy to the case again: the one named (its latest version, or
        ``version``), or else the one the rules choose for the case as it is now."""
        conversation = self._load(Conversation, conversation_id)
        self._check_version(conversation, expected_version)
        now = self.clock()
        if policy_id is None:
            chosen = self._choose_policy(conversation)
        else:
            number, spec = self.sla_policy_spec(policy_id, version)
            chosen = (policy_id, number, spec)
        conversation.apply_sla(
            policy_id=chosen[0], policy_version=chosen[1], policy_name=chosen[2].name,
            terms=chosen[2].terms.to_dict(), reason="reapplied", actor=actor, timestamp=now,
        )  # fmt: skip
        return self._save(
            conversation, claim=claim, expected_version=expected_version,
            response=self._outcome(conversation),
        )  # fmt: skip

    def sla_clock(self, conversation_id: UUID, **options: Any) -> SlaClock:
        """The case's clock, folded from its events (``override=`` terms: a restatement)."""
        return SlaClock.of(self.events.get(conversation_id), **options)

    def record_sla_alarms(self, conversation_id: UUID) -> tuple[int, int]:
        """Record every breach and at-risk warning the case owes by now; (breaches,
        warnings) recorded. Safe to run anywhere, any number of times at once."""
        for attempt in range(ALARM_ATTEMPTS):
            try:
                return self._record_alarms(conversation_id)
            except (VersionConflictError, PreconditionFailedError, IntegrityError):
                if attempt == ALARM_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _record_alarms(self, conversation_id: UUID) -> tuple[int, int]:
        conversation = self._load(Conversation, conversation_id)
        clock = SlaClock.of(self.events.get(conversation_id, lte=conversation.version))
        now = self.clock()
        breaches, risks = clock.owed(now)
        recorded = [0, 0]
        for owed in breaches:
            recorded[0] += conversation.record_sla_breach(
                metric=owed.metric, seq=owed.seq, deadline=owed.deadline, actor=SYSTEM_ACTOR,
                timestamp=now,
            )  # fmt: skip
        for owed in risks:
            recorded[1] += conversation.record_sla_at_risk(
                metric=owed.metric, seq=owed.seq, at=owed.at, deadline=owed.deadline,
                actor=SYSTEM_ACTOR, timestamp=now,
            )  # fmt: skip
        if conversation.pending_events:
            self._save(conversation, response=self._outcome(conversation))
        return recorded[0], recorded[1]
