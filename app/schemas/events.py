"""Turning stored domain events into plain, JSON-ready dicts for readers of the log."""

from __future__ import annotations

from typing import Any

from domain.privacy import ERASED_FLAG
from domain.values import plain

ENVELOPE = {"originator_id", "originator_version", "timestamp", "actor", "originator_topic"}
REDACTED = {"token_hash"}  # not reversible, but no reader of the log needs it


PRIVATE = {"NoteAdded": ("body",)}  # event type -> fields only note readers see


def describe_event(
    event: Any, position: int | None = None, *, private: bool = True
) -> dict[str, Any]:
    """An event as readers of the log see it. ``private=False`` (a role that may not read
    notes) withholds the bodies of private notes: ``null``, and named in ``redacted``."""
    topic = getattr(type(event), "TOPIC", f"{type(event).__module__}:{type(event).__qualname__}")
    _, aggregate, name = (["", *topic.split(".")])[-3:]
    data = {
        k: plain(x) for k, x in vars(event).items() if k not in ENVELOPE | REDACTED | {ERASED_FLAG}
    }
    described = {
        "aggregate_id": event.originator_id,
        "aggregate": aggregate,
        "type": name,
        "topic": topic,
        "version": event.originator_version,
        "timestamp": event.timestamp,
        "actor": getattr(event, "actor", None),
        "data": data,
    }
    if position is not None:
        described["position"] = position
    if getattr(event, ERASED_FLAG, False):
        described["erased"] = True
    if not private and (withheld := PRIVATE.get(name)):
        data.update(dict.fromkeys(withheld))
        described["redacted"] = list(withheld)
    return described
