"""The sweep's schedule: one job id, so ticks while a sweep waits or runs add nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from rq import Queue
from rq.cron import CronScheduler

from tests.workers.conftest import redis_url
from workers import queues
from workers.rq_workers import BurstWorker


@pytest.fixture
def connection() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url())
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def test_ticks_while_the_last_run_is_queued_enqueue_nothing_and_after_it_ran_one_more(
    connection: redis.Redis,
) -> None:
    cron = CronScheduler(connection=connection)
    job = queues.register_single(
        cron, time.time, queue_name=queues.SLA, interval=1, job_id="parley-sla-sweep"
    )
    queue = Queue(queues.SLA, connection=connection)

    assert cron.get_jobs() == [job]
    for _ in range(3):
        job.enqueue(connection)
    assert queue.job_ids == ["parley-sla-sweep"]

    BurstWorker([queue], connection=connection).work(burst=True)
    assert queue.job_ids == []
    job.enqueue(connection)
    assert queue.job_ids == ["parley-sla-sweep"]
