"""Recently loaded conversations are kept per process, and a load is never staler for it.

Every test runs on both real stores; "another process" is a second ``Conversations`` on
the same store (its own repository, its own cache, its own key ring).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from eventsourcing.application import project_aggregate

from app.config import Settings, event_store_env
from domain.application import Clock, Conversations
from domain.conversation import Conversation
from domain.exceptions import VersionConflictError
from domain.load_cache import LoadCache
from domain.privacy import ERASED
from domain.replay import ReplayingRepository
from tests.application.conftest import AGENT, INTEGRATION, SUPERVISOR, open_from_tweet
from tests.application.test_concurrency import add_note
from tests.conftest import Clock as ManualClock


def cache_of(app: Conversations) -> LoadCache:
    repository = app.repository
    assert isinstance(repository, ReplayingRepository)
    assert repository.load_cache is not None
    return repository.load_cache


def full_replay(app: Conversations, conversation_id: object) -> Conversation:
    """The conversation as the library's own projector builds it from every event."""
    return app.repository.get(conversation_id, projector_func=project_aggregate)  # type: ignore[arg-type]


def test_a_cached_load_is_the_state_a_full_replay_gives_after_many_commands(
    application: Conversations, clock: ManualClock
) -> None:
    app = application
    opened = open_from_tweet(app)
    for i in range(30):
        clock.advance(minutes=1)
        app.receive_message(
            opened.id, channel="x_public", body=f"still waiting ({i})", external_id=f"t{i}",
            actor=INTEGRATION,
        )  # fmt: skip
        if i % 3 == 0:
            app.queue_reply(opened.id, kind="answer", body=f"looking ({i})", actor=AGENT)
        if i % 10 == 0:
            app.get_conversation(opened.id)  # a reader in between takes the shared form
    cache = cache_of(app)
    hits = cache.hits

    loaded = app.get_conversation(opened.id)

    assert cache.hits == hits + 1
    expected = full_replay(app, opened.id)
    assert loaded.version == expected.version == 41
    assert vars(loaded) == vars(expected)
    assert [m["body"] for m in loaded.messages][-1] == "still waiting (29)"


def test_readers_share_one_object_and_commands_get_their_own(
    application: Conversations,
) -> None:
    opened = open_from_tweet(application)
    first = application.get_conversation(opened.id)
    assert application.get_conversation(opened.id) is first  # nothing new: the same one
    changing = application.repository.get(opened.id)
    assert changing is not first and vars(changing) == vars(first)

    application.add_note(opened.id, body="called the depot", actor=AGENT)

    after = application.get_conversation(opened.id)
    assert after is not first and after.version == first.version + 1
    assert first.notes == [] and [n["body"] for n in after.notes] == ["called the depot"]


def test_a_command_that_loses_a_race_leaves_nothing_of_itself_in_the_cache(
    application: Conversations,
    clock: ManualClock,
    another_instance: Callable[[Clock], Conversations],
) -> None:
    other = another_instance(clock)
    opened = open_from_tweet(application)
    application.get_conversation(opened.id)  # cached at version 1

    def loses(conversation: Conversation, now: datetime) -> None:
        other.update(opened.id, add_note("the winner", AGENT))
        add_note("the loser", AGENT)(conversation, now)  # changes this command's copy, then fails

    with pytest.raises(VersionConflictError):
        application.update(opened.id, loses)

    loaded = application.get_conversation(opened.id)
    assert [n["body"] for n in loaded.notes] == ["the winner"]
    assert vars(loaded) == vars(full_replay(application, opened.id))


def test_a_write_by_another_process_is_seen_by_the_next_load(
    application: Conversations,
    clock: ManualClock,
    another_instance: Callable[[Clock], Conversations],
) -> None:
    other = another_instance(clock)
    opened = open_from_tweet(application)
    assert application.get_conversation(opened.id).version == 1
    assert other.get_conversation(opened.id).version == 1  # cached there too

    other.add_note(opened.id, body="from the other process", actor=AGENT)
    application.queue_reply(opened.id, kind="answer", body="from this one", actor=AGENT)

    here, there = application.get_conversation(opened.id), other.get_conversation(opened.id)
    assert here.version == there.version == 3
    assert vars(here) == vars(there) == vars(full_replay(application, opened.id))


def test_an_erasure_in_this_process_leaves_no_opened_field_in_memory(
    application: Conversations,
) -> None:
    opened = open_from_tweet(application)
    application.add_note(opened.id, body="their address is 1 High St", actor=AGENT)
    cached = application.get_conversation(opened.id)
    assert cached.notes[0]["body"] == "their address is 1 High St"

    application.erase_customer(opened.extra["customer_id"], actor=SUPERVISOR)

    conversation = application.get_conversation(opened.id)
    assert conversation.notes[0]["body"] == ERASED
    assert conversation.messages[0]["body"] == ERASED
    assert application.repository.get(opened.id).notes[0]["body"] == ERASED


def test_an_erasure_by_another_process_is_honoured_once_the_key_is_read_again(
    application: Conversations,
    clock: ManualClock,
    another_instance: Callable[[Clock], Conversations],
) -> None:
    other = another_instance(clock)
    opened = open_from_tweet(application)
    assert other.get_conversation(opened.id).messages[0]["body"].startswith("@brand")

    application.erase_customer(opened.extra["customer_id"], actor=SUPERVISOR)
    # The other process re-reads a key from the store at least every few seconds
    # (KEY_CACHE_SECONDS), or at once when it reads the erasure in the log, as here.
    assert any(type(e).__name__ == "Erased" for _, e in other.global_events(0, limit=100))

    assert other.get_conversation(opened.id).messages[0]["body"] == ERASED


def test_the_cache_keeps_at_most_its_size_dropping_the_least_recently_used(
    store: dict[str, str], clock: ManualClock
) -> None:
    settings = Settings.from_env({**store, "PARLEY_LOAD_CACHE_SIZE": "2"})
    app = Conversations(env=event_store_env(settings, create_tables=True), clock=clock)
    try:
        a, b, c = (open_from_tweet(app).id for _ in range(3))
        for cid in (a, b, a, c):  # b is the least recently used when c comes in
            app.get_conversation(cid)
        cache = cache_of(app)
        assert len(cache) == 2
        assert cache.get(a) is not None and cache.get(c) is not None and cache.get(b) is None
        assert app.get_conversation(b).id == b  # loaded in full again
    finally:
        app.close()


def test_size_zero_turns_it_off(store: dict[str, str], clock: ManualClock) -> None:
    settings = Settings.from_env({**store, "PARLEY_LOAD_CACHE_SIZE": "0"})
    app = Conversations(env=event_store_env(settings, create_tables=True), clock=clock)
    try:
        opened = open_from_tweet(app)
        assert isinstance(app.repository, ReplayingRepository)
        assert app.repository.load_cache is None
        assert app.get_conversation(opened.id) is not app.get_conversation(opened.id)
    finally:
        app.close()


def test_time_travel_loads_bypass_the_cache(application: Conversations, clock: ManualClock) -> None:
    opened = open_from_tweet(application)
    then = clock.now
    clock.advance(minutes=5)
    application.add_note(opened.id, body="later", actor=AGENT)
    application.get_conversation(opened.id)  # the current one is cached

    as_of = application.get_conversation(opened.id, as_of=then)
    at_one = application.get_conversation_at_version(opened.id, 1)

    assert as_of.version == at_one.version == 1 and as_of.notes == at_one.notes == []
    assert application.get_conversation(opened.id).version == 2
