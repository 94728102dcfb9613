"""``/docs``: Swagger UI over ``/openapi.json``, served entirely by this app.

The page's scripts and styles come from the ``flask-swagger-ui`` package's copy of
Swagger UI (version 5, which reads OpenAPI 3.1), so the page works with no internet.
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Flask, Response, send_from_directory

ASSETS_URL = "/docs/assets/"
ASSETS = Path(flask_swagger_ui.__file__).parent / "dist"


def configure_docs(app: Flask) -> None:
    """The settings flask-smorest reads when it builds the docs page (before the Api)."""
    app.config.update(
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=ASSETS_URL,
        OPENAPI_SWAGGER_UI_CONFIG={
            "deepLinking": True,
            "persistAuthorization": True,
            "displayOperationId": True,
        },
    )


def register_docs(app: Flask) -> None:
    @app.get(f"{ASSETS_URL}<path:name>")
    def docs_asset(name: str) -> Response:
        return send_from_directory(ASSETS, name, max_age=3600)
