"""The read models' database restarting or down: a read answers 200 again once it is
back, and 503 with ``Retry-After`` while it is not; never a 500.

Found by the soak: after ``pg_ctl restart`` the read store's pool handed out connections
the restart had closed, and ``GET /v1/ops/projections`` (every read model's endpoint)
answered 500 until the pool had cycled them all.
"""

from __future__ import annotations

import contextlib

import psycopg
import pytest

from bench.serving import free_port
from projections.db import PostgresReadStore
from tests.app.helpers import assert_problem
from tests.readside.support import open_case
from tests.support.stores import store_settings


@pytest.fixture
def store(tmp_path):  # type: ignore[no-untyped-def]
    """PostgreSQL only: these are the PostgreSQL read store's faults (SQLite has no server)."""
    with store_settings("postgres", tmp_path) as settings:
        yield settings


def _terminate_pooled_backends(flask_app) -> int:
    """What a PostgreSQL restart does to the read store's pool: its connections' backends
    end (only this pool's: other sessions on the machine's server are left alone)."""
    pool = flask_app.extensions["parley.read_store"].pool
    pids: set[int] = set()
    with contextlib.ExitStack() as held:  # take every connection the pool may hand out
        for _ in range(pool.max_size):
            pids.add(held.enter_context(pool.connection()).info.backend_pid)
    server = {k: v for k, v in pool.kwargs.items() if k != "options"}
    with psycopg.connect(**server, autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    return len(pids)


def test_reads_answer_again_after_postgres_closed_the_pools_connections(client, auth, flask_app):
    ops = auth("ops")
    open_case(client, auth("agent"), "x_public")
    assert client.get("/v1/ops/projections", headers=ops).status_code == 200

    assert _terminate_pooled_backends(flask_app) >= 1

    for _ in range(3):  # every pooled connection is dead: none is handed to a request
        response = client.get("/v1/ops/projections", headers=ops)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert client.get("/v1/inbox", headers=auth("agent")).status_code == 200


def test_a_read_while_the_read_store_is_down_is_503_with_retry_after(client, auth, flask_app):
    """A read store whose server does not answer (nothing listens on its port): the pool
    cannot connect, and the read is a 503 the client may retry, not a 500."""
    live = flask_app.extensions["parley.read_store"]
    server = {k: x for k, x in live.pool.kwargs.items() if k != "options"}
    unreachable = PostgresReadStore({**server, "port": str(free_port()), "connect_timeout": "1"},
                                    None, pool_size=1)  # fmt: skip
    unreachable.pool.timeout = 2.0  # PoolTimeout after 2 s, not the default 30
    flask_app.extensions["parley.read_store"] = unreachable
    try:
        response = client.get("/v1/ops/projections", headers=auth("ops"))
    finally:
        flask_app.extensions["parley.read_store"] = live
        unreachable.close()
    body = assert_problem(response, 503)
    assert response.headers["Retry-After"] == "5"
    assert "read models" in body["detail"]
