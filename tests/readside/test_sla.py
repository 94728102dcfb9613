"""SLA clocks and the SLA report over HTTP, with time set by the test's clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tests.app.helpers import assert_problem, error_fields
from tests.readside.support import message, open_case, project, reply, write


def when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def moment(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 2, hour, minute, tzinfo=UTC)


def sla_of(client, headers, cid: str) -> dict:
    response = client.get(f"/v1/conversations/{cid}/sla", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def test_the_first_response_time_is_what_the_clock_says_between_contact_and_reply(
    client, auth, clock, flask_app
):
    agent = auth("agent")
    cid = open_case(client, agent, "x_public")["id"]
    clock.advance(minutes=10)
    reply(client, agent, cid, kind="acknowledgement")
    project(flask_app)

    sla = sla_of(client, agent, cid)

    assert sla["conversation_id"] == cid
    assert sla["origin_channel"] == sla["current_channel"] == "x_public"
    assert when(sla["first_contact_at"]) == moment(9)
    assert when(sla["first_response_at"]) == moment(9, 10)
    assert sla["first_response_seconds"] == 600.0
    assert sla["waiting_since"] is None
    assert sla["reopened"] == 0
    assert [(r["kind"], r["channel"], r["seconds"]) for r in sla["responses"]] == [
        ("first", "x_public", 600.0)
    ]
    assert sla["projection"]["name"] == "sla"


def test_a_later_wait_after_a_channel_switch_is_timed_as_a_next_response_on_the_same_case(
    client, auth, clock, flask_app
):
    agent = auth("agent")
    cid = open_case(client, agent, "x_public")["id"]
    clock.advance(minutes=10)
    reply(client, agent, cid, kind="acknowledgement")
    clock.advance(minutes=5)
    write(client, agent, f"/v1/conversations/{cid}/channel-switches", {"to": "x_dm"})
    clock.advance(minutes=5)  # 09:20
    message(client, agent, cid, "x_dm")
    clock.advance(minutes=30)  # 09:50
    reply(client, agent, cid, kind="answer")
    project(flask_app)

    sla = sla_of(client, agent, cid)

    assert sla["origin_channel"] == "x_public"
    assert sla["current_channel"] == "x_dm"
    assert sla["first_response_seconds"] == 600.0
    assert sla["next_response_seconds"] == 1800.0
    assert when(sla["last_customer_message_at"]) == moment(9, 20)
    assert when(sla["last_response_at"]) == moment(9, 50)
    assert [
        (r["seq"], r["kind"], r["channel"], r["seconds"], when(r["waited_from"]))
        for r in sla["responses"]
    ] == [
        (1, "first", "x_public", 600.0, moment(9)),
        (2, "next", "x_dm", 1800.0, moment(9, 20)),
    ]


def test_resolving_and_reopening_show_on_the_clock(client, auth, clock, flask_app):
    agent = auth("agent")
    cid = open_case(client, agent, "email")["id"]
    clock.advance(hours=2)
    reply(client, agent, cid)
    clock.advance(hours=1)
    write(client, agent, f"/v1/conversations/{cid}/resolve", {"resolution": "answered"})
    project(flask_app)
    resolved = sla_of(client, agent, cid)
    clock.advance(hours=1)
    message(client, agent, cid, "email")  # the customer writes again: the case reopens
    project(flask_app)
    reopened = sla_of(client, agent, cid)

    assert resolved["resolution_seconds"] == 3 * 3600.0
    assert when(resolved["resolved_at"]) == moment(12)
    assert resolved["reopened"] == 0
    assert reopened["resolved_at"] is None
    assert reopened["resolution_seconds"] is None
    assert reopened["reopened"] == 1
    assert when(reopened["waiting_since"]) == moment(13)


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
    reply(client, agent, met)  # 09:30: 30 min, within X's hour
    late = open_case(client, agent, "x_public")["id"]  # 09:30
    clock.advance(hours=2)
    reply(client, agent, late)  # 11:30: 2 h, breached
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


def test_the_sla_report_tightens_targets_for_urgent_cases(client, auth, clock, flask_app):
    agent = auth("agent")
    cid = open_case(client, agent, "x_public")["id"]
    write(client, agent, f"/v1/conversations/{cid}/priority", {"priority": "urgent"})
    clock.advance(minutes=45)  # within an hour, but not within half of one
    reply(client, agent, cid)
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
    reply(client, agent, cid)
    project(flask_app)

    sla = sla_of(client, agent, cid)

    assert when(sla["first_contact_at"]) == moment(8, 50)
    assert sla["first_response_seconds"] == 1200.0
