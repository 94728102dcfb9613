"""Two processes on one store: one wins, the other is told, and no event is lost."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import uuid4

import pytest

from domain.application import Clock, Conversations
from domain.conversation import Conversation
from domain.exceptions import IdentityTakenError, VersionConflictError
from domain.idempotency import Claim, IdempotentRequest
from tests.application.conftest import (
    INTEGRATION,
    SUPERVISOR,
    a_tweet_id,
    an_x_identity,
    open_from_tweet,
)
from tests.conftest import Clock as ManualClock


def add_note(body: str, actor: str) -> Callable[[Conversation, datetime], None]:
    return lambda c, now: c.add_note(note_id=uuid4(), body=body, actor=actor, timestamp=now)


def test_two_instances_writing_the_same_version_one_wins_and_none_is_lost(
    application: Conversations,
    clock: ManualClock,
    another_instance: Callable[[Clock], Conversations],
) -> None:
    other = another_instance(clock)
    opened = open_from_tweet(application)
    assert opened.version == 1
    won = {}

    def slow_note(conversation: Conversation, now: datetime) -> None:
        # This instance has loaded version 1; the other one writes before it can.
        assert conversation.version == 1
        won["outcome"] = other.update(opened.id, add_note("winner", "agent:bob"))
        add_note("loser", "agent:ann")(conversation, now)

    with pytest.raises(VersionConflictError) as lost:
        application.update(opened.id, slow_note)

    assert won["outcome"].version == 2
    assert lost.value.current_version == 2
    assert lost.value.aggregate_id == opened.id
    events = application.conversation_events(opened.id)
    assert [type(e).__name__ for e in events] == ["Opened", "NoteAdded"]
    assert events[1].body == "winner"  # type: ignore[attr-defined]
    assert application.head_position() == won["outcome"].position
    assert [n["body"] for n in other.get_conversation(opened.id).notes] == ["winner"]


def test_the_loser_can_retry_on_the_new_version(
    application: Conversations,
    clock: ManualClock,
    another_instance: Callable[[Clock], Conversations],
) -> None:
    other = another_instance(clock)
    opened = open_from_tweet(application)
    other.update(opened.id, add_note("first", "agent:bob"), expected_version=1)

    retried = application.update(opened.id, add_note("second", "agent:ann"), expected_version=2)

    assert retried.version == 3
    notes = application.get_conversation(opened.id).notes
    assert [n["body"] for n in notes] == ["first", "second"]


def test_the_same_tweet_opened_by_two_racing_instances_with_a_known_customer_is_one_case(
    application: Conversations,
    clock: ManualClock,
    another_instance: Callable[[Clock], Conversations],
) -> None:
    identity, tweet_id = an_x_identity(), a_tweet_id()
    open_from_tweet(application, identity)  # the customer exists already
    winner = another_instance(clock)
    racing = RacingClock(clock, lambda: open_from_tweet(winner, identity, tweet_id))
    loser = another_instance(racing)

    outcome = open_from_tweet(loser, identity, tweet_id)

    assert racing.outcome is not None and racing.outcome.extra["created"] is True
    assert outcome.id == racing.outcome.id
    assert outcome.extra["created"] is False
    assert application.head_position() == racing.outcome.position


def test_the_same_tweet_from_a_new_customer_opened_by_two_racing_instances_is_one_case(
    application: Conversations,
    clock: ManualClock,
    another_instance: Callable[[Clock], Conversations],
) -> None:
    """Both instances find neither the tweet nor the X user, then both write.

    The loser's save conflicts on the natural-key indexes; it should answer with the
    winner's conversation (``created`` False), as it does when the customer existed.
    The race window is opened deterministically: the loser reads its clock for the
    idempotency claim after all its reads, and the winner writes at that moment.
    """
    identity, tweet_id = an_x_identity(), a_tweet_id()
    winner = another_instance(clock)
    racing = RacingClock(clock, lambda: open_from_tweet(winner, identity, tweet_id), on_call=2)
    loser = another_instance(racing)

    outcome = loser.open_conversation(
        channel="x_public",
        body="@brand my parcel",
        actor=INTEGRATION,
        identity=identity,
        external_id=tweet_id,
        claim=Claim(IdempotentRequest(INTEGRATION, uuid4().hex, "fp")),
    )

    assert racing.outcome is not None
    assert outcome.id == racing.outcome.id
    assert outcome.extra["created"] is False
    assert racing.outcome.position is not None
    # After the winner's events, only the loser's claim on its key (a keyed no-op).
    written = list(application.global_events(after=racing.outcome.position))
    assert [type(e).__qualname__ for _, e in written] == ["IdempotencyKey.Claimed"]


def test_two_tweets_from_a_new_x_user_racing_make_one_customer(
    application: Conversations,
    clock: ManualClock,
    another_instance: Callable[[Clock], Conversations],
) -> None:
    """Two first contacts from one unknown X user, opened at once by two instances.

    The loser's save conflicts on the identity index. It must not create a second
    customer, nor fail with the library's AggregateNotFoundError: it either joins the
    winner's customer or refuses with a VersionConflictError the client can retry on.
    """
    identity = an_x_identity()
    winner = another_instance(clock)
    racing = RacingClock(clock, lambda: open_from_tweet(winner, identity), on_call=2)
    loser = another_instance(racing)

    try:
        outcome = loser.open_conversation(
            channel="x_public",
            body="@brand hello?",
            actor=INTEGRATION,
            identity=identity,
            external_id=a_tweet_id(),
            claim=Claim(IdempotentRequest(INTEGRATION, uuid4().hex, "fp")),
        )
    except VersionConflictError:
        assert application.head_position() == racing.outcome.position
    else:
        assert outcome.extra["customer_id"] == racing.outcome.extra["customer_id"]

    found = application.find_customer(identity)
    assert found is not None and found.id == racing.outcome.extra["customer_id"]


def test_registering_one_identity_from_two_racing_instances_makes_one_customer(
    application: Conversations,
    clock: ManualClock,
    another_instance: Callable[[Clock], Conversations],
) -> None:
    identity = an_x_identity()
    winner = another_instance(clock)
    racing = RacingClock(
        clock,
        lambda: winner.register_customer(name="Ann", identities=[identity], actor=SUPERVISOR),
        on_call=2,
    )
    loser = another_instance(racing)

    # A retryable conflict, or (better) the identity named as taken; never a library error.
    with pytest.raises((VersionConflictError, IdentityTakenError)):
        loser.register_customer(
            name="Ann",
            identities=[identity],
            actor=SUPERVISOR,
            claim=Claim(IdempotentRequest(SUPERVISOR, uuid4().hex, "fp")),
        )

    assert application.head_position() == racing.outcome.position
    found = application.find_customer(identity)
    assert found is not None and found.id == racing.outcome.id


class RacingClock:
    """The loser's clock: on its ``on_call``-th reading, the winner acts first.

    The use cases read the clock after their reads and before their write, so this opens
    the window two processes race in, without threads or sleeps.
    """

    def __init__(self, clock: ManualClock, winner_acts: Callable[[], object], on_call: int = 1):
        self.clock, self.winner_acts, self.on_call = clock, winner_acts, on_call
        self.calls = 0
        self.outcome: Any = None

    def __call__(self) -> datetime:
        self.calls += 1
        if self.calls == self.on_call:
            self.outcome = self.winner_acts()
        return self.clock()
