"""The HTTP edge: ``create_app`` builds the Flask app, its API and its application service."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from flask import Flask

from app.config import Settings, event_store_env
from app.errors import ProblemApi, register_error_handlers
from app.requests import register_request_checks
from domain.application import Clock, Conversations, utc_now
from projections.db import ReadStore, open_read_store
from projections.follower import Follower
from projections.log import NotificationLog
from projections.registry import all_projections

API_DESCRIPTION = """Parley's REST API v1: every customer contact on every channel, as one case.

Authenticate with `Authorization: Bearer <token>` (`parley tokens create`). Errors are
RFC 9457 problem documents. Writes answer with the global `position` of their last event;
`GET` a conversation for its `ETag` and send it back as `If-Match` to write safely.
POST accepts an `Idempotency-Key` header: a retry with the same key returns the first response.
"""


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Clock = utc_now,
) -> Flask:
    """Build the app from ``PARLEY_*`` settings (``environ``, default ``os.environ``)."""
    settings = Settings.from_env(environ)
    app = Flask(__name__)
    app.config.update(
        API_TITLE="Parley",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_REDOC_PATH="/docs",
        OPENAPI_REDOC_URL="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js",
        API_SPEC_OPTIONS={
            "info": {"description": API_DESCRIPTION},
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}],
        },
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        PARLEY_SETTINGS=settings,
    )
    if test_config:
        app.config.update(test_config)

    application = Conversations(env=event_store_env(settings), clock=clock)
    app.extensions["parley.application"] = application
    app.extensions["parley.streams"] = threading.BoundedSemaphore(settings.max_streams)
    read_store = open_read_store(settings)
    app.extensions["parley.read_store"] = read_store
    if settings.creates_tables():
        # Embedded (SQLite) default: the read models' tables come up with the app.
        follower_for(application, read_store).setup()
    api = ProblemApi(app)
    app.extensions["parley.api"] = api
    register_error_handlers(app)
    register_request_checks(app)

    from app.resources import conversations, customers, events, health, readmodels, stream

    app.register_blueprint(health.blp)
    app.register_blueprint(stream.blp)
    for blp in (conversations.blp, customers.blp, events.blp, readmodels.blp):
        api.register_blueprint(blp)
    return app


def follower_for(application: Conversations, read_store: ReadStore, **kwargs: Any) -> Follower:
    """The follower feeding every projection from this application's log."""
    events = NotificationLog(application.recorder, application.mapper)
    return Follower(read_store, events, all_projections(), **kwargs)
