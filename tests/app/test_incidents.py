"""``/v1/incidents`` over HTTP: declaring, linking, acknowledging, updating, resolving, the
ledger; their errors (the field named, 404 unknown, 409/412 conflicts, never a 500), If-Match,
Idempotency-Key, and the OpenAPI document."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.app.helpers import assert_problem, error_fields, head_position, open_conversation
from tests.readside.support import project

DECLARE = {
    "title": "App down",
    "public_summary": "Our app is down; we are on it.",
    "links": ["https://status.example.com/42"],
    "keywords": ["acme down", "outage"],
}
ACK = {"body": "Sorry! The app is down for everyone; we are on it."}


def declare(client: FlaskClient, auth: Any, **overrides: Any) -> dict[str, Any]:
    response = client.post(
        "/v1/incidents", json={**DECLARE, **overrides}, headers=auth("supervisor")
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def test_a_supervisor_declares_an_incident_and_reads_it_with_its_etag(client, auth) -> None:
    response = client.post("/v1/incidents", json=DECLARE, headers=auth("supervisor"))

    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == f"/v1/incidents/{body['id']}"
    assert response.headers["ETag"] == '"1"' and body["version"] == 1 and body["position"]
    read = client.get(f"/v1/incidents/{body['id']}", headers=auth("auditor"))
    assert read.status_code == 200 and read.headers["ETag"] == '"1"'
    incident = read.get_json()
    assert (incident["status"], incident["keywords"], incident["links"]) == (
        "live", ["acme down", "outage"], DECLARE["links"],
    )  # fmt: skip
    assert incident["declared_by"] == "supervisor:supervisor"
    assert incident["cases"]["linked"] == 0 and incident["updates"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"public_summary": "x"}, "title"),
        ({"title": "x"}, "public_summary"),
        ({**DECLARE, "links": ["ftp://nope"]}, "links.0"),
        ({**DECLARE, "links": "https://a.example"}, "links"),
        ({**DECLARE, "keywords": ["?!"]}, "keywords"),
        ({**DECLARE, "keywords": ["x" * 61]}, "keywords.0"),
        ({**DECLARE, "keywords": [f"k{n}" for n in range(21)]}, "keywords"),
        ({**DECLARE, "severity": "high"}, "severity"),
    ],
)
def test_a_bad_declaration_is_a_422_naming_the_field_and_writes_nothing(
    client, auth, flask_app, body, field
) -> None:
    head = head_position(flask_app)

    problem = assert_problem(
        client.post("/v1/incidents", json=body, headers=auth("supervisor")), 422
    )

    assert field in error_fields(problem), problem
    assert head_position(flask_app) == head


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/incidents/{id}", None),
        ("GET", "/v1/incidents/{id}/ledger", None),
        ("POST", "/v1/incidents/{id}/links", {"conversation_id": str(uuid.uuid4())}),
        ("DELETE", "/v1/incidents/{id}/links/" + str(uuid.uuid4()), None),
        ("POST", "/v1/incidents/{id}/acknowledgements", ACK),
        ("POST", "/v1/incidents/{id}/updates", {}),
        ("POST", "/v1/incidents/{id}/resolve", {"summary": "fixed"}),
    ],
)
def test_an_unknown_incident_is_a_404_and_a_malformed_id_names_the_parameter(
    client, auth, flask_app, method, path, body
) -> None:
    head = head_position(flask_app)
    unknown = client.open(
        path.format(id=uuid.uuid4()), method=method, json=body, headers=auth("supervisor")
    )
    assert assert_problem(unknown, 404)["type"].endswith("/not-found")
    malformed = client.open(
        path.format(id="not-an-id"), method=method, json=body, headers=auth("supervisor")
    )
    problem = assert_problem(malformed, 404)
    assert [(e["field"], e["location"]) for e in problem["errors"]] == [("incident_id", "path")]
    assert head_position(flask_app) == head


def test_an_agent_links_a_case_by_hand_once_and_unlinks_it(client, auth) -> None:
    incident = declare(client, auth)["id"]
    case = open_conversation(client, auth("agent"), body="@acme nothing works")["id"]

    first = client.post(
        f"/v1/incidents/{incident}/links", json={"conversation_id": case}, headers=auth("agent")
    )
    again = client.post(
        f"/v1/incidents/{incident}/links", json={"conversation_id": case}, headers=auth("agent")
    )
    unknown = client.post(
        f"/v1/incidents/{incident}/links", json={"conversation_id": str(uuid.uuid4())},
        headers=auth("agent"),
    )  # fmt: skip
    bad = client.post(
        f"/v1/incidents/{incident}/links", json={"conversation_id": "x"}, headers=auth("agent")
    )

    assert first.status_code == 201, first.get_json()
    assert first.get_json()["linked"] is True and first.get_json()["conversation_id"] == case
    assert again.status_code == 200 and again.get_json()["linked"] is False
    assert again.get_json()["position"] is None
    assert_problem(unknown, 404)
    assert error_fields(assert_problem(bad, 422)) == {"conversation_id"}
    assert (
        client.get(f"/v1/incidents/{incident}", headers=auth()).get_json()["cases"]["linked"] == 1
    )

    gone = client.delete(f"/v1/incidents/{incident}/links/{case}", headers=auth("agent"))
    assert gone.status_code == 200 and gone.get_json()["unlinked"] is True
    assert (
        client.get(f"/v1/incidents/{incident}", headers=auth()).get_json()["cases"]["linked"] == 0
    )


def test_a_case_opening_with_a_keyword_is_linked_and_the_ledger_shows_it(
    client, auth, flask_app
) -> None:
    incident = declare(client, auth)["id"]
    matching = open_conversation(client, auth("integration"), body="@acme total OUTAGE?")
    open_conversation(client, auth("integration"), body="@acme where is my parcel")
    acked = client.post(
        f"/v1/incidents/{incident}/acknowledgements", json=ACK, headers=auth("supervisor")
    )
    assert acked.status_code == 202, acked.get_json()
    assert {k: acked.get_json()[k] for k in ("queued", "skipped", "remaining")} == {
        "queued": 1, "skipped": 0, "remaining": 0,
    }  # fmt: skip

    ledger = client.get(
        f"/v1/incidents/{incident}/ledger",
        query_string={"min_position": acked.get_json()["position"]}, headers=auth("auditor"),
    )  # fmt: skip
    assert "not in the ledger yet" in assert_problem(ledger, 404)["detail"]  # nobody follows
    project(flask_app)
    ledger = client.get(
        f"/v1/incidents/{incident}/ledger",
        query_string={"min_position": acked.get_json()["position"]}, headers=auth("auditor"),
    )  # fmt: skip
    body = ledger.get_json()
    assert body["projection"]["caught_up"] is True
    assert ledger.headers["Parley-Projection-Position"] == str(body["projection"]["position"])
    [row] = body["items"]
    assert (row["conversation_id"], row["how"], row["keyword"], row["owed"]) == (
        matching["id"], "keyword", "outage", "acknowledgement",
    )  # fmt: skip
    assert row["acknowledgement"]["status"] == "queued" and row["acknowledged_at"] is None
    assert body["counts"]["owed_acknowledgement"] == 1
    listed = client.get("/v1/incidents", query_string={"status": "live"}, headers=auth("ops"))
    assert [i["id"] for i in listed.get_json()["items"]] == [incident]
    owed = client.get(
        f"/v1/incidents/{incident}/ledger", query_string={"owed": "nothing"}, headers=auth()
    )
    assert owed.get_json()["items"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"owed": "everything"}, "owed"),
        ({"limit": 501}, "limit"),
        ({"cursor": "%%%"}, "cursor"),
        ({"cursor": "bm9wZQ"}, "cursor"),  # base64 of "nope": not ours
        ({"min_position": -1}, "min_position"),
        ({"ownd": "x"}, "ownd"),
    ],
)
def test_a_bad_ledger_query_is_a_422_naming_it(client, auth, flask_app, query, field) -> None:
    incident = declare(client, auth)["id"]
    project(flask_app)
    response = client.get(f"/v1/incidents/{incident}/ledger", query_string=query, headers=auth())
    assert error_fields(assert_problem(response, 422)) == {field}


def test_the_ledger_of_an_incident_the_projection_has_not_seen_yet_is_a_404_saying_so(
    client, auth
) -> None:
    incident = declare(client, auth)["id"]
    problem = assert_problem(client.get(f"/v1/incidents/{incident}/ledger", headers=auth()), 404)
    assert "not in the ledger yet" in problem["detail"]


def test_if_match_guards_the_incident_and_a_stale_version_is_412(client, auth, flask_app) -> None:
    incident = declare(client, auth)["id"]
    head = head_position(flask_app)

    for path, body in (("acknowledgements", ACK), ("updates", {}), ("resolve", {"summary": "x"})):
        stale = client.post(
            f"/v1/incidents/{incident}/{path}", json=body,
            headers=auth("supervisor", **{"If-Match": '"7"'}),
        )  # fmt: skip
        problem = assert_problem(stale, 412)
        assert problem["current_version"] == 1 and stale.headers["ETag"] == '"1"'
    assert head_position(flask_app) == head

    fresh = client.post(
        f"/v1/incidents/{incident}/updates", json={},
        headers=auth("supervisor", **{"If-Match": '"1"'}),
    )  # fmt: skip
    assert fresh.status_code == 202 and fresh.headers["ETag"] == '"2"'
    assert fresh.get_json()["update_id"]


def test_an_idempotency_key_replays_the_first_acknowledgement_answer(
    client, auth, flask_app
) -> None:
    incident = declare(client, auth)["id"]
    open_conversation(client, auth("integration"), body="@acme outage")
    headers = auth("supervisor", **{"Idempotency-Key": "ack-1"})

    first = client.post(f"/v1/incidents/{incident}/acknowledgements", json=ACK, headers=headers)
    head = head_position(flask_app)
    again = client.post(f"/v1/incidents/{incident}/acknowledgements", json=ACK, headers=headers)
    other = client.post(
        f"/v1/incidents/{incident}/acknowledgements", json={"body": "other"}, headers=headers
    )

    assert first.status_code == again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    keep = ("id", "version", "queued", "skipped", "remaining")
    assert {k: again.get_json()[k] for k in keep} == {k: first.get_json()[k] for k in keep}
    assert first.get_json()["queued"] == 1
    assert error_fields(assert_problem(other, 422)) == {"Idempotency-Key"}
    assert head_position(flask_app) == head


def test_the_general_update_once_and_resolution_conflicts_are_409(client, auth) -> None:
    incident = declare(client, auth)["id"]
    case = open_conversation(client, auth("integration"), body="@acme acme down?")["id"]
    supervisor = auth("supervisor")

    assert (
        client.post(f"/v1/incidents/{incident}/updates", json={}, headers=supervisor).status_code
        == 202
    )
    twice = client.post(f"/v1/incidents/{incident}/updates", json={}, headers=supervisor)
    assert assert_problem(twice, 409)["type"].endswith("/invalid-transition")
    empty = client.post(f"/v1/incidents/{incident}/updates", json={"body": ""}, headers=supervisor)
    assert error_fields(assert_problem(empty, 422)) == {"body"}

    resolved = client.post(
        f"/v1/incidents/{incident}/resolve",
        json={"summary": "Back up", "follow_up": "All fixed, thanks!"}, headers=supervisor,
    )  # fmt: skip
    assert resolved.status_code == 200, resolved.get_json()
    assert (resolved.get_json()["queued"], resolved.get_json()["remaining"]) == (1, 0)
    conversation = client.get(f"/v1/conversations/{case}", headers=auth()).get_json()
    assert conversation["status"] == "resolved"
    assert [r["kind"] for r in conversation["replies"]] == ["follow_up"]
    assert_problem(
        client.post(f"/v1/incidents/{incident}/resolve", json={"summary": "x"}, headers=supervisor),
        409,
    )
    assert_problem(
        client.post(f"/v1/incidents/{incident}/acknowledgements", json=ACK, headers=supervisor),
        409,
    )
    late = client.post(
        f"/v1/incidents/{incident}/links", json={"conversation_id": case}, headers=auth("agent")
    )
    assert_problem(late, 409)
    read = client.get(f"/v1/incidents/{incident}", headers=auth()).get_json()
    assert (read["status"], read["summary"], read["follow_up"]) == (
        "resolved", "Back up", "All fixed, thanks!",
    )  # fmt: skip
    for field, limit in (("limit", 0), ("limit", 1001)):
        bad = client.post(
            f"/v1/incidents/{incident}/resolve", json={"summary": "Back up", field: limit},
            headers=supervisor,
        )  # fmt: skip
        assert error_fields(assert_problem(bad, 422)) == {"limit"}


def test_every_incident_operation_is_documented_with_its_problems_and_headers(
    client: FlaskClient, flask_app: Flask
) -> None:
    spec = client.get("/openapi.json").get_json()
    ops = {
        (method, path): op
        for path, item in spec["paths"].items()
        if path.startswith("/v1/incidents")
        for method, op in item.items()
        if method in {"get", "post", "delete", "patch"}
    }
    assert {op["operationId"] for op in ops.values()} == {
        "declareIncident", "listIncidents", "getIncident", "getIncidentLedger", "reviseIncident",
        "linkIncidentCase", "unlinkIncidentCase", "acknowledgeIncident", "postIncidentUpdate",
        "resolveIncident",
    }  # fmt: skip
    for (method, path), op in ops.items():
        assert {"401", "403", "503"} <= set(op["responses"]), (method, path)
        if "{incident_id}" in path:
            assert "404" in op["responses"], (method, path)
        if method in {"post", "patch"} and path != "/v1/incidents":
            assert {"409", "422"} <= set(op["responses"]), (method, path)
    guarded = ("acknowledgements", "updates", "resolve")
    for (method, path), op in ops.items():
        names = {p.get("$ref", "").rsplit("/", 1)[-1] for p in op.get("parameters", [])}
        if (method == "post" and path.endswith(guarded)) or method == "patch":
            assert {"IfMatch", "IdempotencyKey"} <= names, path
    assert ops[("post", "/v1/incidents/{incident_id}/acknowledgements")]["responses"]["202"]


def test_a_supervisor_revises_a_live_incident_and_new_keywords_link_new_cases(
    client, auth, flask_app
) -> None:
    incident = declare(client, auth)["id"]
    before = open_conversation(client, auth("integration"), body="@acme cannot log in")
    revised = client.patch(
        f"/v1/incidents/{incident}",
        json={"keywords": ["outage", "log in"], "links": ["https://status.example.com/43"]},
        headers={**auth("supervisor"), "If-Match": '"1"'},
    )
    assert revised.status_code == 200, revised.get_json()
    assert revised.get_json()["changed"] is True and revised.headers["ETag"] == '"2"'
    after = open_conversation(client, auth("integration"), body="@acme I cannot LOG  IN")

    read = client.get(f"/v1/incidents/{incident}", headers=auth()).get_json()
    assert (read["title"], read["public_summary"]) == (DECLARE["title"], DECLARE["public_summary"])
    assert (read["keywords"], read["links"]) == (
        ["outage", "log in"],
        ["https://status.example.com/43"],
    )
    project(flask_app)
    ledger = client.get(f"/v1/incidents/{incident}/ledger", headers=auth()).get_json()
    assert [r["conversation_id"] for r in ledger["items"]] == [after["id"]]  # not the earlier one
    assert before["id"] not in {r["conversation_id"] for r in ledger["items"]}

    again = client.patch(
        f"/v1/incidents/{incident}", json={"title": DECLARE["title"]}, headers=auth("supervisor")
    )
    assert again.status_code == 200 and again.get_json()["changed"] is False


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"links": ["ftp://x"]}, "links.0"),
        ({"keywords": ["!!"]}, "keywords"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_revision_is_a_422_naming_the_field_and_changes_nothing(
    client, auth, payload, field
) -> None:
    incident = declare(client, auth)["id"]
    refused = client.patch(f"/v1/incidents/{incident}", json=payload, headers=auth("supervisor"))
    assert field in error_fields(assert_problem(refused, 422)), refused.get_json()
    assert client.get(f"/v1/incidents/{incident}", headers=auth()).get_json()["version"] == 1


def test_revising_is_for_supervisors_412_when_stale_and_409_once_resolved(client, auth) -> None:
    incident = declare(client, auth)["id"]
    change = {"title": "App and site down"}
    assert_problem(
        client.patch(f"/v1/incidents/{incident}", json=change, headers=auth("agent")), 403
    )
    stale = client.patch(
        f"/v1/incidents/{incident}", json=change, headers={**auth("supervisor"), "If-Match": '"7"'}
    )
    assert_problem(stale, 412)
    resolved = client.post(
        f"/v1/incidents/{incident}/resolve", json={"summary": "Fixed."}, headers=auth("supervisor")
    )
    assert resolved.status_code == 200, resolved.get_json()
    late = client.patch(f"/v1/incidents/{incident}", json=change, headers=auth("supervisor"))
    assert "resolved" in assert_problem(late, 409)["detail"]
    assert_problem(
        client.patch(f"/v1/incidents/{uuid.uuid4()}", json=change, headers=auth("supervisor")), 404
    )
