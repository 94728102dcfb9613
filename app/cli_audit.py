"""``parley audit chain|verify|export``: the log's hash chain, checked and exported.

``chain`` is the follower that extends the chain as the log grows and records its head
every ``PARLEY_AUDIT_HEAD_SECONDS``; ``verify`` recomputes it from the stored events and
names what differs (exit status 1 on any finding, 2 if it could not run: never a
traceback); ``export`` writes the log with its chain as NDJSON, for
``docs/verify_export.py`` to check offline.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO
from uuid import UUID

import click
from rich.console import Console
from rich.table import Table

from app.cli_projections import progress_bar
from app.config import Settings, event_store_env
from app.schemas.events import describe_event
from domain.application import Conversations
from domain.values import plain
from projections.audit_chain import AuditChain, verify
from projections.audit_export import ExportFilter, aggregates_of_customer, export_lines
from projections.db import ReadStore, open_read_store
from projections.log import follow


@contextmanager
def _audit() -> Iterator[tuple[Settings, Conversations, ReadStore, AuditChain]]:
    settings = Settings.from_env()
    app = Conversations(env=event_store_env(settings))
    store = open_read_store(settings)
    try:
        yield settings, app, store, AuditChain(store, settings.audit_signing_key)
    finally:
        store.close()
        app.close()


@click.group("audit")
def audit() -> None:
    """The log's hash chain: follow, verify, export."""


@audit.command("chain")
@click.option("--once", is_flag=True, help="chain what the log holds now, record the head, stop")
def chain_command(once: bool) -> None:
    """Extend the chain as the log grows; record its head every PARLEY_AUDIT_HEAD_SECONDS."""
    with _audit() as (settings, app, _, chain):
        if once:
            chain.catch_up(app.recorder)
            head = chain.record_head()
            click.echo(f"chained up to position {head[0] if head else 0}")
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        last = {"at": 0.0}

        def step() -> int:
            moved = chain.advance(app.recorder)
            if time.monotonic() - last["at"] >= settings.audit_head_seconds:
                chain.record_head()
                last["at"] = time.monotonic()
            return moved

        follow(step, stop, what="audit-chain")
        chain.record_head()


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True)
def verify_command(as_json: bool) -> None:
    """Recompute the chain from the stored events; name the first altered, missing,
    inserted or reordered event. Exit status 1 on any finding."""
    try:
        with _audit() as (_, app, _, chain):
            findings, checked, unchained = verify(chain, app.recorder)
    except Exception as error:  # the store is unreachable...: say so, no traceback
        click.echo(f"could not verify: {type(error).__name__}: {error}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps({
            "checked": checked, "unchained": unchained,
            "findings": [vars(f) for f in findings],
        }))  # fmt: skip
    else:
        console = Console()
        console.print(f"checked {checked} events; {unchained} not chained yet")
        if findings:
            table = Table("position", "finding", "what differs")
            for finding in findings:
                table.add_row(str(finding.position), finding.kind, finding.detail)
            console.print(table)
        else:
            console.print("the chain verifies")
    if findings:
        sys.exit(1)


@audit.command("export")
@click.option("--conversation", "conversation_id", type=click.UUID, default=None)
@click.option("--customer", "customer_id", type=click.UUID, default=None)
@click.option("--start", type=click.DateTime(), default=None, help="UTC, inclusive")
@click.option("--end", type=click.DateTime(), default=None, help="UTC, exclusive")
@click.option("--output", type=click.File("w"), default="-")
def export_command(
    conversation_id: UUID | None,
    customer_id: UUID | None,
    start: datetime | None,
    end: datetime | None,
    output: TextIO,
) -> None:
    """The log with its chain as NDJSON (events outside the filter as links only);
    check it offline with docs/verify_export.py."""
    with _audit() as (_, app, _, chain):
        chain.catch_up(app.recorder)
        chain.record_head()
        selected = export_filter(app, conversation_id, customer_id, start, end)
        head = app.recorder.max_notification_id() or 0
        with progress_bar("audit export") as progress:
            for line in export_lines(
                chain, app.recorder, app.mapper.to_domain_event,
                describe_event, selected, progress=lambda position: progress(position, head),
            ):  # fmt: skip
                output.write(json.dumps(plain(line)) + "\n")


def export_filter(
    app: Conversations,
    conversation_id: UUID | None,
    customer_id: UUID | None,
    start: datetime | None,
    end: datetime | None,
) -> ExportFilter:
    aggregates: set[str] | None = None
    if conversation_id is not None:
        aggregates = {str(app.get_conversation(conversation_id).id)}
    if customer_id is not None:
        aggregates = (aggregates or set()) | set(aggregates_of_customer(app, customer_id))
    start = start.replace(tzinfo=UTC) if start and start.tzinfo is None else start
    end = end.replace(tzinfo=UTC) if end and end.tzinfo is None else end
    described: dict[str, Any] = {"conversation_id": conversation_id, "customer_id": customer_id,
                                 "start": start, "end": end}  # fmt: skip
    return ExportFilter(
        frozenset(aggregates) if aggregates is not None else None, start, end,
        {k: plain(x) for k, x in described.items() if x is not None},
    )  # fmt: skip


@audit.command("replay")
@click.argument("conversation_id", type=click.UUID)
def replay_command(conversation_id: UUID) -> None:
    """The case's story as a timeline: who did what, on which channel, when, and the SLA
    clock after each step (replayed from its events)."""
    from domain.exceptions import NotFoundError
    from projections.timeline import timeline

    settings = Settings.from_env()
    app = Conversations(env=event_store_env(settings))
    try:
        steps = list(timeline(app, conversation_id))
    except NotFoundError as error:
        click.echo(str(error), err=True)
        sys.exit(1)
    finally:
        app.close()
    table = Table("v", "when (UTC)", "who", "channel", "what", "SLA clock after it")
    for step in steps:
        table.add_row(
            str(step.version), f"{step.at:%Y-%m-%d %H:%M:%S}", step.actor, step.channel,
            step.what, step.clock,
        )  # fmt: skip
    Console(width=None if sys.stdout.isatty() else 200).print(table)
