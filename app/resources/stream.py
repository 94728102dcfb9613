"""``/v1/stream``: Server-Sent Events, so agent consoles update without polling.

Two kinds of message: ``event`` (a conversation or customer event from the log; its SSE
``id`` is the global position) and ``inbox`` (an inbox row after the projection applied a
change). Resume with ``Last-Event-ID`` (or ``after``): delivery is at least once, so a
console applies messages idempotently (by position, and by conversation id for rows).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, request, stream_with_context
from marshmallow import fields, validate

from app.auth import requires
from app.errors import problem
from app.parsing import Blueprint
from app.readside import read_store
from app.schemas.common import MAX_POSITION, StrictSchema
from app.schemas.events import describe_event
from app.state import application
from domain.access import READ
from domain.exceptions import InvalidValueError
from domain.values import plain
from projections.inbox import Inbox, inbox_changes
from projections.status import outdated

blp = Blueprint("stream", __name__, url_prefix="/v1", description="Live updates (SSE).")

STREAMED = ("Conversation", "Customer")
POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0


class StreamArgsSchema(StrictSchema):
    after = fields.Integer(load_default=None, validate=validate.Range(min=0, max=MAX_POSITION))
    conversation_id = fields.UUID(load_default=None)
    timeout = fields.Float(
        load_default=300.0,
        validate=validate.Range(min=0.1, max=3600),
        metadata={"description": "seconds before the server ends the stream (reconnect to go on)"},
    )


def _message(kind: str, data: dict[str, Any], position: int | None = None) -> str:
    head = f"id: {position}\n" if position is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(plain(data))}\n\n"


@blp.route("/stream", methods=["GET"])
@requires(READ)
@blp.arguments(StreamArgsSchema, location="query")
@blp.response(200, description="text/event-stream")
def stream(args: dict[str, Any]) -> Any:
    """New events and inbox changes from a position, as Server-Sent Events"""
    after = args["after"] or 0
    last_id = request.headers.get("Last-Event-ID")
    if last_id is not None:
        if not (last_id.isascii() and last_id.isdigit()) or int(last_id) > MAX_POSITION:
            raise InvalidValueError(
                "Last-Event-ID must be a position", field="Last-Event-ID", location="header"
            )
        after = int(last_id)
    only = str(args["conversation_id"]) if args["conversation_id"] else None
    app, store = application(), read_store()
    slots = current_app.extensions["parley.streams"]
    if not slots.acquire(blocking=False):
        # Each stream holds a server thread: past the cap, the rest of the API comes first.
        return problem(
            503,
            "Service Unavailable",
            "too many open streams here; retry shortly",
            headers={"Retry-After": "5"},
        )

    response = Response(
        stream_with_context(_messages(app, store, after, only, args["timeout"])),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    response.call_on_close(slots.release)  # also when the client leaves before the first byte
    return response


INBOX = Inbox()


def _messages(app: Any, store: Any, after: int, only: str | None, timeout: float) -> Iterator[str]:
    """Events and inbox changes after ``after``, until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    events_after = inbox_after = after
    last_sent = time.monotonic()
    yield "retry: 2000\n\n"
    while time.monotonic() < deadline:
        sent = False
        for position, event in app.global_events(events_after, 200):
            events_after = position
            described = describe_event(event, position)
            if described["aggregate"] not in STREAMED:
                continue
            if only and str(described["aggregate_id"]) != only:
                continue
            sent = True
            yield _message("event", described, position)
        # An inbox another version built is skipped until its rebuild; then it resumes.
        current = not outdated(store, [INBOX])
        for row in inbox_changes(store, inbox_after) if current else ():
            inbox_after = row["position"]
            if only and row["conversation_id"] != only:
                continue
            sent = True
            yield _message("inbox", row)
        if sent:
            last_sent = time.monotonic()
        elif time.monotonic() - last_sent > KEEPALIVE_SECONDS:
            last_sent = time.monotonic()
            yield ": keep-alive\n\n"
        else:
            time.sleep(POLL_SECONDS)
