"""Fixtures shared by every tier: a real store of each kind, a settable clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.config import Settings, event_store_env
from domain.application import Conversations
from tests.support.stores import store_settings


class Clock:
    """A clock the test moves by hand, so time in events is exactly what the test says."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """PARLEY_* settings for a fresh, empty store; each test runs once on each store."""
    with store_settings(request.param, tmp_path) as settings:
        yield settings


@pytest.fixture
def application(store: dict[str, str], clock: Clock) -> Iterator[Conversations]:
    settings = Settings.from_env(store)
    app = Conversations(env=event_store_env(settings, create_tables=True), clock=clock)
    yield app
    app.close()
