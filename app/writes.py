"""How every write answers over HTTP: Idempotency-Key, If-Match, position, ETag.

The rules of idempotency are the application's (:meth:`domain.service.Service.run_once`);
this module only reads the headers, says what a request is (its fingerprint), and turns
an outcome or a replay into a response. Views hand a command (a function of the
optional claim) to :func:`execute`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from flask import Response, g, json, request

from app.apidoc import KEY_PATTERN
from app.auth import current_principal
from app.errors import RequestFieldError
from app.state import application
from domain.idempotency import MAX_KEY_LENGTH, Claim, IdempotentRequest, Replay, fingerprint
from domain.outcome import Outcome
from domain.values import plain

IDEMPOTENCY_KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


IF_MATCH = re.compile(r'(\*|(W/)?"?([0-9]{1,18})"?)')


def expected_version() -> int | None:
    """The version named by ``If-Match`` (``"7"``, ``W/"7"`` or ``7``), or None for ``*``.

    A value that is no version at all is the client's mistake: 422 naming the header.
    """
    header = request.headers.get("If-Match")
    if header is None:
        return None
    match = IF_MATCH.fullmatch(header.strip())
    if match is None:
        raise RequestFieldError("If-Match", "header", 'a version as the ETag gives it ("7"), or *')
    return None if match.group(1) == "*" else int(match.group(3))


def idempotent_request() -> IdempotentRequest | None:
    """What this request is, for its ``Idempotency-Key``: who, which key, which request.

    The fingerprint covers the method, the path and the *parsed* body, so the same JSON
    sent with other whitespace or key order is the same request.
    """
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is None:
        return None
    if len(key) > MAX_KEY_LENGTH or not re.fullmatch(KEY_PATTERN, key):
        raise RequestFieldError(
            IDEMPOTENCY_KEY,
            "header",
            f"1 to {MAX_KEY_LENGTH} visible ASCII characters (spaces only inside)",
        )
    body = request.get_json(silent=True)
    return IdempotentRequest(
        principal=current_principal().actor,
        key=key,
        fingerprint=fingerprint(
            f"{request.method} {request.path}", body, application().fingerprint_secret
        ),
    )


def execute(
    command: Callable[[Claim | None], Outcome],
    *,
    status: int = 200,
    status_of: Callable[[Outcome], int] | None = None,
    location: Callable[[Any], str] | None = None,
    fields: Mapping[str, str] | None = None,
    present: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Response:
    """Run a write at most once per ``Idempotency-Key``; answer with the outcome as JSON.

    ``fields`` renames the domain's argument names to this route's request fields, for
    error documents (``{"tags": "add"}``). ``present``, given the outcome's body (``id``,
    ``version``, ``position``, ...), returns the body to answer with, the first time and
    on a replay alike: the key's record stays the outcome, and the answer is made from
    the version it names (an SLA policy keeps every version, so a replay shows the one
    its first request saved).
    """
    g.parley_fields = dict(fields or {})
    code_of = status_of or (lambda _: status)

    def record(outcome: Outcome) -> dict[str, Any]:
        body = {k: x for k, x in outcome.as_dict().items() if k != "position"}
        return {"status": code_of(outcome), "body": body}

    result = application().run_once(idempotent_request(), command, record=record)
    if isinstance(result, Replay):
        return _replayed(result, location, present)
    body = result.as_dict()
    response = _respond(present(body) if present else body, code_of(result))
    response.headers["ETag"] = f'"{result.version}"'
    if location is not None:
        response.headers["Location"] = location(result.id)
    return response


def _replayed(
    replay: Replay,
    location: Callable[[Any], str] | None,
    present: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Response:
    """The first response again. Its position is the log head now, which covers the first
    write (``null`` if the first request changed nothing)."""
    body = dict(replay.response["body"])
    body["position"] = application().head_position() if replay.changed else None
    response = _respond(present(body) if present else body, int(replay.response["status"]))
    response.headers[REPLAYED] = "true"
    response.headers["ETag"] = f'"{body["version"]}"'
    if location is not None:
        response.headers["Location"] = location(body["id"])
    return response


def _respond(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(plain(body)), status=status, mimetype="application/json")
