"""``parley worker|outbox|scheduler|channels``: the processes that reach customers.

- ``parley worker`` runs an RQ worker (with RQ's scheduler, so retries and delayed
  deliveries run) on Parley's queues.
- ``parley outbox run`` follows the event log and enqueues deliveries.
- ``parley scheduler`` runs RQ's ``CronScheduler`` with the X polls and the SLA sweep
  (one process is enough; two would only poll and sweep twice, which records nothing
  twice).
- ``parley channels status`` shows the polls' cursors and X's calls and rate limits.
"""

from __future__ import annotations

import json
import logging
import signal
import threading

import click
from redis import Redis
from rich.console import Console
from rich.table import Table

from app.config import Settings, event_store_env
from domain.application import Conversations
from projections.db import ReadStore, open_read_store
from projections.log import NotificationLog
from workers import queues
from workers.channels.report import channel_report
from workers.outbox import Outbox
from workers.polling import Cursors

log = logging.getLogger("parley.workers")


@click.command()
@click.option("--burst", is_flag=True, help="run the queued jobs, then exit")
def worker(burst: bool) -> None:
    """Run an RQ worker (with its scheduler, so retries and delayed jobs run)."""
    from rq import Queue

    from workers.rq_workers import ParleyWorker

    settings = Settings.from_env()
    connection = Redis.from_url(settings.redis_url)
    names = queues.QUEUES
    ParleyWorker(
        [Queue(n, connection=connection) for n in names], connection=connection,
        maintenance_interval=settings.worker_maintenance_seconds,
    ).work(with_scheduler=True, burst=burst)  # fmt: skip


@click.group()
def outbox() -> None:
    """The outbox: turns replies in the event log into delivery jobs."""


def _outbox() -> tuple[Outbox, Conversations, ReadStore]:
    settings = Settings.from_env()
    app = Conversations(env=event_store_env(settings))
    store = open_read_store(settings)
    box = Outbox(
        store,
        NotificationLog(app.recorder, app.mapper),
        Redis.from_url(settings.redis_url),
        batch_size=settings.outbox_batch,
    )
    box.setup()
    return box, app, store


@outbox.command("run")
@click.option("--once", is_flag=True, help="enqueue up to the log's head, then exit")
def outbox_run(once: bool) -> None:
    """Follow the log and enqueue every delivery (SIGTERM stops it between batches)."""
    box, app, store = _outbox()
    try:
        if once:
            click.echo(f"read {box.run_once()} event(s); enqueued {box.enqueued} job(s)")
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        log.info("outbox following the log from position %s", box.position())
        box.run_forever(stop)
    finally:
        store.close()
        app.close()


@click.command()
def scheduler() -> None:
    """Run RQ's CronScheduler: the SLA sweep every PARLEY_SLA_SWEEP_SECONDS, the X polls
    every PARLEY_X_POLL_SECONDS, the Maildir every PARLEY_MAIL_POLL_SECONDS."""
    from rq.cron import CronScheduler

    from workers.jobs import poll_x, sweep_sla

    settings = Settings.from_env()
    cron = CronScheduler(connection=Redis.from_url(settings.redis_url))
    queues.register_single(
        cron, sweep_sla, queue_name=queues.SLA, interval=settings.sla_sweep_seconds,
        job_id="parley-sla-sweep",
    )  # fmt: skip
    if settings.x_configured():
        for kind in ("mentions", "search", "dms"):
            cron.register(
                poll_x, queue_name=queues.POLLING, args=(kind,),
                interval=settings.x_poll_seconds, name=f"poll-x-{kind}",
            )  # fmt: skip
    else:
        log.warning("X is not configured (PARLEY_X_*): nothing to poll")
    if settings.maildir:
        from workers.jobs import poll_maildir

        cron.register(
            poll_maildir, queue_name=queues.POLLING, interval=settings.mail_poll_seconds,
            name="poll-maildir",
        )  # fmt: skip
    cron.start()


@click.group()
def channels() -> None:
    """Channels: polling cursors, API calls, rate limits."""


@channels.command("status")
@click.option("--json", "as_json", is_flag=True)
def channels_status(as_json: bool) -> None:
    """Per channel: where polling got to, calls to the API by route and outcome, limits."""

    settings = Settings.from_env()
    store = open_read_store(settings)
    try:
        report = channel_report(settings, Redis.from_url(settings.redis_url), Cursors(store))
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(report))
        return
    console = Console()
    for name, channel in report["channels"].items():
        console.print(f"[bold]{name}[/]: {'configured' if channel['configured'] else 'off'}")
        if "calls" not in channel:  # e-mail: its settings
            for key, value in channel.items():
                if key != "configured":
                    console.print(f"  {key}: {value}")
            continue
        table = Table("route", "calls by status", "limit", "remaining", "resets")
        for route, statuses in sorted(channel["calls"].items()):
            limit = channel["rate_limits"].get(route) or {}
            table.add_row(
                route, ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())),
                *(str(limit.get(k, "-")) for k in ("limit", "remaining", "reset")),
            )  # fmt: skip
        console.print(table)
        for poll, at in channel["cursors"].items():
            console.print(f"  {poll}: up to {at}")


@click.group()
def mail() -> None:
    """Inbound e-mail from a Maildir (the webhook is POST /webhooks/email)."""


@mail.command("import")
@click.argument("maildir", type=click.Path(exists=True, file_okay=False))
def mail_import(maildir: str) -> None:
    """Record every message in MAILDIR's new/ once, then move it to cur/ (as the
    scheduler does every PARLEY_MAIL_POLL_SECONDS when PARLEY_MAILDIR is set)."""
    from workers.maildir import describe, poll_maildir

    settings = Settings.from_env()
    application = Conversations(env=event_store_env(settings), accounts=settings.accounts())
    try:
        counts = poll_maildir(application, maildir)
    finally:
        application.close()
    click.echo(describe(counts))
