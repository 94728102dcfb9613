"""Real event stores for tests: a SQLite file in a temp dir, or a fresh PostgreSQL schema.

PostgreSQL is reached through the same variables the app reads (``PARLEY_POSTGRES_*``,
default 127.0.0.1:5432, database ``test``, user ``postgres``); each test gets its own
schema, dropped afterwards, so tests never see each other's events.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg


def postgres_settings() -> dict[str, str]:
    return {
        "host": os.environ.get("PARLEY_POSTGRES_HOST", "127.0.0.1"),
        "port": os.environ.get("PARLEY_POSTGRES_PORT", "5432"),
        "dbname": os.environ.get("PARLEY_POSTGRES_DB", "test"),
        "user": os.environ.get("PARLEY_POSTGRES_USER", "postgres"),
        "password": os.environ.get("PARLEY_POSTGRES_PASSWORD", ""),
    }


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A new, empty schema; dropped with everything in it on exit."""
    settings = postgres_settings()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**settings, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(**settings, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def store_settings(kind: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The PARLEY_* settings selecting a fresh store of ``kind`` ("sqlite" or "postgres")."""
    if kind == "sqlite":
        yield {"PARLEY_STORE": "sqlite", "PARLEY_SQLITE_PATH": str(tmp_path / "parley.sqlite")}
        return
    settings = postgres_settings()
    with postgres_schema() as schema:
        yield {
            "PARLEY_STORE": "postgres",
            "PARLEY_POSTGRES_HOST": settings["host"],
            "PARLEY_POSTGRES_PORT": settings["port"],
            "PARLEY_POSTGRES_DB": settings["dbname"],
            "PARLEY_POSTGRES_USER": settings["user"],
            "PARLEY_POSTGRES_PASSWORD": settings["password"],
            "PARLEY_POSTGRES_SCHEMA": schema,
        }
