"""The read side over HTTP: the Flask app, its tokens and a follower to catch projections up."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner, Result

from app.cli import main
from tests.app.conftest import auth, client, flask_app, tokens  # noqa: F401


@pytest.fixture
def parley(store: dict[str, str]):  # type: ignore[no-untyped-def]
    """``parley("projections", "status")`` -> the click Result, run against ``store``."""
    # Only the store's settings: no PARLEY_* of the surrounding shell leaks in.
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PARLEY_")}
    runner = CliRunner(env={**env, **store})

    def run(*args: str) -> Result:
        return runner.invoke(main, list(args), catch_exceptions=False)

    return run
