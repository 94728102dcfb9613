"""The global event log for auditors; health checks for ops; the published contract."""

from __future__ import annotations

import re

import pytest

from tests.app.helpers import another_app, assert_problem, head_position, open_conversation

# The contract's outline (docs: DESIGN.md), as templates; {} is any path parameter.
DESIGN_V1_PATHS = {
    "/v1/conversations",
    "/v1/conversations/{}",
    "/v1/conversations/{}/events",
    "/v1/conversations/{}/messages",
    "/v1/conversations/{}/replies",
    "/v1/conversations/{}/channel-switches",
    "/v1/conversations/{}/assignment",
    "/v1/conversations/{}/notes",
    "/v1/conversations/{}/resolve",
    "/v1/conversations/{}/reopen",
    "/v1/inbox",
    "/v1/customers/{}",
    "/v1/customers/{}/history",
    "/v1/sla/report",
    "/v1/events",
    "/v1/ops/projections",
}
# Those the HTTP edge has had from its first version: they must be routed and published.
FIRST_V1_PATHS = {
    p for p in DESIGN_V1_PATHS if p.startswith(("/v1/conversations", "/v1/events"))
} | {"/v1/customers/{}"}


def template(path):
    """``/v1/x/<uuid:id>`` or ``/v1/x/{id}`` as ``/v1/x/{}``."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


# ---------------------------------------------------------------------- /v1/events
def test_the_global_log_pages_through_every_event_once_in_order(client, auth, flask_app):
    agent = auth("agent")
    for _ in range(2):
        cid = open_conversation(client, agent)["id"]
        client.post(f"/v1/conversations/{cid}/notes", json={"body": "x"}, headers=agent)

    items, after, pages = [], 0, 0
    while after is not None:
        page = client.get(
            "/v1/events", query_string={"after": after, "limit": 2}, headers=auth("auditor")
        )
        assert page.status_code == 200
        body = page.get_json()
        assert len(body["items"]) <= 2
        items += body["items"]
        after, pages = body["next_cursor"], pages + 1

    positions = [e["position"] for e in items]
    assert positions == sorted(set(positions))
    assert positions[-1] == head_position(flask_app)
    assert pages >= len(items) // 2
    conversation_events = [e["type"] for e in items if e["aggregate"] == "Conversation"]
    assert conversation_events == ["Opened", "NoteAdded", "Opened", "NoteAdded"]
    assert {"ApiToken", "Customer", "IdentityIndex", "InboundIndex"} <= {
        e["aggregate"] for e in items
    }


def test_the_global_log_after_a_position_starts_just_after_it(client, auth):
    cid = open_conversation(client, auth("agent"))["id"]
    everything = client.get("/v1/events", headers=auth("auditor")).get_json()["items"]
    middle = everything[len(everything) // 2]["position"]

    after = client.get(
        "/v1/events", query_string={"after": middle}, headers=auth("auditor")
    ).get_json()

    assert [e["position"] for e in after["items"]] == [
        e["position"] for e in everything if e["position"] > middle
    ]
    assert after["next_cursor"] is None
    opened = next(e for e in everything if e["type"] == "Opened")
    assert opened["aggregate_id"] == cid
    assert opened["actor"] == "agent:agent"
    assert opened["data"]["channel"] == "x_public"
    assert opened["topic"] == "parley.Conversation.Opened"


def test_the_global_log_past_its_head_is_empty(client, auth, flask_app):
    response = client.get(
        "/v1/events",
        query_string={"after": head_position(flask_app) + 100},
        headers=auth("auditor"),
    )

    assert response.get_json() == {"items": [], "next_cursor": None}


def test_an_unknown_events_query_parameter_is_refused(client, auth):
    response = client.get("/v1/events", query_string={"since": 3}, headers=auth("auditor"))

    assert_problem(response, 422)


# ---------------------------------------------------------------------- health
def test_healthz_answers_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_checks_the_event_store_and_redis(client, flask_app):
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["checks"]["event_store"]["ok"] is True
    assert body["checks"]["event_store"]["head_position"] == head_position(flask_app)
    assert body["checks"]["redis"] == {"ok": True}


def test_readyz_is_503_naming_redis_when_redis_is_unreachable(store):
    with another_app(store, PARLEY_REDIS_URL="redis://127.0.0.1:1/0") as app:
        response = app.test_client().get("/readyz")

    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not ready"
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["redis"]["error"]
    assert body["checks"]["event_store"]["ok"] is True


# ---------------------------------------------------------------------- the contract
@pytest.fixture
def spec(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_openapi_is_version_3_1_and_lists_every_v1_path_the_app_routes(spec, flask_app):
    routed = {template(rule.rule) for rule in flask_app.url_map.iter_rules()}
    published = {template(path) for path in spec["paths"]}

    assert spec["openapi"].startswith("3.1")
    assert routed >= FIRST_V1_PATHS
    assert published >= DESIGN_V1_PATHS & routed


def test_openapi_declares_bearer_auth_for_the_api(spec):
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    assert {"bearerAuth": []} in spec["security"]


def test_openapi_documents_each_writes_status_and_problems(spec):
    replies = spec["paths"]["/v1/conversations/{conversation_id}/replies"]["post"]
    opening = spec["paths"]["/v1/conversations"]["post"]

    assert "202" in replies["responses"]
    assert {"404", "409", "412", "422"} <= set(replies["responses"])
    assert "201" in opening["responses"]
    assert opening["summary"]


def test_the_docs_page_is_html(client):
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "/openapi.json" in response.get_data(as_text=True)
