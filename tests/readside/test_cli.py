"""``parley db|tokens|projections``: the command line, on a real store of each kind."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

from app import create_app
from app.config import Settings
from domain.application import Conversations
from domain.values import Identity
from projections.db import ReadStore, SQLiteReadStore, open_read_store
from projections.log import NotificationLog
from projections.rebuild import rebuild
from projections.registry import by_name
from tests.app.helpers import new_external_id
from tests.readside.conftest import CLI_REDIS_DB


@pytest.fixture
def read_store(store: dict[str, str]) -> Iterator[ReadStore]:
    opened = open_read_store(Settings.from_env(store))
    yield opened
    opened.close()


def open_cases(application: Conversations, count: int) -> list[str]:
    """``count`` tweets from new customers, each acknowledged; their conversation ids."""
    ids = []
    for _ in range(count):
        opened = application.open_conversation(
            channel="x_public",
            body="@acme where is my parcel?",
            actor="integration:x",
            identity=Identity("x", new_external_id()),
            external_id=new_external_id(),
        )
        application.queue_reply(
            opened.id, kind="acknowledgement", body="Looking into it", actor="agent:ann"
        )
        ids.append(str(opened.id))
    return ids


def status(parley: Any) -> dict[str, dict[str, Any]]:
    result = parley("projections", "status", "--json")
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_db_init_then_a_created_token_authenticates_against_the_api(parley, store):
    init = parley("db", "init")
    created = parley("tokens", "create", "--role", "agent", "--name", "x")

    assert init.exit_code == 0, init.output
    assert "event store ready" in init.stdout
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("prl_")
    # a server as deployed: it creates no tables itself on PostgreSQL, db init did
    app = create_app({"TESTING": True}, environ=store)
    try:
        client = app.test_client()
        inbox = client.get("/v1/inbox", headers={"Authorization": f"Bearer {token}"})
        wrong = client.get("/v1/inbox", headers={"Authorization": "Bearer prl_nope"})
    finally:
        app.extensions["parley.application"].close()
        app.extensions["parley.read_store"].close()
    assert inbox.status_code == 200, inbox.get_json()
    assert inbox.get_json()["items"] == []
    assert wrong.status_code == 401


def test_tokens_create_refuses_an_unknown_role(parley):
    assert parley("db", "init").exit_code == 0

    result = parley("tokens", "create", "--role", "root", "--name", "x")

    assert result.exit_code == 2
    assert "root" in result.output


def test_projections_run_once_applies_the_log_and_status_shows_no_lag(
    parley, application, read_store
):
    assert parley("db", "init").exit_code == 0
    ids = open_cases(application, 3)
    head = application.head_position()

    before = status(parley)
    run = parley("projections", "run", "--once")
    again = parley("projections", "run", "--once")
    after = status(parley)

    assert {n: r["lag"] for n, r in before.items()} == {
        "inbox": head,
        "sla": head,
        "history": head,
        "deliveries": head,
        "incidents": head,
    }
    assert run.exit_code == 0, run.output
    assert run.stdout.startswith("applied ")
    assert f"head {head}" in run.stdout
    assert int(run.stdout.split()[1]) > 0
    assert again.stdout.startswith("applied 0 event(s)")
    assert {n: (r["position"], r["lag"], r["state"]) for n, r in after.items()} == {
        name: (head, 0, "running")
        for name in ("inbox", "sla", "history", "deliveries", "incidents")
    }
    rows = read_store.query("SELECT conversation_id, awaiting FROM proj_inbox")
    assert sorted(r["conversation_id"] for r in rows) == sorted(ids)
    assert {r["awaiting"] for r in rows} == {"nothing"}


def test_projections_status_prints_a_table(parley, application):
    assert parley("db", "init").exit_code == 0
    open_cases(application, 1)

    result = parley("projections", "status")

    assert result.exit_code == 0, result.output
    for name in ("inbox", "sla", "history", "deliveries", "incidents"):
        assert name in result.stdout


def test_rebuild_and_verify_repair_a_corrupted_inbox(parley, application, read_store, caplog):
    caplog.set_level(logging.INFO)
    assert parley("db", "init").exit_code == 0
    ids = open_cases(application, 3)
    assert parley("projections", "run", "--once").exit_code == 0

    rebuilt = parley("projections", "rebuild", "inbox")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "swapped in" in rebuilt.stdout
    progress = [json.loads(r.getMessage()) for r in caplog.records if '"op"' in r.getMessage()]
    assert progress, caplog.text
    assert progress[-1]["op"] == "rebuild inbox"
    assert progress[-1]["done"] == 1.0
    assert progress[-1]["head"] == application.head_position()
    verified = parley("projections", "verify", "inbox")
    assert verified.exit_code == 0, verified.output
    assert "equals a rebuild" in verified.stdout
    assert '"op": "verify inbox"' in caplog.text

    with read_store.transaction(lock_key="inbox") as tx:
        tx.run("UPDATE proj_inbox SET priority = 'urgent' WHERE conversation_id = ?", [ids[1]])
    corrupt = parley("projections", "verify", "inbox")

    assert corrupt.exit_code == 1
    differences = [json.loads(line) for line in corrupt.stderr.splitlines() if line.startswith("{")]
    assert {(d["table"], d["only_in"], d["row"]["conversation_id"]) for d in differences} == {
        ("inbox", "live", ids[1]),
        ("inbox", "rebuilt", ids[1]),
    }
    live = next(d["row"] for d in differences if d["only_in"] == "live")
    assert live["priority"] == "urgent"
    assert "2 row(s) differ" in corrupt.stderr

    repaired = parley("projections", "rebuild", "inbox")
    reverified = parley("projections", "verify", "inbox")

    assert repaired.exit_code == 0, repaired.output
    assert reverified.exit_code == 0, reverified.output
    rows = read_store.query("SELECT priority FROM proj_inbox WHERE conversation_id = ?", [ids[1]])
    assert rows == [{"priority": "none"}]
    assert status(parley)["inbox"]["lag"] == 0


def test_a_rebuild_catches_up_with_events_written_since_the_last_run(
    parley, application, read_store
):
    assert parley("db", "init").exit_code == 0
    open_cases(application, 1)
    assert parley("projections", "run", "--once").exit_code == 0
    late = open_cases(application, 1)

    rebuilt = parley("projections", "rebuild", "inbox")

    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"position {application.head_position()}" in rebuilt.stdout
    assert late[0] in {r["conversation_id"] for r in read_store.query("SELECT * FROM proj_inbox")}
    assert status(parley)["inbox"]["lag"] == 0
    assert parley("projections", "verify", "inbox").exit_code == 0


def test_verify_and_rebuild_name_a_projection_that_exists(parley):
    assert parley("db", "init").exit_code == 0

    for command in ("verify", "rebuild"):
        result = parley("projections", command, "outbox")

        assert result.exit_code == 2
        assert "inbox" in result.output


def table_names(store: ReadStore) -> set[str]:
    if isinstance(store, SQLiteReadStore):
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        sql = "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()"
    return {r["name"] for r in store.query(sql)}


class Crashed(Exception):
    """The process running a rebuild died after some batches had committed."""


def test_clean_drops_the_tables_of_a_rebuild_that_died_and_leaves_live_ones(
    parley, application, read_store
):
    assert parley("db", "init").exit_code == 0
    ids = open_cases(application, 4)
    assert parley("projections", "run", "--once").exit_code == 0
    log = NotificationLog(application.recorder, application.mapper)

    def die(position: int, head: int) -> None:
        raise Crashed(position)

    with pytest.raises(Crashed):
        rebuild(read_store, log, by_name("inbox"), batch_size=2, progress=die)
    left = {t for t in table_names(read_store) if "__shadow_" in t}
    shown = parley("projections", "status")
    fresh = parley("projections", "clean")  # the default waits 15 idle minutes
    kept = table_names(read_store)
    cleaned = parley("projections", "clean", "--idle-minutes", "0")
    again = parley("projections", "status")

    assert len(left) == len(by_name("inbox").tables), left  # proj_inbox__shadow_<token>, ...
    assert "unfinished build inbox__shadow_" in shown.stdout
    assert "position 2" in shown.stdout
    assert fresh.exit_code == 0, fresh.output
    assert "0 abandoned build(s) dropped" in fresh.stdout
    assert left <= kept
    assert cleaned.exit_code == 0, cleaned.output
    assert "1 abandoned build(s) dropped" in cleaned.stdout
    assert not left & table_names(read_store)
    assert "unfinished build" not in again.stdout
    live = read_store.query("SELECT conversation_id FROM proj_inbox")
    assert sorted(r["conversation_id"] for r in live) == sorted(ids)
    assert parley("projections", "verify", "inbox").exit_code == 0


def test_clean_leaves_a_build_that_is_still_applying_batches(parley, application, read_store):
    assert parley("db", "init").exit_code == 0
    open_cases(application, 2)
    log = NotificationLog(application.recorder, application.mapper)
    seen: list[str] = []

    def clean_meanwhile(position: int, head: int) -> None:
        if not seen:  # a second operator runs clean while this rebuild is mid-way
            result = parley("projections", "clean", "--idle-minutes", "1")
            seen.append(result.stdout)

    position = rebuild(read_store, log, by_name("inbox"), batch_size=2, progress=clean_meanwhile)

    assert seen == ["0 abandoned build(s) dropped\n"]
    assert position == application.head_position()
    assert not {t for t in table_names(read_store) if "__shadow_" in t}
    assert parley("projections", "verify", "inbox").exit_code == 0


def test_tokens_are_listed_with_id_and_last_use_and_revoked_by_id(parley, store):
    assert parley("db", "init").exit_code == 0
    created = parley("tokens", "create", "--role", "auditor", "--name", "audrey")
    expiring = parley("tokens", "create", "--role", "agent", "--name", "temp", "--expires-in", "2h")
    token = created.stdout.strip()
    token_id = created.stderr.strip().removeprefix("id ")
    base = os.environ.get("PARLEY_REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
    same_redis = {**store, "PARLEY_REDIS_URL": f"{base}/{CLI_REDIS_DB}"}  # as the CLI's
    app = create_app({"TESTING": True}, environ=same_redis)
    try:
        used = app.test_client().get("/v1/inbox", headers={"Authorization": f"Bearer {token}"})
    finally:
        app.extensions["parley.application"].close()
        app.extensions["parley.read_store"].close()
    assert used.status_code == 200

    listed = parley("tokens", "list", "--json")
    rows = {row["name"]: row for row in map(json.loads, listed.stdout.splitlines())}
    revoked = parley("tokens", "revoke", token_id[:8])
    again = parley("tokens", "revoke", token_id)
    unknown = parley("tokens", "revoke", "ffffffff-ffff")
    after = {
        row["name"]: row
        for row in map(json.loads, parley("tokens", "list", "--json").stdout.splitlines())
    }
    table = parley("tokens", "list")

    assert expiring.exit_code == 0, expiring.output
    assert rows["audrey"]["id"] == token_id
    assert (rows["audrey"]["role"], rows["audrey"]["state"]) == ("auditor", "live")
    assert rows["audrey"]["last_used"] is not None and rows["temp"]["last_used"] is None
    assert rows["audrey"]["expires"] is None and rows["temp"]["expires"] is not None
    assert revoked.stdout.strip() == "revoked" and again.stdout.strip() == "revoked already"
    assert unknown.exit_code == 1 and "no token" in unknown.output
    assert after["audrey"]["state"] == "revoked" and after["temp"]["state"] == "live"
    assert token_id[:8] in table.stdout and "audrey" in table.stdout


def test_a_token_duration_that_is_not_one_is_refused(parley):
    assert parley("db", "init").exit_code == 0

    result = parley("tokens", "create", "--role", "agent", "--name", "x", "--expires-in", "soon")

    assert result.exit_code == 2 and "90m, 12h or 30d" in result.output


def test_the_outbox_runs_once_and_channels_status_reports(parley, application):
    assert parley("db", "init").exit_code == 0
    open_cases(application, 2)  # each acknowledged on x_public: two deliveries to enqueue

    once = parley("outbox", "run", "--once")
    again = parley("outbox", "run", "--once")
    status = parley("channels", "status", "--json")

    assert once.exit_code == 0, once.output
    assert once.stdout.startswith("read ") and "enqueued 2 job(s)" in once.stdout
    assert "enqueued 0 job(s)" in again.stdout
    assert json.loads(status.stdout)["channels"]["x"]["configured"] is False
