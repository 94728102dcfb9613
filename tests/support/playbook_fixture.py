"""The workload behind ``tests/application/fixtures/events_v6.json``: the care
playbook's events as this version stores them (a case moved to DM, X asked whether the
DM reaches the customer, a DM refused), stored unsealed so the fixture needs no keys.

    .venv/bin/python -m tests.support.playbook_fixture tests/application/fixtures/events_v6.json
"""

from __future__ import annotations

import sys
from pathlib import Path
from uuid import UUID

from domain.application import Conversations
from domain.values import Identity
from tests.support.sealed_fixture import INTEGRATION, SteppingClock
from tests.support.sla_fixture import write_fixture

AGENT = "agent:alice"


def workload(app: Conversations, clock: SteppingClock) -> dict[str, str]:
    opened = app.open_conversation(channel="x_public", body="@brand where is my parcel",
                                   actor=INTEGRATION, identity=Identity("x", "5550002"),
                                   external_id="8880002")  # fmt: skip
    app.switch_channel(opened.id, to="x_dm", reason="order number", actor=AGENT)
    app.record_dm_reach(opened.id, receives_dms=True, follows_brand=False, actor="system:x")
    queued = app.queue_reply(opened.id, kind="answer", body="Your order number?", actor=AGENT)
    app.record_delivery_failure(
        opened.id, reply_id=UUID(str(queued.extra["reply_id"])), reason="X refused the DM",
        attempt=1, retryable=False, actor="worker:w", code="recipient_not_following",
    )  # fmt: skip
    return {"case": str(opened.id), "reply": str(queued.extra["reply_id"])}


if __name__ == "__main__":
    write_fixture(Path(sys.argv[1]), workload, "the care playbook: a case moved to DM")
