"""The outage, end to end: the care playbook's "post one general tweet, and acknowledge
each tweet", against the X stand-in through tweepy, with the real outbox, RQ jobs, Redis
and store, and the API for what the supervisor does.

Time is simulated (a test clock drives the application, the stand-in's rate-limit
windows and which delayed jobs are due), so an hour of X's 15-minute windows runs in
seconds and nothing sleeps. The stand-in enforces 100 posts per 15 minutes; 200 customers
complain within five minutes, and each is acknowledged, then followed up, inside it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from app import create_app, follower_for
from app.state import application
from domain import values as v
from tests.support.x_standin import XStandIn
from tests.workers.conftest import (
    BRAND,
    CONSUMER_SECRET,
    TOKEN_SECRET,
    Rig,
    redis_url,
    rig_on,
    x_settings,
)
from workers.channels.x import Usage
from workers.polling import Cursors, XPoller
from workers.queues import QUEUES
from workers.rq_workers import BurstWorker

CUSTOMERS = 200
ARRIVAL = timedelta(minutes=5)
POLL_EVERY = timedelta(seconds=30)  # the scheduler's X poll
LIMIT = 100  # posts per 15-minute window, as the stand-in enforces it
WINDOW = 900.0
SUMMARY = "Our app is down for everyone right now; we are on it."
LINK = "https://status.example.com/incidents/42"
ACK = "Sorry! The app is down for everyone: our engineers are on it. Updates on our status page."
FOLLOW_UP = "The app works again. Thank you for your patience, and sorry for the trouble."
COMPLAINTS = (
    "@brand is the app down? I can't see my orders",
    "@brand your app is DOWN again!!",
    "@brand outage? nothing loads #fail",
    "@brand I can't log in, what is going on",
)


class SimClock:
    """The simulated time: the application's, the stand-in's, and the jobs' due times."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def epoch(self) -> float:
        return self.now.timestamp()

    def advance(self, delta: timedelta) -> None:
        self.now += delta

    def to(self, moment: datetime) -> None:
        self.now = max(self.now, moment)


@dataclass
class Outage:
    rig: Rig
    api: FlaskClient
    flask_app: Flask
    clock: SimClock
    supervisor: dict[str, str]

    # ------------------------------------------------------------------ the workers
    def move_due(self) -> int:
        """Enqueue the delayed jobs due by the simulated time (what RQ's scheduler does by
        the real one); how many."""
        connection = self.rig.ctx.redis
        moved = 0
        for name in QUEUES:
            registry = ScheduledJobRegistry(name, connection=connection)
            due = registry.get_jobs_to_schedule(int(self.clock.epoch()))
            queue = Queue(name, connection=connection)
            for job in Job.fetch_many(due, connection=connection):
                if job is not None:
                    queue.enqueue_job(job)
                    registry.remove(job)
                    moved += 1
        return moved

    def next_due(self) -> datetime | None:
        connection = self.rig.ctx.redis
        scores = [
            s
            for name in QUEUES
            for _, s in connection.zrange(
                ScheduledJobRegistry(name, connection=connection).key, 0, 0, withscores=True
            )
        ]
        return datetime.fromtimestamp(min(scores), UTC) if scores else None

    def work_now(self) -> None:
        """The outbox, the due jobs and every queued job, until nothing is left to do at
        this moment."""
        connection = self.rig.ctx.redis
        queues = [Queue(name, connection=connection) for name in QUEUES]
        for _ in range(10_000):
            read = self.rig.outbox.run_once()
            moved = self.move_due()
            busy = any(q.count for q in queues)
            if busy:
                BurstWorker(queues, connection=connection).work(burst=True)
            if not (read or moved or busy):
                return
        raise AssertionError("the workers never settled")

    def work_until(self, done: Any, deadline: datetime) -> None:
        """Work, moving the clock to the next due job whenever idle, until ``done()``."""
        while True:
            self.work_now()
            if done():
                return
            due = self.next_due()
            assert due is not None, "nothing left to run, and it is not done"
            assert due <= deadline, f"still not done at {deadline} (next job at {due})"
            self.clock.to(due)

    # ------------------------------------------------------------------ reading
    def ledger(self, incident_id: str) -> list[dict[str, Any]]:
        position = follower_for(self.rig.app, self.rig.ctx.read_store).run_once() or 0
        rows: list[dict[str, Any]] = []
        query: dict[str, Any] = {"limit": 150, "min_position": self.rig.app.head_position()}
        while True:
            page = self.api.get(
                f"/v1/incidents/{incident_id}/ledger", query_string=query, headers=self.supervisor
            )
            assert page.status_code == 200, page.get_json()
            body = page.get_json()
            assert body["projection"]["caught_up"] is True, (position, body["projection"])
            rows += body["items"]
            if body["next_cursor"] is None:
                return rows
            query["cursor"] = body["next_cursor"]


