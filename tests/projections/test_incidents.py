"""The incident ledger: per case, when it was linked, acknowledged and followed up
(delivered), what is still owed; and equal to a rebuild from the log, however batched."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest

from domain.application import Conversations
from domain.values import Identity
from projections.db import ReadStore
from projections.incidents import IncidentLedger, incident_ledger, incident_summary, list_incidents
from projections.log import NotificationLog
from projections.rebuild import rebuild, verify
from tests.conftest import Clock
from tests.projections.support import (
    AGENT,
    INTEGRATION,
    SUPERVISOR,
    dump_tables,
    follower,
    second_read_store,
)

WORKER = "system:delivery"


def complain(app: Conversations, n: int, body: str = "@brand app down?") -> UUID:
    return app.open_conversation(
        channel="x_public", body=f"{body} {n}", actor=INTEGRATION,
        identity=Identity("x", f"77{n:04d}", f"c{n}"), external_id=f"18{n:017d}",
    ).id  # fmt: skip


def deliver(app: Conversations, case: UUID, kind: str, external_id: str) -> UUID:
    [reply_id] = [
        UUID(r) for r, x in app.get_conversation(case).replies.items() if x["kind"] == kind
    ]
    app.dispatch_reply(case, reply_id=reply_id, attempt=1, actor=WORKER)
    app.record_delivery(case, reply_id=reply_id, external_id=external_id, actor=WORKER)
    return reply_id


def an_outage(app: Conversations, clock: Clock) -> dict[str, UUID]:
    """Cases linked by keyword and by hand, one unlinked, one erased; acknowledgements
    delivered, failing and retried; the update posted; resolved and followed up."""
    incident = app.declare_incident(
        title="App down", public_summary="We are down", links=["https://status.example.com"],
        keywords=["down"], actor=SUPERVISOR,
    ).id  # fmt: skip
    cases = {f"c{n}": complain(app, n) for n in range(4)}
    clock.advance(minutes=1)
    cases["hand"] = complain(app, 9, "@brand nothing works")
    app.link_to_incident(incident, cases["hand"], actor=AGENT)
    cases["mistake"] = complain(app, 10, "@brand my parcel is down the road")
    clock.advance(minutes=1)
    app.erase_customer(app.get_conversation(cases["c3"]).customer_id, actor=SUPERVISOR)
    app.acknowledge_incident(incident, body="Sorry, we know", actor=SUPERVISOR)
    app.unlink_from_incident(incident, cases["mistake"], actor=AGENT)
    clock.advance(minutes=2)
    deliver(app, cases["c0"], "acknowledgement", "501")
    deliver(app, cases["hand"], "acknowledgement", "502")
    failing = next(
        UUID(r) for r, x in app.get_conversation(cases["c1"]).replies.items()
        if x["kind"] == "acknowledgement"
    )  # fmt: skip
    app.dispatch_reply(cases["c1"], reply_id=failing, attempt=1, actor=WORKER)
    app.record_delivery_failure(
        cases["c1"], reply_id=failing, reason="X said 503", attempt=1, retryable=False,
        code="rejected", actor=WORKER,
    )  # fmt: skip
    update = app.post_incident_update(incident, actor=SUPERVISOR).extra["update_id"]
    app.dispatch_incident_update(incident, update_id=update, attempt=1, actor=WORKER)
    app.record_incident_update_delivery(
        incident, update_id=update, external_id="500", actor=WORKER, attempt=1
    )
    clock.advance(minutes=30)
    app.resolve_incident(incident, summary="fixed", actor=SUPERVISOR)
    clock.advance(minutes=1)
    deliver(app, cases["c0"], "follow_up", "601")
    app.request_redelivery(cases["c1"], reply_id=failing, actor="ops:olga")
    return {"incident": incident, **cases}


def test_the_ledger_shows_each_case_delivered_times_and_what_is_still_owed(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    incident = application.declare_incident(
        title="App down", public_summary="We are down", links=[], keywords=["down"],
        actor=SUPERVISOR,
    ).id  # fmt: skip
    linked_at = clock()
    first, second = complain(application, 1), complain(application, 2)
    clock.advance(minutes=3)
    queued_at = clock()
    application.acknowledge_incident(incident, body="Sorry, we know", actor=SUPERVISOR)
    acknowledged_at = clock.advance(minutes=2)
    deliver(application, first, "acknowledgement", "901")
    live = follower(read_store, events, batch_size=4)
    live.run_once()

    page = incident_ledger(read_store, str(incident))
    rows = {r["conversation_id"]: r for r in page["items"]}
    assert list(rows) == [str(first), str(second)]  # the order they were linked
    row = rows[str(first)]
    assert (row["linked_at"], row["acknowledgement_queued_at"], row["acknowledged_at"]) == (
        linked_at.isoformat(), queued_at.isoformat(), acknowledged_at.isoformat(),
    )  # fmt: skip
    assert (row["how"], row["keyword"], row["owed"]) == ("keyword", "down", None)
    assert rows[str(second)]["owed"] == "acknowledgement"
    assert rows[str(second)]["acknowledgement"]["status"] == "queued"
    assert page["counts"] == {
        "linked": 2, "acknowledged": 1, "followed_up": 0, "owed_acknowledgement": 1,
        "owed_follow_up": 0,
    }  # fmt: skip
    owed = incident_ledger(read_store, str(incident), owed="acknowledgement")["items"]
    assert [r["conversation_id"] for r in owed] == [str(second)]

    clock.advance(minutes=10)
    application.resolve_incident(incident, summary="fixed", actor=SUPERVISOR)
    followed_at = clock.advance(minutes=1)
    deliver(application, second, "follow_up", "902")
    live.run_once()

    after = {r["conversation_id"]: r for r in incident_ledger(read_store, str(incident))["items"]}
    assert after[str(first)]["owed"] == "follow_up"  # acknowledged, but not followed up yet
    assert after[str(second)]["owed"] is None
    assert after[str(second)]["followed_up_at"] == followed_at.isoformat()
    assert after[str(second)]["acknowledged_at"] is None  # never delivered: the ledger says so
    assert after[str(second)]["resolved_by_incident"] is True
    summary = incident_summary(read_store, str(incident))
    assert summary is not None and summary["status"] == "resolved"
    assert summary["counts"]["owed_follow_up"] == 1


def test_the_ledger_pages_in_link_order_and_lists_incidents_latest_first(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    older = application.declare_incident(
        title="Old", public_summary="x", links=[], keywords=[], actor=SUPERVISOR
    ).id
    incident = application.declare_incident(
        title="New", public_summary="y", links=[], keywords=["down"], actor=SUPERVISOR
    ).id
    cases = []
    for n in range(5):
        clock.advance(seconds=10)
        cases.append(complain(application, n))
    application.resolve_incident(older, summary="done", actor=SUPERVISOR)
    follower(read_store, events).run_once()

    seen, cursor = [], None
    while True:
        page = incident_ledger(read_store, str(incident), limit=2, cursor=cursor)
        seen += [r["conversation_id"] for r in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == [str(c) for c in cases]
    with pytest.raises(ValueError):
        incident_ledger(read_store, str(incident), cursor="bm90LWEtbnVtYmVy")

    listed = list_incidents(read_store, None, limit=1)
    assert [i["id"] for i in listed["items"]] == [str(incident)]
    rest = list_incidents(read_store, None, limit=1, cursor=listed["next_cursor"])
    assert [i["id"] for i in rest["items"]] == [str(older)] and rest["next_cursor"] is None
    assert [i["id"] for i in list_incidents(read_store, "resolved")["items"]] == [str(older)]
    assert list_incidents(read_store, "live")["items"][0]["counts"]["linked"] == 5


@pytest.mark.parametrize("batch_size", [1, 3, 500])
def test_the_ledger_equals_its_rebuild_and_a_follower_batched_otherwise(
    application: Conversations,
    clock: Clock,
    read_store: ReadStore,
    events: NotificationLog,
    store: dict[str, str],
    tmp_path: Path,
    batch_size: int,
) -> None:
    ids = an_outage(application, clock)
    ledger = IncidentLedger()
    live = follower(read_store, events, [ledger], batch_size=batch_size)
    live.run_once()
    assert live.failed == {}
    before = dump_tables(read_store, [ledger])

    assert verify(read_store, events, ledger) == []
    rebuild(read_store, events, ledger, batch_size=2)
    assert dump_tables(read_store, [ledger]) == before
    with second_read_store(store, tmp_path) as other:
        follower(other, events, [ledger], batch_size=500).run_once()
        assert dump_tables(other, [ledger]) == before

    rows = {
        r["conversation_id"]: r for r in incident_ledger(read_store, str(ids["incident"]))["items"]
    }
    assert str(ids["mistake"]) not in rows  # unlinked
    assert set(rows) == {str(ids[k]) for k in ("c0", "c1", "c2", "c3", "hand")}
    assert rows[str(ids["c0"])]["owed"] is None
    assert rows[str(ids["c1"])]["acknowledgement"]["status"] == "queued"  # retried by ops
    assert rows[str(ids["c3"])]["acknowledgement"] == {
        "reply_id": None, "status": "skipped", "skipped": "customer_erased",
    }  # fmt: skip
    assert rows[str(ids["hand"])]["how"] == "hand"
    summary = incident_summary(read_store, str(ids["incident"]))
    assert summary is not None
    [update] = summary["updates"]
    assert (update["status"], update["external_id"], update["attempts"]) == ("delivered", "500", 1)
