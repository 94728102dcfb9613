"""``/healthz`` (the process is up) and ``/readyz`` (it can do its work)."""

from __future__ import annotations

from typing import Any

import redis
from flask import current_app
from marshmallow import Schema, fields

from app.apidoc import Blueprint
from app.readside import projections_status, read_store
from app.state import application
from workers import outbox

blp = Blueprint("health", __name__, description="Liveness and readiness, without a token.")


class HealthSchema(Schema):
    status = fields.String(metadata={"description": "always `ok` while the process serves"})


class CheckSchema(Schema):
    ok = fields.Boolean(required=True)
    error = fields.String(metadata={"description": "why not, when not ok"})
    head_position = fields.Integer(metadata={"description": "event store: the log's head"})
    lag = fields.Raw(
        metadata={
            "description": "projections: positions behind the head, by name; outbox: positions"
        }
    )
    failed = fields.List(fields.String(), metadata={"description": "projections not running"})
    behind = fields.List(
        fields.String(), metadata={"description": "projections lagging past PARLEY_READY_MAX_LAG"}
    )


class ChecksSchema(Schema):
    event_store = fields.Nested(CheckSchema)
    redis = fields.Nested(CheckSchema)
    projections = fields.Nested(CheckSchema)
    outbox = fields.Nested(CheckSchema)


class ReadinessSchema(Schema):
    status = fields.String(metadata={"description": "`ready` or `not ready`"})
    checks = fields.Nested(ChecksSchema)


@blp.route("/healthz", methods=["GET"])
@blp.operation("checkHealth", security=[])
@blp.response(200, HealthSchema)
def healthz() -> Any:
    """Liveness: the process is up"""
    return {"status": "ok"}


@blp.route("/readyz", methods=["GET"])
@blp.operation("checkReadiness", security=[])
@blp.response(200, ReadinessSchema)
@blp.alt_response(503, schema=ReadinessSchema, description="not ready: a check failed")
def readyz() -> Any:
    """Readiness: the event store, Redis and the read models answer, none has failed"""
    checks: dict[str, Any] = {}
    try:
        checks["event_store"] = {"ok": True, "head_position": application().head_position()}
    except Exception as error:  # any failure here means not ready, whatever its kind
        checks["event_store"] = {"ok": False, "error": str(error)}
    settings = current_app.config["PARLEY_SETTINGS"]
    try:
        client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=1, socket_connect_timeout=1
        )
        client.ping()
        checks["redis"] = {"ok": True}
    except redis.RedisError as error:
        checks["redis"] = {"ok": False, "error": str(error)}
    checks["projections"] = _projections(settings.ready_max_lag)
    checks["outbox"] = _outbox(checks["event_store"].get("head_position"), settings.ready_max_lag)
    ready = all(c["ok"] for c in checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503


def _outbox(head: int | None, limit: int | None) -> dict[str, Any]:
    """How far behind the log the outbox (deliveries' enqueuer) is; not ready past limit."""
    if head is None:
        return {"ok": False, "error": "the event store is unreachable"}
    try:
        at = outbox.position(read_store())
    except Exception as error:  # an unreachable read store means not ready
        return {"ok": False, "error": str(error)}
    if at is None:
        return {"ok": False, "error": "the outbox was never set up: run parley db init"}
    lag = max(head - at, 0)
    return {"ok": limit is None or lag <= limit, "lag": lag}


def _projections(limit: int | None) -> dict[str, Any]:
    """Each read model's lag; not ready if one failed, or lags past PARLEY_READY_MAX_LAG."""
    try:
        rows = projections_status()
    except Exception as error:  # an unreachable read store means not ready
        return {"ok": False, "error": str(error)}
    lags = {r["name"]: r["lag"] for r in rows}
    failed = [r["name"] for r in rows if r["state"] != "running"]
    behind = [name for name, lag in lags.items() if limit is not None and lag > limit]
    check: dict[str, Any] = {"ok": not failed and not behind, "lag": lags}
    if failed:
        check["failed"] = failed
    if behind:
        check["behind"] = behind
    return check