@pytest.fixture
def outage(store: dict[str, str]) -> Iterator[Outage]:
    clock = SimClock()
    client = redis.Redis.from_url(redis_url())
    client.flushdb()
    standin = XStandIn(CONSUMER_SECRET, TOKEN_SECRET, BRAND, "brand", clock=clock.epoch)
    standin.start()
    try:
        with rig_on(store, standin, redis_url()) as rig:
            rig.ctx.application.clock = clock
            rig.ctx.channels["x_public"].clock = clock  # type: ignore[attr-defined]
            flask_app = create_app(
                {"TESTING": True},
                environ={**store, **x_settings(standin), "PARLEY_CREATE_TABLES": "yes",
                         "PARLEY_REDIS_URL": redis_url()},
                clock=clock,
            )  # fmt: skip
            token = secrets.token_urlsafe(16)
            with flask_app.app_context():
                application().issue_token(name="sue", role="supervisor", token=token, actor="t")
            try:
                yield Outage(
                    rig, flask_app.test_client(), flask_app, clock,
                    {"Authorization": f"Bearer {token}"},
                )  # fmt: skip
            finally:
                flask_app.extensions["parley.application"].close()
                flask_app.extensions["parley.read_store"].close()
    finally:
        standin.stop()
        client.flushdb()
        client.close()


