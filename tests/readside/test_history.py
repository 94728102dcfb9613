"""``GET /v1/customers/{id}/history``: one timeline over channels, conversations and merges."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.app.helpers import assert_problem
from tests.readside.support import email_address, message, open_case, project, reply, write


def history(client, headers, customer_id: str, **query: Any) -> dict[str, Any]:
    response = client.get(
        f"/v1/customers/{customer_id}/history", query_string=query, headers=headers
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


@pytest.fixture
def ann(client, auth, clock) -> dict[str, Any]:
    """Ann: a tweet, then an e-mail on a second conversation; replies and messages on both."""
    agent = auth("agent")
    tweet = open_case(client, agent, "x_public")
    customer = tweet["customer_id"]
    clock.advance(minutes=5)
    mail = open_case(
        client,
        agent,
        "email",
        customer_id=customer,
        identity={"kind": "email", "value": email_address()},
    )
    clock.advance(minutes=5)
    reply(client, agent, tweet["id"], kind="acknowledgement")
    clock.advance(minutes=5)
    message(client, agent, mail["id"], "email")
    return {"id": customer, "tweet": tweet["id"], "mail": mail["id"]}


def test_a_customers_history_lists_both_conversations_on_both_channels_in_log_order(
    client, auth, flask_app, ann
):
    project(flask_app)

    page = history(client, auth("agent"), ann["id"])

    items = page["items"]
    assert page["customer_ids"] == [ann["id"]]
    assert page["next_cursor"] is None
    assert page["projection"]["name"] == "history"
    assert [(i["kind"], i["conversation_id"], i["channel"]) for i in items] == [
        ("registered", None, None),
        ("conversation_opened", ann["tweet"], "x_public"),
        ("identity_added", None, None),
        ("conversation_opened", ann["mail"], "email"),
        ("reply_queued:acknowledgement", ann["tweet"], "x_public"),
        ("message_received", ann["mail"], "email"),
    ]
    positions = [i["position"] for i in items]
    assert positions == sorted(set(positions))
    assert all(i["customer_id"] == ann["id"] for i in items)
    assert items[1]["public"] is True
    assert items[3]["public"] is False
    assert items[4]["actor"] == "agent:agent"
    assert items[5]["summary"] == "any news?"
    assert [i["at"] for i in items][::2] == [
        "2026-11-02T09:00:00+00:00",
        "2026-11-02T09:05:00+00:00",
        "2026-11-02T09:10:00+00:00",
    ]


def test_a_merge_shows_the_absorbed_customers_history_and_an_unmerge_takes_it_away(
    client, auth, flask_app, ann
):
    agent, supervisor = auth("agent"), auth("supervisor")
    bea = write(
        client,
        agent,
        "/v1/customers",
        {"name": "Bea", "identities": [{"kind": "email", "value": email_address()}]},
        201,
    )["id"]
    chat = open_case(client, agent, "chat", customer_id=bea)["id"]
    project(flask_app)
    anns_entries = [i["position"] for i in history(client, agent, ann["id"])["items"]]
    beas_before = [i["position"] for i in history(client, agent, bea)["items"]]

    write(client, supervisor, f"/v1/customers/{ann['id']}/merge", {"into": bea})
    project(flask_app)
    merged = history(client, agent, bea)

    write(client, supervisor, f"/v1/customers/{ann['id']}/unmerge", {})
    project(flask_app)
    unmerged = history(client, agent, bea)
    ann_after = history(client, agent, ann["id"])

    assert len(beas_before) == 2  # registered, the chat
    assert merged["customer_ids"] == [bea, ann["id"]]
    positions = [i["position"] for i in merged["items"]]
    assert positions == sorted(positions)
    assert set(anns_entries) | set(beas_before) < set(positions)
    assert merged["items"][-1]["kind"] == "merged"
    assert merged["items"][-1]["customer_id"] == bea
    assert {i["conversation_id"] for i in merged["items"]} == {
        None,
        ann["tweet"],
        ann["mail"],
        chat,
    }

    assert unmerged["customer_ids"] == [bea]
    assert not set(anns_entries) & {i["position"] for i in unmerged["items"]}
    assert [i["kind"] for i in unmerged["items"]] == [
        "registered",
        "conversation_opened",
        "merged",
    ]
    assert ann_after["customer_ids"] == [ann["id"]]
    assert [i["position"] for i in ann_after["items"]][:-1] == anns_entries
    assert ann_after["items"][-1]["kind"] == "unmerged"


def test_the_history_of_an_unknown_customer_is_a_404(client, auth):
    response = client.get(f"/v1/customers/{uuid.uuid4()}/history", headers=auth("agent"))

    assert_problem(response, 404)


def test_a_customers_history_pages_on_with_after_and_limit(client, auth, flask_app, ann):
    agent = auth("agent")
    project(flask_app)
    everything = [i["position"] for i in history(client, agent, ann["id"])["items"]]

    seen: list[int] = []
    after = 0
    pages = 0
    while True:
        page = history(client, agent, ann["id"], after=after, limit=4)
        pages += 1
        seen += [i["position"] for i in page["items"]]
        if page["next_cursor"] is None:
            break
        assert page["next_cursor"] == page["items"][-1]["position"]
        after = page["next_cursor"]

    assert pages == 2
    assert seen == everything
    assert history(client, agent, ann["id"], after=everything[-1])["items"] == []
    assert [
        i["position"] for i in history(client, agent, ann["id"], after=everything[2])["items"]
    ] == everything[3:]


def test_a_history_page_with_a_bad_limit_or_an_unknown_parameter_is_a_422(client, auth, ann):
    agent = auth("agent")
    for query in ({"limit": 0}, {"limit": 1001}, {"after": -1}, {"before": 3}):
        response = client.get(
            f"/v1/customers/{ann['id']}/history", query_string=query, headers=agent
        )

        assert_problem(response, 422)


def test_a_history_cursor_past_any_possible_position_is_refused_not_a_500(client, auth, ann):
    # /v1/events bounds `after` at 2**63 - 1, the largest position a store can hold.
    response = client.get(
        f"/v1/customers/{ann['id']}/history", query_string={"after": 2**63}, headers=auth("agent")
    )

    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "after"
