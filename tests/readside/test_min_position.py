"""Reading one's own writes: ``min_position`` waits, boundedly, for the projection."""

from __future__ import annotations

import time

from tests.app.helpers import another_app
from tests.readside.support import following, open_case, project, reply


def test_a_read_with_min_position_waits_for_the_follower_and_includes_the_write(
    client, auth, flask_app
):
    agent = auth("agent")
    with following(flask_app):
        opened = open_case(client, agent, "x_public")
        response = client.get(
            "/v1/inbox", query_string={"min_position": opened["position"]}, headers=agent
        )

    assert response.status_code == 200
    page = response.get_json()
    assert page["projection"]["caught_up"] is True
    assert page["projection"]["position"] >= opened["position"]
    assert "lag" not in page["projection"]
    assert "Parley-Projection-Lag" not in response.headers
    assert int(response.headers["Parley-Projection-Position"]) >= opened["position"]
    assert [i["conversation_id"] for i in page["items"]] == [opened["id"]]


def test_every_read_model_waits_for_min_position_of_a_later_write(client, auth, flask_app):
    agent = auth("agent")
    with following(flask_app):
        opened = open_case(client, agent, "x_public")
        replied = reply(client, agent, opened["id"], kind="acknowledgement")
        position = replied["position"]
        inbox = client.get("/v1/inbox", query_string={"min_position": position}, headers=agent)
        sla = client.get(
            f"/v1/conversations/{opened['id']}/sla",
            query_string={"min_position": position},
            headers=agent,
        )
        history = client.get(
            f"/v1/customers/{opened['customer_id']}/history",
            query_string={"min_position": position},
            headers=agent,
        )

    assert inbox.get_json()["items"][0]["awaiting"] == "nothing"
    assert sla.status_code == 200, sla.get_json()
    assert sla.get_json()["projection"]["caught_up"] is True
    assert sla.get_json()["position"] == position  # the reply queued is in the SLA view
    assert history.get_json()["projection"]["caught_up"] is True
    assert history.get_json()["items"][-1]["kind"] == "reply_queued:acknowledgement"


def test_a_read_whose_projection_does_not_catch_up_in_time_still_answers_with_the_lag(
    store, client, auth, flask_app
):
    agent = auth("agent")
    with another_app(store, PARLEY_READ_WAIT_SECONDS="0.2") as impatient:
        other = impatient.test_client()
        opened = open_case(other, agent, "x_public")
        started = time.monotonic()
        response = other.get(
            "/v1/inbox", query_string={"min_position": opened["position"]}, headers=agent
        )
        elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert 0.2 <= elapsed < 1.0
    meta = response.get_json()["projection"]
    assert meta["caught_up"] is False
    assert meta["position"] == 0
    assert meta["lag"] == opened["position"] > 0
    assert response.headers["Parley-Projection-Lag"] == str(meta["lag"])
    assert response.headers["Parley-Projection-Position"] == "0"
    assert response.get_json()["items"] == []


def test_a_read_with_min_position_already_reached_answers_at_once(client, auth, flask_app):
    agent = auth("agent")
    opened = open_case(client, agent, "chat")
    project(flask_app)

    started = time.monotonic()
    response = client.get(
        "/v1/inbox", query_string={"min_position": opened["position"]}, headers=agent
    )

    assert time.monotonic() - started < 0.5
    assert response.get_json()["projection"]["caught_up"] is True
    assert response.get_json()["items"][0]["conversation_id"] == opened["id"]


def test_every_read_model_answers_a_lagging_read_with_caught_up_false_and_the_lag_headers(
    store, client, auth, flask_app
):
    agent = auth("agent")
    opened = open_case(client, agent, "x_public")
    project(flask_app)
    later = reply(client, agent, opened["id"])["position"]  # not projected
    projected = opened["position"]
    reads = {
        "inbox": ("/v1/inbox", {}),
        "sla": (f"/v1/conversations/{opened['id']}/sla", {}),
        "sla report": (
            "/v1/sla/report",
            {"start": "2026-11-01T00:00:00Z", "end": "2026-11-03T00:00:00Z"},
        ),
        "history": (f"/v1/customers/{opened['customer_id']}/history", {}),
    }

    answers = {}
    with another_app(store, PARLEY_READ_WAIT_SECONDS="0.2") as impatient:
        other = impatient.test_client()
        for name, (path, query) in reads.items():
            answers[name] = other.get(
                path, query_string={**query, "min_position": later}, headers=agent
            )

    wrong = []
    for name, response in answers.items():
        assert response.status_code == 200, (name, response.get_json())
        meta = response.get_json()["projection"]
        assert meta["caught_up"] is False, name
        assert meta["lag"] == later - meta["position"] > 0, name
        assert meta["position"] >= projected, name
        headers = (
            response.headers.get("Parley-Projection-Position"),
            response.headers.get("Parley-Projection-Lag"),
        )
        if headers != (str(meta["position"]), str(meta["lag"])):
            wrong.append((name, headers))
    assert wrong == []


def test_every_read_model_answer_names_its_projection_and_position(client, auth, flask_app):
    agent = auth("agent")
    opened = open_case(client, agent, "x_public")
    project(flask_app)
    reads = {
        "inbox": ("/v1/inbox", {}),
        "sla": (f"/v1/conversations/{opened['id']}/sla", {}),
        "sla report": (
            "/v1/sla/report",
            {"start": "2026-11-01T00:00:00Z", "end": "2026-11-03T00:00:00Z"},
        ),
        "history": (f"/v1/customers/{opened['customer_id']}/history", {}),
    }

    for name, (path, query) in reads.items():
        response = client.get(path, query_string=query, headers=agent)

        assert response.status_code == 200, (name, response.get_json())
        meta = response.get_json()["projection"]
        assert meta == {"name": name.split()[0], "position": opened["position"]}, name
        assert "Parley-Projection-Lag" not in response.headers, name
