"""Idempotency keys: claimed with the command, found on a retry, never reused."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from domain.application import Conversations, IdempotencyClaim
from domain.exceptions import IdempotencyKeyReusedError, VersionConflictError
from tests.application.conftest import AGENT, open_from_tweet
from tests.conftest import Clock


def a_claim(fingerprint: str = "sha256:reply-1") -> IdempotencyClaim:
    return IdempotencyClaim(principal=AGENT, key=uuid4().hex, fingerprint=fingerprint, status=202)


def test_a_claimed_reply_is_found_with_its_response(application: Conversations) -> None:
    opened = open_from_tweet(application)
    claim = a_claim()

    replied = application.queue_reply(opened.id, kind="answer", body="hi", actor=AGENT, claim=claim)

    found = application.find_claim(claim.principal, claim.key, claim.fingerprint)
    assert found is not None
    assert (found.principal, found.key, found.status) == (AGENT, claim.key, 202)
    assert found.response == {
        "id": str(opened.id),
        "version": 2,
        "reply_id": str(replied.extra["reply_id"]),
        "channel": "x_public",
        "public": True,
    }
    assert UUID(found.response["reply_id"]) in {
        r["id"] for r in application.get_conversation(opened.id).replies.values()
    }


def test_the_claim_is_written_with_the_command(application: Conversations) -> None:
    opened = open_from_tweet(application)
    head = application.head_position()

    replied = application.queue_reply(
        opened.id, kind="answer", body="hi", actor=AGENT, claim=a_claim()
    )

    new = list(application.global_events(after=head))
    assert [type(e).__name__ for _, e in new] == ["ReplyQueued", "Claimed"]
    assert replied.position == new[-1][0]


def test_an_unclaimed_key_is_not_found(application: Conversations) -> None:
    assert application.find_claim(AGENT, uuid4().hex, "sha256:x") is None


def test_a_key_is_scoped_to_its_principal(application: Conversations) -> None:
    opened = open_from_tweet(application)
    claim = a_claim()
    application.queue_reply(opened.id, kind="answer", body="hi", actor=AGENT, claim=claim)

    assert application.find_claim("agent:bob", claim.key, claim.fingerprint) is None


def test_a_key_reused_for_another_request_is_refused(application: Conversations) -> None:
    opened = open_from_tweet(application)
    claim = a_claim()
    application.queue_reply(opened.id, kind="answer", body="hi", actor=AGENT, claim=claim)

    with pytest.raises(IdempotencyKeyReusedError) as refused:
        application.find_claim(claim.principal, claim.key, "sha256:another-body")

    assert refused.value.field == "Idempotency-Key"


def test_saving_with_an_already_claimed_key_writes_nothing(
    application: Conversations, clock: Clock
) -> None:
    """A retry that skips ``find_claim`` (or races the first attempt) loses on the claim.

    What happens today: the store refuses the second claim, and the use case reports it
    as a version conflict on the conversation, naming the version the first attempt
    left (nobody else changed it). The retry's reply is not written.
    """
    opened = open_from_tweet(application)
    claim = a_claim()
    first = application.queue_reply(opened.id, kind="answer", body="hi", actor=AGENT, claim=claim)
    head = application.head_position()
    clock.advance(seconds=2)

    with pytest.raises(VersionConflictError) as refused:
        application.queue_reply(opened.id, kind="answer", body="hi", actor=AGENT, claim=claim)

    assert refused.value.aggregate_id == opened.id
    assert refused.value.current_version == first.version == 2
    assert application.head_position() == head
    assert len(application.get_conversation(opened.id).replies) == 1


def test_a_no_op_command_with_a_claim_writes_nothing_not_even_the_claim(
    application: Conversations,
) -> None:
    """A no-op is idempotent by itself: a retry repeats it, still recording nothing."""
    opened = open_from_tweet(application)
    application.update(opened.id, lambda c, now: c.tag(tag="refund", actor=AGENT, timestamp=now))
    head = application.head_position()
    claim = a_claim("sha256:tag-refund")

    again = application.update(
        opened.id, lambda c, now: c.tag(tag="refund", actor=AGENT, timestamp=now), claim=claim
    )

    assert (again.version, again.position) == (2, None)
    assert application.head_position() == head
    assert application.find_claim(AGENT, claim.key, claim.fingerprint) is None


def test_a_no_op_command_without_a_claim_writes_nothing(application: Conversations) -> None:
    opened = open_from_tweet(application)
    head = application.head_position()

    outcome = application.update(
        opened.id, lambda c, now: c.unassign(agent=True, team=True, actor=AGENT, timestamp=now)
    )

    assert (outcome.version, outcome.position) == (1, None)
    assert application.head_position() == head
