"""The SLA clock folded from a case's events: what counts as a response, pauses, business
hours, targets that change, breaches owed at their real deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from domain.conversation import Conversation
from domain.sla_clock import SlaClock
from domain.sla_terms import Target, Terms
from tests.domain.builders import AGENT, INTEGRATION, T0, at

OPENED = T0 - timedelta(seconds=30)  # the tweet's own time: the clock starts then
HOUR = 3600


def terms(**options: Any) -> dict[str, Any]:
    targets = options.pop("targets", [Target("first_response", HOUR), Target("next_response", HOUR),
                                      Target("resolution", 8 * HOUR)])  # fmt: skip
    return Terms(targets=tuple(targets), **options).to_dict()


def opened(sla_terms: dict[str, Any] | None = None, channel: str = "x_public") -> Conversation:
    return Conversation(
        customer_id=uuid4(), channel=channel, public=True, subject=None, message_id=uuid4(),
        external_id="1", body="where is my parcel", published_at=OPENED, observed_at=T0,
        sender=None, brand_account=None, thread_id=None, in_reply_to=None, actor=INTEGRATION,
        timestamp=T0,
        sla={"policy_id": "p", "policy_version": 2, "policy_name": "P",
             "terms": sla_terms or terms()},
    )  # fmt: skip


def clock_of(case: Conversation, **options: Any) -> SlaClock:
    return SlaClock.of(case.collect_events(), **options)


def reply(case: Conversation, minutes: float, kind: str = "answer", actor: str = AGENT) -> str:
    reply_id = uuid4()
    case.queue_reply(reply_id=reply_id, kind=kind, body="on it", channel=None, actor=actor,
                     timestamp=at(minutes))  # fmt: skip
    return str(reply_id)


def deliver(case: Conversation, reply_id: str, minutes: float) -> None:
    from uuid import UUID

    case.record_delivery(reply_id=UUID(reply_id), external_id=f"t{minutes}", actor="worker:w",
                         timestamp=at(minutes))  # fmt: skip


def test_the_first_response_counts_when_delivered_and_an_acknowledgement_is_one() -> None:
    case = opened()
    case.add_note(note_id=uuid4(), body="checking", actor=AGENT, timestamp=at(5))
    ack = reply(case, 10, kind="acknowledgement")
    deliver(case, ack, 12)

    clock = clock_of(case)

    (first,) = [m for m in clock.all_measurements() if m.metric == "first_response"]
    assert first.ended_at == at(12) and first.seconds == 12 * 60 + 30
    assert (first.response, first.met, first.target_seconds) == ("acknowledgement", True, HOUR)
    assert (first.policy_id, first.policy_version) == ("p", 2)
    assert clock.due("first_response") is None


def test_a_queued_reply_that_fails_never_counts_and_the_breach_is_owed_at_the_deadline() -> None:
    case = opened()
    failed = reply(case, 10)
    from uuid import UUID

    case.record_delivery_failure(reply_id=UUID(failed), reason="403", attempt=1, retryable=False,
                                 code="rejected", actor="worker:w", timestamp=at(11))  # fmt: skip
    clock = clock_of(case)

    deadline = OPENED + timedelta(seconds=HOUR)
    assert clock.due("first_response") == deadline
    assert clock.owed(deadline - timedelta(seconds=1))[0] == []
    (breach,) = clock.owed(deadline + timedelta(seconds=3))[0]
    assert (breach.metric, breach.seq, breach.deadline) == ("first_response", 1, deadline)


def test_a_failed_reply_tried_again_counts_from_its_delivery() -> None:
    from uuid import UUID

    case = opened()
    failed = reply(case, 10)
    case.record_delivery_failure(reply_id=UUID(failed), reason="403", attempt=1, retryable=False,
                                 code="recipient_not_following", actor="worker:w",
                                 timestamp=at(11))  # fmt: skip
    case.request_redelivery(reply_id=UUID(failed), actor=AGENT, timestamp=at(20))
    deliver(case, failed, 21)

    (first,) = [m for m in clock_of(case).all_measurements() if m.metric == "first_response"]
    assert first.ended_at == at(21)


def test_a_breach_recorded_is_not_undone_by_a_late_response() -> None:
    case = opened()
    deadline = OPENED + timedelta(seconds=HOUR)
    case.record_sla_breach(metric="first_response", seq=1, deadline=deadline, actor="system:sla",
                           timestamp=deadline + timedelta(seconds=2))  # fmt: skip
    assert not case.record_sla_breach(metric="first_response", seq=1, deadline=deadline,
                                      actor="system:sla", timestamp=deadline)  # fmt: skip
    deliver(case, reply(case, 70), 71)

    clock = clock_of(case)

    (first,) = [m for m in clock.all_measurements() if m.metric == "first_response"]
    assert (first.met, first.breached, first.deadline) == (False, True, deadline)
    assert clock.owed(at(200))[0] == [] and clock.breached


def test_a_late_response_with_no_breach_recorded_still_owes_one() -> None:
    case = opened()
    deliver(case, reply(case, 70), 71)

    (breach,) = clock_of(case).owed(at(72))[0]

    assert breach.deadline == OPENED + timedelta(seconds=HOUR)


def test_snoozed_time_pauses_the_clock_until_the_snooze_ends() -> None:
    case = opened()
    case.snooze(until=at(40), actor=AGENT, timestamp=at(10))  # 30 minutes paused

    events = case.collect_events()

    assert SlaClock.of(events).due("first_response") == OPENED + timedelta(seconds=HOUR, minutes=30)
    case.unsnooze(actor=AGENT, timestamp=at(20))  # woken early: 10 minutes paused
    clock = SlaClock.of([*events, *case.collect_events()])
    assert clock.due("first_response") == OPENED + timedelta(seconds=HOUR, minutes=10)


def test_waiting_on_the_customer_pauses_resolution_only() -> None:
    case = opened()
    deliver(case, reply(case, 10), 10)  # answered: the customer has the ball
    case.receive_message(message_id=uuid4(), channel="x_public", external_id="2", body="thanks but",
                         published_at=at(70), origin=_no_origin(), actor=INTEGRATION,
                         timestamp=at(70))  # fmt: skip
    case.resolve(resolution="answered", actor=AGENT, timestamp=at(80))

    clock = clock_of(case)

    resolution = clock.measurements[("resolution", 1)]
    assert resolution.seconds == (10 * 60 + 30) + 10 * 60  # 60 minutes with the customer
    assert resolution.wall_seconds == 80 * 60 + 30
    assert clock.due("next_response") is None  # resolved: nothing runs


def test_business_hours_carry_a_target_over_the_weekend() -> None:
    office = {"time_zone": "Europe/London", "hours": {d: ["09:00-17:00"] for d in
              ("mon", "tue", "wed", "thu", "fri")}}  # fmt: skip
    case = Conversation(
        customer_id=uuid4(),
        channel="email",
        public=False,
        subject="s",
        message_id=uuid4(),
        external_id="m",
        body="hello",
        published_at=datetime(2026, 11, 6, 16, 30, tzinfo=UTC),
        observed_at=datetime(2026, 11, 6, 16, 30, tzinfo=UTC),
        sender=None,
        brand_account=None,
        thread_id=None,
        in_reply_to=None,
        actor=INTEGRATION,
        timestamp=datetime(2026, 11, 6, 16, 30, tzinfo=UTC),
        sla={
            "policy_id": "p",
            "policy_version": 1,
            "policy_name": "P",
            "terms": terms(
                calendar=office, targets=[Target("first_response", HOUR, business_hours=True)]
            ),
        },
    )  # fmt: skip  (Friday 16:30 in London, which is UTC in November)

    clock = clock_of(case)

    assert clock.due("first_response") == datetime(2026, 11, 9, 9, 30, tzinfo=UTC)  # Monday


def test_a_priority_change_tightens_the_target_and_keeps_the_time_counted() -> None:
    case = opened(terms(targets=[Target("first_response", HOUR),
                                 Target("first_response", 1200, priority="urgent")]))  # fmt: skip
    case.change_priority(priority="urgent", actor=AGENT, timestamp=at(10))

    clock = clock_of(case)

    assert clock.due("first_response") == OPENED + timedelta(seconds=1200)


def test_automated_replies_count_only_where_the_terms_say_so() -> None:
    for count, expected in ((False, None), (True, at(1))):
        case = opened(terms(count_automated_replies=count))
        deliver(case, reply(case, 1, kind="acknowledgement", actor="integration:bot"), 1)
        clock = clock_of(case)
        first = clock.measurements.get(("first_response", 1))
        assert (first.ended_at if first else None) == expected


def test_restated_terms_replace_the_pinned_ones() -> None:
    case = opened()
    deliver(case, reply(case, 40), 40)
    events = case.collect_events()
    strict = Terms(targets=(Target("first_response", 1800),))

    contractual = SlaClock.of(events).measurements[("first_response", 1)]
    restated = SlaClock.of(events, override=strict, override_policy=("what-if", 1))
    first = restated.measurements[("first_response", 1)]

    assert (contractual.met, first.met, first.policy_id) == (True, False, "what-if")


@pytest.mark.parametrize("minutes", [0, 15, 45, 75])
def test_a_clock_kept_as_state_reads_like_the_one_folded(minutes: int) -> None:
    case = opened()
    case.snooze(until=at(30), actor=AGENT, timestamp=at(5))
    folded = SlaClock.of(case.collect_events())
    kept = SlaClock.from_state(folded.to_state())
    now = at(minutes)
    assert kept.due("first_response") == folded.due("first_response")
    assert kept.owed(now) == folded.owed(now) and kept.next_alarm() == folded.next_alarm()


def _no_origin() -> Any:
    from domain.values import NO_ORIGIN

    return NO_ORIGIN
