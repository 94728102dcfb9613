"""Replaying an aggregate's events without the library's per-event Protocol check.

The library's default projector asserts ``isinstance(event, CanMutateProtocol)`` before
each event. Against a ``runtime_checkable`` Protocol that check walks the Protocol's
attributes every time: on Python 3.11 it was about a third of the time it takes to load
a conversation (measured with cProfile on a 200-event conversation; ``python -O`` drops
it too, but nobody should have to run the service under ``-O`` to be fast). Every event
this store decodes is a library ``DomainEvent`` subclass (the mapper builds them from
their topics), so the check can never fail here: :func:`replay` is the same loop without
it, and :class:`ReplayingRepository` makes it the default for every load.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.application import Repository


def replay(aggregate: Any, domain_events: Iterable[Any]) -> Any:
    """Apply each event to the aggregate (None before the first), as the library does."""
    for domain_event in domain_events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


class ReplayingRepository(Repository[UUID]):
    """The library's repository, loading with :func:`replay` unless told otherwise."""

    def get(self, aggregate_id: UUID, *, projector_func: Any = None, **kwargs: Any) -> Any:
        return super().get(aggregate_id, projector_func=projector_func or replay, **kwargs)
