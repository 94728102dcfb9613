"""Request parsing: unknown query parameters are errors, and hostile input is refused.

webargs ignores unknown query parameters by default, so ``?asof=`` (a typo) would
silently answer the present. Bodies so deeply nested that decoding recurses too far, or
holding lone surrogates the store cannot encode, are a 400; a NUL character anywhere
(PostgreSQL text cannot hold one) is a 422 naming where it is.
"""

from __future__ import annotations

import json
from typing import Any

import flask
import flask_smorest
import marshmallow as ma
from webargs.core import missing
from webargs.flaskparser import FlaskParser, abort


def _nul_at(value: Any, path: str = "") -> str | None:
    """The path of the first string (key or value) holding a NUL, if any."""
    if isinstance(value, str):
        return path or "_body" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key) or (found := _nul_at(item, name)):
                return name if "\x00" in str(key) else found
    if isinstance(value, list):
        for i, item in enumerate(value):
            if found := _nul_at(item, f"{path}[{i}]"):
                return found
    return None


class ParleyParser(FlaskParser):
    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": ma.RAISE,
        "querystring": ma.RAISE,
    }

    def _raw_load_json(self, req: flask.Request) -> Any:
        try:
            data = super()._raw_load_json(req)
            if data is not missing:
                json.dumps(data, ensure_ascii=False).encode()
        except (RecursionError, UnicodeEncodeError) as error:
            abort(400, exc=error, messages={"json": ["Invalid JSON body."]})
        if data is not missing and (where := _nul_at(data)):
            abort(422, messages={"json": {where: ["must not contain a NUL character"]}})
        return data

    def load_querystring(self, req: flask.Request, schema: ma.Schema) -> Any:
        for name, value in req.args.items(multi=True):
            if "\x00" in name or "\x00" in value:
                abort(422, messages={"query": {name: ["must not contain a NUL character"]}})
        return super().load_querystring(req, schema)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with Parley's parser."""

    ARGUMENTS_PARSER = ParleyParser()
