"""The HTTP edge: ``create_app`` builds the Flask app, its API and its application service."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask

from app.config import Settings, event_store_env
from app.docs import configure_docs, register_docs
from app.errors import ProblemApi, register_error_handlers
from app.requests import register_request_checks
from app.routing import VersionPathConverter, register_path_ids, version_parameter_schema
from app.spec_rules import RulesPlugin, no_nul
from app.streaming import Streams
from app.token_use import TokenUse
from domain.application import Clock, Conversations, utc_now
from projections.db import ReadStore, open_read_store
from projections.follower import CATCH_UP_BATCH, Follower
from projections.log import NotificationLog
from projections.registry import all_projections
from workers import outbox

API_DESCRIPTION = """Parley's REST API v1: every customer contact on every channel, as one case.

Authenticate with `Authorization: Bearer <token>` (`parley tokens create`); the token's
role decides what it may do. Errors are RFC 9457 problem documents
(`application/problem+json`) naming each field at fault. Writes answer with the global
`position` of their last event: pass it as `min_position` to a read model to read your
own write. `GET` a conversation or customer for its `ETag` and send it back as
`If-Match` to write only if nobody else did first (412 otherwise). A POST with an
`Idempotency-Key` header is safe to retry: the same key and body within 24 hours get
the first answer again. Times are ISO 8601 in UTC (`2026-11-02T09:00:00+00:00`); a time
sent without an offset is read as UTC.
"""


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Clock = utc_now,
) -> Flask:
    """Build the app from ``PARLEY_*`` settings (``environ``, default ``os.environ``)."""
    settings = Settings.from_env(environ)
    app = Flask(__name__, static_folder=None)  # no static files: no /static route
    app.config.update(
        API_TITLE="Parley",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": API_DESCRIPTION,
                "license": {"name": "Proprietary", "identifier": "LicenseRef-Parley"},
            },
            "servers": [{"url": settings.public_url or "/", "description": "this server"}],
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}],
        },
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        PARLEY_SETTINGS=settings,
    )
    configure_docs(app)
    if test_config:
        app.config.update(test_config)

    application = Conversations(
        env=event_store_env(settings),
        clock=clock,
        key_ttl=timedelta(hours=settings.idempotency_ttl_hours),
        accounts=settings.accounts(),
    )
    app.extensions["parley.application"] = application
    app.extensions["parley.streams"] = Streams(
        settings.max_streams, settings.stream_send_timeout, settings.stream_token_check_seconds
    )
    app.extensions["parley.token_use"] = TokenUse(settings.redis_url)
    read_store = open_read_store(settings)
    app.extensions["parley.read_store"] = read_store
    if settings.creates_tables():
        # Embedded (SQLite) default: the read models' tables come up with the app.
        follower_for(application, read_store).setup()
        outbox.ensure_table(read_store, application.head_position())
    register_path_ids(app)
    api = ProblemApi(app, spec_kwargs={"extra_plugins": [RulesPlugin()]})
    api.ma_plugin.converter.add_attribute_function(no_nul)  # type: ignore[union-attr]
    api.spec.components.schemas.pop("PaginationMetadata", None)  # flask-smorest's; unused
    api.register_converter(VersionPathConverter, version_parameter_schema)
    app.extensions["parley.api"] = api
    register_error_handlers(app)
    register_request_checks(app)
    register_docs(app)

    from app.resources import (
        audit,
        canned_responses,
        care_policy,
        chat,
        conversations,
        customers,
        events,
        health,
        incidents,
        ops,
        readmodels,
        rosters,
        sla_policies,
        sla_report,
        stream,
        webhooks,
    )

    for module in (
        health, conversations, chat, customers, events, readmodels, sla_policies, sla_report, ops,
        stream, webhooks, audit, incidents, care_policy, canned_responses, rosters,
    ):  # fmt: skip
        api.register_blueprint(module.blp)
    return app


def follower_for(application: Conversations, read_store: ReadStore, **kwargs: Any) -> Follower:
    """The follower feeding every projection from this application's log."""
    events = NotificationLog(application.recorder, application.mapper)
    kwargs.setdefault("catch_up_batch", CATCH_UP_BATCH)
    return Follower(read_store, events, all_projections(), **kwargs)
