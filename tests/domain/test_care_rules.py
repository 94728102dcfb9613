"""The care policy's rules, with no store: classification in order, routing in order, and
the refusals that name the field a supervisor got wrong."""

from __future__ import annotations

from typing import Any

import pytest

from domain.care_rules import CareRules, Classifier, MessageFacts
from domain.exceptions import InvalidValueError
from tests.domain.builders import AGENT, T0, a_conversation


def classifier(*rules: dict[str, Any], default: str = "other") -> Classifier:
    return Classifier.from_dict({"rules": list(rules), "default": default})


RULES = (
    {"name": "thanks", "label": "praise", "keywords": ["thank you", "thanks", "love"]},
    {"name": "broken", "label": "complaint", "keywords": ["never arrived", "broken", "refund"]},
    {"name": "asks", "label": "question", "pattern": r"\?\s*$"},
)


def test_the_first_matching_rule_gives_the_label() -> None:
    rules = classifier(*RULES)

    label, match = rules.classify("Thanks, but my parcel never arrived?", "x_public")

    assert label == "praise"
    assert match is not None and (match.rule, match.position, match.matched) == (
        "thanks", 1, "thanks",
    )  # fmt: skip


def test_rules_are_tried_in_order_until_one_matches() -> None:
    rules = classifier(*RULES)

    assert rules.classify("my parcel NEVER   arrived", "email")[0] == "complaint"
    label, match = rules.classify("when does the shop open?", "email")
    assert label == "question" and match is not None and match.position == 3


def test_no_rule_matching_gives_the_default_label() -> None:
    assert classifier(*RULES).classify("hello", "email") == ("other", None)
    assert classifier(*RULES, default="question").classify("hello", "email") == ("question", None)


def test_a_keyword_matches_whole_words_only() -> None:
    rules = classifier({"name": "love", "label": "praise", "keywords": ["love"]})

    assert rules.classify("I love it", "x_public")[0] == "praise"
    assert rules.classify("Lovely weather, gloves lost", "x_public")[0] == "other"


def test_a_rule_for_some_channels_is_skipped_on_others() -> None:
    rules = classifier(
        {"name": "x praise", "label": "praise", "keywords": ["great"], "channels": ["x_public"]}
    )

    assert rules.classify("great service", "x_public")[0] == "praise"
    assert rules.classify("great service", "email")[0] == "other"


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"name": "a", "label": "angry", "keywords": ["x"]}, "classifier.rules.0.label"),
        ({"name": "a", "label": "praise"}, "classifier.rules.0.keywords"),
        ({"name": "a", "label": "praise", "pattern": "(unclosed"}, "classifier.rules.0.pattern"),
        ({"name": " ", "label": "praise", "keywords": ["x"]}, "classifier.rules.0.name"),
        ({"name": "a", "label": "praise", "keywords": ["!!"]}, "classifier.rules.0.keywords"),
        (
            {"name": "a", "label": "praise", "keywords": ["x"], "channels": ["fax"]},
            "classifier.rules.0.channels",
        ),
    ],
)
def test_a_rule_that_cannot_work_is_refused_naming_its_field(rule: dict, field: str) -> None:
    with pytest.raises(InvalidValueError) as refused:
        Classifier.from_dict({"rules": [rule]})
    assert refused.value.field == field


def test_two_rules_of_one_name_are_refused() -> None:
    rule = {"name": "same", "label": "praise", "keywords": ["x"]}
    with pytest.raises(InvalidValueError) as refused:
        Classifier.from_dict({"rules": [rule, rule]})
    assert refused.value.field == "classifier.rules.1.name"


# ------------------------------------------------------------------ routing
ROUTING = CareRules.from_dict(
    {
        "routing": [
            {"name": "press", "customer_tags": ["press"], "team": "comms", "priority": "urgent"},
            {
                "name": "outage",
                "keywords": ["down", "outage"],
                "classifications": ["complaint"],
                "team": "tech",
                "priority": "high",
            },
            {"name": "mail", "channels": ["email"], "team": "back office"},
            {"name": "complaints", "classifications": ["complaint"], "priority": "medium"},
        ]
    }
)


def facts(text: str = "hi", channel: str = "x_public", label: str = "other", tags=()) -> Any:  # type: ignore[no-untyped-def]
    return MessageFacts(text, channel, label, tuple(tags))


def rule_of(found: Any) -> str | None:
    return None if found is None else found[0].name


def test_routing_takes_the_first_rule_every_condition_of_which_matches() -> None:
    assert rule_of(ROUTING.route(facts("the app is down", label="complaint"))) == "outage"
    assert rule_of(ROUTING.route(facts("the app is down", label="question"))) is None
    assert rule_of(ROUTING.route(facts("the app is down", "email", "question"))) == "mail"
    assert rule_of(ROUTING.route(facts("down", "email", "complaint"))) == "outage"
    assert rule_of(ROUTING.route(facts("late", label="complaint"))) == "complaints"


def test_a_customer_tag_routes_before_anything_below_it() -> None:
    found = ROUTING.route(facts("down", label="complaint", tags=["vip", "press"]))

    assert found is not None and found[0].name == "press" and found[1] == 1
    assert (found[0].team, found[0].priority) == ("comms", "urgent")


def test_a_routing_rule_must_set_something_and_name_real_values() -> None:
    for rule, field in [
        ({"name": "nothing"}, "routing.0.team"),
        ({"name": "p", "priority": "asap"}, "routing.0.priority"),
        ({"name": "c", "team": "t", "classifications": ["rant"]}, "routing.0.classifications"),
    ]:
        with pytest.raises(InvalidValueError) as refused:
            CareRules.from_dict({"routing": [rule]})
        assert refused.value.field == field


def test_the_rules_read_back_as_they_were_saved() -> None:
    again = CareRules.from_dict(ROUTING.to_dict())

    assert again == ROUTING and again.to_dict() == ROUTING.to_dict()


# ------------------------------------------------------------------ on the case
def test_a_classification_is_kept_by_message_and_a_route_sets_team_and_priority() -> None:
    case = a_conversation()
    message_id = case.messages[0]["id"]

    case.classify_message(
        message_id=message_id, label="complaint", rule="broken", position=2, policy_version=3,
        actor="system:classifier", timestamp=T0,
    )  # fmt: skip
    case.route(
        message_id=message_id, rule="outage", position=2, policy_version=3, team="tech",
        priority="high", actor="system:routing", timestamp=T0,
    )  # fmt: skip

    assert case.classifications[str(message_id)]["label"] == "complaint"
    assert (case.team, case.priority, case.assignee) == ("tech", "high", None)
    assert [type(e).__name__ for e in case.collect_events()] == [
        "MessageClassified", "Routed", "Assigned", "PriorityChanged",
    ]  # fmt: skip
    assert case.routed is not None and case.routed["rule"] == "outage"


def test_a_message_the_case_does_not_have_cannot_be_classified() -> None:
    from uuid import uuid4

    with pytest.raises(InvalidValueError):
        a_conversation().classify_message(
            message_id=uuid4(), label="praise", rule=None, position=None, policy_version=1,
            actor=AGENT, timestamp=T0,
        )  # fmt: skip
