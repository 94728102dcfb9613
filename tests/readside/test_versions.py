"""Projection versions: tables built by another version of a projection's code are not
read or followed until ``parley projections run`` has rebuilt them."""

from __future__ import annotations

import json
from typing import Any

from app import follower_for
from projections import positions
from projections.db import ReadStore
from projections.inbox import Inbox
from tests.app.helpers import assert_problem, head_position
from tests.readside.support import open_case, parse_sse, project, stream


def read_store_of(flask_app: Any) -> ReadStore:
    return flask_app.extensions["parley.read_store"]  # type: ignore[no-any-return]


def built_by(store: ReadStore, name: str, version: int) -> None:
    """Mark the live tables of ``name`` as built by ``version`` of its code (an older deploy)."""
    with store.transaction(lock_key=name) as tx:
        tx.run(f"UPDATE {positions.TABLE} SET version = ? WHERE name = ?", [version, name])


def test_an_outdated_inbox_answers_503_is_not_followed_and_run_rebuilds_it(
    client, auth, flask_app, parley
):
    agent, ops = auth("agent"), auth("ops")
    first = open_case(client, agent, "x_public")
    project(flask_app)
    store = read_store_of(flask_app)
    built_by(store, "inbox", Inbox.version - 1)
    second = open_case(client, agent, "email")

    refused = client.get("/v1/inbox", headers=agent)
    applied = follower_for(flask_app.extensions["parley.application"], store).run_once()
    shown = {
        r["name"]: r for r in client.get("/v1/ops/projections", headers=ops).get_json()["items"]
    }
    ready = client.get("/readyz")
    status = parley("projections", "status", "--json")

    body = assert_problem(refused, 503)
    assert body["type"].endswith("/projection-outdated")
    assert body["projection"] == "inbox"
    assert refused.headers["Retry-After"] == "30"
    assert applied > 0  # sla and history went on
    assert shown["inbox"]["state"] == "outdated"
    assert shown["inbox"]["version"] == Inbox.version
    assert shown["inbox"]["built_by_version"] == Inbox.version - 1
    assert shown["inbox"]["position"] < head_position(flask_app)  # not followed
    assert shown["sla"]["state"] == shown["history"]["state"] == "running"
    assert ready.status_code == 503
    assert "inbox" in ready.get_json()["checks"]["projections"]["failed"]
    assert {r["name"]: r["state"] for r in json.loads(status.stdout)}["inbox"] == "outdated"

    run = parley("projections", "run", "--once")
    served = client.get("/v1/inbox", headers=agent)
    after = {
        r["name"]: r for r in client.get("/v1/ops/projections", headers=ops).get_json()["items"]
    }

    assert run.exit_code == 0, run.output
    assert served.status_code == 200, served.get_json()
    ids = {item["conversation_id"] for item in served.get_json()["items"]}
    assert ids == {first["id"], second["id"]}
    assert after["inbox"]["state"] == "running"
    assert after["inbox"]["built_by_version"] == Inbox.version
    assert after["inbox"]["lag"] == 0
    assert parley("projections", "verify", "inbox").exit_code == 0


def test_a_positions_table_from_before_versions_gets_the_column_and_reads_as_version_1(store):
    from app.config import Settings
    from projections.db import open_read_store

    read_store = open_read_store(Settings.from_env(store))
    try:
        with read_store.transaction(lock_key="proj_positions") as tx:
            tx.run(
                f"CREATE TABLE {positions.TABLE} (name TEXT PRIMARY KEY, position BIGINT NOT NULL,"
                " token TEXT NOT NULL, error TEXT, error_position BIGINT, error_event TEXT,"
                " updated_at TEXT)"
            )
            tx.run(
                f"INSERT INTO {positions.TABLE} (name, position, token) VALUES ('inbox', 7, 'ab')"
            )

        positions.ensure_table(read_store)
        positions.ensure_table(read_store)  # twice: the column is added once

        status = positions.statuses(read_store)["inbox"]
        assert (status.position, status.version) == (7, 1)
    finally:
        read_store.close()


def test_the_stream_sends_events_but_no_rows_of_an_outdated_inbox_until_it_is_rebuilt(
    client, auth, flask_app, parley
):
    agent = auth("agent")
    opened = open_case(client, agent, "x_public")
    project(flask_app)
    built_by(read_store_of(flask_app), "inbox", Inbox.version - 1)

    outdated = parse_sse(stream(client, agent, timeout=0.5).get_data(as_text=True))
    assert parley("projections", "run", "--once").exit_code == 0
    rebuilt = parse_sse(stream(client, agent, timeout=0.5).get_data(as_text=True))

    assert any(m.event == "event" for m in outdated)
    assert not [m for m in outdated if m.event == "inbox"]
    rows = [m.data for m in rebuilt if m.event == "inbox"]
    assert [r["conversation_id"] for r in rows] == [opened["id"]]
