"""``GET /v1/inbox`` over HTTP: filters, counts, the most-overdue-first order and paging."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.app.helpers import assert_problem, error_fields
from tests.readside.support import answer, contact, message, open_case, project, reply, write

AT = datetime(2026, 11, 2, tzinfo=UTC)


def at(hour: int, minute: int) -> str:
    """The ISO 8601 text the inbox gives for 2026-11-02 at hour:minute UTC."""
    return AT.replace(hour=hour, minute=minute).isoformat()


@pytest.fixture
def cases(client, auth, clock, flask_app) -> dict[str, str]:
    """Six cases opened and handled over the morning of 2 Nov 2026, then projected.

    A tweet at 09:00 (team billing, tag refund); B e-mail at 09:10, answered, then the
    customer wrote again at 09:50; C chat at 09:20 (carol); D tweet at 09:20 (bob of
    billing, urgent, tags refund and vip); E tweet at 09:30, resolved; F chat at 09:35,
    answered and snoozed. Answers are delivered (they count for the SLA clock then).
    """
    agent = auth("agent")
    ids: dict[str, str] = {}
    ids["A"] = open_case(client, agent, "x_public")["id"]
    clock.advance(minutes=10)
    ids["B"] = open_case(client, agent, "email")["id"]
    clock.advance(minutes=10)
    ids["C"] = open_case(client, agent, "chat")["id"]
    ids["D"] = open_case(client, agent, "x_public")["id"]
    clock.advance(minutes=10)
    ids["E"] = open_case(client, agent, "x_public")["id"]
    clock.advance(minutes=5)  # 09:35
    ids["F"] = open_case(client, agent, "chat")["id"]
    clock.advance(minutes=1)
    answer(client, agent, flask_app, ids["F"], kind="answer")
    write(client, agent, f"/v1/conversations/{ids['F']}/snooze", {"until": "2026-11-03T09:00:00Z"})
    clock.advance(minutes=4)  # 09:40
    answer(client, agent, flask_app, ids["B"], kind="answer")
    clock.advance(minutes=10)  # 09:50
    message(client, agent, ids["B"], "email")

    conv = "/v1/conversations/{}/".format
    write(client, agent, conv(ids["D"]) + "assignment", {"agent": "bob", "team": "billing"})
    write(client, agent, conv(ids["C"]) + "assignment", {"agent": "carol"})
    write(client, agent, conv(ids["A"]) + "assignment", {"team": "billing"})
    write(client, agent, conv(ids["A"]) + "tags", {"add": ["refund"]})
    write(client, agent, conv(ids["D"]) + "tags", {"add": ["refund", "vip", "late"]})
    write(client, agent, conv(ids["D"]) + "tags", {"remove": ["late"]})
    write(client, agent, conv(ids["D"]) + "priority", {"priority": "urgent"})
    write(client, agent, conv(ids["E"]) + "resolve", {"resolution": "answered"})
    assert project(flask_app) > 0
    return ids


def inbox(client, headers, **query: Any) -> dict[str, Any]:
    response = client.get("/v1/inbox", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def names(page: dict[str, Any], cases: dict[str, str]) -> list[str]:
    by_id = {cid: name for name, cid in cases.items()}
    return [by_id[item["conversation_id"]] for item in page["items"]]


def test_the_default_inbox_lists_open_and_snoozed_cases_and_counts_every_status(
    client, auth, cases
):
    page = inbox(client, auth("agent"))

    assert sorted(names(page, cases)) == ["A", "B", "C", "D", "F"]
    assert page["counts"] == {"open": 4, "snoozed": 1, "resolved": 1}
    assert page["next_cursor"] is None
    assert page["projection"]["name"] == "inbox"
    assert page["projection"]["position"] > 0
    rows = {name: item for name, item in zip(names(page, cases), page["items"], strict=True)}
    assert rows["D"]["assignee"] == "bob"
    assert rows["D"]["team"] == "billing"
    assert rows["D"]["priority"] == "urgent"
    assert rows["D"]["tags"] == ["refund", "vip"]
    assert rows["D"]["origin_public"] is True
    assert rows["B"]["awaiting"] == "reply"
    assert rows["B"]["waiting_since"] == at(9, 50)
    assert rows["B"]["last_message_preview"] == "any news?"
    assert rows["F"]["status"] == "snoozed"
    assert rows["F"]["snoozed_until"] == "2026-11-03T09:00:00+00:00"


FILTERS: list[tuple[dict[str, str], set[str]]] = [
    ({"status": "open"}, {"A", "B", "C", "D"}),
    ({"status": "snoozed"}, {"F"}),
    ({"status": "resolved"}, {"E"}),
    ({"assignee": "bob"}, {"D"}),
    ({"assignee": "carol"}, {"C"}),
    ({"assignee": "nobody"}, set()),
    ({"assigned": "false"}, {"A", "B", "F"}),
    ({"assigned": "true"}, {"C", "D"}),
    ({"team": "billing"}, {"A", "D"}),
    ({"channel": "chat"}, {"C", "F"}),
    ({"channel": "email"}, {"B"}),
    ({"channel": "x_public"}, {"A", "D"}),
    ({"channel": "x_public", "status": "resolved"}, {"E"}),
    ({"priority": "urgent"}, {"D"}),
    ({"priority": "none"}, {"A", "B", "C", "F"}),
    ({"tag": "refund"}, {"A", "D"}),
    ({"tag": "vip"}, {"D"}),
    ({"tag": "late"}, set()),
    ({"awaiting": "acknowledgement"}, {"A", "C", "D"}),
    ({"awaiting": "reply"}, {"B"}),
    ({"awaiting": "nothing"}, {"F"}),
    ({"awaiting": "nothing", "status": "resolved"}, {"E"}),
    ({"team": "billing", "tag": "refund", "assigned": "false"}, {"A"}),
]


def test_each_inbox_filter_selects_exactly_the_matching_cases(client, auth, cases):
    agent = auth("agent")

    got = [(query, set(names(inbox(client, agent, **query), cases))) for query, _ in FILTERS]

    assert got == FILTERS


def test_inbox_counts_cover_every_status_under_the_other_filters(client, auth, cases):
    agent = auth("agent")

    assert inbox(client, agent, channel="x_public")["counts"] == {
        "open": 2,
        "snoozed": 0,
        "resolved": 1,
    }
    assert inbox(client, agent, channel="chat")["counts"] == {
        "open": 1,
        "snoozed": 1,
        "resolved": 0,
    }
    # the status filter picks the list, not the counts
    assert inbox(client, agent, channel="x_public", status="resolved")["counts"] == {
        "open": 2,
        "snoozed": 0,
        "resolved": 1,
    }
    # one filter: kept counts, exact; a combination no count is kept for: bounded
    exact = {"open": True, "snoozed": True, "resolved": True}
    page = inbox(client, agent, channel="x_public")
    assert (page["counts_exact"], page["count_bound"]) == (exact, 100)
    page = inbox(client, agent, channel="x_public", priority="none")  # A and E, not urgent D
    assert (page["counts"], page["counts_exact"]) == (
        {"open": 1, "snoozed": 0, "resolved": 1},
        exact,
    )


def test_the_inbox_lists_the_most_overdue_case_first_and_cases_due_nothing_last(
    client, auth, cases
):
    page = inbox(client, auth("agent"))
    rows = {name: item for name, item in zip(names(page, cases), page["items"], strict=True)}

    # C: chat at 09:20 + 5 min; D: tweet at 09:20, urgent halves 1 h; A: tweet at 09:00
    # + 1 h; B: e-mail, the customer's second message at 09:50 + 8 h; F: snoozed, due nothing.
    assert names(page, cases) == ["C", "D", "A", "B", "F"]
    assert rows["C"]["due"] == at(9, 25)
    assert rows["C"]["first_response_due"] == at(9, 25)
    assert rows["D"]["due"] == at(9, 50)
    assert rows["A"]["due"] == at(10, 0)
    assert rows["B"]["due"] == at(17, 50)
    assert rows["B"]["first_response_due"] is None
    assert rows["F"]["due"] is None


def test_a_chat_is_due_before_a_tweet_that_came_in_at_the_same_moment(
    client, auth, clock, flask_app
):
    agent = auth("agent")
    tweet_id = open_case(client, agent, "x_public")["id"]
    chat_id = open_case(client, agent, "chat")["id"]
    project(flask_app)

    page = inbox(client, agent)

    assert [i["conversation_id"] for i in page["items"]] == [chat_id, tweet_id]
    assert [i["due"] for i in page["items"]] == [at(9, 5), at(10, 0)]


def test_paging_the_inbox_two_at_a_time_lists_every_case_exactly_once_in_order(client, auth, cases):
    agent = auth("agent")
    everything = [i["conversation_id"] for i in inbox(client, agent, limit=500)["items"]]

    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        query: dict[str, Any] = {"limit": 2}
        if cursor:
            query["cursor"] = cursor
        page = inbox(client, agent, **query)
        pages += 1
        assert len(page["items"]) <= 2
        assert page["counts"] == {"open": 4, "snoozed": 1, "resolved": 1}
        seen += [i["conversation_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert seen == everything
    assert len(set(seen)) == 5


def test_paging_a_filtered_inbox_keeps_the_filter(client, auth, cases):
    agent = auth("agent")
    first = inbox(client, agent, channel="x_public", limit=1)
    second = inbox(client, agent, channel="x_public", limit=1, cursor=first["next_cursor"])

    assert names(first, cases) == ["D"]
    assert names(second, cases) == ["A"]
    assert second["next_cursor"] is None


def test_a_cursor_the_inbox_did_not_issue_is_refused_naming_the_cursor(client, auth):
    # garbage, not base64, a JSON object, a list of two
    for cursor in ("not-a-cursor", "!!!!", "eyJhIjogMX0", "WyJhIiwgImIiXQ"):
        response = client.get("/v1/inbox", query_string={"cursor": cursor}, headers=auth("agent"))

        body = assert_problem(response, 422)
        assert body["errors"][0]["field"] == "cursor", cursor
        assert body["errors"][0]["location"] == "query", cursor


def test_an_unknown_or_invalid_inbox_parameter_is_a_422_naming_it(client, auth):
    for field, value in [
        ("sort", "due"),
        ("limit", "0"),
        ("limit", "501"),
        ("status", "closed"),
        ("channel", "fax"),
        ("priority", "asap"),
        ("awaiting", "godot"),
        ("assigned", "maybe"),
        ("sla", "late"),
        ("sla", ""),
        ("follow_up_owed", "maybe"),
        ("min_position", "-1"),
    ]:
        response = client.get("/v1/inbox", query_string={field: value}, headers=auth("agent"))

        body = assert_problem(response, 422)
        assert error_fields(body) == {field}, (field, value, body)
        assert [e["location"] for e in body["errors"]] == ["query"], (field, value)


def test_the_inbox_needs_a_token(client):
    response = client.get("/v1/inbox")

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_cases_due_at_the_same_moment_list_the_longest_waiting_first(
    client, auth, clock, flask_app
):
    agent = auth("agent")
    mail = open_case(client, agent, "email")["id"]  # 09:00 + 8 h
    clock.advance(hours=7)
    tweet = open_case(client, agent, "x_public")["id"]  # 16:00 + 1 h
    project(flask_app)
    tied = inbox(client, agent)["items"]

    write(client, agent, f"/v1/conversations/{tweet}/priority", {"priority": "high"})
    project(flask_app)
    tightened = inbox(client, agent)["items"]

    assert [(i["conversation_id"], i["due"]) for i in tied] == [
        (mail, at(17, 0)),
        (tweet, at(17, 0)),
    ]
    assert [(i["conversation_id"], i["due"]) for i in tightened] == [
        (tweet, at(16, 45)),  # high: 75 % of an hour
        (mail, at(17, 0)),
    ]


def test_the_inbox_times_a_contact_from_when_the_customer_spoke_but_never_later_than_seen(
    client, auth, clock, flask_app
):
    agent = auth("agent")
    early = open_case(client, agent, "x_public", published_at="2026-11-02T08:30:00Z")["id"]
    future = open_case(client, agent, "x_public", published_at="2026-11-02T11:00:00+02:00")["id"]
    project(flask_app)

    rows = {i["conversation_id"]: i for i in inbox(client, agent)["items"]}

    assert rows[early]["waiting_since"] == at(8, 30)
    assert rows[early]["due"] == at(9, 30)
    # 11:00+02:00 is 09:00 UTC: the moment it was seen, so no clamping is needed
    assert rows[future]["waiting_since"] == at(9, 0)
    late = open_case(client, agent, "x_public", published_at="2026-11-02T09:04:00Z")["id"]
    project(flask_app)
    assert {i["conversation_id"]: i for i in inbox(client, agent)["items"]}[late][
        "waiting_since"
    ] == at(9, 0)


def test_a_customer_writing_to_a_snoozed_case_wakes_it_with_a_reply_due(
    client, auth, clock, flask_app
):
    agent = auth("agent")
    cid = open_case(client, agent, "chat")["id"]
    reply(client, agent, cid)
    write(client, agent, f"/v1/conversations/{cid}/snooze", {"until": "2026-11-05T00:00:00Z"})
    clock.advance(minutes=30)
    message(client, agent, cid, "chat")
    project(flask_app)

    row = inbox(client, agent)["items"][0]

    assert row["status"] == "open"
    assert row["snoozed_until"] is None
    assert row["awaiting"] == "reply"
    assert row["due"] == at(9, 35)
    assert inbox(client, agent)["counts"] == {"open": 1, "snoozed": 0, "resolved": 0}


def test_a_message_holding_a_nul_character_never_halts_the_projections(client, auth, flask_app):
    # Either the edge refuses the character, or every read model takes the case in.
    agent = auth("agent")
    response = client.post(
        "/v1/conversations",
        json=contact("x_public", body="my order\u0000 never arrived"),
        headers=agent,
    )
    assert response.status_code in (201, 400, 422), response.get_json()
    clean = open_case(client, agent, "x_public")["id"]
    project(flask_app)

    states = client.get("/v1/ops/projections", headers=auth("ops")).get_json()["items"]
    listed = {i["conversation_id"] for i in inbox(client, agent)["items"]}

    assert {s["name"]: (s["state"], s["lag"], s["last_error"]) for s in states} == {
        name: ("running", 0, None)
        for name in ("inbox", "sla", "history", "deliveries", "incidents")
    }
    assert clean in listed
    if response.status_code == 201:
        assert response.get_json()["id"] in listed


def test_a_tag_holding_a_nul_character_never_halts_the_inbox(client, auth, flask_app):
    agent = auth("agent")
    cid = open_case(client, agent, "x_public")["id"]
    response = client.post(
        f"/v1/conversations/{cid}/tags", json={"add": ["a\u0000b"]}, headers=agent
    )
    assert response.status_code in (200, 400, 422), response.get_json()
    project(flask_app)

    states = client.get("/v1/ops/projections", headers=auth("ops")).get_json()["items"]

    assert {s["name"]: (s["state"], s["lag"]) for s in states} == {
        name: ("running", 0) for name in ("inbox", "sla", "history", "deliveries", "incidents")
    }


def test_an_inbox_filter_or_cursor_holding_a_nul_character_is_refused_not_a_500(client, auth):
    cursor = base64.urlsafe_b64encode(json.dumps(["\u0000", "a", "b"]).encode()).decode()
    for query in (
        {"assignee": "bo\u0000b"},
        {"team": "\u0000"},
        {"tag": "vip\u0000"},
        {"cursor": cursor.rstrip("=")},
    ):
        response = client.get("/v1/inbox", query_string=query, headers=auth("agent"))

        assert response.status_code in (200, 422), (query, response.get_data(as_text=True))


def test_unassigning_the_agent_returns_a_case_to_the_unassigned_list_keeping_its_team(
    client, auth, flask_app
):
    agent = auth("agent")
    cid = open_case(client, agent, "x_public")["id"]
    write(client, agent, f"/v1/conversations/{cid}/assignment", {"agent": "bob", "team": "t1"})
    write(client, agent, f"/v1/conversations/{cid}/assignment", {"agent": None})
    project(flask_app)

    row = inbox(client, agent, assigned="false")["items"][0]

    assert (row["conversation_id"], row["assignee"], row["team"]) == (cid, None, "t1")
    assert inbox(client, agent, assigned="true")["items"] == []


def breached_case(client, auth, clock, flask_app) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A case breached under a one-minute policy, and one (e-mail) with time to spare."""
    policy = {"name": "API in a minute", "conditions": {"channels": ["api"]},
              "targets": [{"metric": "first_response", "seconds": 60}]}  # fmt: skip
    write(client, auth("supervisor"), "/v1/sla/policies", policy, 201)
    agent = auth("agent")
    late = open_case(client, agent, "api")["id"]
    calm = open_case(client, agent, "email")["id"]
    clock.advance(minutes=2)
    app = flask_app.extensions["parley.application"]
    assert app.record_sla_alarms(uuid.UUID(late)) == (1, 0)
    project(flask_app)
    return late, calm


