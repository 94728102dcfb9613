"""The read store: where projections keep their tables, on SQLite or PostgreSQL.

SQL is written once with ``?`` placeholders and portable types (TEXT, BIGINT, INTEGER);
on PostgreSQL the placeholders become ``%s``. Times are stored as ISO 8601 UTC text of a
fixed width, so they sort as text. On SQLite the read models live in their own file (the
library's SQLite tables are not namespaced); on PostgreSQL in the event store's database
and schema, under a ``proj_`` prefix.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import psycopg

from projections.wakeup import Listener, Wakeup, channel

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
VACUUM_ROWS = 10_000  # a built table this large is vacuumed before it serves (PostgreSQL)


def timestamp(value: datetime | None) -> str | None:
    """A datetime as fixed-width UTC text (sorts correctly as a string)."""
    if value is None:
        return None
    utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    # isoformat zero-pads the year (strftime writes year 999 as "999", which neither sorts
    # nor parses) and, with timespec, always writes the microseconds; "+00:00" becomes "Z".
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_timestamp(value: str | None) -> datetime | None:
    if value is None:
        return None
    if len(value) == 27 and value[-1] == "Z":  # as `timestamp` writes it: the fast parser
        return datetime.fromisoformat(value)
    return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)


def iso(value: str | None) -> str | None:
    """Stored time text as ISO 8601 with an offset, as every API answer shows times:
    ``parse_timestamp(value).isoformat()``. An inbox page shows seven per row, so the
    text ``timestamp`` writes is rewritten as text (isoformat leaves out zero
    microseconds); anything else is parsed."""
    if value is None:
        return None
    if len(value) == 27 and value[-1] == "Z" and value[10] == "T":
        return (value[:19] if value.endswith(".000000Z") else value[:-1]) + "+00:00"
    parsed = parse_timestamp(value)
    return parsed.isoformat() if parsed else None


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


log = logging.getLogger(__name__)


class ReadStore:
    """A connection source with one ``transaction()`` shape for both databases."""

    @contextmanager
    def transaction(self, *, lock_key: str | None = None) -> Iterator[Tx]:
        """A transaction. With ``lock_key`` it writes, taking that key's lock first (writers
        of one key take turns); without, it only reads, from one snapshot."""
        raise NotImplementedError
        yield  # pragma: no cover

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.transaction() as tx:
            return tx.all(sql, params)

    def analyze(self, tables: Iterable[str]) -> None:
        """Gather planner statistics for freshly built tables (where the planner needs them)."""

    def forget_overwritten(self) -> None:
        """Make the old versions of rows just overwritten (an erasure's) leave the files.
        SQLite zeroes them in place (``secure_delete``) and empties its WAL here; on
        PostgreSQL they stay in dead tuples until VACUUM (docs/operations.md)."""

    def wakeup(self) -> Wakeup:
        """What waits for the log or a position to move wait on (projections.wakeup).
        Here one nobody bumps: every wait is its timed poll."""
        wakeup: Wakeup | None = getattr(self, "_idle_wakeup", None)
        if wakeup is None:
            wakeup = self._idle_wakeup = Wakeup()
        return wakeup

    def close(self) -> None:
        raise NotImplementedError


class Tx:
    """One transaction: ``run`` a statement, read ``all``/``one`` rows as dicts."""

    def __init__(self, cursor: Any, placeholder: str, schema: str | None = None) -> None:
        self.cursor = cursor
        self.placeholder = placeholder
        self.schema = schema  # PostgreSQL's (None: public); what notify() names channels by

    def notify(self, kind: str, payload: str) -> None:
        """Tell listeners (projections.wakeup) on commit, not before and not on rollback;
        nothing on SQLite, whose waiters poll."""
        if self.placeholder != "?":
            self.cursor.execute("SELECT pg_notify(%s, %s)", (channel(kind, self.schema), payload))

    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", "%s")

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.cursor.execute(self._sql(sql), tuple(params))

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cursor.executemany(self._sql(sql), [tuple(r) for r in rows])

    def insert_many(self, head: str, rows: Sequence[Sequence[Any]], tail: str = "") -> None:
        """``{head} VALUES (...) {tail}`` for every row, as one ``executemany`` (psycopg
        pipelines it: one round trip for the lot, not one per row)."""
        if rows:
            self.run_many(f"{head} VALUES ({', '.join('?' * len(rows[0]))}) {tail}", rows)

    def append(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Rows into a table nothing in the batch reads back or updates: one ``COPY`` on
        PostgreSQL (a stream, no statement per row), one ``executemany`` on SQLite."""
        if not rows:
            return
        if self.placeholder == "?":
            self.insert_many(f"INSERT INTO {table} ({', '.join(columns)})", rows)
            return
        with self.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.cursor.execute(self._sql(sql), tuple(params))
        if self.cursor.description is None:
            return []
        names = [d[0] for d in self.cursor.description]
        return [dict(zip(names, row, strict=True)) for row in self.cursor.fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def columns(self, table: str) -> list[str]:
        """The table's column names (read from an empty result: works on both databases)."""
        self.cursor.execute(f"SELECT * FROM {table} WHERE 1 = 0")
        return [d[0] for d in self.cursor.description]


class SQLiteReadStore(ReadStore):
    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        if path == ":memory:":
            # One in-memory database shared by this store's threads (each connection to a
            # plain ":memory:" would get its own, empty one); kept alive by the first.
            self.path = f"file:parley-read-{id(self)}?mode=memory&cache=shared"
            self._connection()
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.path = path

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False,
                uri=self.path.startswith("file:"),
            )  # fmt: skip
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA synchronous=NORMAL")
            # Deleted and overwritten rows are zeroed, not left in free pages: an erased
            # customer's previews must leave the file, not just the table.
            conn.execute("PRAGMA secure_delete=ON")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self, *, lock_key: str | None = None) -> Iterator[Tx]:
        conn = self._connection()
        cursor = conn.cursor()
        # IMMEDIATE takes the write lock at once: writers are serialised, readers are not.
        cursor.execute("BEGIN IMMEDIATE" if lock_key else "BEGIN")
        try:
            yield Tx(cursor, "?")
            conn.commit()
        finally:
            if conn.in_transaction:  # an error, or a commit that failed: leave nothing open
                conn.rollback()

    def analyze(self, tables: Iterable[str]) -> None:
        """Nothing: the inbox's queries are planned on its indexes without statistics, and
        ``sqlite_stat1`` keeps a renamed table's rows under its old name, so statistics
        gathered on shadow tables would be orphaned at the swap."""

    def forget_overwritten(self) -> None:
        if self.path.startswith("file:"):
            return  # in memory
        busy, _, _ = self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            log.warning("the read store's WAL is in use: overwritten rows leave it later")

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


