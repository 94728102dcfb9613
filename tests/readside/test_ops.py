"""``GET /v1/ops/projections``: how far each projection has got, for operators."""

from __future__ import annotations

from tests.app.helpers import assert_problem, head_position
from tests.readside.support import open_case, project


def statuses(client, headers) -> dict[str, dict]:
    response = client.get("/v1/ops/projections", headers=headers)
    assert response.status_code == 200, response.get_json()
    return {row["name"]: row for row in response.get_json()}


def test_ops_see_every_projection_lagging_before_the_follower_runs_and_level_after(
    client, auth, flask_app
):
    ops = auth("ops")
    open_case(client, auth("agent"), "x_public")
    head = head_position(flask_app)

    before = statuses(client, ops)
    project(flask_app)
    after = statuses(client, ops)

    assert set(before) == set(after) == {"inbox", "sla", "history"}
    for name in ("inbox", "sla", "history"):
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
