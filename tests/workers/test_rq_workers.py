"""Parley's RQ workers: a pubsub thread that nothing wakes still stops within a second.

RQ's own sleep 60 s in their pubsub read and count on the reply to their UNSUBSCRIBE to
wake them; a thread that read that reply before its running flag was cleared (one burst
in 2,000 here) held the worker's end a minute, and a test waiting on it timed out.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from rq import Queue

from tests.workers.conftest import redis_url
from workers.rq_workers import PUBSUB_SLEEP, BurstWorker, ParleyWorker


@pytest.fixture
def connection() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url())
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.mark.parametrize("kind", [BurstWorker, ParleyWorker])
def test_a_pubsub_thread_not_woken_by_a_reply_stops_within_its_sleep(
    kind: type[BurstWorker] | type[ParleyWorker], connection: redis.Redis
) -> None:
    worker = kind([Queue("parley-test", connection=connection)], connection=connection)
    worker.subscribe()
    thread = worker.pubsub_thread
    assert thread is not None
    time.sleep(0.2)  # the thread is in its read
    asked = time.monotonic()
    thread._running.clear()  # the race lost: stopped, and no reply on its way to wake it
    thread.join(PUBSUB_SLEEP + 5)

    assert not thread.is_alive(), "the pubsub thread still reads"
    assert time.monotonic() - asked <= PUBSUB_SLEEP + 1
    worker.pubsub.close()


def test_a_burst_runs_its_jobs_and_ends(connection: redis.Redis) -> None:
    queue = Queue("parley-test", connection=connection)
    job = queue.enqueue(len, "four")

    assert BurstWorker([queue], connection=connection).work(burst=True)
    job.refresh()
    assert job.return_value() == 4
