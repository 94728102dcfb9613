"""Ids (and versions) in paths: a malformed one is a problem document naming the parameter.

Werkzeug's own ``uuid`` converter does not match a malformed id at all, so the client
gets a bare 404 "check your spelling" page. This converter matches any path segment
and hands a malformed one on as :class:`MalformedId`; before the view runs, the request
is answered with a 404 problem whose ``errors`` names the parameter.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from flask import Flask
from werkzeug.routing import BaseConverter

from app.errors import RequestFieldError


class MalformedId(str):
    """A path segment that should have been a UUID."""

    expected = "a UUID"


class MalformedVersion(MalformedId):
    """A path segment that should have been a version number."""

    expected = "a version number (1, 2, ...)"


class UUIDPathConverter(BaseConverter):
    regex = r"[^/]+"

    def to_python(self, value: str) -> UUID | MalformedId:
        try:
            return UUID(value)
        except ValueError:
            return MalformedId(value)

    def to_url(self, value: Any) -> str:
        return str(value)


class VersionPathConverter(BaseConverter):
    """``<version:name>``: an aggregate's version, 1, 2, ... (documented as an integer)."""

    regex = r"[^/]+"

    def to_python(self, value: str) -> int | MalformedId:
        if re.fullmatch(r"[0-9]{1,18}", value):
            return int(value)
        return MalformedVersion(value)

    def to_url(self, value: Any) -> str:
        return str(value)


def version_parameter_schema(converter: BaseConverter) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}


def register_path_ids(app: Flask) -> None:
    app.url_map.converters["uuid"] = UUIDPathConverter
    app.url_map.converters["version"] = VersionPathConverter

    @app.url_value_preprocessor
    def refuse_malformed_ids(endpoint: str | None, values: dict[str, Any] | None) -> None:
        for name, value in (values or {}).items():
            if isinstance(value, MalformedId):
                raise RequestFieldError(
                    name,
                    "path",
                    f"must be {value.expected} (got {value[:60]!r}): no such resource",
                    404,
                )
