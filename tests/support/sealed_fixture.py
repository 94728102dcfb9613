"""The workload behind ``tests/application/fixtures/events_v4.json``: every event type with
personal data, sealed as this version stores it, with the data keys and master key that
open it, and one customer erased (so the fixture also holds erased events).

    .venv/bin/python -m tests.support.sealed_fixture tests/application/fixtures/events_v4.json

Every personal value the workload writes contains ``PII``, so a test can check that none
of them is in the stored events in the clear.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from app.config import Settings, event_store_env
from domain.application import Conversations
from domain.inbound import Contact
from domain.privacy import new_master_key
from domain.values import Identity, Origin

AGENT, INTEGRATION, SUPERVISOR = "agent:alice", "integration:mail", "supervisor:sue"


class SteppingClock:
    step = timedelta(seconds=10)

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


def workload(app: Conversations) -> dict[str, str]:
    """Bea's case touches every sealed event type; Cy is erased, and his address is then
    claimed again by a new customer (Released, and an entry of the next generation)."""
    bea = Identity("email", "pii-bea@example.com")
    opened = app.open_conversation(
        channel="email", body="PII: my card ends 4242", actor=INTEGRATION, identity=bea,
        customer_name="PII Bea Example", subject="PII order 17", external_id="<bea-1@example.com>",
        origin=Origin(bea, None, "<bea-1@example.com>", None),
        details={"html": "<p>PII</p>", "attachments": [], "quoted_at": None},
    )  # fmt: skip
    case, customer = opened.id, opened.extra["customer_id"]
    app.receive_message(case, channel="email", body="PII: any news?", actor=INTEGRATION,
                        external_id="<bea-2@example.com>")  # fmt: skip
    reply = app.queue_reply(case, kind="answer", body="PII: refunded to 4242", actor=AGENT)
    reply_id = reply.extra["reply_id"]
    app.record_delivery_failure(
        case, reply_id=reply_id, reason="450 PII <pii-bea@example.com> greylisted", attempt=1,
        retryable=True, code="transient", actor="worker:x",
    )  # fmt: skip
    app.record_delivery(case, reply_id=reply_id, external_id="<r-1@parley>", actor="worker:x")
    app.record_bounce(message_id="<r-1@parley>", reason="550 PII <pii-bea@example.com> gone",
                      status="5.1.1", bounce_id="<b-1@mx>", actor=INTEGRATION)  # fmt: skip
    app.receive_automated(
        Contact(channel="email", body="PII: I am away", external_id="<ooo-1@example.com>",
                sender=bea, actor=INTEGRATION, origin=Origin(bea, None, None, "<r-1@parley>")),
        kind="auto_reply",
    )  # fmt: skip
    app.add_note(case, body="PII: called her bank", actor=AGENT)
    app.add_identity(customer, identity=Identity("phone", "+44 PII 7946 0958"), actor=AGENT)
    app.switch_channel(case, to="phone", reason="PII: she asked to be called", actor=AGENT)
    app.log_call(case, direction="outbound", started_at=app.clock(), duration_seconds=120,
                 summary="PII: explained the refund", actor=AGENT, number="+44 PII 7946 0958")  # fmt: skip
    app.resolve(case, resolution="fixed", actor=AGENT)
    app.reopen(case, reason="PII: refund not arrived", actor=AGENT)

    app.receive_chat("s-fixture-2", body="PII: hello from the widget", actor=INTEGRATION,
                     customer_name="PII Dee", email="pii-dee@example.com")  # fmt: skip
    app.end_chat("s-fixture-2", actor=INTEGRATION, reason="PII: closed the tab")

    cy = Identity("x", "9990001")
    first = app.open_conversation(channel="x_public", body="@brand PII cy's tweet",
                                  actor=INTEGRATION, identity=cy, external_id="7770001")  # fmt: skip
    erased = first.extra["customer_id"]
    app.erase_customer(erased, actor=SUPERVISOR, reference="DSR-1")
    again = app.open_conversation(channel="x_public", body="@brand PII back again",
                                  actor=INTEGRATION, identity=cy, external_id="7770002")  # fmt: skip
    return {"case": str(case), "customer": str(customer), "reply_id": str(reply_id),
            "erased_case": str(first.id), "erased": str(erased),
            "new_customer": str(again.extra["customer_id"])}  # fmt: skip


def write(path: Path) -> None:
    key = new_master_key()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings.from_env({"PARLEY_SQLITE_PATH": f"{folder}/parley.sqlite",
                                      "PARLEY_MASTER_KEY": key})  # fmt: skip
        app = Conversations(
            env=event_store_env(settings, create_tables=True), clock=SteppingClock()
        )
        ids = workload(app)
        events = [
            {"originator_id": str(n.originator_id), "originator_version": n.originator_version,
             "topic": n.topic, "state": n.state.decode()}
            for n in app.recorder.select_notifications(start=1, limit=10_000)
        ]  # fmt: skip
        with app.recorder.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
            c.execute("SELECT owner_id, wrapped, created_at, destroyed_at FROM parley_data_keys")
            keys = [
                {"owner_id": str(UUID(r[0])), "wrapped": None if r[1] is None else bytes(r[1]).hex(),
                 "created_at": r[2], "destroyed_at": r[3]}
                for r in c.fetchall()
            ]  # fmt: skip
        app.close()
    fixture = {"stored_by": "Audit and privacy: every event type with personal data, sealed",
               "master_key": key, **ids, "data_keys": keys, "events": events}  # fmt: skip
    path.write_text(json.dumps(fixture, indent=1) + "\n")


if __name__ == "__main__":
    write(Path(sys.argv[1]))
