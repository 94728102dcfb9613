"""``/v1/stream``: Server-Sent Events, so agent consoles update without polling.

Two kinds of message: ``event`` (a conversation or customer event from the log) and
``inbox`` (an inbox row after the projection applied a change). On PostgreSQL a stream
looks again as soon as a save or an inbox update commits (LISTEN/NOTIFY,
projections.wakeup), else every 0.25 s. Every message's SSE
``id`` is the stream's cursor in both feeds (``<events>-<inbox>``), so a console that
reconnects with ``Last-Event-ID`` misses nothing of either; delivery is at least once,
so a console applies messages idempotently (events by position, rows by conversation).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from flask import Response, current_app, request, stream_with_context
from marshmallow import Schema, fields, validate

from app.apidoc import Blueprint
from app.auth import current_principal, requires
from app.errors import RequestFieldError, problem
from app.readside import read_store
from app.schemas.common import MAX_POSITION, StrictSchema
from app.schemas.events import describe_event
from app.state import application
from app.streaming import Cursor, Streams, client_gone, client_socket, prepare
from domain.access import READ_NOTES, WATCH, may
from domain.application import Conversations
from domain.values import plain
from projections.db import ReadStore
from projections.inbox import Inbox, inbox_changes
from projections.status import outdated, position_of
from projections.wakeup import EVENTS, POSITIONS

blp = Blueprint("stream", __name__, url_prefix="/v1", description="Live updates (SSE).")

STREAMED = ("Conversation", "Customer")
POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0
INBOX = Inbox()
CURSOR_PATTERN = r"^[0-9]{1,19}(-[0-9]{1,19})?$"

STREAM_DOC = """`text/event-stream`. Two kinds of message:

```
id: 1042-1040
event: event
data: {"position": 1042, "aggregate": "Conversation", "type": "ReplyQueued", ...}

id: 1042-1042
event: inbox
data: {"conversation_id": "...", "awaiting": "nothing", "due": null, "position": 1042, ...}
```

