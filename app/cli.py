"""The ``parley`` command: everything that is not HTTP."""

from __future__ import annotations

import json
import logging
import secrets
import sys
from datetime import timedelta
from typing import Any

import click
from redis.exceptions import RedisError
from rich.console import Console
from rich.table import Table

from app.cli_audit import audit
from app.cli_projections import projections
from app.cli_sla import sla
from app.cli_workers import channels, mail, outbox, scheduler, worker
from app.config import Settings, event_store_env
from app.token_use import TokenUse
from domain.access import ROLES
from domain.application import Conversations
from domain.exceptions import DomainError, NotFoundError


def _application(create_tables: bool | None = None) -> Conversations:
    settings = Settings.from_env()
    return Conversations(
        env=event_store_env(settings, create_tables=create_tables), accounts=settings.accounts()
    )


@click.group()
@click.option("--log-level", default="INFO", envvar="PARLEY_LOG_LEVEL", show_default=True)
def main(log_level: str) -> None:
    """Parley: an event-sourced omnichannel conversation backend."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )


@main.group()
def db() -> None:
    """The event store."""


@db.command("init")
def db_init() -> None:
    """Create the event store's and the read models' tables (once, before servers start)."""
    from app import follower_for
    from projections.audit_chain import AuditChain
    from projections.db import open_read_store
    from workers import outbox

    app = _application(create_tables=True)
    store = open_read_store(Settings.from_env())
    follower_for(app, store).setup()
    outbox.ensure_table(store, app.head_position())
    AuditChain(store)  # its tables
    store.close()
    click.echo(
        f"event store ready ({Settings.from_env().store}); head position {app.head_position()}"
    )
    app.close()


@main.group()
def tokens() -> None:
    """API tokens."""


DURATION = {"m": 60, "h": 3600, "d": 86400}


def _duration(value: str | None) -> timedelta | None:
    """``90m``, ``12h``, ``30d``."""
    if value is None:
        return None
    number, unit = value[:-1], value[-1:].lower()
    if unit not in DURATION or not number.isdigit() or not 0 < int(number) <= 100_000:
        raise click.BadParameter("a duration like 90m, 12h or 30d", param_hint="--expires-in")
    return timedelta(seconds=int(number) * DURATION[unit])


@tokens.command("create")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", required=True, help="who holds it: becomes the actor on their events")
@click.option("--expires-in", help="e.g. 90m, 12h, 30d (default: never)")
def tokens_create(role: str, name: str, expires_in: str | None) -> None:
    """Issue a token. It is printed once; only its hash is stored."""
    ttl = _duration(expires_in)
    token = "prl_" + secrets.token_urlsafe(32)
    app = _application()
    try:
        expires_at = app.clock() + ttl if ttl else None
        issued = app.issue_token(
            name=name, role=role, token=token, actor="ops:cli", expires_at=expires_at
        )
    except DomainError as error:
        raise click.ClickException(str(error)) from None
    finally:
        app.close()
    click.echo(token)
    click.echo(f"id {issued.id}", err=True)


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per token")
def tokens_list(as_json: bool) -> None:
    """Every token: id, name, role, created, expires, last used, state."""
    app = _application()
    try:
        listed = app.list_tokens()
        now = app.clock()
    finally:
        app.close()
    try:
        last_used = TokenUse(Settings.from_env().redis_url).last_used()
    except RedisError:
        last_used = {}
    rows = [
        {
            "id": str(t.id),
            "name": t.name,
            "role": t.role,
            "created": t.issued_at.isoformat(),
            "expires": t.expires_at.isoformat() if t.expires_at else None,
            "last_used": last_used[str(t.id)].isoformat() if str(t.id) in last_used else None,
            "state": "revoked" if t.revoked else "live" if t.live(now) else "expired",
        }
        for t in listed
    ]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    table = Table("id", "name", "role", "created", "expires", "last used", "state")
    for row in rows:
        table.add_row(*[str(row[k] or "-") for k in row])
    Console(width=None if sys.stdout.isatty() else 240).print(table)  # no cut ids in a pipe


@tokens.command("revoke")
@click.argument("token_id")
def tokens_revoke(token_id: str) -> None:
    """Revoke a token by its id (or 8+ leading characters of it): requests carrying it
    get 401 from then on, and its open streams end within a minute."""
    app = _application()
    try:
        revoked = app.revoke_token(token_id, actor="ops:cli")
    except NotFoundError as error:
        raise click.ClickException(str(error)) from None
    finally:
        app.close()
    click.echo("revoked" if revoked else "revoked already")


@main.command()
@click.option("--host", default="127.0.0.1", envvar="PARLEY_HOST", show_default=True)
@click.option("--port", default=8000, type=int, envvar="PARLEY_PORT", show_default=True)
@click.option("--workers", default=2, type=int, envvar="PARLEY_WEB_WORKERS", show_default=True)
@click.option("--threads", default=40, type=int, envvar="PARLEY_WEB_THREADS", show_default=True)
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the API with gunicorn (threaded workers: an open /v1/stream holds a thread)."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("accesslog", "-")
            # The path without its query: a lookup's query holds an address, and no
            # personal data may reach a log line (nor the referer, which can too).
            self.cfg.set("access_log_format", '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms')
            self.cfg.set("timeout", 60)
            self.cfg.set("limit_request_line", 8190)  # gunicorn's largest: long cursors fit
            # Ends open streams at once on SIGTERM/SIGINT, not after the graceful timeout.
            self.cfg.set("worker_class", "app.serving.StreamingWorker")

        def load(self) -> Any:
            from app import create_app

            return create_app()

    Server().run()


main.add_command(projections)
main.add_command(audit)
main.add_command(sla)
for command in (worker, outbox, scheduler, channels, mail):
    main.add_command(command)

if __name__ == "__main__":
    main()
