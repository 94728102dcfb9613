"""A work-horse killed with SIGKILL after X took the post, before the outcome was
recorded: RQ runs the job again, it finds the tweet on X, and records it. One post.

A real ``parley worker`` (RQ's forking worker, with its scheduler) in its own process;
the stand-in holds X's answer back for a few seconds, and the test kills the horse then.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from bench.serving import PARLEY, ROOT, environment
from domain import values as v
from tests.support.stores import store_settings
from tests.workers.conftest import redis_url, rig_on, x_settings
from tests.workers.test_delivery import a_mention, queue

pytestmark = pytest.mark.e2e


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def started_at(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def test_a_horse_killed_after_the_post_leaves_exactly_one_tweet(tmp_path: Path, x) -> None:  # type: ignore[no-untyped-def]
    client = redis.Redis.from_url(redis_url())
    client.flushdb()
    with store_settings("sqlite", tmp_path) as store, rig_on(store, x, redis_url()) as rig:
        cid, _ = a_mention(rig)
        reply_id = queue(rig, cid)
        x.add_fault("timeout", "POST /2/tweets", delay=6, after_effect=True)  # posts, then waits
        rig.outbox.run_once()
        env = environment(store) | {
            **x_settings(x), "PARLEY_REDIS_URL": redis_url(),
            "PARLEY_DELIVERY_ATTEMPT_SECONDS": "2", "PARLEY_LOG_LEVEL": "WARNING",
        }  # fmt: skip
        log = (tmp_path / "worker.log").open("wb")
        worker = subprocess.Popen(
            [str(PARLEY), "worker"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 30
            while not x.state()["tweets"]:  # the horse posted; X has not answered yet
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
                time.sleep(0.05)
            horse = max(children(worker.pid), key=started_at)  # the newest child: the horse
            os.kill(horse, signal.SIGKILL)

            deadline = time.monotonic() + 60
            while rig.reply(cid, reply_id)["status"] != v.DELIVERED:
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
                time.sleep(0.2)
        finally:
            worker.terminate()
            worker.wait(20)
            log.close()

        assert len(x.state()["tweets"]) == 1
        last = list(rig.app.conversation_events(cid))[-1]
        assert (type(last).__name__, last.found) == ("ReplyDelivered", True)
    client.flushdb()
