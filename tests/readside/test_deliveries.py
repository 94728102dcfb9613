"""``/v1/ops/deliveries``: what failed and why, and a retry; ``/v1/ops/channels``."""

from __future__ import annotations

import uuid
from uuid import UUID

import redis

from app.config import Settings
from tests.app.helpers import assert_problem
from tests.readside.support import open_case, project, reply
from workers.delivery import Delivery


def test_a_failed_delivery_is_listed_with_its_reason_and_can_be_retried(
    client, auth, flask_app, store
):
    agent, ops = auth("agent"), auth("ops")
    case = open_case(client, agent, "email")
    queued = reply(client, agent, case["id"], body="Your refund is on its way")
    app = flask_app.extensions["parley.application"]
    connection = redis.Redis.from_url(Settings.from_env(store).redis_url)
    Delivery(app, {}, connection).run(UUID(case["id"]), UUID(queued["reply_id"]))  # no e-mail
    project(flask_app)

    failed = client.get("/v1/ops/deliveries", query_string={"status": "failed"}, headers=ops)
    retried = client.post(f"/v1/ops/deliveries/{queued['reply_id']}/retry", json={}, headers=ops)
    project(flask_app)
    after = client.get("/v1/ops/deliveries?status=queued", headers=ops).get_json()

    [row] = failed.get_json()["items"]
    assert (row["reply_id"], row["conversation_id"]) == (queued["reply_id"], case["id"])
    assert (row["status"], row["failure_code"], row["channel"]) == ("failed", "no_channel", "email")
    assert "configured" in row["last_error"]
    assert retried.status_code == 200, retried.get_json()
    assert [r["reply_id"] for r in after["items"]] == [queued["reply_id"]]
    inbox = client.get("/v1/inbox", headers=agent).get_json()["items"]
    assert [i["failed_deliveries"] for i in inbox] == [0]


def test_retrying_an_unknown_or_delivered_reply_is_refused_and_a_waiting_one_is_not(
    client, auth, flask_app
):
    agent, ops = auth("agent"), auth("ops")
    case = open_case(client, agent, "email")
    waiting = reply(client, agent, case["id"])
    sent = reply(client, agent, case["id"], body="and another")
    flask_app.extensions["parley.application"].record_delivery(
        UUID(case["id"]), reply_id=UUID(sent["reply_id"]), external_id="<m@x>", actor="t"
    )
    project(flask_app)

    unknown = client.post(f"/v1/ops/deliveries/{uuid.uuid4()}/retry", json={}, headers=ops)
    delivered = client.post(f"/v1/ops/deliveries/{sent['reply_id']}/retry", json={}, headers=ops)
    stuck = client.post(f"/v1/ops/deliveries/{waiting['reply_id']}/retry", json={}, headers=ops)

    assert_problem(unknown, 404)
    assert_problem(delivered, 409)
    assert stuck.status_code == 200  # a queued reply no job works on can be pushed again


def test_the_channels_view_shows_x_unconfigured_and_its_counters(client, auth):
    body = client.get("/v1/ops/channels", headers=auth("ops")).get_json()

    assert body["channels"]["x"]["configured"] is False
    assert set(body["channels"]["x"]) >= {"calls", "rate_limits", "cursors"}
