"""``parley projections status|run|rebuild|verify|clean``: running and inspecting the read side."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.config import Settings, event_store_env
from domain.application import Conversations
from projections.db import ReadStore, open_read_store
from projections.follower import CATCH_UP_BATCH, DEFAULT_BATCH, Follower
from projections.log import NotificationLog
from projections.rebuild import (
    REBUILD_BATCH,
    RebuildFailedError,
    discard_builds,
    rebuild,
    unfinished_builds,
    verify,
)
from projections.registry import all_projections, by_name
from projections.status import outdated, projection_status

log = logging.getLogger("parley.projections")


@contextmanager
def _read_side() -> Iterator[tuple[Conversations, ReadStore, NotificationLog]]:
    settings = Settings.from_env()
    app = Conversations(env=event_store_env(settings))
    store = open_read_store(settings)
    try:
        yield app, store, NotificationLog(app.recorder, app.mapper)
    finally:
        store.close()
        app.close()


@contextmanager
def progress_bar(label: str) -> Iterator[Any]:
    """A progress bar on a terminal; structured log lines (every 10%) otherwise."""
    if sys.stderr.isatty():
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        ) as bar:
            task = bar.add_task(label, total=None, rate="")

            def update(position: int, head: int) -> None:
                elapsed = bar.tasks[0].elapsed or 0
                rate = f"{position / elapsed:,.0f} pos/s" if elapsed else ""
                bar.update(task, completed=position, total=head, rate=rate)

            yield update
        return
    state = {"next": 0.0}

    def report(position: int, head: int) -> None:
        done = position / head if head else 1.0
        if done >= state["next"]:
            log.info(json.dumps({"op": label, "position": position, "head": head,
                                 "done": round(done, 3)}))  # fmt: skip
            state["next"] = done + 0.1

    yield report


def _name_choice() -> click.Choice:
    return click.Choice([p.name for p in all_projections()])


@click.group("projections")
def projections() -> None:
    """Read models: run the follower, show status, rebuild, verify, clean up."""


@projections.command("status")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def status(as_json: bool) -> None:
    """Position, head, lag and last error of each projection."""
    with _read_side() as (_, store, events):
        Follower(store, events, all_projections()).setup()
        rows = projection_status(store, events, all_projections())
        builds = unfinished_builds(store, all_projections())
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("projection", "state", "position", "head", "lag", "last error")
    for r in rows:
        error = r["last_error"]
        table.add_row(
            r["name"],
            r["state"],
            str(r["position"]),
            str(r["head"]),
            str(r["lag"]),
            f"at {error['position']} ({error['event']}): {error['error']}" if error else "",
        )
    Console().print(table)
    for build in builds:
        when = build.updated_at.isoformat() if build.updated_at else "never"
        click.echo(
            f"unfinished build {build.name}: position {build.position}, last batch {when}"
            " (running, or abandoned: `parley projections clean` drops abandoned ones)"
        )
    if any(r["state"] == "failed" for r in rows):
        sys.exit(1)


@projections.command("clean")
@click.option(
    "--idle-minutes",
    default=15.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="drop builds that applied nothing for this long",
)
def clean(idle_minutes: float) -> None:
    """Drop the shadow and scratch tables of rebuilds and verifies that died mid-way."""
    with _read_side() as (_, store, _events):
        dropped = discard_builds(store, all_projections(), idle_for=timedelta(minutes=idle_minutes))
    for build in dropped:
        click.echo(f"dropped {build.name} (stopped at position {build.position})")
    click.echo(f"{len(dropped)} abandoned build(s) dropped")


@projections.command("run")
@click.option("--once", is_flag=True, help="catch up to the head, then exit")
@click.option(
    "--batch-size",
    default=DEFAULT_BATCH,
    show_default=True,
    help="events per transaction when following the head",
)
@click.option(
    "--catch-up-batch",
    default=CATCH_UP_BATCH,
    show_default=True,
    help="events per transaction while far behind (four batches or more)",
)
@click.option("--poll-interval", default=0.2, show_default=True)
def run(once: bool, batch_size: int, catch_up_batch: int, poll_interval: float) -> None:
    """Follow the event log and keep every projection up to date (until SIGTERM).

    A projection whose tables another version of its code built is rebuilt first."""
    with _read_side() as (_, store, events):
        follower = Follower(
            store, events, all_projections(), batch_size=batch_size, catch_up_batch=catch_up_batch
        )
        follower.setup()
        for projection in outdated(store, all_projections()):
            # Built by another version of its code: rebuilt (in shadow tables, swapped in)
            # before it is followed again; the others go on after.
            log.warning("%s was built by another version: rebuilding it", projection.name)
            try:
                with progress_bar(f"rebuild {projection.name}") as progress:
                    rebuild(store, events, projection, progress=progress)
            except RebuildFailedError as error:  # it stays outdated; the others are followed
                log.error("rebuilding %s failed: %s", projection.name, error)
        if once:
            applied = follower.run_once()
            click.echo(f"applied {applied} event(s); head {events.head()}")
        else:
            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            log.info("following the event log")
            follower.run_forever(stop, poll_interval)
        for failure in follower.failed.values():
            click.echo(f"stopped: {failure}", err=True)
        if follower.failed:
            sys.exit(1)


@projections.command("rebuild")
@click.argument("name", type=_name_choice())
@click.option(
    "--batch-size", default=REBUILD_BATCH, show_default=True, help="events per transaction"
)
def rebuild_command(name: str, batch_size: int) -> None:
    """Rebuild NAME from position 0 in shadow tables; swap in when caught up."""
    with _read_side() as (_, store, events), progress_bar(f"rebuild {name}") as progress:
        try:
            position = rebuild(
                store, events, by_name(name), batch_size=batch_size, progress=progress
            )
        except RebuildFailedError as error:
            raise click.ClickException(f"rebuild failed, live view untouched: {error}") from error
    click.echo(f"{name} rebuilt to position {position} and swapped in")


@projections.command("verify")
@click.argument("name", type=_name_choice())
@click.option(
    "--batch-size", default=REBUILD_BATCH, show_default=True, help="events per transaction"
)
def verify_command(name: str, batch_size: int) -> None:
    """Rebuild NAME into scratch tables and diff with the live view (exit 1 on a difference)."""
    with _read_side() as (_, store, events), progress_bar(f"verify {name}") as progress:
        try:
            differences = verify(
                store, events, by_name(name), batch_size=batch_size, progress=progress
            )
        except RebuildFailedError as error:
            raise click.ClickException(str(error)) from error
    for difference in differences[:20]:
        click.echo(json.dumps(difference, default=str), err=True)
    if differences:
        click.echo(f"{name}: {len(differences)} row(s) differ from a rebuild", err=True)
        sys.exit(1)
    click.echo(f"{name}: the live view equals a rebuild from the log")
