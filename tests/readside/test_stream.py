"""``GET /v1/stream``: Server-Sent Events of the log and of inbox changes.

The server ends a stream after ``timeout`` seconds; the test client reads it whole.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.app.helpers import assert_problem, error_fields
from tests.readside.support import Sse, open_case, parse_sse, project, reply, stream, write


def log_of(client, headers) -> list[dict[str, Any]]:
    """The whole global log, as ``GET /v1/events`` gives it."""
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        page = client.get("/v1/events", query_string={"after": after}, headers=headers).get_json()
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        after = page["next_cursor"]


def events(messages: list[Sse]) -> list[Sse]:
    return [m for m in messages if m.event == "event"]


def cursor(message: Sse) -> tuple[int, int]:
    """The (events, inbox) positions a message's id names."""
    assert message.id is not None
    events_at, inbox_at = message.id.split("-")
    return int(events_at), int(inbox_at)


def test_the_stream_sends_conversation_and_customer_events_in_log_order(client, auth):
    agent = auth("agent")
    first = open_case(client, agent, "x_public")
    reply(client, agent, first["id"], kind="acknowledgement")
    write(client, agent, f"/v1/conversations/{first['id']}/tags", {"add": ["vip"]})
    logged = log_of(client, auth("supervisor"))

    response = stream(client, agent)
    text = response.get_data(as_text=True)
    messages = parse_sse(text)

    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert text.startswith("retry: ")
    assert messages[0].retry == 2000
    sent = events(messages)
    wanted = [e for e in logged if e["aggregate"] in ("Conversation", "Customer")]
    assert [m.data["position"] for m in sent] == [e["position"] for e in wanted]
    assert [cursor(m)[0] for m in sent] == [m.data["position"] for m in sent]
    assert [m.data["type"] for m in sent] == ["Registered", "Opened", "ReplyQueued", "Tagged"]
    assert [m.data["aggregate"] for m in sent] == ["Customer", *["Conversation"] * 3]
    assert sent[1].data["aggregate_id"] == first["id"]
    assert sent[1].data["data"]["channel"] == "x_public"
    # nothing from the projections yet: no follower ran
    assert not [m for m in messages if m.event == "inbox"]


def test_api_token_events_are_never_streamed(client, auth):
    agent = auth("agent")
    open_case(client, agent, "chat")
    tokens = [
        e["position"] for e in log_of(client, auth("supervisor")) if e["aggregate"] == "ApiToken"
    ]

    messages = parse_sse(stream(client, agent, timeout=0.5).get_data(as_text=True))

    assert len(tokens) >= 5  # one per role, issued by the fixture
    assert not {m.data["position"] for m in events(messages)} & set(tokens)
    assert all(m.data["aggregate"] != "ApiToken" for m in events(messages))
    assert "token_hash" not in str([m.data for m in messages])


def test_after_the_follower_ran_the_stream_also_sends_inbox_rows(client, auth, flask_app):
    agent = auth("agent")
    first = open_case(client, agent, "x_public")
    second = open_case(client, agent, "chat")
    replied = reply(client, agent, first["id"])
    project(flask_app)

    messages = parse_sse(stream(client, agent).get_data(as_text=True))

    rows = [m for m in messages if m.event == "inbox"]
    assert {r.data["conversation_id"] for r in rows} == {first["id"], second["id"]}
    assert [cursor(r)[1] for r in rows] == [r.data["position"] for r in rows]
    by_id = {r.data["conversation_id"]: r.data for r in rows}
    assert by_id[first["id"]]["awaiting"] == "nothing"
    assert by_id[first["id"]]["position"] == replied["position"]
    assert by_id[second["id"]]["awaiting"] == "acknowledgement"
    assert by_id[second["id"]]["due"] == "2026-11-02T09:05:00+00:00"
    assert len(events(messages)) == 5  # two customers, two cases, a reply


def test_a_stream_for_one_conversation_sends_only_its_events_and_row(client, auth, flask_app):
    agent = auth("agent")
    mine = open_case(client, agent, "x_public")
    other = open_case(client, agent, "x_public")
    reply(client, agent, other["id"])
    reply(client, agent, mine["id"])
    project(flask_app)

    messages = parse_sse(
        stream(client, agent, timeout=0.5, conversation_id=mine["id"]).get_data(as_text=True)
    )

    assert [m.data["type"] for m in events(messages)] == ["Opened", "ReplyQueued"]
    assert {m.data["aggregate_id"] for m in events(messages)} == {mine["id"]}
    assert [m.data["conversation_id"] for m in messages if m.event == "inbox"] == [mine["id"]]


