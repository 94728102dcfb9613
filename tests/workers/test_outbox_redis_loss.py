"""Redis restarted without persistence loses the jobs the outbox had enqueued (found by
the soak, ``scripts/soak``): the outbox notices (its marker key is gone) and enqueues
every reply still waiting for an outcome again; a delivered one is left alone."""

from __future__ import annotations

import pytest

from tests.support.stores import store_settings
from tests.workers.conftest import rig_on
from tests.workers.test_delivery import a_mention, delivered, queue
from workers.outbox import OPEN


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_reply_whose_job_an_empty_redis_lost_is_still_delivered(
    kind, tmp_path, x, private_redis
) -> None:  # type: ignore[no-untyped-def]
    with store_settings(kind, tmp_path) as store, rig_on(store, x, private_redis.url) as rig:
        cid, _ = a_mention(rig)
        sent = queue(rig, cid, body="the first reply")
        rig.run(until=lambda: delivered(rig, cid, sent))
        reply_id = queue(rig, cid, body="the second reply")
        rig.outbox.run_once()  # its job is in Redis, the outbox has moved past it
        assert rig.outbox.position() == rig.app.head_position()

        private_redis.stop()  # no persistence: the queued job is gone
        private_redis.start()
        rig.run(until=lambda: delivered(rig, cid, reply_id))

        texts = [t["text"] for t in x.state()["tweets"]]
        assert sorted(texts) == ["@ann the first reply", "@ann the second reply"]
        rig.outbox.run_once()  # it reads the outcomes: nothing is open any more
        assert rig.ctx.read_store.query(f"SELECT reply_id FROM {OPEN}") == []
