"""Work-horses killed with SIGKILL mid-delivery: one post, one mail.

After X took the post, before the outcome was recorded: RQ runs the job again, it finds
the tweet on X, and records it. In the middle of an SMTP conversation, before the
message was sent: the next attempt (uncertain: it looks in the ledger first) sends it.

A real ``parley worker`` (RQ's forking worker, with its scheduler) in its own process;
the stand-in (or the SMTP sink) holds its answer back for a few seconds, and the test
kills the horse then.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from bench.serving import PARLEY, ROOT, environment
from domain import values as v
from tests.support.smtp_sink import SmtpSink
from tests.support.stores import store_settings
from tests.workers.conftest import redis_url, rig_on, x_settings
from tests.workers.test_delivery import a_mention, queue
from tests.workers.test_email_channel import a_mail

pytestmark = pytest.mark.e2e


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def started_at(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def _kill_the_horse_once(
    worker: subprocess.Popen[bytes], started: Callable[[], object], log: Path
) -> None:
    deadline = time.monotonic() + 30
    while not started():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    horse = max(children(worker.pid), key=started_at)  # the newest child: the horse
    os.kill(horse, signal.SIGKILL)


def test_a_horse_killed_mid_smtp_leaves_exactly_one_mail(tmp_path: Path, x) -> None:  # type: ignore[no-untyped-def]
    client = redis.Redis.from_url(redis_url())
    client.flushdb()
    with (
        SmtpSink() as sink,
        store_settings("sqlite", tmp_path) as store,
        rig_on(store, x, redis_url(), smtp := {
            "PARLEY_SMTP_HOST": sink.host, "PARLEY_SMTP_PORT": str(sink.port),
            "PARLEY_MAIL_FROM": "care@parley.example",
        }) as rig,
    ):  # fmt: skip
        cid = a_mail(rig)
        reply_id = queue(rig, cid)
        sink.delay_rcpt(8)  # the horse waits for RCPT's answer: nothing is sent yet
        rig.outbox.run_once()
        env = environment(store) | smtp | {
            "PARLEY_REDIS_URL": redis_url(), "PARLEY_DELIVERY_ATTEMPT_SECONDS": "2",
            "PARLEY_LOG_LEVEL": "WARNING",
        }  # fmt: skip
        log_path = tmp_path / "worker.log"
        log = log_path.open("wb")
        worker = subprocess.Popen(
            [str(PARLEY), "worker"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _kill_the_horse_once(worker, lambda: sink.waiting > 0, log_path)
            deadline = time.monotonic() + 60
            while rig.reply(cid, reply_id)["status"] != v.DELIVERED:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
        finally:
            worker.terminate()
            worker.wait(20)
            log.close()

        assert len(sink.messages) == 1
        assert rig.reply(cid, reply_id)["attempts"] == 2  # the killed one, and the one that sent
    client.flushdb()


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
            # The horse posted; X has not answered yet.
            _kill_the_horse_once(worker, lambda: x.state()["tweets"], tmp_path / "worker.log")

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
