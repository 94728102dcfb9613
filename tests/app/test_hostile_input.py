"""What a fuzzer and a hostile client send gets a clear 4xx, in plain words, and changes nothing."""

from __future__ import annotations

import base64
import io
import json

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from tests.app.helpers import (
    assert_problem,
    error_fields,
    head_position,
    open_conversation,
    tweet,
)


@pytest.fixture
def cid(client, auth):
    return open_conversation(client, auth("agent"))["id"]


def post_raw(client, path: str, data: bytes | str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post(path, data=data, headers={**headers, "Content-Type": "application/json"})


@pytest.mark.parametrize(
    "body",
    [
        '{"body": "hi", "kind": ' + "9" * 5000 + "}",
        '{"body": "hi", "extra": [' + "1" * 4301 + "]}",
    ],
)
def test_a_number_too_long_to_read_is_a_400_not_a_500(client, auth, flask_app, cid, body):
    head = head_position(flask_app)

    response = post_raw(client, f"/v1/conversations/{cid}/replies", body, auth("agent"))

    problem = assert_problem(response, 400)
    assert "number" in problem["detail"]
    assert head_position(flask_app) == head


def test_malformed_json_says_so_in_plain_words(client, auth, cid):
    response = post_raw(client, f"/v1/conversations/{cid}/notes", '{"body": "x",}', auth("agent"))

    problem = assert_problem(response, 400)
    assert problem["detail"].startswith("_body: the body is not valid JSON")
    assert "line 1" in problem["detail"]
    assert error_fields(problem) == {"_body"}


def test_a_body_that_is_not_utf8_says_so(client, auth, cid):
    response = post_raw(client, f"/v1/conversations/{cid}/notes", b'{"body": "\xff"}', auth())

    assert "not UTF-8" in assert_problem(response, 400)["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/conversations/not-a-uuid",
        "/v1/conversations/not-a-uuid/events",
        "/v1/conversations/12345/sla",
        "/v1/customers/nope",
    ],
)
def test_a_malformed_id_in_a_path_is_a_problem_naming_the_parameter(client, auth, path):
    response = client.get(path, headers=auth("supervisor"))

    problem = assert_problem(response, 404)
    [error] = problem["errors"]
    assert error["location"] == "path"
    assert error["field"] in ("conversation_id", "customer_id")
    assert "must be a UUID" in error["message"]
    assert "spelling" not in response.get_data(as_text=True)


def test_a_malformed_id_in_a_write_path_writes_nothing(client, auth, flask_app):
    head = head_position(flask_app)

    response = client.post(
        "/v1/conversations/abc/replies", json={"body": "hi"}, headers=auth("agent")
    )

    assert error_fields(assert_problem(response, 404)) == {"conversation_id"}
    assert head_position(flask_app) == head


def test_a_403_says_which_roles_may_not_internal_permission_names(client, auth):
    response = client.get("/v1/events", headers=auth("agent"))

    problem = assert_problem(response, 403)
    assert problem["allowed_roles"] == ["supervisor", "auditor", "ops"]
    assert "supervisor, auditor or ops" in problem["detail"]
    assert "read_events" not in problem["detail"]


def _chunked(app, path: str, body: bytes, token: str) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
    """A request as gunicorn hands over a chunked body: no Content-Length at all."""
    environ = EnvironBuilder(
        path=path,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Transfer-Encoding": "chunked",
        },
    ).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["wsgi.input_terminated"] = True
    answer, status, _ = run_wsgi_app(app.wsgi_app, environ)
    return int(status.split()[0]), b"".join(answer)


