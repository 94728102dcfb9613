"""Settings are checked once, at start-up, and the embedded read store works in memory too."""

from __future__ import annotations

import threading

import pytest

from app.config import Settings
from projections.db import SQLiteReadStore


@pytest.mark.parametrize(
    ("name", "value"),
    [("PARLEY_READ_WAIT_SECONDS", "soon"), ("PARLEY_READY_MAX_LAG", "many"),
     ("PARLEY_MAX_BODY_BYTES", "1MB"), ("PARLEY_POSTGRES_PORT", "-5"),
     ("PARLEY_SLA_SWEEP_SECONDS", "0"), ("PARLEY_SLA_SWEEP_SECONDS", "0.5")],
)  # fmt: skip
def test_a_setting_that_is_not_a_number_stops_start_up_naming_it(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_numbers_are_read_once_with_their_types() -> None:
    settings = Settings.from_env(
        {
            "PARLEY_READ_WAIT_SECONDS": "0.5",
            "PARLEY_READY_MAX_LAG": "10",
            "PARLEY_READ_STORE_PATH": "",
        }
    )
    assert (settings.read_wait_seconds, settings.ready_max_lag) == (0.5, 10)
    assert Settings.from_env({}).ready_max_lag is None


def test_an_unknown_store_kind_stops_start_up() -> None:
    with pytest.raises(ValueError, match="PARLEY_STORE"):
        Settings.from_env({"PARLEY_STORE": "mysql"})


def test_an_in_memory_read_store_is_one_database_for_every_thread() -> None:
    store = SQLiteReadStore(":memory:")
    with store.transaction(lock_key="t") as tx:
        tx.run("CREATE TABLE t (n INTEGER)")
        tx.run("INSERT INTO t VALUES (1)")
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(store.query("SELECT n FROM t")))
    thread.start()
    thread.join()
    assert seen == [[{"n": 1}]]
    store.close()
