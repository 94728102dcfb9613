"""``/healthz`` (the process is up) and ``/readyz`` (it can do its work)."""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, current_app

from app.readside import projections_status
from app.state import application

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz() -> Any:
    return {"status": "ok"}


@blp.get("/readyz")
def readyz() -> Any:
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
    ready = all(c["ok"] for c in checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503


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