def test_the_inbox_filters_by_sla_state_and_shows_it_on_each_item(client, auth, clock, flask_app):
    late, calm = breached_case(client, auth, clock, flask_app)
    agent = auth("agent")

    breached = inbox(client, agent, sla="breached")["items"]
    ok = inbox(client, agent, sla="ok")["items"]

    assert [i["conversation_id"] for i in breached] == [late]
    assert [i["conversation_id"] for i in ok] == [calm]
    assert inbox(client, agent, sla="at_risk")["items"] == []
    assert breached[0]["sla"]["state"] == "breached" and breached[0]["sla_breached"] is True
    assert breached[0]["sla"]["policy_version"] == 1
    assert ok[0]["sla"] == {"state": "ok", "policy_id": "default", "policy_version": 0}
    assert ok[0]["follow_up_owed"] is False
    assert [i["conversation_id"] for i in inbox(client, agent, follow_up_owed="false")["items"]] == [
        late, calm,
    ]  # fmt: skip


def test_the_openapi_document_describes_the_sla_and_follow_up_filters(client) -> None:  # type: ignore[no-untyped-def]
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"]["/v1/inbox"]["get"]
    params = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}

    assert params["sla"]["enum"] == ["breached", "at_risk", "ok"]
    assert params["follow_up_owed"]["type"] == "boolean"
    item = spec["components"]["schemas"]["InboxItem"]["properties"]
    assert {"sla", "sla_breached", "sla_at_risk", "follow_up_owed"} <= set(item)


