"""A breach is recorded by the running system within seconds of its deadline, once.

Real processes, as deployed: ``parley projections run`` (the ``sla`` view and its
``next_alarm``), two ``parley worker`` (RQ's forking workers: two sweeps may run at once)
and ``parley scheduler`` (the sweep every second), on a private redis-server and on each
store. The case has a two-second first-response target and nobody answers it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Worker
from rq.job import Job

from app import follower_for
from app.config import Settings, event_store_env
from bench.serving import PARLEY, ROOT, environment
from domain.application import Conversations
from domain.values import Identity
from projections.db import open_read_store
from tests.workers.conftest import PrivateRedis

pytestmark = pytest.mark.e2e

TARGET_SECONDS = 2
DETECTED_WITHIN = timedelta(seconds=5)


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def app_on(store: dict[str, str]) -> Iterator[Conversations]:
    settings = Settings.from_env(store)
    app = Conversations(env=event_store_env(settings, create_tables=True), clock=now)
    read_store = open_read_store(settings)
    follower_for(app, read_store).setup()  # the tables, once, before the processes start
    read_store.close()
    yield app
    app.close()


def started(stack: ExitStack, command: list[str], env: dict[str, str], log: Path) -> None:
    out = stack.enter_context(log.open("wb"))
    process = subprocess.Popen(
        [str(PARLEY), *command], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
    )

    def stop() -> None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    stack.callback(stop)


def wait_for(condition: Any, what: str, logs: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tails = "\n".join(
                f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                for p in sorted(logs.glob("*.log"))
            )
            raise AssertionError(f"{what} did not happen in time\n{tails}")
        time.sleep(0.1)


def sweep_finished(connection: redis.Redis) -> bool:
    try:
        return Job.fetch("parley-sla-sweep", connection=connection).get_status() == "finished"
    except Exception:
        return False


def test_an_unanswered_case_is_breached_once_within_seconds_of_its_deadline(
    app_on: Conversations, store: dict[str, str], private_redis: PrivateRedis, tmp_path: Path
) -> None:
    app = app_on
    app.create_sla_policy(
        {"name": "API in two seconds", "conditions": {"channels": ["api"]},
         "targets": [{"metric": "first_response", "seconds": TARGET_SECONDS}]},
        actor="supervisor:sue",
    )  # fmt: skip
    env = environment(store) | {
        "PARLEY_REDIS_URL": private_redis.url, "PARLEY_SLA_SWEEP_SECONDS": "1",
        "PARLEY_WORKER_MAINTENANCE_SECONDS": "5",
    }  # fmt: skip
    connection = redis.Redis.from_url(private_redis.url)
    with ExitStack() as stack:
        started(stack, ["projections", "run"], env, tmp_path / "projections.log")
        started(stack, ["worker"], env, tmp_path / "worker-1.log")
        started(stack, ["worker"], env, tmp_path / "worker-2.log")
        started(stack, ["scheduler"], env, tmp_path / "scheduler.log")
        wait_for(lambda: len(Worker.all(connection=connection)) == 2, "two workers", tmp_path)
        wait_for(lambda: sweep_finished(connection), "a first sweep", tmp_path)

        case = app.open_conversation(
            channel="api", body="my order is late", actor="integration:shop",
            identity=Identity("email", "bo@example.com"),
        ).id  # fmt: skip
        first_contact = app.sla_clock(case).timers["first_response"].started_at
        deadline = first_contact + timedelta(seconds=TARGET_SECONDS)
        assert app.sla_clock(case).due("first_response") == deadline

        def breaches() -> list[Any]:
            return [e for e in app.events.get(case) if type(e).__name__ == "SlaBreached"]

        wait_for(lambda: breaches(), "a breach", tmp_path, timeout=30)
        time.sleep(3)  # three more sweeps, on either worker: none records it again

    (breach,) = breaches()
    assert (breach.metric, breach.seq) == ("first_response", 1)
    assert breach.deadline == deadline
    assert timedelta(0) <= breach.timestamp - deadline < DETECTED_WITHIN
