"""Bearer-token authentication and role checks.

The token's principal (``role:name``) becomes the actor on every event the request causes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast
from uuid import UUID

from flask import g, request

from app.errors import forbidden, problem
from app.state import application
from app.token_use import note_token_use
from domain.access import READ_NOTES, may, roles_with

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Principal:
    role: str
    name: str
    token_id: UUID | None = None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.name}"


def current_principal() -> Principal:
    return cast(Principal, g.principal)


def may_read_notes() -> bool:
    """Whether this request's token may read private notes (agents and supervisors)."""
    principal = g.get("principal")
    return principal is not None and may(principal.role, READ_NOTES)


def requires(permission: str) -> Callable[[F], F]:
    """Refuse the request unless it carries a live token whose role grants ``permission``."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return problem(
                    401,
                    "Unauthorized",
                    "send an API token: Authorization: Bearer <token>",
                    headers={"WWW-Authenticate": 'Bearer realm="parley"'},
                )
            api_token = application().authenticate(token.strip())
            if api_token is None:
                return problem(
                    401,
                    "Unauthorized",
                    "the token is unknown or revoked",
                    headers={"WWW-Authenticate": 'Bearer realm="parley", error="invalid_token"'},
                )
            if not may(api_token.role, permission):
                return forbidden(api_token.role, roles_with(permission))
            g.principal = Principal(api_token.role, api_token.name, api_token.id)
            note_token_use(api_token.id)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator
