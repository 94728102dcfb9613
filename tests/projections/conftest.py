"""Fixtures of the projection tests: the read store and the decoded event log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.config import Settings
from domain.application import Conversations
from projections.db import ReadStore, open_read_store
from projections.log import NotificationLog


@pytest.fixture
def read_store(store: dict[str, str]) -> Iterator[ReadStore]:
    opened = open_read_store(Settings.from_env(store))
    yield opened
    opened.close()


@pytest.fixture
def events(application: Conversations) -> NotificationLog:
    return NotificationLog(application.recorder, application.mapper)