def test_a_chunked_body_is_read_and_one_over_the_limit_is_a_413(store, clock):
    from tests.app.helpers import another_app

    with another_app(store, clock, PARLEY_MAX_BODY_BYTES="1000") as small:
        small.extensions["parley.application"].issue_token(
            name="c", role="integration", token="chunky", actor="t"
        )
        opening = json.dumps(tweet()).encode()
        fits = _chunked(small, "/v1/conversations", opening, "chunky")
        over = _chunked(small, "/v1/conversations", json.dumps(tweet(body="x" * 5000)).encode(),
                        "chunky")  # fmt: skip

    assert fits[0] == 201, fits
    assert over[0] == 413, over
    assert json.loads(over[1])["status"] == 413


@pytest.mark.parametrize(
    "published_at",
    [
        "0001-01-01T00:00:00Z",
        "2026-10-01T00:00:00Z",
        "2026-11-02T09:06:00Z",
        "9999-12-31T23:59:59Z",
    ],
)
def test_a_published_at_far_from_now_is_refused_and_nothing_is_written(
    client, auth, flask_app, published_at
):
    """The clock of the tests reads 2026-11-02T09:00Z: a window of 7 days before, 5 minutes after."""
    head = head_position(flask_app)

    response = client.post(
        "/v1/conversations", json=tweet(published_at=published_at), headers=auth("integration")
    )

    problem = assert_problem(response, 422)
    assert error_fields(problem) == {"published_at"}
    assert head_position(flask_app) == head


def test_a_published_at_within_the_window_is_kept(client, auth):
    opened = open_conversation(client, auth("integration"), published_at="2026-10-27T09:00:00Z")

    conversation = client.get(f"/v1/conversations/{opened['id']}", headers=auth()).get_json()
    assert conversation["messages"][0]["published_at"] == "2026-10-27T09:00:00+00:00"


def test_a_time_without_an_offset_is_read_as_utc(client, auth):
    opened = open_conversation(client, auth("integration"), published_at="2026-11-02T08:15:00")

    conversation = client.get(f"/v1/conversations/{opened['id']}", headers=auth()).get_json()
    assert conversation["messages"][0]["published_at"] == "2026-11-02T08:15:00+00:00"


@pytest.mark.parametrize(
    "cursor",
    [
        base64.urlsafe_b64encode(json.dumps(["\ud800", "a", "b"]).encode()).decode().rstrip("="),
        base64.urlsafe_b64encode(b'["a","b"]').decode(),
        "////",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_tampered_inbox_cursor_is_a_422_in_plain_words(client, auth, cursor):
    response = client.get("/v1/inbox", query_string={"cursor": cursor}, headers=auth())

    problem = assert_problem(response, 422)
    assert problem["errors"] == [
        {
            "field": "cursor",
            "location": "query",
            "message": "not a cursor of this inbox: pass a page's next_cursor as it is",
        }
    ]
    assert "codec" not in problem["detail"] and "utf" not in problem["detail"].lower()


def test_the_default_inbox_view_can_be_asked_for_by_name(client, auth, flask_app):
    from tests.readside.support import project

    agent = auth("agent")
    first = open_conversation(client, agent)["id"]
    resolved = open_conversation(client, agent)["id"]
    client.post(f"/v1/conversations/{resolved}/resolve", json={}, headers=agent)
    project(flask_app)

    default = client.get("/v1/inbox", headers=agent).get_json()
    named = client.get("/v1/inbox?status=open,snoozed", headers=agent).get_json()
    every = client.get("/v1/inbox?status=open,snoozed,resolved", headers=agent).get_json()

    assert [i["conversation_id"] for i in named["items"]] == [first]
    assert named["items"] == default["items"]
    assert {i["conversation_id"] for i in every["items"]} == {first, resolved}
    assert default["counts"] == {"open": 1, "snoozed": 0, "resolved": 1}


def test_a_method_a_route_lacks_is_405_whatever_the_body(client, auth) -> None:  # type: ignore[no-untyped-def]
    for path in ("/webhooks/email", "/v1/conversations"):
        response = client.put(
            path, data=b"\x00\xff", content_type="message/rfc822", headers=auth("integration")
        )
        assert response.status_code == 405, (path, response.status_code)
