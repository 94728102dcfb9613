"""Customers' data keys, kept apart from the events: the event store's recorders, with a
``parley_data_keys`` table of their own beside the events table.

A new key is written in the transaction that stores the first event sealed with it, and
an erasure destroys its keys in the transaction that stores its ``Erased`` event
(:class:`domain.privacy.KeyRing` hands both over). A destroyed key's row stays, with no
key in it, so "erased" and "lost" are told apart. Destroying overwrites the bytes:
SQLite with ``secure_delete`` and a truncating WAL checkpoint after the commit;
PostgreSQL with a ``VACUUM FULL`` of the keys table after it (see docs/operations.md for
what that does not reach: freed blocks, WAL archives, backups).

Selected by ``app.config.event_store_env`` (``APPLICATION_RECORDER_TOPIC``).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from app.group_commit import GroupCommit, Outcomes, PendingSave
from domain.privacy import DESTROY, KeyRing
from projections.wakeup import EVENTS, channel

TABLE = "parley_data_keys"
KEYS_PER_SELECT = 500  # owners per SELECT ... IN (...): under SQLite's 999-parameter floor
log = logging.getLogger("parley.keystore")


def _now() -> str:
    return datetime.now(UTC).isoformat()


class _KeyKeeping:
    """What both recorders share: the key ring, and its pending writes per save."""

    key_ring: KeyRing | None = None

    def attach_key_ring(self, ring: KeyRing) -> None:
        self.key_ring = ring

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super().insert_events(stored_events, **kwargs)  # type: ignore[misc]
        if kwargs.get(DESTROY):
            self._forget_destroyed()  # after the commit: the erasure stands whatever happens
        return ids  # type: ignore[no-any-return]

    def _forget_destroyed(self) -> None:
        """Make the destroyed keys' bytes leave the database's files (each store its way)."""

    def _pending(self, kwargs: dict[str, Any]) -> tuple[dict[UUID, bytes], list[UUID]]:
        """The keys this save stores, and those it destroys (an erasure's)."""
        created = {} if self.key_ring is None else self.key_ring.take_pending()
        return created, list(kwargs.get(DESTROY) or ())


class SQLiteKeyRecorder(_KeyKeeping, SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {TABLE} (owner_id TEXT PRIMARY KEY, wrapped BLOB,"
            " created_at TEXT NOT NULL, destroyed_at TEXT)",
        ]

    def select_data_key(self, owner: UUID) -> tuple[bool, bytes | None]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT wrapped FROM {TABLE} WHERE owner_id = ?", (owner.hex,))
            row = c.fetchone()
        return (False, None) if row is None else (True, row["wrapped"])

    def select_data_keys(self, owners: Sequence[UUID]) -> dict[UUID, bytes | None]:
        found: dict[UUID, bytes | None] = {}
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(owners), KEYS_PER_SELECT):
                chunk = [o.hex for o in owners[start : start + KEYS_PER_SELECT]]
                c.execute(
                    f"SELECT owner_id, wrapped FROM {TABLE} WHERE owner_id IN"
                    f" ({', '.join('?' * len(chunk))})",
                    chunk,
                )
                found.update((UUID(r["owner_id"]), r["wrapped"]) for r in c.fetchall())
        return found

    def select_latest_versions(self, originator_ids: Sequence[UUID]) -> dict[UUID, int]:
        """Each aggregate's last version, of those that exist: one statement for several
        aggregates a command only needs to know are unchanged (``Service.latest_version``)."""
        marks = ", ".join("?" * len(originator_ids))
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT originator_id, MAX(originator_version) AS version FROM"
                f" {self.events_table_name} WHERE originator_id IN ({marks})"
                " GROUP BY originator_id",
                [o.hex for o in originator_ids],
            )
            return {UUID(r["originator_id"]): int(r["version"]) for r in c.fetchall()}

    def insert_data_key(self, owner: UUID, wrapped: bytes) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO {TABLE} (owner_id, wrapped, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (owner_id) DO NOTHING",
                (owner.hex, wrapped, _now()),
            )

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        created, destroyed = self._pending(kwargs)
        if created:
            c.executemany(
                f"INSERT INTO {TABLE} (owner_id, wrapped, created_at) VALUES (?, ?, ?)",
                [(owner.hex, wrapped, _now()) for owner, wrapped in created.items()],
            )
        if destroyed:
            c.execute("PRAGMA secure_delete = ON")  # the old key's bytes are zeroed
            now = _now()
            for owner in destroyed:
                c.execute(
                    f"INSERT INTO {TABLE} (owner_id, wrapped, created_at, destroyed_at)"
                    " VALUES (?, NULL, ?, ?) ON CONFLICT (owner_id) DO UPDATE SET"
                    " wrapped = NULL, destroyed_at = excluded.destroyed_at",
                    (owner.hex, now, now),
                )
        return super()._insert_events(c, stored_events, **kwargs)

    def _forget_destroyed(self) -> None:
        """Copy the WAL into the database and empty it, so no earlier page image (one
        with the key in it) is left in the log file."""
        pool = self.datastore.pool
        if pool.is_sqlite_memory_mode:
            return
        try:  # the erasure is committed whatever happens here
            conn = sqlite3.connect(pool.db_name, uri=True, isolation_level=None, timeout=2)
            try:
                busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as error:
            busy = f"{type(error).__name__}"
        if busy:
            log.warning(
                "the WAL is in use (%s): destroyed keys may stay in it until a truncating"
                " checkpoint (PRAGMA wal_checkpoint(TRUNCATE) with no reader active)", busy,
            )  # fmt: skip


