"""An incident's general update reaches X once, and bulk replies stay inside X's rate
limit: through the outbox, RQ and tweepy, against the X stand-in, on a real Redis."""

from __future__ import annotations

import time
from uuid import UUID

import pytest

from domain import values as v
from tests.support.stores import store_settings
from tests.workers.conftest import Rig, rig_on
from tests.workers.test_delivery import a_mention, delivered, queue
from workers.channels.x import Usage
from workers.delivery import ReplyBusyError
from workers.incident_updates import UpdateDelivery
from workers.outbox import OPEN

SUPERVISOR = "supervisor:sue"
SUMMARY, LINK = "The app is down; we are on it.", "https://status.example.com"


def an_update(rig: Rig, body: str | None = None) -> tuple[UUID, UUID]:
    incident = rig.app.declare_incident(
        title="Down", public_summary=SUMMARY, links=[LINK], keywords=[], actor=SUPERVISOR
    ).id
    update = rig.app.post_incident_update(incident, actor=SUPERVISOR, body=body)
    return incident, UUID(str(update.extra["update_id"]))


def status(rig: Rig, incident: UUID, update: UUID) -> str:
    return str(rig.app.find_incident_update(incident, update)["status"])


def standalone(rig: Rig) -> list[dict]:
    return [t for t in rig.x.state()["tweets"] if t["in_reply_to"] is None]


def test_the_update_is_one_standalone_tweet_from_the_brand(rig: Rig) -> None:
    incident, update = an_update(rig)

    rig.run(until=lambda: status(rig, incident, update) == v.DELIVERED)

    [tweet] = rig.x.state()["tweets"]
    assert (tweet["text"], tweet["in_reply_to"]) == (f"{SUMMARY}\n{LINK}", None)
    view = rig.app.find_incident_update(incident, update)
    assert (view["external_id"], view["attempts"], view["from_account"]) == (
        tweet["id"], 1, "1700000000000000001",
    )  # fmt: skip
    job = UpdateDelivery(rig.app, rig.ctx.channels, rig.ctx.redis)
    assert job.run(incident, update).outcome == "skipped"  # a second job posts nothing
    assert len(rig.x.state()["tweets"]) == 1


def test_an_uncertain_post_is_looked_for_and_found_not_posted_twice(rig: Rig) -> None:
    incident, update = an_update(rig)
    rig.x.add_fault("503", "POST /2/tweets", after_effect=True)  # posted; the answer lost

    rig.run(until=lambda: status(rig, incident, update) == v.DELIVERED, timeout=30)

    assert len(standalone(rig)) == 1
    names = [type(e).__name__ for e in rig.app.events.get(incident)]
    assert names.count("UpdateDispatched") == 1 and names.count("UpdateDelivered") == 1
    delivered_event = [e for e in rig.app.events.get(incident) if hasattr(e, "found")][-1]
    assert delivered_event.found is True


def test_two_jobs_at_once_post_one_update(rig: Rig) -> None:
    incident, update = an_update(rig)
    rig.app.dispatch_incident_update(incident, update_id=update, attempt=1, actor="t")

    with pytest.raises(ReplyBusyError):  # an attempt started moments ago may be in flight
        UpdateDelivery(rig.app, rig.ctx.channels, rig.ctx.redis).run(incident, update)
    assert rig.x.state()["tweets"] == []


def test_without_an_x_channel_the_update_fails_with_no_channel(rig: Rig) -> None:
    incident, update = an_update(rig)

    result = UpdateDelivery(rig.app, {}, rig.ctx.redis).run(incident, update)

    assert (result.outcome, result.detail) == ("failed", "no_channel")
    assert status(rig, incident, update) == v.FAILED
    again = rig.app.post_incident_update(incident, actor=SUPERVISOR)  # the same text again
    assert again.extra["update_id"] != update


@pytest.mark.parametrize("kind", ["sqlite"])
def test_an_update_whose_job_an_empty_redis_lost_is_still_posted(
    kind, tmp_path, x, private_redis
) -> None:  # type: ignore[no-untyped-def]
    with store_settings(kind, tmp_path) as store, rig_on(store, x, private_redis.url) as rig:
        incident, update = an_update(rig)
        rig.outbox.run_once()  # its job is in Redis; the outbox has moved past it
        assert rig.outbox.position() == rig.app.head_position()

        private_redis.stop()  # no persistence: the job is gone
        private_redis.start()
        rig.run(until=lambda: status(rig, incident, update) == v.DELIVERED)

        assert len(standalone(rig)) == 1
        rig.outbox.run_once()
        assert rig.ctx.read_store.query(f"SELECT reply_id FROM {OPEN}") == []


def test_replies_beyond_the_window_wait_for_it_and_x_refuses_none(rig: Rig) -> None:
    """X allows 2 posts a window here: the third reply is held back, without an attempt,
    until the window resets, instead of being sent to X only to get a 429."""
    cid, _ = a_mention(rig)
    rig.x.set_rate_limit("POST /2/tweets", 2, window=3)
    replies = [queue(rig, cid, body=f"reply {n}") for n in range(3)]
    started = time.monotonic()

    rig.run(until=lambda: all(delivered(rig, cid, r) for r in replies), timeout=30)

    assert time.monotonic() - started >= 1.0  # it waited for the next window
    calls = Usage(rig.ctx.redis).snapshot()["calls"]["POST /2/tweets"]
    assert calls == {"201": 3}  # no 429: nothing was sent beyond the limit
    assert rig.x.state()["calls"]["POST /2/tweets"] == 3
    held = [
        e for e in rig.app.conversation_events(cid) if type(e).__name__ == "ReplyDeliveryFailed"
    ]
    assert [(e.code, e.retryable) for e in held] == [("rate_limited", True)]
    waited = rig.reply(cid, held[0].reply_id)
    assert waited["attempts"] == 1  # the wait cost no attempt: one, the one that posted
