"""The read side over HTTP: the Flask app, its tokens and a follower to catch projections up."""

from __future__ import annotations

from tests.app.conftest import auth, client, flask_app, tokens  # noqa: F401
