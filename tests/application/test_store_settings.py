"""The event store is configured by Parley's settings alone, on an ordered insert path.

The library reads ``<APPLICATION NAME>_<SETTING>`` (here ``PARLEY_*``) and bare setting
names from the process environment before the settings it is given; Parley's own
``PARLEY_*`` namespace must not leak into it, and an insert path that lets a follower
pass over a late commit is refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from app.config import Settings, event_store_env
from domain.application import Conversations
from domain.exceptions import UnorderedStoreError
from tests.support.stores import store_settings


def test_library_settings_in_the_environment_do_not_reach_the_store(
    store: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PARLEY_POSTGRES_ENABLE_DB_FUNCTIONS", "POSTGRES_ENABLE_DB_FUNCTIONS"):
        monkeypatch.setenv(name, "y")
    monkeypatch.setenv("PARLEY_PERSISTENCE_MODULE", "eventsourcing.popo")
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.popo")

    app = Conversations(env=event_store_env(Settings.from_env(store), create_tables=True))
    try:
        kind = store.get("PARLEY_STORE", "sqlite")
        library = {"sqlite": SQLiteApplicationRecorder, "postgres": PostgresApplicationRecorder}
        assert isinstance(app.recorder, library[kind])  # Parley's key-keeping subclass of it
        datastore = getattr(app.recorder, "datastore", None)
        assert not getattr(datastore, "enable_db_functions", False)
    finally:
        app.close()


def test_an_insert_path_without_the_table_lock_is_refused(tmp_path: Path) -> None:
    """PostgreSQL only: the database-function insert path exists there alone."""
    with store_settings("postgres", tmp_path) as settings:
        env = event_store_env(Settings.from_env(settings), create_tables=True)

        with pytest.raises(UnorderedStoreError):
            Conversations(env={**env, "POSTGRES_ENABLE_DB_FUNCTIONS": "y"})
