"""A case's :class:`~domain.sla_clock.SlaClock`, kept as JSON beside a projection's row.

The ``sla`` and ``inbox`` projections both fold the case's clock from its events (the
same fold the application runs, so they cannot disagree with it or each other). A clock
is loaded from its row's state once per batch, folded event by event, and written back
into the row when the batch ends.

Loading a clock from its JSON is most of what a batch costs, so the clocks written back
are also kept in memory (:data:`KEPT`, a bounded least-recently-used map), each beside the
exact text it was written as. The next batch that reads that row takes the kept clock
only if the row still holds that very text (nothing else wrote it, the batch that wrote
it committed), and takes it out while it folds: a batch that fails half-way leaves
nothing behind to be reused.
"""

from __future__ import annotations

import json
from typing import Any

from domain.lru import Lru
from domain.sla_clock import SlaClock
from domain.sla_terms import Terms
from projections.base import Context, event_type

MAX_KEPT = 20_000  # clocks kept across batches per process (a few KB each)
Scope = tuple[str, ...]  # the row's physical table and the state column, and the row's key


class KeptClocks:
    """Clocks as last written, each beside the text it was written as."""

    def __init__(self, size: int = MAX_KEPT) -> None:
        self._clocks: Lru[Scope, tuple[str, SlaClock]] = Lru(size)

    @property
    def size(self) -> int:
        return self._clocks.size

    @size.setter
    def size(self, size: int) -> None:
        self._clocks.size = size

    def take(self, scope: Scope, state: str) -> SlaClock | None:
        """The clock last written as ``state`` at ``scope``, now the caller's alone."""
        kept = self._clocks.pop(scope)
        if kept is None or kept[0] != state:
            return None
        clock = kept[1]
        clock.changed = []  # as a clock loaded from its state has
        return clock

    def put(self, scope: Scope, state: str, clock: SlaClock) -> None:
        self._clocks.put(scope, (state, clock))

    def clear(self) -> None:
        self._clocks.clear()


KEPT = KeptClocks()


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
        if opening or not state:
            clock = SlaClock()
        else:
            clock = KEPT.take(_scope(ctx, column, key), state)
            if clock is None:
                clock = clock_from_text(state)
        batch[key] = clock
    clock.observe(event)
    return clock


def keep(ctx: Context, table: str, column: str) -> None:
    """Write each clock of the batch into its row (call before the rows are flushed)."""
    cache = ctx.rows[table]
    for key, clock in clocks(ctx).items():
        row = cache.rows.get(key)
        if row is not None:
            row[column] = state = state_text(clock)
            cache.put(key, row)
            KEPT.put(_scope(ctx, column, key), state, clock)


def state_text(clock: SlaClock) -> str:
    """``json.dumps(clock.to_state())``, compact, with the terms' text made once per terms
    (four of every case's five kilobytes, the same for every case under one policy)."""
    state = clock.to_state()
    del state["terms"]  # to_state's first key
    rest = json.dumps(state, separators=(",", ":"))
    _know(clock.terms)
    return TERMS_HEAD + clock.terms.as_json + ("," + rest[1:] if state else "}")


def clock_from_text(text: str) -> SlaClock:
    """``SlaClock.from_state(json.loads(text))``, reading only the case's part when the
    terms' text is one this process knows: a clock no longer kept in memory (more cases
    in flight than :data:`MAX_KEPT`) is read back for every batch touching its case, and
    its terms were four fifths of the text to parse.

    A known terms text is a whole JSON object, so a state beginning with it holds exactly
    those terms (what follows can only be ``,`` or ``}``)."""
    for known, terms in tuple(_KNOWN_TERMS.items()):  # another thread may add one meanwhile
        head = TERMS_HEAD + known
        if text.startswith(head):
            after = text[len(head) :]
            rest = json.loads("{" + after[1:]) if after != "}" else {}
            return SlaClock.from_state(rest, terms=terms)
    clock = SlaClock.from_state(json.loads(text))
    _know(clock.terms)
    return clock


TERMS_HEAD = '{"terms":'
MAX_KNOWN_TERMS = 16  # distinct terms texts compared with a state before parsing it
_KNOWN_TERMS: dict[str, Terms] = {}  # Terms.as_json -> the terms


def _know(terms: Terms) -> None:
    if terms.as_json not in _KNOWN_TERMS:
        if len(_KNOWN_TERMS) >= MAX_KNOWN_TERMS:
            _KNOWN_TERMS.pop(next(iter(_KNOWN_TERMS)))
        _KNOWN_TERMS[terms.as_json] = terms


def _scope(ctx: Context, column: str, key: str) -> Scope:
    """Where a clock is kept: the physical table (live, a shadow or a scratch build) of the
    projection whose tables these are, and the read store's, which is this process's."""
    tables: tuple[str, ...] = ctx.memo.setdefault("clock_tables", tuple(sorted(ctx.names.values())))
    return (*tables, column, key)
