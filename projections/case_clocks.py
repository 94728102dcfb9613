"""A case's :class:`~domain.sla_clock.SlaClock`, kept as JSON beside a projection's row.

The ``sla`` and ``inbox`` projections both fold the case's clock from its events (the
same fold the application runs, so they cannot disagree with it or each other). A clock
is loaded from its row's state once per batch, folded event by event, and written back
into the row when the batch ends.
"""

from __future__ import annotations

import json
from typing import Any

from domain.sla_clock import SlaClock
from projections.base import Context, event_type


def clocks(ctx: Context) -> dict[str, SlaClock]:
    """The batch's clocks by conversation id."""
    found: dict[str, SlaClock] = ctx.memo.setdefault("clocks", {})
    return found


def fold(ctx: Context, key: str, row: dict[str, Any] | None, event: Any, column: str) -> SlaClock:
    """The case's clock with ``event`` observed (a new clock when the case opens)."""
    batch = clocks(ctx)
    clock = batch.get(key)
    if clock is None or event_type(event) == "Conversation.Opened":
        state = None if row is None else row.get(column)
        opening = event_type(event) == "Conversation.Opened"
        clock = SlaClock() if opening or not state else SlaClock.from_state(json.loads(state))
        batch[key] = clock
    clock.observe(event)
    return clock


def keep(ctx: Context, table: str, column: str) -> None:
    """Write each clock of the batch into its row (call before the rows are flushed)."""
    cache = ctx.rows[table]
    for key, clock in clocks(ctx).items():
        row = cache.rows.get(key)
        if row is not None:
            row[column] = json.dumps(clock.to_state(), separators=(",", ":"))
            cache.put(key, row)
