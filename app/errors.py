"""The one place where errors become HTTP: RFC 9457 ``application/problem+json`` bodies.

Domain errors map to statuses here, not in views; validation errors name each field.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import psycopg
from eventsourcing.persistence import OperationalError
from flask import Flask, Response, g, json
from flask_smorest import Api
from marshmallow import Schema, ValidationError, fields
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import HTTPException

from app.readside import ProjectionOutdatedError
from domain.access import roles_with
from domain.exceptions import (
    ChannelIdentityMissingError,
    ConversationResolvedError,
    CustomerErasedError,
    DomainError,
    IdempotencyKeyReusedError,
    IdentityTakenError,
    InvalidTransitionError,
    InvalidValueError,
    MergeError,
    NotFoundError,
    NotPermittedError,
    PreconditionFailedError,
    UnknownReplyError,
    VersionConflictError,
)

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"

# Most specific first: the first class an error is an instance of decides its status.
DOMAIN_STATUS: list[tuple[type[DomainError], int, str]] = [
    (NotFoundError, 404, "not-found"),
    (NotPermittedError, 403, "forbidden"),
    (PreconditionFailedError, 412, "precondition-failed"),
    (VersionConflictError, 409, "version-conflict"),
    (ConversationResolvedError, 409, "conversation-resolved"),
    (IdentityTakenError, 409, "identity-taken"),
    (MergeError, 409, "merge-refused"),
    (CustomerErasedError, 409, "customer-erased"),
    (InvalidTransitionError, 409, "invalid-transition"),
    (ChannelIdentityMissingError, 422, "channel-identity-missing"),
    (UnknownReplyError, 422, "unknown-reply"),
    (IdempotencyKeyReusedError, 422, "idempotency-key-reused"),
    (InvalidValueError, 422, "invalid-value"),
    (DomainError, 422, "refused"),
]


# The domain names the argument at fault in its own words; this is where each is sent in
# a request, unless the route says otherwise (``execute(fields=...)``).
FIELD_NAMES: dict[str, tuple[str, str]] = {
    "idempotency_key": ("Idempotency-Key", "header"),
    "customer": ("customer_id", "json"),
}


class RequestFieldError(Exception):
    """A request's field, header or parameter is unusable (found at the edge, not by a
    business rule): 422 naming it, unless another status is given."""

    def __init__(self, field: str, location: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field, self.location, self.message, self.status = field, location, message, status


class FieldErrorSchema(Schema):
    field = fields.String(metadata={"description": "the field, header or parameter at fault"})
    location = fields.String(metadata={"description": "json, query, path or header"})
    message = fields.String()


class ProblemSchema(Schema):
    """An RFC 9457 problem document."""

    type = fields.String(metadata={"description": "a URI naming the kind of problem"})
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.List(fields.Nested(FieldErrorSchema), metadata={"description": "per field"})
    current_version = fields.Integer(metadata={"description": "on 409/412: the version now"})
    allowed_roles = fields.List(
        fields.String(), metadata={"description": "on 403: the roles that may do this"}
    )
    projection = fields.String(
        metadata={"description": "on 503 projection-outdated: the read model being rebuilt"}
    )


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    kind: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": f"https://parley.invalid/problems/{kind or status}",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _flatten(messages: Any, location: str, prefix: str = "") -> list[dict[str, str]]:
    """webargs' nested ``{"json": {"identity": {"kind": ["..."]}}}`` as a flat list."""
    out: list[dict[str, str]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out += _flatten(value, location, name)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out += [{"field": prefix or "_body", "location": location, "message": m} for m in messages]
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            out += _flatten(value, location, f"{prefix}[{i}]")
    else:
        out.append({"field": prefix or "_body", "location": location, "message": str(messages)})
    return out


class ProblemApi(Api):
    """flask-smorest's Api, answering every HTTP error as a problem document, and
    documenting them so (``application/problem+json``, the problem schema)."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        from app.apidoc import problem_response, register_components

        register_components(self.spec)
        for status in HTTPStatus:
            if status >= 400:
                self.spec.components.response(
                    status.name, problem_response(status, self.ERROR_SCHEMA), lazy=True
                )
        default = problem_response(500, self.ERROR_SCHEMA)
        default["description"] = "any other error, as a problem document"
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)

    def handle_http_exception(self, error: HTTPException) -> Response:  # type: ignore[override]
        data = getattr(error, "data", None) or {}
        errors: list[dict[str, str]] = []
        for location, messages in (data.get("messages") or {}).items():
            place = LOCATIONS.get(location, location)
            found = _flatten(messages, place)
            if place == "query":  # a list parameter's item is the parameter (status=a,b)
                found = [{**e, "field": e["field"].split(".")[0]} for e in found]
            errors += found
        code = error.code or 500
        detail = data.get("message") or error.description
        if errors:
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        headers = dict(data.get("headers") or {})
        if code == 405 and error.get_response().headers.get("Allow"):
            headers["Allow"] = error.get_response().headers["Allow"]
        return problem(
            code, HTTP_TITLES.get(code, error.name), detail, errors=errors, headers=headers
        )


LOCATIONS = {"headers": "header", "querystring": "query", "view_args": "path"}  # webargs'
HTTP_TITLES = {400: "Bad Request", 404: "Not Found", 413: "Content Too Large",
               422: "Unprocessable Content"}  # fmt: skip


def _field_error(field: str, message: str) -> dict[str, str]:
    """A domain argument as the request's field: the route's name for it, else the usual."""
    renamed = getattr(g, "parley_fields", {}).get(field)
    name, location = (renamed, "json") if renamed else FIELD_NAMES.get(field, (field, "json"))
    return {"field": name, "location": location, "message": message}


def _either(roles: list[str]) -> str:
    return roles[0] if len(roles) == 1 else ", ".join(roles[:-1]) + " or " + roles[-1]


def forbidden(
    role: str,
    allowed: list[str],
    why: str | None = None,
    errors: list[dict[str, str]] | None = None,
) -> Response:
    """403, naming the roles that may (never internal permission names)."""
    detail = f"this needs a token of the {_either(allowed)} role; this one is {role}"
    return problem(
        403,
        "Forbidden",
        f"{detail} ({why})" if why else detail,
        errors=errors,
        allowed_roles=allowed,
    )


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def handle_domain_error(error: DomainError) -> Response:
        status, kind = next((s, k) for cls, s, k in DOMAIN_STATUS if isinstance(error, cls))
        extra: dict[str, Any] = {}
        headers: dict[str, str] = {}
        errors = None
        if isinstance(error, VersionConflictError):
            extra["current_version"] = error.current_version
            headers["ETag"] = f'"{error.current_version}"'
        if error.field and status in (403, 422):
            errors = [_field_error(error.field, str(error))]
        if isinstance(error, NotPermittedError):
            return forbidden(g.principal.role, roles_with(error.permission), str(error), errors)
        return problem(
            status,
            kind.replace("-", " "),
            str(error),
            kind=kind,
            errors=errors,
            headers=headers,
            **extra,
        )

    @app.errorhandler(RequestFieldError)
    def handle_request_field_error(error: RequestFieldError) -> Response:
        return problem(
            error.status,
            HTTP_TITLES.get(error.status, "Bad Request"),
            f"{error.field}: {error.message}",
            errors=[{"field": error.field, "location": error.location, "message": error.message}],
        )

    @app.errorhandler(ValidationError)
    def handle_late_validation(error: ValidationError) -> Response:
        """A value the schema let through but a value object refused (still the client's)."""
        errors = _flatten(error.normalized_messages(), "json")
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, HTTP_TITLES[422], detail, errors=errors)

    @app.errorhandler(ProjectionOutdatedError)
    def handle_projection_outdated(error: ProjectionOutdatedError) -> Response:
        log.warning("read of the outdated projection %s: it is waiting for a rebuild", error.name)
        return problem(
            503,
            "Service Unavailable",
            f"the {error.name} read model is being rebuilt for this version; retry later",
            kind="projection-outdated",
            headers={"Retry-After": "30"},
            projection=error.name,
        )

    @app.errorhandler(OperationalError)
    def handle_store_unavailable(error: OperationalError) -> Response:
        log.error("event store unavailable: %s", error)
        return problem(
            503,
            "Service Unavailable",
            "the event store is unavailable; retry later",
            headers={"Retry-After": "5"},
        )

    @app.errorhandler(psycopg.OperationalError)
    @app.errorhandler(PoolTimeout)
    def handle_read_store_unavailable(error: Exception) -> Response:
        """The read models' PostgreSQL is down or restarting (the event store's errors
        arrive as the library's OperationalError, above)."""
        log.error("read store unavailable: %s: %s", type(error).__name__, error)
        return problem(
            503,
            "Service Unavailable",
            "the read models' database is unavailable; retry later",
            headers={"Retry-After": "5"},
        )

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            return app.extensions["parley.api"].handle_http_exception(error)
        log.exception("unhandled error")
        return problem(500, "Internal Server Error", "an unexpected error; it was logged")
