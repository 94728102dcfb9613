"""Canned responses over HTTP: a supervisor keeps each team's, every role reads them, and
an agent replies with one, its variables filled in (an unknown one is 422 naming it)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tests.app.helpers import assert_problem, error_fields, head_position, open_conversation

URL = "/v1/canned-responses"
THANKS = {"name": "Thanks", "team": "care", "body": "Thanks $customer_name! $case_link ($ref)"}


def create(client, auth, **overrides: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = client.post(URL, json={**THANKS, **overrides}, headers=auth("supervisor"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def test_a_canned_response_is_created_read_revised_and_deleted(client, auth, clock):
    created = client.post(URL, json=THANKS, headers=auth("supervisor"))

    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    cid = body["id"]
    assert created.headers["Location"].endswith(f"{URL}/{cid}")
    assert created.headers["ETag"] == '"1"'
    assert body | {"id": cid, "position": 0} == {
        "id": cid, "version": 1, "position": 0, **THANKS, "description": "",
        "variables": ["customer_name", "case_link", "ref"], "deleted": False,
        "created_at": clock.now.isoformat(), "created_by": "supervisor:supervisor",
        "updated_at": clock.now.isoformat(), "updated_by": "supervisor:supervisor",
    }  # fmt: skip

    read = client.get(f"{URL}/{cid}", headers=auth("auditor"))
    assert read.status_code == 200 and read.headers["ETag"] == '"1"'

    revised = client.put(
        f"{URL}/{cid}", json={**THANKS, "team": "vip"},
        headers=auth("supervisor", **{"If-Match": '"1"'}),
    )  # fmt: skip
    assert revised.status_code == 200 and revised.get_json()["version"] == 2
    stale = client.put(
        f"{URL}/{cid}", json=THANKS, headers=auth("supervisor", **{"If-Match": '"1"'})
    )
    assert_problem(stale, 412)
    listed = client.get(URL, query_string={"team": "vip"}, headers=auth("agent")).get_json()
    assert [c["id"] for c in listed["items"]] == [cid]
    assert (
        client.get(URL, query_string={"team": "care"}, headers=auth("agent")).get_json()["items"]
        == []
    )

    deleted = client.delete(f"{URL}/{cid}", headers=auth("supervisor"))
    assert deleted.status_code == 200 and deleted.get_json()["deleted"] is True
    assert client.get(URL, headers=auth("agent")).get_json()["items"] == []
    assert_problem(client.delete(f"{URL}/{cid}", headers=auth("supervisor")), 409)


def test_a_bad_template_is_422_naming_body_and_writes_nothing(client, auth, flask_app):
    before = head_position(flask_app)

    refused = client.post(URL, json={**THANKS, "body": "costs 5$"}, headers=auth("supervisor"))

    assert error_fields(assert_problem(refused, 422)) == {"body"}
    assert head_position(flask_app) == before


def test_only_a_supervisor_writes_canned_responses(client, auth):
    refused = assert_problem(client.post(URL, json=THANKS, headers=auth("agent")), 403)

    assert refused["allowed_roles"] == ["supervisor"]


def test_an_agent_replies_with_a_canned_response(client, auth, flask_app):
    settings = flask_app.config["PARLEY_SETTINGS"]  # as PARLEY_CASE_LINK sets it
    flask_app.config["PARLEY_SETTINGS"] = replace(
        settings, case_link="https://help.example.com/c/{id}"
    )
    canned = create(client, auth)
    case = open_conversation(client, auth("integration"), customer_name="Ann")

    replied = client.post(
        f"/v1/conversations/{case['id']}/replies",
        json={"canned_response_id": canned["id"], "variables": {"ref": "R-1"}},
        headers=auth("agent"),
    )

    assert replied.status_code == 202, replied.get_json()
    shown = client.get(f"/v1/conversations/{case['id']}", headers=auth("agent")).get_json()
    assert shown["replies"][0]["body"] == (
        f"Thanks Ann! https://help.example.com/c/{case['id']} (R-1)"
    )


def test_a_canned_reply_with_an_unknown_variable_is_422_naming_it(client, auth, flask_app):
    canned = create(client, auth)
    case = open_conversation(client, auth("integration"))
    before = head_position(flask_app)
    url = f"/v1/conversations/{case['id']}/replies"

    for variables, field in [({}, "variables.ref"), ({"ref": "1", "x": "2"}, "variables.x")]:
        refused = client.post(
            url, json={"canned_response_id": canned["id"], "variables": variables},
            headers=auth("agent"),
        )  # fmt: skip
        assert error_fields(assert_problem(refused, 422)) == {field}
    both = client.post(
        url, json={"canned_response_id": canned["id"], "body": "hi"}, headers=auth("agent")
    )
    assert "body" in error_fields(assert_problem(both, 422))
    assert head_position(flask_app) == before
