"""Every benchmark in one run, each figure beside its ceiling measured in the same run.

    python -m bench [--quick] [--store sqlite|postgres|both] [--only NAME ...]
                    [--out bench/results.json]

Calls the benchmarks' own functions in this process (``bench.ingest``,
``bench.projections``, ``bench.inbox``, ``bench.loading``, ``bench.sla_report``, ``bench.deliveries``,
``bench.email``), store by store, each on fresh stores of its own; maps their figures to
rows (:class:`bench.results.Result`) with the ratio to their ceiling and issue 13's goal;
prints the table to stdout, progress to stderr, and writes the rows to ``--out`` as JSON.
``--quick`` is a small size of everything (under five minutes for both stores on two
cores); without it each benchmark runs at its own default size (well over an hour).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import deliveries, email, inbox, ingest, loading, projections, sla_report
from bench.results import Result, write
from bench.stores import KINDS, describe_machine, fresh_store

OUT = Path(__file__).resolve().parent / "results.json"


@dataclass(frozen=True)
class Sizes:
    ingest_n: int  # messages per ingest path (M = N/10 conversations)
    conversations: int  # bench.projections: open conversations seeded
    events: int  # bench.projections: at least this many events
    inbox_requests: int  # timed requests per inbox query
    part_requests: int  # query_inbox calls per query with its statements timed
    visible_writes: int  # timed writes per write-to-visible mode
    small_events: int  # the follower's batch 1 against batch 500, over the first events
    loads: int  # bench.loading: loads of each conversation
    sla_events: int  # bench.sla_report: at least this many events
    channel_n: int  # bench.deliveries and bench.email: replies and messages
    inbox_open: int  # bench.inbox: open cases seeded into the read model
    inbox_resolved: int  # bench.inbox: resolved cases
    inbox_one: int  # bench.inbox: requests per filter at 1 client
    inbox_each: int  # bench.inbox: requests per client at 8 clients


QUICK = Sizes(
    ingest_n=1_000, conversations=2_000, events=10_000, inbox_requests=50, part_requests=50,
    visible_writes=40, small_events=500, loads=100, sla_events=10_000, channel_n=60,
    inbox_open=5_000, inbox_resolved=50_000, inbox_one=20, inbox_each=5,
)  # fmt: skip
FULL = Sizes(
    ingest_n=2_000, conversations=100_000, events=100_000, inbox_requests=projections.REQUESTS,
    part_requests=projections.PART_REQUESTS, visible_writes=projections.WRITES,
    small_events=projections.SMALL_EVENTS, loads=loading.LOADS, sla_events=sla_report.EVENTS,
    channel_n=300, inbox_open=100_000, inbox_resolved=1_000_000, inbox_one=200, inbox_each=50,
)  # fmt: skip


def progress(message: str) -> None:
    print(f"=== {message}", file=sys.stderr, flush=True)


@contextmanager
def patched(module: ModuleType, **values: Any) -> Iterator[None]:
    """Module constants set for one call (the sizes a benchmark reads at run time)."""
    saved = {name: getattr(module, name) for name in values}
    for name, value in values.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


# ---------------------------------------------------------------------------- ingest
def bench_ingest(kind: str, directory: Path, sizes: Sizes) -> list[Result]:
    n = sizes.ingest_n
    m = max(ingest.MANY, n // 10)
    many = ingest.MANY
    rows: dict[tuple[str, str], ingest.Row] = {}
    paths = ["raw-create", "raw-append", "service", "http", "threads", "served", "served16"]
    if kind == "postgres":  # group commit is PostgreSQL's: off, for the difference it makes
        paths += ["threads-solo", "served16-solo"]
    for path in paths:
        progress(f"{kind} ingest {path}, N={n}, M={m}")
        with fresh_store(kind, directory, f"ingest-{path}") as store:
            if path.startswith("raw-"):
                got = ingest.bench_raw(kind, store, n, m, path.removeprefix("raw-"))
            elif path == "service":
                got = ingest.bench_service(kind, store, n, m)
            elif path == "http":
                got = ingest.bench_http(kind, store, n, m)
            elif path.startswith("threads"):
                got = ingest.bench_threads(kind, store, n, m, many, group_commit=path == "threads")
            else:
                clients = many if path.startswith("served16") else ingest.CLIENTS
                got = ingest.bench_served(
                    kind, store, n, m, directory / f"{kind}-{path}.log", clients,
                    group_commit=not path.endswith("-solo"),
                )  # fmt: skip
        rows |= {(r.path, r.op): r for r in got}
    create, append = rows["raw", "create"].rate, rows["raw", "append"].rate

    def row(path: str, op: str, name: str, goal: float | None = None, note: str = "") -> Result:
        r = rows[path, op]
        base = ("raw append (library alone)", append) if op == "message" else (
            "raw create (library alone)", create)  # fmt: skip
        if r.errors:
            note = f"{r.errors} of {r.ops} requests failed: the figure is meaningless. {note}"
        return Result(f"{name} ({kind})", r.rate, "ops/s", *base, goal=goal, note=note.strip())

    served = min(n, ingest.SERVED_MAX)
    return [
        row("http", "message", "http message POST vs raw append", 1.0,
            "in-process Flask test client, one writer"),
        row("service", "message", "service receive_message vs raw append"),
        row("http", "open", "http open POST vs raw create"),
        row("served", "message", "served message POST vs raw append",
            note=f"gunicorn --workers {ingest.WORKERS}, {ingest.CLIENTS} client threads,"
            f" {served} messages"),
        row(f"served{many}", "message", f"served message POST, {many} clients, vs raw append",
            3.0, f"gunicorn --workers {ingest.WORKERS}, {many} client threads, {served}"
            " messages, group commit on; the goal: >= 3x the library's single-writer rate"),
        row(f"threads{many}", "message", f"service receive_message, {many} threads, vs raw append",
            note=f"one process, {many} writer threads on their own conversations, group commit"
            " on (PostgreSQL; SQLite has none)"),
        *([
            row(f"threads{many}-solo", "message",
                f"service receive_message, {many} threads, group commit off, vs raw append",
                note="PARLEY_GROUP_COMMIT=no: each save its own transaction"),
            row(f"served{many}-solo", "message",
                f"served message POST, {many} clients, group commit off, vs raw append",
                note="PARLEY_GROUP_COMMIT=no"),
        ] if kind == "postgres" else []),
    ]  # fmt: skip


# ---------------------------------------------------------------------------- projections
GOAL_REBUILD, GOAL_FOLLOWER, GOAL_INBOX_MS, POLL_MS = (
    0.6,
    0.4,
    10.0,
    1000 * projections.POLL_INTERVAL,
)


def percentile_ms(samples: list[float], q: float) -> float:
    return projections.percentile([s * 1000 for s in samples], q)


def sql_per_call(part: projections.PartRow) -> list[float]:
    """Seconds of SQL per ``query_inbox`` call: its page statements and its counts (each
    call runs the same statements, in the same order)."""
    calls = projections.PART_REQUESTS
    pages, counts = len(part.page) // calls, len(part.counts) // calls
    return [
        sum(part.page[i * pages : (i + 1) * pages])
        + sum(part.counts[i * counts : (i + 1) * counts])
        for i in range(calls)
    ]


def bench_projections(kind: str, directory: Path, sizes: Sizes) -> list[Result]:
    with patched(
        projections, REQUESTS=sizes.inbox_requests, WRITES=sizes.visible_writes,
        SMALL_EVENTS=sizes.small_events, PART_REQUESTS=sizes.part_requests,
    ):  # fmt: skip
        result = projections.bench_store(kind, directory, sizes.conversations, sizes.events)
        sql = {p.what: sql_per_call(p) for p in result.parts if p.state == "as built"}
    rates = {r.what: r for r in result.rates}
    decode = rates["read+decode"].rate
    seed = f"{sizes.conversations:,} open conversations, {rates['read+decode'].events:,} events"
    out: list[Result] = []
    for what, r in rates.items():
        if what.startswith("rebuild "):
            name = what.removeprefix("rebuild ").split(" (")[0]
            goal = GOAL_REBUILD if name in ("inbox", "sla", "history") else None
            out.append(Result(f"{name} rebuild vs read+decode ({kind})", r.rate, "events/s",
                              "log read+decode", decode, goal, note=seed))  # fmt: skip
        elif what.startswith("follower x3 from 0"):
            out.append(Result(
                f"follower, all projections from 0, vs read+decode ({kind})", r.rate, "events/s",
                "log read+decode", decode, GOAL_FOLLOWER,
                note=f"{seed}; every position applied to all {len(projections.all_projections())}"
                " projections, batch 500",
            ))  # fmt: skip
    names = {"channel+awaiting": "channel + awaiting (worst common filter)"}
    for latency in result.inbox:
        if latency.what not in sql:  # the unfiltered query alone, and after ANALYZE
            continue
        label = names.get(latency.what, latency.what)
        qs = (0.5, 0.99) if latency.what == "channel+awaiting" else (0.99,)
        for q in qs:
            tag = f"p{round(q * 100)}"
            errors = f"; {latency.errors} errors" if latency.errors else ""
            out.append(Result(
                f"GET /v1/inbox {label} {tag} ({kind})", percentile_ms(latency.samples, q), "ms",
                f"its SQL statements alone, {tag} of {len(sql[latency.what])} calls",
                percentile_ms(sql[latency.what], q) if sql[latency.what] else None,
                better="lower",
                note=f"goal: p99 < {GOAL_INBOX_MS:.0f} ms at 8 concurrent clients (absolute,"
                f" not a ratio; here 1 client, {len(latency.samples)} requests, {seed}){errors}",
            ))  # fmt: skip
    for latency in result.visible:
        if not latency.what.startswith("->"):
            continue
        what = latency.what.removeprefix("-> ").replace(" >= position", "")
        out.append(Result(
            f"write to visible in the inbox p99, {what} ({kind})",
            percentile_ms(latency.samples, 0.99), "ms",
            "the follower's poll interval (set, not measured)", POLL_MS, 1.0, better="lower",
            note=f"goal: p99 < 50 ms without polling faster; {len(latency.samples)} writes"
            + (f"; {latency.errors} errors" if latency.errors else ""),
        ))  # fmt: skip
    return out


# ---------------------------------------------------------------------------- inbox
def bench_inbox(kind: str, directory: Path, sizes: Sizes) -> list[Result]:
    run = inbox.bench_store(
        kind, directory, sizes.inbox_open, sizes.inbox_resolved, sizes.inbox_one, sizes.inbox_each
    )
    seed = (f"{run.open_n:,} open + {run.resolved_n:,} resolved rows seeded into the read"
            " model")  # fmt: skip
    out = [
        Result(f"inbox primary-key lookup p99 ({kind})", inbox.ms(run.pk, 0.99), "ms",
               better="lower", note=f"the floor of any read; {seed}"),
    ]  # fmt: skip
    for f in run.filters:
        p99 = inbox.ms(f.concurrent, 0.99)
        errors = f"; {f.errors} errors" if f.errors else ""
        out.append(Result(
            f"GET /v1/inbox {f.what} p99, {inbox.CLIENTS} clients ({kind})", p99, "ms",
            "its SQL alone, p99 (1 client)", inbox.ms(f.sql, 0.99), better="lower",
            note=f"goal: p99 < {inbox.GOAL_MS:.0f} ms at {inbox.CLIENTS} clients (absolute);"
            f" 1 client p99 {inbox.ms(f.local, 0.99):.1f} ms in process,"
            f" {inbox.ms(f.served, 0.99):.1f} ms served; counts exact: {f.exact}; {seed}{errors}",
        ))  # fmt: skip
    return out


# ---------------------------------------------------------------------------- loading
def bench_loading(kind: str, directory: Path, sizes: Sizes) -> list[Result]:
    progress(f"{kind} loading: {loading.SHORT} and {loading.LONG} events, {sizes.loads} loads")
    loads = loading.bench_store(kind, directory, sizes.loads)
    out = []
    for what, pair, samples in (
        ("load", loads.reads, sizes.loads), ("load, no load cache", loads.reads_uncached, sizes.loads),
        ("write to", loads.writes, loading.WRITES),
        ("write to, no load cache", loads.writes_uncached, loading.WRITES),
    ):  # fmt: skip
        short, long = pair.medians_ms()
        out.append(Result(
            f"{what} a {loading.LONG}-event conversation vs a {loading.SHORT}-event one ({kind})",
            long, "ms", f"the same on a {loading.SHORT}-event conversation", short, 2.0,
            better="lower", note=f"medians of {samples}; no snapshots",
        ))  # fmt: skip
    return out


# ---------------------------------------------------------------------------- sla report
def bench_sla_report(kind: str, directory: Path, sizes: Sizes) -> list[Result]:
    f = sla_report.bench_store(kind, directory, sizes.sla_events)
    seed = f"{f.events:,} events, {f.measurements:,} measurements"
    out = [
        Result(f"SLA report, contractual, {name} ({kind})", seconds * 1000, "ms",
               better="lower",
               note=f"goal: < {sla_report.GOAL_REPORT_SECONDS:.0f} s (absolute, not a ratio);"
               f" median of {sla_report.REPORT_RUNS}; {seed}")
        for name, seconds in f.reports if name.startswith("12 days")
    ]  # fmt: skip
    out.append(Result(
        f"SLA restatement, events folded vs read+decode ({kind})", f.folded_rate, "events/s",
        "log read+decode (every event)", f.read_rate, sla_report.GOAL_RATIO,
        note=f"{f.restate_seconds:.2f} s for {f.folded:,} events folded of {f.head:,}; {seed}",
    ))  # fmt: skip
    out.append(Result(
        f"sla rebuild vs read+decode, sla_report's seed ({kind})",
        f.events / f.build_seconds if f.build_seconds else math.nan, "events/s",
        "log read+decode", f.read_rate, GOAL_REBUILD, note=seed,
    ))  # fmt: skip
    return out


# ---------------------------------------------------------------------------- channels
def bench_deliveries(kind: str, directory: Path, sizes: Sizes) -> list[Result]:
    n = sizes.channel_n
    progress(f"{kind} deliveries on X, N={n}")
    _, f = deliveries.measure(kind, n, directory / uuid.uuid4().hex)
    noop = ("RQ no-op jobs, one SimpleWorker", f["rq_noop"])
    drain = f"{n} replies queued at once, one SimpleWorker: the latency measures the drain"
    return [
        Result(f"X reply delivery vs RQ no-op ({kind})", f["deliver"], "replies/s", *noop,
               note=f"{int(f['delivered'])} of {n} delivered through the X stand-in"),
        Result(f"X reply queued to delivered p99 ({kind})", f.get("latency_p99", math.nan), "ms",
               better="lower", note=drain),
        Result(f"X webhook, one delivery of {n} tweets ({kind})", f["webhook"], "tweets/s",
               note="no ceiling measured"),
        Result(f"X mentions poll, {n} tweets ({kind})", f["poll"], "tweets/s",
               note="no ceiling measured"),
    ]  # fmt: skip


def bench_email(kind: str, directory: Path, sizes: Sizes) -> list[Result]:
    n = sizes.channel_n
    progress(f"{kind} e-mail, N={n}")
    _, f = email.measure(kind, n, directory / uuid.uuid4().hex)
    sink = f"sink: {int(f['files'])} files, {int(f['message_ids'])} distinct Message-IDs of {n}"
    return [
        Result(f"e-mail reply delivery vs RQ no-op ({kind})", f["deliver"], "e-mails/s",
               "RQ no-op jobs, one SimpleWorker", f["rq_noop"], note=sink),
        Result(f"webhook e-mail vs parse alone ({kind})", f["webhook"], "msgs/s",
               "parse_mail alone", f["parse"],
               note=f"{int(f['recorded'])} of {n} recorded; the ratio is parsing's share"),
    ]  # fmt: skip


BENCHES: dict[str, Callable[[str, Path, Sizes], list[Result]]] = {
    "ingest": bench_ingest,
    "projections": bench_projections,
    "inbox": bench_inbox,
    "loading": bench_loading,
    "sla_report": bench_sla_report,
    "deliveries": bench_deliveries,
    "email": bench_email,
}


# ---------------------------------------------------------------------------- report
def figure(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def table(results: list[Result], title: str) -> Table:
    out = Table(title=title, title_justify="left")
    for column in ("figure", "value", "unit", "ceiling", "ceiling value", "ratio", "goal", ""):
        right = column in ("value", "ceiling value", "ratio", "goal")
        out.add_column(column, justify="right" if right else "left")
    for r in results:
        goal = "" if r.goal is None else f"{'>=' if r.better == 'higher' else '<='} {r.goal:g}"
        out.add_row(
            r.name, figure(r.value), r.unit, r.ceiling_name or "-", figure(r.ceiling),
            figure(r.ratio), goal, r.verdict,
        )  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (under 5 minutes)")
    parser.add_argument("--store", choices=[*KINDS, "both"], default="both")
    parser.add_argument("--only", nargs="+", choices=list(BENCHES), metavar="NAME",
                        help=f"some benchmarks only: {', '.join(BENCHES)}")  # fmt: skip
    parser.add_argument("--out", type=Path, default=OUT, help="the JSON rows (default %(default)s)")
    args = parser.parse_args(argv)
    kinds = list(KINDS) if args.store == "both" else [args.store]
    names = [name for name in BENCHES if not args.only or name in args.only]
    sizes = QUICK if args.quick else FULL
    machine = describe_machine(kinds)
    progress(f"python -m bench{' --quick' if args.quick else ''}: {', '.join(names)} on"
             f" {', '.join(kinds)}; {machine}")  # fmt: skip
    results: list[Result] = []
    failed: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
        for kind in kinds:
            for name in names:
                clock = time.perf_counter()
                progress(f"{kind} {name}")
                directory = Path(tmp) / f"{kind}-{name}"
                directory.mkdir()
                try:
                    results += BENCHES[name](kind, directory, sizes)
                except Exception:  # one benchmark failing leaves the others' figures
                    traceback.print_exc()
                    failed.append(f"{name} ({kind})")
                progress(f"{kind} {name}: {time.perf_counter() - clock:.0f} s")
    total = time.perf_counter() - started
    write(results, args.out)
    title = (f"python -m bench{' --quick' if args.quick else ''}  {machine}  {total:.0f} s"
             " (a shared, noisy machine: read the ratios)")  # fmt: skip
    Console(width=None if sys.stdout.isatty() else 220).print(table(results, title))
    print(f"# {len(results)} rows written to {args.out}")
    if failed:
        print(f"# FAILED: {', '.join(failed)} (tracebacks on stderr)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