def test_a_stream_resumed_with_last_event_id_sends_only_what_came_after(client, auth):
    agent = auth("agent")
    first = open_case(client, agent, "x_public")
    second = open_case(client, agent, "email")
    reply(client, agent, first["id"])
    everything = events(parse_sse(stream(client, agent, timeout=0.5).get_data(as_text=True)))
    assert [m.data["type"] for m in everything] == [
        "Registered",
        "Opened",
        "Registered",
        "Opened",
        "ReplyQueued",
    ]
    resume = everything[1]  # the first case's Opened
    assert resume.id is not None

    resumed = events(
        parse_sse(
            stream(client, {**agent, "Last-Event-ID": resume.id}, timeout=0.5).get_data(
                as_text=True
            )
        )
    )
    position = resume.data["position"]
    after = events(
        parse_sse(stream(client, agent, timeout=0.5, after=position).get_data(as_text=True))
    )

    assert [m.id for m in resumed] == [m.id for m in everything[2:]]
    assert all(m.data["position"] > position for m in resumed)
    assert [cursor(m)[0] for m in after] == [cursor(m)[0] for m in everything[2:]]
    assert {cursor(m)[1] for m in after} == {position}  # `after` starts both feeds there
    assert [m.data["aggregate_id"] for m in resumed][-1] == first["id"]
    assert second["id"] in {m.data["aggregate_id"] for m in resumed}


def test_resuming_sends_the_inbox_rows_that_changed_while_the_console_was_away(
    client, auth, flask_app
):
    """The events cursor runs ahead of the inbox projection; one id per feed resumes both."""
    agent = auth("agent")
    first = open_case(client, agent, "x_public")
    project(flask_app)
    seen = parse_sse(stream(client, agent, timeout=0.5).get_data(as_text=True))
    second = open_case(client, agent, "chat")  # logged, not yet in the inbox
    seen += parse_sse(
        stream(client, {**agent, "Last-Event-ID": seen[-1].id}, timeout=0.5).get_data(as_text=True)
    )
    last = seen[-1].id
    reply(client, agent, first["id"])
    project(flask_app)  # both rows change while the console is away

    resumed = parse_sse(
        stream(client, {**agent, "Last-Event-ID": last}, timeout=0.5).get_data(as_text=True)
    )

    rows = {m.data["conversation_id"]: m.data for m in resumed if m.event == "inbox"}
    assert set(rows) == {first["id"], second["id"]}
    assert rows[first["id"]]["awaiting"] == "nothing"
    assert [m.data["type"] for m in events(resumed)] == ["ReplyQueued"]


def test_a_new_stream_starts_now_not_at_the_start_of_the_log(client, auth, flask_app):
    agent = auth("agent")
    old = open_case(client, agent, "x_public")
    project(flask_app)

    response = client.get("/v1/stream", query_string={"timeout": 1}, headers=agent, buffered=False)
    chunks = iter(response.response)
    assert next(chunks).startswith(b"retry:")  # the stream has taken its starting cursor
    fresh = open_case(client, agent, "chat")
    project(flask_app)
    messages = parse_sse(b"".join(chunks).decode())
    response.close()

    sent = {m.data.get("aggregate_id") for m in events(messages)}
    assert fresh["id"] in sent
    assert old["id"] not in sent and old["customer_id"] not in sent
    rows = [m.data["conversation_id"] for m in messages if m.event == "inbox"]
    assert rows == [fresh["id"]]


def test_a_huge_last_event_id_is_a_422_not_a_500(client, auth):
    for value in ("9" * 5000, "1-" + "9" * 5000, "1-2-3", "1--2"):
        response = client.get(
            "/v1/stream",
            query_string={"timeout": 0.3},
            headers=auth("agent", **{"Last-Event-ID": value}),
        )
        assert error_fields(assert_problem(response, 422)) == {"Last-Event-ID"}


def test_a_last_event_id_that_is_not_a_position_is_a_422(client, auth):
    response = client.get(
        "/v1/stream",
        query_string={"timeout": 0.5},
        headers=auth("agent", **{"Last-Event-ID": "abc"}),
    )

    body = assert_problem(response, 422)
    assert error_fields(body) == {"Last-Event-ID"}


def test_a_last_event_id_error_is_located_in_the_headers(client, auth):
    response = client.get(
        "/v1/stream",
        query_string={"timeout": 0.5},
        headers=auth("agent", **{"Last-Event-ID": "-1"}),
    )

    body = assert_problem(response, 422)
    assert body["errors"] == [
        {"field": "Last-Event-ID", "location": "header", "message": body["errors"][0]["message"]}
    ]


def test_a_last_event_id_of_unicode_digits_is_a_422_not_a_500(client, auth):
    # "²".isdigit() is True, but int("²") raises: the check must be for ASCII digits.
    response = client.get(
        "/v1/stream", query_string={"timeout": 0.5}, headers=auth("agent", **{"Last-Event-ID": "²"})
    )

    assert_problem(response, 422)


def test_stream_parameters_are_checked(client, auth):
    agent = auth("agent")
    for query, field in (
        ({"timeout": 0}, "timeout"),
        ({"timeout": 3601}, "timeout"),
        ({"after": -1}, "after"),
        ({"conversation_id": "nope"}, "conversation_id"),
        ({"since": 3}, "since"),
    ):
        body = assert_problem(client.get("/v1/stream", query_string=query, headers=agent), 422)
        assert error_fields(body) == {field}
    assert_problem(client.get("/v1/stream"), 401)


