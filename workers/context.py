"""What a job needs, built once per process on first use (never at import).

RQ's default worker forks a work-horse per job, so connections are opened in the job's
process, lazily: the application (the event store), Redis, and the channel adapters
configured by ``PARLEY_*`` settings.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any

import redis

from app.config import Settings, event_store_env
from domain.application import Conversations
from projections.db import ReadStore, open_read_store
from workers.channels.base import Channel

_current: Context | None = None


@dataclass
class Context:
    settings: Settings
    application: Conversations
    redis: redis.Redis
    channels: dict[str, Channel] = field(default_factory=dict)
    pid: int = field(default_factory=os.getpid)
    _read_store: ReadStore | None = None
    _x_client: Any = None

    @property
    def read_store(self) -> ReadStore:
        """The read store's database: where the outbox and the polls keep their cursors."""
        if self._read_store is None:
            self._read_store = open_read_store(self.settings)
        return self._read_store

    @property
    def x_client(self) -> Any:
        """tweepy's Client with Parley's credentials (every call counted)."""
        if self._x_client is None:
            from workers.channels.x import Usage, client_for

            self._x_client = client_for(self.settings, Usage(self.redis))
        return self._x_client

    def close(self) -> None:
        self.application.close()
        self.redis.close()
        if self._read_store is not None:
            self._read_store.close()


def build(settings: Settings) -> Context:
    application = Conversations(
        env=event_store_env(settings),
        key_ttl=timedelta(hours=settings.idempotency_ttl_hours),
        accounts=settings.accounts(),
    )
    client = redis.Redis.from_url(settings.redis_url)
    ctx = Context(settings, application, client)
    # The e-mail ledger shares the context's read store, opened on first use.
    ctx.channels = channels_for(settings, client, lambda: ctx.read_store)
    return ctx


def channels_for(
    settings: Settings,
    client: redis.Redis,
    read_store: Callable[[], ReadStore] | None = None,
) -> dict[str, Channel]:
    """The outbound adapters the settings configure, by channel. E-mail keeps a ledger
    in the read store (``read_store()``, called on first use; default: its own)."""
    channels: dict[str, Channel] = {}
    if settings.x_configured():
        from workers.channels.x import Usage, XChannel, client_for

        usage = Usage(client)
        x = XChannel(client_for(settings, usage), settings.x_brand_user_id, usage)
        channels |= {"x_public": x, "x_dm": x}
    if settings.smtp_configured():
        from workers.channels.email import EmailChannel, Ledger, SmtpConfig

        store = read_store or cache(lambda: open_read_store(settings))
        channels["email"] = EmailChannel(SmtpConfig.of(settings), Ledger(store))
    return channels


def current() -> Context:
    """This process's context (a forked work-horse builds its own)."""
    global _current
    if _current is None or _current.pid != os.getpid():
        _current = build(Settings.from_env())
    return _current


def use(context: Context | None) -> None:
    """Run jobs in this process with ``context`` (tests, a SimpleWorker, the bench)."""
    global _current
    _current = context
