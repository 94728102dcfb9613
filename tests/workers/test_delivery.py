"""Replies reach X once: through the outbox, RQ and tweepy, against the X stand-in.

Every test runs on SQLite and on PostgreSQL, with a real Redis and the stand-in server.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from uuid import UUID

import pytest
import redis

from domain import values as v
from domain.inbound import Contact
from domain.values import Identity, Origin
from projections.log import NotificationLog
from tests.workers.conftest import BRAND, Rig, rig_on
from workers.channels.x import Usage
from workers.delivery import Delivery, outgoing_of
from workers.outbox import Outbox
from workers.polling import Cursors, XPoller

CUSTOMER = "2244994945"


def a_mention(rig: Rig, text: str = "@brand my parcel never came") -> tuple[UUID, str]:
    """A customer tweets at the brand and a poll records it: (case, tweet id)."""
    tweet = rig.x.add_tweet(CUSTOMER, "ann", text)
    poller = XPoller(rig.app, rig.ctx.x_client, Cursors(rig.ctx.read_store), BRAND)
    assert poller.mentions() == 1
    found = rig.app._find_inbound(v.X_PUBLIC, tweet["id"])
    assert found is not None
    return found.id, tweet["id"]


def queue(rig: Rig, cid: UUID, body: str = "Sorry Ann, we are on it", **kw: object) -> UUID:
    outcome = rig.app.queue_reply(cid, kind="answer", body=body, actor="agent:alice", **kw)
    return UUID(str(outcome.extra["reply_id"]))


def delivered(rig: Rig, cid: UUID, reply_id: UUID) -> bool:
    return rig.reply(cid, reply_id)["status"] == v.DELIVERED


def test_a_reply_goes_out_as_a_reply_to_the_customers_tweet(rig: Rig) -> None:
    cid, tweet_id = a_mention(rig)
    reply_id = queue(rig, cid)

    rig.run(until=lambda: delivered(rig, cid, reply_id))

    [posted] = rig.x.state()["tweets"]
    reply = rig.reply(cid, reply_id)
    assert posted["in_reply_to"] == tweet_id
    assert posted["text"].endswith("Sorry Ann, we are on it")
    assert reply["external_id"] == posted["id"]
    assert (reply["in_reply_to"], reply["recipient"]["value"], reply["from_account"]) == (
        tweet_id, CUSTOMER, BRAND,
    )  # fmt: skip
    events = [type(e).__name__ for e in rig.app.conversation_events(cid)]
    assert events[-2:] == ["ReplyDispatched", "ReplyDelivered"]
    usage = Usage(rig.ctx.redis).snapshot()  # X bills per call: every one is counted
    assert usage["calls"]["POST /2/tweets"] == {"201": 1}
    assert usage["calls"]["GET /2/users/:id/mentions"] == {"200": 1}
    assert int(usage["rate_limits"]["POST /2/tweets"]["remaining"]) >= 0


def test_a_customer_answering_our_reply_lands_in_the_same_case(rig: Rig) -> None:
    cid, _ = a_mention(rig)
    reply_id = queue(rig, cid)
    rig.run(until=lambda: delivered(rig, cid, reply_id))
    ours = rig.reply(cid, reply_id)["external_id"]

    answer = rig.x.add_tweet(CUSTOMER, "ann", "@brand thanks, still nothing", in_reply_to=ours)
    XPoller(rig.app, rig.ctx.x_client, Cursors(rig.ctx.read_store), BRAND).mentions()

    conversation = rig.app.get_conversation(cid)
    assert conversation.messages[-1]["external_id"] == answer["id"]
    assert conversation.messages[-1]["in_reply_to"] == ours
    assert conversation.awaiting == "reply"


def test_a_job_run_twice_posts_once(rig: Rig) -> None:
    cid, _ = a_mention(rig)
    reply_id = queue(rig, cid)
    rig.outbox.run_once()
    job = Delivery(rig.app, rig.ctx.channels, rig.ctx.redis)

    first = job.run(cid, reply_id)
    second = job.run(cid, reply_id)

    assert (first.outcome, second.outcome) == ("delivered", "skipped")
    assert len(rig.x.state()["tweets"]) == 1


def test_two_jobs_at_once_for_one_reply_post_once(rig: Rig) -> None:
    cid, _ = a_mention(rig)
    reply_id = queue(rig, cid)
    rig.x.add_fault("timeout", "POST /2/tweets", delay=1.0, after_effect=True)  # a slow post
    results: list[str] = []

    def deliver() -> None:
        try:
            results.append(
                Delivery(rig.app, rig.ctx.channels, rig.ctx.redis).run(cid, reply_id).outcome
            )
        except Exception as error:
            results.append(type(error).__name__)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert sorted(results) == ["ReplyBusyError", "delivered"]
    assert len(rig.x.state()["tweets"]) == 1


def test_a_crash_after_the_post_before_the_outcome_is_found_not_posted_again(rig: Rig) -> None:
    """What a work-horse killed between X's answer and ``ReplyDelivered`` leaves: an attempt
    recorded, a tweet on X, no outcome. The next job looks first, and finds it."""
    cid, _ = a_mention(rig)
    reply_id = queue(rig, cid)
    reply = rig.reply(cid, reply_id)
    now = rig.app.clock
    rig.app.clock = lambda: now() - timedelta(minutes=1)  # the crash was a minute ago
    rig.app.dispatch_reply(cid, reply_id=reply_id, attempt=1, actor="system:delivery")
    rig.app.clock = now
    posted = rig.ctx.channels["x_public"].send(outgoing_of(reply))  # ...and the horse died

    rig.run(until=lambda: delivered(rig, cid, reply_id))

    after = rig.reply(cid, reply_id)
    assert after["external_id"] == posted
    assert len(rig.x.state()["tweets"]) == 1
    last = list(rig.app.conversation_events(cid))[-1]
    assert (type(last).__name__, last.found) == ("ReplyDelivered", True)


def test_a_503_after_posting_is_uncertain_and_the_retry_finds_the_tweet(rig: Rig) -> None:
    cid, _ = a_mention(rig)
    reply_id = queue(rig, cid)
    rig.x.add_fault("503", "POST /2/tweets", after_effect=True)

    rig.run(until=lambda: delivered(rig, cid, reply_id), timeout=30)

    assert len(rig.x.state()["tweets"]) == 1
    codes = [getattr(e, "code", None) for e in rig.app.conversation_events(cid)]
    assert "uncertain" in codes


def test_a_429_waits_for_the_reset_and_delivers_once(rig: Rig) -> None:
    cid, _ = a_mention(rig)
    reply_id = queue(rig, cid)
    rig.x.add_fault("429", "POST /2/tweets", reset_in=2)
    started = time.monotonic()

    rig.run(until=lambda: delivered(rig, cid, reply_id), timeout=30)

    events = list(rig.app.conversation_events(cid))
    failure = next(e for e in events if hasattr(e, "retry_at"))
    second = [e for e in events if type(e).__name__ == "ReplyDispatched"][-1]
    assert (failure.code, failure.retryable) == ("rate_limited", True)
    assert failure.retry_at > failure.timestamp  # X's reset, not an immediate retry
    assert second.attempt == 2 and second.timestamp >= failure.retry_at
    assert time.monotonic() - started >= 0.5
    assert len(rig.x.state()["tweets"]) == 1


def test_a_dm_to_someone_who_refuses_it_fails_with_the_reason_and_can_be_retried(
    rig: Rig,
) -> None:
    cid, _ = a_mention(rig)
    rig.app.switch_channel(cid, to="x_dm", reason="order number", actor="agent:alice")
    rig.x.set_user(CUSTOMER, accepts_dms=False)
    reply_id = queue(rig, cid, body="What is your order number?")

    rig.run(until=lambda: rig.reply(cid, reply_id)["status"] == v.FAILED)

    reply = rig.reply(cid, reply_id)
    conversation = rig.app.get_conversation(cid)
    assert reply["failure_code"] == "recipient_not_following"
    assert "follow" in reply["last_error"]
    assert conversation.status == v.OPEN and conversation.awaiting == "nothing"
    assert rig.x.state()["dms"] == []

    rig.x.set_user(CUSTOMER, accepts_dms=True)  # they followed; the agent retries
    rig.app.request_redelivery(cid, reply_id=reply_id, actor="ops:olga")
    rig.run(until=lambda: delivered(rig, cid, reply_id))

    [dm] = rig.x.state()["dms"]
    assert (dm["recipient_id"], dm["text"]) == (CUSTOMER, "What is your order number?")


def test_a_customers_dm_lands_in_their_case_that_moved_to_dm(rig: Rig) -> None:
    cid, _ = a_mention(rig)
    rig.app.switch_channel(cid, to="x_dm", reason="details", actor="agent:alice")
    rig.x.add_dm(CUSTOMER, "ann", "my order is #5521")

    XPoller(rig.app, rig.ctx.x_client, Cursors(rig.ctx.read_store), BRAND).dms()

    conversation = rig.app.get_conversation(cid)
    assert conversation.messages[-1]["body"] == "my order is #5521"
    assert conversation.messages[-1]["channel"] == v.X_DM


def test_a_dm_from_a_stranger_opens_a_private_case(rig: Rig) -> None:
    rig.x.add_dm("99887766", "bea", "hi, a question about refunds")

    XPoller(rig.app, rig.ctx.x_client, Cursors(rig.ctx.read_store), BRAND).dms()

    customer = rig.app.find_customer(Identity("x", "99887766"))
    assert customer is not None
    [case] = rig.app.cases_of(customer)
    conversation = rig.app.get_conversation(case)
    assert (conversation.origin_channel, conversation.origin_public) == (v.X_DM, False)


def test_a_reply_on_a_channel_without_an_adapter_fails_with_no_channel(rig: Rig) -> None:
    opened = rig.app.open_conversation(
        channel="email", body="invoice?", actor="integration:mail",
        identity=Identity("email", "ann@example.com"),
    )  # fmt: skip
    reply_id = queue(rig, opened.id)

    rig.run(until=lambda: rig.reply(opened.id, reply_id)["status"] == v.FAILED)

    assert rig.reply(opened.id, reply_id)["failure_code"] == "no_channel"


@pytest.mark.parametrize("kind", ["sqlite"])
def test_with_redis_down_a_queued_reply_waits_and_is_delivered_when_it_is_back(
    kind, tmp_path, x, private_redis
) -> None:
    from tests.support.stores import store_settings

    with store_settings(kind, tmp_path) as store, rig_on(store, x, private_redis.url) as rig:
        cid, _ = a_mention(rig)
        private_redis.stop()
        reply_id = queue(rig, cid)  # recorded while Redis is down
        with pytest.raises(redis.ConnectionError):
            rig.outbox.step()
        assert rig.outbox.position() < rig.app.head_position()

        private_redis.start()
        rig.run(until=lambda: delivered(rig, cid, reply_id))

        assert len(x.state()["tweets"]) == 1


def test_a_contact_recorded_from_a_webhook_and_from_polling_is_one_message(rig: Rig) -> None:
    contact = Contact(
        channel=v.X_PUBLIC, body="@brand help", external_id="1800000000000009999",
        sender=Identity("x", CUSTOMER), actor="integration:x",
        origin=Origin(Identity("x", CUSTOMER), BRAND),
    )  # fmt: skip

    first = rig.app.receive_contact(contact)
    again = rig.app.receive_contact(contact)

    assert first.extra["created"] is True and again.extra["created"] is False
    assert again.id == first.id
    assert len(rig.app.get_conversation(first.id).messages) == 1


def test_a_new_outbox_starts_at_the_head_and_sends_no_reply_older_than_itself(rig: Rig) -> None:
    """An upgrade from a version that delivered nothing must not post its old replies."""
    cid, _ = a_mention(rig)
    old = queue(rig, cid, body="an old reply nobody sent")
    with rig.ctx.read_store.transaction(lock_key="outbox") as tx:
        tx.run("DROP TABLE outbox_position")  # as before any outbox existed
    fresh = Outbox(
        rig.ctx.read_store,
        NotificationLog(rig.app.recorder, rig.app.mapper),
        rig.ctx.redis,
    )
    fresh.setup()
    rig.outbox = fresh
    new = queue(rig, cid, body="a new reply")

    rig.run(until=lambda: delivered(rig, cid, new))

    assert rig.reply(cid, old)["status"] == v.QUEUED
    assert [t["text"].endswith("a new reply") for t in rig.x.state()["tweets"]] == [True]


def test_a_tweet_naming_the_brand_without_the_at_is_found_by_the_keyword_search(rig: Rig) -> None:
    rig.x.add_tweet("31337", "cy", "is acme down again? my parcel is lost")
    rig.x.add_tweet("31338", "dee", "lovely weather")
    poller = XPoller(rig.app, rig.ctx.x_client, Cursors(rig.ctx.read_store), BRAND, ["acme"])

    assert poller.search() == 1
    assert poller.search() == 0  # the overlap reads it again: recorded once

    customer = rig.app.find_customer(Identity("x", "31337"))
    assert customer is not None and rig.app.find_customer(Identity("x", "31338")) is None
    [case] = rig.app.cases_of(customer)
    assert rig.app.get_conversation(case).origin_public is True
    assert Cursors(rig.ctx.read_store).get("x-search") is not None


def test_a_job_never_posts_while_an_attempt_started_moments_ago_may_be_in_flight(
    rig: Rig,
) -> None:
    cid, _ = a_mention(rig)
    reply_id = queue(rig, cid)
    rig.app.dispatch_reply(cid, reply_id=reply_id, attempt=1, actor="system:delivery")

    from workers.delivery import ReplyBusyError

    with pytest.raises(ReplyBusyError):
        Delivery(rig.app, rig.ctx.channels, rig.ctx.redis).run(cid, reply_id)
    assert rig.x.state()["tweets"] == []


def test_the_same_text_replied_twice_is_not_taken_for_the_first_ones_tweet(rig: Rig) -> None:
    """X refuses the second as a duplicate; the look finds the first reply's tweet, which is
    that reply's: the second fails for a person to edit, and nothing is stuck sending."""
    cid, _ = a_mention(rig)
    first = queue(rig, cid, body="Thanks, looking into it")
    rig.run(until=lambda: delivered(rig, cid, first))
    second = queue(rig, cid, body="Thanks, looking into it")

    rig.run(until=lambda: rig.reply(cid, second)["status"] == v.FAILED)

    assert rig.reply(cid, second)["failure_code"] == "duplicate_content"
    assert len(rig.x.state()["tweets"]) == 1


