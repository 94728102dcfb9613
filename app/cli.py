"""The ``parley`` command: everything that is not HTTP."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import click

from app.cli_projections import projections
from app.config import Settings, event_store_env
from domain.access import ROLES
from domain.application import Conversations

QUEUES = ("parley-deliveries", "parley-default")


def _application(create_tables: bool | None = None) -> Conversations:
    settings = Settings.from_env()
    return Conversations(env=event_store_env(settings, create_tables=create_tables))


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
    from projections.db import open_read_store

    app = _application(create_tables=True)
    store = open_read_store(Settings.from_env())
    follower_for(app, store).setup()
    store.close()
    click.echo(
        f"event store ready ({Settings.from_env().store}); head position {app.head_position()}"
    )
    app.close()


@main.group()
def tokens() -> None:
    """API tokens."""


@tokens.command("create")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", required=True, help="who holds it: becomes the actor on their events")
def tokens_create(role: str, name: str) -> None:
    """Issue a token. It is printed once; only its hash is stored."""
    token = "prl_" + secrets.token_urlsafe(32)
    app = _application()
    app.issue_token(name=name, role=role, token=token, actor="ops:cli")
    app.close()
    click.echo(token)


@tokens.command("revoke")
@click.argument("token")
def tokens_revoke(token: str) -> None:
    """Revoke a token: requests carrying it get 401 from now on."""
    app = _application()
    revoked = app.revoke_token(token, actor="ops:cli")
    app.close()
    if not revoked:
        raise click.ClickException("no such live token")
    click.echo("revoked")


@main.command()
@click.option("--host", default="127.0.0.1", envvar="PARLEY_HOST", show_default=True)
@click.option("--port", default=8000, type=int, envvar="PARLEY_PORT", show_default=True)
@click.option("--workers", default=2, type=int, envvar="PARLEY_WEB_WORKERS", show_default=True)
@click.option("--threads", default=8, type=int, envvar="PARLEY_WEB_THREADS", show_default=True)
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the API with gunicorn (threaded workers: an open /v1/stream holds a thread)."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("accesslog", "-")
            self.cfg.set("timeout", 60)

        def load(self) -> Any:
            from app import create_app

            return create_app()

    Server().run()


@main.command()
@click.option("--burst", is_flag=True, help="run the queued jobs, then exit")
def worker(burst: bool) -> None:
    """Run an RQ worker (with its scheduler, so retries and delayed jobs run)."""
    from redis import Redis
    from rq import Queue, Worker

    connection = Redis.from_url(Settings.from_env().redis_url)
    queues = [Queue(name, connection=connection) for name in QUEUES]
    Worker(queues, connection=connection).work(with_scheduler=True, burst=burst)


main.add_command(projections)

if __name__ == "__main__":
    main()
