"""Reads from projections: the read store, and reading one's own writes (``min_position``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from flask import current_app

from projections import positions
from projections.as_of import replayed
from projections.db import ReadStore
from projections.log import NotificationLog
from projections.registry import all_projections, by_name
from projections.status import projection_status, wait_for


class ProjectionOutdatedError(Exception):
    """The live tables were built by another version of the projection: not readable
    by this code until ``parley projections run`` (or ``rebuild``) has rebuilt them."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def read_store() -> ReadStore:
    return current_app.extensions["parley.read_store"]  # type: ignore[no-any-return]


def catch_up(name: str, min_position: int | None) -> dict[str, Any]:
    """Wait, bounded, for projection ``name`` to reach ``min_position``; say how far it got.

    Past the bound the read still answers, with ``caught_up: false`` and the lag stated.
    """
    store = read_store()
    status = positions.statuses(store).get(name)
    if status is not None and status.version != by_name(name).version:
        raise ProjectionOutdatedError(name)
    if min_position is None:
        return {"name": name, "position": status.position if status else 0}
    timeout = current_app.config["PARLEY_SETTINGS"].read_wait_seconds
    position, reached = wait_for(store, name, min_position, timeout)
    meta: dict[str, Any] = {"name": name, "position": position, "caught_up": reached}
    if not reached:
        meta["lag"] = min_position - position
    return meta


def headers_for(meta: dict[str, Any]) -> dict[str, str]:
    headers = {"Parley-Projection-Position": str(meta["position"])}
    if "lag" in meta:
        headers["Parley-Projection-Lag"] = str(meta["lag"])
    return headers


def projections_status() -> list[dict[str, Any]]:
    """Every projection's position, the log head, lag and last error."""
    from app.state import application

    app = application()
    events = NotificationLog(app.recorder, app.mapper)
    return projection_status(read_store(), events, all_projections())


@contextmanager
def as_of_store(name: str, moment: datetime) -> Iterator[tuple[ReadStore, dict[str, Any]]]:
    """The read model ``name`` as of ``moment``, replayed from the log, and its meta."""
    from app.state import application

    app = application()
    events = NotificationLog(app.recorder, app.mapper)
    with replayed(events, by_name(name), moment) as (store, position):
        yield store, {"name": name, "position": position, "caught_up": True,
                      "as_of": moment.isoformat()}  # fmt: skip
