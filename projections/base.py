"""What a projection is: tables it owns, and a way to apply a batch of events to them.

A projection never calls a command; it reads events and writes only its own tables.
Its tables are declared as DDL templates so the same projection can be built into the
live tables, into shadow tables (a rebuild) or into scratch tables (a verify).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from projections.db import Tx

Batch = Sequence[tuple[int, Any]]  # (global position, decoded domain event)

LIVE, SHADOW, SCRATCH = "", "__shadow", "__scratch"
PREFETCH_CHUNK = 500  # keys per SELECT ... IN (...): under SQLite's 999-parameter floor


class TableNames(dict[str, str]):
    """Logical table name -> physical name, for one variant (live, shadow or scratch)."""

    @classmethod
    def of(cls, projection: Projection, variant: str = LIVE) -> TableNames:
        return cls({t: f"proj_{t}{variant}" for t in projection.tables})


class Skipped:
    """An event of the log left undecoded because no projection reading it handles its
    topic: it keeps its place (and position) in a batch, and is nothing to every handler
    (its type, ``Skipped``, names no handler and no aggregate)."""

    __slots__ = ("topic",)

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def __repr__(self) -> str:
        return f"Skipped({self.topic!r})"


def event_type(event: Any) -> str:
    """``Conversation.Opened`` from the topic ``parley.Conversation.Opened``."""
    topic: str = getattr(type(event), "TOPIC", type(event).__qualname__)
    return topic.removeprefix("parley.")


class Projection:
    """Subclasses set ``name`` and ``tables``, and define ``on_<Aggregate>_<Event>`` methods."""

    name: ClassVar[str]
    # Raise it when the tables' shape or meaning changes: live tables built by another
    # version are "outdated", are not followed, and `parley projections run` rebuilds them.
    version: ClassVar[int] = 1
    # logical table -> DDL statements; {t} is the physical table, {g} a per-build token
    # that keeps index and constraint names unique across live, shadow and scratch.
    tables: ClassVar[dict[str, list[str]]]

    # logical table -> DDL of indexes only reads use (no handler's lookup needs them):
    # made with the tables, except by a rebuild, which makes them after its bulk load.
    read_indexes: ClassVar[dict[str, list[str]]] = {}

    def create_tables(
        self, tx: Tx, names: TableNames, token: str, *, read_indexes: bool = True
    ) -> None:
        for logical, statements in self.tables.items():
            for statement in statements:
                tx.run(statement.format(t=names[logical], g=token))
        if read_indexes:
            self.create_read_indexes(tx, names, token)

    def create_read_indexes(self, tx: Tx, names: TableNames, token: str) -> None:
        for logical, statements in self.read_indexes.items():
            for statement in statements:
                tx.run(statement.format(t=names[logical], g=token))

    def drop_tables(self, tx: Tx, names: TableNames) -> None:
        for physical in names.values():
            tx.run(f"DROP TABLE IF EXISTS {physical}")

    # logical table -> (key column, columns): rows cached per batch, upserted at its end
    cached: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {}

    def apply(self, tx: Tx, names: TableNames, batch: Batch) -> None:
        """Apply a batch in the caller's transaction; handlers are ``on_<Aggregate>_<Event>``.

        The rows the batch will touch are read first, a few statements for the whole
        batch, and everything written goes back in one statement per table at the end:
        on PostgreSQL a round trip per event would cost more than the event's own work.
        """
        ctx = Context(
            tx,
            names,
            {
                logical: RowCache(tx, names[logical], key, columns)
                for logical, (key, columns) in self.cached.items()
            },
        )
        keys = self.prefetch_keys(batch)
        for cache in ctx.rows.values():
            cache.prefetch(keys)
        for position, event in batch:
            handler = self.handler_for(event)
            if handler is not None:
                handler(ctx, position, event)
        self.finish_batch(ctx)
        for cache in ctx.rows.values():
            cache.flush()
        ctx.flush_inserts()

    def handler_for(self, event: Any) -> Any:
        """The method that applies ``event`` (``None`` for an event it ignores): by its
        type alone, looked up once per type."""
        kind = event_type(event)
        handlers: dict[str, Any] = self.__dict__.setdefault("_handlers", {})
        if kind not in handlers:
            handlers[kind] = self.handler_for_kind(kind)
        return handlers[kind]

    def handler_for_kind(self, kind: str) -> Any:
        """The method for events of type ``kind`` (``Conversation.Opened``):
        ``on_<Aggregate>_<Event>``, if defined. A projection that handles events another
        way overrides this, never ``handler_for``: :meth:`handles` asks it too."""
        return getattr(self, "on_" + kind.replace(".", "_"), None)

    def handles(self, topic: str) -> bool:
        """Whether events of ``topic`` (``parley.Conversation.Opened``) do anything here: a
        log reader leaves the others undecoded (:class:`Skipped`) for this projection."""
        return self.handler_for_kind(topic.removeprefix("parley.")) is not None

    def finish_batch(self, ctx: Context) -> None:
        """After the batch's handlers, before its rows are written: for totals and the like."""

    def prefetch_keys(self, batch: Batch) -> list[str]:
        """Keys of the cached rows the batch touches: every cached table here is keyed by
        conversation id, so the ids of the batch's conversation events."""
        return list(
            dict.fromkeys(
                str(event.originator_id)
                for _, event in batch
                if event_type(event).startswith("Conversation.")
            )
        )


