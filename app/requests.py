"""Checks every request passes before a view runs: size and media type of bodies."""

from __future__ import annotations

import io

from flask import Flask, Response, current_app, request

from app.errors import problem

BODY_METHODS = {"POST", "PUT", "PATCH"}
READ_SIZE = 64 * 1024


def _take_chunked_body() -> Response | None:
    """Read a body sent without Content-Length (chunked) up to the size limit, then hand
    it to the rest of the app as an ordinary body of known length.

    Its size cannot be checked up front, and a server that does not cut the stream at
    the limit would let an oversized one reach the JSON parser (seen: 400, not 413).
    """
    limit = request.max_content_length
    stream = request.environ["wsgi.input"]
    chunks, total = [], 0
    while chunk := stream.read(READ_SIZE):
        total += len(chunk)
        if limit is not None and total > limit:
            return problem(413, "Content Too Large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    data = b"".join(chunks)
    request.environ["wsgi.input"] = io.BytesIO(data)
    request.environ["CONTENT_LENGTH"] = str(len(data))
    request.environ.pop("HTTP_TRANSFER_ENCODING", None)  # now it has a length instead
    request.environ.pop("wsgi.input_terminated", None)
    return None


def register_request_checks(app: Flask) -> None:
    @app.before_request
    def check_bodies() -> Response | None:
        """An oversized body is 413 however it is sent; one that is not JSON is 415
        (webhooks opt out by endpoint, naming the media types they take)."""
        if request.method not in BODY_METHODS or request.routing_exception is not None:
            return None  # no such route or method: 404 or 405 says so, whatever the body
        view = app.view_functions.get(request.endpoint or "")
        if (setting := getattr(view, "max_body_setting", None)) is not None:
            # A webhook taking whole e-mails (attachments and all) has a limit of its own.
            request.max_content_length = getattr(current_app.config["PARLEY_SETTINGS"], setting)
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        if chunked and request.headers.get("Content-Length") is None:
            refused = _take_chunked_body()
            if refused is not None:
                return refused
        accepts = getattr(view, "accepts_media_types", None) or ("application/json",)
        if (request.content_length or 0) > 0 and request.mimetype not in accepts:
            return problem(
                415,
                "Unsupported Media Type",
                f"send {' or '.join(accepts)} (got {request.mimetype or 'no Content-Type'})",
            )
        return None
