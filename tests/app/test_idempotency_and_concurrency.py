"""Retries and races: an Idempotency-Key replays the first answer; If-Match lets one writer win."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.app.helpers import (
    another_app,
    assert_problem,
    error_fields,
    event_types,
    head_position,
    open_conversation,
    tweet,
)

RACERS = 8


# ---------------------------------------------------------------------- Idempotency-Key
def test_a_retried_reply_with_the_same_key_is_queued_once(client, auth, flask_app):
    headers = auth("agent", **{"Idempotency-Key": "reply-1"})
    cid = open_conversation(client, auth("agent"))["id"]
    reply = {"body": "On it", "kind": "acknowledgement"}

    first = client.post(f"/v1/conversations/{cid}/replies", json=reply, headers=headers)
    head = head_position(flask_app)
    again = client.post(f"/v1/conversations/{cid}/replies", json=reply, headers=headers)

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.get_json()["reply_id"] == first.get_json()["reply_id"]
    assert again.get_json()["version"] == first.get_json()["version"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.get_json()["position"] >= first.get_json()["position"]
    assert head_position(flask_app) == head
    assert event_types(client, auth("agent"), cid).count("ReplyQueued") == 1


def test_a_retried_opening_with_the_same_key_replays_its_201(client, auth, flask_app):
    headers = auth("integration", **{"Idempotency-Key": "open-1"})
    contact = tweet(external_id=None)

    first = client.post("/v1/conversations", json=contact, headers=headers)
    head = head_position(flask_app)
    again = client.post("/v1/conversations", json=contact, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["created"] is True
    assert again.headers["Idempotent-Replayed"] == "true"
    assert head_position(flask_app) == head
    assert again.headers["Location"] == first.headers["Location"]


def test_the_same_key_with_a_different_body_is_a_422_naming_the_key(client, auth, flask_app):
    headers = auth("agent", **{"Idempotency-Key": "reply-2"})
    cid = open_conversation(client, auth("agent"))["id"]
    client.post(f"/v1/conversations/{cid}/replies", json={"body": "one"}, headers=headers)
    head = head_position(flask_app)

    response = client.post(
        f"/v1/conversations/{cid}/replies", json={"body": "two"}, headers=headers
    )

    problem = assert_problem(response, 422)
    assert "Idempotency-Key" in error_fields(problem)
    assert problem["errors"][0]["location"] == "header"
    assert head_position(flask_app) == head
    assert event_types(client, auth("agent"), cid).count("ReplyQueued") == 1


def test_the_same_key_on_another_route_is_a_422(client, auth):
    headers = auth("agent", **{"Idempotency-Key": "k"})
    cid = open_conversation(client, auth("agent"))["id"]
    client.post(f"/v1/conversations/{cid}/notes", json={"body": "x"}, headers=headers)

    response = client.post(f"/v1/conversations/{cid}/replies", json={"body": "x"}, headers=headers)

    assert_problem(response, 422)


def test_keys_belong_to_their_principal(client, auth):
    cid = open_conversation(client, auth("agent"))["id"]
    note = {"body": "same words"}

    mine = client.post(
        f"/v1/conversations/{cid}/notes",
        json=note,
        headers=auth("agent", **{"Idempotency-Key": "k"}),
    )
    theirs = client.post(
        f"/v1/conversations/{cid}/notes",
        json=note,
        headers=auth("supervisor", **{"Idempotency-Key": "k"}),
    )

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.get_json()["note_id"] != mine.get_json()["note_id"]


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_empty_or_overlong_key_is_a_422_naming_it(client, auth, flask_app, key):
    cid = open_conversation(client, auth("agent"))["id"]
    head = head_position(flask_app)

    response = client.post(
        f"/v1/conversations/{cid}/notes",
        json={"body": "x"},
        headers=auth("agent", **{"Idempotency-Key": key}),
    )

    problem = assert_problem(response, 422)
    assert problem["errors"] == [
        {
            "field": "Idempotency-Key",
            "location": "header",
            "message": "1 to 255 visible ASCII characters (spaces only inside)",
        }
    ]
    assert head_position(flask_app) == head


def test_a_key_of_255_characters_is_accepted(client, auth):
    cid = open_conversation(client, auth("agent"))["id"]

    response = client.post(
        f"/v1/conversations/{cid}/notes",
        json={"body": "x"},
        headers=auth("agent", **{"Idempotency-Key": "k" * 255}),
    )

    assert response.status_code == 201


def test_a_refused_command_does_not_spend_its_key(client, auth):
    headers = auth("agent", **{"Idempotency-Key": "after-reopen"})
    cid = open_conversation(client, auth("agent"))["id"]
    client.post(f"/v1/conversations/{cid}/resolve", json={}, headers=auth("agent"))
    refused = client.post(f"/v1/conversations/{cid}/replies", json={"body": "x"}, headers=headers)
    client.post(f"/v1/conversations/{cid}/reopen", json={}, headers=auth("agent"))

    retried = client.post(f"/v1/conversations/{cid}/replies", json={"body": "x"}, headers=headers)

    assert_problem(refused, 409)
    assert retried.status_code == 202
    assert "Idempotent-Replayed" not in retried.headers


# ---------------------------------------------------------------------- If-Match
def test_a_write_with_the_current_etag_succeeds(client, auth):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    etag = client.get(f"/v1/conversations/{cid}", headers=agent).headers["ETag"]

    response = client.post(
        f"/v1/conversations/{cid}/notes", json={"body": "x"}, headers={**agent, "If-Match": etag}
    )

    assert response.status_code == 201
    assert response.headers["ETag"] == '"2"'


@pytest.mark.parametrize("form", ['W/"{v}"', "{v}", "*"])
def test_if_match_accepts_weak_bare_and_star_forms(client, auth, form):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]

    response = client.post(
        f"/v1/conversations/{cid}/notes",
        json={"body": "x"},
        headers={**agent, "If-Match": form.format(v=1)},
    )

    assert response.status_code == 201


def test_a_write_with_a_stale_etag_is_a_412_with_the_current_version(client, auth, flask_app):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    stale = client.get(f"/v1/conversations/{cid}", headers=agent).headers["ETag"]
    client.post(f"/v1/conversations/{cid}/notes", json={"body": "first"}, headers=agent)
    head = head_position(flask_app)

    response = client.post(
        f"/v1/conversations/{cid}/replies",
        json={"body": "second"},
        headers={**agent, "If-Match": stale},
    )

    problem = assert_problem(response, 412)
    assert problem["current_version"] == 2
    assert response.headers["ETag"] == '"2"'
    assert head_position(flask_app) == head


@pytest.mark.parametrize("garbage", ['"banana"', "W/", '"1", "2"', "-", "", "9" * 19])
def test_an_if_match_that_is_no_version_is_a_422_naming_the_header(
    client, auth, flask_app, garbage
):
    """Not a version at all is a malformed request (the document's pattern says so), not a
    version that no longer matches."""
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    head = head_position(flask_app)

    response = client.post(
        f"/v1/conversations/{cid}/notes", json={"body": "x"}, headers={**agent, "If-Match": garbage}
    )

    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == "If-Match"
    assert problem["errors"][0]["location"] == "header"
    assert head_position(flask_app) == head


def test_if_match_guards_the_other_writes_too(client, auth):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    stale = {**agent, "If-Match": '"0"'}

    for path, body in [
        ("messages", {"channel": "x_dm", "body": "x"}),
        ("channel-switches", {"to": "x_dm"}),
        ("assignment", {"agent": "bob"}),
        ("resolve", {}),
    ]:
        response = client.post(f"/v1/conversations/{cid}/{path}", json=body, headers=stale)
        assert_problem(response, 412)


# ---------------------------------------------------------------------- races
def race(apps, cid, headers, *, if_match=None):
    """RACERS notes posted at once, alternately through each app; their responses."""
    extra = {} if if_match is None else {"If-Match": if_match}
    return at_once(
        apps,
        lambda c, n: c.post(
            f"/v1/conversations/{cid}/notes",
            json={"body": f"racer {n}"},
            headers={**headers, **extra},
        ),
    )


def test_of_agents_racing_with_the_same_etag_exactly_one_wins(store, flask_app, client, auth):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    etag = client.get(f"/v1/conversations/{cid}", headers=agent).headers["ETag"]

    with another_app(store) as other:
        responses = race([flask_app, other], cid, agent, if_match=etag)

    codes = [r.status_code for r in responses]
    assert sorted(codes) == [201] + [412] * (RACERS - 1), codes  # the version they named is gone
    for lost in (r for r in responses if r.status_code != 201):
        problem = assert_problem(lost, lost.status_code)
        assert problem["current_version"] == 2
        assert lost.headers["ETag"] == '"2"'
    assert event_types(client, agent, cid) == ["Opened", "NoteAdded"]


def test_racing_writes_without_if_match_lose_no_events(store, flask_app, client, auth):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]

    with another_app(store) as other:
        responses = race([flask_app, other], cid, agent)

    won = [r for r in responses if r.status_code == 201]
    assert won
    assert all(r.status_code == 409 for r in responses if r.status_code != 201)
    notes = client.get(f"/v1/conversations/{cid}", headers=agent).get_json()["notes"]
    assert sorted(n["body"] for n in notes) == sorted(
        f"racer {n}" for n, r in enumerate(responses) if r.status_code == 201
    )
    assert sorted(r.get_json()["version"] for r in won) == list(range(2, 2 + len(won)))


def test_sequential_writes_without_if_match_both_succeed(client, auth, flask_app):
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    head = head_position(flask_app)

    first = client.post(f"/v1/conversations/{cid}/notes", json={"body": "a"}, headers=agent)
    second = client.post(f"/v1/conversations/{cid}/notes", json={"body": "b"}, headers=agent)

    assert (first.status_code, second.status_code) == (201, 201)
    assert head < first.get_json()["position"] < second.get_json()["position"]
    assert event_types(client, agent, cid) == ["Opened", "NoteAdded", "NoteAdded"]


def test_the_same_tweet_racing_through_two_apps_opens_one_conversation(
    store, flask_app, client, auth
):
    contact = tweet()

    with another_app(store) as other:
        responses = at_once(
            [flask_app, other],
            lambda c, n: c.post("/v1/conversations", json=contact, headers=auth("integration")),
        )

    assert sorted(r.status_code for r in responses) == [200] * (RACERS - 1) + [201]
    assert len({r.get_json()["id"] for r in responses}) == 1


def at_once(apps, send):
    """Call ``send(client, n)`` from RACERS threads released together; their responses."""
    barrier = threading.Barrier(RACERS)

    def run(n):
        client = apps[n % len(apps)].test_client()
        barrier.wait()
        return send(client, n)

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(run, range(RACERS)))


def test_first_tweets_of_one_new_user_racing_each_open_a_case_for_one_customer(
    store, flask_app, client, auth
):
    user_id = tweet()["identity"]["value"]

    with another_app(store) as other:
        responses = at_once(
            [flask_app, other],
            lambda c, n: c.post(
                "/v1/conversations", json=tweet(user_id=user_id), headers=auth("integration")
            ),
        )

    assert [r.status_code for r in responses] == [201] * RACERS
    opened = [r.get_json() for r in responses]
    assert len({o["id"] for o in opened}) == RACERS
    assert len({o["customer_id"] for o in opened}) == 1
    found = client.get(
        "/v1/customers/lookup", query_string={"kind": "x", "value": user_id}, headers=auth()
    )
    assert found.get_json()["id"] == opened[0]["customer_id"]


def test_registrations_racing_for_one_identity_register_one_customer(
    store, flask_app, client, auth
):
    identity = {"kind": "email", "value": "race@example.com"}

    with another_app(store) as other:
        responses = at_once(
            [flask_app, other],
            lambda c, n: c.post(
                "/v1/customers", json={"name": f"n{n}", "identities": [identity]}, headers=auth()
            ),
        )

    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * (RACERS - 1), codes


def test_retries_racing_with_one_idempotency_key_queue_one_reply(
    store, flask_app, client, auth, clock
):
    cid = open_conversation(client, auth("agent"))["id"]
    headers = auth("agent", **{"Idempotency-Key": "racing-retry"})

    with another_app(store, clock) as other:
        responses = at_once(
            [flask_app, other],
            lambda c, n: c.post(
                f"/v1/conversations/{cid}/replies", json={"body": "On it"}, headers=headers
            ),
        )

    assert [r.status_code for r in responses] == [202] * RACERS
    assert len({r.get_json()["reply_id"] for r in responses}) == 1
    assert event_types(client, auth("agent"), cid).count("ReplyQueued") == 1


# ---------------------------------------------------------------------- one protocol
def test_the_same_json_with_other_whitespace_and_key_order_is_the_same_request(client, auth):
    cid = open_conversation(client, auth("agent"))["id"]
    headers = auth("agent", **{"Idempotency-Key": "spaced", "Content-Type": "application/json"})

    first = client.post(
        f"/v1/conversations/{cid}/replies",
        data='{"body": "On it", "kind": "answer"}',
        headers=headers,
    )
    again = client.post(
        f"/v1/conversations/{cid}/replies",
        data='{\n  "kind":"answer",\n  "body":"On it"\n}',
        headers=headers,
    )

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["reply_id"] == first.get_json()["reply_id"]


def test_concurrent_registrations_with_one_key_all_get_the_first_201(
    store, flask_app, client, auth, clock
):
    body = {"name": "Ann", "identities": [{"kind": "email", "value": "one-key@example.com"}]}
    headers = auth("agent", **{"Idempotency-Key": "register-once"})

    with another_app(store, clock) as other:
        responses = at_once(
            [flask_app, other], lambda c, n: c.post("/v1/customers", json=body, headers=headers)
        )

    assert [r.status_code for r in responses] == [201] * RACERS, [r.get_json() for r in responses]
    assert len({r.get_json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == RACERS - 1
    assert len({r.headers["Location"] for r in responses}) == 1


def test_concurrent_identity_additions_with_one_key_replay_the_first(
    store, flask_app, client, auth, clock
):
    agent = auth("agent")
    customer = client.post(
        "/v1/customers", json={"identities": [{"kind": "phone", "value": "+1 555 0100"}]},
        headers=agent,
    ).get_json()  # fmt: skip
    headers = auth("agent", **{"Idempotency-Key": "add-once"})
    identity = {"kind": "email", "value": "second@example.com"}

    with another_app(store, clock) as other:
        responses = at_once(
            [flask_app, other],
            lambda c, n: c.post(
                f"/v1/customers/{customer['id']}/identities", json=identity, headers=headers
            ),
        )

    assert [r.status_code for r in responses] == [200] * RACERS
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == RACERS - 1
    assert len({r.get_json()["version"] for r in responses}) == 1


def test_a_retried_no_op_replays_and_does_not_act_after_someone_else_changed_the_case(
    client, auth, flask_app
):
    """Assigning the assignee changes nothing, but it claims its key: a retry after a
    colleague reassigned the case must not take it back."""
    agent = auth("agent")
    cid = open_conversation(client, agent)["id"]
    client.post(f"/v1/conversations/{cid}/assignment", json={"agent": "ann"}, headers=agent)
    keyed = auth("agent", **{"Idempotency-Key": "assign-ann"})

    first = client.post(f"/v1/conversations/{cid}/assignment", json={"agent": "ann"}, headers=keyed)
    client.post(f"/v1/conversations/{cid}/assignment", json={"agent": "bob"}, headers=agent)
    retried = client.post(
        f"/v1/conversations/{cid}/assignment", json={"agent": "ann"}, headers=keyed
    )

    assert first.get_json()["position"] is None
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.get_json()["position"] is None
    assert client.get(f"/v1/conversations/{cid}", headers=agent).get_json()["assignee"] == "bob"


def test_the_claim_replays_the_status_actually_answered(client, auth):
    contact = tweet()
    client.post("/v1/conversations", json=contact, headers=auth("integration"))
    headers = auth("integration", **{"Idempotency-Key": "seen-before"})

    first = client.post("/v1/conversations", json=contact, headers=headers)
    again = client.post("/v1/conversations", json=contact, headers=headers)

    assert (first.status_code, first.get_json()["created"]) == (200, False)
    assert (again.status_code, again.get_json()["created"]) == (200, False)
    assert again.headers["Idempotent-Replayed"] == "true"


def test_an_expired_key_runs_the_request_again(client, auth, clock):
    cid = open_conversation(client, auth("agent"))["id"]
    headers = auth("agent", **{"Idempotency-Key": "tomorrow"})
    first = client.post(f"/v1/conversations/{cid}/notes", json={"body": "x"}, headers=headers)
    clock.advance(hours=25)

    again = client.post(f"/v1/conversations/{cid}/notes", json={"body": "x"}, headers=headers)

    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert again.get_json()["note_id"] != first.get_json()["note_id"]


# ---------------------------------------------------------------------- customers' ETag
def test_a_customer_write_with_a_stale_if_match_is_a_412(client, auth, flask_app):
    agent = auth("agent")
    customer = client.post(
        "/v1/customers", json={"identities": [{"kind": "email", "value": "etag@example.com"}]},
        headers=agent,
    ).get_json()  # fmt: skip
    etag = client.get(f"/v1/customers/{customer['id']}", headers=agent).headers["ETag"]
    client.post(
        f"/v1/customers/{customer['id']}/identities",
        json={"kind": "phone", "value": "+44 20 7946 0000"},
        headers=agent,
    )
    head = head_position(flask_app)

    stale = client.post(
        f"/v1/customers/{customer['id']}/identities",
        json={"kind": "phone", "value": "+44 20 7946 0001"},
        headers={**agent, "If-Match": etag},
    )
    fresh_etag = client.get(f"/v1/customers/{customer['id']}", headers=agent).headers["ETag"]
    fresh = client.post(
        f"/v1/customers/{customer['id']}/identities",
        json={"kind": "phone", "value": "+44 20 7946 0001"},
        headers={**agent, "If-Match": fresh_etag},
    )

    problem = assert_problem(stale, 412)
    assert problem["current_version"] == 2 and stale.headers["ETag"] == '"2"'
    assert fresh.status_code == 200 and fresh.get_json()["version"] == 3
    assert head < fresh.get_json()["position"] == head_position(flask_app)
