"""``/v1/events``: the global event log, in order, for auditors and integrations."""

from __future__ import annotations

from typing import Any

from app.apidoc import Blueprint
from app.auth import may_read_notes, requires
from app.schemas.common import EventPageSchema, PageArgsSchema
from app.schemas.events import describe_event
from app.state import application
from domain.access import READ_EVENTS

blp = Blueprint("events", __name__, url_prefix="/v1/events", description="The global event log.")


@blp.route("", methods=["GET"])
@requires(READ_EVENTS)
@blp.arguments(PageArgsSchema, location="query")
@blp.read("listEvents", EventPageSchema, problems=(401, 403, 422, 503))
def list_events(args: dict[str, Any]) -> Any:
    """Events after position `after`, oldest first. Positions increase but may have gaps."""
    items = [
        describe_event(event, position, private=may_read_notes())
        for position, event in application().global_events(args["after"], args["limit"])
    ]
    more = len(items) == args["limit"]
    return {"items": items, "next_cursor": items[-1]["position"] if more else None}
