"""``/v1/audit/export``: the log with its hash chain as NDJSON, for auditors.

The same lines as ``parley audit export`` (``projections/audit_export.py``), streamed;
``docs/verify_export.py`` checks them offline. A role that may not read private notes
gets each note without its body and without its stored bytes (its digests still link
the chain, which verifies all the same).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, stream_with_context
from marshmallow import fields

from app.apidoc import Blueprint
from app.auth import may_read_notes, requires
from app.readside import read_store
from app.schemas.common import StrictSchema, UTCDateTime
from app.schemas.events import describe_event
from app.state import application
from domain.access import READ_EVENTS
from domain.values import plain
from projections.audit_chain import AuditChain
from projections.audit_export import ExportFilter, aggregates_of_customer, export_lines

blp = Blueprint("audit", __name__, url_prefix="/v1/audit", description="The log, verifiable.")


class ExportArgsSchema(StrictSchema):
    conversation_id = fields.UUID(metadata={"description": "only this case's events whole"})
    customer_id = fields.UUID(
        metadata={"description": "only this customer's (and their cases') events whole"}
    )
    start = UTCDateTime(metadata={"description": "events from this moment (inclusive)"})
    end = UTCDateTime(metadata={"description": "events before this moment"})


@blp.route("/export", methods=["GET"])
@requires(READ_EVENTS)
@blp.arguments(ExportArgsSchema, location="query")
@blp.operation(
    "exportAuditLog",
    responses={
        "200": {
            "description": "one JSON object per line: a header, an event or a link per "
            "chained position, then the head (docs/verify_export.py checks it offline)",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
)
@blp.problems(401, 403, 404, 422, 503)
def export(args: dict[str, Any]) -> Any:
    """The log with its hash chain, as NDJSON, filtered by case, customer or time"""
    app = application()
    aggregates: set[str] | None = None
    if (conversation_id := args.get("conversation_id")) is not None:
        aggregates = {str(app.get_conversation(conversation_id).id)}  # 404 if unknown
    if (customer_id := args.get("customer_id")) is not None:
        aggregates = (aggregates or set()) | set(aggregates_of_customer(app, customer_id))
    selected = ExportFilter(
        frozenset(aggregates) if aggregates is not None else None,
        args.get("start"), args.get("end"), plain(args),
    )  # fmt: skip
    chain = AuditChain(read_store(), current_app.config["PARLEY_SETTINGS"].audit_signing_key)
    chain.catch_up(app.recorder)  # what the follower has not chained yet
    chain.record_head()  # the export's own head, signed: nothing in it goes unauthenticated
    private = may_read_notes()

    def describe(event: Any, position: int) -> dict[str, Any]:
        return describe_event(event, position, private=private)

    def lines() -> Iterator[str]:
        for line in export_lines(chain, app.recorder, app.mapper.to_domain_event, describe,
                                 selected):  # fmt: skip
            yield json.dumps(plain(line)) + "\n"

    return Response(stream_with_context(lines()), mimetype="application/x-ndjson")
