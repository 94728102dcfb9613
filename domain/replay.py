"""Replaying an aggregate's events without the library's per-event Protocol check.

The library's default projector asserts ``isinstance(event, CanMutateProtocol)`` before
each event. Against a ``runtime_checkable`` Protocol that check walks the Protocol's
attributes every time: on Python 3.11 it was about a third of the time it takes to load
a conversation (measured with cProfile on a 200-event conversation; ``python -O`` drops
it too, but nobody should have to run the service under ``-O`` to be fast). Every event
this store decodes is a library ``DomainEvent`` subclass (the mapper builds them from
their topics), so the check can never fail here: :func:`replay` is the same loop without
it, and :class:`ReplayingRepository` makes it the default for every load.

The repository also keeps recently loaded conversations (``domain.load_cache``), so that
a load replays only the events recorded since.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository

from domain.load_cache import Entry, LoadCache


def replay(aggregate: Any, domain_events: Iterable[Any]) -> Any:
    """Apply each event to the aggregate (None before the first), as the library does."""
    for domain_event in domain_events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


class ReplayingRepository(Repository[UUID]):
    """The library's repository, loading with :func:`replay` unless told otherwise, and
    keeping the aggregates ``cached`` accepts in ``load_cache`` (when one is attached).

    ``get(..., shared=True)`` is for readers: it may hand out the cached aggregate itself,
    which must not be changed. Every other load returns an aggregate of the caller's own.
    """

    load_cache: LoadCache | None = None
    cached: Callable[[Any], bool] = staticmethod(lambda aggregate: False)
    # whose data keys the events' sealed fields opened with; whether all are still live
    owners_of: Callable[[Iterable[Any]], set[UUID]] = staticmethod(lambda events: set())
    readable: Callable[[Iterable[UUID]], bool] = staticmethod(lambda owners: True)

    def get(
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        projector_func: Any = None,
        shared: bool = False,
        **kwargs: Any,
    ) -> Any:
        cache = self.load_cache
        if cache is None or version is not None or projector_func is not None or kwargs:
            return super().get(
                aggregate_id, version=version, projector_func=projector_func or replay, **kwargs
            )
        entry = cache.get(aggregate_id)
        if entry is not None and not self.readable(entry.owners):
            cache.drop(aggregate_id)  # an owner was erased since: open nothing from memory
            entry = None
        if entry is None:
            events = list(self.event_store.get(aggregate_id))
            aggregate = replay(None, events)
            if aggregate is None:
                raise AggregateNotFoundError(f"Aggregate {aggregate_id!r} not found.")
            owners = frozenset(self.owners_of(events))
        else:
            events = list(self.event_store.get(aggregate_id, gt=entry.version))
            if not events:
                return entry.for_reading() if shared else entry.for_changing()
            aggregate = replay(entry.for_changing(), events)
            owners = entry.owners | self.owners_of(events)
        if self.cached(aggregate) and self.readable(owners):
            kept = Entry(aggregate.version, owners)
            if shared:
                kept.shared = aggregate
            else:  # the caller changes this one: keep a copy of it as it is now
                kept.blob = pickle.dumps(aggregate, protocol=pickle.HIGHEST_PROTOCOL)
            cache.put(aggregate_id, kept)
        return aggregate
