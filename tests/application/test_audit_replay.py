"""``parley audit replay``: a case's story, step by step, with the SLA clock after each."""

from __future__ import annotations

from click.testing import CliRunner

from app.cli import main
from domain.application import Conversations
from domain.values import Identity
from projections.timeline import timeline
from tests.conftest import Clock


def test_a_case_replays_as_a_timeline_with_its_clock(
    application: Conversations, store: dict[str, str], clock: Clock
) -> None:
    app = application
    opened = app.open_conversation(
        channel="x_public", body="@brand my parcel is late", actor="integration:x",
        identity=Identity("x", "4242"),
    )  # fmt: skip
    clock.advance(minutes=20)
    app.queue_reply(opened.id, kind="acknowledgement", body="On it!", actor="agent:al")
    clock.advance(minutes=5)
    app.resolve(opened.id, resolution="answered", actor="agent:al")

    steps = list(timeline(app, opened.id))

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


def test_as_of_every_event_boundary_is_the_state_right_after_it(
    application: Conversations, clock: Clock
) -> None:
    app = application
    opened = app.open_conversation(
        channel="x_public", body="@brand late", actor="integration:x",
        identity=Identity("x", "4343"),
    )  # fmt: skip
    for step in range(6):
        clock.advance(seconds=7)
        if step % 3 == 0:
            app.queue_reply(opened.id, kind="answer", body=f"r{step}", actor="agent:al")
        elif step % 3 == 1:
            app.add_note(opened.id, body=f"n{step}", actor="agent:al")
        else:
            app.change_tags(opened.id, add=[f"t{step}"], remove=[], actor="agent:al")
    for event in app.events.get(opened.id):
        then = app.get_conversation(opened.id, as_of=event.timestamp)
        right_after = app.get_conversation_at_version(opened.id, event.originator_version)
        assert then.version == event.originator_version
        assert vars(then) == vars(right_after)
