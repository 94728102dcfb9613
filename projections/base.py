"""What a projection is: tables it owns, and a way to apply a batch of events to them.

A projection never calls a command; it reads events and writes only its own tables.
Its tables are declared as DDL templates so the same projection can be built into the
live tables, into shadow tables (a rebuild) or into scratch tables (a verify).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from projections.db import Tx

Batch = Sequence[tuple[int, Any]]  # (global position, decoded domain event)

LIVE, SHADOW, SCRATCH = "", "__shadow", "__scratch"


class TableNames(dict[str, str]):
    """Logical table name -> physical name, for one variant (live, shadow or scratch)."""

    @classmethod
    def of(cls, projection: Projection, variant: str = LIVE) -> TableNames:
        return cls({t: f"proj_{t}{variant}" for t in projection.tables})


def event_type(event: Any) -> str:
    """``Conversation.Opened`` from the topic ``parley.Conversation.Opened``."""
    topic: str = getattr(type(event), "TOPIC", type(event).__qualname__)
    return topic.removeprefix("parley.")


class Projection:
    """Subclasses set ``name`` and ``tables``, and define ``on_<Aggregate>_<Event>`` methods."""

    name: ClassVar[str]
    # logical table -> DDL statements; {t} is the physical table, {g} a per-build token
    # that keeps index and constraint names unique across live, shadow and scratch.
    tables: ClassVar[dict[str, list[str]]]

    def create_tables(self, tx: Tx, names: TableNames, token: str) -> None:
        for logical, statements in self.tables.items():
            for statement in statements:
                tx.run(statement.format(t=names[logical], g=token))

    def drop_tables(self, tx: Tx, names: TableNames) -> None:
        for physical in names.values():
            tx.run(f"DROP TABLE IF EXISTS {physical}")

    # logical table -> (key column, columns): rows cached per batch, upserted at its end
    cached: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {}

    def apply(self, tx: Tx, names: TableNames, batch: Batch) -> None:
        """Apply a batch in the caller's transaction; handlers are ``on_<Aggregate>_<Event>``."""
        ctx = Context(
            tx,
            names,
            {
                logical: RowCache(tx, names[logical], key, columns)
                for logical, (key, columns) in self.cached.items()
            },
        )
        for position, event in batch:
            handler = getattr(self, "on_" + event_type(event).replace(".", "_"), None)
            if handler is not None:
                handler(ctx, position, event)
        for cache in ctx.rows.values():
            cache.flush()


@dataclass
class Context:
    """What a handler works with: the transaction, the table names, the row caches."""

    tx: Tx
    names: TableNames
    rows: dict[str, RowCache]


class RowCache:
    """Rows of one table read once per batch, written back once: fewer round trips.

    Derived columns are computed in Python (``finish``) so the same code runs on both
    databases. ``flush`` upserts every row touched.
    """

    def __init__(self, tx: Tx, table: str, key: str, columns: Sequence[str]) -> None:
        self.tx, self.table, self.key, self.columns = tx, table, key, list(columns)
        self.rows: dict[str, dict[str, Any] | None] = {}
        self.dirty: set[str] = set()

    def get(self, key: str) -> dict[str, Any] | None:
        if key not in self.rows:
            self.rows[key] = self.tx.one(f"SELECT * FROM {self.table} WHERE {self.key} = ?", [key])
        return self.rows[key]

    def put(self, key: str, row: dict[str, Any]) -> None:
        self.rows[key] = row
        self.dirty.add(key)

    def flush(self) -> None:
        cols = self.columns
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != self.key)
        sql = (
            f"INSERT INTO {self.table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT ({self.key}) DO UPDATE SET {updates}"
        )
        rows = [self.rows[k] for k in sorted(self.dirty)]
        self.tx.run_many(sql, [[row[c] for c in cols] for row in rows if row is not None])
        self.dirty.clear()


def dumps(value: Iterable[str]) -> str:
    return json.dumps(sorted(value))


def clean(text: str) -> str:
    """Text safe in any read store (PostgreSQL text cannot hold NUL)."""
    return text.replace("\x00", "")


def preview(body: str, length: int = 140) -> str:
    flat = " ".join(clean(body).split())
    return flat if len(flat) <= length else flat[: length - 1] + "…"
