"""Conversations over HTTP: the tour a care agent takes, and what each write answers."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.app.helpers import (
    assert_problem,
    error_fields,
    event_types,
    events_of,
    head_position,
    new_external_id,
    open_conversation,
    tweet,
)


def test_a_tweet_is_acknowledged_moved_to_dm_answered_and_resolved(client, auth):
    agent = auth("agent")
    opened = client.post(
        "/v1/conversations",
        json={
            "channel": "x_public",
            "body": "@acme my parcel is a week late",
            "identity": {"kind": "x", "value": "1001", "handle": "ann"},
            "external_id": "1790000000000000001",
        },
        headers=agent,
    )
    assert opened.status_code == 201
    body = opened.get_json()
    cid = body["id"]
    assert body["created"] is True
    assert isinstance(body["position"], int)
    assert opened.headers["Location"].endswith(f"/v1/conversations/{cid}")
    assert opened.headers["ETag"] == f'"{body["version"]}"'

    ack = client.post(
        f"/v1/conversations/{cid}/replies",
        json={"body": "Sorry to hear that, we're on it", "kind": "acknowledgement"},
        headers=agent,
    )
    assert ack.status_code == 202
    assert ack.get_json()["reply_id"]
    assert ack.get_json()["public"] is True
    assert ack.get_json()["channel"] == "x_public"

    assigned = client.post(
        f"/v1/conversations/{cid}/assignment",
        json={"agent": "bob", "team": "shipping"},
        headers=agent,
    )
    assert assigned.status_code == 200

    switched = client.post(
        f"/v1/conversations/{cid}/channel-switches",
        json={"to": "x_dm", "reason": "order details"},
        headers=agent,
    )
    assert switched.status_code == 200

    reply = client.post(
        f"/v1/conversations/{cid}/replies",
        json={"body": "Your parcel arrives tomorrow"},
        headers=agent,
    )
    assert reply.status_code == 202
    assert reply.get_json()["channel"] == "x_dm"
    assert reply.get_json()["public"] is False

    resolved = client.post(
        f"/v1/conversations/{cid}/resolve", json={"resolution": "answered"}, headers=agent
    )
    assert resolved.status_code == 200

    current = client.get(f"/v1/conversations/{cid}", headers=agent)
    assert current.status_code == 200
    state = current.get_json()
    assert state["status"] == "resolved"
    assert state["resolution"] == "answered"
    assert state["assignee"] == "bob"
    assert state["team"] == "shipping"
    assert state["origin_channel"] == "x_public"
    assert state["current_channel"] == "x_dm"
    assert [r["channel"] for r in state["replies"]] == ["x_public", "x_dm"]
    assert state["dm_reach"]["requirement"] == "follows_brand_or_open_dms"
    assert (state["dm_reach"]["receives_dms"], state["dm_reach"]["source"]) == (None, "switch")
    assert state["follow_up_owed"] is True  # began in public, resolved in DM
    assert current.headers["ETag"] == f'"{state["version"]}"'
    assert state["version"] == resolved.get_json()["version"]

    events = events_of(client, agent, cid)
    assert [e["type"] for e in events] == [
        "Opened",
        "ReplyQueued",
        "Assigned",
        "ChannelSwitched",
        "DmReachRecorded",  # what the DM needs of the customer, with the move
        "ReplyQueued",
        "Resolved",
    ]
    assert [e["version"] for e in events] == list(range(1, 8))
    assert {e["actor"] for e in events} == {"agent:agent"}
    assert all(e["aggregate"] == "Conversation" and e["aggregate_id"] == cid for e in events)


def test_every_write_answers_an_integer_position_that_increases(client, auth, flask_app):
    agent = auth("agent")
    opened = open_conversation(client, agent)
    cid = opened["id"]
    positions = [opened["position"]]
    for path, body in [
        ("replies", {"body": "On it", "kind": "acknowledgement"}),
        ("notes", {"body": "VIP customer"}),
        ("assignment", {"agent": "bob"}),
        ("tags", {"add": ["shipping"]}),
        ("priority", {"priority": "high"}),
        ("resolve", {}),
        ("reopen", {"reason": "customer asked again"}),
    ]:
        response = client.post(f"/v1/conversations/{cid}/{path}", json=body, headers=agent)
        assert response.status_code in (200, 201, 202), (path, response.get_json())
        positions.append(response.get_json()["position"])
    assert all(isinstance(p, int) for p in positions)
    assert positions == sorted(set(positions))
    assert positions[-1] == head_position(flask_app)


def test_assigning_the_same_agent_again_writes_nothing_and_answers_a_null_position(
    client, auth, flask_app
):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    first = client.post(f"/v1/conversations/{cid}/assignment", json={"agent": "bob"}, headers=agent)
    assert isinstance(first.get_json()["position"], int)
    head = head_position(flask_app)

    again = client.post(f"/v1/conversations/{cid}/assignment", json={"agent": "bob"}, headers=agent)

    assert again.status_code == 200
    assert again.get_json()["position"] is None
    assert again.get_json()["version"] == first.get_json()["version"]
    assert head_position(flask_app) == head
    assert event_types(client, agent, cid) == ["Opened", "Assigned"]


def test_unassigning_with_null_clears_the_agent_and_keeps_the_team(client, auth):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    client.post(
        f"/v1/conversations/{cid}/assignment", json={"agent": "bob", "team": "t1"}, headers=agent
    )

    response = client.post(
        f"/v1/conversations/{cid}/assignment", json={"agent": None}, headers=agent
    )

    assert response.status_code == 200
    state = client.get(f"/v1/conversations/{cid}", headers=agent).get_json()
    assert state["assignee"] is None
    assert state["team"] == "t1"


def test_the_same_tweet_posted_twice_is_recorded_once(client, auth, flask_app):
    agent = auth("agent")
    contact = tweet()
    first = client.post("/v1/conversations", json=contact, headers=agent)
    head = head_position(flask_app)

    second = client.post("/v1/conversations", json=contact, headers=agent)

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.get_json()["created"] is False
    assert second.get_json()["id"] == first.get_json()["id"]
    assert second.get_json()["message_id"] == first.get_json()["message_id"]
    assert second.get_json()["position"] is None
    assert head_position(flask_app) == head


def test_a_second_tweet_from_the_same_user_lands_with_the_same_customer(client, auth):
    agent = auth("agent")
    first = open_conversation(client, agent, user_id="42")
    second = open_conversation(client, agent, user_id="42")

    assert second["id"] != first["id"]
    assert second["customer_id"] == first["customer_id"]


def test_a_reply_on_a_resolved_conversation_is_refused_with_409(client, auth, flask_app):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    client.post(f"/v1/conversations/{cid}/resolve", json={}, headers=agent)
    head = head_position(flask_app)

    response = client.post(f"/v1/conversations/{cid}/replies", json={"body": "hi"}, headers=agent)

    assert_problem(response, 409)
    assert head_position(flask_app) == head


def test_resolving_twice_is_a_409_conflict(client, auth):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    client.post(f"/v1/conversations/{cid}/resolve", json={}, headers=agent)

    response = client.post(f"/v1/conversations/{cid}/resolve", json={}, headers=agent)

    assert_problem(response, 409)


def test_switching_to_email_without_an_email_identity_names_the_identity_field(
    client, auth, flask_app
):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    head = head_position(flask_app)

    response = client.post(
        f"/v1/conversations/{cid}/channel-switches", json={"to": "email"}, headers=agent
    )

    body = assert_problem(response, 422)
    assert "identity" in error_fields(body)
    assert head_position(flask_app) == head
    state = client.get(f"/v1/conversations/{cid}", headers=agent).get_json()
    assert state["current_channel"] == "x_public"


def test_switching_to_email_with_an_identity_adds_it_to_the_customer(client, auth):
    agent = auth("agent")
    opened = open_conversation(client, agent)
    cid = opened["id"]

    response = client.post(
        f"/v1/conversations/{cid}/channel-switches",
        json={"to": "email", "identity": {"kind": "email", "value": "ann@example.com"}},
        headers=agent,
    )

    assert response.status_code == 200
    assert isinstance(response.get_json()["position"], int)
    state = client.get(f"/v1/conversations/{cid}", headers=agent).get_json()
    assert state["current_channel"] == "email"
    customer = client.get(f"/v1/customers/{opened['customer_id']}", headers=agent).get_json()
    assert {"kind": "email", "value": "ann@example.com", "handle": None} in customer["identities"]
    reply = client.post(
        f"/v1/conversations/{cid}/replies", json={"body": "Details by mail"}, headers=agent
    )
    assert reply.get_json()["channel"] == "email"
    assert reply.get_json()["public"] is False


def test_switching_to_the_channel_it_is_on_is_a_409(client, auth):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]

    response = client.post(
        f"/v1/conversations/{cid}/channel-switches", json={"to": "x_public"}, headers=agent
    )

    assert_problem(response, 409)


def test_a_customer_message_on_a_resolved_conversation_reopens_it(client, auth):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    client.post(f"/v1/conversations/{cid}/resolve", json={}, headers=agent)

    response = client.post(
        f"/v1/conversations/{cid}/messages",
        json={"channel": "x_public", "body": "still broken", "external_id": new_external_id()},
        headers=agent,
    )

    assert response.status_code == 201
    assert response.get_json()["created"] is True
    state = client.get(f"/v1/conversations/{cid}", headers=agent).get_json()
    assert state["status"] == "open"
    assert state["resolution"] is None
    assert len(state["messages"]) == 2
    assert event_types(client, agent, cid)[-2:] == ["Reopened", "MessageReceived"]


def test_the_same_customer_message_posted_twice_is_recorded_once(client, auth, flask_app):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    message = {"channel": "x_dm", "body": "order 123", "external_id": new_external_id()}
    first = client.post(f"/v1/conversations/{cid}/messages", json=message, headers=agent)
    head = head_position(flask_app)

    second = client.post(f"/v1/conversations/{cid}/messages", json=message, headers=agent)

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.get_json()["created"] is False
    assert second.get_json()["message_id"] == first.get_json()["message_id"]
    assert head_position(flask_app) == head


def test_a_private_note_is_created_and_shown_with_its_author(client, auth):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]

    response = client.post(f"/v1/conversations/{cid}/notes", json={"body": "VIP"}, headers=agent)

    assert response.status_code == 201
    note_id = response.get_json()["note_id"]
    notes = client.get(f"/v1/conversations/{cid}", headers=agent).get_json()["notes"]
    assert notes == [
        {
            "id": note_id,
            "author": "agent:agent",
            "body": "VIP",
            "added_at": notes[0]["added_at"],
            "redacted": [],
        }
    ]


def test_as_of_shows_the_conversation_as_it_stood_between_two_writes(client, auth, clock):
    agent = auth("agent")
    opened_at = clock()
    cid = open_conversation(client, agent)["id"]
    clock.advance(minutes=5)
    assigned = client.post(
        f"/v1/conversations/{cid}/assignment", json={"agent": "bob"}, headers=agent
    )
    between = clock.advance(minutes=2)
    clock.advance(minutes=3)
    client.post(f"/v1/conversations/{cid}/resolve", json={}, headers=agent)
    clock.advance(minutes=5)

    then = client.get(
        f"/v1/conversations/{cid}",
        query_string={"as_of": between.isoformat()},
        headers=agent,
    )
    at_opening = client.get(
        f"/v1/conversations/{cid}",
        query_string={"as_of": opened_at.isoformat().replace("+00:00", "Z")},
        headers=agent,
    )
    now = client.get(f"/v1/conversations/{cid}", headers=agent)

    assert then.status_code == 200
    assert then.get_json()["status"] == "open"
    assert then.get_json()["assignee"] == "bob"
    assert then.headers["ETag"] == f'"{assigned.get_json()["version"]}"'
    assert at_opening.get_json()["assignee"] is None
    assert at_opening.headers["ETag"] == '"1"'
    assert now.get_json()["status"] == "resolved"
    assert now.headers["ETag"] == f'"{now.get_json()["version"]}"'
    assert now.get_json()["version"] > then.get_json()["version"]


def test_as_of_in_another_offset_is_the_same_instant(client, auth, clock):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    clock.advance(minutes=5)
    client.post(f"/v1/conversations/{cid}/assignment", json={"agent": "bob"}, headers=agent)

    # 09:02 UTC, written as 11:02 in UTC+2: between the opening and the assignment.
    response = client.get(
        f"/v1/conversations/{cid}",
        query_string={"as_of": "2026-11-02T11:02:00+02:00"},
        headers=agent,
    )

    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'


def test_as_of_before_the_conversation_was_opened_is_404(client, auth, clock):
    agent = auth("agent")
    before = clock()
    clock.advance(minutes=1)
    cid = open_conversation(client, agent)["id"]

    response = client.get(
        f"/v1/conversations/{cid}",
        query_string={"as_of": before.isoformat()},
        headers=agent,
    )

    assert_problem(response, 404)


def test_events_are_timestamped_by_the_clock_in_utc(client, auth, clock):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    clock.advance(minutes=7)
    client.post(f"/v1/conversations/{cid}/notes", json={"body": "x"}, headers=agent)

    stamps = [datetime.fromisoformat(e["timestamp"]) for e in events_of(client, agent, cid)]

    assert stamps == [datetime(2026, 11, 2, 9, 0, tzinfo=UTC), clock()]
    assert all(s.utcoffset().total_seconds() == 0 for s in stamps)


def test_conversation_events_are_paged_by_version(client, auth):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    for n in range(4):
        client.post(f"/v1/conversations/{cid}/notes", json={"body": f"n{n}"}, headers=agent)

    first = client.get(
        f"/v1/conversations/{cid}/events", query_string={"limit": 2}, headers=agent
    ).get_json()
    rest = client.get(
        f"/v1/conversations/{cid}/events",
        query_string={"after": first["next_cursor"], "limit": 10},
        headers=agent,
    ).get_json()

    assert [e["version"] for e in first["items"]] == [1, 2]
    assert first["next_cursor"] == 2
    assert [e["version"] for e in rest["items"]] == [3, 4, 5]
    assert rest["next_cursor"] is None


def test_a_public_acknowledgement_invites_to_dm_and_a_misplaced_invitation_is_refused(client, auth):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    ack = client.post(
        f"/v1/conversations/{cid}/replies",
        json={"body": "Sorry Ann!", "kind": "acknowledgement", "invite_to_dm": True},
        headers=agent,
    )
    assert ack.status_code == 202
    [reply] = client.get(f"/v1/conversations/{cid}", headers=agent).get_json()["replies"]
    assert reply["body"].startswith("Sorry Ann! Please follow us and send us a DM")

    version = client.get(f"/v1/conversations/{cid}", headers=agent).get_json()["version"]
    for payload, field in [
        ({"body": "Here you go", "invite_to_dm": True}, "invite_to_dm"),
        ({"body": "x" * 250, "kind": "acknowledgement", "invite_to_dm": True}, "body"),
        ({"body": "Hi", "invite_to_dm": "maybe"}, "invite_to_dm"),
    ]:
        refused = client.post(f"/v1/conversations/{cid}/replies", json=payload, headers=agent)
        assert field in error_fields(assert_problem(refused, 422)), payload
    assert client.get(f"/v1/conversations/{cid}", headers=agent).get_json()["version"] == version
