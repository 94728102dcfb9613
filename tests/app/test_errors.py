"""Bad input gets a clear problem document naming the field, and changes nothing."""

from __future__ import annotations

import uuid

import pytest

from tests.app.helpers import (
    another_app,
    assert_problem,
    error_fields,
    head_position,
    open_conversation,
    tweet,
)


@pytest.fixture
def cid(client, auth):
    return open_conversation(client, auth("agent"))["id"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"body": None}, "body"),
        ({"body": ""}, "body"),
        ({"channel": "fax"}, "channel"),
        ({"customer_id": "not-a-uuid", "identity": None}, "customer_id"),
        ({"identity": {"kind": "pigeon", "value": "x"}}, "identity.kind"),
        ({"identity": {"kind": "x"}}, "identity.value"),
        ({"published_at": "last tuesday"}, "published_at"),
        ({"external_id": ""}, "external_id"),
    ],
)
def test_an_invalid_opening_is_a_422_naming_the_field(client, auth, flask_app, change, field):
    body = {k: v for k, v in {**tweet(), **change}.items() if v is not None or k == "body"}
    head = head_position(flask_app)

    response = client.post("/v1/conversations", json=body, headers=auth("agent"))

    problem = assert_problem(response, 422)
    assert field in error_fields(problem), problem
    assert all(e["location"] == "json" for e in problem["errors"])
    assert field in problem["detail"]
    assert head_position(flask_app) == head


def test_an_opening_without_body_field_names_body_as_missing(client, auth, flask_app):
    contact = tweet()
    del contact["body"]
    head = head_position(flask_app)

    response = client.post("/v1/conversations", json=contact, headers=auth("agent"))

    problem = assert_problem(response, 422)
    assert error_fields(problem) == {"body"}
    assert head_position(flask_app) == head


def test_an_opening_without_any_request_body_names_every_required_field(client, auth, flask_app):
    head = head_position(flask_app)

    response = client.post("/v1/conversations", headers=auth("agent"))

    problem = assert_problem(response, 422)
    assert {"channel", "body"} <= error_fields(problem)
    assert head_position(flask_app) == head


def test_an_opening_naming_no_customer_is_a_422_naming_customer_id(client, auth):
    response = client.post(
        "/v1/conversations", json={"channel": "chat", "body": "hi"}, headers=auth("agent")
    )

    assert "customer_id" in error_fields(assert_problem(response, 422))


def test_an_opening_for_an_unknown_customer_id_is_a_404(client, auth, flask_app):
    head = head_position(flask_app)

    response = client.post(
        "/v1/conversations",
        json={"channel": "chat", "body": "hi", "customer_id": str(uuid.uuid4())},
        headers=auth("agent"),
    )

    assert_problem(response, 404)
    assert head_position(flask_app) == head


def test_an_x_opening_for_a_customer_with_only_an_email_names_the_channel(client, auth):
    agent = auth("agent")
    customer = client.post(
        "/v1/customers",
        json={"identities": [{"kind": "email", "value": "ann@example.com"}]},
        headers=agent,
    ).get_json()

    response = client.post(
        "/v1/conversations",
        json={"channel": "x_public", "body": "hi", "customer_id": customer["id"]},
        headers=agent,
    )

    assert "channel" in error_fields(assert_problem(response, 422))


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("replies", {"body": "hi", "kind": "shout"}, "kind"),
        ("replies", {"body": "hi", "channel": "email"}, "channel"),
        ("replies", {"body": "x" * 20_001}, "body"),
        ("replies", {}, "body"),
        ("channel-switches", {"to": "telegram"}, "to"),
        ("channel-switches", {"to": "email", "identity": {"kind": "email"}}, "identity.value"),
        ("assignment", {}, "agent"),
        ("assignment", {"agent": ""}, "agent"),
        ("notes", {"body": 42}, "body"),
        ("priority", {"priority": "whenever"}, "priority"),
        ("resolve", {"resolution": "ignored"}, "resolution"),
        ("snooze", {"until": "soon"}, "until"),
        ("tags", {"add": "not-a-list"}, "add"),
        ("messages", {"channel": "x_dm"}, "body"),
    ],
)
def test_an_invalid_command_is_a_422_naming_the_field(
    client, auth, flask_app, cid, path, body, field
):
    head = head_position(flask_app)

    response = client.post(f"/v1/conversations/{cid}/{path}", json=body, headers=auth("agent"))

    assert field in error_fields(assert_problem(response, 422))
    assert head_position(flask_app) == head


