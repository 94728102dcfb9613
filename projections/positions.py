"""Each projection's processed position and last error, in the read store.

The position is written in the same transaction as the view update it covers, so a
projection can stop anywhere and resume without missing or doubling an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from projections.db import ReadStore, Tx, timestamp
from projections.wakeup import POSITIONS

TABLE = "proj_positions"
DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " name TEXT PRIMARY KEY, position BIGINT NOT NULL, token TEXT NOT NULL,"
    " error TEXT, error_position BIGINT, error_event TEXT, updated_at TEXT, version INTEGER)"
)


@dataclass(frozen=True)
class Status:
    name: str
    position: int
    error: str | None
    error_position: int | None
    error_event: str | None
    updated_at: str | None
    version: int  # of the projection code that built the tables (see Projection.version)


def ensure_table(store: ReadStore) -> None:
    with store.transaction(lock_key="proj_positions") as tx:
        tx.run(DDL)
        if "version" not in tx.columns(TABLE):  # a read store from before versions: 1
            tx.run(f"ALTER TABLE {TABLE} ADD COLUMN version INTEGER")


def read(tx: Tx, name: str) -> dict[str, Any] | None:
    return tx.one(f"SELECT * FROM {TABLE} WHERE name = ?", [name])


def start(tx: Tx, name: str, token: str, version: int, position: int = 0) -> None:
    tx.run(f"DELETE FROM {TABLE} WHERE name = ?", [name])
    tx.run(
        f"INSERT INTO {TABLE} (name, position, token, updated_at, version) VALUES (?, ?, ?, ?, ?)",
        [name, position, token, _now(), version],
    )


def advance(tx: Tx, name: str, position: int) -> None:
    tx.run(
        f"UPDATE {TABLE} SET position = ?, error = NULL, error_position = NULL,"
        " error_event = NULL, updated_at = ? WHERE name = ?",
        [position, _now(), name],
    )
    tx.notify(POSITIONS, f"{name} {position}")  # delivered on commit: readers waiting wake


def record_error(tx: Tx, name: str, position: int, event: str, error: str) -> None:
    tx.run(
        f"UPDATE {TABLE} SET error = ?, error_position = ?, error_event = ?, updated_at = ?"
        " WHERE name = ?",
        [error[:2000], position, event, _now(), name],
    )


def statuses(store: ReadStore) -> dict[str, Status]:
    rows = store.query(f"SELECT * FROM {TABLE}")
    return {
        r["name"]: Status(
            r["name"],
            int(r["position"]),
            r["error"],
            r["error_position"],
            r["error_event"],
            r["updated_at"],
            int(r["version"] or 1),
        )
        for r in rows
    }


def _now() -> str | None:
    # Bookkeeping only: never part of a view, so rebuilt views still equal live ones.
    return timestamp(datetime.now(UTC))