def test_a_stream_start_past_any_possible_position_is_refused_before_streaming(client, auth):
    # /v1/events bounds `after` at 2**63 - 1, the largest position a store can hold.
    agent = auth("agent")
    by_query = client.get(
        "/v1/stream", query_string={"timeout": 0.3, "after": 2**63}, headers=agent
    )
    assert error_fields(assert_problem(by_query, 422)) == {"after"}

    by_header = client.get(
        "/v1/stream",
        query_string={"timeout": 0.3},
        headers={**agent, "Last-Event-ID": str(2**63)},
    )
    assert error_fields(assert_problem(by_header, 422)) == {"Last-Event-ID"}


def test_streams_past_the_per_process_cap_are_refused_with_retry_after(store):
    from app import create_app

    capped = create_app(
        {"TESTING": True},
        environ={**store, "PARLEY_CREATE_TABLES": "yes", "PARLEY_MAX_STREAMS": "1"},
    )
    try:
        with capped.app_context():
            from app.state import application

            application().issue_token(name="cap", role="agent", token="cap-token", actor="t")
        headers = {"Authorization": "Bearer cap-token"}
        client = capped.test_client()
        first = client.get("/v1/stream?timeout=5", headers=headers, buffered=False)
        assert first.status_code == 200
        second = client.get("/v1/stream?timeout=0.2", headers=headers)
        assert second.status_code == 503
        assert second.headers["Retry-After"] == "5"
        first.close()  # the client goes away before reading anything
        third = client.get("/v1/stream?timeout=0.2", headers=headers)
        assert third.status_code == 200
    finally:
        capped.extensions["parley.application"].close()
        capped.extensions["parley.read_store"].close()


def test_a_stream_ends_soon_after_its_token_is_revoked(store, clock):
    import time

    from tests.app.helpers import another_app

    with another_app(store, clock, PARLEY_STREAM_TOKEN_CHECK_SECONDS="0.2") as served:
        app = served.extensions["parley.application"]
        issued = app.issue_token(name="leaver", role="agent", token="leaver-token", actor="t")
        client = served.test_client()
        headers = {"Authorization": "Bearer leaver-token"}
        response = client.get(
            "/v1/stream", query_string={"timeout": 30}, headers=headers, buffered=False
        )
        chunks = iter(response.response)
        assert next(chunks).startswith(b"retry:")
        app.revoke_token(str(issued.id), actor="ops:test")
        started = time.monotonic()
        rest = b"".join(chunks)  # the server ends the stream by itself
        elapsed = time.monotonic() - started
        response.close()
        again = client.get("/v1/stream", query_string={"timeout": 1}, headers=headers)

    assert elapsed < 5, elapsed
    assert b"event:" not in rest
    assert again.status_code == 401


def test_stopping_the_server_ends_open_streams_at_once(store, clock):
    import threading
    import time

    from tests.app.helpers import another_app

    with another_app(store, clock) as served:
        app = served.extensions["parley.application"]
        app.issue_token(name="stayer", role="agent", token="stayer-token", actor="t")
        client = served.test_client()
        response = client.get(
            "/v1/stream",
            query_string={"timeout": 60},
            headers={"Authorization": "Bearer stayer-token"},
            buffered=False,
        )
        chunks = iter(response.response)
        next(chunks)
        streams = served.extensions["parley.streams"]
        threading.Timer(0.3, streams.shut_down).start()
        started = time.monotonic()
        b"".join(chunks)
        elapsed = time.monotonic() - started
        response.close()
        refused = client.get(
            "/v1/stream",
            query_string={"timeout": 1},
            headers={"Authorization": "Bearer stayer-token"},
        )

    assert elapsed < 3, elapsed
    assert refused.status_code == 503
    assert streams.open == 0


def test_a_breach_reaches_the_stream_as_an_event_and_as_the_inbox_row_it_changed(
    client, auth, clock, flask_app
):  # type: ignore[no-untyped-def]
    policy = {"name": "API in a minute", "conditions": {"channels": ["api"]},
              "targets": [{"metric": "first_response", "seconds": 60}]}  # fmt: skip
    write(client, auth("supervisor"), "/v1/sla/policies", policy, 201)
    agent = auth("agent")
    case = open_case(client, agent, "api")["id"]
    clock.advance(seconds=50)
    app = flask_app.extensions["parley.application"]
    assert app.record_sla_alarms(uuid.UUID(case)) == (0, 1)
    clock.advance(seconds=20)
    assert app.record_sla_alarms(uuid.UUID(case)) == (1, 0)
    project(flask_app)

    messages = parse_sse(stream(client, agent, conversation_id=case).get_data(as_text=True))

    sent = [m.data for m in events(messages)]
    assert [e["type"] for e in sent] == ["Opened", "SlaAtRisk", "SlaBreached"]
    assert sent[2]["data"]["metric"] == "first_response"
    assert sent[2]["data"]["deadline"] is not None
    (row,) = [m.data for m in messages if m.event == "inbox"]
    assert row["sla"]["state"] == "breached" and row["sla_breached"] is True
