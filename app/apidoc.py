"""The OpenAPI document's shared parts, and the Blueprint that declares routes with them.

Every operation has a stable ``operationId`` (generated clients name their methods after
it), lists every status it really answers with the problem schema, declares the request
headers it reads (``If-Match``, ``Idempotency-Key``) and the response headers it sets
(``ETag``, ``Location``, ``Idempotent-Replayed``, ``Retry-After``, the read-your-writes
``Parley-Projection-*``), each with a schema.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

import flask_smorest
from apispec import APISpec

from app.parsing import ParleyParser

F = TypeVar("F", bound=Callable[..., Any])

# Visible ASCII, spaces only inside: what a header carries safely everywhere.
KEY_PATTERN = "^[!-~](?:[ -~]*[!-~])?$"

PROBLEM = "application/problem+json"

HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": 'the aggregate\'s version, quoted (`"7"`): send it back as `If-Match`',
        "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
    },
    "Location": {
        "description": "where the created resource is",
        "schema": {"type": "string", "format": "uri-reference"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the recorded answer to an earlier request with "
        "the same Idempotency-Key (nothing was written again)",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Parley-Projection-Position": {
        "description": "the log position the read model had processed when it answered",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Parley-Projection-Lag": {
        "description": "how many positions short of `min_position` the read model still was",
        "schema": {"type": "integer", "minimum": 0},
    },
    "WWW-Authenticate": {
        "description": "the Bearer challenge",
        "schema": {"type": "string"},
    },
}

PARAMETERS: dict[str, dict[str, Any]] = {
    "IfMatch": {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "description": "write only if the aggregate is still at this version (its `ETag`); "
        "412 otherwise. `*` matches any version.",
        "schema": {"type": "string", "pattern": r'^(\*|(W/)?"?[0-9]{1,18}"?)$'},
    },
    "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "make this POST safe to retry: the same key and body from the same "
        "token within 24 hours get the first answer again (`Idempotent-Replayed: true`) and "
        "write nothing; the same key with another body is 422",
        "schema": {"type": "string", "pattern": KEY_PATTERN, "minLength": 1, "maxLength": 255},
    },
}

# Status -> (description, response headers): what each problem means in this API.
PROBLEMS: dict[int, tuple[str, tuple[str, ...]]] = {
    400: ("the body is not JSON this API can read", ()),
    401: ("no token, or an unknown, revoked or expired one", ("WWW-Authenticate",)),
    403: ("the token's role may not do this (`allowed_roles` says which may)", ()),
    404: ("no such resource (or a malformed id, named in `errors`)", ()),
    405: ("the route does not take this method", ()),
    409: ("a rule or a concurrent write refused it; `current_version` says where the "
          "aggregate is now", ("ETag",)),
    412: ("`If-Match` named a version that is no longer current", ("ETag",)),
    413: ("the body is larger than the server accepts", ()),
    415: ("the body is not `application/json`", ()),
    422: ("a field is invalid: each is named in `errors`", ()),
    503: ("the store is unreachable, a read model is being rebuilt, or too many streams are "
          "open here", ("Retry-After",)),
}  # fmt: skip

WRITE_PROBLEMS = (401, 403, 404, 409, 412, 413, 415, 422, 503)
READ_PROBLEMS = (401, 403, 404, 422, 503)


def register_components(spec: APISpec) -> None:
    """Headers and parameters every operation refers to."""
    for name, header in HEADERS.items():
        spec.components.header(name, header)
    for name, parameter in PARAMETERS.items():
        spec.components.parameter(name, parameter["in"], parameter)


def problem_response(status: int, schema: Any) -> dict[str, Any]:
    """The documented problem answer for ``status`` (as a component response)."""
    description, headers = PROBLEMS.get(status, (HTTPStatus(status).phrase, ()))
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM: {"schema": schema}},
    }
    if headers:
        response["headers"] = header_refs(*headers)
    return response


def links(key: str, parameter: str, *operation_ids: str) -> dict[str, Any]:
    """OpenAPI links from a created resource's ``id`` to the operations on it (clients
    and stateful testers follow them)."""
    return {
        op: {"operationId": op, "parameters": {parameter: f"$response.body#/{key}"}}
        for op in operation_ids
    }


CONVERSATION_LINKS = links(
    "id", "conversation_id", "getConversation", "listConversationEvents", "recordMessage",
    "queueReply", "assignConversation", "addNote", "changeTags", "resolveConversation",
)  # fmt: skip
CUSTOMER_LINKS = links(
    "id", "customer_id", "getCustomer", "addCustomerIdentity", "getCustomerHistory"
)


def header_refs(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with Parley's parser and its OpenAPI conventions."""

    ARGUMENTS_PARSER = ParleyParser()

    def arguments(self, schema: Any, **kwargs: Any) -> Callable[[F], F]:
        """flask-smorest's, with a schema class made into its instance once, here: webargs
        makes a class into a new instance per request, and making one (marshmallow copies
        every declared field) cost about a tenth of an inbox request. A schema keeps no
        state between loads (marshmallow 4 has no context), so one instance serves all."""
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, **kwargs)  # type: ignore[no-any-return]

    @staticmethod
    def operation(operation_id: str, **doc: Any) -> Callable[[F], F]:
        """Name the operation (``operationId``) and add any other OpenAPI fields."""
        return flask_smorest.Blueprint.doc(operationId=operation_id, **doc)  # type: ignore[no-any-return]

    def problems(self, *statuses: int) -> Callable[[F], F]:
        """Document the problem documents this operation may answer."""

        def decorator(view: F) -> F:
            for status in statuses:
                view = self.alt_response(status, response=HTTPStatus(status).name)(view)
            return view

        return decorator

    @staticmethod
    def request_headers(*names: str) -> Callable[[F], F]:
        """Declare the request headers an operation reads (``IfMatch``, ``IdempotencyKey``)."""
        return flask_smorest.Blueprint.doc(parameters=list(names))  # type: ignore[no-any-return]

    def write(
        self,
        operation_id: str,
        status: int,
        schema: Any,
        *,
        description: str | None = None,
        if_match: bool = True,
        location: bool = False,
        also: dict[int, tuple[Any, str]] | None = None,
        problems: tuple[int, ...] = WRITE_PROBLEMS,
        follow: dict[str, Any] | None = None,
    ) -> Callable[[F], F]:
        """A write's documentation: its answer (ETag, Location), the headers it reads,
        ``also`` other successful answers, and its problems."""
        headers = ("ETag", "Idempotent-Replayed", *(("Location",) if location else ()))

        def decorator(view: F) -> F:
            for code, (other, text) in (also or {}).items():
                view = self.alt_response(
                    code, schema=other, description=text, headers=header_refs(*headers),
                    success=True,
                )(view)  # fmt: skip
            answered = problems if if_match else tuple(p for p in problems if p != 412)
            view = self.problems(*answered)(view)
            view = self.response(
                status, schema, description=description, headers=header_refs(*headers)
            )(view)
            names = ("IfMatch", "IdempotencyKey") if if_match else ("IdempotencyKey",)
            view = self.request_headers(*names)(view)
            if follow:
                view = flask_smorest.Blueprint.doc(responses={status: {"links": follow}})(view)
            return self.operation(operation_id)(view)

        return decorator

    def read(
        self,
        operation_id: str,
        schema: Any,
        *,
        headers: tuple[str, ...] = (),
        problems: tuple[int, ...] = READ_PROBLEMS,
    ) -> Callable[[F], F]:
        """A read's documentation: its answer, response headers and problems."""

        def decorator(view: F) -> F:
            view = self.problems(*problems)(view)
            view = self.response(200, schema, headers=header_refs(*headers) or None)(view)
            return self.operation(operation_id)(view)

        return decorator
