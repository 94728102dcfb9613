"""``/v1/stream`` on PostgreSQL: a write and the inbox row it changes reach an open stream
as soon as they commit (LISTEN/NOTIFY), not at the stream's next poll."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from app.resources import stream as stream_module
from domain.values import Identity
from projections.db import PostgresReadStore
from tests.app.helpers import another_app
from tests.readside.support import following
from tests.support.stores import store_settings

LONG_POLL = 5.0  # the stream's and the follower's poll: far past the bound asserted
PROMPTLY = 1.5  # generous: a NOTIFY arrives in milliseconds


def test_a_write_and_its_inbox_row_reach_an_open_stream_long_before_its_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_module, "POLL_SECONDS", LONG_POLL)
    with store_settings("postgres", tmp_path) as store, another_app(store) as served:
        app = served.extensions["parley.application"]
        app.issue_token(name="watcher", role="agent", token="watcher-token", actor="t")
        read_store = served.extensions["parley.read_store"]
        assert isinstance(read_store, PostgresReadStore)
        read_store.wakeup()
        assert read_store.listener is not None and read_store.listener.connected.wait(5)
        arrived: dict[str, float] = {}
        written: dict[str, float] = {}

        def write() -> None:
            written["at"] = time.monotonic()
            app.open_conversation(
                channel="chat", body="anyone?", actor="integration:web",
                identity=Identity("email", "watcher-case@example.com"),
            )  # fmt: skip

        with following(served, poll_interval=LONG_POLL):
            time.sleep(0.3)  # the follower is idle, in its long wait
            response = served.test_client().get(
                "/v1/stream",
                query_string={"timeout": 4 * LONG_POLL, "after": app.head_position()},
                headers={"Authorization": "Bearer watcher-token"},
                buffered=False,
            )
            chunks = iter(response.response)
            next(chunks)  # retry: ...
            threading.Timer(0.5, write).start()
            for chunk in chunks:
                for kind in ("event", "inbox"):
                    if f"event: {kind}\n".encode() in chunk:
                        arrived.setdefault(kind, time.monotonic())
                if len(arrived) == 2:
                    break
            response.close()

    assert set(arrived) == {"event", "inbox"}
    assert arrived["event"] - written["at"] < PROMPTLY
    assert arrived["inbox"] - written["at"] < PROMPTLY
