"""Outage use cases: declare an incident, link its cases, acknowledge each one, post the
general update, resolve it and follow every case up.

The care playbook's guidance for an outage is to post one general public update and
still acknowledge each customer individually. So acknowledging an incident queues one
``acknowledgement`` reply on each linked case (each its own ``ReplyQueued`` on its own
case, delivered by the workers within the channel's rate limits), and resolving it
resolves each linked case and queues a ``follow_up`` where the case began.

Bulk commands never write unbounded work in one transaction: cases are handled in
transactions of ``BATCH``, at most ``limit`` per call; the answer says how many
``remaining`` cases a further call would handle. A call again does only what is still
owed (each case's acknowledgement and follow-up are recorded on its ``IncidentCases``
shard, in the same transaction as its reply), so a retried or repeated call never
acknowledges anyone twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain import values as v
from domain.conversation import Conversation
from domain.deliveries import Deliveries
from domain.exceptions import (
    ConversationResolvedError,
    CustomerErasedError,
    DomainError,
    InvalidTransitionError,
    InvalidValueError,
    NotFoundError,
    PreconditionFailedError,
    VersionConflictError,
)
from domain.idempotency import Claim
from domain.incident import (
    MAX_LINKS,
    SHARDS,
    Incident,
    IncidentBook,
    IncidentCases,
    check_keywords,
    shard_of,
    update_body,
)
from domain.outcome import Outcome

SYSTEM_ACTOR = "system:incidents"  # links by keyword, and standing acknowledgements
BATCH = 25  # cases per transaction in a bulk command
DEFAULT_LIMIT = 500  # cases a bulk call handles at most
ATTEMPTS = 5  # tries of one transaction that lost a race (a case written meanwhile)
RESOLUTION = "fixed"  # the resolution code of a case the incident's resolution resolves


class IncidentNotFoundError(NotFoundError):
    field = "incident_id"


def skip_reason(error: DomainError) -> str:
    """Why a case could not get the incident's reply, as a code (never the message,
    which may quote the customer)."""
    if isinstance(error, CustomerErasedError):
        return "customer_erased"
    if isinstance(error, ConversationResolvedError):
        return "case_resolved"
    if isinstance(error, InvalidValueError | InvalidTransitionError):
        return "no_channel"  # begun by phone, or a chat the customer left, with no address
    return "refused"


class Incidents(Deliveries):
    _incident_book_cache: tuple[int, IncidentBook] | None = None

    # ------------------------------------------------------------------ declaring
    def declare_incident(
        self,
        *,
        title: str,
        public_summary: str,
        links: list[str],
        keywords: list[str],
        actor: str,
        claim: Claim | None = None,
    ) -> Outcome:
        """A live incident: from now on, every case opening with one of its keywords is
        linked to it (in the same save)."""
        words = check_keywords(keywords)
        if len(links) > MAX_LINKS:
            raise InvalidValueError(f"at most {MAX_LINKS} links", field="links")

        def declare() -> Outcome:
            now = self.clock()
            incident = Incident(
                title=title, public_summary=public_summary, links=list(links), keywords=words,
                shards=SHARDS, actor=actor, timestamp=now,
            )  # fmt: skip
            book = self._incident_book_for_edit(actor, now)
            book.enter(
                incident_id=str(incident.id), keywords=words, acknowledgement=None,
                shards=SHARDS, actor=actor, timestamp=now,
            )  # fmt: skip
            return self._save(incident, book, claim=claim, response=self._outcome(incident))

        return self._retrying(declare)

    def revise_incident(
        self,
        incident_id: UUID,
        *,
        actor: str,
        title: str | None = None,
        public_summary: str | None = None,
        links: list[str] | None = None,
        keywords: list[str] | None = None,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Change a live incident's terms (what is left out stays); the book links the
        cases opening from now on by the new keywords."""
        words = None if keywords is None else check_keywords(keywords)
        if links is not None and len(links) > MAX_LINKS:
            raise InvalidValueError(f"at most {MAX_LINKS} links", field="links")

        def revise() -> Outcome:
            incident = self.get_incident(incident_id)
            self._check_version(incident, expected_version)
            now = self.clock()
            changed = incident.revise(
                title=incident.title if title is None else title,
                public_summary=(
                    incident.public_summary if public_summary is None else public_summary
                ),
                links=incident.links if links is None else links,
                keywords=incident.keywords if words is None else words,
                actor=actor, timestamp=now,
            )  # fmt: skip
            pending: list[Any] = [incident]
            if changed and words is not None:
                book = self._incident_book_for_edit(actor, now)
                entry = book.entries.get(str(incident.id), {})
                book.enter(
                    incident_id=str(incident.id), keywords=incident.keywords,
                    acknowledgement=entry.get("acknowledgement", incident.acknowledgement),
                    shards=incident.shards, actor=actor, timestamp=now,
                )  # fmt: skip
                pending.append(book)
            return self._save(
                *pending, claim=claim, expected_version=expected_version,
                response=self._outcome(incident, changed=changed),
            )  # fmt: skip

        return self._retrying(revise)

    def get_incident(self, incident_id: UUID) -> Incident:
        incident: Any
        try:
            incident = self.repository.get(incident_id)
        except AggregateNotFoundError:
            incident = None
        if not isinstance(incident, Incident):
            raise IncidentNotFoundError(f"no incident {incident_id}")
        return incident

    def incident_book(self) -> IncidentBook | None:
        """The live incidents, reloaded only when the book has changed."""
        kept: IncidentBook | None = self._kept_current(
            IncidentBook.create_id(), "_incident_book_cache"
        )
        return kept

    def _incident_book_for_edit(self, actor: str, now: datetime) -> IncidentBook:
        try:
            book: IncidentBook = self.repository.get(IncidentBook.create_id())
            return book
        except AggregateNotFoundError:
            return IncidentBook(actor=actor, timestamp=now)

    def incident_shards(self, incident: Incident) -> list[IncidentCases]:
        """The incident's shards that hold (or held) a case."""
        found: list[IncidentCases] = []
        for shard in range(incident.shards):
            try:
                found.append(self.repository.get(IncidentCases.create_id(incident.id, shard)))
            except AggregateNotFoundError:
                continue
        return found

    def linked_cases(self, incident_id: UUID) -> list[UUID]:
        """The cases linked to the incident now, in the order they were linked."""
        shards = self.incident_shards(self.get_incident(incident_id))
        cases = sorted((c for s in shards for c in s.cases.values()), key=lambda c: c["linked_at"])
        return [UUID(str(c["conversation_id"])) for c in cases]

    def incident_counts(self, incident: Incident) -> dict[str, int]:
        """What the write side knows: cases linked, and replies the incident queued."""
        cases = [c for s in self.incident_shards(incident) for c in s.cases.values()]

        def count(what: str, queued: bool) -> int:
            return sum(
                1 for c in cases
                if c[what] is not None and (c[what]["reply_id"] is not None) == queued
            )  # fmt: skip

        return {
            "linked": len(cases),
            "acknowledgements_queued": count("acknowledgement", True),
            "acknowledgements_skipped": count("acknowledgement", False),
            "follow_ups_queued": count("follow_up", True),
            "follow_ups_skipped": count("follow_up", False),
        }

    def _shard_for_edit(
        self, incident_id: UUID, shards: int, conversation_id: UUID, actor: str, now: datetime
    ) -> IncidentCases:
        number = shard_of(conversation_id, shards)
        try:
            shard: IncidentCases = self.repository.get(IncidentCases.create_id(incident_id, number))
            return shard
        except AggregateNotFoundError:
            return IncidentCases(incident_id=incident_id, shard=number, actor=actor, timestamp=now)

    # ------------------------------------------------------------------ linking
    def _incident_links(
        self, conversation: Conversation, text: str, now: datetime
    ) -> list[Aggregate]:
        """The shards linking a case that opens now to every live incident whose
        keywords its first message names (and the standing acknowledgement, queued on
        the case): saved with the opening, in its transaction."""
        book = self.incident_book()
        if book is None or not book.entries:
            return []
        linked: list[Aggregate] = []
        for incident_id, keyword in book.matches(text):
            entry = book.entries[incident_id]
            shard = self._shard_for_edit(
                UUID(incident_id), entry["shards"], conversation.id, SYSTEM_ACTOR, now
            )
            if not shard.link(
                conversation_id=conversation.id, customer_id=conversation.customer_id,
                how="keyword", keyword=keyword, actor=SYSTEM_ACTOR, timestamp=now,
            ):  # fmt: skip
                continue
            if entry["acknowledgement"]:
                self._acknowledge_case(
                    shard, conversation, entry["acknowledgement"], SYSTEM_ACTOR, now
                )
            linked.append(shard)
        return linked

    def link_to_incident(
        self,
        incident_id: UUID,
        conversation_id: UUID,
        *,
        actor: str,
        claim: Claim | None = None,
    ) -> Outcome:
        """Link a case by hand (an agent saw it is about the outage); once the incident's
        acknowledgements are asked for, the case is acknowledged in the same save. A case
        linked already is a no-op."""

        def link() -> Outcome:
            incident = self.get_incident(incident_id)
            if not incident.live:
                raise InvalidTransitionError(
                    "the incident is resolved: link cases to a live one", field="incident_id"
                )
            conversation = self._load(Conversation, conversation_id)
            now = self.clock()
            shard = self._shard_for_edit(incident.id, incident.shards, conversation.id, actor, now)
            reply_id = None
            linked = shard.link(
                conversation_id=conversation.id,
                customer_id=self.customer_of(conversation.customer_id).id,
                how="hand", keyword=None, actor=actor, timestamp=now,
            )  # fmt: skip
            if linked and incident.acknowledgement:
                reply_id = self._acknowledge_case(
                    shard, conversation, incident.acknowledgement, SYSTEM_ACTOR, now
                )
            extra = {
                "conversation_id": conversation.id, "linked": linked,
                "acknowledgement_reply_id": reply_id,
            }  # fmt: skip
            return self._save(
                conversation, shard, claim=claim, response=self._outcome(incident, **extra)
            )

        return self._retrying(link)

    def unlink_from_incident(
        self,
        incident_id: UUID,
        conversation_id: UUID,
        *,
        actor: str,
        claim: Claim | None = None,
    ) -> Outcome:
        """Unlink a case linked by mistake (a keyword matched something else): it is
        neither acknowledged nor followed up by the incident any more. Replies queued
        for it already stay. A case not linked is a no-op."""

        def unlink() -> Outcome:
            incident = self.get_incident(incident_id)
            now = self.clock()
            number = shard_of(conversation_id, incident.shards)
            extra: dict[str, Any] = {"conversation_id": conversation_id, "unlinked": False}
            try:
                shard: IncidentCases = self.repository.get(
                    IncidentCases.create_id(incident.id, number)
                )
            except AggregateNotFoundError:
                return self._unchanged(Outcome(incident.id, incident.version, None, extra), claim)
            extra["unlinked"] = shard.unlink(
                conversation_id=conversation_id, actor=actor, timestamp=now
            )
            return self._save(shard, claim=claim, response=self._outcome(incident, **extra))

        return self._retrying(unlink)

    # ------------------------------------------------------------------ acknowledging
    def _acknowledge_case(
        self,
        shard: IncidentCases,
        conversation: Conversation,
        body: str,
        actor: str,
        now: datetime,
    ) -> UUID | None:
        """Queue the incident's acknowledgement on the case, where it began (a public
        complaint is answered in public), and record it on the shard; or record why it
        could not be. The reply's id, or None."""
        reply_id: UUID | None = None
        skipped: str | None = None
        try:
            reply_id = self._queue_on(
                conversation, kind="acknowledgement", body=body, actor=actor,
                channel=conversation.origin_channel,
            )  # fmt: skip
        except DomainError as error:
            skipped = skip_reason(error)
        shard.acknowledge(
            conversation_id=conversation.id, reply_id=reply_id, skipped=skipped, actor=actor,
            timestamp=now,
        )  # fmt: skip
        return reply_id

    def acknowledge_incident(
        self,
        incident_id: UUID,
        *,
        body: str,
        actor: str,
        limit: int = DEFAULT_LIMIT,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Acknowledge every linked case not acknowledged yet with ``body``, one reply
        each, and every case linked from now on (the acknowledgement stands until the
        incident is resolved). At most ``limit`` cases per call; ``remaining`` says how
        many are still to do."""
        incident = self.get_incident(incident_id)
        self._check_version(incident, expected_version)
        now = self.clock()
        position = None
        if incident.request_acknowledgements(body=body, actor=actor, timestamp=now):
            book = self._incident_book_for_edit(actor, now)
            book.enter(
                incident_id=str(incident.id), keywords=incident.keywords, acknowledgement=body,
                shards=incident.shards, actor=actor, timestamp=now,
            )  # fmt: skip
            position = self._save(
                incident, book, expected_version=expected_version,
                response=self._outcome(incident),
            ).position  # fmt: skip

        def acknowledge(shard: IncidentCases, conversation: Conversation, now: datetime) -> bool:
            return self._acknowledge_case(shard, conversation, body, actor, now) is not None

        return self._bulk(incident, "acknowledgement", acknowledge, limit, position, claim)

    # ------------------------------------------------------------------ general updates
    def post_incident_update(
        self,
        incident_id: UUID,
        *,
        actor: str,
        body: str | None = None,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Queue a general public update from the brand's X account: ``body``, or the
        incident's public summary and links. A worker posts it once."""
        incident = self.get_incident(incident_id)
        self._check_version(incident, expected_version)
        update_id = uuid4()
        incident.queue_update(
            update_id=update_id, body=body or update_body(incident.public_summary, incident.links),
            channel=v.X_PUBLIC, from_account=self.accounts.get(v.X_PUBLIC), actor=actor,
            timestamp=self.clock(),
        )  # fmt: skip
        return self._save(
            incident, claim=claim, expected_version=expected_version,
            response=self._outcome(incident, update_id=update_id),
        )  # fmt: skip

    def find_incident_update(self, incident_id: UUID, update_id: UUID) -> dict[str, Any]:
        return dict(self.get_incident(incident_id).update(update_id))

    def incident_update_delivered_as(self, incident_id: UUID, external_id: str) -> UUID | None:
        """The update of this incident recorded as the channel's ``external_id``, if any."""
        for update in self.get_incident(incident_id).updates.values():
            if update["external_id"] == external_id:
                return UUID(str(update["id"]))
        return None

    def dispatch_incident_update(
        self, incident_id: UUID, *, update_id: UUID, attempt: int, actor: str
    ) -> Outcome:
        incident = self.get_incident(incident_id)
        incident.dispatch_update(
            update_id=update_id, attempt=attempt, actor=actor, timestamp=self.clock()
        )
        return self._save(incident, response=self._outcome(incident))

    def record_incident_update_delivery(
        self,
        incident_id: UUID,
        *,
        update_id: UUID,
        external_id: str,
        actor: str,
        attempt: int | None = None,
        found: bool = False,
    ) -> Outcome:
        incident = self.get_incident(incident_id)
        incident.record_update_delivery(
            update_id=update_id, external_id=external_id, attempt=attempt, found=found,
            actor=actor, timestamp=self.clock(),
        )  # fmt: skip
        return self._save(incident, response=self._outcome(incident))

    def record_incident_update_failure(
        self,
        incident_id: UUID,
        *,
        update_id: UUID,
        reason: str,
        attempt: int,
        retryable: bool,
        actor: str,
        code: str = "unknown",
        retry_at: datetime | None = None,
    ) -> Outcome:
        incident = self.get_incident(incident_id)
        incident.record_update_failure(
            update_id=update_id, reason=reason, attempt=attempt, retryable=retryable,
            code=code, retry_at=retry_at, actor=actor, timestamp=self.clock(),
        )  # fmt: skip
        return self._save(incident, response=self._outcome(incident))

    # ------------------------------------------------------------------ resolving
    def resolve_incident(
        self,
        incident_id: UUID,
        *,
        summary: str,
        actor: str,
        follow_up: str | None = None,
        limit: int = DEFAULT_LIMIT,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Resolve the incident (no case links to it any more), then resolve each linked
        case still open and queue a ``follow_up`` (``follow_up``, or the ``summary``)
        where it began. At most ``limit`` cases per call: calling again with the same
        summary follows up the ``remaining`` ones."""
        incident = self.get_incident(incident_id)
        self._check_version(incident, expected_version)
        position = None
        if incident.live:
            now = self.clock()
            incident.resolve(
                summary=summary, follow_up=follow_up or summary, actor=actor, timestamp=now
            )
            book = self._incident_book_for_edit(actor, now)
            book.remove(incident_id=str(incident.id), actor=actor, timestamp=now)
            position = self._save(
                incident, book, expected_version=expected_version,
                response=self._outcome(incident),
            ).position  # fmt: skip
        elif summary != incident.summary:
            raise InvalidTransitionError(
                "the incident was resolved with another summary; send the same one to follow"
                " up the remaining cases",
                field="summary",
            )
        text = str(incident.follow_up)

        def follow(shard: IncidentCases, conversation: Conversation, now: datetime) -> bool:
            resolved_case = conversation.status != v.RESOLVED
            if resolved_case:
                conversation.resolve(resolution=RESOLUTION, actor=actor, timestamp=now)
            reply_id: UUID | None = None
            skipped: str | None = None
            try:
                reply_id = self._queue_on(conversation, kind="follow_up", body=text, actor=actor)
            except DomainError as error:
                skipped = skip_reason(error)
            shard.follow_up(
                conversation_id=conversation.id, reply_id=reply_id, skipped=skipped,
                resolved_case=resolved_case, actor=actor, timestamp=now,
            )  # fmt: skip
            return reply_id is not None

        return self._bulk(incident, "follow_up", follow, limit, position, claim)

    # ------------------------------------------------------------------ bulk work
    def _owed(self, incident: Incident, what: str) -> list[tuple[int, UUID]]:
        """(shard, case) still without ``what`` (acknowledgement, follow_up), in the
        order they were linked."""
        cases = [
            (case["linked_at"], shard.shard, UUID(cid))
            for shard in self.incident_shards(incident)
            for cid, case in shard.cases.items()
            if case[what] is None
        ]
        return [(number, cid) for _, number, cid in sorted(cases, key=lambda c: c[:2])]

    def _bulk(
        self,
        incident: Incident,
        what: str,
        act: Callable[[IncidentCases, Conversation, datetime], bool],
        limit: int,
        position: int | None,
        claim: Claim | None,
    ) -> Outcome:
        """Run ``act`` on up to ``limit`` cases still owed ``what``, ``BATCH`` cases (and
        their shards) per transaction; answer with what was done and what remains."""
        if limit < 1:
            raise InvalidValueError("limit is 1 or more", field="limit")
        owed = self._owed(incident, what)
        queued = skipped = 0
        for batch in _chunks(owed[:limit], BATCH):
            done, missed, at = self._batch(incident, what, act, batch)
            queued, skipped = queued + done, skipped + missed
            position = at if at is not None else position
        extra = {
            "queued": queued, "skipped": skipped,
            "remaining": max(0, len(owed) - queued - skipped),
        }  # fmt: skip
        outcome = Outcome(incident.id, incident.version, position, extra)
        if claim is not None:
            try:
                self.save(claim.record(outcome, changed=position is not None, now=self.clock()))
            except IntegrityError:
                raise VersionConflictError(incident.id, incident.version) from None
        return outcome

    def _batch(
        self,
        incident: Incident,
        what: str,
        act: Callable[[IncidentCases, Conversation, datetime], bool],
        batch: list[tuple[int, UUID]],
    ) -> tuple[int, int, int | None]:
        """One transaction: (replies queued, cases skipped, position of its last event).
        A race lost (a customer wrote to a case meanwhile) is tried again, reloaded."""
        for attempt in range(ATTEMPTS):
            shards = {
                number: self._shard_for_edit(
                    incident.id, incident.shards, cid, "system", self.clock()
                )
                for number, cid in batch
            }
            now = self.clock()
            conversations: list[Conversation] = []
            queued = skipped = 0
            for number, cid in batch:
                case = shards[number].cases.get(str(cid))
                if case is None or case[what] is not None:
                    continue  # unlinked, or done by someone else meanwhile
                conversation = self._load(Conversation, cid)
                if act(shards[number], conversation, now):
                    queued += 1
                else:
                    skipped += 1
                conversations.append(conversation)
            try:
                outcome = self._save(
                    *conversations, *shards.values(), response=self._outcome(incident)
                )
            except VersionConflictError:
                if attempt == ATTEMPTS - 1:
                    raise
                continue
            return queued, skipped, outcome.position
        raise AssertionError("unreachable")  # pragma: no cover

    def _retrying(self, command: Callable[[], Outcome]) -> Outcome:
        """Run a small command again when it lost a race on a shared aggregate (the
        book, a shard an opening wrote to meanwhile); If-Match failures are final."""
        for attempt in range(ATTEMPTS):
            try:
                return command()
            except PreconditionFailedError:
                raise
            except VersionConflictError:
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
