"""How every write answers: Idempotency-Key replay, If-Match, position, ETag.

Views hand a command (a function of the optional idempotency claim) to :func:`execute`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from flask import Response, json, request

from app.auth import current_principal
from app.state import application
from domain.application import IdempotencyClaim, Outcome
from domain.exceptions import InvalidValueError, VersionConflictError

MAX_KEY_LENGTH = 255


def expected_version() -> int | None:
    """The version named by ``If-Match`` (``"7"``, ``W/"7"`` or ``7``), or None.

    A value that names no version can match nothing, so it is a failed precondition.
    """
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    value = header.strip().removeprefix("W/").strip('"')
    try:
        return int(value)
    except ValueError:
        return -1


def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def execute(
    command: Callable[[IdempotencyClaim | None], Outcome],
    *,
    status: int = 200,
    status_of: Callable[[Outcome], int] | None = None,
    location: Callable[[Outcome], str] | None = None,
) -> Response:
    """Run a write, honouring ``Idempotency-Key``; answer with the outcome as JSON."""
    key = request.headers.get("Idempotency-Key")
    claim = None
    if key is not None:
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidValueError(
                "1 to 255 characters", field="Idempotency-Key", location="header"
            )
        principal = current_principal().actor
        fingerprint = _fingerprint()
        if (replay := _replay(principal, key, fingerprint, location)) is not None:
            return replay
        claim = IdempotencyClaim(principal, key, fingerprint, status)
    try:
        outcome = command(claim)
    except VersionConflictError:
        # Two retries racing with one key: the loser answers what the winner recorded.
        if (
            key is not None
            and (replay := _replay(principal, key, fingerprint, location)) is not None
        ):
            return replay
        raise
    code = status_of(outcome) if status_of else status
    response = _respond(outcome.as_dict(), code)
    response.headers["ETag"] = f'"{outcome.version}"'
    if location is not None:
        response.headers["Location"] = location(outcome)
    return response


def _replay(
    principal: str,
    key: str,
    fingerprint: str,
    location: Callable[[Outcome], str] | None = None,
) -> Response | None:
    app = application()
    claim = app.find_claim(principal, key, fingerprint)
    if claim is None:
        return None
    # The first response's body; its position is the log head now, which covers that write.
    body = dict(claim.response, position=app.head_position())
    response = _respond(body, claim.status)
    response.headers["Idempotent-Replayed"] = "true"
    response.headers["ETag"] = f'"{body["version"]}"'
    if location is not None:
        response.headers["Location"] = location(Outcome(body["id"], body["version"], None))
    return response


def _respond(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
