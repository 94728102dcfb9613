"""The care policy over HTTP: a supervisor saves its rules (every save a version), every
role reads them, and each inbound message shows its classification on the case."""

from __future__ import annotations

from typing import Any

from tests.app.helpers import (
    assert_problem,
    error_fields,
    event_types,
    head_position,
    open_conversation,
)

RULES_URL = "/v1/care-policy/rules"
RULES: dict[str, Any] = {
    "classifier": {
        "rules": [
            {"name": "thanks", "label": "praise", "keywords": ["thanks", "thank you"]},
            {"name": "lost", "label": "complaint", "keywords": ["never arrived"]},
        ],
        "default": "question",
    },
    "routing": [{"name": "complaints", "classifications": ["complaint"], "team": "care"}],
}


def save(client, auth, rules: dict[str, Any] = RULES, **headers: str) -> Any:  # type: ignore[no-untyped-def]
    return client.put(RULES_URL, json=rules, headers=auth("supervisor", **headers))


def test_no_rules_read_as_version_0(client, auth):
    read = client.get(RULES_URL, headers=auth("auditor"))

    assert read.status_code == 200 and read.headers["ETag"] == '"0"'
    assert read.get_json() == {
        "version": 0, "classifier": {"rules": [], "default": "other"}, "routing": [],
        "updated_at": None, "updated_by": None,
    }  # fmt: skip


def test_rules_are_saved_read_and_every_version_kept(client, auth, clock):
    first = save(client, auth, **{"If-Match": '"0"'})

    assert first.status_code == 200, first.get_json()
    assert first.headers["ETag"] == '"1"'
    body = first.get_json()
    assert isinstance(body["position"], int)
    assert body["classifier"]["rules"][0] == {
        "name": "thanks", "label": "praise", "keywords": ["thanks", "thank you"],
        "pattern": None, "channels": [],
    }  # fmt: skip
    assert body["routing"][0] | {"team": "care"} == {
        "name": "complaints", "keywords": [], "channels": [], "classifications": ["complaint"],
        "customer_tags": [], "team": "care", "priority": None,
    }  # fmt: skip
    assert (body["updated_by"], body["updated_at"]) == (
        "supervisor:supervisor", clock.now.isoformat(),
    )  # fmt: skip

    clock.advance(minutes=1)
    second = save(client, auth, {"routing": []}, **{"If-Match": '"1"'})
    assert second.status_code == 200 and second.get_json()["version"] == 2

    read = client.get(RULES_URL, headers=auth("agent"))
    assert read.headers["ETag"] == '"2"' and read.get_json()["routing"] == []
    versions = client.get(f"{RULES_URL}/versions", headers=auth("agent")).get_json()
    assert [v["version"] for v in versions["items"]] == [1, 2]
    old = client.get(f"{RULES_URL}/versions/1", headers=auth("agent"))
    assert old.status_code == 200 and old.get_json()["routing"][0]["team"] == "care"
    assert_problem(client.get(f"{RULES_URL}/versions/3", headers=auth("agent")), 404)


def test_a_save_on_a_stale_version_is_412_and_writes_nothing(client, auth, flask_app):
    save(client, auth)
    save(client, auth)
    before = head_position(flask_app)

    stale = assert_problem(save(client, auth, **{"If-Match": '"1"'}), 412)

    assert stale["current_version"] == 2
    assert head_position(flask_app) == before


def test_a_retried_save_with_its_idempotency_key_is_answered_once(client, auth):
    first = save(client, auth, **{"Idempotency-Key": "care-1"})
    again = save(client, auth, **{"Idempotency-Key": "care-1"})

    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["version"] == first.get_json()["version"] == 1
    assert client.get(RULES_URL, headers=auth("agent")).get_json()["version"] == 1


def test_rules_that_cannot_work_are_422_naming_the_field(client, auth, flask_app):
    before = head_position(flask_app)
    bad_label = {"classifier": {"rules": [{"name": "a", "label": "angry", "keywords": ["x"]}]}}
    bad_pattern = {"classifier": {"rules": [{"name": "a", "label": "praise", "pattern": "("}]}}
    nothing_set = {"routing": [{"name": "r", "channels": ["email"]}]}

    for rules, field in [
        (bad_label, "classifier.rules.0.label"),
        (bad_pattern, "classifier.rules.0.pattern"),
        (nothing_set, "routing.0.team"),
        ({"routing": [], "extra": 1}, "extra"),
    ]:
        assert field in error_fields(assert_problem(save(client, auth, rules), 422)), field
    assert head_position(flask_app) == before


