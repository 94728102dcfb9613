"""Read models as of a moment, replayed from the log: the inbox and a customer's history
then equal what the live read models showed at that moment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.app.helpers import error_fields
from tests.readside.support import message, open_case, project, reply, write


def _inbox(client, auth, **query: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = client.get("/v1/inbox", query_string=query, headers=auth("auditor"))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    body.pop("projection")
    return body  # type: ignore[no-any-return]


def test_the_inbox_as_of_a_moment_equals_the_live_inbox_then(  # type: ignore[no-untyped-def]
    client, auth, clock, flask_app
) -> None:
    agent = auth("agent")
    first = open_case(client, agent, "x_public")
    clock.advance(minutes=10)
    second = open_case(client, agent, "email")
    reply(client, agent, first["id"], body="On it")
    clock.advance(minutes=5)
    project(flask_app)
    moment = clock.now
    every = {"status": "open,snoozed,resolved"}
    live_then = (_inbox(client, auth), _inbox(client, auth, **every))

    clock.advance(minutes=1)  # after the moment: all of this must not show
    write(client, agent, f"/v1/conversations/{second['id']}/resolve", {"resolution": "answered"})
    message(client, agent, first["id"], "x_public")
    open_case(client, agent, "chat")
    project(flask_app)
    assert _inbox(client, auth, **every) != live_then[1]

    replayed = client.get(
        "/v1/inbox", query_string={"as_of": moment.isoformat(), **every}, headers=auth("auditor")
    )
    meta = replayed.get_json()["projection"]
    assert (meta["name"], meta["as_of"]) == ("inbox", moment.isoformat())
    as_of = (_inbox(client, auth, as_of=moment.isoformat()),
             _inbox(client, auth, as_of=moment.isoformat(), **every))  # fmt: skip
    assert as_of == live_then


def test_a_customers_history_as_of_a_moment(client, auth, clock, flask_app) -> None:  # type: ignore[no-untyped-def]
    agent = auth("agent")
    case = open_case(client, agent, "x_public")
    clock.advance(minutes=2)
    moment = clock.now
    clock.advance(minutes=1)
    reply(client, agent, case["id"], body="Hello")
    project(flask_app)
    path = f"/v1/customers/{case['customer_id']}/history"

    now = client.get(path, headers=auth("auditor")).get_json()["items"]
    then = client.get(
        path, query_string={"as_of": moment.isoformat()}, headers=auth("auditor")
    ).get_json()["items"]

    assert [i["kind"] for i in then] == [i["kind"] for i in now][: len(then)]
    assert len(then) == len(now) - 1 and now[-1]["kind"].startswith("reply_queued")


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01T00:00:00Z"])
def test_a_malformed_as_of_is_a_422(client, auth, value) -> None:  # type: ignore[no-untyped-def]
    refused = client.get("/v1/inbox", query_string={"as_of": value}, headers=auth("auditor"))
    assert refused.status_code == 422 and "as_of" in error_fields(refused.get_json())


def test_before_anything_happened_the_inbox_was_empty(client, auth, clock) -> None:  # type: ignore[no-untyped-def]
    open_case(client, auth("agent"), "x_public")
    early = (clock.now - timedelta(days=1)).isoformat()
    body = _inbox(client, auth, as_of=early)
    assert body["items"] == []
