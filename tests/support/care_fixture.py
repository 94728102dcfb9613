"""The workload behind ``tests/application/fixtures/events_v7.json``: the care policy's
events as this version stores them (the rules adopted and revised; a case whose messages
were classified and routed; canned responses written, revised and deleted; a
roster, a case handed out round-robin and released), stored unsealed so the fixture needs no keys.

    .venv/bin/python -m tests.support.care_fixture tests/application/fixtures/events_v7.json
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from domain.application import Conversations
from domain.values import Identity
from tests.support.sealed_fixture import INTEGRATION, SUPERVISOR, SteppingClock
from tests.support.sla_fixture import write_fixture

RULES: dict[str, Any] = {
    "classifier": {
        "rules": [{"name": "lost", "label": "complaint", "keywords": ["never arrived"]}],
        "default": "other",
    },
    "routing": [
        {"name": "complaints", "classifications": ["complaint"], "team": "care",
         "priority": "medium"},
    ],
}  # fmt: skip


def workload(app: Conversations, clock: SteppingClock) -> dict[str, str]:
    app.roster_agent(
        "care",
        "ann",
        capacity=5,
        actor=SUPERVISOR,
        shift={"time_zone": "Europe/London", "hours": {"mon": ["09:00-17:00"]}},
    )
    app.roster_agent("care", "bob", capacity=5, shift={"time_zone": "UTC"}, actor=SUPERVISOR)
    app.roster_agent("care", "old", capacity=1, shift={"time_zone": "UTC"}, actor=SUPERVISOR)
    app.unroster_agent("care", "old", actor=SUPERVISOR)
    app.save_care_rules({"routing": []}, actor=SUPERVISOR)
    app.save_care_rules(RULES, actor=SUPERVISOR, expected_version=1)
    opened = app.open_conversation(channel="x_public", body="@brand it never arrived",
                                   actor=INTEGRATION, identity=Identity("x", "5550002"),
                                   external_id="8880002")  # fmt: skip
    app.receive_message(opened.id, channel="x_public", body="any news?", actor=INTEGRATION,
                        external_id="8880003")  # fmt: skip
    app.resolve(opened.id, resolution="answered", actor=SUPERVISOR)
    canned = app.create_canned_response(
        {"name": "Sorry", "team": "care", "body": "Sorry $customer_name, see $case_link"},
        actor=SUPERVISOR,
    )
    app.revise_canned_response(
        canned.id,
        {"name": "Sorry", "team": "care", "body": "Sorry, $customer_name."},
        actor=SUPERVISOR,
    )
    gone = app.create_canned_response(
        {"name": "Old", "team": "billing", "body": "Hello"}, actor=SUPERVISOR
    )
    app.delete_canned_response(gone.id, actor=SUPERVISOR)
    return {"case": str(opened.id), "canned": str(canned.id), "deleted": str(gone.id)}


if __name__ == "__main__":
    write_fixture(
        Path(sys.argv[1]), workload, "the care policy: its rules, and a case classified and routed"
    )
