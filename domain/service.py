"""The typed base of Parley's use cases: loading, saving, conflicts, idempotency.

Every use case loads what it needs, lets the aggregates decide, and saves everything it
touched in one transaction through :meth:`Service._save`, which also claims the
request's idempotency key and turns a lost race into a domain error. The mixins that
hold the use cases (inbound, triage, customers, tokens) all derive from this class, so
their calls are type-checked against it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, Repository
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import Environment, strtobool

from domain.conversation import Conversation
from domain.customer import Customer
from domain.exceptions import (
    ConversationNotFoundError,
    CustomerErasedError,
    CustomerNotFoundError,
    DomainError,
    IdempotencyKeyReusedError,
    IdentityTakenError,
    NotFoundError,
    PreconditionFailedError,
    UnorderedStoreError,
    VersionConflictError,
)
from domain.idempotency import Claim, IdempotencyKey, IdempotentRequest, Replay
from domain.indexes import IdentityIndex
from domain.load_cache import DEFAULT_SIZE as DEFAULT_LOAD_CACHE_SIZE
from domain.load_cache import LoadCache
from domain.outcome import Outcome
from domain.privacy import (
    DESTROY,
    KeyRing,
    PersonalDataError,
    PersonalDataMapper,
    decode_master_key,
    derive,
    key_owners,
)
from domain.replay import ReplayingRepository

Clock = Callable[[], datetime]
A = TypeVar("A", bound=Aggregate)

DEFAULT_KEY_TTL = timedelta(hours=24)
MASTER_KEY_SETTING = "DATA_MASTER_KEY"  # the master key, base64 (app.config sets it)
LOAD_CACHE_SETTING = "LOAD_CACHE_SIZE"  # conversations kept loaded per process; 0: none
GROUP_COMMIT_SETTING = "GROUP_COMMIT"  # y: concurrent saves commit together (PostgreSQL)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Service(Application):
    """One event-sourced application: one store, one notification log, one total order."""

    name = "parley"
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": "var/parley.sqlite",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "SQLITE_LOCK_TIMEOUT": "10",
        LOAD_CACHE_SETTING: str(DEFAULT_LOAD_CACHE_SIZE),
        GROUP_COMMIT_SETTING: "y",
    }

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        clock: Clock = utc_now,
        *,
        key_ttl: timedelta = DEFAULT_KEY_TTL,
        accounts: Mapping[str, str] | None = None,
        seal_personal_data: bool = True,
    ) -> None:
        """``seal_personal_data=False`` stores personal fields in the clear: only for
        measuring what sealing costs (``bench.ingest``), never for a store with customers."""
        super().__init__(env=env)
        self._attach_keys(seal_personal_data)
        self._attach_load_cache()
        self._attach_group_commit()
        self.clock = clock
        self.key_ttl = key_ttl
        self._together = threading.local()  # versions_read_together's, per thread
        # The brand's own account on each channel (X user id, From address): replies
        # record the one they leave from, inbound messages the one they reached.
        self.accounts: dict[str, str] = dict(accounts or {})
        self._check_total_order()

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        """The store's settings come from the caller only, never from ``os.environ``.

        The library would read ``PARLEY_*`` variables (the application's name) before
        the explicit settings, so a stray ``PARLEY_POSTGRES_ENABLE_DB_FUNCTIONS`` could
        change how events are inserted behind Parley's configuration.
        """
        return Environment(name, {**type(self).env, **(env or {})})

    def construct_repository(self) -> Repository[UUID]:
        """The library's repository (no aggregate cache, no snapshots: Parley configures
        neither), replaying without its per-event Protocol check (``domain.replay``)."""
        return ReplayingRepository(event_store=self.events, snapshot_store=self.snapshots)

    def construct_mapper(self) -> PersonalDataMapper:
        return self.factory.mapper(  # type: ignore[return-value]
            transcoder=self.construct_transcoder(), mapper_class=PersonalDataMapper
        )

    def _attach_keys(self, seal: bool) -> None:
        """The master key from the settings, the data keys from the recorder's table."""
        encoded = self.env.get(MASTER_KEY_SETTING)
        if not encoded:
            self.close()
            raise PersonalDataError(
                "no master key: set PARLEY_MASTER_KEY (or PARLEY_MASTER_KEY_FILE); see"
                " docs/operations.md, 'Personal data'"
            )
        master = decode_master_key(encoded)
        self.index_secret = derive(master, "index-ids")
        self.fingerprint_secret = derive(master, "request-fingerprints")
        if not hasattr(self.recorder, "attach_key_ring"):
            self.close()
            raise PersonalDataError(
                "this event store keeps no data keys: build its settings with"
                " app.config.event_store_env (APPLICATION_RECORDER_TOPIC)"
            )
        self.keys = KeyRing(master, self.recorder)  # type: ignore[arg-type]
        mapper = self.mapper
        assert isinstance(mapper, PersonalDataMapper)
        mapper.keys = self.keys if seal else None

    def _attach_load_cache(self) -> None:
        """Keep recently loaded conversations in this process (``domain.load_cache``):
        while none of the customers whose keys opened one is erased."""
        size = int(self.env.get(LOAD_CACHE_SETTING) or 0)
        repository = self.repository
        if size <= 0 or not isinstance(repository, ReplayingRepository):
            return
        repository.load_cache = LoadCache(size)
        repository.cached = lambda aggregate: isinstance(aggregate, Conversation)  # type: ignore[method-assign]
        repository.owners_of = key_owners  # type: ignore[method-assign]
        repository.readable = lambda owners: not any(map(self.is_erased, owners))  # type: ignore[method-assign]

    def _attach_group_commit(self) -> None:
        """On a store whose recorder can (PostgreSQL's), commit the saves that arrive
        while one is committing together, in one transaction (``app.group_commit``)."""
        enable = getattr(self.recorder, "enable_group_commit", None)
        if enable is not None and strtobool(self.env.get(GROUP_COMMIT_SETTING) or "y"):
            enable()

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """The library's save, in the scope of one save's data keys: keys of customers
        it creates are stored with it; ``destroy_keys`` (an erasure's) are destroyed."""
        if self.mapper.keys is None:  # type: ignore[attr-defined]
            return super().save(*objs, **kwargs)
        new = [
            o.id for o in objs
            if isinstance(o, Customer) and o.version == len(o.pending_events)
        ]  # fmt: skip
        with self.keys.saving(new, kwargs.get(DESTROY) or ()):
            return super().save(*objs, **kwargs)

    def is_erased(self, customer_id: UUID) -> bool:
        """Whether the customer's data key is destroyed (read from the key ring: no load)."""
        if self.mapper.keys is None:  # type: ignore[attr-defined]
            return False
        exists, key = self.keys.lookup(customer_id)
        return exists and key is None

    def _check_not_erased(self, customer_id: UUID) -> None:
        """Refuse to write personal data about an erased customer (their key is gone:
        it could only be stored erased)."""
        if self.is_erased(customer_id):
            raise CustomerErasedError(f"customer {customer_id} was erased")

    def _check_total_order(self) -> None:
        """Refuse an insert path on which a follower could pass over a late commit.

        On PostgreSQL the library's plain insert locks the events table, so positions
        commit in order; its database-function insert takes no lock.
        """
        datastore = getattr(self.recorder, "datastore", None)
        if getattr(datastore, "enable_db_functions", False):
            self.close()
            raise UnorderedStoreError(
                "POSTGRES_ENABLE_DB_FUNCTIONS inserts events without the table lock that "
                "keeps the notification log in commit order; Parley refuses to run on it"
            )

    # ------------------------------------------------------------------ reading
    def head_position(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    def latest_version(self, aggregate_id: UUID) -> int | None:
        """The aggregate's last stored version (None: it does not exist), as read now or,
        inside :meth:`versions_read_together` for it, as read there."""
        together: dict[UUID, int | None] | None = getattr(self._together, "versions", None)
        if together is not None and aggregate_id in together:
            return together[aggregate_id]
        latest = self.recorder.select_events(aggregate_id, desc=True, limit=1)
        return int(latest[0].originator_version) if latest else None

    @contextmanager
    def versions_read_together(self, aggregate_ids: Sequence[UUID]) -> Iterator[None]:
        """Read the last versions of these aggregates in one statement, for
        :meth:`latest_version` to answer from until the block ends: a command that checks
        several kept aggregates (the care policy, the SLA book, the incident book) is
        unchanged pays one round trip, not one each. They are read a moment earlier than
        each check would read them: the command decides as if it had begun then, which is
        what any command racing a change of them does anyway."""
        select = getattr(self.recorder, "select_latest_versions", None)
        if select is None or getattr(self._together, "versions", None) is not None:
            yield  # a store without it; or nested: the outer block's reads stand
            return
        found = select(list(aggregate_ids))
        self._together.versions = {i: found.get(i) for i in aggregate_ids}
        try:
            yield
        finally:
            self._together.versions = None

    def _kept_current(self, aggregate_id: UUID, slot: str) -> Any:
        """The aggregate as it stands, loaded again only when its last version moved
        (kept in ``slot`` of this process as (version, aggregate), read-only); None if it
        does not exist."""
        version = self.latest_version(aggregate_id)
        if version is None:
            return None
        kept: tuple[int, Any] | None = getattr(self, slot, None)
        if kept is not None and kept[0] == version:
            return kept[1]
        aggregate: Any = self.repository.get(aggregate_id)
        setattr(self, slot, (aggregate.version, aggregate))
        return aggregate

    def _load(
        self, cls: type[A], aggregate_id: UUID, version: int | None = None, *, shared: bool = False
    ) -> A:
        """The aggregate, of the caller's own to change; ``shared=True`` (readers only) may
        return the one the load cache holds, which nobody may change."""
        aggregate: Aggregate | None
        try:
            repository = self.repository
            if shared and version is None and isinstance(repository, ReplayingRepository):
                aggregate = repository.get(aggregate_id, shared=True)
            else:
                aggregate = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            aggregate = None
        if not isinstance(aggregate, cls):
            raise self._not_found(cls, aggregate_id)
        return aggregate

    @staticmethod
    def _not_found(cls: type, aggregate_id: UUID) -> NotFoundError:
        if cls is Conversation:
            return ConversationNotFoundError(f"no conversation {aggregate_id}")
        if cls is Customer:
            return CustomerNotFoundError(f"no customer {aggregate_id}")
        return NotFoundError(f"no {cls.__name__} {aggregate_id}")

    @staticmethod
    def _check_version(aggregate: Aggregate, expected_version: int | None) -> None:
        """The caller's precondition: the aggregate is still at the version they read."""
        if expected_version is not None and aggregate.version != expected_version:
            raise PreconditionFailedError(aggregate.id, aggregate.version, expected_version)

    @staticmethod
    def _outcome(aggregate: Aggregate, **extra: Any) -> Callable[[], Outcome]:
        return lambda: Outcome(aggregate.id, aggregate.version, None, extra)

    # ------------------------------------------------------------------ saving
    def _save(
        self,
        *aggregates: Aggregate,
        claim: Claim | None = None,
        expected_version: int | None = None,
        response: Callable[[], Outcome],
        destroy_keys: list[UUID] | None = None,
    ) -> Outcome:
        """Save atomically, the idempotency claim last; map a lost race to a domain error.
        ``destroy_keys``: the data keys an erasure destroys in the same transaction.

        A command that changed nothing writes nothing, except its claim: a retry of it
        must answer what the first attempt answered, even if the case changed since.
        ``expected_version`` is the caller's If-Match: losing a race with one is a failed
        precondition (the version they named is gone), not a plain conflict.
        """
        outcome = response()
        changed = any(a.pending_events for a in aggregates)
        if not changed and claim is None:
            return outcome
        pending: list[Aggregate] = [a for a in aggregates if a.pending_events]
        if claim is not None:
            pending.append(claim.record(outcome, changed=changed, now=self.clock()))
        loaded = {a.id: a.version - len(a.pending_events) for a in aggregates}
        try:
            recordings = self.save(*pending, **({DESTROY: destroy_keys} if destroy_keys else {}))
        except IntegrityError:
            self._raise_conflict(aggregates, loaded, expected_version)
        if changed:
            outcome.position = max(r.notification.id for r in recordings)
        return outcome

    def _unchanged(self, outcome: Outcome, claim: Claim | None) -> Outcome:
        """A command found nothing to do (a contact recorded before): claim its key all
        the same, so that every keyed request is answered from one record."""
        if claim is not None:
            try:
                self.save(claim.record(outcome, changed=False, now=self.clock()))
            except IntegrityError:
                raise VersionConflictError(outcome.id, outcome.version) from None
        return outcome

    def _raise_conflict(
        self,
        aggregates: tuple[Aggregate, ...],
        loaded: dict[UUID, int],
        expected_version: int | None,
    ) -> NoReturn:
        """Name the aggregate someone changed first; else (an index or a key was taken
        first) the first aggregate as it stands. The library's error never leaks out."""

        def stored(aggregate: Aggregate) -> int:
            try:
                return int(self.repository.get(aggregate.id).version)
            except AggregateNotFoundError:
                return 0  # created by this command

        conflict = PreconditionFailedError if expected_version is not None else (
            VersionConflictError
        )  # fmt: skip
        for versioned in aggregates:
            if isinstance(versioned, Conversation | Customer) and (
                (now := stored(versioned)) != loaded[versioned.id]
            ):
                raise conflict(versioned.id, now, expected_version) from None
        for index in aggregates:
            if isinstance(index, IdentityIndex) and stored(index):
                raise IdentityTakenError(f"{index.key} was just claimed by another customer")
        first = aggregates[0]
        raise conflict(first.id, stored(first), expected_version) from None

    # ------------------------------------------------------------------ idempotency
    def run_once(
        self,
        request: IdempotentRequest | None,
        command: Callable[[Claim | None], Outcome],
        *,
        record: Callable[[Outcome], dict[str, Any]] | None = None,
    ) -> Outcome | Replay:
        """Run ``command`` at most once per idempotency key; a retry gets the first answer.

        The one protocol for the API, webhooks and jobs. The claim is written in the
        command's transaction, with what ``record`` makes of the outcome (the answer the
        caller gave, whatever its shape). A request racing its own retry loses on the
        claim or on whatever the winner changed: after *any* refusal the claim is read
        again, and if the winner recorded one, its answer is the answer.
        """
        if request is None:
            return command(None)
        now = self.clock()
        existing = self._find_key(request)
        if existing is not None and not existing.expired(now, self.key_ttl):
            return self._replay(existing, request)
        seen = existing.version if existing is not None else 0  # before any reclaim
        try:
            return command(Claim(request, existing, record))
        except DomainError:
            again = self._find_key(request)
            if again is not None and again.version != seen:
                return self._replay(again, request)
            raise

    def find_claim(self, request: IdempotentRequest) -> Replay | None:
        """The live earlier answer to this request's key, if any."""
        existing = self._find_key(request)
        if existing is None or existing.expired(self.clock(), self.key_ttl):
            return None
        return self._replay(existing, request)

    def _find_key(self, request: IdempotentRequest) -> IdempotencyKey | None:
        try:
            key: IdempotencyKey = self.repository.get(
                IdempotencyKey.create_id(request.principal, request.key)
            )
        except AggregateNotFoundError:
            return None
        return key

    @staticmethod
    def _replay(key: IdempotencyKey, request: IdempotentRequest) -> Replay:
        if key.fingerprint != request.fingerprint:
            raise IdempotencyKeyReusedError(
                "this idempotency key was used for a different request", field="idempotency_key"
            )
        return Replay(response=dict(key.response), changed=key.changed, claimed_at=key.claimed_at)
