"""``/v1/ops/deliveries`` and ``/v1/ops/channels``: what ops watch of the channels."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import redis
from flask import current_app
from marshmallow import Schema, fields, validate

from app.apidoc import Blueprint
from app.auth import current_principal, requires
from app.errors import RequestFieldError, problem
from app.readside import catch_up, headers_for, read_store
from app.schemas.common import OutcomeSchema, StrictSchema
from app.schemas.readmodels import MinPositionArgs, ProjectionMetaSchema
from app.state import application
from app.writes import execute
from domain.access import OPERATE
from domain.exceptions import NotFoundError
from projections.deliveries import STATUSES, delivery, list_deliveries
from workers.channels.report import channel_report
from workers.polling import Cursors

blp = Blueprint("ops", __name__, url_prefix="/v1/ops", description="Deliveries and channels.")


class DeliveriesQueryArgsSchema(MinPositionArgs):
    status = fields.String(validate=validate.OneOf(STATUSES))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(
        validate=[validate.Length(min=1, max=40), validate.Regexp(r"^[A-Za-z0-9_=-]+$")],
        metadata={"pattern": "^[A-Za-z0-9_=-]+$"},
    )


class DeliverySchema(Schema):
    reply_id = fields.String()
    conversation_id = fields.String()
    channel = fields.String()
    kind = fields.String()
    status = fields.String(metadata={"description": "queued, sending, delivered or failed"})
    attempts = fields.Integer()
    failure_code = fields.String(
        allow_none=True, metadata={"description": "recipient_not_following, rate_limited, ..."}
    )
    last_error = fields.String(allow_none=True, metadata={"description": "what to do about it"})
    retry_at = fields.String(allow_none=True)
    external_id = fields.String(allow_none=True)
    queued_at = fields.String()
    updated_at = fields.String()
    position = fields.Integer()


class DeliveryPageSchema(Schema):
    items = fields.List(fields.Nested(DeliverySchema))
    next_cursor = fields.String(allow_none=True)
    projection = fields.Nested(ProjectionMetaSchema)


class RetrySchema(StrictSchema):
    pass


class ChannelsSchema(Schema):
    channels = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(),
        metadata={"description": "per channel: configured, cursors, calls, rate_limits"},
    )


@blp.route("/deliveries", methods=["GET"])
@requires(OPERATE)
@blp.arguments(DeliveriesQueryArgsSchema, location="query")
@blp.read(
    "listDeliveries",
    DeliveryPageSchema,
    headers=("Parley-Projection-Position", "Parley-Projection-Lag"),
    problems=(401, 403, 422, 503),
)
def deliveries(args: dict[str, Any]) -> Any:
    """Outbound deliveries, latest change first; `status=failed` is what needs a person"""
    meta = catch_up("deliveries", args.pop("min_position", None))
    try:
        page = list_deliveries(
            read_store(), args.get("status"), limit=args["limit"], cursor=args.get("cursor")
        )
    except ValueError as error:
        raise RequestFieldError("cursor", "query", str(error)) from error
    return {**page, "projection": meta}, 200, headers_for(meta)


@blp.route("/deliveries/<uuid:reply_id>/retry", methods=["POST"])
@requires(OPERATE)
@blp.arguments(RetrySchema)
@blp.write("retryDelivery", 200, OutcomeSchema, if_match=False)
def retry_delivery(data: dict[str, Any], reply_id: UUID) -> Any:
    """Deliver a failed reply again (after fixing what its failure says)"""
    found = delivery(read_store(), str(reply_id))
    if found is None:
        raise NotFoundError(f"no delivery {reply_id} (or the deliveries view is behind)")
    return execute(
        lambda claim: application().request_redelivery(
            UUID(found["conversation_id"]), reply_id=reply_id,
            actor=current_principal().actor, claim=claim,
        )
    )  # fmt: skip


@blp.route("/channels", methods=["GET"])
@requires(OPERATE)
@blp.read("listChannels", ChannelsSchema, problems=(401, 403, 503))
def channels() -> Any:
    """Per channel: polling cursors, API calls by route and outcome, rate limits"""
    settings = current_app.config["PARLEY_SETTINGS"]
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return channel_report(settings, client, Cursors(read_store()))
    except redis.RedisError as error:
        return problem(
            503, "Service Unavailable", f"Redis is unreachable: {error}",
            headers={"Retry-After": "5"},
        )  # fmt: skip
