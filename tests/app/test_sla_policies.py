"""SLA policies over HTTP: a supervisor keeps them (every save a version), every role reads
them, a case is pinned to the one that applied when it opened, and keeps it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from tests.app.helpers import (
    assert_problem,
    error_fields,
    event_types,
    head_position,
    open_conversation,
)

POLICIES = "/v1/sla/policies"


def spec(**overrides: Any) -> dict[str, Any]:
    """A policy for public tweets: a first response within 10 minutes."""
    body: dict[str, Any] = {
        "name": "Public X",
        "conditions": {"channels": ["x_public"]},
        "targets": [{"metric": "first_response", "seconds": 600}],
    }
    body.update(overrides)
    return body


def create(client, auth, **overrides: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = client.post(POLICIES, json=spec(**overrides), headers=auth("supervisor"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def application(flask_app):  # type: ignore[no-untyped-def]
    return flask_app.extensions["parley.application"]


def sla_of(client, auth, cid: str, **query: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = client.get(f"/v1/conversations/{cid}", query_string=query, headers=auth("agent"))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["sla"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------ the life of a policy
def test_a_policy_is_created_read_revised_retired_and_every_version_kept(client, auth, clock):
    boss = auth("supervisor")
    created = client.post(POLICIES, json=spec(), headers=boss)

    assert created.status_code == 201, created.get_json()
    policy = created.get_json()
    pid = policy["id"]
    assert created.headers["Location"].endswith(f"{POLICIES}/{pid}")
    assert created.headers["ETag"] == '"1"'
    assert isinstance(policy["position"], int)
    assert policy | {"id": pid, "position": policy["position"]} == {
        "id": pid, "version": 1, "position": policy["position"], "name": "Public X",
        "description": "", "rank": 100,
        "conditions": {"channels": ["x_public"], "priorities": [], "tags": [], "teams": [],
                       "customer_tags": []},
        "targets": [{"metric": "first_response", "seconds": 600, "channel": None,
                     "priority": None, "business_hours": False}],
        "calendar": None, "at_risk_share": 0.8, "count_automated_replies": False,
        "notify": [], "retired": False,
        "created_at": clock.now.isoformat(), "created_by": "supervisor:supervisor",
        "updated_at": clock.now.isoformat(), "updated_by": "supervisor:supervisor",
    }  # fmt: skip

    read = client.get(f"{POLICIES}/{pid}", headers=auth("agent"))
    assert read.status_code == 200
    assert read.headers["ETag"] == '"1"'
    assert read.get_json() == {k: x for k, x in policy.items() if k != "position"}

    clock.advance(minutes=5)
    revised = client.put(
        f"{POLICIES}/{pid}",
        json=spec(name="Public X, faster", targets=[{"metric": "first_response", "seconds": 300}]),
        headers={**boss, "If-Match": '"1"'},
    )
    assert revised.status_code == 200, revised.get_json()
    assert revised.headers["ETag"] == '"2"'
    assert revised.get_json()["version"] == 2
    assert revised.get_json()["name"] == "Public X, faster"
    assert revised.get_json()["updated_at"] == clock.now.isoformat()
    assert revised.get_json()["created_at"] == policy["created_at"]

    stale = client.put(f"{POLICIES}/{pid}", json=spec(), headers={**boss, "If-Match": '"1"'})
    problem = assert_problem(stale, 412)
    assert problem["current_version"] == 2
    assert stale.headers["ETag"] == '"2"'

    versions = client.get(f"{POLICIES}/{pid}/versions", headers=auth("auditor"))
    assert versions.status_code == 200
    assert [(v["version"], v["name"]) for v in versions.get_json()["items"]] == [
        (1, "Public X"),
        (2, "Public X, faster"),
    ]
    first = client.get(f"{POLICIES}/{pid}/versions/1", headers=auth("auditor"))
    assert first.status_code == 200
    assert first.get_json()["targets"][0]["seconds"] == 600
    for missing in (0, 3, 99):
        assert_problem(client.get(f"{POLICIES}/{pid}/versions/{missing}", headers=boss), 404)

    retired = client.delete(f"{POLICIES}/{pid}", headers={**boss, "If-Match": '"2"'})
    assert retired.status_code == 200, retired.get_json()
    assert retired.get_json()["retired"] is True
    assert retired.get_json()["version"] == 3
    assert retired.headers["ETag"] == '"3"'

    again = client.delete(f"{POLICIES}/{pid}", headers=boss)
    assert assert_problem(again, 409)["type"].endswith("/invalid-transition")
    assert_problem(client.put(f"{POLICIES}/{pid}", json=spec(), headers=boss), 409)

    versions = client.get(f"{POLICIES}/{pid}/versions", headers=boss).get_json()["items"]
    assert [(v["version"], v["retired"]) for v in versions] == [(1, False), (2, False), (3, True)]
    assert client.get(POLICIES, headers=boss).get_json() == {"items": [], "next_cursor": None}
    listed = client.get(POLICIES, query_string={"include_retired": "true"}, headers=boss)
    assert [(p["id"], p["retired"]) for p in listed.get_json()["items"]] == [(pid, True)]


def test_policies_are_listed_in_the_order_they_apply(client, auth):
    late = create(client, auth, name="late", rank=200)
    early = create(client, auth, name="early", rank=50)
    tied = create(client, auth, name="tied with late, but younger", rank=200)

    listed = client.get(POLICIES, headers=auth("integration")).get_json()["items"]

    assert [p["id"] for p in listed] == [early["id"], late["id"], tied["id"]]


def test_a_policy_with_a_calendar_is_shown_as_it_was_written(client, auth):
    calendar = {
        "time_zone": "Europe/London",
        "hours": {"mon": ["09:00-12:30", "13:30-18:00"], "sat": []},
        "holidays": ["2026-12-25"],
        "holiday_lists": {"uk": ["2026-12-28"]},
    }
    policy = create(
        client, auth,
        targets=[{"metric": "resolution", "seconds": 86400, "channel": "email",
                  "priority": "urgent", "business_hours": True}],
        calendar=calendar, at_risk_share=0.5, count_automated_replies=True,
        notify=["lead@example.com"], description="weekday office hours",
    )  # fmt: skip

    shown = client.get(f"{POLICIES}/{policy['id']}", headers=auth("agent")).get_json()

    assert shown["calendar"] == {
        "time_zone": "Europe/London",
        "hours": {"mon": ["09:00-12:30", "13:30-18:00"], "sat": []},
        "holidays": ["2026-12-25"],
        "holiday_lists": {"uk": ["2026-12-28"]},
    }
    assert shown["targets"] == [
        {"metric": "resolution", "seconds": 86400, "channel": "email", "priority": "urgent",
         "business_hours": True}
    ]  # fmt: skip
    assert (shown["at_risk_share"], shown["count_automated_replies"], shown["notify"]) == (
        0.5,
        True,
        ["lead@example.com"],
    )


def test_an_unknown_or_malformed_policy_id_is_a_404(client, auth, flask_app):
    boss = auth("supervisor")
    unknown = f"{POLICIES}/{uuid.uuid4()}"
    head = head_position(flask_app)
    for response in (
        client.get(unknown, headers=boss),
        client.get(f"{unknown}/versions", headers=boss),
        client.get(f"{unknown}/versions/1", headers=boss),
        client.put(unknown, json=spec(), headers=boss),
        client.delete(unknown, headers=boss),
    ):
        assert_problem(response, 404)
    assert head_position(flask_app) == head

    malformed = assert_problem(client.get(f"{POLICIES}/not-a-uuid", headers=boss), 404)
    assert [(e["field"], e["location"]) for e in malformed["errors"]] == [("policy_id", "path")]
    pid = create(client, auth)["id"]
    for version in ("one", "-1", "1.0", "9" * 19):
        bad = assert_problem(client.get(f"{POLICIES}/{pid}/versions/{version}", headers=boss), 404)
        [error] = bad["errors"]
        assert (error["field"], error["location"]) == ("version", "path")
        assert "must be a version number" in error["message"]
    # A conversation's id is no policy's.
    cid = open_conversation(client, auth("agent"))["id"]
    assert_problem(client.get(f"{POLICIES}/{cid}", headers=boss), 404)


def test_a_create_with_an_idempotency_key_is_made_once(client, auth, flask_app):
    headers = auth("supervisor", **{"Idempotency-Key": "policy-1"})
    first = client.post(POLICIES, json=spec(), headers=headers)
    head = head_position(flask_app)

    again = client.post(POLICIES, json=spec(), headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == '"1"'
    assert {k: x for k, x in again.get_json().items() if k != "position"} == {
        k: x for k, x in first.get_json().items() if k != "position"
    }
    assert head_position(flask_app) == head
    assert len(client.get(POLICIES, headers=headers).get_json()["items"]) == 1
    other = client.post(POLICIES, json=spec(name="another"), headers=headers)
    assert error_fields(assert_problem(other, 422)) == {"Idempotency-Key"}


def test_a_replayed_revision_answers_the_version_it_saved(client, auth):
    pid = create(client, auth)["id"]
    keyed = auth("supervisor", **{"Idempotency-Key": "revise-1"})
    first = client.put(f"{POLICIES}/{pid}", json=spec(name="v2"), headers=keyed)
    client.put(f"{POLICIES}/{pid}", json=spec(name="v3"), headers=auth("supervisor"))

    replay = client.put(f"{POLICIES}/{pid}", json=spec(name="v2"), headers=keyed)

    assert replay.headers["Idempotent-Replayed"] == "true"
    assert (replay.get_json()["version"], replay.get_json()["name"]) == (2, "v2")
    assert replay.get_json()["updated_at"] == first.get_json()["updated_at"]


# ------------------------------------------------------------------ who may
@pytest.mark.parametrize("role", ["agent", "auditor", "ops", "integration"])
def test_only_a_supervisor_may_write_policies_and_every_role_may_read_them(
    client, auth, flask_app, role
):
    pid = create(client, auth)["id"]
    cid = open_conversation(client, auth("agent"))["id"]
    head = head_position(flask_app)
    for response in (
        client.post(POLICIES, json=spec(), headers=auth(role)),
        client.put(f"{POLICIES}/{pid}", json=spec(), headers=auth(role)),
        client.delete(f"{POLICIES}/{pid}", headers=auth(role)),
        client.post(f"/v1/conversations/{cid}/sla", json={}, headers=auth(role)),
    ):
        problem = assert_problem(response, 403)
        assert problem["allowed_roles"] == ["supervisor"]
        assert f"this one is {role}" in problem["detail"]
    assert head_position(flask_app) == head

    for path in (POLICIES, f"{POLICIES}/{pid}", f"{POLICIES}/{pid}/versions"):
        assert client.get(path, headers=auth(role)).status_code == 200, path
    assert client.get(f"{POLICIES}/{pid}/versions/1", headers=auth(role)).status_code == 200


# ------------------------------------------------------------------ refusals
BUSINESS_HOURS = [{"metric": "first_response", "seconds": 3600, "business_hours": True}]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"targets": [{"metric": "speed", "seconds": 60}]}, "targets.0.metric"),
        ({"targets": [{"metric": "first_response", "seconds": 0}]}, "targets.0.seconds"),
        ({"targets": [{"metric": "first_response", "seconds": "60"}]}, "targets.0.seconds"),
        ({"targets": [{"metric": "resolution", "seconds": 367 * 86400}]}, "targets.0.seconds"),
        ({"targets": [{"metric": "resolution", "seconds": 60, "channel": "fax"}]},
         "targets.0.channel"),
        ({"targets": [{"metric": "resolution", "seconds": 60, "business_hours": "yes"}]},
         "targets.0.business_hours"),
        ({"targets": [{"metric": "first_response", "seconds": 60}] * 2}, "targets"),
        ({"targets": [{"metric": "resolution", "seconds": s} for s in range(1, 202)]}, "targets"),
        ({"targets": BUSINESS_HOURS}, "calendar"),
        ({"targets": BUSINESS_HOURS, "calendar": None}, "calendar"),
        ({"calendar": {"time_zone": "Mars/Olympus_Mons"}}, "calendar.time_zone"),
        ({"calendar": {"time_zone": "../../etc/passwd"}}, "calendar.time_zone"),
        ({"calendar": {"hours": {"mon": ["25:00-26:00"]}}}, "calendar.hours.mon.0"),
        ({"calendar": {"hours": {"mon": ["17:00-09:00"]}}}, "calendar.hours.mon"),
        ({"calendar": {"hours": {"tue": ["09:00-13:00", "12:00-17:00"]}}}, "calendar.hours.tue"),
        ({"calendar": {"hours": {}}}, "calendar.hours"),
        ({"calendar": {"hours": {"someday": ["09:00-17:00"]}}}, "calendar.hours.someday"),
        ({"calendar": {"holidays": ["2026-13-01"]}}, "calendar.holidays.0"),
        ({"calendar": {"holiday_lists": {"": ["2026-12-25"]}}}, "calendar.holiday_lists"),
        ({"conditions": {"channels": ["fax"]}}, "conditions.channels.0"),
        ({"conditions": {"priorities": ["asap"]}}, "conditions.priorities.0"),
        ({"conditions": {"channel": ["x_dm"]}}, "conditions.channel"),
        ({"at_risk_share": 1}, "at_risk_share"),
        ({"at_risk_share": 0}, "at_risk_share"),
        ({"at_risk_share": "0.5"}, "at_risk_share"),
        ({"count_automated_replies": 1}, "count_automated_replies"),
        ({"notify": ["not an address"]}, "notify.0"),
        ({"notify": [f"lead{i}@example.com" for i in range(21)]}, "notify"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"rank": 2**40}, "rank"),
        ({"rank": 1.5}, "rank"),
        ({"colour": "red"}, "colour"),
    ],
)  # fmt: skip
def test_an_invalid_policy_is_a_422_naming_the_field_and_writes_nothing(
    client, auth, flask_app, change, field
):
    pid = create(client, auth)["id"]
    head = head_position(flask_app)
    boss = auth("supervisor")

    for response in (
        client.post(POLICIES, json=spec(**change), headers=boss),
        client.put(f"{POLICIES}/{pid}", json=spec(**change), headers=boss),
    ):
        problem = assert_problem(response, 422)
        named = {e["field"] for e in problem["errors"]}
        assert any(n == field or n.startswith(f"{field}.") for n in named), (field, problem)
        assert {e["location"] for e in problem["errors"]} == {"json"}
    assert head_position(flask_app) == head


def test_a_policy_without_a_name_names_it_as_missing(client, auth):
    body = spec()
    del body["name"]

    problem = assert_problem(client.post(POLICIES, json=body, headers=auth("supervisor")), 422)

    assert error_fields(problem) == {"name"}


# ------------------------------------------------------------------ cases
def test_a_case_opened_after_a_policy_is_created_for_its_channel_is_pinned_to_it(
    client, auth, clock
):
    policy = create(client, auth)
    tweet_case = open_conversation(client, auth("agent"))["id"]
    email_case = open_conversation(
        client, auth("agent"), channel="email", identity={"kind": "email", "value": "a@x.example"},
        external_id=f"<{uuid.uuid4().hex}@mail.example>",
    )["id"]  # fmt: skip

    assert sla_of(client, auth, tweet_case) == {
        "policy": {
            "id": policy["id"], "version": 1, "name": "Public X",
            "applied_at": clock.now.isoformat(), "reason": "rules",
        },
        "breaches": [],
    }  # fmt: skip
    pinned = sla_of(client, auth, email_case)["policy"]
    assert (pinned["id"], pinned["version"], pinned["reason"]) == ("default", 0, "rules")


def test_policy_versions_a_case_opened_under_version_1_keeps_its_due_time_after_version_2_is_saved(
    client, auth, clock, flask_app
):
    pid = create(client, auth)["id"]
    opened_at = clock.now
    first = open_conversation(client, auth("agent"))["id"]

    clock.advance(minutes=1)
    revised = client.put(
        f"{POLICIES}/{pid}",
        json=spec(targets=[{"metric": "first_response", "seconds": 120}]),
        headers=auth("supervisor", **{"If-Match": '"1"'}),
    )
    assert revised.status_code == 200, revised.get_json()
    second = open_conversation(client, auth("agent"))["id"]

    app = application(flask_app)
    assert app.sla_clock(uuid.UUID(first)).due("first_response") == opened_at + timedelta(
        seconds=600
    )
    assert app.sla_clock(uuid.UUID(second)).due("first_response") == clock.now + timedelta(
        seconds=120
    )
    assert sla_of(client, auth, first)["policy"]["version"] == 1
    assert sla_of(client, auth, second)["policy"]["version"] == 2


def test_a_supervisor_reapplies_a_policy_and_the_case_shows_the_new_pin(
    client, auth, clock, flask_app
):
    pid = create(client, auth)["id"]
    opened_at = clock.now
    cid = open_conversation(client, auth("agent"))["id"]
    client.put(
        f"{POLICIES}/{pid}",
        json=spec(targets=[{"metric": "first_response", "seconds": 120}]),
        headers=auth("supervisor"),
    )
    clock.advance(minutes=1)
    before = clock.now
    version = client.get(f"/v1/conversations/{cid}", headers=auth("agent")).headers["ETag"]
    boss = auth("supervisor", **{"If-Match": version})

    reapplied = client.post(f"/v1/conversations/{cid}/sla", json={}, headers=boss)

    assert reapplied.status_code == 200, reapplied.get_json()
    assert set(reapplied.get_json()) == {"id", "version", "position"}
    assert reapplied.headers["ETag"] == f'"{reapplied.get_json()["version"]}"'
    assert sla_of(client, auth, cid)["policy"] == {
        "id": pid, "version": 2, "name": "Public X", "applied_at": before.isoformat(),
        "reason": "reapplied",
    }  # fmt: skip
    assert event_types(client, auth("agent"), cid)[-1] == "SlaApplied"
    # One minute counted under the first terms stays counted: one left of two.
    due = application(flask_app).sla_clock(uuid.UUID(cid)).due("first_response")
    assert due == opened_at + timedelta(minutes=2)
    # The case as it stood before: pinned by the rules, to version 1.
    earlier = sla_of(client, auth, cid, as_of=(before - timedelta(seconds=1)).isoformat())
    assert (earlier["policy"]["version"], earlier["policy"]["reason"]) == (1, "rules")

    stale = client.post(f"/v1/conversations/{cid}/sla", json={}, headers=boss)
    assert assert_problem(stale, 412)["current_version"] == reapplied.get_json()["version"]

    named = client.post(
        f"/v1/conversations/{cid}/sla", json={"policy_id": pid, "version": 1},
        headers=auth("supervisor"),
    )  # fmt: skip
    assert named.status_code == 200, named.get_json()
    assert sla_of(client, auth, cid)["policy"]["version"] == 1

    built_in = client.post(
        f"/v1/conversations/{cid}/sla", json={"policy_id": "default"}, headers=auth("supervisor")
    )
    assert built_in.status_code == 200, built_in.get_json()
    pinned = sla_of(client, auth, cid)["policy"]
    assert (pinned["id"], pinned["version"], pinned["name"]) == ("default", 0, "Built-in default")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"version": 1}, 422, "version"),
        ({"policy_id": "POLICY", "version": 9}, 422, "version"),  # 9: it has one version
        ({"policy_id": "default", "version": 1}, 422, "version"),
        ({"policy_id": "nope"}, 422, "policy_id"),
        ({"policy_id": str(uuid.UUID(int=7))}, 404, None),
        ({"policy_id": "POLICY", "reason": "why not"}, 422, "reason"),
    ],
)
def test_a_reapplication_that_names_no_policy_version_is_refused_and_writes_nothing(
    client, auth, flask_app, body, status, field
):
    pid = create(client, auth)["id"]
    cid = open_conversation(client, auth("agent"))["id"]
    body = {k: (pid if x == "POLICY" else x) for k, x in body.items()}
    head = head_position(flask_app)

    response = client.post(f"/v1/conversations/{cid}/sla", json=body, headers=auth("supervisor"))

    problem = assert_problem(response, status)
    if field is not None:
        assert error_fields(problem) == {field}
    assert head_position(flask_app) == head


def test_a_reapplication_to_an_unknown_case_is_a_404(client, auth):
    response = client.post(
        f"/v1/conversations/{uuid.uuid4()}/sla", json={}, headers=auth("supervisor")
    )

    assert_problem(response, 404)


def test_a_reapplication_with_an_idempotency_key_is_recorded_once(client, auth, flask_app):
    create(client, auth)
    cid = open_conversation(client, auth("agent"))["id"]
    keyed = auth("supervisor", **{"Idempotency-Key": "reapply-1"})
    first = client.post(f"/v1/conversations/{cid}/sla", json={}, headers=keyed)
    head = head_position(flask_app)

    again = client.post(f"/v1/conversations/{cid}/sla", json={}, headers=keyed)

    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["version"] == first.get_json()["version"]
    assert head_position(flask_app) == head
    assert event_types(client, auth("agent"), cid).count("SlaApplied") == 1


def test_a_breach_on_record_is_on_the_conversation_and_not_before_it(
    client, auth, clock, flask_app
):
    create(client, auth)
    opened_at = clock.now
    cid = open_conversation(client, auth("agent"))["id"]
    clock.advance(minutes=11)
    detected_at = clock.now

    assert application(flask_app).record_sla_alarms(uuid.UUID(cid))[0] == 1

    assert sla_of(client, auth, cid)["breaches"] == [
        {
            "metric": "first_response",
            "seq": 1,
            "deadline": (opened_at + timedelta(minutes=10)).isoformat(),
            "detected_at": detected_at.isoformat(),
        }
    ]
    before = (detected_at - timedelta(seconds=1)).isoformat()
    assert sla_of(client, auth, cid, as_of=before)["breaches"] == []


def test_the_sla_object_is_documented_on_the_conversation(client):
    spec_ = client.get("/openapi.json").get_json()
    conversation = spec_["components"]["schemas"]["Conversation"]["properties"]

    assert conversation["sla"]["$ref"].endswith("/ConversationSla")


def test_the_policy_writes_declare_the_headers_they_read_and_the_problems_they_answer(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    create_op = paths[POLICIES]["post"]
    one = paths[f"{POLICIES}/{{policy_id}}"]
    reapply = paths["/v1/conversations/{conversation_id}/sla"]["post"]

    def headers(operation: dict[str, Any]) -> set[str]:
        return {p["$ref"].rsplit("/", 1)[-1] for p in operation.get("parameters", [])}

    assert headers(create_op) == {"IdempotencyKey"}
    assert "Location" in create_op["responses"]["201"]["headers"]
    for operation in (one["put"], one["delete"], reapply):
        assert headers(operation) == {"IfMatch", "IdempotencyKey"}
        assert {"403", "404", "409", "412", "422"} <= set(operation["responses"])
    assert "ETag" in one["get"]["responses"]["200"]["headers"]
    versions = paths[f"{POLICIES}/{{policy_id}}/versions/{{version}}"]["parameters"]
    [parameter] = [p for p in versions if p["name"] == "version"]
    assert parameter["schema"] == {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}
