"""Bearer tokens: who may do what, and whose name goes on the events they cause."""

from __future__ import annotations

import pytest

from tests.app.helpers import (
    assert_problem,
    events_of,
    head_position,
    open_conversation,
    tweet,
)


def test_a_request_without_a_token_is_a_401_with_a_bearer_challenge(client, flask_app):
    head = head_position(flask_app)

    response = client.post("/v1/conversations", json=tweet())

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert head_position(flask_app) == head


@pytest.mark.parametrize(
    "header",
    ["Bearer not-a-real-token", "Bearer ", "Basic dXNlcjpwYXNz", "not-even-a-scheme"],
)
def test_a_bad_or_unknown_token_is_a_401(client, tokens, header):
    response = client.get("/v1/events", headers={"Authorization": header})

    assert_problem(response, 401)
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_a_revoked_token_is_a_401(client, flask_app, tokens, auth):
    with flask_app.app_context():
        app = flask_app.extensions["parley.application"]
        app.revoke_token(str(app.authenticate(tokens["agent"]).id), actor="ops:test")

    response = client.get("/v1/events", headers=auth("agent"))

    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_the_bearer_scheme_is_case_insensitive(client, tokens):
    response = client.get("/v1/events", headers={"Authorization": f"bearer {tokens['auditor']}"})

    assert response.status_code == 200


def test_an_auditor_may_read_but_not_write(client, auth, flask_app):
    cid = open_conversation(client, auth("agent"))["id"]
    head = head_position(flask_app)

    read = client.get(f"/v1/conversations/{cid}", headers=auth("auditor"))
    opening = client.post("/v1/conversations", json=tweet(), headers=auth("auditor"))
    note = client.post(
        f"/v1/conversations/{cid}/notes", json={"body": "x"}, headers=auth("auditor")
    )

    assert read.status_code == 200
    assert "auditor" in assert_problem(opening, 403)["detail"]
    assert_problem(note, 403)
    assert head_position(flask_app) == head


def test_an_agent_may_not_read_the_global_event_log(client, auth):
    assert_problem(client.get("/v1/events", headers=auth("agent")), 403)


@pytest.mark.parametrize("role", ["auditor", "supervisor", "ops"])
def test_auditors_supervisors_and_ops_may_read_the_global_event_log(client, auth, role):
    assert client.get("/v1/events", headers=auth(role)).status_code == 200


def test_an_integration_may_open_conversations_but_not_reply(client, auth, flask_app):
    opened = client.post("/v1/conversations", json=tweet(), headers=auth("integration"))
    assert opened.status_code == 201
    cid = opened.get_json()["id"]
    head = head_position(flask_app)

    reply = client.post(
        f"/v1/conversations/{cid}/replies", json={"body": "hi"}, headers=auth("integration")
    )

    assert_problem(reply, 403)
    assert head_position(flask_app) == head


def test_the_tokens_principal_is_the_actor_on_the_events_it_causes(client, auth):
    cid = client.post("/v1/conversations", json=tweet(), headers=auth("integration")).get_json()[
        "id"
    ]
    client.post(
        f"/v1/conversations/{cid}/messages",
        json={"channel": "x_dm", "body": "more details"},
        headers=auth("integration"),
    )
    client.post(f"/v1/conversations/{cid}/notes", json={"body": "x"}, headers=auth("supervisor"))

    actors = [(e["type"], e["actor"]) for e in events_of(client, auth("auditor"), cid)]

    assert actors == [
        ("Opened", "integration:integration"),
        ("MessageReceived", "integration:integration"),
        ("NoteAdded", "supervisor:supervisor"),
    ]


def test_a_supervisor_may_merge_customers_and_an_agent_may_not(client, auth, flask_app):
    a = open_conversation(client, auth("agent"))["customer_id"]
    b = open_conversation(client, auth("agent"))["customer_id"]
    head = head_position(flask_app)

    refused = client.post(f"/v1/customers/{a}/merge", json={"into": b}, headers=auth("agent"))
    assert_problem(refused, 403)
    assert head_position(flask_app) == head

    merged = client.post(f"/v1/customers/{a}/merge", json={"into": b}, headers=auth("supervisor"))
    assert merged.status_code == 200
    assert isinstance(merged.get_json()["position"], int)


def test_authentication_is_checked_before_the_body_is_validated(client):
    response = client.post("/v1/conversations", json={"nonsense": True})

    assert_problem(response, 401)


def test_health_checks_and_docs_need_no_token(client):
    for path in ["/healthz", "/readyz", "/openapi.json", "/docs"]:
        assert client.get(path).status_code == 200, path
