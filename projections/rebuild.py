"""Rebuild a projection in shadow tables and swap it in; verify one against a scratch build.

The live view keeps serving while the shadow is built from position 0 in batches. When
the shadow has caught up, the last few events and the swap happen in one transaction
holding the live projection's lock, so the live follower can neither write a stale
table nor skip an event, and readers see the old view or the new one, never a mix.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from projections import positions
from projections.base import LIVE, SCRATCH, SHADOW, Batch, Projection, TableNames
from projections.db import ReadStore, Tx, parse_timestamp, timestamp
from projections.follower import Follower
from projections.log import EventLog

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (position reached, head)
# Events per transaction of a build. A batch costs about the same per case it touches
# whatever its length (a case's row and clock are read, and written back, once per batch),
# and nobody reads a build until it swaps in: long batches, few passes.
REBUILD_BATCH = 10_000


class RebuildFailedError(Exception):
    pass


def _build(
    store: ReadStore,
    events: EventLog,
    projection: Projection,
    kind: str,
    *,
    until: int | None,
    batch_size: int,
    progress: Progress | None,
    pause_collector: bool = True,
) -> tuple[str, str, int]:
    """Build ``projection`` into fresh tables from 0 up to ``until`` (or the head).

    Each run's tables and position key carry its own token (``proj_inbox__shadow_1a2b``),
    so two runs at once (a cron verify and a manual one) never share or drop each
    other's tables. Returns (variant, token, position reached).
    """
    token = uuid.uuid4().hex[:8]
    variant = f"{kind}_{token}"
    key = projection.name + variant
    names = TableNames.of(projection, variant)
    with store.transaction(lock_key=key) as tx:  # read indexes: after the bulk load
        projection.create_tables(tx, names, token, read_indexes=False)
        positions.start(tx, key, token, projection.version)
    follower = Follower(
        store, events, [projection], batch_size=batch_size, pause_collector=pause_collector
    )
    head = events.head() if until is None else until
    position = 0
    while True:
        with follower.collector_held():  # a page's decoding and applying; collected between pages
            batch = _page(events, projection, position, until, batch_size)
            if batch:
                follower.apply_batch(projection, key, variant, batch)
        if not batch:
            break
        if key in follower.failed:
            _discard(store, projection, variant)
            raise RebuildFailedError(str(follower.failed[key]))
        position = batch[-1][0]
        head = max(head, position)
        if progress:
            progress(position, head)
        log.debug("building %s: position %d of %d", key, position, head)
    return variant, token, position


def _page(
    events: EventLog, projection: Projection, after: int, until: int | None, limit: int
) -> Batch:
    batch = events.read(after, limit, projection.handles)
    return [(p, e) for p, e in batch if until is None or p <= until]


def _catch_up(
    tx: Tx, events: EventLog, projection: Projection, names: TableNames,
    position: int, until: int | None, batch_size: int,
) -> int:  # fmt: skip
    while batch := _page(events, projection, position, until, batch_size):
        projection.apply(tx, names, batch)
        position = batch[-1][0]
    return position


def _discard(store: ReadStore, projection: Projection, variant: str) -> None:
    with store.transaction(lock_key=projection.name + variant) as tx:
        projection.drop_tables(tx, TableNames.of(projection, variant))
        tx.run(f"DELETE FROM {positions.TABLE} WHERE name = ?", [projection.name + variant])


def rebuild(
    store: ReadStore,
    events: EventLog,
    projection: Projection,
    *,
    batch_size: int = REBUILD_BATCH,
    progress: Progress | None = None,
    pause_collector: bool = True,
) -> int:
    """Rebuild from position 0 in shadow tables and swap them in; return the position.
    ``pause_collector=False`` for a build inside a request (projections.collector)."""
    positions.ensure_table(store)
    variant, token, position = _build(
        store, events, projection, SHADOW, until=None, batch_size=batch_size, progress=progress,
        pause_collector=pause_collector,
    )  # fmt: skip
    shadow, live = TableNames.of(projection, variant), TableNames.of(projection, LIVE)
    with store.transaction(lock_key=projection.name + variant) as tx:
        projection.create_read_indexes(tx, shadow, token)  # one sort each, not per insert
    store.analyze(shadow.values())  # before the swap, outside its lock
    with store.transaction(lock_key=projection.name) as tx:
        position = _catch_up(tx, events, projection, shadow, position, None, batch_size)
        projection.drop_tables(tx, live)
        for logical, physical in shadow.items():
            tx.run(f"ALTER TABLE {physical} RENAME TO {live[logical]}")
        positions.start(tx, projection.name, token, projection.version, position)
        tx.run(f"DELETE FROM {positions.TABLE} WHERE name = ?", [projection.name + variant])
    log.info("%s rebuilt to position %d and swapped in", projection.name, position)
    return position


def verify(
    store: ReadStore,
    events: EventLog,
    projection: Projection,
    *,
    batch_size: int = REBUILD_BATCH,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Build into scratch tables up to the live position and diff them with the live view.

    Returns the differences (empty when the live view equals a rebuild from the log).
    """
    status = positions.statuses(store).get(projection.name)
    if status is None:
        raise RebuildFailedError(f"{projection.name} has no live view yet: run it first")
    variant, _, position = _build(
        store,
        events,
        projection,
        SCRATCH,
        until=status.position,
        batch_size=batch_size,
        progress=progress,
    )
    scratch, live = TableNames.of(projection, variant), TableNames.of(projection, LIVE)
    differences: list[dict[str, Any]] = []
    with store.transaction(lock_key=projection.name) as tx:
        live_position = int((positions.read(tx, projection.name) or {"position": 0})["position"])
        _catch_up(tx, events, projection, scratch, position, live_position, batch_size)
        for logical in projection.tables:
            for only, (a, b) in (("live", (live, scratch)), ("rebuilt", (scratch, live))):
                rows = tx.all(f"SELECT * FROM {a[logical]} EXCEPT SELECT * FROM {b[logical]}")
                differences += [{"table": logical, "only_in": only, "row": r} for r in rows]
        projection.drop_tables(tx, scratch)
        tx.run(f"DELETE FROM {positions.TABLE} WHERE name = ?", [projection.name + variant])
    return differences


