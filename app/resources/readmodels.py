"""Routes served from projections: ``/v1/inbox``, SLA clocks, ops status."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import jsonify

from app.apidoc import Blueprint
from app.auth import requires
from app.errors import RequestFieldError
from app.readside import as_of_store, catch_up, headers_for, projections_status, read_store
from app.schemas import readmodels as s
from app.state import application
from domain.access import OPERATE, READ
from domain.exceptions import ConversationNotFoundError
from projections.inbox import query_inbox
from projections.sla import conversation_sla

blp = Blueprint("read models", __name__, url_prefix="/v1", description="Inbox, SLA and ops views.")


@blp.route("/inbox", methods=["GET"])
@requires(READ)
@blp.arguments(s.InboxQueryArgsSchema, location="query")
@blp.read(
    "listInbox",
    s.InboxPageSchema,
    headers=("Parley-Projection-Position", "Parley-Projection-Lag"),
    problems=(401, 403, 422, 503),
)
def inbox(args: dict[str, Any]) -> Any:
    """The inbox: most overdue first, then longest waiting; counts per status

    Without `status`, open and snoozed conversations are listed; counts cover every status
    under the other filters. `next_cursor` pages on.
    """
    limit, cursor = args.pop("limit"), args.pop("cursor", None)
    moment = args.pop("as_of", None)
    if moment is not None:
        args.pop("min_position", None)
        with as_of_store("inbox", moment) as (store, meta):
            page = _inbox_page(store, args, limit, cursor)
    else:
        meta = catch_up("inbox", args.pop("min_position", None))
        page = _inbox_page(read_store(), args, limit, cursor)
    # Already in InboxPageSchema's shape (a test holds the two equal): dumping 50 rows
    # through marshmallow again cost more than the query.
    return jsonify({**page, "projection": meta}), 200, headers_for(meta)


def _inbox_page(store: Any, args: dict[str, Any], limit: int, cursor: str | None) -> Any:
    try:
        return query_inbox(store, args, limit=limit, cursor=cursor)
    except ValueError as error:
        raise RequestFieldError("cursor", "query", s.BAD_CURSOR) from error


@blp.route("/conversations/<uuid:conversation_id>/sla", methods=["GET"])
@requires(READ)
@blp.arguments(s.MinPositionArgs, location="query")
@blp.read(
    "getConversationSla",
    s.SlaClockSchema,
    headers=("Parley-Projection-Position", "Parley-Projection-Lag"),
)
def sla_clock(args: dict[str, Any], conversation_id: UUID) -> Any:
    """A conversation's SLA clock: its policy, what is due, and every metric measured"""
    meta = catch_up("sla", args.get("min_position"))
    clock = conversation_sla(read_store(), str(conversation_id))
    if clock is None:
        application().get_conversation(conversation_id)  # 404 if it does not exist at all
        raise ConversationNotFoundError(
            f"conversation {conversation_id} is not in the SLA view yet (projection at "
            f"{meta['position']})"
        )
    return {**clock, "projection": meta}, 200, headers_for(meta)


@blp.route("/ops/projections", methods=["GET"])
@requires(OPERATE)
@blp.read("listProjections", s.ProjectionStatusPageSchema, problems=(401, 403, 503))
def ops_projections() -> Any:
    """Each projection's position, the log head, the lag and the last error"""
    return {"items": projections_status(), "next_cursor": None}
