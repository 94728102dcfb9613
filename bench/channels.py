"""What the channel benchmarks share (``bench.deliveries``, ``bench.email``): RQ's own
ceiling, a free port, percentiles, and :class:`Rig`, the worker context, the Flask app
in-process, the outbox and one ``SimpleWorker`` on a fresh store and a Redis database
of the benchmark's own.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID

import redis
from flask import Flask
from flask.testing import FlaskClient
from rq import Queue

from app import create_app
from app.config import Settings
from projections.log import NotificationLog
from workers import context
from workers.outbox import Outbox
from workers.queues import QUEUES
from workers.rq_workers import BurstWorker


def noop() -> None:
    """The job RQ's ceiling is measured with."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def redis_url(db: int) -> str:
    """``PARLEY_REDIS_URL`` (default: this machine's Redis) on database ``db``."""
    base = os.environ.get("PARLEY_REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
    return f"{base}/{db}"


def rq_noop(connection: redis.Redis, n: int) -> float:
    """RQ's ceiling: N no-op jobs enqueued, then run by one ``SimpleWorker`` (burst); jobs/s."""
    queue = Queue("bench-noop", connection=connection)
    started = time.perf_counter()
    for _ in range(n):
        queue.enqueue("bench.channels.noop")  # by path: __main__ functions cannot be jobs
    BurstWorker([queue], connection=connection).work(burst=True, logging_level="WARNING")
    return n / (time.perf_counter() - started)


def latency_figure(latencies: list[float]) -> str:
    if not latencies:
        return "latency: nothing delivered"
    return (
        f"latency p50 {percentile(latencies, 0.5):,.0f} ms,"
        f" p99 {percentile(latencies, 0.99):,.0f} ms"
    )


@dataclass
class Rig:
    """A benchmark's worker context (``context.use``), app, outbox and Redis."""

    ctx: context.Context
    web: Flask
    client: FlaskClient
    connection: redis.Redis
    box: Outbox

    def headers(self, role: str) -> dict[str, str]:
        """A new bearer token of ``role`` (agent, integration, ...), as request headers."""
        token = secrets.token_urlsafe(16)
        with self.web.app_context():
            self.web.extensions["parley.application"].issue_token(
                name=f"bench-{role}", role=role, token=token, actor="ops:bench"
            )
        return {"Authorization": f"Bearer {token}"}

    def drain(self, done: Callable[[], bool], timeout: float = 600.0) -> bool:
        """The outbox, then one ``SimpleWorker`` in burst mode, until ``done()`` (True), or
        ``timeout`` seconds (False)."""
        worker = BurstWorker([Queue(q, connection=self.connection) for q in QUEUES],
                              connection=self.connection)  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            self.box.run_once()
            worker.work(burst=True, logging_level="WARNING")
            if done():
                return True
            if time.monotonic() > deadline:
                return False

    def latencies(self, cases: list[UUID]) -> list[float]:
        """Milliseconds from each case's ``ReplyQueued`` to its ``ReplyDelivered`` (the
        events' own timestamps); cases whose reply was not delivered are left out."""
        gaps = []
        for cid in cases:
            events = {type(e).__name__: e for e in self.ctx.application.conversation_events(cid)}
            if "ReplyDelivered" in events and "ReplyQueued" in events:
                gap = events["ReplyDelivered"].timestamp - events["ReplyQueued"].timestamp
                gaps.append(gap.total_seconds() * 1000)
        return gaps


@contextmanager
def rig(environ: dict[str, str]) -> Iterator[Rig]:
    """A :class:`Rig` on the store and Redis ``environ`` (``PARLEY_*``) names: the Redis
    database is flushed before and after; the outbox starts at the log's head."""
    settings = Settings.from_env(environ)
    connection = redis.Redis.from_url(settings.redis_url)
    connection.flushdb()
    ctx = context.build(settings)
    context.use(ctx)
    web = create_app({"TESTING": True}, environ=environ)
    box = Outbox(
        ctx.read_store, NotificationLog(ctx.application.recorder, ctx.application.mapper),
        connection,
    )  # fmt: skip
    box.setup()
    try:
        yield Rig(ctx, web, web.test_client(), connection, box)
    finally:
        context.use(None)
        ctx.close()
        web.extensions["parley.application"].close()
        web.extensions["parley.read_store"].close()
        connection.flushdb()
        connection.close()
