"""SLA reports: the contractual report from the read model, and a restatement from the log.

    python -m bench.sla_report [--quick] [--store sqlite|postgres|both] [--events N]

For each store, in one run, on one fresh store (a new SQLite file; a new PostgreSQL schema):

1. seed       ``bench.projections.Seeder`` (many aggregates per ``save``): conversations over
              the last 10 days, triaged, replied to (75% of replies delivered), customer
              messages, some resolved and snoozed; then customer messages until at least
              N events (default 1,000,000; ``--quick`` 50,000)
2. read       the whole notification log paged 5,000 at a time, selected and decoded
              (``NotificationLog.read``): the ceiling a restatement is held to; median of
              3 runs after one warm-up (the first pass after the seed reads a cold cache)
3. build      ``rebuild`` of the ``sla`` projection from 0 (batch 1000)
4. report     ``contractual_report`` over 12 days (every measurement) and over one day,
              grouped by none and by agent: the median of 5 runs after one warm-up
5. restate    ``restated_report`` under a policy created after the seed (every case
              restated), over the 12 days: median of 3 runs (step 2 warmed the cache).
              Two rates: the events it folded (only the topics ``SlaClock`` reads,
              selected by topic in the database, then decoded) per second, against step
              2's rate (goal >= 0.5); and the log positions it covered per second

Wall-clock times on a shared, noisy machine: compare figures of one run with each other.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.config import Settings, event_store_env
from bench.projections import Seeder
from bench.stores import KINDS, describe_machine, fresh_store
from domain.application import Conversations
from projections.db import open_read_store
from projections.log import NotificationLog
from projections.rebuild import rebuild
from projections.registry import by_name
from projections.sla_report import (
    PAGE,
    contractual_report,
    folded_rows,
    folded_topics,
    restated_report,
)

EVENTS, QUICK_EVENTS = 1_000_000, 50_000
EVENTS_PER_CONVERSATION = 5  # conversations = events / this (the rest: customer messages)
REPORT_RUNS, READ_RUNS, RESTATE_RUNS = 5, 3, 3
GOAL_REPORT_SECONDS, GOAL_RATIO = 2.0, 0.5
POLICY = {
    "name": "bench strict",
    "targets": [
        {"metric": "first_response", "seconds": 600},
        {"metric": "next_response", "seconds": 1800},
        {"metric": "resolution", "seconds": 8 * 3600},
    ],
}


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def timed(run: Callable[[], Any], runs: int, warm_up: int = 1) -> tuple[float, Any]:
    """The median wall time of ``runs`` calls (after ``warm_up`` untimed), and a result."""
    result = None
    for _ in range(warm_up):
        result = run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


@dataclass
class StoreFigures:
    kind: str
    events: int = 0
    conversations: int = 0
    seed_seconds: float = 0.0
    read_rate: float = 0.0
    build_seconds: float = 0.0
    measurements: int = 0
    reports: list[tuple[str, float]] = field(default_factory=list)
    restate_seconds: float = 0.0
    folded: int = 0
    head: int = 0

    @property
    def folded_rate(self) -> float:
        return self.folded / self.restate_seconds if self.restate_seconds else 0.0

    @property
    def covered_rate(self) -> float:
        return self.head / self.restate_seconds if self.restate_seconds else 0.0


def bench_read(app: Conversations) -> tuple[int, float]:
    log = NotificationLog(app.recorder, app.mapper)
    start = time.perf_counter()
    after = decoded = 0
    while batch := log.read(after, PAGE):
        decoded += len(batch)
        after = batch[-1][0]
    return decoded, time.perf_counter() - start


def count_folded(app: Conversations) -> int:
    """How many events a restatement selects and decodes (the topics the clock folds)."""
    after = count = 0
    while notifications := app.recorder.select_notifications(
        start=after, limit=PAGE, topics=folded_topics(), inclusive_of_start=False
    ):
        count += len(notifications)
        after = notifications[-1].id
    return count


def bench_store(kind: str, directory: Path, events: int) -> StoreFigures:
    figures = StoreFigures(kind)
    with fresh_store(kind, directory, "slareport") as store, ExitStack() as stack:
        settings = Settings.from_env(store)
        app = Conversations(env=event_store_env(settings, create_tables=True))
        stack.callback(app.close)
        conversations = max(1, events // EVENTS_PER_CONVERSATION)
        progress(f"{kind} seed: {conversations} conversations, at least {events} events")
        seeder = Seeder(app, conversations, events)
        start = time.perf_counter()
        seeder.run()
        figures.seed_seconds = time.perf_counter() - start
        figures.events, figures.conversations = seeder.events, len(seeder.conversations)

        progress(f"{kind} read+decode the log")
        seconds, (decoded, _) = timed(lambda: bench_read(app), READ_RUNS)
        figures.read_rate = decoded / seconds

        progress(f"{kind} build the sla projection")
        read_store = open_read_store(settings)
        stack.callback(read_store.close)
        start = time.perf_counter()
        rebuild(read_store, NotificationLog(app.recorder, app.mapper), by_name("sla"))
        figures.build_seconds = time.perf_counter() - start
        counted = read_store.query("SELECT COUNT(*) AS n FROM proj_sla_measurements")
        figures.measurements = int(counted[0]["n"])

        end = seeder.now + timedelta(days=1)
        whole = (end - timedelta(days=12), end)
        day = (seeder.now - timedelta(days=3), seeder.now - timedelta(days=2))
        for name, period, group_by in (
            ("12 days, group_by none", whole, "none"),
            ("12 days, group_by agent", whole, "agent"),
            ("1 day, group_by none", day, "none"),
            ("1 day, group_by agent", day, "agent"),
        ):
            progress(f"{kind} contractual report, {name}")
            median, _ = timed(
                lambda p=period, g=group_by: contractual_report(read_store, *p, g), REPORT_RUNS
            )
            figures.reports.append((name, median))

        progress(f"{kind} restatement under a new policy")
        policy = str(app.create_sla_policy(POLICY, actor="supervisor:bench").id)
        figures.head = int(app.recorder.max_notification_id() or 0)
        figures.folded = count_folded(app)
        figures.restate_seconds, _ = timed(
            lambda: restated_report(app, *whole, "none", policy), RESTATE_RUNS, warm_up=0
        )
        # the restatement's rows are the view's rows under other terms: same count
        restated = sum(1 for _ in folded_rows(app.recorder, app.mapper))
        assert restated == figures.measurements, (restated, figures.measurements)
    return figures


def render(results: list[StoreFigures], kinds: list[str], events: int) -> str:
    lines = [
        f"# bench.sla_report  {describe_machine(kinds)}",
        f"# at least {events:,} events; wall-clock medians on a shared, noisy machine",
        "",
        "| store | events | conversations | seed | read+decode | sla rebuild | measurements |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.kind} | {r.events:,} | {r.conversations:,} | {r.seed_seconds:.1f} s"
            f" ({r.events / r.seed_seconds:,.0f} ev/s) | {r.read_rate:,.0f} ev/s"
            f" | {r.build_seconds:.1f} s | {r.measurements:,} |"
        )
    lines += ["", "| store | contractual report | median of 5 | goal |", "|---|---|---:|---|"]
    for r in results:
        for name, seconds in r.reports:
            verdict = "ok" if seconds < GOAL_REPORT_SECONDS else "MISSED"
            lines.append(f"| {r.kind} | {name} | {seconds * 1000:,.0f} ms | < 2 s: {verdict} |")
    lines += [
        "",
        "| store | restatement (12 days) | events folded | folded/s | / read+decode"
        " | log positions/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = r.folded_rate / r.read_rate if r.read_rate else 0.0
        verdict = "ok" if ratio >= GOAL_RATIO else "MISSED"
        lines.append(
            f"| {r.kind} | {r.restate_seconds:.2f} s | {r.folded:,} of {r.head:,}"
            f" | {r.folded_rate:,.0f} | {ratio:.2f} (goal >= 0.5: {verdict})"
            f" | {r.covered_rate:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sla_report", description=__doc__)
    parser.add_argument("--store", choices=[*KINDS, "both"], default="both")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS:,} events")
    parser.add_argument("--events", type=int, default=None)
    args = parser.parse_args(argv)
    events = args.events or (QUICK_EVENTS if args.quick else EVENTS)
    kinds = list(KINDS) if args.store == "both" else [args.store]
    with tempfile.TemporaryDirectory(prefix="bench-sla-report-") as directory:
        results = [bench_store(kind, Path(directory), events) for kind in kinds]
    print(render(results, kinds, events))


if __name__ == "__main__":
    main()