def test_snoozing_until_a_past_moment_is_a_422_naming_until(client, auth, cid, flask_app):
    head = head_position(flask_app)

    response = client.post(
        f"/v1/conversations/{cid}/snooze",
        json={"until": "2020-01-01T00:00:00Z"},
        headers=auth("agent"),
    )

    assert "until" in error_fields(assert_problem(response, 422))
    assert head_position(flask_app) == head


@pytest.mark.parametrize("as_of", ["yesterday", "2026-13-45T99:00:00Z", ""])
def test_an_unreadable_as_of_is_a_422_naming_it(client, auth, cid, as_of):
    response = client.get(
        f"/v1/conversations/{cid}", query_string={"as_of": as_of}, headers=auth("agent")
    )

    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == "as_of"
    assert problem["errors"][0]["location"] == "query"


def test_an_as_of_without_an_offset_is_read_as_utc(client, auth, cid, clock):
    naive = clock().replace(tzinfo=None).isoformat()

    response = client.get(
        f"/v1/conversations/{cid}", query_string={"as_of": naive}, headers=auth("agent")
    )

    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'


def test_an_unknown_query_parameter_is_a_422_naming_it(client, auth, cid):
    response = client.get(
        f"/v1/conversations/{cid}", query_string={"asof": "2026-01-01"}, headers=auth("agent")
    )

    assert "asof" in error_fields(assert_problem(response, 422))


@pytest.mark.parametrize(("after", "limit"), [(-1, 10), (0, 0), (0, 5000), ("x", 10)])
def test_bad_paging_arguments_are_a_422(client, auth, cid, after, limit):
    response = client.get(
        f"/v1/conversations/{cid}/events",
        query_string={"after": after, "limit": limit},
        headers=auth("agent"),
    )

    assert_problem(response, 422)


def test_an_unknown_conversation_is_a_404_for_reads_and_writes(client, auth, flask_app):
    missing = uuid.uuid4()
    head = head_position(flask_app)

    for response in [
        client.get(f"/v1/conversations/{missing}", headers=auth("agent")),
        client.get(f"/v1/conversations/{missing}/events", headers=auth("agent")),
        client.post(f"/v1/conversations/{missing}/notes", json={"body": "x"}, headers=auth()),
        client.post(f"/v1/conversations/{missing}/replies", json={"body": "x"}, headers=auth()),
        client.post(f"/v1/conversations/{missing}/resolve", json={}, headers=auth()),
        client.post(
            f"/v1/conversations/{missing}/messages",
            json={"channel": "chat", "body": "x"},
            headers=auth(),
        ),
    ]:
        assert_problem(response, 404)
    assert head_position(flask_app) == head


def test_a_customer_id_is_not_a_conversation(client, auth):
    opened = open_conversation(client, auth("agent"))

    response = client.get(f"/v1/conversations/{opened['customer_id']}", headers=auth("agent"))

    assert_problem(response, 404)


def test_a_malformed_uuid_in_the_path_is_a_404_problem(client, auth):
    response = client.get("/v1/conversations/not-a-uuid", headers=auth("agent"))

    assert_problem(response, 404)


def test_a_body_that_is_not_json_is_a_415(client, auth, cid, flask_app):
    head = head_position(flask_app)

    response = client.post(
        f"/v1/conversations/{cid}/notes",
        data="body=hello",
        content_type="text/plain",
        headers=auth("agent"),
    )

    assert "application/json" in assert_problem(response, 415)["detail"]
    assert head_position(flask_app) == head


def test_a_form_post_is_a_415(client, auth, flask_app):
    head = head_position(flask_app)

    response = client.post(
        "/v1/conversations", data={"channel": "chat", "body": "x"}, headers=auth("agent")
    )

    assert_problem(response, 415)
    assert head_position(flask_app) == head


