"""Reading the log for projections: topics nobody handles are left undecoded, and a
follower far behind takes longer batches until it has caught up."""

from __future__ import annotations

from uuid import UUID

from domain.application import Conversations
from domain.values import Identity
from projections.base import Batch, Skipped, event_type
from projections.db import ReadStore
from projections.follower import Follower
from projections.inbox import query_inbox
from projections.log import NotificationLog, Wanted
from projections.registry import all_projections
from tests.projections.support import AGENT, INTEGRATION, add_note


def seed(app: Conversations, cases: int) -> list[UUID]:
    """``cases`` tweets, each tagged and noted: Conversation, Customer and index events."""
    opened = []
    for n in range(cases):
        conversation = app.open_conversation(
            channel="x_public", body=f"@brand help {n}", actor=INTEGRATION,
            identity=Identity("x", f"9{n:04d}"), external_id=f"tweet-{n}",
        ).id  # fmt: skip
        tag(app, conversation, "late")
        add_note(app, conversation)
        opened.append(conversation)
    return opened


def tag(app: Conversations, conversation: UUID, name: str) -> None:
    app.update(conversation, lambda c, now: c.tag(tag=name, actor=AGENT, timestamp=now))


class Recording:
    """The log, noting the limit of every read."""

    def __init__(self, events: NotificationLog) -> None:
        self.events = events
        self.limits: list[int] = []

    def read(self, after: int, limit: int, wanted: Wanted | None = None) -> Batch:
        self.limits.append(limit)
        return self.events.read(after, limit, wanted)

    def head(self) -> int:
        return self.events.head()


def test_a_read_leaves_refused_topics_undecoded_in_their_places(
    application: Conversations, events: NotificationLog
) -> None:
    seed(application, 3)
    everything = events.read(0, 1000)
    wanted = events.read(0, 1000, lambda topic: topic.startswith("parley.Conversation."))

    assert [p for p, _ in wanted] == [p for p, _ in everything]
    skipped = [(p, e) for p, e in wanted if isinstance(e, Skipped)]
    assert skipped, "the seed writes customers and indexes, not only conversations"
    for (position, event), (_, decoded) in zip(wanted, everything, strict=True):
        if isinstance(event, Skipped):
            assert not event_type(decoded).startswith("Conversation.")
            assert event.topic == decoded.TOPIC, position
        else:
            assert event_type(event).startswith("Conversation.")
            assert event == decoded


def test_what_a_projection_says_it_handles_is_what_its_handlers_take(
    application: Conversations, events: NotificationLog
) -> None:
    seed(application, 2)
    decoded = [e for _, e in events.read(0, 1000)]
    for projection in all_projections():
        for event in decoded:
            handled = projection.handler_for(event) is not None
            assert projection.handles(event.TOPIC) == handled, (projection.name, event.TOPIC)
        # A skipped event is nothing to a projection, whatever topic it stands for.
        assert all(projection.handler_for(Skipped(e.TOPIC)) is None for e in decoded)
    kinds = {e.TOPIC for e in decoded}
    assert any(not any(p.handles(t) for p in all_projections()) for t in kinds), (
        "no topic of the seed goes undecoded: the skipping is not exercised"
    )


def test_a_follower_behind_takes_long_batches_until_a_read_comes_back_short(
    application: Conversations, events: NotificationLog, read_store: ReadStore
) -> None:
    cases = seed(application, 6)
    log = Recording(events)
    follower = Follower(read_store, log, all_projections(), batch_size=4, catch_up_batch=25)
    follower.setup()

    follower.run_once()

    head = events.head()
    # A full read of 4 (behind), long reads until one comes back short, then the empty
    # read that ends run_once at the short batch again.
    assert log.limits[0] == 4
    assert len(log.limits) >= 4 and set(log.limits[1:-1]) == {25}, log.limits
    assert log.limits[-1] == 4
    page = query_inbox(read_store, {})
    assert {row["conversation_id"] for row in page["items"]} == {str(c) for c in cases}

    tag(application, cases[0], "vip")  # one event past the head
    log.limits.clear()
    follower.run_once()
    assert log.limits == [4, 4]  # caught up: back to the short batch
    assert events.head() > head
