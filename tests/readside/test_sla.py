"""SLA clocks and the SLA report over HTTP, with time set by the test's clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tests.app.helpers import assert_problem, error_fields
from tests.readside.support import answer, message, open_case, project, write


def when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def moment(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 2, hour, minute, tzinfo=UTC)


def sla_of(client, headers, cid: str) -> dict:
    response = client.get(f"/v1/conversations/{cid}/sla", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def answered(client, headers, flask_app, cid: str, **body: str) -> None:  # type: ignore[no-untyped-def]
    answer(client, headers, flask_app, cid, **body)


def measured(sla: dict) -> list[tuple]:
    return [
        (m["metric"], m["seq"], m["channel"], m["seconds"], when(m["started_at"]), m["response"])
        for m in sla["measurements"]
    ]


def test_the_first_response_time_is_what_the_clock_says_between_contact_and_delivery(
    client, auth, clock, flask_app
):
    agent = auth("agent")
    cid = open_case(client, agent, "x_public")["id"]
    clock.advance(minutes=10)
    answered(client, agent, flask_app, cid, kind="acknowledgement")
    project(flask_app)

    sla = sla_of(client, agent, cid)

    assert sla["conversation_id"] == cid
    assert sla["origin_channel"] == sla["current_channel"] == "x_public"
    assert (sla["policy_id"], sla["policy_version"]) == ("default", 0)
    assert sla["first_response_due"] is None
    assert sla["breached"] is sla["at_risk"] is False
    assert measured(sla) == [("first_response", 1, "x_public", 600.0, moment(9), "acknowledgement")]
    assert sla["projection"]["name"] == "sla"


def test_a_later_wait_after_a_channel_switch_is_timed_as_a_next_response_on_the_same_case(
    client, auth, clock, flask_app
):
    agent = auth("agent")
    cid = open_case(client, agent, "x_public")["id"]
    clock.advance(minutes=10)
    answered(client, agent, flask_app, cid, kind="acknowledgement")
    clock.advance(minutes=5)
    write(client, agent, f"/v1/conversations/{cid}/channel-switches", {"to": "x_dm"})
    clock.advance(minutes=5)  # 09:20
    message(client, agent, cid, "x_dm")
    project(flask_app)
    waiting = sla_of(client, agent, cid)
    clock.advance(minutes=30)  # 09:50
    answered(client, agent, flask_app, cid, kind="answer")
    project(flask_app)

    sla = sla_of(client, agent, cid)

    assert when(waiting["next_response_due"]) == moment(10, 20)  # an hour on a DM
    assert (sla["origin_channel"], sla["current_channel"]) == ("x_public", "x_dm")
    assert sla["next_response_due"] is None
    assert measured(sla) == [
        ("first_response", 1, "x_public", 600.0, moment(9), "acknowledgement"),
        ("next_response", 2, "x_dm", 1800.0, moment(9, 20), "answer"),
    ]


def test_resolving_shows_on_the_clock_and_a_reopened_case_runs_on(client, auth, clock, flask_app):
    agent = auth("agent")
    cid = open_case(client, agent, "email")["id"]
    clock.advance(hours=2)
    answered(client, agent, flask_app, cid)
    clock.advance(hours=1)
    write(client, agent, f"/v1/conversations/{cid}/resolve", {"resolution": "answered"})
    project(flask_app)
    resolved = sla_of(client, agent, cid)
    clock.advance(hours=1)
    message(client, agent, cid, "email")  # the customer writes again: the case reopens
    project(flask_app)
    reopened = sla_of(client, agent, cid)

    # waiting on the customer (we answered last) pauses resolution
    assert [(m["metric"], m["seconds"]) for m in resolved["measurements"]] == [
        ("first_response", 2 * 3600.0), ("resolution", 2 * 3600.0),
    ]  # fmt: skip
    assert resolved["status"] == "resolved"
    assert resolved["resolution_due"] is resolved["next_alarm"] is None
    assert reopened["status"] == "open"
    assert when(reopened["next_response_due"]) == moment(21)  # 8 h for e-mail
    assert when(reopened["next_alarm"]) == moment(19, 24)  # at risk: 80% of the 8 h gone


def test_the_sla_clock_of_an_unknown_conversation_is_a_404(client, auth):
    response = client.get(f"/v1/conversations/{uuid.uuid4()}/sla", headers=auth("agent"))

    body = assert_problem(response, 404)
    assert "projection" not in body["detail"]


def test_the_sla_clock_of_a_conversation_not_projected_yet_is_a_404_saying_so(client, auth):
    agent = auth("agent")
    cid = open_case(client, agent, "x_public")["id"]

    response = client.get(f"/v1/conversations/{cid}/sla", headers=agent)

    body = assert_problem(response, 404)
    assert "SLA view" in body["detail"]
    assert "projection at 0" in body["detail"]


def report(client, headers, **query: str):  # type: ignore[no-untyped-def]
    return client.get("/v1/sla/report", query_string=query, headers=headers)


def test_the_sla_report_counts_responses_met_and_breached_under_the_default_policy(
    client, auth, clock, flask_app
):
    agent = auth("agent")
    met = open_case(client, agent, "x_public")["id"]  # 09:00
    clock.advance(minutes=30)
    answered(client, agent, flask_app, met)  # 09:30: 30 min, within X's hour
    late = open_case(client, agent, "x_public")["id"]  # 09:30
    clock.advance(hours=2)
    answered(client, agent, flask_app, late)  # 11:30: 2 h, breached
    project(flask_app)

    whole = report(client, agent, start="2026-11-02T09:00:00Z", end="2026-11-02T12:00:00Z")
    morning = report(client, agent, start="2026-11-02T09:00:00Z", end="2026-11-02T09:30:00Z")
    half_open = report(client, agent, start="2026-11-02T09:00:00Z", end="2026-11-02T09:30:01Z")

    assert whole.status_code == 200, whole.get_json()
    body = whole.get_json()
    assert body["first_response"]["count"] == 2
    assert body["first_response"]["met"] == 1
    assert body["first_response"]["breached"] == 1
    assert body["first_response"]["met_ratio"] == 0.5
    assert body["first_response"]["p90_seconds"] == 7200.0
    assert body["first_response"]["median_seconds"] in (1800.0, 7200.0)
    assert body["next_response"] == {
        "count": 0,
        "met": 0,
        "breached": 0,
        "met_ratio": None,
        "median_seconds": None,
        "p90_seconds": None,
    }
    assert when(body["period"]["start"]) == moment(9)
    assert when(body["period"]["end"]) == moment(12)
    assert body["projection"]["name"] == "sla"
    # [start, end): a response given at the end is not in the period
    assert morning.get_json()["first_response"]["count"] == 0
    assert half_open.get_json()["first_response"] == {
        "count": 1,
        "met": 1,
        "breached": 0,
        "met_ratio": 1.0,
        "median_seconds": 1800.0,
        "p90_seconds": 1800.0,
    }


def test_the_sla_report_holds_a_case_to_the_policy_pinned_on_it(client, auth, clock, flask_app):
    agent = auth("agent")
    strict = {"name": "X in ten minutes", "conditions": {"channels": ["x_public"]},
              "targets": [{"metric": "first_response", "seconds": 600}]}  # fmt: skip
    write(client, auth("supervisor"), "/v1/sla/policies", strict, 201)
    cid = open_case(client, agent, "x_public")["id"]
    clock.advance(minutes=45)  # within the default hour, not within the policy's ten minutes
    answered(client, agent, flask_app, cid)
    project(flask_app)

    body = report(client, agent, start="2026-11-02T00:00:00Z", end="2026-11-03T00:00:00Z")

    assert body.get_json()["first_response"]["breached"] == 1


def test_an_sla_report_needs_a_period_that_ends_after_it_starts(client, auth):
    agent = auth("agent")

    backwards = report(client, agent, start="2026-11-02T10:00:00Z", end="2026-11-02T09:00:00Z")
    empty = report(client, agent, start="2026-11-02T10:00:00Z", end="2026-11-02T10:00:00Z")
    no_end = report(client, agent, start="2026-11-02T10:00:00Z")
    not_a_time = report(client, agent, start="yesterday", end="2026-11-02T10:00:00Z")

    for response in (backwards, empty):
        body = assert_problem(response, 422)
        assert error_fields(body) == {"start"}
        assert body["errors"][0]["location"] == "query"
    assert error_fields(assert_problem(no_end, 422)) == {"end"}
    assert error_fields(assert_problem(not_a_time, 422)) == {"start"}


def test_the_sla_clock_starts_when_the_customer_spoke_not_when_parley_saw_it(
    client, auth, clock, flask_app
):
    agent = auth("agent")
    cid = open_case(client, agent, "x_public", published_at="2026-11-02T08:50:00Z")["id"]
    clock.advance(minutes=10)
    answered(client, agent, flask_app, cid)
    project(flask_app)

    sla = sla_of(client, agent, cid)

    assert measured(sla) == [("first_response", 1, "x_public", 1200.0, moment(8, 50), "answer")]
