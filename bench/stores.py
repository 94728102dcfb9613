"""Fresh stores for benchmarks and tests: a SQLite file in a temp dir, or a new PostgreSQL
schema. (Here rather than in ``tests/`` so benchmarks never import tests; the tests'
``tests/support/stores.py`` builds on it.)

PostgreSQL is reached through the variables the app reads (``PARLEY_POSTGRES_*``, default
127.0.0.1:5432, database ``test``, user ``postgres``); each store is its own schema,
dropped with everything in it afterwards.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import psycopg

from domain.privacy import new_master_key

KINDS = ("sqlite", "postgres")


def postgres_settings() -> dict[str, str]:
    return {
        "host": os.environ.get("PARLEY_POSTGRES_HOST", "127.0.0.1"),
        "port": os.environ.get("PARLEY_POSTGRES_PORT", "5432"),
        "dbname": os.environ.get("PARLEY_POSTGRES_DB", "test"),
        "user": os.environ.get("PARLEY_POSTGRES_USER", "postgres"),
        "password": os.environ.get("PARLEY_POSTGRES_PASSWORD", ""),
    }


def postgres_version() -> str:
    with psycopg.connect(**postgres_settings(), connect_timeout=5) as conn:  # type: ignore[arg-type]
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def describe_machine(kinds: list[str]) -> str:
    """The machine and the versions a benchmark ran on, for the first line of its report."""
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    stores = []
    if "sqlite" in kinds:
        stores.append(f"SQLite {sqlite3.sqlite_version}")
    if "postgres" in kinds:
        stores.append(f"PostgreSQL {postgres_version()}")
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}),"
        f" {platform.machine()}, nproc {nproc}, eventsourcing {version('eventsourcing')},"
        f" {', '.join(stores)}"
    )


@contextmanager
def postgres_schema(prefix: str = "bench_") -> Iterator[str]:
    """A new, empty schema; dropped with everything in it on exit."""
    settings = postgres_settings()
    schema = f"{prefix}{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**settings, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(**settings, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def fresh_store(
    kind: str, directory: Path, name: str, *, schema_prefix: str = "bench_"
) -> Iterator[dict[str, str]]:
    """``PARLEY_*`` settings selecting a new, empty store of ``kind``.

    ``name`` tells stores apart inside one run (a SQLite file per name in ``directory``).
    """
    if kind == "sqlite":
        yield {"PARLEY_STORE": "sqlite", "PARLEY_SQLITE_PATH": str(directory / f"{name}.sqlite")}
        return
    if kind != "postgres":
        raise ValueError(f"unknown store {kind!r}")
    settings = postgres_settings()
    with postgres_schema(schema_prefix) as schema:
        yield {
            "PARLEY_STORE": "postgres",
            "PARLEY_POSTGRES_HOST": settings["host"],
            "PARLEY_POSTGRES_PORT": settings["port"],
            "PARLEY_POSTGRES_DB": settings["dbname"],
            "PARLEY_POSTGRES_USER": settings["user"],
            "PARLEY_POSTGRES_PASSWORD": settings["password"],
            "PARLEY_POSTGRES_SCHEMA": schema,
            "PARLEY_MASTER_KEY": new_master_key(),  # SQLite makes one beside its file
        }
