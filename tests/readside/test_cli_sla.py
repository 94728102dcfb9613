"""``parley sla report``: the figures as a table or CSV, restated beside them on request."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from domain.application import Conversations
from projections.sla_report import contractual_report, restated_report
from tests.conftest import Clock
from tests.projections.sla_workload import STRICT, run_day
from tests.readside.test_cli import read_store  # noqa: F401

DAY = ("--from", "2026-11-02", "--to", "2026-11-03T00:00:00Z")
PERIOD = (datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))


def test_the_report_prints_as_csv_with_its_restatement(
    parley,
    application: Conversations,
    clock: Clock,
    read_store,  # noqa: F811
) -> None:
    assert parley("db", "init").exit_code == 0
    run_day(application, clock)
    policy = str(application.create_sla_policy(STRICT, actor="supervisor:sue").id)
    assert parley("projections", "run", "--once").exit_code == 0

    result = parley("sla", "report", *DAY, "--group-by", "channel", "--policy", policy, "--csv")

    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == [
        "report", "policy", "group", "metric", "response", "count", "met", "missed",
        "breaches_recorded", "breached", "without_target", "within_target_share",
        "median_seconds", "p90_seconds",
    ]  # fmt: skip
    expected = {
        "contractual": contractual_report(read_store, *PERIOD, "channel"),
        "restated": restated_report(application, *PERIOD, "channel", policy)["groups"],
    }
    totals = [r for r in rows if not r["response"]]
    assert len(totals) == 2 * 3 * 3  # two reports, three channels, three metrics
    for line in totals:
        figures = expected[line["report"]][line["group"]][line["metric"]]
        assert int(line["count"]) == figures["count"], line
        assert int(line["missed"]) == figures["missed"], line
        assert line["median_seconds"] == str(figures["median_seconds"] or ""), line
    assert {r["policy"] for r in rows if r["report"] == "restated"} == {f"{policy}@1"}
    acknowledged = [
        r for r in rows
        if (r["report"], r["group"], r["response"]) == ("restated", "x_public", "acknowledgement")
    ]  # fmt: skip
    assert [(a["count"], a["met"], a["median_seconds"]) for a in acknowledged] == [
        ("2", "2", "180.0")
    ]


def test_the_report_prints_a_table_and_refuses_a_bad_period_or_policy(
    parley, application: Conversations, clock: Clock
) -> None:
    assert parley("db", "init").exit_code == 0
    run_day(application, clock)
    assert parley("projections", "run", "--once").exit_code == 0

    table = parley("sla", "report", *DAY)
    backwards = parley("sla", "report", "--from", "2026-11-03", "--to", "2026-11-02")
    lonely = parley("sla", "report", *DAY, "--version", "1")
    unknown = parley("sla", "report", *DAY, "--policy", "6f1c6f4e-0000-4000-8000-000000000000")
    colour = parley("sla", "report", *DAY, "--group-by", "colour")

    assert table.exit_code == 0, table.output
    assert "contractual" in table.stdout and "first_response" in table.stdout
    assert "acknowledgement" in table.stdout and "restated" not in table.stdout
    assert "public follow-up:" in table.stdout and "owed" in table.stdout
    assert backwards.exit_code == 2 and "--from" in backwards.output
    assert lonely.exit_code == 2 and "--version" in lonely.output
    assert unknown.exit_code == 1 and "no SLA policy" in unknown.output
    assert colour.exit_code == 2