def test_an_operator_retry_after_giving_up_gets_a_new_budget_of_attempts(rig: Rig) -> None:
    from workers.delivery import MAX_ATTEMPTS

    cid, _ = a_mention(rig)
    reply_id = queue(rig, cid)
    for attempt in range(1, MAX_ATTEMPTS + 1):  # every attempt failed before
        rig.app.dispatch_reply(cid, reply_id=reply_id, attempt=attempt, actor="t")
        rig.app.record_delivery_failure(
            cid, reply_id=reply_id, reason="503", attempt=attempt, retryable=True,
            code="transient", actor="t",
        )  # fmt: skip
    job = Delivery(rig.app, rig.ctx.channels, rig.ctx.redis)
    assert job.run(cid, reply_id).detail == "gave_up"

    rig.app.request_redelivery(cid, reply_id=reply_id, actor="ops:olga")

    assert job.run(cid, reply_id).outcome == "delivered"
    assert len(rig.x.state()["tweets"]) == 1


def test_someone_else_replying_in_a_customers_thread_gets_a_case_of_their_own(rig: Rig) -> None:
    cid, tweet_id = a_mention(rig)
    bob = rig.x.add_tweet("4242", "bob", "@ann @brand same here!", in_reply_to=tweet_id)

    XPoller(rig.app, rig.ctx.x_client, Cursors(rig.ctx.read_store), BRAND).mentions()

    assert len(rig.app.get_conversation(cid).messages) == 1
    bobs = rig.app._find_inbound(v.X_PUBLIC, bob["id"])
    assert bobs is not None and bobs.id != cid
    reply_id = queue(rig, cid)
    assert rig.reply(cid, reply_id)["recipient"]["value"] == CUSTOMER  # still Ann


def test_two_messages_racing_into_one_case_are_both_recorded(rig: Rig) -> None:
    cid, _ = a_mention(rig)
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def write(n: int) -> None:
        barrier.wait()
        try:
            rig.app.receive_message(
                cid, channel="x_public", body=f"and {n}", actor="integration:x",
                external_id=f"race-{n}",
            )  # fmt: skip
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert errors == []
    bodies = sorted(m["body"] for m in rig.app.get_conversation(cid).messages[1:])
    assert bodies == ["and 0", "and 1"]


def test_a_reply_queued_before_its_customer_was_erased_never_goes_out(rig: Rig) -> None:
    cid, _ = a_mention(rig)
    reply_id = queue(rig, cid, body="Ann, we will send it to 3 Quarry Lane")
    customer = rig.app.get_conversation(cid).customer_id
    rig.app.erase_customer(customer, actor="supervisor:sue")

    rig.run(until=lambda: rig.reply(cid, reply_id)["status"] == v.FAILED)

    assert rig.x.state()["tweets"] == []
    reply = rig.reply(cid, reply_id)
    assert (reply["failure_code"], reply["body"]) == ("customer_erased", "[erased]")
