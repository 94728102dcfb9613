"""``parley sla report``: a period's SLA figures at the terminal, or as CSV for a sheet.

The same figures as ``GET /v1/sla/report`` (projections/sla_report.py): the contractual
ones from the ``sla`` read model as far as it has got, and with ``--policy`` the period
restated from the log under that policy, with a progress bar (a pass over the whole log).
"""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from app.cli_projections import progress_bar
from app.config import Settings, event_store_env
from domain.application import Conversations
from domain.exceptions import DomainError
from domain.sla_terms import FIRST_RESPONSE
from projections import positions
from projections.db import open_read_store
from projections.sla_report import (
    FIRST_RESPONSE_KINDS,
    GROUPINGS,
    contractual_report,
    follow_up_counts,
    restated_report,
    week_before,
)

FIGURES = (
    "count", "met", "missed", "breaches_recorded", "breached", "without_target",
    "within_target_share", "median_seconds", "p90_seconds",
)  # fmt: skip
CSV_HEADER = ("report", "policy", "group", "metric", "response", *FIGURES)


class Moment(click.ParamType):
    """ISO 8601 (``2026-11-02``, ``2026-11-02T09:00:00Z``, with an offset); UTC if none."""

    name = "moment"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is no ISO 8601 date or time", param, ctx)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@click.group("sla")
def sla() -> None:
    """SLA figures."""


@sla.command("report")
@click.option("--from", "start", type=Moment(), help="included (default: --to minus 7 days)")
@click.option("--to", "end", type=Moment(), help="excluded (default: now)")
@click.option("--group-by", type=click.Choice(GROUPINGS), default="none", show_default=True)
@click.option("--policy", "policy_id", help="restate under this policy (id, or default)")
@click.option("--version", type=click.IntRange(min=0), help="with --policy: that version")
@click.option("--csv", "as_csv", is_flag=True, help="CSV to stdout, with a header")
def report_command(
    start: datetime | None,
    end: datetime | None,
    group_by: str,
    policy_id: str | None,
    version: int | None,
    as_csv: bool,
) -> None:
    """Figures of the measurements that ended in [--from, --to), per group and metric."""
    if version is not None and policy_id is None:
        raise click.BadParameter("give the policy the version is of", param_hint="--version")
    end = end or datetime.now(UTC)
    start = start or week_before(end)
    if start >= end:
        raise click.BadParameter("--from must be before --to", param_hint="--from")
    settings = Settings.from_env()
    app = Conversations(env=event_store_env(settings))
    store = open_read_store(settings)
    try:
        status = positions.statuses(store).get("sla")
        contractual = contractual_report(store, start, end, group_by)
        follow_up = follow_up_counts(store, start, end)
        restated = None
        if policy_id is not None:
            with progress_bar("sla restatement") as progress:
                restated = restated_report(
                    app, start, end, group_by, policy_id, version, progress=progress
                )
    except DomainError as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.close()
        app.close()
    reports = [("contractual", "", contractual)]
    if restated is not None:
        shown = f"{restated['policy']['id']}@{restated['policy']['version']}"
        reports.append(("restated", shown, restated["groups"]))
    if as_csv:
        _write_csv(reports)
        return
    position = status.position if status else 0
    _print(reports, start, end, position)
    Console().print(
        f"public follow-up: {follow_up['resolved_elsewhere']} cases began in public and were"
        f" resolved elsewhere; {follow_up['followed_up']} followed up where they began,"
        f" {follow_up['owed']} owed"
    )


def _lines(groups: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(group, metric, response kind or "", figures) for every line of a report."""
    lines = []
    for group, metrics in groups.items():
        for metric, figures in metrics.items():
            lines.append((group, metric, "", figures))
            if metric == FIRST_RESPONSE:
                for kind in FIRST_RESPONSE_KINDS:
                    lines.append((group, metric, kind, figures["by_response"][kind]))
    return lines


def _write_csv(reports: list[tuple[str, str, dict[str, Any]]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for name, policy, groups in reports:
        for group, metric, kind, figures in _lines(groups):
            values = ["" if figures.get(f) is None else figures[f] for f in FIGURES]
            writer.writerow([name, policy, group, metric, kind, *values])


def _print(
    reports: list[tuple[str, str, dict[str, Any]]], start: datetime, end: datetime, position: int
) -> None:
    console = Console()
    console.print(
        f"measurements ended in [{start.isoformat()}, {end.isoformat()});"
        f" the sla view at position {position}; nearest-rank percentiles;"
        " recorded: breaches on record; within: share within target"
    )
    for name, policy, groups in reports:
        title = f"{name} ({policy})" if policy else name
        table = Table(title=title)
        for column in ("group", "metric"):
            table.add_column(column, no_wrap=True)
        for column in ("count", "met", "missed", "recorded", "within", "median s", "p90 s"):
            table.add_column(column, justify="right")
        for group, metric, kind, figures in _lines(groups):
            if kind and not figures["count"]:
                continue
            share = figures.get("within_target_share")
            table.add_row(
                group, f"  {kind}" if kind else metric, str(figures["count"]),
                str(figures["met"]), _text(figures.get("missed")),
                _text(figures.get("breaches_recorded")),
                "" if share is None else f"{share:.1%}", _text(figures["median_seconds"]),
                _text(figures.get("p90_seconds")),
            )  # fmt: skip
        console.print(table)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)
