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
from psycopg_pool import PoolTimeout

from tests.app.helpers import assert_problem
from tests.readside.support import open_case


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


def test_reads_answer_again_after_postgres_closed_the_pools_connections(
    store, client, auth, flask_app
):
    if store["PARLEY_STORE"] != "postgres":
        pytest.skip("a PostgreSQL restart")
    ops = auth("ops")
    open_case(client, auth("agent"), "x_public")
    assert client.get("/v1/ops/projections", headers=ops).status_code == 200

    assert _terminate_pooled_backends(flask_app) >= 1

    for _ in range(3):  # every pooled connection is dead: none is handed to a request
        response = client.get("/v1/ops/projections", headers=ops)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert client.get("/v1/inbox", headers=auth("agent")).status_code == 200


@pytest.mark.parametrize(
    "error", [psycopg.OperationalError("connection refused"), PoolTimeout("no connection")]
)
def test_a_read_while_the_read_store_is_down_is_503_with_retry_after(
    store, client, auth, flask_app, monkeypatch, error
):
    if store["PARLEY_STORE"] != "postgres":
        pytest.skip("the PostgreSQL read store's errors")
    read_store = flask_app.extensions["parley.read_store"]

    def down(*args, **kwargs):
        raise error

    monkeypatch.setattr(read_store, "transaction", down)
    monkeypatch.setattr(read_store, "query", down)
    response = client.get("/v1/ops/projections", headers=auth("ops"))
    body = assert_problem(response, 503)
    assert response.headers["Retry-After"] == "5"
    assert "read models" in body["detail"]