@dataclass
class Context:
    """What a handler works with: the transaction, the table names, the row caches, and
    rows to append (``insert``), written in one statement per table when the batch ends."""

    tx: Tx
    names: TableNames
    rows: dict[str, RowCache]
    inserts: dict[tuple[str, tuple[str, ...]], list[list[Any]]] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)  # a projection's own per-batch state

    def insert(self, logical: str, row: dict[str, Any]) -> None:
        """Append a row to a table the batch only adds to (nothing reads it mid-batch)."""
        self.inserts.setdefault((logical, tuple(row)), []).append(list(row.values()))

    def flush_inserts(self) -> None:
        for (logical, columns), rows in self.inserts.items():
            self.tx.append(self.names[logical], columns, rows)
        self.inserts.clear()


class RowCache:
    """Rows of one table read once per batch, written back once: fewer round trips.

    Derived columns are computed in Python (``finish``) so the same code runs on both
    databases. ``flush`` upserts every row touched.
    """

    def __init__(self, tx: Tx, table: str, key: str, columns: Sequence[str]) -> None:
        self.tx, self.table, self.key, self.columns = tx, table, key, list(columns)
        self.rows: dict[str, dict[str, Any] | None] = {}
        self.before: dict[str, dict[str, Any] | None] = {}  # as each row was read
        self.dirty: set[str] = set()

    def get(self, key: str) -> dict[str, Any] | None:
        if key not in self.rows:
            row = self.tx.one(f"SELECT * FROM {self.table} WHERE {self.key} = ?", [key])
            self.rows[key] = self.before[key] = row
        return self.rows[key]

    def changes(self) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any]]]:
        """(row before the batch or None, row now) for every row the batch wrote."""
        for key in sorted(self.dirty):
            row = self.rows[key]
            if row is not None:
                yield self.before.get(key), row

    def prefetch(self, keys: Sequence[str]) -> None:
        """Read these rows (absent ones as None) in a few statements instead of one each."""
        wanted = [k for k in keys if k not in self.rows]
        for start in range(0, len(wanted), PREFETCH_CHUNK):
            chunk = wanted[start : start + PREFETCH_CHUNK]
            marks = ", ".join("?" * len(chunk))
            found = {
                str(row[self.key]): row
                for row in self.tx.all(
                    f"SELECT * FROM {self.table} WHERE {self.key} IN ({marks})", chunk
                )
            }
            for key in chunk:
                self.rows[key] = self.before[key] = found.get(key)

    def put(self, key: str, row: dict[str, Any]) -> None:
        self.rows[key] = row
        self.dirty.add(key)

    def flush(self) -> None:
        cols = self.columns
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != self.key)
        rows = [self.rows[k] for k in sorted(self.dirty)]
        self.tx.insert_many(
            f"INSERT INTO {self.table} ({', '.join(cols)})",
            [[row[c] for c in cols] for row in rows if row is not None],
            f"ON CONFLICT ({self.key}) DO UPDATE SET {updates}",
        )
        self.dirty.clear()


def dumps(value: Iterable[str]) -> str:
    return json.dumps(sorted(value))


def clean(text: str) -> str:
    """Text safe in any read store (PostgreSQL text cannot hold NUL)."""
    return text.replace("\x00", "")


def preview(body: str, length: int = 140) -> str:
    flat = " ".join(clean(body).split())
    return flat if len(flat) <= length else flat[: length - 1] + "…"
