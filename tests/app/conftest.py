"""The HTTP tier: the Flask test client against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.state import application
from domain.access import ROLES
from tests.conftest import Clock


@pytest.fixture
def flask_app(store: dict[str, str], clock: Clock) -> Iterator[Flask]:
    app = create_app(
        {"TESTING": True}, environ={**store, "PARLEY_CREATE_TABLES": "yes"}, clock=clock
    )
    yield app
    app.extensions["parley.application"].close()
    app.extensions["parley.read_store"].close()


@pytest.fixture
def client(flask_app: Flask) -> FlaskClient:
    return flask_app.test_client()


@pytest.fixture
def tokens(flask_app: Flask) -> dict[str, str]:
    """A live token per role, named after the role (principal ``agent:agent`` ...)."""
    issued = {}
    with flask_app.app_context():
        for role in ROLES:
            token = secrets.token_urlsafe(16)
            application().issue_token(name=role, role=role, token=token, actor="ops:test")
            issued[role] = token
    return issued


@pytest.fixture
def auth(tokens: dict[str, str]):  # type: ignore[no-untyped-def]
    """``auth("agent")`` -> the Authorization header for that role."""
    return lambda role="agent", **extra: {"Authorization": f"Bearer {tokens[role]}", **extra}
