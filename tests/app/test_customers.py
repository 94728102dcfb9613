"""Customers over HTTP: identities belong to one customer; merges join and unmerges part."""

from __future__ import annotations

import uuid

from tests.app.helpers import assert_problem, error_fields, head_position, new_external_id


def register(client, headers, *identities, name="Ann"):
    response = client.post(
        "/v1/customers",
        json={"name": name, "identities": [dict(i) for i in identities]},
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    return response


def lookup(client, headers, kind, value):
    return client.get(
        "/v1/customers/lookup", query_string={"kind": kind, "value": value}, headers=headers
    )


def test_a_customer_registered_with_two_identities_is_found_by_either(client, auth):
    agent = auth("agent")
    x_id = new_external_id()
    response = register(
        client,
        agent,
        {"kind": "x", "value": x_id, "handle": "ann"},
        {"kind": "email", "value": "Ann@Example.com"},
    )
    body = response.get_json()
    cid = body["id"]

    assert isinstance(body["position"], int)
    assert response.headers["Location"].endswith(f"/v1/customers/{cid}")
    customer = client.get(f"/v1/customers/{cid}", headers=agent)
    assert customer.status_code == 200
    assert customer.get_json()["name"] == "Ann"
    assert customer.headers["ETag"] == f'"{customer.get_json()["version"]}"'
    assert {i["kind"] for i in customer.get_json()["identities"]} == {"x", "email"}
    assert lookup(client, agent, "x", x_id).get_json()["id"] == cid
    # e-mail addresses are case-insensitive
    assert lookup(client, agent, "email", "ann@example.COM").get_json()["id"] == cid


def test_an_identity_belongs_to_one_customer_only(client, auth, flask_app):
    agent = auth("agent")
    register(client, agent, {"kind": "email", "value": "ann@example.com"})
    head = head_position(flask_app)

    response = client.post(
        "/v1/customers",
        json={
            "identities": [
                {"kind": "phone", "value": "+44 20 7946 0000"},
                {"kind": "email", "value": "ann@example.com"},
            ]
        },
        headers=agent,
    )

    assert_problem(response, 409)
    assert head_position(flask_app) == head
    assert lookup(client, agent, "phone", "+442079460000").status_code == 404


def test_adding_an_identity_makes_the_customer_findable_by_it(client, auth):
    agent = auth("agent")
    cid = register(client, agent, {"kind": "email", "value": "ann@example.com"}).get_json()["id"]

    added = client.post(
        f"/v1/customers/{cid}/identities",
        json={"kind": "phone", "value": "+1 555 0100"},
        headers=agent,
    )

    assert added.status_code == 200
    assert lookup(client, agent, "phone", "+15550100").get_json()["id"] == cid


def test_merging_a_into_b_makes_as_identities_find_b_and_unmerging_restores_a(client, auth):
    agent, supervisor = auth("agent"), auth("supervisor")
    a = register(client, agent, {"kind": "email", "value": "ann@example.com"}).get_json()["id"]
    b = register(client, agent, {"kind": "x", "value": new_external_id()}).get_json()["id"]

    merged = client.post(f"/v1/customers/{a}/merge", json={"into": b}, headers=supervisor)

    assert merged.status_code == 200
    assert merged.get_json()["id"] == b
    assert lookup(client, agent, "email", "ann@example.com").get_json()["id"] == b
    b_view = client.get(f"/v1/customers/{b}", headers=agent).get_json()
    assert b_view["absorbed"] == [a]
    assert {i["kind"] for i in b_view["identities"]} == {"x", "email"}
    assert client.get(f"/v1/customers/{a}", headers=agent).get_json()["merged_into"] == b

    unmerged = client.post(f"/v1/customers/{a}/unmerge", headers=supervisor)

    assert unmerged.status_code == 200
    assert lookup(client, agent, "email", "ann@example.com").get_json()["id"] == a
    assert client.get(f"/v1/customers/{a}", headers=agent).get_json()["merged_into"] is None
    b_view = client.get(f"/v1/customers/{b}", headers=agent).get_json()
    assert b_view["absorbed"] == []
    assert {i["kind"] for i in b_view["identities"]} == {"x"}


def test_merging_a_customer_into_itself_is_refused(client, auth, flask_app):
    a = register(client, auth(), {"kind": "email", "value": "a@example.com"}).get_json()["id"]
    head = head_position(flask_app)

    response = client.post(f"/v1/customers/{a}/merge", json={"into": a}, headers=auth("supervisor"))

    assert_problem(response, 409)
    assert head_position(flask_app) == head


def test_unmerging_a_customer_that_was_never_merged_is_refused(client, auth):
    a = register(client, auth(), {"kind": "email", "value": "a@example.com"}).get_json()["id"]

    assert_problem(client.post(f"/v1/customers/{a}/unmerge", headers=auth("supervisor")), 409)


def test_merging_into_an_unknown_customer_is_a_404(client, auth):
    a = register(client, auth(), {"kind": "email", "value": "a@example.com"}).get_json()["id"]

    response = client.post(
        f"/v1/customers/{a}/merge", json={"into": str(uuid.uuid4())}, headers=auth("supervisor")
    )

    assert_problem(response, 404)


def test_an_unknown_customer_is_a_404(client, auth):
    assert_problem(client.get(f"/v1/customers/{uuid.uuid4()}", headers=auth()), 404)


def test_looking_up_an_identity_nobody_has_is_a_404(client, auth):
    assert_problem(lookup(client, auth(), "email", "nobody@example.com"), 404)


def test_a_lookup_with_an_unknown_kind_is_a_422_naming_kind(client, auth):
    response = lookup(client, auth(), "fax", "123")

    problem = assert_problem(response, 422)
    assert "kind" in error_fields(problem)


def test_registering_without_identities_is_a_422_naming_identities(client, auth, flask_app):
    head = head_position(flask_app)

    response = client.post("/v1/customers", json={"name": "Ann", "identities": []}, headers=auth())

    assert "identities" in error_fields(assert_problem(response, 422))
    assert head_position(flask_app) == head


def test_a_bad_identity_in_a_list_is_named_by_its_index(client, auth):
    response = client.post(
        "/v1/customers",
        json={"identities": [{"kind": "email", "value": "a@example.com"}, {"kind": "pigeon"}]},
        headers=auth(),
    )

    assert {"identities.1.kind", "identities.1.value"} <= error_fields(
        assert_problem(response, 422)
    )
