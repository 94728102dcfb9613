"""The workers tier: a real store, a real redis-server, the X stand-in, tweepy, RQ.

Jobs run in this process with RQ's ``SimpleWorker`` (burst; as ``BurstWorker``, whose
end cannot wait a minute for its pubsub thread), after RQ's own scheduler has moved the
delayed jobs that are due; the outbox runs as it does in production.
Redis is the machine's, on a database of the tests' own (flushed around each test), or
a private ``redis-server`` for the tests that stop it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry
from rq.scheduler import RQScheduler

from app.config import Settings
from projections.log import NotificationLog
from tests.conftest import Clock
from tests.support.x_standin import XStandIn
from workers import context
from workers.outbox import Outbox
from workers.queues import QUEUES
from workers.rq_workers import BurstWorker

CONSUMER_SECRET, TOKEN_SECRET = "consumer-secret", "token-secret"
BRAND = "1700000000000000001"
# One Redis db per test run; PARLEY_TEST_REDIS_DB gives side-by-side runs a db each.
TEST_DB = int(os.environ.get("PARLEY_TEST_REDIS_DB", "12"))


def redis_url(base: str | None = None, db: int = TEST_DB) -> str:
    url = base or os.environ.get("PARLEY_REDIS_URL", "redis://127.0.0.1:6379/0")
    return url.rsplit("/", 1)[0] + f"/{db}"


@pytest.fixture
def x() -> Iterator[XStandIn]:
    with XStandIn(CONSUMER_SECRET, TOKEN_SECRET, BRAND, "brand") as standin:
        yield standin


def x_settings(standin: XStandIn) -> dict[str, str]:
    return {
        "PARLEY_X_API_BASE_URL": standin.url,
        "PARLEY_X_CONSUMER_KEY": "consumer-key",
        "PARLEY_X_CONSUMER_SECRET": CONSUMER_SECRET,
        "PARLEY_X_ACCESS_TOKEN": f"{BRAND}-access-token",
        "PARLEY_X_ACCESS_TOKEN_SECRET": TOKEN_SECRET,
        "PARLEY_X_BRAND_USER_ID": BRAND,
    }


@dataclass
class Rig:
    """Everything a test drives: the worker context, the outbox, the stand-in."""

    ctx: context.Context
    outbox: Outbox
    x: XStandIn

    @property
    def app(self):  # type: ignore[no-untyped-def]
        return self.ctx.application

    def run(self, until: Callable[[], bool] = lambda: True, timeout: float = 45.0) -> None:
        """Outbox, then due delayed jobs, then every queued job, until ``until()``."""
        connection = self.ctx.redis
        queues = [Queue(name, connection=connection) for name in QUEUES]
        deadline = time.monotonic() + timeout
        while True:
            self.outbox.run_once()
            scheduler = RQScheduler(QUEUES, connection=connection)
            scheduler.prepare_registries(list(QUEUES))  # as a worker's scheduler does
            scheduler.enqueue_scheduled_jobs()
            BurstWorker(queues, connection=connection).work(burst=True)
            if until():
                return
            assert time.monotonic() < deadline, (
                "the condition did not come true in time\n" + self.state()
            )
            time.sleep(0.2)

    def state(self) -> str:
        """What the queues, RQ's registries and the outbox hold: a timed-out run's why."""
        connection = self.ctx.redis
        head = self.outbox.events.head()
        lines = [f"now {time.time():.1f}; outbox at {self.outbox.position()}, log head {head}"]
        for name in QUEUES:
            scheduled = ScheduledJobRegistry(name, connection=connection)
            lines.append(
                f"{name}: queued {Queue(name, connection=connection).job_ids},"
                f" scheduled {connection.zrange(scheduled.key, 0, -1, withscores=True)},"
                f" finished {FinishedJobRegistry(name, connection=connection).get_job_ids()},"
                f" failed {FailedJobRegistry(name, connection=connection).get_job_ids()}"
            )
        for position, event in self.outbox.events.read(max(0, head - 12), 12):
            lines.append(
                f"  {position} {type(event).__qualname__} {getattr(event, 'code', '')}"
                f" retry_at={getattr(event, 'retry_at', '')} at={getattr(event, 'timestamp', '')}"
            )
        return "\n".join(lines)

    def reply(self, cid, reply_id):  # type: ignore[no-untyped-def]
        return self.app.find_reply(cid, reply_id)


@contextmanager
def rig_on(
    store: dict[str, str], x: XStandIn, url: str, extra: dict[str, str] | None = None
) -> Iterator[Rig]:
    """A worker context on ``store`` and the Redis at ``url``, jobs run in this process;
    ``extra`` settings beside (another channel's, say)."""
    settings = Settings.from_env(
        {**store, **x_settings(x), "PARLEY_REDIS_URL": url, "PARLEY_CREATE_TABLES": "y",
         **(extra or {})}
    )  # fmt: skip
    ctx = context.build(settings)
    ctx.application.clock = RealTimeClock()  # jobs compare retry times with the real clock
    from app import follower_for

    follower_for(ctx.application, ctx.read_store).setup()
    outbox = Outbox(
        ctx.read_store, NotificationLog(ctx.application.recorder, ctx.application.mapper),
        ctx.redis,
    )  # fmt: skip
    outbox.setup()
    context.use(ctx)
    try:
        yield Rig(ctx, outbox, x)
    finally:
        context.use(None)
        ctx.close()


@pytest.fixture
def rig(store: dict[str, str], x: XStandIn, clock: Clock) -> Iterator[Rig]:
    client = redis.Redis.from_url(redis_url())
    client.flushdb()
    try:
        with rig_on(store, x, redis_url()) as made:
            yield made
    finally:
        client.flushdb()
        client.close()


class RealTimeClock:
    def __call__(self):  # type: ignore[no-untyped-def]
        from datetime import UTC, datetime

        return datetime.now(UTC)


# ---------------------------------------------------------------------- a private Redis
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A ``redis-server`` of the test's own, to stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed (scripts/test installs it)"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
