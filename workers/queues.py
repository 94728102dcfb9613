"""Queue names, and how jobs are enqueued: deterministic ids, retries on crashes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from redis import Redis
from rq import Queue, Retry

DELIVERIES = "parley-deliveries"
POLLING = "parley-polling"
DEFAULT = "parley-default"
QUEUES = (DELIVERIES, POLLING, DEFAULT)

# A job that raised (a crash, a store outage, another job holding the reply) runs again;
# its outcome is decided by the log, so running it again is safe.
CRASH_RETRY = Retry(max=6, interval=[5, 15, 30, 60, 120, 300])


def enqueue(
    connection: Redis,
    queue: str,
    func: Any,
    *args: Any,
    job_id: str,
    at: datetime | None = None,
) -> None:
    """Enqueue ``func(*args)`` as ``job_id`` (dashes only: RQ refuses colons), now or at ``at``."""
    target = Queue(queue, connection=connection)
    options: dict[str, Any] = {
        "job_id": job_id,
        "retry": CRASH_RETRY,
        "result_ttl": 3600,
        "failure_ttl": 7 * 86400,
    }
    if at is not None:
        target.enqueue_at(at, func, *args, **options)
    else:
        target.enqueue(func, *args, **options)
