"""Checks every request passes before a view runs: size and media type of bodies."""

from __future__ import annotations

from flask import Flask, Response, request

from app.errors import problem

BODY_METHODS = {"POST", "PUT", "PATCH"}


def register_request_checks(app: Flask) -> None:
    @app.before_request
    def require_json_bodies() -> Response | None:
        """A body that is not JSON is refused with 415 (webhooks opt out by endpoint)."""
        if request.method not in BODY_METHODS:
            return None
        view = app.view_functions.get(request.endpoint or "")
        accepts = getattr(view, "accepts_media_types", None) or ("application/json",)
        has_body = (request.content_length or 0) > 0 or "chunked" in (
            request.headers.get("Transfer-Encoding", "").lower()
        )
        if has_body and request.content_length is None:
            # Chunked: no length to check up front, so read it now, at most the limit
            # (werkzeug stops the read past it with 413), before anything parses it.
            request.get_data(cache=True)
        if has_body and request.mimetype not in accepts:
            return problem(
                415,
                "Unsupported Media Type",
                f"send {' or '.join(accepts)} (got {request.mimetype or 'no Content-Type'})",
            )
        return None
