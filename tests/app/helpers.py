"""Plain helpers for the HTTP tier: opening cases, reading the log, a second app on one store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from tests.conftest import Clock

PROBLEM = "application/problem+json"


def new_external_id() -> str:
    """A random tweet id, so no two tests (or cases in one test) share a contact."""
    return str(uuid.uuid4().int)[:19]


def tweet(**overrides: Any) -> dict[str, Any]:
    """The body of a contact that arrived as a public tweet from an X user."""
    user_id = overrides.pop("user_id", new_external_id())
    body: dict[str, Any] = {
        "channel": "x_public",
        "body": "@acme my order #123 never arrived",
        "identity": {"kind": "x", "value": user_id, "handle": f"user{user_id[:6]}"},
        "customer_name": "Ann",
        "external_id": new_external_id(),
    }
    body.update(overrides)
    return body


def open_conversation(client: FlaskClient, headers: dict[str, str], **overrides: Any) -> Any:
    """Open a case from a tweet; returns the 201 body."""
    response = client.post("/v1/conversations", json=tweet(**overrides), headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def events_of(client: FlaskClient, headers: dict[str, str], conversation_id: str) -> list[Any]:
    """The conversation's whole history, following its cursor."""
    items: list[Any] = []
    after = 0
    while True:
        response = client.get(
            f"/v1/conversations/{conversation_id}/events",
            query_string={"after": after, "limit": 100},
            headers=headers,
        )
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        after = page["next_cursor"]


def event_types(client: FlaskClient, headers: dict[str, str], conversation_id: str) -> list[str]:
    return [e["type"] for e in events_of(client, headers, conversation_id)]


def head_position(flask_app: Flask) -> int:
    """The global log's last position: unchanged means nothing was written."""
    with flask_app.app_context():
        position: int = flask_app.extensions["parley.application"].head_position()
        return position


def assert_problem(response: TestResponse, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status``; returns its body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["type"]
    assert body["title"]
    return body  # type: ignore[no-any-return]


def error_fields(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body.get("errors", [])}


@contextmanager
def another_app(
    store: dict[str, str], clock: Clock | None = None, **environ: str
) -> Iterator[Flask]:
    """A second app process on the same store (tokens and events are shared)."""
    kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
    app = create_app(
        {"TESTING": True},
        environ={**store, "PARLEY_CREATE_TABLES": "yes", **environ},
        **kwargs,
    )
    try:
        yield app
    finally:
        app.extensions["parley.application"].close()
        if (read_store := app.extensions.get("parley.read_store")) is not None:
            read_store.close()
