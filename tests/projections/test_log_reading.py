"""Reading the log for projections: topics nobody handles are left undecoded, and a
follower far behind takes longer batches until it has caught up."""

from __future__ import annotations

from uuid import UUID

from domain.application import Conversations
from domain.values import Identity
from projections.base import LIVE, Batch, Projection, Skipped, TableNames, event_type
from projections.db import ReadStore, Tx
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


class FailingAt(Projection):
    """Counts what it sees in a table of its own, and fails on one position."""

    name = "failing_probe"
    tables = {"probe": ["CREATE TABLE {t} (n INTEGER)"]}

    def __init__(self, bad: int) -> None:
        self.bad = bad
        self.transactions = 0

    def handles(self, topic: str) -> bool:
        return True

    def apply(self, tx: Tx, names: TableNames, batch: Batch) -> None:
        self.transactions += 1
        if any(position == self.bad for position, _ in batch):
            raise ValueError(f"cannot apply position {self.bad}")
        tx.run(f"INSERT INTO {names['probe']} (n) VALUES (?)", [len(batch)])


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


def test_a_follower_behind_takes_long_batches_until_it_is_near_the_head(
    application: Conversations, events: NotificationLog, read_store: ReadStore
) -> None:
    cases = seed(application, 10)
    log = Recording(events)
    follower = Follower(read_store, log, all_projections(), batch_size=4, catch_up_batch=25)
    follower.setup()

    follower.run_once()

    # A full read of 4 with far more to go: reads of 25 while they come back full with
    # four batches of 4 or more still ahead, then 4 again, down to the empty one that ends
    # run_once.
    limits = log.limits
    assert limits[0] == 4 and limits[1] == 25, limits
    short = limits.index(4, 1)
    assert set(limits[1:short]) == {25} and set(limits[short:]) == {4}, limits
    page = query_inbox(read_store, {})
    assert {row["conversation_id"] for row in page["items"]} == {str(c) for c in cases}
    assert {p["position"] for p in read_store.query("SELECT position FROM proj_positions")} == {
        events.head()
    }

    for case in cases[:6]:  # a burst of six events fills one short batch, no more
        tag(application, case, "vip")
    limits.clear()
    follower.run_once()
    assert limits == [4, 4, 4], limits


def test_a_bad_event_in_a_long_batch_stops_its_projection_just_before_it(
    application: Conversations, events: NotificationLog, read_store: ReadStore
) -> None:
    seed(application, 40)
    everything = events.read(0, 100_000)
    bad = everything[len(everything) * 2 // 3][0]
    probe = FailingAt(bad)
    follower = Follower(read_store, events, [probe], batch_size=50)  # longer: a catch-up batch
    follower.setup()

    follower.apply_batch(probe, probe.name, LIVE, everything)

    assert follower.failed[probe.name].position == bad
    row = read_store.query("SELECT position FROM proj_positions WHERE name = ?", [probe.name])
    before = [p for p, _ in everything if p < bad]
    assert row[0]["position"] == before[-1]
    assert probe.transactions < len(before) // 2  # not one transaction per event before it
