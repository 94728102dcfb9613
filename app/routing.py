"""Ids in paths: a malformed one is a problem document naming the parameter.

Werkzeug's own ``uuid`` converter does not match a malformed id at all, so the client
gets a bare 404 "check your spelling" page. This converter matches any path segment
and hands a malformed one on as :class:`MalformedId`; before the view runs, the request
is answered with a 404 problem whose ``errors`` names the parameter.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Flask
from werkzeug.routing import BaseConverter

from app.errors import RequestFieldError


class MalformedId(str):
    """A path segment that should have been a UUID."""


class UUIDPathConverter(BaseConverter):
    regex = r"[^/]+"

    def to_python(self, value: str) -> UUID | MalformedId:
        try:
            return UUID(value)
        except ValueError:
            return MalformedId(value)

    def to_url(self, value: Any) -> str:
        return str(value)


def register_path_ids(app: Flask) -> None:
    app.url_map.converters["uuid"] = UUIDPathConverter

    @app.url_value_preprocessor
    def refuse_malformed_ids(endpoint: str | None, values: dict[str, Any] | None) -> None:
        for name, value in (values or {}).items():
            if isinstance(value, MalformedId):
                raise RequestFieldError(
                    name, "path", f"must be a UUID (got {value[:60]!r}): no such resource", 404
                )