class _Conflicted(Exception):
    """An event of a group was stored by someone else first (raised to roll back)."""


class PostgresKeyRecorder(_KeyKeeping, PostgresApplicationRecorder):
    group_commit: GroupCommit | None = None

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{table} (owner_id uuid PRIMARY KEY,"
                " wrapped bytea, created_at timestamptz NOT NULL, destroyed_at timestamptz)"
            ).format(schema=Identifier(self.datastore.schema), table=Identifier(TABLE))
        )
        self._keys = SQL("{schema}.{table}").format(
            schema=Identifier(self.datastore.schema), table=Identifier(TABLE)
        )
        # A group's events in one statement; those someone stored first are left out
        # (and the group then written save by save): ``_commit_group``.
        self._insert_unless_taken = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
            " SELECT originator_id, originator_version, topic, state"
            " FROM unnest(%s::{schema}.{stored_event}[]) ON CONFLICT DO NOTHING"
            " RETURNING originator_id, originator_version, notification_id"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
            stored_event=Identifier(self.stored_event_type_name),
        )

    def select_data_key(self, owner: UUID) -> tuple[bool, bytes | None]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL("SELECT wrapped FROM {} WHERE owner_id = %s").format(self._keys),
                (owner,),
                prepare=True,
            )
            row = curs.fetchone()
        if row is None:
            return False, None
        wrapped = row["wrapped"]
        return True, None if wrapped is None else bytes(wrapped)

    def select_data_keys(self, owners: Sequence[UUID]) -> dict[UUID, bytes | None]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL("SELECT owner_id, wrapped FROM {} WHERE owner_id = ANY(%s)").format(self._keys),
                (list(owners),),
                prepare=True,
            )
            rows = curs.fetchall()
        return {r["owner_id"]: None if r["wrapped"] is None else bytes(r["wrapped"]) for r in rows}

    def select_latest_versions(self, originator_ids: Sequence[UUID]) -> dict[UUID, int]:
        """As SQLite's: each aggregate's last version, in one statement."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL(
                    "SELECT originator_id, MAX(originator_version) AS version FROM {}.{}"
                    " WHERE originator_id = ANY(%s) GROUP BY originator_id"
                ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name)),
                (list(originator_ids),),
                prepare=True,
            )
            return {r["originator_id"]: int(r["version"]) for r in curs.fetchall()}

    def insert_data_key(self, owner: UUID, wrapped: bytes) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "INSERT INTO {} (owner_id, wrapped, created_at) VALUES (%s, %s, %s)"
                    " ON CONFLICT (owner_id) DO NOTHING"
                ).format(self._keys),
                (owner, wrapped, datetime.now(UTC)),
            )

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        self._write_keys(curs, *self._pending(kwargs))
        super()._insert_events(curs, stored_events, **kwargs)

    def _write_keys(
        self, curs: Cursor[DictRow], created: dict[UUID, bytes], destroyed: list[UUID]
    ) -> None:
        now = datetime.now(UTC)
        if created:
            curs.executemany(
                SQL("INSERT INTO {} (owner_id, wrapped, created_at) VALUES (%s, %s, %s)").format(
                    self._keys
                ),
                [(owner, wrapped, now) for owner, wrapped in created.items()],
            )
        for owner in destroyed:
            curs.execute(
                SQL(
                    "INSERT INTO {} (owner_id, wrapped, created_at, destroyed_at)"
                    " VALUES (%s, NULL, %s, %s) ON CONFLICT (owner_id) DO UPDATE SET"
                    " wrapped = NULL, destroyed_at = excluded.destroyed_at"
                ).format(self._keys),
                (owner, now, now),
            )

    # ------------------------------------------------------------------ group commit
    def enable_group_commit(self) -> None:
        """Commit concurrent saves of this process together (``app.group_commit``)."""
        self.group_commit = GroupCommit(self._commit_group)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        group = self.group_commit
        if group is None or not stored_events:
            return super().insert_events(stored_events, **kwargs)
        created, destroyed = self._pending(kwargs)  # the key ring's are this thread's
        ids = group.submit(PendingSave(stored_events, created, destroyed))
        if destroyed:
            self._forget_destroyed()
        return ids

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _commit_group(self, group: list[PendingSave]) -> Outcomes:
        """One transaction, one table lock and one ``NOTIFY`` for the whole group.

        First all of it in one statement; if any event conflicts (someone saved that
        version first), that is undone and the group is written save by save, each in a
        savepoint of its own, so a conflict rolls back that save only."""
        if len(group) > 1:
            try:
                return self._commit_at_once(group)
            except _Conflicted:
                pass
        return self._commit_by_savepoints(group)

    def _commit_at_once(self, group: list[PendingSave]) -> Outcomes:
        rows = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for save in group
            for e in save.stored_events
        ]
        created = {owner: key for save in group for owner, key in save.created_keys.items()}
        destroyed = [owner for save in group for owner in save.destroyed_keys]
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._lock_table_at_once(curs)
            self._write_keys(curs, created, destroyed)
            curs.execute(self._insert_unless_taken, (rows,))
            stored = {(str(r["originator_id"]), r["originator_version"]): r["notification_id"]
                      for r in curs.fetchall()}  # fmt: skip
            if len(stored) != len(rows):
                raise _Conflicted  # rolls the transaction back
            self._notify_position(curs, max(stored.values()))
        ids = {
            i: [stored[str(e.originator_id), e.originator_version] for e in save.stored_events]
            for i, save in enumerate(group)
        }
        return Outcomes(ids, {})

    def _commit_by_savepoints(self, group: list[PendingSave]) -> Outcomes:
        ids: dict[int, Sequence[int]] = {}
        errors: dict[int, BaseException] = {}
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._lock_table_at_once(curs)
            if len(group) == 1:  # alone: its error is the transaction's, no savepoint
                ids[0] = self._insert_save(curs, group[0])
            for i, save in enumerate(group if len(group) > 1 else ()):
                try:
                    with conn.transaction():  # a savepoint
                        ids[i] = self._insert_save(curs, save)
                except psycopg.IntegrityError as error:
                    errors[i] = IntegrityError(str(error))
            last = max((max(found) for found in ids.values() if found), default=None)
            if last is not None:
                self._notify_position(curs, last)
        return Outcomes(ids, errors)

    def _insert_save(self, curs: Cursor[DictRow], save: PendingSave) -> Sequence[int]:
        """One save of a group: its keys, then the library's plain insert without the
        lock (the group holds it) and its NOTIFY; the ids as the library reads them."""
        self._write_keys(curs, save.created_keys, save.destroyed_keys)
        super(PostgresApplicationRecorder, self)._insert_stored_events(curs, save.stored_events)
        return super()._fetch_ids_after_insert_events(curs, save.stored_events) or []

    def _lock_table_at_once(self, curs: Cursor[DictRow]) -> None:
        """The library's lock statements (``SET LOCAL lock_timeout``, then ``LOCK TABLE``)
        sent as one query, a round trip fewer per group: without parameters psycopg sends
        it by the simple protocol, which runs several statements in order. Only outside a
        pipeline (the library's own insert path runs in one, where it cannot be done)."""
        curs.execute(SQL("; ").join(self.lock_table_statements))

    def _notify_channel(self, curs: Cursor[DictRow]) -> None:
        """Nothing here: the library's own ``NOTIFY <events table>`` (for its
        ``subscribe()``, unused) is named the same in every schema, so tenants and tests
        would wake each other. The schema's own channel is told once the ids are known
        (below)."""

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The new notification ids; and a ``NOTIFY`` of the last one on the schema's
        events channel, in the save's transaction: listeners (projections.wakeup) hear of
        it when it commits, and never of a save rolled back."""
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if ids:
            self._notify_position(curs, max(ids))
        return ids

    def _notify_position(self, curs: Cursor[DictRow], position: int) -> None:
        curs.execute(
            "SELECT pg_notify(%s, %s)",
            (channel(EVENTS, self.datastore.schema), str(position)),
            prepare=True,
        )

    def _forget_destroyed(self) -> None:
        """Rewrite the (small) keys table now, without the destroyed keys' old row
        versions, rather than leave them in dead tuples until autovacuum (docs/operations.md:
        what PostgreSQL still keeps)."""
        try:
            with self.datastore.get_connection() as conn:
                conn.execute(SQL("VACUUM FULL {}").format(self._keys))
        except Exception as error:  # the erasure stands; the space is reclaimed later
            log.warning("VACUUM of the data keys failed: %s", type(error).__name__)