def test_an_outage_every_customer_acknowledged_one_by_one_then_followed_up(
    outage: Outage,
) -> None:
    rig, api, clock, supervisor = outage.rig, outage.api, outage.clock, outage.supervisor
    x = rig.x
    start = clock()
    x.set_rate_limit("POST /2/tweets", LIMIT, WINDOW)

    # The supervisor declares the outage, makes the acknowledgement stand for every case
    # linked from now on, and posts the one general update (whose first post is answered
    # with a 503 after X took it: the retry must find it, not post it again).
    declared = api.post(
        "/v1/incidents", headers=supervisor,
        json={"title": "App down", "public_summary": SUMMARY, "links": [LINK],
              "keywords": ["down", "outage", "can't log in"]},
    )  # fmt: skip
    assert declared.status_code == 201, declared.get_json()
    incident = declared.get_json()["id"]
    acked = api.post(
        f"/v1/incidents/{incident}/acknowledgements", json={"body": ACK}, headers=supervisor
    )
    assert acked.status_code == 202, acked.get_json()
    assert (acked.get_json()["queued"], acked.get_json()["remaining"]) == (0, 0)
    update = api.post(f"/v1/incidents/{incident}/updates", json={}, headers=supervisor)
    assert update.status_code == 202, update.get_json()
    x.add_fault("503", "POST /2/tweets", after_effect=True)

    # 200 customers complain over five simulated minutes; the scheduler polls X's mentions
    # every 30 s, and the workers keep up with what is due at each moment.
    poller = XPoller(rig.app, rig.ctx.x_client, Cursors(rig.ctx.read_store), BRAND)
    tweets: dict[str, str] = {}  # customer's X id -> their tweet's id
    step = ARRIVAL / CUSTOMERS
    next_poll = start + POLL_EVERY
    for n in range(CUSTOMERS):
        user = f"3{n:017d}"
        tweet = x.add_tweet(user, f"cust{n}", f"{COMPLAINTS[n % len(COMPLAINTS)]} ({n})")
        tweets[user] = tweet["id"]
        clock.advance(step)
        if clock() >= next_poll or n == CUSTOMERS - 1:
            poller.mentions()
            outage.work_now()
            next_poll += POLL_EVERY
    arrived = clock()
    assert arrived - start <= ARRIVAL + timedelta(seconds=1)

    def brand_tweets() -> list[dict[str, Any]]:
        return list(x.state()["tweets"])

    def acknowledged() -> bool:
        return len([t for t in brand_tweets() if t["text"].endswith(ACK)]) == CUSTOMERS

    outage.work_until(acknowledged, deadline=start + timedelta(hours=1))

    # The incident resolves: each case is resolved and followed up where it began.
    resolved = api.post(
        f"/v1/incidents/{incident}/resolve", json={"summary": "The app is back", "follow_up":
        FOLLOW_UP}, headers=supervisor,
    )  # fmt: skip
    assert resolved.status_code == 200, resolved.get_json()
    assert resolved.get_json()["queued"] == CUSTOMERS and resolved.get_json()["remaining"] == 0
    resolved_at = clock()

    def followed_up() -> bool:
        return len([t for t in brand_tweets() if t["text"].endswith(FOLLOW_UP)]) == CUSTOMERS

    outage.work_until(followed_up, deadline=resolved_at + timedelta(hours=1))

    # ---------------------------------------------------------------- what X saw
    posted = brand_tweets()
    general = [t for t in posted if t["in_reply_to"] is None]
    assert general == [{"id": general[0]["id"], "text": f"{SUMMARY}\n{LINK}", "in_reply_to": None}]
    replies = {t["in_reply_to"]: t for t in posted if t["in_reply_to"] is not None}
    acks = [t for t in posted if t["text"].endswith(ACK)]
    follow_ups = [t for t in posted if t["text"].endswith(FOLLOW_UP)]
    assert len(posted) == 1 + 2 * CUSTOMERS  # nothing else, nothing twice
    assert {t["in_reply_to"] for t in acks} == set(tweets.values())  # one each
    assert {t["in_reply_to"] for t in follow_ups} == set(tweets.values())
    assert len(replies) == CUSTOMERS  # two replies under each customer's tweet, one of each
    for user, tweet_id in tweets.items():
        n = int(user) - 3 * 10**17
        mine = [t for t in posted if t["in_reply_to"] == tweet_id]
        assert sorted(t["text"] for t in mine) == sorted(
            [f"@cust{n} {ACK}", f"@cust{n} {FOLLOW_UP}"]
        )

    # Inside the rate limit: no post was ever refused (held back instead, before asking),
    # and X took exactly the posts it shows.
    usage = Usage(rig.ctx.redis).snapshot()["calls"]["POST /2/tweets"]
    assert set(usage) == {"201", "503"} and usage["503"] == 1, usage
    assert x.state()["calls"]["POST /2/tweets"] == len(posted) == usage["201"] + 1
    held = [
        e for cid in rig.app.linked_cases(UUID(incident))
        for e in rig.app.conversation_events(cid, limit=1000)
        if type(e).__name__ == "ReplyDeliveryFailed"
    ]  # fmt: skip
    assert held and {e.code for e in held} == {"rate_limited"}  # the limit was reached...
    assert all(e.attempt == 0 or e.attempt == 1 for e in held)  # ...and cost no attempt

    # The general update went out once, its uncertain first attempt found on X.
    [(update_id, view)] = rig.app.get_incident(UUID(incident)).updates.items()
    assert (view["status"], view["external_id"], view["attempts"]) == (
        v.DELIVERED, general[0]["id"], 1,
    )  # fmt: skip
    incident_events = [
        type(e).__name__ for e in rig.app.events.get(rig.app.get_incident(UUID(incident)).id)
    ]
    assert incident_events.count("UpdateDelivered") == 1

    # ---------------------------------------------------------------- the ledger
    rows = outage.ledger(incident)
    assert len(rows) == CUSTOMERS
    customers = {
        rig.app.get_conversation(UUID(r["conversation_id"])).last_sender("x")["value"] for r in rows
    }
    assert customers == set(tweets)
    incident_resolved = datetime.fromisoformat(
        api.get(f"/v1/incidents/{incident}", headers=supervisor).get_json()["resolved_at"]
    )
    for row in rows:
        linked = datetime.fromisoformat(row["linked_at"])
        acknowledged_at = datetime.fromisoformat(row["acknowledged_at"])
        followed = datetime.fromisoformat(row["followed_up_at"])
        assert row["how"] == "keyword" and row["keyword"] in ("down", "outage", "can't log in")
        assert linked <= acknowledged_at <= linked + timedelta(hours=1), row
        assert acknowledged_at <= incident_resolved <= followed, row
        assert (row["acknowledgement"]["status"], row["follow_up"]["status"]) == (
            v.DELIVERED, v.DELIVERED,
        )  # fmt: skip
        assert row["resolved_by_incident"] is True and row["owed"] is None
    counts = api.get(f"/v1/incidents/{incident}/ledger", headers=supervisor).get_json()["counts"]
    assert counts == {
        "linked": CUSTOMERS, "acknowledged": CUSTOMERS, "followed_up": CUSTOMERS,
        "owed_acknowledgement": 0, "owed_follow_up": 0,
    }  # fmt: skip
    assert max(datetime.fromisoformat(r["acknowledged_at"]) for r in rows) - start < timedelta(
        hours=1
    )
    for cid in (r["conversation_id"] for r in rows):
        case = rig.app.get_conversation(UUID(cid))
        assert case.status == v.RESOLVED and not case.follow_up_owed
        kinds = sorted(r["kind"] for r in case.replies.values())
        assert kinds == ["acknowledgement", "follow_up"]
    assert update_id
