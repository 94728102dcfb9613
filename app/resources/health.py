"""``/healthz`` (the process is up) and ``/readyz`` (it can do its work)."""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, current_app

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
    ready = all(c["ok"] for c in checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
