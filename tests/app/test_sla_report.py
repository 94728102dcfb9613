"""The SLA report over HTTP: the period's figures as promised, restated under a policy
beside them, and a clear 4xx for every unusable query."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from projections.sla_report import folded_rows, report_of_rows, restated_report
from tests.app.helpers import assert_problem, error_fields
from tests.projections.sla_workload import STRICT, run_day
from tests.readside.support import project

REPORT = "/v1/sla/report"
DAY = {"from": "2026-11-02T00:00:00Z", "to": "2026-11-03T00:00:00Z"}
PERIOD = (datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))


def get(client, headers, **query: Any):  # type: ignore[no-untyped-def]
    return client.get(REPORT, query_string=query, headers=headers)


def test_the_report_shows_the_figures_as_promised_and_restated_side_by_side(
    client, auth, clock, flask_app
):
    app = flask_app.extensions["parley.application"]
    run_day(app, clock)
    made = client.post("/v1/sla/policies", json=STRICT, headers=auth("supervisor"))
    assert made.status_code == 201, made.get_json()
    policy = made.get_json()["id"]
    project(flask_app)

    response = get(client, auth("auditor"), **DAY, group_by="channel", policy=policy)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["group_by"] == "channel"
    assert body["period"]["start"].startswith("2026-11-02T00:00:00")
    assert body["period"]["membership"] == "ended_at in [start, end)"
    folded = list(folded_rows(app.recorder, app.mapper))  # what the sla view is to hold
    assert body["contractual"]["groups"] == report_of_rows(folded, *PERIOD, "channel")
    assert body["restated"] == restated_report(app, *PERIOD, "channel", policy)
    assert body["restated"]["policy"] == {"id": policy, "version": 1, "name": "strict"}
    promised, strict = body["contractual"]["groups"], body["restated"]["groups"]
    assert set(promised) == set(strict) == {"email", "x_public", "x_dm"}
    assert promised["email"]["first_response"]["missed"] == 0  # 40 min: e-mail's 8 h
    assert strict["email"]["first_response"]["missed"] == 1  # strict: 15 min
    acknowledged = strict["x_public"]["first_response"]["by_response"]["acknowledgement"]
    assert acknowledged == {"count": 2, "met": 2, "median_seconds": 180.0}
    assert body["projection"]["name"] == "sla"


def test_without_a_policy_nothing_is_restated_and_without_a_period_the_last_week_is_shown(
    client, auth, clock, flask_app
):
    run_day(flask_app.extensions["parley.application"], clock)
    project(flask_app)

    body = get(client, auth("agent")).get_json()

    assert body["restated"] is None
    assert body["group_by"] == "none"
    assert body["period"]["end"].startswith(clock().isoformat()[:19])
    assert body["period"]["start"].startswith("2026-10-27T09:26")
    assert list(body["contractual"]["groups"]) == ["all"]
    # 3, not 4: the last answer was given this very moment, the period's end (excluded)
    assert body["contractual"]["groups"]["all"]["first_response"]["count"] == 3


def test_an_unusable_query_is_a_422_naming_the_parameter(client, auth):
    agent = auth("agent")
    cases = {
        "group_by": {**DAY, "group_by": "colour"},
        "from": {"from": DAY["to"], "to": DAY["from"]},
        "version": {**DAY, "version": "1"},
        "policy": {**DAY, "policy": "gold"},
        "to": {"to": "tomorrow"},
        "limit": {**DAY, "limit": "5"},
    }
    for field, query in cases.items():
        body = assert_problem(get(client, agent, **query), 422)
        assert error_fields(body) == {field}, (field, body)
    alone = assert_problem(get(client, agent, **{"from": "2999-01-01T00:00:00Z"}), 422)
    assert error_fields(alone) == {"from"}  # a default `to` (now) before it
    earliest = get(client, agent, to="0001-01-02T00:00:00Z")  # a week before: year 0
    assert earliest.status_code == 200, earliest.get_json()
    assert earliest.get_json()["period"]["start"].startswith("0001-01-01T00:00:00")


def test_an_unknown_policy_is_a_404_and_a_version_it_lacks_a_422(client, auth):
    agent = auth("agent")
    made = client.post("/v1/sla/policies", json=STRICT, headers=auth("supervisor")).get_json()

    missing = get(client, agent, **DAY, policy=str(uuid.uuid4()))
    lacking = get(client, agent, **DAY, policy=made["id"], version="7")
    builtin = get(client, agent, **DAY, policy="default", version="0")

    assert_problem(missing, 404)
    assert error_fields(assert_problem(lacking, 422)) == {"version"}
    assert builtin.status_code == 200, builtin.get_json()
    assert builtin.get_json()["restated"]["policy"]["id"] == "default"


def test_the_report_counts_cases_resolved_elsewhere_without_a_public_follow_up(
    client, auth, clock, flask_app
):
    from datetime import timedelta

    from domain.values import Identity

    app = flask_app.extensions["parley.application"]
    start = clock()
    cases = []
    for n in range(3):
        opened = app.open_conversation(
            channel="x_public", body="@brand where is it", actor="integration:x",
            identity=Identity("x", f"77700{n}"), external_id=f"99900{n}",
        )  # fmt: skip
        cases.append(opened.id)
    for case in cases[:2]:  # two moved to DM and resolved there; the third in public
        app.switch_channel(case, to="x_dm", reason="details", actor="agent:a")
    for case in cases:
        app.resolve(case, resolution="answered", actor="agent:a")
    follow_up = app.queue_reply(cases[0], kind="follow_up", body="All sorted!", actor="agent:a")
    app.record_delivery(
        cases[0], reply_id=uuid.UUID(str(follow_up.extra["reply_id"])), external_id="99991",
        actor="worker:w",
    )  # fmt: skip
    project(flask_app)
    period = {"from": start.isoformat(), "to": (clock() + timedelta(seconds=1)).isoformat()}

    body = get(client, auth("auditor"), **period).get_json()

    assert body["follow_up"] == {"resolved_elsewhere": 2, "followed_up": 1, "owed": 1}
    earlier = {"from": "2020-01-01T00:00:00Z", "to": start.isoformat()}
    assert (
        get(client, auth("auditor"), **earlier).get_json()["follow_up"]["resolved_elsewhere"] == 0
    )
