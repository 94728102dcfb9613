"""Rosters over HTTP: a supervisor puts agents on a team's roster with their shifts and
capacity, every role reads it, and cases routed to the team are handed out in turn."""

from __future__ import annotations

from tests.app.helpers import assert_problem, error_fields, head_position, open_conversation

ROSTER = "/v1/teams/care/roster"
LONDON = {"time_zone": "Europe/London", "hours": {"mon": ["09:00-17:00"]}}


def put(client, auth, agent: str, capacity: int = 5, shift=None, **headers: str):  # type: ignore[no-untyped-def]
    return client.put(
        f"/v1/teams/care/agents/{agent}",
        json={"capacity": capacity, "shift": shift or {"time_zone": "UTC"}},
        headers=auth("supervisor", **headers),
    )


def test_agents_are_put_on_a_roster_read_and_taken_off(client, auth):
    first = put(client, auth, "ann", shift=LONDON)

    assert first.status_code == 200, first.get_json()
    assert first.headers["ETag"] == '"2"'
    assert put(client, auth, "bob", **{"If-Match": '"2"'}).status_code == 200
    assert_problem(put(client, auth, "cat", **{"If-Match": '"2"'}), 412)

    roster = client.get(ROSTER, headers=auth("auditor"))
    assert roster.status_code == 200 and roster.headers["ETag"] == '"3"'
    body = roster.get_json()
    assert [a["agent"] for a in body["agents"]] == ["ann", "bob"]
    ann = body["agents"][0]
    assert ann["shift"]["time_zone"] == "Europe/London" and ann["shift"]["hours"] == {
        "mon": ["09:00-17:00"]
    }
    assert ann["on_shift"] is True and ann["open_cases"] == []  # Monday 09:00 GMT

    gone = client.delete("/v1/teams/care/agents/bob", headers=auth("supervisor"))
    assert gone.status_code == 200 and [a["agent"] for a in gone.get_json()["agents"]] == ["ann"]
    assert_problem(client.delete("/v1/teams/care/agents/bob", headers=auth("supervisor")), 404)
    assert_problem(client.get("/v1/teams/nobody/roster", headers=auth("agent")), 404)


def test_a_bad_shift_is_422_naming_it_and_writes_nothing(client, auth, flask_app):
    before = head_position(flask_app)

    for shift, field in [
        ({"time_zone": "Mars/Olympus"}, "shift.time_zone"),
        ({"time_zone": "UTC", "hours": {"mon": ["10:00-09:00"]}}, "shift.hours.mon"),
        ({"time_zone": "UTC", "hours": {"mon": ["9-5"]}}, "shift.hours.mon.0"),
    ]:
        refused = assert_problem(put(client, auth, "ann", shift=shift), 422)
        assert field in error_fields(refused), (field, refused)
    assert head_position(flask_app) == before


def test_only_a_supervisor_keeps_rosters(client, auth):
    refused = client.put(
        "/v1/teams/care/agents/ann", json={"capacity": 1, "shift": {}}, headers=auth("agent")
    )

    assert assert_problem(refused, 403)["allowed_roles"] == ["supervisor"]


def test_routed_cases_are_handed_out_in_turn(client, auth):
    client.put(
        "/v1/care-policy/rules", json={"routing": [{"name": "all", "team": "care"}]},
        headers=auth("supervisor"),
    )  # fmt: skip
    put(client, auth, "ann")
    put(client, auth, "bob")

    cases = [open_conversation(client, auth("integration"))["id"] for _ in range(3)]

    shown = [client.get(f"/v1/conversations/{c}", headers=auth("agent")).get_json() for c in cases]
    assert [(c["team"], c["assignee"]) for c in shown] == [
        ("care", "ann"), ("care", "bob"), ("care", "ann"),
    ]  # fmt: skip
    roster = client.get(ROSTER, headers=auth("agent")).get_json()
    assert roster["last_assigned"] == "ann"
    assert [len(a["open_cases"]) for a in roster["agents"]] == [2, 1]


def test_if_match_on_a_team_with_no_roster_is_412_unless_it_names_version_0(client, auth):
    assert_problem(put(client, auth, "ann", **{"If-Match": '"3"'}), 412)
    assert put(client, auth, "ann", **{"If-Match": '"0"'}).status_code == 200
