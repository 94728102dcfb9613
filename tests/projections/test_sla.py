"""The SLA view: each case's clock and every measurement, folded by the domain's SlaClock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from domain.application import Conversations
from domain.values import Identity
from projections.db import ReadStore, timestamp
from projections.log import NotificationLog
from projections.sla import MEASUREMENT_COLUMNS, conversation_sla, due_alarms, measurement_summary
from tests.conftest import Clock
from tests.projections.support import AGENT, CUSTOMER, INTEGRATION, SUPERVISOR, follower

HOUR = timedelta(hours=1)


def answer(app: Conversations, conversation: UUID, kind: str = "answer") -> None:
    """A reply queued and delivered at once (a response counts when delivered)."""
    queued = app.queue_reply(conversation, kind=kind, body="on it", actor=AGENT)
    app.record_delivery(
        conversation, reply_id=queued.extra["reply_id"], external_id=f"x-{queued.position}",
        actor="system",
    )  # fmt: skip


def resolve(app: Conversations, conversation: UUID) -> None:
    app.update(
        conversation, lambda c, now: c.resolve(resolution="answered", actor=AGENT, timestamp=now)
    )


def stored(read_store: ReadStore, conversation: UUID) -> list[dict[str, Any]]:
    return read_store.query(
        "SELECT * FROM proj_sla_measurements WHERE conversation_id = ? ORDER BY metric, seq",
        [str(conversation)],
    )


def as_row(conversation: UUID, m: Any) -> dict[str, Any]:
    """A domain measurement as the view stores it (without its position)."""
    return {
        "conversation_id": str(conversation), "metric": m.metric, "seq": m.seq,
        "started_at": timestamp(m.started_at), "ended_at": timestamp(m.ended_at),
        "seconds": m.seconds, "wall_seconds": m.wall_seconds, "target_seconds": m.target_seconds,
        "met": None if m.met is None else int(m.met), "deadline": timestamp(m.deadline),
        "breached": int(m.breached), "response": m.response, "channel": m.channel,
        "priority": m.priority, "agent": m.agent, "team": m.team, "policy_id": m.policy_id,
        "policy_version": m.policy_version,
    }  # fmt: skip


def test_the_view_holds_what_the_case_clock_measures_across_a_switch_and_a_reopen(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    conversation = application.open_conversation(
        channel="x_public", body="@brand broken", actor=INTEGRATION,
        identity=Identity("x", "4242"), external_id="tweet-1",
    ).id  # fmt: skip
    clock.advance(minutes=10)
    application.switch_channel(conversation, to="x_dm", reason="order number", actor=AGENT)
    clock.advance(minutes=20)
    answer(application, conversation, "acknowledgement")
    clock.advance(minutes=30)
    application.receive_message(conversation, channel="x_dm", body="#123", actor=CUSTOMER)
    clock.advance(minutes=100)
    answer(application, conversation)
    clock.advance(minutes=30)
    resolve(application, conversation)
    clock.advance(minutes=30)
    application.update(
        conversation, lambda c, now: c.reopen(reason="not fixed", actor=AGENT, timestamp=now)
    )
    application.receive_message(conversation, channel="x_dm", body="still broken", actor=CUSTOMER)
    follower(read_store, events, batch_size=2).run_once()

    case = application.sla_clock(conversation)
    rows = stored(read_store, conversation)
    assert [{k: r[k] for k in MEASUREMENT_COLUMNS if k != "position"} for r in rows] == sorted(
        (as_row(conversation, m) for m in case.all_measurements()),
        key=lambda r: (r["metric"], r["seq"]),
    )
    assert [(r["metric"], r["seq"], r["seconds"], r["response"]) for r in rows] == [
        ("first_response", 1, 1800.0, "acknowledgement"),
        ("next_response", 2, 6000.0, "answer"),
        ("resolution", 1, 7800.0, "resolved"),  # waits on the customer pause it
    ]
    view = conversation_sla(read_store, str(conversation))
    assert view is not None
    assert (view["origin_channel"], view["current_channel"], view["status"]) == (
        "x_public", "x_dm", "open",
    )  # fmt: skip
    assert view["next_response_due"] == case.due("next_response").isoformat()  # type: ignore[union-attr]
    assert view["first_response_due"] is None
    assert view["next_alarm"] == case.next_alarm().isoformat()  # type: ignore[union-attr]
    assert (view["policy_id"], view["policy_version"]) == (case.policy_id, case.policy_version)
    assert len(view["measurements"]) == 3


def test_a_breach_recorded_after_the_response_flags_the_measurement_already_stored(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    application.create_sla_policy(
        {"name": "API in a minute", "conditions": {"channels": ["api"]},
         "targets": [{"metric": "first_response", "seconds": 60}]},
        actor=SUPERVISOR,
    )  # fmt: skip
    conversation = application.open_conversation(
        channel="api", body="late order", actor=INTEGRATION,
        identity=Identity("email", "bo@example.com"),
    ).id  # fmt: skip
    live = follower(read_store, events)
    live.run_once()
    opened = conversation_sla(read_store, str(conversation))
    assert opened is not None and opened["next_alarm"] is not None
    assert [k for _, k in due_alarms(read_store, clock(), 10)] == []
    clock.advance(minutes=5)
    assert [k for _, k in due_alarms(read_store, clock(), 10)] == [str(conversation)]
    answer(application, conversation)  # late: missed, but no breach on record yet
    live.run_once()
    (first,) = [r for r in stored(read_store, conversation) if r["metric"] == "first_response"]
    assert (first["met"], first["breached"]) == (0, 0)

    assert application.record_sla_alarms(conversation) == (1, 0)
    live.run_once()
    (first,) = [r for r in stored(read_store, conversation) if r["metric"] == "first_response"]
    assert (first["met"], first["breached"]) == (0, 1)
    view = conversation_sla(read_store, str(conversation))
    assert view is not None and view["breached"] is True
    assert [k for _, k in due_alarms(read_store, clock(), 10)] == []  # nothing more owed


def test_the_summary_holds_each_response_to_its_own_cases_policy(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    start = clock()
    quick = application.open_conversation(
        channel="x_public", body="@brand quick?", actor=INTEGRATION,
        identity=Identity("x", "5151"),
    ).id  # fmt: skip
    slow = application.open_conversation(
        channel="x_dm", body="slow?", actor=INTEGRATION, identity=Identity("x", "5252"),
    ).id  # fmt: skip
    clock.advance(minutes=30)
    answer(application, quick)  # 30 min: met (an hour on X)
    clock.advance(minutes=90)
    answer(application, slow)  # 2 h: missed
    clock.advance(minutes=5)
    application.receive_message(quick, channel="x_public", body="and?", actor=CUSTOMER)
    clock.advance(minutes=10)
    answer(application, quick)  # next, 10 min
    follower(read_store, events).run_once()

    figures = measurement_summary(read_store, start, start + timedelta(days=1))

    assert figures["first_response"] == {
        "count": 2, "met": 1, "breached": 1, "met_ratio": 0.5,
        "median_seconds": 1800.0, "p90_seconds": 7200.0,
    }  # fmt: skip
    assert (figures["next_response"]["count"], figures["next_response"]["met"]) == (1, 1)
    early = measurement_summary(read_store, start, start + timedelta(minutes=31))
    assert (early["first_response"]["count"], early["next_response"]["count"]) == (1, 0)
    none = measurement_summary(read_store, start, start + timedelta(minutes=30))
    assert none["first_response"]["met_ratio"] is None