def test_a_case_resolved_in_private_owes_a_public_follow_up_in_the_inbox_and_its_view(
    client, auth, clock, flask_app
):  # type: ignore[no-untyped-def]
    agent = auth("agent")
    cid = open_case(client, agent, "x_public")["id"]
    write(client, agent, f"/v1/conversations/{cid}/channel-switches", {"to": "x_dm"})
    write(client, agent, f"/v1/conversations/{cid}/resolve", {"resolution": "answered"})
    project(flask_app)

    owed = inbox(client, agent, status="resolved", follow_up_owed="true")["items"]
    view = client.get(f"/v1/conversations/{cid}", headers=agent).get_json()

    assert [i["conversation_id"] for i in owed] == [cid]
    assert owed[0]["follow_up_owed"] is view["follow_up_owed"] is True
    answer(client, agent, flask_app, cid, kind="follow_up", body="all sorted?")
    project(flask_app)
    assert inbox(client, agent, status="resolved", follow_up_owed="true")["items"] == []
    view = client.get(f"/v1/conversations/{cid}", headers=agent).get_json()
    assert view["follow_up_owed"] is False


def test_the_inbox_shows_each_cases_classification_filters_on_it_and_keeps_its_version(
    client, auth, clock, flask_app
):  # type: ignore[no-untyped-def]
    rules = {
        "classifier": {
            "rules": [{"name": "thanks", "label": "praise", "keywords": ["thanks"]}],
            "default": "complaint",
        },
        "routing": [{"name": "praise", "classifications": ["praise"], "priority": "low"}],
    }
    saved = client.put("/v1/care-policy/rules", json=rules, headers=auth("supervisor"))
    assert saved.status_code == 200, saved.get_json()
    agent = auth("agent")
    happy = open_case(client, agent, "x_public", body="@brand thanks, it arrived!")["id"]
    angry = open_case(client, agent, "email", body="It never came")["id"]
    project(flask_app)

    praise = inbox(client, agent, classification="praise")["items"]
    complaints = inbox(client, agent, classification="complaint")["items"]

    assert [i["conversation_id"] for i in praise] == [happy]
    assert [i["conversation_id"] for i in complaints] == [angry]
    view = client.get(f"/v1/conversations/{happy}", headers=agent).get_json()
    assert praise[0]["classification"] == "praise" and praise[0]["priority"] == "low"
    assert praise[0]["version"] == view["version"]  # routing and classifying both counted
    assert inbox(client, agent, classification="question")["items"] == []
    refused = client.get("/v1/inbox", query_string={"classification": "rant"}, headers=agent)
    assert "classification" in error_fields(assert_problem(refused, 422))


def test_an_inbox_page_is_sent_exactly_as_its_schema_dumps_it(client, auth, cases):
    """The view sends the page without dumping it again: it must already be the schema's."""
    from app.schemas.readmodels import InboxPageSchema

    agent = auth("agent")
    for query in ({}, {"status": "open,snoozed,resolved"}, {"tag": "refund", "team": "billing"}):
        page = inbox(client, agent, **query)
        assert page["items"]
        assert InboxPageSchema().dump(page) == page
