"""Access to the per-app objects built by the factory (no module-level state)."""

from __future__ import annotations

from flask import current_app

from domain.application import Conversations


def application() -> Conversations:
    return current_app.extensions["parley.application"]  # type: ignore[no-any-return]