`event` messages carry a conversation or customer event as `GET /v1/events` shows it
(the `Event` schema); `inbox` messages an inbox row as `GET /v1/inbox` lists it (the
`InboxItem` schema). Each message's `id` is `<events cursor>-<inbox cursor>`: send the
last one back as `Last-Event-ID` (browsers do) and the stream resumes both exactly.
Without `after` or `Last-Event-ID` the stream starts now: events after the log's head,
inbox rows changed after the inbox's position. Comment lines (`: keep-alive`) keep an
idle connection open every 15 s. The server ends the stream after `timeout` seconds,
when the token is revoked or expires (within 30 s), or when it stops; reconnect to go
on (a revoked token then gets 401)."""


class StreamArgsSchema(StrictSchema):
    after = fields.Integer(
        load_default=None,
        validate=validate.Range(min=0, max=MAX_POSITION),
        metadata={"description": "start after this position, in both feeds (default: now)"},
    )
    conversation_id = fields.UUID(
        load_default=None, metadata={"description": "only this conversation's events and row"}
    )
    timeout = fields.Float(
        load_default=300.0,
        validate=validate.Range(min=0.1, max=3600),
        metadata={"description": "seconds before the server ends the stream (reconnect to go on)"},
    )


class StreamHeadersSchema(Schema):
    last_event_id = fields.String(
        data_key="Last-Event-ID",
        validate=validate.Length(max=64),
        metadata={
            "description": "resume after the last message received (its `id`: "
            "`<events>-<inbox>`, or one position for both)",
            "pattern": CURSOR_PATTERN,
        },
    )


def _message(kind: str, data: dict[str, Any], cursor: Cursor) -> str:
    return f"id: {cursor}\nevent: {kind}\ndata: {json.dumps(plain(data))}\n\n"


def _start(args: dict[str, Any], last_id: str | None, store: ReadStore) -> Cursor:
    if last_id is not None:
        cursor = Cursor.parse(last_id, MAX_POSITION)
        if cursor is None:
            raise RequestFieldError(
                "Last-Event-ID", "header", "an id this stream sent: <events>-<inbox> positions"
            )
        return cursor
    if args["after"] is not None:
        return Cursor(args["after"], args["after"])
    return Cursor(application().head_position(), position_of(store, INBOX.name))


@blp.route("/stream", methods=["GET"])
@requires(WATCH)
@blp.arguments(StreamArgsSchema, location="query")
@blp.arguments(StreamHeadersSchema, location="headers")
@blp.operation(
    "streamUpdates",
    responses={
        200: {
            "description": STREAM_DOC,
            "content": {
                "text/event-stream": {
                    # One message, as SSE clients parse it (comments and the first
                    # `retry:` line carry no event).
                    "schema": {
                        "type": "object",
                        "properties": {
                            "event": {"type": "string", "enum": ["event", "inbox"]},
                            "id": {"type": "string", "pattern": r"^[0-9]{1,19}-[0-9]{1,19}$"},
                            "data": {"type": "string", "contentMediaType": "application/json"},
                            "retry": {"type": "integer"},
                        },
                    },
                    "example": {"id": "7-7", "event": "event", "data": '{"position": 7}'},
                }
            },
        }
    },
)
@blp.problems(401, 403, 422, 503)
def stream(args: dict[str, Any], headers: dict[str, Any]) -> Any:
    """New events and inbox changes, as Server-Sent Events"""
    store = read_store()
    cursor = _start(args, headers.get("last_event_id"), store)
    only = str(args["conversation_id"]) if args["conversation_id"] else None
    streams: Streams = current_app.extensions["parley.streams"]
    if not streams.acquire():
        # Each stream holds a server thread: past the cap, the rest of the API comes first.
        return problem(
            503,
            "Service Unavailable",
            "too many open streams here; retry shortly",
            headers={"Retry-After": "5"},
        )
    sock = client_socket(request.environ)
    prepare(sock, streams.send_timeout)
    principal = current_principal()
    feed = _Feed(
        application(), store, cursor, only, principal.token_id, may(principal.role, READ_NOTES)
    )
    response = Response(
        stream_with_context(feed.messages(args["timeout"], streams, sock)),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    response.call_on_close(streams.release)  # also when the client leaves before the first byte
    return response


class _Feed:
    """The events and inbox rows one stream sends, from its cursor on."""

    def __init__(
        self,
        app: Conversations,
        store: ReadStore,
        cursor: Cursor,
        only: str | None,
        token_id: UUID | None,
        private: bool,
    ) -> None:
        self.app, self.store, self.cursor, self.only = app, store, cursor, only
        self.token_id, self.private = token_id, private

    def messages(self, timeout: float, streams: Streams, sock: Any) -> Iterator[str]:
        """Messages until ``timeout`` passes, the client leaves, the token is revoked or
        the server stops."""
        deadline = time.monotonic() + timeout
        last_sent = next_token_check = time.monotonic()
        yield "retry: 2000\n\n"
        wakeup = self.store.wakeup()
        while time.monotonic() < deadline and not streams.stopping.is_set():
            mark = wakeup.mark(EVENTS, POSITIONS)  # before reading: nothing in between lost
            if client_gone(sock):
                return
            if time.monotonic() >= next_token_check:
                next_token_check = time.monotonic() + streams.token_check
                if self.token_id is not None and not self.app.token_is_live(self.token_id):
                    return
            sent = False
            for message in (*self._events(), *self._rows()):
                sent = True
                yield message
            if sent:
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent > KEEPALIVE_SECONDS:
                last_sent = time.monotonic()
                yield ": keep-alive\n\n"
            else:
                # A save or an inbox update committed ends the wait at once on PostgreSQL;
                # the poll is the fallback (and all there is on SQLite).
                wakeup.wait(mark, POLL_SECONDS, streams.stopping)

    def _events(self) -> list[str]:
        out = []
        for position, event in self.app.global_events(self.cursor.events, 200):
            self.cursor = Cursor(position, self.cursor.inbox)
            described = describe_event(event, position, private=self.private)
            if described["aggregate"] not in STREAMED:
                continue
            if self.only and str(described["aggregate_id"]) != self.only:
                continue
            out.append(_message("event", described, self.cursor))
        return out

    def _rows(self) -> list[str]:
        # An inbox another version built is skipped until its rebuild; then it resumes.
        if outdated(self.store, [INBOX]):
            return []
        out = []
        for row in inbox_changes(self.store, self.cursor.inbox):
            self.cursor = Cursor(self.cursor.events, row["position"])
            if self.only and row["conversation_id"] != self.only:
                continue
            out.append(_message("inbox", row, self.cursor))
        return out
