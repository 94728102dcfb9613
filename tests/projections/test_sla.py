"""The SLA clock: response times across channels, resolution time, reopens, and the report."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from domain import values as v
from domain.application import Conversations
from domain.sla import SlaPolicy
from domain.values import Identity
from projections.db import ReadStore
from projections.log import NotificationLog
from projections.sla import conversation_clock, report
from tests.conftest import Clock
from tests.projections.support import AGENT, CUSTOMER, INTEGRATION, follower

HOUR = timedelta(hours=1)
ONE_HOUR_EVERYWHERE = SlaPolicy(
    first_response=dict.fromkeys(v.CHANNELS, HOUR),
    next_response=dict.fromkeys(v.CHANNELS, HOUR),
)


def resolve(app: Conversations, conversation: UUID) -> None:
    app.update(
        conversation, lambda c, now: c.resolve(resolution="answered", actor=AGENT, timestamp=now)
    )


def test_response_times_follow_the_case_across_a_channel_switch_and_reopens(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    start = clock()
    conversation = application.open_conversation(
        channel="x_public", body="@brand broken", actor=INTEGRATION,
        identity=Identity("x", "4242"), external_id="tweet-1",
    ).id  # fmt: skip
    clock.advance(minutes=10)
    application.switch_channel(conversation, to="x_dm", reason="order number", actor=AGENT)
    first_at = clock.advance(minutes=20)  # 30 min after the tweet
    application.queue_reply(conversation, kind="acknowledgement", body="on it", actor=AGENT)
    waited_from = clock.advance(minutes=30)
    application.receive_message(conversation, channel="x_dm", body="#123", actor=CUSTOMER)
    clock.advance(minutes=20)
    application.receive_message(conversation, channel="x_dm", body="well?", actor=CUSTOMER)
    next_at = clock.advance(minutes=100)  # 2 h after the first unanswered message
    application.queue_reply(conversation, kind="answer", body="refunded", actor=AGENT)
    resolved_at = clock.advance(minutes=30)
    resolve(application, conversation)
    live = follower(read_store, events, batch_size=2)
    live.run_once()

    clock_row = conversation_clock(read_store, str(conversation))
    assert clock_row is not None
    assert clock_row["first_response_seconds"] == 1800.0
    assert clock_row["next_response_seconds"] == 7200.0
    assert clock_row["response_count"] == len(clock_row["responses"]) == 2
    assert clock_row["resolution_seconds"] == (resolved_at - start).total_seconds()
    assert clock_row["reopened"] == 0
    assert (clock_row["origin_channel"], clock_row["current_channel"]) == ("x_public", "x_dm")
    pairs = [
        (r["seq"], r["kind"], r["channel"], r["waited_from"], r["responded_at"], r["seconds"])
        for r in clock_row["responses"]
    ]
    assert pairs == [
        (1, "first", "x_public", start.isoformat(), first_at.isoformat(), 1800.0),
        (2, "next", "x_dm", waited_from.isoformat(), next_at.isoformat(), 7200.0),
    ]

    clock.advance(minutes=30)
    application.update(
        conversation, lambda c, now: c.reopen(reason="not fixed", actor=AGENT, timestamp=now)
    )
    live.run_once()
    reopened = conversation_clock(read_store, str(conversation))
    assert reopened is not None
    assert (reopened["reopened"], reopened["resolved_at"], reopened["resolution_seconds"]) == (
        1, None, None,
    )  # fmt: skip
    finally_resolved = clock.advance(minutes=30)
    resolve(application, conversation)
    clock.advance(minutes=30)
    application.receive_message(conversation, channel="x_dm", body="again", actor=CUSTOMER)
    live.run_once()
    again = conversation_clock(read_store, str(conversation))
    assert again is not None
    assert again["reopened"] == 2  # a customer message reopens a resolved case too
    assert again["resolved_at"] is None

    clock.advance(minutes=5)
    resolve(application, conversation)
    live.run_once()
    last = conversation_clock(read_store, str(conversation))
    assert last is not None
    assert last["resolution_seconds"] == (clock() - start).total_seconds()
    assert finally_resolved < clock()
    assert (
        conversation_clock(read_store, str(conversation))["response_count"] == 2
    )  # the last message is unanswered


def test_the_report_counts_met_and_breached_responses_under_a_one_hour_target(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    start = clock()
    quick = application.open_conversation(
        channel="x_public", body="@brand quick?", actor=INTEGRATION,
        identity=Identity("x", "5151"),
    ).id  # fmt: skip
    slow = application.open_conversation(
        channel="email", body="slow?", actor=INTEGRATION,
        identity=Identity("email", "slow@example.com"),
    ).id  # fmt: skip
    clock.advance(minutes=30)
    application.queue_reply(quick, kind="answer", body="quick", actor=AGENT)  # 30 min: met
    clock.advance(minutes=90)
    application.queue_reply(slow, kind="answer", body="slow", actor=AGENT)  # 2 h: breached
    clock.advance(minutes=5)
    application.receive_message(quick, channel="x_public", body="thanks, and?", actor=CUSTOMER)
    clock.advance(minutes=10)
    application.queue_reply(quick, kind="answer", body="and so", actor=AGENT)  # next, 10 min
    follower(read_store, events).run_once()

    figures = report(read_store, start, start + timedelta(days=1), ONE_HOUR_EVERYWHERE)

    assert figures["first_response"] == {
        "count": 2, "met": 1, "breached": 1, "met_ratio": 0.5,
        "median_seconds": 1800.0, "p90_seconds": 7200.0,
    }  # fmt: skip
    assert figures["next_response"]["count"] == 1
    assert figures["next_response"]["met"] == 1
    assert figures["next_response"]["median_seconds"] == 600.0

    # The default policy gives e-mail 8 h: the same facts, another verdict.
    relaxed = report(read_store, start, start + timedelta(days=1))
    assert relaxed["first_response"]["met"] == 2

    # The period is [start, end) on the response time.
    early = report(read_store, start, start + timedelta(minutes=31), ONE_HOUR_EVERYWHERE)
    assert (early["first_response"]["count"], early["next_response"]["count"]) == (1, 0)
    none = report(read_store, start, start + timedelta(minutes=30), ONE_HOUR_EVERYWHERE)
    assert none["first_response"]["count"] == 0
    assert none["first_response"]["met_ratio"] is None
