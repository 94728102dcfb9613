"""The SLA sweep over the ``sla`` view: due cases get their breaches and warnings
recorded, once; cases not due, or answered since the view last looked, get nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID

import pytest

from app.config import Settings
from domain.application import Conversations
from domain.values import Identity
from projections import positions
from projections.db import ReadStore, open_read_store
from projections.log import NotificationLog
from tests.conftest import Clock
from tests.projections.support import AGENT, INTEGRATION, SUPERVISOR, follower
from workers.sla_sweep import sweep_sla

MINUTE_ON_API = {
    "name": "API in a minute", "conditions": {"channels": ["api"]},
    "targets": [{"metric": "first_response", "seconds": 60}],
}  # fmt: skip


@pytest.fixture
def read_store(store: dict[str, str]) -> Iterator[ReadStore]:
    opened = open_read_store(Settings.from_env(store))
    yield opened
    opened.close()


def open_api_case(app: Conversations, n: int) -> UUID:
    return app.open_conversation(
        channel="api", body=f"order {n} is late", actor=INTEGRATION,
        identity=Identity("email", f"c{n}@example.com"),
    ).id  # fmt: skip


def alarms(app: Conversations, case: UUID) -> list[str]:
    return [type(e).__name__ for e in app.events.get(case) if type(e).__name__.startswith("Sla")]


def test_the_sweep_records_what_due_cases_owe_and_leaves_the_rest_alone(
    application: Conversations, clock: Clock, read_store: ReadStore
) -> None:
    application.create_sla_policy(MINUTE_ON_API, actor=SUPERVISOR)
    late = open_api_case(application, 1)
    answered = open_api_case(application, 2)
    clock.advance(seconds=50)  # at risk (80% of the minute gone), not breached
    fresh = open_api_case(application, 3)
    live = follower(read_store, NotificationLog(application.recorder, application.mapper))
    live.run_once()

    warned = sweep_sla(application, read_store)

    assert (warned.cases, warned.breaches, warned.warnings) == (2, 0, 2)
    clock.advance(seconds=5)
    queued = application.queue_reply(answered, kind="answer", body="here", actor=AGENT)
    application.record_delivery(
        answered, reply_id=queued.extra["reply_id"], external_id="out-1", actor="system"
    )  # answered in time; the view has not seen it yet: the case's own events decide
    clock.advance(seconds=10)
    swept = sweep_sla(application, read_store)

    assert (swept.breaches, swept.failed) == (1, 0)
    assert alarms(application, late) == ["SlaAtRisk", "SlaBreached"]
    assert alarms(application, answered) == ["SlaAtRisk"]
    assert alarms(application, fresh) == []  # 15 s old: nothing due
    (breach,) = [e for e in application.events.get(late) if type(e).__name__ == "SlaBreached"]
    assert breach.deadline == application.sla_clock(late).timers["first_response"].started_at + (
        timedelta(seconds=60)
    )

    live.run_once()
    again = sweep_sla(application, read_store)
    assert (again.cases, again.breaches, again.warnings) == (0, 0, 0)  # nothing left due


def test_a_sweep_pages_through_every_due_case_and_a_second_sweep_records_nothing_twice(
    application: Conversations, clock: Clock, read_store: ReadStore
) -> None:
    application.create_sla_policy(MINUTE_ON_API, actor=SUPERVISOR)
    cases = [open_api_case(application, n) for n in range(5)]
    clock.advance(minutes=2)
    follower(read_store, NotificationLog(application.recorder, application.mapper)).run_once()

    first = sweep_sla(application, read_store, page=2)
    second = sweep_sla(application, read_store, page=2)  # the view has not caught up

    assert (first.cases, first.breaches, first.warnings) == (5, 5, 0)  # no warning once late
    assert (second.cases, second.breaches, second.warnings) == (5, 0, 0)
    for case in cases:
        assert alarms(application, case) == ["SlaBreached"]
    bounded = sweep_sla(application, read_store, page=2, most=3)
    assert bounded.cases == 3


def test_while_the_sla_view_is_outdated_the_sweep_waits_instead_of_failing(
    application: Conversations, clock: Clock, read_store: ReadStore
) -> None:
    application.create_sla_policy(MINUTE_ON_API, actor=SUPERVISOR)
    case = open_api_case(application, 1)
    clock.advance(minutes=2)
    follower(read_store, NotificationLog(application.recorder, application.mapper)).run_once()
    with read_store.transaction(lock_key="sla") as tx:  # as the next version finds it
        tx.run(f"UPDATE {positions.TABLE} SET version = version - 1 WHERE name = 'sla'")

    swept = sweep_sla(application, read_store)

    assert swept.describe() == "the sla view is outdated (being built?): nothing swept"
    assert alarms(application, case) == []
