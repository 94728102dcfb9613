"""The workload behind ``tests/application/fixtures/events_v7.json``: the care policy's
events as this version stores them (the rules adopted and revised; a case whose messages
were classified and routed; canned responses written, revised and deleted; a
roster, a case handed out round-robin and released), stored unsealed so the fixture needs no keys.

    .venv/bin/python -m tests.support.care_fixture tests/application/fixtures/events_v7.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from app.config import Settings, event_store_env
from domain.application import Conversations
from domain.privacy import new_master_key
from domain.values import Identity
from tests.support.sealed_fixture import INTEGRATION, SUPERVISOR, SteppingClock

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


def write(path: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings.from_env({"PARLEY_SQLITE_PATH": f"{folder}/parley.sqlite",
                                      "PARLEY_MASTER_KEY": new_master_key()})  # fmt: skip
        clock = SteppingClock()
        app = Conversations(
            env=event_store_env(settings, create_tables=True), clock=clock,
            seal_personal_data=False,
        )  # fmt: skip
        ids = workload(app, clock)
        events = [
            {"originator_id": str(n.originator_id), "originator_version": n.originator_version,
             "topic": n.topic, "state": n.state.decode()}
            for n in app.recorder.select_notifications(start=1, limit=10_000)
        ]  # fmt: skip
        app.close()
    fixture = {"stored_by": "the care policy: its rules, and a case classified and routed",
               **ids, "events": events}  # fmt: skip
    path.write_text(json.dumps(fixture, indent=1) + "\n")


if __name__ == "__main__":
    write(Path(sys.argv[1]))
