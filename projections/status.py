"""How far each projection has got: position, head, lag, last error; and waiting for one."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from projections import positions
from projections.base import Projection
from projections.db import ReadStore, iso
from projections.log import EventLog
from projections.wakeup import POSITIONS


def projection_status(
    store: ReadStore, events: EventLog, projections: Sequence[Projection]
) -> list[dict[str, Any]]:
    head = events.head()
    known = positions.statuses(store)
    out = []
    for projection in projections:
        status = known.get(projection.name)
        position = status.position if status else 0
        out.append(
            {
                "name": projection.name,
                "position": position,
                "head": head,
                "lag": max(head - position, 0),
                "state": state(projection, status),
                "version": projection.version,
                "built_by_version": status.version if status else None,
                "last_error": None if status is None or not status.error else {
                    "position": status.error_position,
                    "event": status.error_event,
                    "error": status.error,
                },
                "updated_at": iso(status.updated_at) if status else None,
            }
        )  # fmt: skip
    return out


def state(projection: Projection, status: positions.Status | None) -> str:
    """missing (never set up), outdated (tables of another version), failed, or running."""
    if status is None:
        return "missing"
    if status.version != projection.version:
        return "outdated"
    return "failed" if status.error else "running"


def outdated(store: ReadStore, projections: Sequence[Projection]) -> list[Projection]:
    """The projections whose live tables another version of their code built."""
    known = positions.statuses(store)
    return [p for p in projections if state(p, known.get(p.name)) == "outdated"]


def position_of(store: ReadStore, name: str) -> int:
    status = positions.statuses(store).get(name)
    return status.position if status else 0


def wait_for(store: ReadStore, name: str, min_position: int, timeout: float) -> tuple[int, bool]:
    """Wait (bounded) until projection ``name`` has processed ``min_position``.

    Returns the position reached and whether it covers ``min_position``. A position
    update committed wakes it at once on PostgreSQL (the store's wakeup); the growing poll
    (10 ms to 100 ms) stays as the fallback.
    """
    wakeup = store.wakeup()
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        mark = wakeup.mark(POSITIONS)  # before the read: an update during it is not missed
        position = position_of(store, name)
        if position >= min_position:
            return position, True
        if time.monotonic() >= deadline:
            return position, False
        wakeup.wait(mark, min(delay, max(deadline - time.monotonic(), 0)))
        delay = min(delay * 2, 0.1)
