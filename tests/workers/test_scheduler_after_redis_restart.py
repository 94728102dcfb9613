"""A worker's scheduler dies when Redis restarts; retries scheduled after that (a
rate-limited reply's, say) must still run, within PARLEY_WORKER_MAINTENANCE_SECONDS, not
RQ's default 10 minutes. Found by the soak (replies stuck "retry due")."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq import Queue
from rq.job import Job

from bench.serving import PARLEY, ROOT, environment
from tests.workers.conftest import PrivateRedis
from workers import queues

pytestmark = pytest.mark.e2e


def test_a_retry_scheduled_after_a_redis_restart_runs(
    private_redis: PrivateRedis, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    env = environment({}) | {
        "PARLEY_REDIS_URL": private_redis.url, "PARLEY_WORKER_MAINTENANCE_SECONDS": "2",
        "PARLEY_SQLITE_PATH": str(tmp_path / "p.sqlite"),
    }  # fmt: skip
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [str(PARLEY), "worker"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        time.sleep(3)  # the worker and its scheduler are up
        private_redis.stop()
        time.sleep(1)
        private_redis.start()  # empty, as a Redis without persistence comes back
        time.sleep(3)  # the scheduler has met the dead connection by now

        connection = redis.Redis.from_url(private_redis.url)
        due = datetime.now(UTC) + timedelta(seconds=1)
        job = Queue(queues.DELIVERIES, connection=connection).enqueue_at(due, "time.time")

        deadline = time.monotonic() + 30
        while Job.fetch(job.id, connection=connection).get_status() != "finished":
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(20)
        log.close()
