"""Queue names, and how jobs are enqueued: deterministic ids, retries on crashes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from redis import Redis
from rq import Queue, Retry
from rq.cron import CronJob, CronScheduler
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

DELIVERIES = "parley-deliveries"
POLLING = "parley-polling"
DEFAULT = "parley-default"
SLA = "parley-sla"  # the SLA sweep: its own queue, so a backlog of deliveries cannot delay it
# A worker takes from the first non-empty queue: the sweep first (one at a time, short),
# then deliveries.
QUEUES = (SLA, DELIVERIES, POLLING, DEFAULT)

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


PENDING = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


class SingleCronJob(CronJob):
    """A recurring job run under one fixed job id: a tick that finds the last run still
    queued or running enqueues nothing, so slow runs do not pile up behind each other.

    RQ's own ``CronJob`` gives every run a new id; this one keeps the id, and enqueues
    again once the last run has finished or failed (its record is overwritten)."""

    def __init__(self, *args: Any, job_id: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.job_id = job_id

    def enqueue(self, connection: Redis) -> Job:
        try:
            last = Job.fetch(self.job_id, connection=connection)
        except NoSuchJobError:
            last = None
        if last is not None and last.get_status(refresh=False) in PENDING:
            return last
        assert self.func is not None
        return Queue(self.queue_name, connection=connection).enqueue(
            self.func, args=self.args, kwargs=self.kwargs, job_id=self.job_id,
            **self.job_options,
        )  # fmt: skip


def register_single(
    cron: CronScheduler, func: Any, *, queue_name: str, interval: int, job_id: str
) -> SingleCronJob:
    """Run ``func`` every ``interval`` seconds from ``cron``, as :class:`SingleCronJob`."""
    job = SingleCronJob(
        queue_name=queue_name, func=func, interval=interval, name=job_id, job_id=job_id,
        result_ttl=600, failure_ttl=7 * 86400, job_timeout=300,
    )  # fmt: skip
    cron.get_jobs().append(job)  # the scheduler's own list (register() builds a CronJob)
    return job
