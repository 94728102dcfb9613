"""``GET /v1/ops/projections``: how far each projection has got, for operators."""

from __future__ import annotations

import redis

from app.config import Settings
from projections.log import NotificationLog
from tests.app.helpers import assert_problem, head_position
from tests.readside.support import open_case, project
from workers.outbox import Outbox


def statuses(client, headers) -> dict[str, dict]:
    response = client.get("/v1/ops/projections", headers=headers)
    assert response.status_code == 200, response.get_json()
    page = response.get_json()
    assert page["next_cursor"] is None
    return {row["name"]: row for row in page["items"]}


def test_ops_see_every_projection_lagging_before_the_follower_runs_and_level_after(
    client, auth, flask_app
):
    ops = auth("ops")
    open_case(client, auth("agent"), "x_public")
    head = head_position(flask_app)

    before = statuses(client, ops)
    project(flask_app)
    after = statuses(client, ops)

    assert set(before) == set(after) == {"inbox", "sla", "history", "deliveries", "incidents"}
    for name in ("inbox", "sla", "history", "deliveries", "incidents"):
        assert before[name]["position"] == 0
        assert before[name]["head"] == head
        assert before[name]["lag"] == head > 0
        assert before[name]["state"] == "running"
        assert before[name]["last_error"] is None
        assert after[name]["position"] == after[name]["head"] == head
        assert after[name]["lag"] == 0
        assert after[name]["state"] == "running"
        assert after[name]["updated_at"]


def test_projection_status_is_for_ops_only(client, auth):
    for role in ("agent", "supervisor", "auditor", "integration"):
        assert_problem(client.get("/v1/ops/projections", headers=auth(role)), 403)
    assert_problem(client.get("/v1/ops/projections"), 401)


def test_readiness_shows_projection_lag_and_fails_past_the_configured_limit(store, auth, flask_app):
    from app import create_app

    strict = create_app(
        {"TESTING": True},
        environ={**store, "PARLEY_CREATE_TABLES": "yes", "PARLEY_READY_MAX_LAG": "0"},
    )
    try:
        client = strict.test_client()
        open_case(flask_app.test_client(), auth("agent"), "x_public")

        behind = client.get("/readyz")
        assert behind.status_code == 503
        check = behind.get_json()["checks"]["projections"]
        assert check["ok"] is False
        assert set(check["behind"]) == {"inbox", "sla", "history", "deliveries", "incidents"}
        assert all(lag > 0 for lag in check["lag"].values())

        assert behind.get_json()["checks"]["outbox"]["ok"] is False

        project(flask_app)
        app = flask_app.extensions["parley.application"]
        Outbox(
            flask_app.extensions["parley.read_store"],
            NotificationLog(app.recorder, app.mapper),
            redis.Redis.from_url(Settings.from_env(store).redis_url),
        ).run_once()
        level = client.get("/readyz")
        assert level.status_code == 200, level.get_json()
        assert level.get_json()["checks"]["projections"] == {
            "ok": True,
            "lag": {"inbox": 0, "sla": 0, "history": 0, "deliveries": 0, "incidents": 0},
        }
        assert level.get_json()["checks"]["outbox"] == {"ok": True, "lag": 0}
    finally:
        strict.extensions["parley.application"].close()
        strict.extensions["parley.read_store"].close()
