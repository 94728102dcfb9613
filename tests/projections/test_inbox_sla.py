"""The inbox's SLA flags and the public follow-up owed, folded from the same events as
the aggregate and the case's SlaClock: the inbox says what they say."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from domain.application import Conversations
from domain.values import Identity
from projections.db import ReadStore
from projections.inbox import query_inbox
from projections.log import NotificationLog
from tests.conftest import Clock
from tests.projections.support import AGENT, CUSTOMER, INTEGRATION, SUPERVISOR, follower


def deliver(app: Conversations, cid: UUID, reply_id: UUID, n: int) -> None:
    app.record_delivery(cid, reply_id=reply_id, external_id=f"out-{n}", actor="system")


def test_the_inbox_and_the_aggregate_agree_on_the_follow_up_owed_at_every_step(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    cid = application.open_conversation(
        channel="x_public", body="@brand broken", actor=INTEGRATION,
        identity=Identity("x", "8181"), external_id="tweet-8181",
    ).id  # fmt: skip
    in_public = application.open_conversation(
        channel="x_public", body="@brand also broken", actor=INTEGRATION,
        identity=Identity("x", "8282"), external_id="tweet-8282",
    ).id  # fmt: skip
    live = follower(read_store, events, batch_size=3)

    def resolve(case: UUID) -> None:
        application.update(
            case, lambda c, now: c.resolve(resolution="fixed", actor=AGENT, timestamp=now)
        )

    def reopen(case: UUID) -> None:
        application.update(
            case, lambda c, now: c.reopen(reason="again", actor=AGENT, timestamp=now)
        )

    steps: list[tuple[str, Callable[[], Any]]] = [
        ("switched to a DM", lambda: application.switch_channel(
            cid, to="x_dm", reason="order number", actor=AGENT)),
        ("resolved in private", lambda: resolve(cid)),
        ("follow-up queued", lambda: steps_state.update(
            follow_up=application.queue_reply(
                cid, kind="follow_up", body="all fixed?", actor=AGENT).extra["reply_id"])),
        ("follow-up delivered", lambda: deliver(application, cid, steps_state["follow_up"], 1)),
        ("the customer writes again", lambda: application.receive_message(
            cid, channel="x_dm", body="no", actor=CUSTOMER)),
        ("resolved in private again", lambda: resolve(cid)),
        ("reopened", lambda: reopen(cid)),
        ("resolved a third time", lambda: resolve(cid)),
        ("a case resolved where it began", lambda: resolve(in_public)),
    ]  # fmt: skip
    steps_state: dict[str, Any] = {}
    seen = []
    for what, step in steps:
        clock.advance(minutes=5)
        step()
        live.run_once()
        for case in (cid, in_public):
            (row,) = [
                i for i in query_inbox(read_store, {"status": ["open", "snoozed", "resolved"]},
                                       limit=10)["items"]
                if i["conversation_id"] == str(case)
            ]  # fmt: skip
            owed = application.get_conversation(case).follow_up_owed
            assert row["follow_up_owed"] is owed, what
        seen.append(application.get_conversation(cid).follow_up_owed)

    assert seen == [False, True, True, False, False, True, False, True, True]
    owed = query_inbox(read_store, {"status": ["resolved"], "follow_up_owed": True}, limit=10)
    clear = query_inbox(read_store, {"status": ["resolved"], "follow_up_owed": False}, limit=10)
    assert [i["conversation_id"] for i in owed["items"]] == [str(cid)]
    assert [i["conversation_id"] for i in clear["items"]] == [str(in_public)]


def test_the_inbox_flags_at_risk_then_breached_cases_as_their_clock_does(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    application.create_sla_policy(
        {"name": "API in a minute", "conditions": {"channels": ["api"]},
         "targets": [{"metric": "first_response", "seconds": 60}]},
        actor=SUPERVISOR,
    )  # fmt: skip

    def open_case(n: int) -> UUID:
        return application.open_conversation(
            channel="api", body=f"order {n}", actor=INTEGRATION,
            identity=Identity("email", f"o{n}@example.com"),
        ).id  # fmt: skip

    late = open_case(1)
    calm = application.open_conversation(
        channel="email", body="no hurry", actor=INTEGRATION,
        identity=Identity("email", "calm@example.com"),
    ).id  # fmt: skip
    clock.advance(seconds=10)
    risky = open_case(2)
    clock.advance(seconds=50)  # late: the minute is up; risky: 50 s of 60 gone
    assert application.record_sla_alarms(late) == (1, 0)
    assert application.record_sla_alarms(risky) == (0, 1)
    follower(read_store, events).run_once()

    def chosen(sla: str) -> list[str]:
        return [i["conversation_id"] for i in query_inbox(read_store, {"sla": sla})["items"]]

    assert chosen("breached") == [str(late)]
    assert chosen("at_risk") == [str(risky)]
    assert chosen("ok") == [str(calm)]
    rows = {i["conversation_id"]: i for i in query_inbox(read_store, {})["items"]}
    assert rows[str(late)]["sla"] == {"state": "breached", "policy_id": str(
        application.sla_clock(late).policy_id), "policy_version": 1}  # fmt: skip
    assert (rows[str(late)]["sla_breached"], rows[str(late)]["sla_at_risk"]) == (True, False)
    assert (rows[str(risky)]["sla_breached"], rows[str(risky)]["sla_at_risk"]) == (False, True)
    assert rows[str(calm)]["sla"]["state"] == "ok"
    assert rows[str(calm)]["sla"]["policy_id"] == "default"
    # the most overdue first, by the clock of each case's own policy
    assert list(rows) == [str(late), str(risky), str(calm)]
    assert rows[str(late)]["due"] == application.sla_clock(late).response_due().isoformat()  # type: ignore[union-attr]
