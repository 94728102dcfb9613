"""The workload behind ``tests/application/fixtures/events_v5.json``: the SLA events as
this version stores them (a policy defined, revised and retired; the book; a case opened
under it, at risk, breached, and given a policy again; a customer tagged and untagged), stored unsealed so the fixture
needs no keys.

    .venv/bin/python -m tests.support.sla_fixture tests/application/fixtures/events_v5.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from app.config import Settings, event_store_env
from domain.application import Conversations
from domain.privacy import new_master_key
from domain.values import Identity
from tests.support.sealed_fixture import INTEGRATION, SUPERVISOR, SteppingClock

POLICY = {
    "name": "X within 30 minutes",
    "rank": 10,
    "conditions": {"channels": ["x_public"]},
    "targets": [{"metric": "first_response", "seconds": 1800}],
}


def workload(app: Conversations, clock: SteppingClock) -> dict[str, str]:
    policy = app.create_sla_policy(POLICY, actor=SUPERVISOR)
    app.revise_sla_policy(policy.id, {**POLICY, "name": "X within 20 minutes",
                          "targets": [{"metric": "first_response", "seconds": 1200}]},
                          actor=SUPERVISOR)  # fmt: skip
    opened = app.open_conversation(channel="x_public", body="@brand late again",
                                   actor=INTEGRATION, identity=Identity("x", "5550001"),
                                   external_id="8880001")  # fmt: skip
    app.change_customer_tags(opened.extra["customer_id"], add=["vip", "press"], remove=["press"],
                             actor=SUPERVISOR)  # fmt: skip
    clock.now += clock.step * 100  # 1000 s: past 80% of 1200 s
    app.record_sla_alarms(opened.id)
    clock.now += clock.step * 30  # past the deadline
    app.record_sla_alarms(opened.id)
    app.reapply_sla(opened.id, actor=SUPERVISOR, policy_id="default")
    app.retire_sla_policy(policy.id, actor=SUPERVISOR)
    return {"case": str(opened.id), "policy": str(policy.id),
            "customer": str(opened.extra["customer_id"])}  # fmt: skip


def write_fixture(
    path: Path, run: Callable[[Conversations, SteppingClock], dict[str, str]], what: str
) -> None:
    """Run ``run`` on a fresh SQLite store, unsealed, and write its events to ``path``."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings.from_env({"PARLEY_SQLITE_PATH": f"{folder}/parley.sqlite",
                                      "PARLEY_MASTER_KEY": new_master_key()})  # fmt: skip
        clock = SteppingClock()
        app = Conversations(
            env=event_store_env(settings, create_tables=True), clock=clock,
            seal_personal_data=False,
        )  # fmt: skip
        ids = run(app, clock)
        events = [
            {"originator_id": str(n.originator_id), "originator_version": n.originator_version,
             "topic": n.topic, "state": n.state.decode()}
            for n in app.recorder.select_notifications(start=1, limit=10_000)
        ]  # fmt: skip
        app.close()
    fixture = {"stored_by": what, **ids, "events": events}
    path.write_text(json.dumps(fixture, indent=1) + "\n")


if __name__ == "__main__":
    write_fixture(
        Path(sys.argv[1]), workload, "SLA policies: policies, the book, and a case's SLA events"
    )
