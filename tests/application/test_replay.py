"""Loading replays without the library's per-event Protocol check, to the same state."""

from __future__ import annotations

from eventsourcing.application import project_aggregate

from domain.application import Conversations
from domain.replay import ReplayingRepository
from tests.application.conftest import AGENT, INTEGRATION, open_from_tweet


def test_every_load_replays_to_the_state_the_librarys_projector_gives(
    application: Conversations,
) -> None:
    opened = open_from_tweet(application)
    for i in range(5):
        application.receive_message(
            opened.id, channel="x_public", body=f"any news? ({i})", external_id=f"t{i}",
            actor=INTEGRATION,
        )  # fmt: skip
    application.queue_reply(opened.id, kind="acknowledgement", body="on it", actor=AGENT)
    assert isinstance(application.repository, ReplayingRepository)

    loaded = application.get_conversation(opened.id)
    checked = application.repository.get(opened.id, projector_func=project_aggregate)
    assert loaded.version == checked.version == 7
    assert vars(loaded) == vars(checked)
    assert len(loaded.messages) == 6 and len(loaded.replies) == 1

    third = application.get_conversation_at_version(opened.id, 3)
    assert third.version == 3 and len(third.messages) == 3
