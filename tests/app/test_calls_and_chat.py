"""Phone calls and web chat over HTTP: what a console and a chat widget's backend send."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from tests.app.helpers import (
    assert_problem,
    error_fields,
    event_types,
    head_position,
    open_conversation,
)
from tests.conftest import Clock


def _call(clock: Clock, **overrides):  # type: ignore[no-untyped-def]
    return {
        "direction": "outbound",
        "started_at": (clock.now - timedelta(minutes=10)).isoformat(),
        "duration_seconds": 240,
        "summary": "Called to confirm the refund",
        **overrides,
    }


def test_a_logged_call_is_in_the_case_and_answers_it(client, auth, clock) -> None:  # type: ignore[no-untyped-def]
    case = open_conversation(client, auth())["id"]

    logged = client.post(f"/v1/conversations/{case}/calls", json=_call(clock), headers=auth())

    assert logged.status_code == 201, logged.get_json()
    body = logged.get_json()
    conversation = client.get(f"/v1/conversations/{case}", headers=auth()).get_json()
    assert conversation["awaiting"] == "nothing"
    (call,) = conversation["calls"]
    assert call["id"] == body["call_id"]
    assert (call["direction"], call["duration_seconds"], call["agent"]) == (
        "outbound", 240, "agent:agent",
    )  # fmt: skip
    assert event_types(client, auth(), case)[-1] == "CallLogged"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"direction": "up"}, "direction"),
        ({"duration_seconds": -5}, "duration_seconds"),
        ({"duration_seconds": "60"}, "duration_seconds"),
        ({"summary": ""}, "summary"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_malformed_call_is_a_422_naming_the_field_and_writes_nothing(  # type: ignore[no-untyped-def]
    client, auth, clock, flask_app, change, field
) -> None:
    case = open_conversation(client, auth())["id"]
    head = head_position(flask_app)

    refused = client.post(
        f"/v1/conversations/{case}/calls", json=_call(clock, **change), headers=auth()
    )

    assert field in error_fields(assert_problem(refused, 422))
    assert head_position(flask_app) == head


def test_a_call_starting_in_the_future_is_refused(client, auth, clock, flask_app) -> None:  # type: ignore[no-untyped-def]
    case = open_conversation(client, auth())["id"]
    future = (clock.now + timedelta(hours=1)).isoformat()
    refused = client.post(
        f"/v1/conversations/{case}/calls", json=_call(clock, started_at=future), headers=auth()
    )
    assert "started_at" in error_fields(assert_problem(refused, 422))


def test_a_chat_session_from_first_message_to_receipt(client, auth) -> None:  # type: ignore[no-untyped-def]
    session = f"widget-{uuid4().hex}"
    widget = auth("integration")

    first = client.post(
        f"/v1/chat/sessions/{session}/messages",
        json={"body": "Hi, my order?", "customer_name": "Ann", "email": "ann@example.com"},
        headers=widget,
    )
    second = client.post(
        f"/v1/chat/sessions/{session}/messages", json={"body": "It is #42"}, headers=widget
    )
    assert (first.status_code, second.status_code) == (201, 201), first.get_json()
    case = first.get_json()["id"]
    assert second.get_json()["id"] == case

    reply = client.post(
        f"/v1/conversations/{case}/replies", json={"body": "Looking now"}, headers=auth()
    ).get_json()
    shown = client.get(f"/v1/chat/sessions/{session}", headers=widget).get_json()
    assert shown["conversation_id"] == case and shown["ended"] is False
    assert [(r["id"], r["status"]) for r in shown["replies"]] == [(reply["reply_id"], "queued")]

    receipt = client.post(
        f"/v1/conversations/{case}/replies/{reply['reply_id']}/receipt", headers=widget
    )
    assert receipt.status_code == 200, receipt.get_json()
    shown = client.get(f"/v1/chat/sessions/{session}", headers=widget).get_json()
    assert shown["replies"][0]["status"] == "delivered"

    ended = client.post(f"/v1/chat/sessions/{session}/end", json={}, headers=widget)
    assert ended.status_code == 200
    after = client.post(
        f"/v1/conversations/{case}/replies", json={"body": "Sent by mail"}, headers=auth()
    )
    assert after.status_code == 202 and after.get_json()["channel"] == "email"
    late = client.post(
        f"/v1/chat/sessions/{session}/messages", json={"body": "back"}, headers=widget
    )
    assert_problem(late, 409)


def test_an_unknown_or_malformed_session_is_404(client, auth) -> None:  # type: ignore[no-untyped-def]
    widget = auth("integration")
    assert_problem(client.get(f"/v1/chat/sessions/s-{uuid4().hex}", headers=widget), 404)
    bad = client.get("/v1/chat/sessions/has space", headers=widget)
    assert "session_id" in error_fields(assert_problem(bad, 404))


def test_a_receipt_for_an_x_reply_is_refused(client, auth, flask_app) -> None:  # type: ignore[no-untyped-def]
    case = open_conversation(client, auth())["id"]
    reply = client.post(
        f"/v1/conversations/{case}/replies", json={"body": "hi"}, headers=auth()
    ).get_json()
    head = head_position(flask_app)
    refused = client.post(
        f"/v1/conversations/{case}/replies/{reply['reply_id']}/receipt",
        headers=auth("integration"),
    )
    assert_problem(refused, 409)
    assert head_position(flask_app) == head
    unknown = client.post(
        f"/v1/conversations/{case}/replies/{uuid4()}/receipt", headers=auth("integration")
    )
    assert unknown.status_code == 404


@pytest.mark.parametrize("email", ["ann@example.com junk", "ann@example.com\n", "a@b@c"])
def test_a_chat_email_that_is_no_address_is_a_422(client, auth, email, flask_app) -> None:  # type: ignore[no-untyped-def]
    head = head_position(flask_app)
    refused = client.post(
        f"/v1/chat/sessions/s-{uuid4().hex}/messages",
        json={"body": "hi", "email": email},
        headers=auth("integration"),
    )
    assert "email" in error_fields(assert_problem(refused, 422))
    assert head_position(flask_app) == head
