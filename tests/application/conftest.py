"""Application-tier helpers: a second instance on the same store, and common contacts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from uuid import uuid4

import pytest

from app.config import Settings, event_store_env
from domain.application import Clock, Conversations, Outcome
from domain.values import Identity

INTEGRATION = "integration:x"
AGENT = "agent:ann"
SUPERVISOR = "supervisor:sue"


def an_x_identity() -> Identity:
    return Identity("x", str(uuid4().int)[:18], handle=f"user_{uuid4().hex[:6]}")


def an_email_identity() -> Identity:
    return Identity("email", f"{uuid4().hex[:10]}@example.com")


def a_tweet_id() -> str:
    return str(uuid4().int)[:19]


def open_from_tweet(
    app: Conversations, identity: Identity | None = None, tweet_id: str | None = None
) -> Outcome:
    return app.open_conversation(
        channel="x_public",
        body="@brand my parcel never arrived",
        actor=INTEGRATION,
        identity=identity or an_x_identity(),
        external_id=tweet_id or a_tweet_id(),
    )


@pytest.fixture
def another_instance(store: dict[str, str]) -> Iterator[Callable[[Clock], Conversations]]:
    """Build more ``Conversations`` on the test's store, as another process would."""
    built: list[Conversations] = []

    def build(clock: Clock) -> Conversations:
        app = Conversations(
            env=event_store_env(Settings.from_env(store), create_tables=True), clock=clock
        )
        built.append(app)
        return app

    yield build
    for app in built:
        app.close()
