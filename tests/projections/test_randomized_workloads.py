"""Random workloads: the live views equal a rebuild, and a follower resumes where it stopped.

Each hypothesis example runs in a fresh store of its own (SQLite file or PostgreSQL
schema) with a new application, so examples never see each other's events.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.base import Batch
from projections.follower import Follower
from projections.inbox import inbox_row
from projections.inbox_filters import count_keys
from projections.log import NotificationLog, Wanted
from projections.rebuild import rebuild, verify
from projections.registry import all_projections
from tests.projections.support import (
    World,
    dump_tables,
    follower,
    fresh_world,
    position_rows,
    second_read_store,
)
from tests.projections.workload import Workload, workloads

KINDS = ["sqlite", "postgres"]


def iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


# PARLEY_PROJECTION_EXAMPLES=300 for a deeper run than the suite's default.
EXAMPLES = settings(
    max_examples=int(os.environ.get("PARLEY_PROJECTION_EXAMPLES", "25")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def run_workload(world: World, steps: list[tuple[int, Any]]) -> Workload:
    workload = Workload(world.application, world.clock)
    workload.run(steps)
    return workload


def assert_inbox_mirrors_the_aggregates(world: World, workload: Workload) -> None:
    """Every conversation has its inbox row, agreeing with the aggregate on what it shows."""
    rows = world.read_store.query("SELECT conversation_id FROM proj_inbox")
    assert sorted(r["conversation_id"] for r in rows) == sorted(map(str, workload.conversations))
    for conversation_id in workload.conversations:
        conversation = world.application.get_conversation(conversation_id)
        with world.read_store.transaction() as tx:
            row = inbox_row(tx, str(conversation_id))
        assert row is not None
        shown = {k: row[k] for k in ("status", "assignee", "team", "priority", "current_channel",
                                     "origin_channel", "version", "customer_id")}  # fmt: skip
        expected = {
            "status": conversation.status,
            "assignee": conversation.assignee,
            "team": conversation.team,
            "priority": conversation.priority,
            "current_channel": conversation.current_channel,
            "origin_channel": conversation.origin_channel,
            "version": conversation.version,
            "customer_id": str(conversation.customer_id),
        }
        assert shown == expected
        assert sorted(row["tags"]) == sorted(conversation.tags)
        snoozed = conversation.snoozed_until
        assert row["snoozed_until"] == (snoozed.isoformat() if snoozed else None)
        failed = [r for r in conversation.replies.values() if r["status"] == "failed"]
        assert row["failed_deliveries"] == len(failed)
        # One rule for what a case awaits (domain.awaiting), one for when a response is
        # due and what breached (the case's SlaClock), one for the follow-up owed.
        sla = world.application.sla_clock(conversation_id)
        assert (row["awaiting"], row["waiting_since"], row["first_response_due"], row["due"]) == (
            conversation.awaiting,
            iso(conversation.waiting_since),
            iso(sla.due("first_response")),
            iso(sla.response_due()),
        )
        assert (row["sla_breached"], row["follow_up_owed"]) == (
            sla.breached, conversation.follow_up_owed,
        )  # fmt: skip
    statuses = [world.application.get_conversation(c).status for c in workload.conversations]
    kept = world.read_store.query("SELECT status, n FROM proj_inbox_counts")
    assert {r["status"]: int(r["n"]) for r in kept} == {s: statuses.count(s) for s in statuses}
    rows = world.read_store.query("SELECT * FROM proj_inbox")
    recount = Counter((r["status"], key) for r in rows for key in count_keys(r))
    kept = world.read_store.query("SELECT status, filter, n FROM proj_inbox_filter_counts")
    assert {(r["status"], r["filter"]): int(r["n"]) for r in kept} == dict(recount)


@pytest.mark.parametrize("kind", KINDS)
@EXAMPLES
@given(steps=workloads, batch_size=st.integers(1, 50), rebuild_batch=st.integers(1, 50))
def test_after_any_workload_every_live_projection_equals_its_rebuild(
    kind: str,
    tmp_path_factory: pytest.TempPathFactory,
    steps: list[tuple[int, Any]],
    batch_size: int,
    rebuild_batch: int,
) -> None:
    with fresh_world(kind, tmp_path_factory.mktemp("random")) as world:
        workload = run_workload(world, steps)
        live = follower(world, batch_size=batch_size)
        live.run_once()
        head = world.events.head()

        assert live.failed == {}
        assert {n: r["position"] for n, r in position_rows(world.read_store).items()} == {
            p.name: head for p in all_projections()
        }
        for projection in all_projections():
            assert verify(world.read_store, world.events, projection) == [], projection.name
        before = dump_tables(world.read_store)

        for projection in all_projections():
            assert (
                rebuild(world.read_store, world.events, projection, batch_size=rebuild_batch)
                == head
            )

        assert dump_tables(world.read_store) == before
        assert_inbox_mirrors_the_aggregates(world, workload)


@pytest.mark.parametrize("kind", KINDS)
@EXAMPLES
@given(
    steps=workloads,
    batch_size=st.integers(1, 50),
    stop_after=st.integers(0, 12),
)
def test_a_follower_stopped_anywhere_and_restarted_builds_what_an_uninterrupted_one_builds(
    kind: str,
    tmp_path_factory: pytest.TempPathFactory,
    steps: list[tuple[int, Any]],
    batch_size: int,
    stop_after: int,
) -> None:
    path = tmp_path_factory.mktemp("resume")
    with fresh_world(kind, path) as world:
        run_workload(world, steps)

        first = follower(world, batch_size=batch_size)
        for _ in range(stop_after):
            first.step()
        stopped_at = {n: r["position"] for n, r in position_rows(world.read_store).items()}
        again = Follower(world.read_store, world.events, all_projections(), batch_size=batch_size)
        again.setup()  # finds the positions and tables there: keeps them
        assert {n: r["position"] for n, r in position_rows(world.read_store).items()} == stopped_at
        again.run_once()

        with second_read_store(world.store, path) as other:
            uninterrupted = follower(other, world.events, batch_size=500)
            uninterrupted.run_once()
            assert first.failed == again.failed == uninterrupted.failed == {}
            assert dump_tables(world.read_store) == dump_tables(other)
            head = world.events.head()
            assert {r["position"] for r in position_rows(world.read_store).values()} == {head}
            assert {r["position"] for r in position_rows(other).values()} == {head}


class EveryEventDecoded:
    """The log with ``wanted`` ignored: every event decoded, none skipped."""

    def __init__(self, events: NotificationLog) -> None:
        self.events = events

    def read(self, after: int, limit: int, wanted: Wanted | None = None) -> Batch:
        return self.events.read(after, limit)

    def head(self) -> int:
        return self.events.head()


@pytest.mark.parametrize("kind", KINDS)
@EXAMPLES
@given(steps=workloads, batch_size=st.integers(1, 20), catch_up=st.integers(1, 60))
def test_skipping_unhandled_topics_and_long_catch_up_batches_build_the_same_views(
    kind: str,
    tmp_path_factory: pytest.TempPathFactory,
    steps: list[tuple[int, Any]],
    batch_size: int,
    catch_up: int,
) -> None:
    path = tmp_path_factory.mktemp("skipping")
    with fresh_world(kind, path) as world:
        run_workload(world, steps)
        skipping = Follower(world.read_store, world.events, all_projections(),
                            batch_size=batch_size, catch_up_batch=catch_up)  # fmt: skip
        skipping.setup()
        skipping.run_once()
        with second_read_store(world.store, path) as other:
            decoding = follower(other, EveryEventDecoded(world.events), batch_size=batch_size)
            decoding.run_once()
            assert skipping.failed == decoding.failed == {}
            assert dump_tables(world.read_store) == dump_tables(other)
            assert {r["position"] for r in position_rows(world.read_store).values()} == {
                world.events.head()
            }
