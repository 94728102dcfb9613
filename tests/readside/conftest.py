"""The read side over HTTP: the Flask app, its tokens and a follower to catch projections up."""

from __future__ import annotations

import os

import pytest
import redis
from click.testing import CliRunner, Result

from app.cli import main
from tests.app.conftest import auth, client, flask_app, tokens  # noqa: F401

CLI_REDIS_DB = 13


@pytest.fixture
def parley(store: dict[str, str]):  # type: ignore[no-untyped-def]
    """``parley("projections", "status")`` -> the click Result, run against ``store``."""
    # Only the store's settings: no PARLEY_* of the surrounding shell leaks in.
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PARLEY_")}
    # Jobs the CLI enqueues go to the tests' own Redis database, never the default one.
    base = os.environ.get("PARLEY_REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
    runner = CliRunner(env={**env, **store, "PARLEY_REDIS_URL": f"{base}/{CLI_REDIS_DB}"})

    def run(*args: str) -> Result:
        return runner.invoke(main, list(args), catch_exceptions=False)

    yield run
    redis.Redis.from_url(f"{base}/{CLI_REDIS_DB}").flushdb()
