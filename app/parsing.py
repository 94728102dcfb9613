"""Request parsing: unknown query parameters are errors, and hostile JSON is a 400.

webargs ignores unknown query parameters by default, so ``?asof=`` (a typo) would
silently answer the present. Bodies so deeply nested that decoding recurses too far, or
holding lone surrogates the store cannot encode, are refused before any view runs.
"""

from __future__ import annotations

import json
from typing import Any

import flask
import flask_smorest
import marshmallow as ma
from webargs.core import missing
from webargs.flaskparser import FlaskParser, abort


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
        return data


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with Parley's parser."""

    ARGUMENTS_PARSER = ParleyParser()