@dataclass(frozen=True)
class Build:
    """A rebuild's shadow or a verify's scratch tables, and how far that build got."""

    projection: Projection
    variant: str  # "__shadow_1a2b3c4d" or "__scratch_1a2b3c4d"
    position: int
    updated_at: datetime | None  # the last batch it applied

    @property
    def name(self) -> str:
        return self.projection.name + self.variant


def unfinished_builds(store: ReadStore, projections: Sequence[Projection]) -> list[Build]:
    """Builds that have not swapped in or been dropped: running now, or left by a crash.

    A build writes its position each batch, so one that is running stays fresh; one whose
    process died keeps its tables until ``discard_builds`` drops them.
    """
    positions.ensure_table(store)
    found = []
    for name, status in sorted(positions.statuses(store).items()):
        for projection in projections:
            variant = name.removeprefix(projection.name)
            if variant != name and variant.startswith((SHADOW + "_", SCRATCH + "_")):
                found.append(
                    Build(projection, variant, status.position, parse_timestamp(status.updated_at))
                )
    return found


def discard_builds(
    store: ReadStore, projections: Sequence[Projection], *, idle_for: timedelta
) -> list[Build]:
    """Drop the tables of every build that has applied nothing for ``idle_for``."""
    cutoff = timestamp(datetime.now(UTC) - idle_for)
    dropped = []
    for build in unfinished_builds(store, projections):
        # Under the projection's own lock, which a swap holds: a build that swaps in
        # meanwhile is gone by the time this looks again, and is left alone.
        with store.transaction(lock_key=build.projection.name) as tx:
            row = positions.read(tx, build.name)
            if row is None or (row["updated_at"] is not None and row["updated_at"] > cutoff):
                continue
            build.projection.drop_tables(tx, TableNames.of(build.projection, build.variant))
            tx.run(f"DELETE FROM {positions.TABLE} WHERE name = ?", [build.name])
        log.info("dropped the abandoned build %s at position %d", build.name, build.position)
        dropped.append(build)
    return dropped
