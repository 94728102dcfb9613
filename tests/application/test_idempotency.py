"""Idempotency keys: one protocol (``run_once``) for the API, webhooks and jobs.

A request's key is claimed with its command; a retry gets the first answer; a racing
twin gets the first answer whatever refusal it ran into; a no-op claims its key too; a
key is kept for its time to live and then serves a new request.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.application import Conversations
from domain.exceptions import IdempotencyKeyReusedError
from domain.idempotency import Claim, IdempotencyKey, IdempotentRequest, Replay, fingerprint
from domain.outcome import Outcome
from domain.values import Identity
from tests.application.conftest import (
    AGENT,
    an_email_identity,
    open_from_tweet,
    store_old_event,
)
from tests.conftest import Clock


def a_request(payload: Any = "reply hi", principal: str = AGENT) -> IdempotentRequest:
    return IdempotentRequest(principal, uuid4().hex, fingerprint("POST /replies", payload))


def reply_once(app: Conversations, cid: UUID, request: IdempotentRequest) -> Outcome | Replay:
    return app.run_once(
        request,
        lambda claim: app.queue_reply(cid, kind="answer", body="hi", actor=AGENT, claim=claim),
    )


def test_a_fingerprint_is_of_the_parsed_request_not_its_bytes() -> None:
    assert fingerprint("POST /x", {"a": 1, "b": [1, 2]}) == fingerprint(
        "POST /x", {"b": [1, 2], "a": 1}
    )
    assert fingerprint("POST /x", {"a": 1}) != fingerprint("POST /x", {"a": 2})
    assert fingerprint("POST /x", {"a": 1}) != fingerprint("POST /y", {"a": 1})


def test_a_retry_gets_the_first_answer_and_writes_nothing(application: Conversations) -> None:
    opened = open_from_tweet(application)
    request = a_request()

    first = reply_once(application, opened.id, request)
    head = application.head_position()
    again = reply_once(application, opened.id, request)

    assert isinstance(first, Outcome) and isinstance(again, Replay)
    assert again.response == {
        "id": str(opened.id),
        "version": 2,
        "reply_id": str(first.extra["reply_id"]),
        "channel": "x_public",
        "public": True,
    }
    assert again.changed is True
    assert application.head_position() == head
    assert len(application.get_conversation(opened.id).replies) == 1


def test_the_claim_is_written_last_in_the_commands_transaction(application: Conversations) -> None:
    opened = open_from_tweet(application)
    head = application.head_position()

    replied = reply_once(application, opened.id, a_request())

    new = list(application.global_events(after=head))
    assert [type(e).__name__ for _, e in new] == ["ReplyQueued", "Claimed"]
    assert isinstance(replied, Outcome) and replied.position == new[-1][0]


def test_what_is_recorded_is_what_the_caller_made_of_the_outcome(
    application: Conversations,
) -> None:
    opened = open_from_tweet(application)
    request = a_request()

    application.run_once(
        request,
        lambda claim: application.queue_reply(
            opened.id, kind="answer", body="hi", actor=AGENT, claim=claim
        ),
        record=lambda outcome: {"status": 202, "body": {"reply": str(outcome.extra["reply_id"])}},
    )

    found = application.find_claim(request)
    assert found is not None and found.response["status"] == 202
    assert set(found.response["body"]) == {"reply"}


def test_a_key_is_scoped_to_its_principal(application: Conversations) -> None:
    opened = open_from_tweet(application)
    request = a_request()
    reply_once(application, opened.id, request)

    bob = IdempotentRequest("agent:bob", request.key, request.fingerprint)
    assert application.find_claim(bob) is None
    assert isinstance(reply_once(application, opened.id, bob), Outcome)


def test_a_key_reused_for_another_request_is_refused(application: Conversations) -> None:
    opened = open_from_tweet(application)
    request = a_request()
    reply_once(application, opened.id, request)
    head = application.head_position()

    with pytest.raises(IdempotencyKeyReusedError) as refused:
        reply_once(application, opened.id, IdempotentRequest(AGENT, request.key, "sha256:other"))

    assert refused.value.field == "idempotency_key"
    assert application.head_position() == head


def test_a_no_op_claims_its_key_so_a_later_retry_does_not_act(
    application: Conversations,
) -> None:
    """Assigning the assignee changes nothing; if someone else then reassigns, a retry of
    that first request must not act again (it would take the case back)."""
    opened = open_from_tweet(application)
    application.assign(opened.id, agent="ann", actor=AGENT)
    request = a_request({"agent": "ann"})

    def assign_ann(claim: Claim | None) -> Outcome:
        return application.assign(opened.id, agent="ann", actor=AGENT, claim=claim)

    first = application.run_once(request, assign_ann)
    application.assign(opened.id, agent="bob", actor="agent:bob")
    retried = application.run_once(request, assign_ann)

    assert isinstance(first, Outcome) and first.position is None
    assert isinstance(retried, Replay) and retried.changed is False
    assert application.get_conversation(opened.id).assignee == "bob"


def test_concurrent_requests_with_one_key_all_get_the_first_answer(
    application: Conversations, another_instance: Any, clock: Clock
) -> None:
    """Six processes register one customer with one key: one writes, every other one gets
    its answer, though each of them ran into "identity taken" or a lost race."""
    identity = an_email_identity()
    request = a_request({"identities": [identity.as_dict()]})
    apps = [application, *(another_instance(clock) for _ in range(5))]
    barrier = threading.Barrier(len(apps))
    results: list[Outcome | Replay] = []

    def register(app: Conversations) -> None:
        barrier.wait()
        results.append(
            app.run_once(
                request,
                lambda claim: app.register_customer(
                    name="Ann",
                    identities=[Identity(identity.kind, identity.value)],
                    actor=AGENT,
                    claim=claim,
                ),
            )
        )

    threads = [threading.Thread(target=register, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    written = [r for r in results if isinstance(r, Outcome)]
    replayed = [r for r in results if isinstance(r, Replay)]
    assert len(results) == 6 and len(written) == 1
    assert {r.response["id"] for r in replayed} == {str(written[0].id)}


def test_an_expired_key_serves_a_new_request_and_is_claimed_afresh(
    application: Conversations, clock: Clock
) -> None:
    opened = open_from_tweet(application)
    request = a_request()
    first = reply_once(application, opened.id, request)
    clock.advance(hours=24, seconds=1)

    again = reply_once(application, opened.id, request)
    once_more = reply_once(application, opened.id, request)

    assert isinstance(first, Outcome) and isinstance(again, Outcome)
    assert again.extra["reply_id"] != first.extra["reply_id"]
    assert isinstance(once_more, Replay)
    assert once_more.response["reply_id"] == str(again.extra["reply_id"])
    assert len(application.get_conversation(opened.id).replies) == 2


def test_a_key_is_kept_for_its_time_to_live(application: Conversations, clock: Clock) -> None:
    opened = open_from_tweet(application)
    request = a_request()
    reply_once(application, opened.id, request)
    clock.advance(hours=23, minutes=59)

    assert isinstance(reply_once(application, opened.id, request), Replay)
    assert application.key_ttl == timedelta(hours=24)


def test_a_claim_stored_by_the_first_version_still_loads(application: Conversations) -> None:
    """Version 1 kept the HTTP status beside the body, and never claimed no-ops."""
    claim_id = IdempotencyKey.create_id(AGENT, "old-key")
    state = {
        "principal": AGENT,
        "key": "old-key",
        "fingerprint": "fp-1",
        "status": 201,
        "response": {"id": "c0ffee", "version": 3},
        "actor": AGENT,
        "timestamp": application.clock(),
        "originator_topic": "parley.IdempotencyKey",
    }
    store_old_event(application, claim_id, "parley.IdempotencyKey.Claimed", state)

    found = application.find_claim(IdempotentRequest(AGENT, "old-key", "fp-1"))

    assert found is not None
    assert found.response == {"status": 201, "body": {"id": "c0ffee", "version": 3}}
    assert found.changed is True


def test_an_expired_key_survives_an_opening_that_retries_its_save(
    application: Conversations, another_instance: Any, clock: Clock
) -> None:
    """A reclaim whose save lost a race must not leave the key unusable (a version gap)."""
    identity = an_email_identity()
    request = a_request({"open": identity.value})

    def open_it(app: Conversations) -> Outcome | Replay:
        return app.run_once(
            request,
            lambda claim: app.open_conversation(
                channel="email", body="hi", actor=AGENT,
                identity=Identity(identity.kind, identity.value), claim=claim,
            ),
        )  # fmt: skip

    open_it(application)
    clock.advance(hours=25)
    other = another_instance(clock)
    # Another customer's contact races for nothing; our retry loop reclaims more than once
    # when its first save conflicts. Simulate the conflict by claiming the key elsewhere.
    first = open_it(other)
    again = open_it(application)

    assert isinstance(first, Outcome) and isinstance(again, Replay)
    assert again.response["id"] == str(first.id)
    stored = [e.originator_version for e in application.events.get(
        IdempotencyKey.create_id(request.principal, request.key))]  # fmt: skip
    assert stored == list(range(1, len(stored) + 1))