def test_invalid_json_is_a_400_problem(client, auth, cid, flask_app):
    head = head_position(flask_app)

    response = client.post(
        f"/v1/conversations/{cid}/notes",
        data='{"body": "unterminated',
        content_type="application/json",
        headers=auth("agent"),
    )

    assert_problem(response, 400)
    assert head_position(flask_app) == head


def test_a_json_array_instead_of_an_object_is_a_422(client, auth, cid, flask_app):
    head = head_position(flask_app)

    response = client.post(
        f"/v1/conversations/{cid}/notes", json=["body", "hello"], headers=auth("agent")
    )

    assert_problem(response, 422)
    assert head_position(flask_app) == head


def test_a_body_over_the_size_limit_is_a_413(store, auth, tokens):
    with another_app(store, PARLEY_MAX_BODY_BYTES="1000") as small:
        client = small.test_client()
        head = head_position(small)

        response = client.post(
            "/v1/conversations", json=tweet(body="x" * 5000), headers=auth("agent")
        )

        assert_problem(response, 413)
        assert head_position(small) == head
        fits = client.post("/v1/conversations", json=tweet(), headers=auth("agent"))
        assert fits.status_code == 201


def test_a_wrong_method_is_a_405_problem_with_allow(client, auth, cid):
    response = client.delete(f"/v1/conversations/{cid}", headers=auth("agent"))

    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_get_on_a_write_only_route_is_a_405(client, auth, cid):
    response = client.get(f"/v1/conversations/{cid}/replies", headers=auth("agent"))

    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize("path", ["/v1/nothing-here", "/v2/conversations", "/"])
def test_an_unknown_route_is_a_404_problem(client, auth, path):
    assert_problem(client.get(path, headers=auth("agent")), 404)


# ---------------------------------------------------------------------- inputs that must not crash
@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00"])
def test_an_as_of_outside_the_representable_range_in_utc_is_a_422(client, auth, cid, moment):
    response = client.get(
        f"/v1/conversations/{cid}", query_string={"as_of": moment}, headers=auth("agent")
    )

    assert "as_of" in error_fields(assert_problem(response, 422))


def test_a_published_at_outside_the_representable_range_in_utc_is_a_422(client, auth, flask_app):
    head = head_position(flask_app)

    response = client.post(
        "/v1/conversations",
        json=tweet(published_at="9999-12-31T23:59:59-05:00"),
        headers=auth("agent"),
    )

    assert "published_at" in error_fields(assert_problem(response, 422))
    assert head_position(flask_app) == head


@pytest.mark.parametrize("path", ["/v1/events", "/v1/conversations/{cid}/events"])
def test_a_cursor_beyond_64_bits_is_a_422_not_a_crash(client, auth, cid, path):
    response = client.get(
        path.format(cid=cid), query_string={"after": 2**63}, headers=auth("auditor")
    )

    assert "after" in error_fields(assert_problem(response, 422))


def test_json_nested_too_deeply_is_a_400(client, auth, cid, flask_app):
    head = head_position(flask_app)

    response = client.post(
        f"/v1/conversations/{cid}/notes",
        data="[" * 100_000 + "]" * 100_000,
        content_type="application/json",
        headers=auth("agent"),
    )

    assert_problem(response, 400)
    assert head_position(flask_app) == head


def test_text_with_a_lone_surrogate_is_refused_and_writes_nothing(client, auth, cid, flask_app):
    head = head_position(flask_app)

    response = client.post(
        f"/v1/conversations/{cid}/notes",
        data='{"body": "broken \\ud800 text"}',
        content_type="application/json",
        headers=auth("agent"),
    )

    assert response.status_code in (400, 422), response.get_data(as_text=True)
    assert_problem(response, response.status_code)
    assert head_position(flask_app) == head


def test_a_blank_identity_value_is_a_422_naming_it(client, auth, flask_app):
    head = head_position(flask_app)

    response = client.post(
        "/v1/customers",
        json={"identities": [{"kind": "email", "value": "   "}]},
        headers=auth("agent"),
    )

    assert "identities.0.value" in error_fields(assert_problem(response, 422))
    assert head_position(flask_app) == head
