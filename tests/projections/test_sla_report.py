"""SLA reports: the figures, period membership, and a restatement equal to a store where
the restating policy applied from the start."""

from __future__ import annotations

import operator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.sla_terms import FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION
from projections.sla_report import (
    contractual_report,
    folded_rows,
    folded_topics,
    percentile,
    report_of_rows,
    restated_report,
    summarize,
)
from tests.projections.sla_workload import STRICT, run_day
from tests.projections.support import SUPERVISOR, follower, fresh_world

DAY = (datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
NEXT_DAY = (DAY[1], datetime(2026, 11, 4, tzinfo=UTC))
GROUPINGS = ("none", "channel", "agent", "team", "priority")


def row(**fields: Any) -> dict[str, Any]:
    base = {
        "conversation_id": "c", "metric": FIRST_RESPONSE, "seq": 1,
        "started_at": "2026-11-02T09:00:00.000000Z", "ended_at": "2026-11-02T09:10:00.000000Z",
        "seconds": 600.0, "wall_seconds": 600.0, "target_seconds": 3600, "met": 1,
        "deadline": None, "breached": 0, "response": "answer", "channel": "x_public",
        "priority": "none", "agent": "agent:ann", "team": None, "policy_id": "default",
        "policy_version": 0, "position": 1,
    }  # fmt: skip
    return {**base, **fields}


def test_percentiles_are_nearest_rank_values_that_were_measured() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 90) == 5.0
    assert percentile([1.0, 2.0], 50) == 1.0
    assert percentile([float(n) for n in range(1, 11)], 90) == 9.0
    assert percentile([float(n) for n in range(1, 12)], 90) == 10.0
    assert percentile([float(n) for n in range(1, 101)], 50) == 50.0


def test_missed_targets_and_recorded_breaches_are_counted_apart() -> None:
    rows = [
        row(seconds=600.0),
        row(seconds=7200.0, met=0, breached=1),  # missed, breach recorded
        row(seconds=5000.0, met=0),  # missed, no breach recorded (yet)
        row(seconds=900.0, met=1, breached=1, response="acknowledgement"),  # late answer
        row(metric=RESOLUTION, response="resolved", target_seconds=None, met=None),
    ]

    figures = summarize(rows)["all"]

    first = figures[FIRST_RESPONSE]
    assert {k: first[k] for k in ("count", "met", "missed", "breaches_recorded", "breached")} == {
        "count": 4, "met": 2, "missed": 2, "breaches_recorded": 2, "breached": 3,
    }  # fmt: skip
    assert first["within_target_share"] == 0.5
    assert (first["median_seconds"], first["p90_seconds"]) == (900.0, 7200.0)
    assert first["by_response"]["acknowledgement"] == {
        "count": 1, "met": 1, "median_seconds": 900.0
    }  # fmt: skip
    assert first["by_response"]["answer"]["count"] == 3
    assert first["by_response"]["call"] == {"count": 0, "met": 0, "median_seconds": None}
    assert figures[RESOLUTION]["without_target"] == 1
    assert figures[RESOLUTION]["within_target_share"] is None
    assert figures[NEXT_RESPONSE]["count"] == 0


def test_groups_are_named_by_their_value_and_a_policy_by_id_at_version() -> None:
    rows = [row(team="social"), row(team=None, policy_id="p", policy_version=2)]

    assert list(summarize(rows, "team")) == ["(none)", "social"]
    assert list(summarize(rows, "policy")) == ["default@0", "p@2"]
    assert list(summarize([], "none")) == ["all"]
    assert summarize([], "channel") == {}
    with pytest.raises(ValueError):
        summarize(rows, "colour")


def test_a_measurement_belongs_to_the_period_it_ended_in() -> None:
    late = row(started_at="2026-11-01T23:00:00.000000Z", ended_at="2026-11-02T00:00:00.000000Z")
    last = row(ended_at="2026-11-02T23:59:59.999999Z")
    next_day = row(ended_at="2026-11-03T00:00:00.000000Z")

    counted = report_of_rows([late, last, next_day], *DAY)["all"][FIRST_RESPONSE]["count"]

    assert counted == 2


def test_a_restatement_reads_only_the_topics_the_clock_folds() -> None:
    topics = folded_topics()

    assert "parley.Conversation.Opened" in topics
    assert "parley.Conversation.ReplyDelivered" in topics
    assert "parley.Conversation.NoteAdded" not in topics


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_restatement_equals_the_report_of_a_store_where_the_policy_applied_from_the_start(
    kind: str, tmp_path: Path
) -> None:
    with fresh_world(kind, tmp_path / "a") as a, fresh_world(kind, tmp_path / "b") as b:
        run_day(a.application, a.clock)  # every case under the built-in policy
        restating = a.application.create_sla_policy(STRICT, actor=SUPERVISOR)  # made after
        live = b.application.create_sla_policy(STRICT, actor=SUPERVISOR)
        run_day(b.application, b.clock)  # the same day, under strict from its first case

        follower(a).run_once()
        follower(b).run_once()

        for group_by in GROUPINGS:
            restated = restated_report(a.application, *DAY, group_by, str(restating.id))
            assert restated["groups"] == contractual_report(b.read_store, *DAY, group_by), group_by
            assert restated["policy"] == {"id": str(restating.id), "version": 1, "name": "strict"}
        by_policy = restated_report(a.application, *DAY, "policy", str(restating.id))["groups"]
        live_by_policy = contractual_report(b.read_store, *DAY, "policy")
        assert by_policy == {f"{restating.id}@1": live_by_policy[f"{live.id}@1"]}
        # and the restatement differs from what was promised: strict misses more
        promised = contractual_report(a.read_store, *DAY)["all"]
        strict = contractual_report(b.read_store, *DAY)["all"]
        assert strict[NEXT_RESPONSE]["missed"] > promised[NEXT_RESPONSE]["missed"]
        assert strict[FIRST_RESPONSE]["missed"] > promised[FIRST_RESPONSE]["missed"]
        assert strict[FIRST_RESPONSE]["count"] == promised[FIRST_RESPONSE]["count"] == 3
        # the morning after: 26 minutes of business hours under strict, 16 h by default
        morning = restated_report(a.application, *NEXT_DAY, "channel", str(restating.id))
        assert morning["groups"] == contractual_report(b.read_store, *NEXT_DAY, "channel")
        email = morning["groups"]["email"][FIRST_RESPONSE]
        assert (email["count"], email["met"], email["median_seconds"]) == (1, 1, 1560.0)
        by_default = contractual_report(a.read_store, *NEXT_DAY)["all"][FIRST_RESPONSE]
        assert (by_default["missed"], by_default["median_seconds"]) == (1, 16 * 3600.0)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_the_sla_view_holds_the_rows_a_fold_of_the_log_makes(kind: str, tmp_path: Path) -> None:
    """The contract between the sla projection and the report: its table holds, row for
    row, what SlaClock folded from the log makes (the restatement's rows, unrestated)."""
    with fresh_world(kind, tmp_path) as world:
        run_day(world.application, world.clock)
        follower(world).run_once()

        stored = world.read_store.query("SELECT * FROM proj_sla_measurements")
        folded = folded_rows(world.application.recorder, world.application.mapper)

        key = operator.itemgetter("conversation_id", "metric", "seq")
        assert sorted(stored, key=key) == sorted(folded, key=key)
        assert len(stored) == 9
