"""Request parsing: unknown query parameters are errors, and hostile input is refused.

webargs ignores unknown query parameters by default, so ``?asof=`` (a typo) would
silently answer the present. A body that is not JSON, is not UTF-8, nests so deeply that
decoding recurses too far, holds a number longer than Python's int digit limit, or holds
lone surrogates the store cannot encode, is a 400 that says which; a NUL character
anywhere (PostgreSQL text cannot hold one) is a 422 naming where it is. A body larger
than the limit is a 413, however it was sent (chunked bodies have no Content-Length).
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import flask
import marshmallow as ma
from webargs.core import missing
from webargs.flaskparser import FlaskParser, abort, is_json_request


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


def _malformed(reason: str) -> NoReturn:
    abort(400, messages={"json": {"_body": [reason]}})


def decode_json(raw: bytes) -> Any:
    """Parse a JSON body, or answer 400 saying in plain words what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        _malformed(f"the body is not UTF-8 (byte {error.start} cannot be decoded)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        _malformed(
            f"the body is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        )
    except RecursionError:
        _malformed("the body nests arrays or objects too deeply")
    except ValueError as error:  # Python's int digit limit: not a JSONDecodeError
        _malformed(f"the body holds a number too long to read ({error})")
    try:
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        _malformed("the body holds a lone surrogate (\\ud800-\\udfff) that is no character")
    except RecursionError:
        _malformed("the body nests arrays or objects too deeply")
    return data


class ParleyParser(FlaskParser):
    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": ma.RAISE,
        "querystring": ma.RAISE,
    }

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return missing
        raw = req.get_data(cache=True)  # over the size limit: 413, chunked or not
        if not raw.strip():
            return missing
        data = decode_json(raw)
        if where := _nul_at(data):
            abort(422, messages={"json": {where: ["must not contain a NUL character"]}})
        return data

    def load_querystring(self, req: flask.Request, schema: ma.Schema) -> Any:
        for name, value in req.args.items(multi=True):
            if "\x00" in name or "\x00" in value:
                abort(422, messages={"query": {name: ["must not contain a NUL character"]}})
        return super().load_querystring(req, schema)
