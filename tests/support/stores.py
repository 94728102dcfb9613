"""Real event stores for tests: a SQLite file in a temp dir, or a fresh PostgreSQL schema.

PostgreSQL is reached through the same variables the app reads (``PARLEY_POSTGRES_*``,
default 127.0.0.1:5432, database ``test``, user ``postgres``); each test gets its own
schema (``t_<hex>``), dropped afterwards, so tests never see each other's events. The
logic is shared with the benchmarks (``bench/stores.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from bench import stores


def postgres_schema() -> AbstractContextManager[str]:
    """A new, empty schema; dropped with everything in it on exit."""
    return stores.postgres_schema("t_")


@contextmanager
def store_settings(kind: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The PARLEY_* settings selecting a fresh store of ``kind`` ("sqlite" or "postgres")."""
    with stores.fresh_store(kind, tmp_path, "parley", schema_prefix="t_") as settings:
        yield settings
