"""Application-tier helpers: a second instance on the same store, and common contacts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent

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


def store_old_event(
    app: Conversations, originator_id: UUID, topic: str, state: dict[str, Any]
) -> None:
    """Write an event as an earlier version stored it (no class_version: version 1)."""
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=originator_id, originator_version=1, topic=topic,
                state=app.mapper.transcoder.encode(state),
            )
        ]
    )  # fmt: skip


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