def test_only_a_supervisor_saves_the_rules(client, auth):
    refused = assert_problem(client.put(RULES_URL, json=RULES, headers=auth("agent")), 403)

    assert refused["allowed_roles"] == ["supervisor"]


def test_a_message_shows_its_classification_and_the_case_its_routing(client, auth):
    save(client, auth)

    opened = open_conversation(client, auth("integration"), body="@acme it never arrived")
    cid = opened["id"]
    client.post(
        f"/v1/conversations/{cid}/messages",
        json={"channel": "x_public", "body": "thank you!", "external_id": "77001"},
        headers=auth("integration"),
    )

    case = client.get(f"/v1/conversations/{cid}", headers=auth("agent")).get_json()
    labels = [(m["classification"]["label"], m["classification"]["rule"]) for m in case["messages"]]
    assert labels == [("complaint", "lost"), ("praise", "thanks")]
    assert case["messages"][0]["classification"]["policy_version"] == 1
    assert case["team"] == "care" and case["routed"]["rule"] == "complaints"
    assert case["status"] == "open"
    types = event_types(client, auth("supervisor"), cid)
    assert types[:4] == ["Opened", "MessageClassified", "Routed", "Assigned"]


# ------------------------------------------------------------------ the document
def test_the_care_policy_is_one_document_in_json_and_markdown(client, auth):
    save(client, auth)
    client.post(
        "/v1/sla/policies",
        json={"name": "Public X", "conditions": {"channels": ["x_public"]},
              "targets": [{"metric": "first_response", "seconds": 1800}]},
        headers=auth("supervisor"),
    )  # fmt: skip
    client.post(
        "/v1/canned-responses",
        json={"name": "Thanks", "team": "care", "body": "Thanks $customer_name!\nBye"},
        headers=auth("supervisor"),
    )

    doc = client.get("/v1/care-policy", headers=auth("agent"))

    assert doc.status_code == 200 and doc.mimetype == "application/json"
    body = doc.get_json()
    assert body["version"] == 1 and body["classifier"]["default"] == "question"
    assert [p["name"] for p in body["sla"]["policies"]] == ["Public X"]
    assert body["sla"]["default"]["name"] == "Built-in default"
    assert [t["team"] for t in body["canned_responses"]] == ["care"]
    assert body["rosters"] == [{"team": "care", "version": 0, "last_assigned": None, "agents": []}]

    page = client.get("/v1/care-policy", headers=auth("auditor", Accept="text/markdown"))

    assert page.status_code == 200 and page.mimetype == "text/markdown"
    text = page.get_data(as_text=True)
    assert text.startswith("# Care policy (version 1, saved ")
    assert "1. **thanks**: a message that mentions `thanks`, `thank you` is **praise**." in text
    assert "Any other message is **question**." in text
    assert "1. **complaints**: is complaint → team **care**." in text
    assert "| first_response | 30 min | any | any | round the clock |" in text
    assert "> Thanks $customer\\_name!\n> Bye" in text
    assert "Nobody on the roster: its cases wait in its queue." in text


def test_the_page_shows_who_answers_each_routed_team(client, auth):
    save(client, auth)
    client.put(
        "/v1/teams/care/agents/ann",
        json={"capacity": 4, "shift": {"time_zone": "Europe/London",
                                       "hours": {"mon": ["09:00-17:00"], "tue": []}}},
        headers=auth("supervisor"),
    )  # fmt: skip

    text = client.get("/v1/care-policy", headers=auth("agent", Accept="text/markdown")).get_data(
        as_text=True
    )

    assert "| ann | 4 | mon 09:00-17:00, Europe/London |" in text


def test_a_rule_cannot_add_markup_to_the_page(client, auth):
    rules = {"routing": [{"name": "<script>x</script> [link](http://e.vil)", "team": "# t"}]}
    assert save(client, auth, rules).status_code == 200

    text = client.get("/v1/care-policy", headers=auth("agent", Accept="text/markdown")).get_data(
        as_text=True
    )

    assert "<script>" not in text and "](" not in text.replace("\\](", "")
    assert "\\<script\\>x\\</script\\> \\[link\\](http://e.vil)" in text


def test_before_any_rule_the_page_says_nothing_is_classified(client, auth):
    text = client.get(
        "/v1/care-policy", headers=auth("agent", Accept="text/markdown, */*;q=0.1")
    ).get_data(as_text=True)

    assert "# Care policy (no version saved yet)" in text
    assert "No care policy is saved yet: no message is classified." in text
    assert "None yet." in text
