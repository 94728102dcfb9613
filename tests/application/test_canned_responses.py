"""Canned responses on a real store: kept per team with every version, and a reply made
from one carries the text rendered for its case (the customer's name, the case's link,
its incidents' links)."""

from __future__ import annotations

import pytest

from domain.application import Conversations
from domain.canned_service import CannedResponseNotFoundError
from domain.exceptions import InvalidTransitionError, InvalidValueError
from tests.application.conftest import AGENT, INTEGRATION, SUPERVISOR, a_tweet_id, an_x_identity

SORRY = {
    "name": "Sorry, outage",
    "team": "care",
    "body": "Sorry $customer_name! Updates: $incident_links (your case: $case_link, ref $ref)",
}


def open_case(app: Conversations, body: str = "@brand the app is down") -> object:
    return app.open_conversation(
        channel="x_public", body=body, actor=INTEGRATION, identity=an_x_identity(),
        customer_name="Ann", external_id=a_tweet_id(),
    )  # fmt: skip


def test_canned_responses_are_kept_per_team_with_every_version(application: Conversations) -> None:
    sorry = application.create_canned_response(SORRY, actor=SUPERVISOR)
    application.create_canned_response({**SORRY, "name": "Hi", "team": "billing"},
                                       actor=SUPERVISOR)  # fmt: skip

    revised = application.revise_canned_response(
        sorry.id, {**SORRY, "body": "Sorry $customer_name."}, actor=SUPERVISOR,
        expected_version=1,
    )  # fmt: skip

    assert revised.version == 2
    assert [c.spec["name"] for c in application.list_canned_responses("care")] == ["Sorry, outage"]
    assert len(application.list_canned_responses()) == 2
    canned = application.get_canned_response(sorry.id)
    assert canned.versions[0]["spec"]["body"] == SORRY["body"]

    application.delete_canned_response(sorry.id, actor=SUPERVISOR)
    assert application.list_canned_responses("care") == []
    with pytest.raises(InvalidTransitionError):
        application.delete_canned_response(sorry.id, actor=SUPERVISOR)


def test_a_canned_reply_is_rendered_for_its_case_and_its_incidents(
    application: Conversations,
) -> None:
    application.declare_incident(
        title="App down", public_summary="We are on it.", keywords=["down"],
        links=["https://status.example.com"], actor=SUPERVISOR,
    )  # fmt: skip
    case = open_case(application)
    sorry = application.create_canned_response(SORRY, actor=SUPERVISOR)

    queued = application.queue_canned_reply(
        case.id, canned_response_id=sorry.id, variables={"ref": "R-1"}, kind="acknowledgement",
        actor=AGENT, case_link="https://help.example.com/c/9",
    )  # fmt: skip

    reply = application.get_conversation(case.id).replies[str(queued.extra["reply_id"])]
    assert reply["body"] == (
        "Sorry Ann! Updates: https://status.example.com "
        "(your case: https://help.example.com/c/9, ref R-1)"
    )
    assert reply["kind"] == "acknowledgement" and reply["author"] == AGENT


def test_an_unknown_variable_queues_nothing(application: Conversations) -> None:
    case = open_case(application, "hello")
    sorry = application.create_canned_response(SORRY, actor=SUPERVISOR)
    version = application.get_conversation(case.id).version

    with pytest.raises(InvalidValueError) as refused:
        application.queue_canned_reply(
            case.id, canned_response_id=sorry.id, variables={"ref": "R", "typo": "x"},
            kind="answer", actor=AGENT, case_link="x",
        )  # fmt: skip

    assert refused.value.field == "variables.typo"
    assert application.get_conversation(case.id).version == version


def test_a_deleted_canned_response_cannot_be_used(application: Conversations) -> None:
    case = open_case(application, "hello")
    sorry = application.create_canned_response(SORRY, actor=SUPERVISOR)
    application.delete_canned_response(sorry.id, actor=SUPERVISOR)

    with pytest.raises(CannedResponseNotFoundError):
        application.queue_canned_reply(
            case.id, canned_response_id=sorry.id, variables={"ref": "R"}, kind="answer",
            actor=AGENT, case_link="x",
        )  # fmt: skip
