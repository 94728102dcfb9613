"""Every projection Parley runs, by name."""

from __future__ import annotations

from projections.base import Projection
from projections.deliveries import Deliveries
from projections.history import CustomerHistory
from projections.inbox import Inbox
from projections.incidents import IncidentLedger
from projections.sla import SlaCases


def all_projections() -> list[Projection]:
    return [Inbox(), SlaCases(), CustomerHistory(), Deliveries(), IncidentLedger()]


def by_name(name: str) -> Projection:
    for projection in all_projections():
        if projection.name == name:
            return projection
    names = ", ".join(p.name for p in all_projections())
    raise KeyError(f"no projection {name!r}: choose from {names}")
