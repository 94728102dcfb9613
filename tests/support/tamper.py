"""Editing an event store behind the application's back, as an intruder with the
database would: change a row's bytes, delete, insert or swap rows. SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from bench.stores import postgres_settings


class Tamper:
    def __init__(self, store: dict[str, str], table: str) -> None:
        self.store, self.table = store, table
        self.postgres = store.get("PARLEY_STORE") == "postgres"
        self.key = "notification_id" if self.postgres else "rowid"

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        if self.postgres:
            with psycopg.connect(**postgres_settings(), autocommit=True) as conn:  # type: ignore[arg-type]
                conn.execute(f"SET search_path TO {self.store['PARLEY_POSTGRES_SCHEMA']}")
                yield conn
            return
        conn = sqlite3.connect(self.store["PARLEY_SQLITE_PATH"], isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()

    def _p(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    def row(self, position: int) -> tuple[Any, ...]:
        with self._cursor() as c:
            found = c.execute(
                self._p(f"SELECT originator_id, originator_version, topic, state FROM"
                        f" {self.table} WHERE {self.key} = ?"), [position],
            ).fetchone()  # fmt: skip
        assert found is not None, f"no row at {position}"
        return tuple(found)

    def alter(self, position: int, old: bytes, new: bytes) -> None:
        state = bytes(self.row(position)[3])
        assert old in state, (old, state[:200])
        with self._cursor() as c:
            c.execute(self._p(f"UPDATE {self.table} SET state = ? WHERE {self.key} = ?"),
                      [state.replace(old, new), position])  # fmt: skip

    def delete(self, position: int) -> tuple[Any, ...]:
        gone = self.row(position)
        with self._cursor() as c:
            c.execute(self._p(f"DELETE FROM {self.table} WHERE {self.key} = ?"), [position])
        return gone

    def insert(self, position: int, row: tuple[Any, ...]) -> None:
        with self._cursor() as c:
            c.execute(
                self._p(f"INSERT INTO {self.table} ({self.key}, originator_id,"
                        " originator_version, topic, state) VALUES (?, ?, ?, ?, ?)"),
                [position, *row],
            )  # fmt: skip

    def swap(self, a: int, b: int) -> None:
        """Two rows exchange places in the log (each keeps its own content)."""
        first, second = self.delete(a), self.delete(b)
        self.insert(a, second)
        self.insert(b, first)