class PostgresReadStore(ReadStore):
    def __init__(
        self,
        conninfo: dict[str, str],
        schema: str | None,
        pool_size: int = 5,
        *,
        listen: bool = True,
    ) -> None:
        from psycopg_pool import ConnectionPool

        self.conninfo, self.schema, self.listen = dict(conninfo), schema, listen
        self._listener: Listener | None = None
        self._listener_lock = threading.Lock()
        kwargs: dict[str, Any] = dict(conninfo)
        # No parallel plans: every read here is an index range of a page or a bounded
        # count, and starting the workers of a parallel scan took longer (5 ms at a million
        # cases) than the whole page read without them.
        # (libpq's ``options`` replaces PGOPTIONS: what that says is kept, first.)
        options = [os.environ.get("PGOPTIONS", ""), "-c max_parallel_workers_per_gather=0"]
        if schema:
            options.append(f"-c search_path={schema}")
        kwargs["options"] = " ".join(o for o in options if o)
        self.pool = ConnectionPool(
            kwargs=kwargs, min_size=1, max_size=pool_size, open=True, name="parley-read"
        )

    @contextmanager
    def transaction(self, *, lock_key: str | None = None) -> Iterator[Tx]:
        for attempt in (1, 2):
            stack, conn = ExitStack(), None
            try:
                conn = stack.enter_context(self.pool.connection())
                # A read of several statements (a page and its counts) sees one moment:
                # psycopg begins it so, in the BEGIN (a round trip fewer than a SET).
                _characterise(conn, reading=not lock_key)
                stack.enter_context(conn.transaction())
                cursor = stack.enter_context(conn.cursor())
                if lock_key:
                    # Writers of one projection take turns (the live follower and a
                    # rebuild's swap).
                    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock_key,))
            except psycopg.OperationalError:
                stack.close()  # the pool drops a closed connection as it gets it back
                if attempt == 2 or conn is None or not conn.closed:
                    raise
                # A PostgreSQL restart closed the pooled connections: nothing of this
                # transaction ran yet, so drop every dead one and start it once more.
                self.pool.check()
                continue
            with stack:
                yield Tx(cursor, "%s", self.schema)
            return

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """One read statement, without BEGIN and COMMIT around it (two round trips of the
        four): a single statement sees one snapshot whatever the transaction."""
        for attempt in (1, 2):
            conn = None
            try:
                with self.pool.connection() as conn:
                    conn.autocommit = True
                    try:
                        with conn.cursor() as cursor:
                            return Tx(cursor, "%s", self.schema).all(sql, params)
                    finally:
                        if not conn.closed:
                            conn.autocommit = False
            except psycopg.OperationalError:
                # As transaction(): a connection a PostgreSQL restart closed, tried once more.
                if attempt == 2 or conn is None or not conn.closed:
                    raise
                self.pool.check()
        raise AssertionError("unreachable")  # pragma: no cover

    def wakeup(self) -> Wakeup:
        """Bumped by this process's :class:`Listener` (one extra connection), started on
        the first call; with ``listen`` off, one nobody bumps (waits poll)."""
        if not self.listen:
            return super().wakeup()
        with self._listener_lock:
            listener = self._listener
            if listener is None or listener.pid != os.getpid():  # none yet, or forked
                listener = self._listener = Listener(self.conninfo, self.schema).start()
            return listener.wakeup

    def analyze(self, tables: Iterable[str]) -> None:
        """A new table has no statistics until autovacuum gets to it; without them the
        planner sorts the whole inbox for a page it could read off an index. A large table
        is VACUUMed too, which marks the bulk-loaded pages all-visible, so an index-only
        scan (a tag's page) reads no table page per row to learn whether that row is
        visible; a small one is not worth the vacuum's fixed cost (some 20 ms a table)."""
        tables = list(tables)
        with self.pool.connection() as conn:
            _characterise(conn, reading=False)
            conn.autocommit = True  # VACUUM runs outside a transaction
            try:
                for table in tables:
                    conn.execute(f"ANALYZE {table}")
                large = conn.execute(
                    "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND reltuples >= %s"
                    " AND relnamespace = current_schema()::regnamespace",
                    (tables, VACUUM_ROWS),
                ).fetchall()
                for (table,) in large:
                    conn.execute(f"VACUUM {table}")
            finally:
                conn.autocommit = False

    @property
    def listener(self) -> Listener | None:
        """This process's listener, once :meth:`wakeup` started it."""
        return self._listener

    def close(self) -> None:
        with self._listener_lock:
            if self._listener is not None and self._listener.pid == os.getpid():
                self._listener.stop()
            self._listener = None
        self.pool.close()


def _characterise(conn: psycopg.Connection[Any], *, reading: bool) -> None:
    """How the pooled connection's next transaction begins: a read sees one snapshot and
    writes nothing; anything else runs as the server's default. Set on every checkout: a
    connection comes back from the pool as its last user left it."""
    if reading:
        conn.isolation_level, conn.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
    else:
        conn.isolation_level, conn.read_only = None, None


def open_read_store(settings: Any) -> ReadStore:
    """The read store matching the configured event store (see app.config.Settings)."""
    if settings.store == "sqlite":
        return SQLiteReadStore(settings.read_store_sqlite_path())
    return PostgresReadStore(
        {
            "host": settings.postgres_host,
            "port": str(settings.postgres_port),
            "dbname": settings.postgres_db,
            "user": settings.postgres_user,
            "password": settings.postgres_password,
            "connect_timeout": "5",
        },
        settings.postgres_schema or None,
        settings.postgres_pool_size,
        listen=settings.listen_notify,
    )
