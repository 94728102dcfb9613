"""``GET /v1/stream``: Server-Sent Events of the log and of inbox changes.

The server ends a stream after ``timeout`` seconds; the test client reads it whole.
"""

from __future__ import annotations

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
    assert [m.id for m in sent] == [e["position"] for e in wanted]
    assert [m.id for m in sent] == sorted({m.id for m in sent})  # type: ignore[type-var]
    assert [m.data["position"] for m in sent] == [m.id for m in sent]
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
    assert not {m.id for m in messages} & set(tokens)
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
    assert all(r.id is None for r in rows)
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
    resume = everything[1].id  # the first case's Opened
    assert resume is not None

    resumed = events(
        parse_sse(
            stream(client, {**agent, "Last-Event-ID": str(resume)}, timeout=0.5).get_data(
                as_text=True
            )
        )
    )
    after = events(
        parse_sse(stream(client, agent, timeout=0.5, after=resume).get_data(as_text=True))
    )

    assert [m.id for m in resumed] == [m.id for m in everything[2:]]
    assert all(m.id > resume for m in resumed)  # type: ignore[operator]
    assert [m.id for m in after] == [m.id for m in everything[2:]]
    assert [m.data["aggregate_id"] for m in resumed][-1] == first["id"]
    assert second["id"] in {m.data["aggregate_id"] for m in resumed}


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
