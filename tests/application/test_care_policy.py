"""The care policy on a real store: every save a version, every inbound message classified
and routed in the save that records it, routing that never overrules a person."""

from __future__ import annotations

from typing import Any

import pytest

from domain.application import Conversations
from domain.exceptions import InvalidValueError, PreconditionFailedError
from tests.application.conftest import AGENT, INTEGRATION, SUPERVISOR, a_tweet_id, an_x_identity

RULES: dict[str, Any] = {
    "classifier": {
        "rules": [
            {"name": "thanks", "label": "praise", "keywords": ["thanks", "love"]},
            {"name": "lost", "label": "complaint", "keywords": ["never arrived", "refund"]},
            {"name": "asks", "label": "question", "pattern": r"\?"},
        ],
        "default": "other",
    },
    "routing": [
        {"name": "vip", "customer_tags": ["vip"], "team": "vip desk", "priority": "high"},
        {
            "name": "complaints",
            "classifications": ["complaint"],
            "team": "care",
            "priority": "medium",
        },
        {"name": "urgent", "keywords": ["lawyer"], "priority": "urgent"},
    ],
}


def tweet(app: Conversations, body: str, identity: Any = None) -> Any:
    return app.open_conversation(
        channel="x_public", body=body, actor=INTEGRATION, identity=identity or an_x_identity(),
        external_id=a_tweet_id(),
    )  # fmt: skip


def types(app: Conversations, case_id: Any) -> list[str]:
    return [type(e).__name__ for e in app.conversation_events(case_id)]


def test_before_a_care_policy_is_saved_nothing_is_classified(application: Conversations) -> None:
    opened = tweet(application, "thanks!")

    assert types(application, opened.id) == ["Opened"]
    assert application.care_rules_at()["version"] == 0


def test_an_opening_is_classified_and_routed_in_its_own_save(application: Conversations) -> None:
    application.save_care_rules(RULES, actor=SUPERVISOR)

    opened = tweet(application, "@acme my parcel never arrived")

    case = application.get_conversation(opened.id)
    assert types(application, opened.id) == [
        "Opened", "MessageClassified", "Routed", "Assigned", "PriorityChanged",
    ]  # fmt: skip
    assert opened.version == case.version == 5
    message = case.messages[0]["id"]
    assert case.classifications[str(message)] | {"classified_at": None} == {
        "label": "complaint", "rule": "lost", "position": 2, "policy_version": 1,
        "classified_at": None,
    }  # fmt: skip
    assert (case.team, case.priority, case.assignee) == ("care", "medium", None)
    events = application.conversation_events(opened.id)
    assert {e.actor for e in events[1:2]} == {"system:classifier"}
    assert {e.actor for e in events[2:]} == {"system:routing"}


def test_praise_is_classified_and_stays_an_open_case_awaiting_a_reply(
    application: Conversations,
) -> None:
    application.save_care_rules(RULES, actor=SUPERVISOR)

    case = application.get_conversation(tweet(application, "love the new app").id)

    assert [c["label"] for c in case.classifications.values()] == ["praise"]
    assert (case.status, case.awaiting) == ("open", "acknowledgement")


def test_a_customers_tags_route_and_the_sla_sees_the_routed_priority(
    application: Conversations,
) -> None:
    application.save_care_rules(RULES, actor=SUPERVISOR)
    urgent = application.create_sla_policy(
        {"name": "high", "conditions": {"priorities": ["high"]},
         "targets": [{"metric": "first_response", "seconds": 300}]},
        actor=SUPERVISOR,
    )  # fmt: skip
    someone = an_x_identity()
    first = tweet(application, "hello", someone)
    application.change_customer_tags(first.extra["customer_id"], add=["vip"], actor=AGENT)

    again = application.get_conversation(tweet(application, "hello again", someone).id)

    assert (again.team, again.priority) == ("vip desk", "high")
    assert again.sla_policy is not None and again.sla_policy["id"] == str(urgent.id)


def test_a_later_message_fills_a_missing_team_and_only_raises_the_priority(
    application: Conversations,
) -> None:
    application.save_care_rules(RULES, actor=SUPERVISOR)
    opened = tweet(application, "hello")  # other: routed nowhere
    application.assign(opened.id, team="billing", actor=AGENT)
    application.change_priority(opened.id, priority="high", actor=AGENT)

    application.receive_message(
        opened.id, channel="x_public", body="I want a refund", actor=INTEGRATION,
        external_id=a_tweet_id(),
    )  # fmt: skip
    case = application.get_conversation(opened.id)
    assert (case.team, case.priority) == ("billing", "high")  # the agent's choices stand
    assert types(application, opened.id)[-1] == "MessageClassified"

    application.receive_message(
        opened.id, channel="x_public", body="my lawyer will call", actor=INTEGRATION,
        external_id=a_tweet_id(),
    )  # fmt: skip
    case = application.get_conversation(opened.id)
    assert (case.team, case.priority) == ("billing", "urgent")
    assert case.routed is not None and (case.routed["rule"], case.routed["team"]) == (
        "urgent", None,
    )  # fmt: skip


def test_every_save_is_a_version_and_a_classification_names_its_own(
    application: Conversations,
) -> None:
    application.save_care_rules(RULES, actor=SUPERVISOR)
    first = tweet(application, "thanks")
    revised = {**RULES, "classifier": {"rules": [], "default": "question"}}

    saved = application.save_care_rules(revised, actor=SUPERVISOR, expected_version=1)
    second = tweet(application, "thanks")

    assert saved.version == 2
    assert [v["version"] for v in application.care_rule_versions()] == [1, 2]
    assert application.care_rules_at(1)["rules"]["classifier"]["rules"][0]["name"] == "thanks"
    labels = [
        next(iter(application.get_conversation(c.id).classifications.values()))
        for c in (first, second)
    ]
    assert [(x["label"], x["policy_version"]) for x in labels] == [("praise", 1), ("question", 2)]


def test_a_save_on_a_stale_version_is_refused_and_changes_nothing(
    application: Conversations,
) -> None:
    application.save_care_rules(RULES, actor=SUPERVISOR)
    application.save_care_rules(RULES, actor=SUPERVISOR)

    with pytest.raises(PreconditionFailedError):
        application.save_care_rules({}, actor=SUPERVISOR, expected_version=1)
    with pytest.raises(PreconditionFailedError):
        application.save_care_rules({}, actor=SUPERVISOR, expected_version=0)
    assert application.care_rules_at()["version"] == 2


def test_rules_that_cannot_work_are_refused_before_anything_is_saved(
    application: Conversations,
) -> None:
    with pytest.raises(InvalidValueError) as refused:
        application.save_care_rules(
            {"routing": [{"name": "r", "team": "t", "channels": ["fax"]}]}, actor=SUPERVISOR
        )
    assert refused.value.field == "routing.0.channels"
    assert application.care_policy() is None
