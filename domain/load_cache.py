"""Recently loaded conversations, kept per process, so a long one loads as fast as a short one.

Without it every load reads and decodes every event of the conversation: most of a load is
the JSON decoding and the opening of sealed fields, so a 200-event case cost about nine
times a 10-event one. With it, a load asks the store only for the events recorded after
the version it holds (one indexed query that usually returns nothing) and applies those.

Why not the library's cache or snapshots (docs/decisions.md, "Performance: loading a long
conversation"): the library's cache deep-copies the aggregate on every load, which costs
as much as replaying it; its snapshots would store personal data outside the customer's
sealing. This cache keeps each entry in two forms, made lazily:

- ``shared``: one aggregate that readers (views) are given as it is and must not change;
  it is never changed here either: catching up builds a new entry;
- ``blob``: the aggregate pickled, from which each command gets a private copy to change
  (``pickle.loads`` is about a tenth of what ``copy.deepcopy`` costs).

Erasure: an entry holds personal fields opened with the customers' data keys. It is used
only while none of those keys is destroyed (``still_readable``, read from the key ring,
which re-reads a key from the store at least every few seconds, as every load does); an
entry whose owner is erased is dropped and the load done in full (and not kept).

Always fresh: the store is asked for later events on every load, so a write made by
another process is seen by the next load here, as without the cache.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.lru import Lru

DEFAULT_SIZE = 1000  # conversations per process


@dataclass
class Entry:
    version: int
    owners: frozenset[UUID]  # whose data keys opened its sealed fields
    shared: Any | None = None
    blob: bytes | None = None

    def for_reading(self) -> Any:
        if self.shared is None:  # two threads may both build it: the same state either way
            self.shared = pickle.loads(self.blob)  # type: ignore[arg-type]
        return self.shared

    def for_changing(self) -> Any:
        if self.blob is None:
            self.blob = pickle.dumps(self.shared, protocol=pickle.HIGHEST_PROTOCOL)
        return pickle.loads(self.blob)


class LoadCache(Lru[UUID, Entry]):
    """Aggregate id to :class:`Entry`, least recently used dropped first; counts its hits."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        super().__init__(size)
        self.hits = self.misses = 0

    def get(self, aggregate_id: UUID) -> Entry | None:
        entry = super().get(aggregate_id)
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def put(
        self, aggregate_id: UUID, entry: Entry, keep: Callable[[Entry], bool] | None = None
    ) -> None:
        """By default a concurrent load that got further keeps its entry."""
        super().put(aggregate_id, entry, keep or (lambda current: current.version > entry.version))

    def drop(self, aggregate_id: UUID) -> None:
        self.pop(aggregate_id)
