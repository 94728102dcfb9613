"""What the soak prints: progress lines with timestamps, the checks and latencies as tables."""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from soak.checks import Check
from soak.faults import Fault
from soak.load import Record

console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
WINDOW = 10.0  # seconds before and after a fault that count as "before" and "after"


def say(message: str) -> None:
    console.print(f"{datetime.now(UTC).strftime('%H:%M:%S.%f')[:-3]} {message}")


def _percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return f"n={len(values)}"
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"{q[49] * 1000:.0f} / {q[98] * 1000:.0f} ms (n={len(values)})"


def checks_table(store: str, checks: list[Check]) -> None:
    table = Table(title=f"soak checks: {store}")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    for c in checks:
        result = "not built" if "not built" in c.detail else ("PASS" if c.ok else "FAIL")
        table.add_row(c.name, result, c.detail)
    console.print(table)
    for c in checks:
        for note in c.notes:
            console.print(f"  {c.name}: {note}")


def latency_table(store: str, record: Record, faults: list[Fault]) -> None:
    """p50/p99 of answered attempts before, during and after each fault."""
    answered = [(a.at, a.seconds) for a in record.attempts if 0 < a.status < 500]
    table = Table(title=f"latency p50 / p99: {store}")
    for column in ("fault", "before", "during", "after"):
        table.add_column(column)
    for f in faults:
        end = max(f.ended, f.started + 0.5)
        before = [s for t, s in answered if f.started - WINDOW <= t < f.started]
        during = [s for t, s in answered if f.started <= t <= end]
        after = [s for t, s in answered if end < t <= end + WINDOW]
        table.add_row(f.name, _percentiles(before), _percentiles(during), _percentiles(after))
    table.add_row("whole run", "", _percentiles([s for _, s in answered]), "")
    console.print(table)


def elapsed(since: float) -> str:
    return f"{time.monotonic() - since:.0f} s"
