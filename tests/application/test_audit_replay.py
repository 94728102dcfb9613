"""``parley audit replay``: a case's story, step by step, with the SLA clock after each."""

from __future__ import annotations

from click.testing import CliRunner

from app.cli import main
from app.config import Settings, event_store_env
from domain.application import Conversations
from domain.values import Identity
from projections.timeline import timeline
from tests.conftest import Clock


def test_a_case_replays_as_a_timeline_with_its_clock(store: dict[str, str], clock: Clock) -> None:
    app = Conversations(env=event_store_env(Settings.from_env(store), create_tables=True),
                        clock=clock)  # fmt: skip
    try:
        opened = app.open_conversation(
            channel="x_public", body="@brand my parcel is late", actor="integration:x",
            identity=Identity("x", "4242"),
        )  # fmt: skip
        clock.advance(minutes=20)
        app.queue_reply(opened.id, kind="acknowledgement", body="On it!", actor="agent:al")
        clock.advance(minutes=5)
        app.resolve(opened.id, resolution="answered", actor="agent:al")

        steps = list(timeline(app, opened.id))
    finally:
        app.close()

    assert [(s.version, s.actor, s.kind) for s in steps] == [
        (1, "integration:x", "Opened"), (2, "agent:al", "ReplyQueued"),
        (3, "agent:al", "Resolved"),
    ]  # fmt: skip
    assert steps[0].what == "opened: @brand my parcel is late"
    assert steps[0].clock == "awaiting acknowledgement since 09:00:00, due in 1 h 0 min"
    assert steps[1].what == "acknowledgement queued: On it!"
    assert steps[1].clock == "open; awaiting nothing"
    assert steps[2].clock == "resolved; awaiting nothing"

    shown = CliRunner().invoke(main, ["audit", "replay", str(opened.id)], env=store)
    assert shown.exit_code == 0, shown.output
    assert "acknowledgement queued: On it!" in shown.output and "agent:al" in shown.output
    missing = CliRunner().invoke(
        main, ["audit", "replay", "00000000-0000-0000-0000-000000000000"], env=store
    )
    assert missing.exit_code == 1 and "Traceback" not in missing.output
