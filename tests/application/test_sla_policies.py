"""SLA policies on a real store: which policy a case gets, versions that never rewrite a
promise, re-application, and breaches recorded once however many workers look."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from domain.application import Clock, Conversations
from domain.exceptions import InvalidTransitionError, InvalidValueError
from tests.application.conftest import AGENT, SUPERVISOR, an_x_identity, open_from_tweet

MINUTE = 60


def policy(name: str, seconds: int, **fields: Any) -> dict[str, Any]:
    return {"name": name, "targets": [{"metric": "first_response", "seconds": seconds}], **fields}


def due(app: Conversations, case: Any) -> Any:
    return app.sla_clock(case.id).due("first_response")


def test_a_case_opened_with_no_policy_gets_the_built_in_one(application: Conversations) -> None:
    case = open_from_tweet(application)

    pinned = application.get_conversation(case.id).sla_policy
    assert (pinned["id"], pinned["version"], pinned["reason"]) == ("default", 0, "rules")
    assert due(application, case) == application.clock() + timedelta(hours=1)


def test_the_first_matching_policy_by_rank_applies(application: Conversations) -> None:
    application.create_sla_policy(policy("email", 8 * 3600, conditions={"channels": ["email"]}),
                                  actor=SUPERVISOR)  # fmt: skip
    later = application.create_sla_policy(policy("x, rank 50", 30 * MINUTE, rank=50),
                                          actor=SUPERVISOR)  # fmt: skip
    first = application.create_sla_policy(policy("x, rank 10", 20 * MINUTE, rank=10,
                                          conditions={"channels": ["x_public"]}), actor=SUPERVISOR)  # fmt: skip

    case = open_from_tweet(application)

    assert application.get_conversation(case.id).sla_policy["id"] == str(first.id)
    assert due(application, case) == application.clock() + timedelta(minutes=20)
    application.retire_sla_policy(first.id, actor=SUPERVISOR)
    again = open_from_tweet(application)
    assert application.get_conversation(again.id).sla_policy["id"] == str(later.id)


def test_a_customers_tags_choose_the_policy(application: Conversations) -> None:
    vip = application.create_sla_policy(
        policy("VIP", 15 * MINUTE, conditions={"customer_tags": ["vip"]}), actor=SUPERVISOR
    )
    someone = an_x_identity()
    first = open_from_tweet(application, someone)
    customer = first.extra["customer_id"]
    application.change_customer_tags(customer, add=["vip"], actor=AGENT)

    second = open_from_tweet(application, someone)

    assert application.get_conversation(first.id).sla_policy["id"] == "default"
    assert application.get_conversation(second.id).sla_policy["id"] == str(vip.id)
    assert application.get_customer(customer).tags == ["vip"]


def test_a_case_keeps_the_version_it_started_under(
    application: Conversations, clock: Clock
) -> None:
    made = application.create_sla_policy(policy("X", 30 * MINUTE), actor=SUPERVISOR)
    case = open_from_tweet(application)
    promised = due(application, case)

    clock.advance(minutes=1)
    revised = application.revise_sla_policy(made.id, policy("X", 10 * MINUTE), actor=SUPERVISOR,
                                            expected_version=1)  # fmt: skip
    newer = open_from_tweet(application)

    assert revised.extra["policy_version"] == 2
    assert due(application, case) == promised
    assert application.get_conversation(case.id).sla_policy["version"] == 1
    assert due(application, newer) == clock() + timedelta(minutes=10)
    assert [v["spec"]["targets"][0]["seconds"] for v in
            application.get_sla_policy(made.id).versions] == [1800, 600]  # fmt: skip


def test_a_supervisor_reapplies_a_policy_and_that_is_an_event(
    application: Conversations, clock: Clock
) -> None:
    made = application.create_sla_policy(policy("X", 30 * MINUTE), actor=SUPERVISOR)
    case = open_from_tweet(application)
    urgent = application.create_sla_policy(
        policy("urgent", 5 * MINUTE, rank=1, conditions={"priorities": ["urgent"]}),
        actor=SUPERVISOR,
    )
    application.change_priority(case.id, priority="urgent", actor=AGENT)
    assert application.get_conversation(case.id).sla_policy["id"] == str(made.id)  # kept

    clock.advance(minutes=2)
    application.reapply_sla(case.id, actor=SUPERVISOR)

    pinned = application.get_conversation(case.id).sla_policy
    assert (pinned["id"], pinned["reason"]) == (str(urgent.id), "reapplied")
    assert due(application, case) == clock() + timedelta(minutes=3)  # two minutes counted
    application.reapply_sla(case.id, actor=SUPERVISOR, policy_id=str(made.id), version=1)
    assert application.get_conversation(case.id).sla_policy["id"] == str(made.id)


def test_bad_policies_and_edits_are_refused_naming_the_field(application: Conversations) -> None:
    made = application.create_sla_policy(policy("X", 60), actor=SUPERVISOR)
    bad: list[tuple[dict[str, Any], str]] = [
        (policy("X", 0), "targets.seconds"),
        ({**policy("X", 60), "targets": [{"metric": "lunch", "seconds": 60}]}, "targets.metric"),
        (
            {
                **policy("X", 60),
                "targets": [{"metric": "resolution", "seconds": 60, "business_hours": True}],
            },
            "calendar",
        ),
        ({**policy("X", 60), "calendar": {"time_zone": "Mars/Olympus"}}, "time_zone"),
        (policy(" ", 60), "name"),
    ]
    for spec, field in bad:
        with pytest.raises(InvalidValueError) as refused:
            application.create_sla_policy(spec, actor=SUPERVISOR)
        assert refused.value.field == field, spec
    application.retire_sla_policy(made.id, actor=SUPERVISOR)
    with pytest.raises(InvalidTransitionError):
        application.revise_sla_policy(made.id, policy("X", 60), actor=SUPERVISOR)
    assert [p.id for p in application.list_sla_policies(include_retired=True)] == [made.id]


def test_two_sweeps_at_once_record_one_breach(
    application: Conversations,
    clock: Clock,
    another_instance: Callable[[Clock], Conversations],
) -> None:
    application.create_sla_policy(policy("X", MINUTE), actor=SUPERVISOR)
    case = open_from_tweet(application)
    clock.advance(minutes=5)
    other = another_instance(clock)
    start = threading.Barrier(2)
    results: list[tuple[int, int]] = []

    def sweep(app: Conversations) -> None:
        start.wait()
        results.append(app.record_sla_alarms(case.id))

    threads = [threading.Thread(target=sweep, args=(a,)) for a in (application, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    breaches = application.get_conversation(case.id).sla_breaches
    assert [(b["metric"], b["seq"]) for b in breaches] == [("first_response", 1)]
    assert sorted(r[0] for r in results) == [0, 1]
    assert breaches[0]["deadline"] == application.get_conversation(case.id).opened_at + timedelta(
        minutes=1
    )
    assert breaches[0]["detected_at"] == clock()
