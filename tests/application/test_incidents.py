"""Outages on a real store: linking cases (by keyword as they open, by hand), acknowledging
each one once, the general update, and resolving with a follow-up for every case."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import pytest

from domain import values as v
from domain.application import Conversations
from domain.exceptions import (
    ConversationNotFoundError,
    InvalidTransitionError,
    InvalidValueError,
    PreconditionFailedError,
)
from domain.incident import IncidentCases, shard_of
from domain.incidents import IncidentNotFoundError
from domain.values import Identity
from tests.application.conftest import AGENT, INTEGRATION, SUPERVISOR, a_tweet_id, an_x_identity
from tests.conftest import Clock

ACK = "Sorry! The app is down for everyone; we are on it."


def declare(app: Conversations, keywords: tuple[str, ...] = ("down", "outage")) -> UUID:
    return app.declare_incident(
        title="App down", public_summary="The app is down; we are on it.",
        links=["https://status.example.com"], keywords=list(keywords), actor=SUPERVISOR,
    ).id  # fmt: skip


def tweet_in(app: Conversations, body: str = "@brand is the app down?") -> UUID:
    return app.open_conversation(
        channel="x_public", body=body, actor=INTEGRATION, identity=an_x_identity(),
        external_id=a_tweet_id(),
    ).id  # fmt: skip


def acknowledgements(app: Conversations, case: UUID) -> list[dict]:
    return [
        r for r in app.get_conversation(case).replies.values() if r["kind"] == "acknowledgement"
    ]


def topics_of_position(app: Conversations, start: int, end: int) -> list[str]:
    return [type(e).__qualname__ for _, e in app.global_events(start, end - start)]


# ---------------------------------------------------------------------- linking
def test_a_case_opening_with_a_keyword_is_linked_in_the_same_save(app_and_clock) -> None:
    app, _ = app_and_clock
    incident = declare(app)
    head = app.head_position()

    opened = app.open_conversation(
        channel="x_public", body="@brand your app is DOWN again", actor=INTEGRATION,
        identity=an_x_identity(), external_id=a_tweet_id(),
    )  # fmt: skip

    stored = [(p, e) for p, e in app.global_events(head, 50)]
    assert max(p for p, _ in stored) == opened.position  # one transaction, the link in it
    linked = [e for _, e in stored if type(e).__qualname__ == "IncidentCases.Linked"]
    assert len(linked) == 1
    assert (linked[0].conversation_id, linked[0].how, linked[0].keyword) == (
        opened.id, "keyword", "down",
    )  # fmt: skip
    assert linked[0].customer_id == opened.extra["customer_id"]
    assert app.linked_cases(incident) == [opened.id]
    assert linked[0].originator_id == IncidentCases.create_id(incident, shard_of(opened.id, 16))


def test_only_the_first_message_links_and_only_to_a_live_incident(app_and_clock) -> None:
    app, _ = app_and_clock
    incident = declare(app)
    unrelated = tweet_in(app, "@brand where is my parcel?")
    app.receive_message(unrelated, channel="x_public", body="and is the app down too?",
                        actor=INTEGRATION, external_id=a_tweet_id())  # fmt: skip
    app.resolve_incident(incident, summary="fixed", actor=SUPERVISOR)

    after = tweet_in(app, "@brand app down?")

    assert app.linked_cases(incident) == []
    assert {str(after), str(unrelated)}.isdisjoint(str(c) for c in app.linked_cases(incident))


def test_a_case_is_linked_to_every_live_incident_it_names(app_and_clock) -> None:
    app, _ = app_and_clock
    down = declare(app, ("down",))
    payments = declare(app, ("payment",))

    case = tweet_in(app, "@brand app down, and my payment failed")

    assert app.linked_cases(down) == app.linked_cases(payments) == [case]


def test_a_case_linked_by_hand_once_and_unlinked(app_and_clock) -> None:
    app, _ = app_and_clock
    incident = declare(app)
    case = tweet_in(app, "@brand nothing works")

    first = app.link_to_incident(incident, case, actor=AGENT)
    again = app.link_to_incident(incident, case, actor=AGENT)

    assert first.extra["linked"] is True and first.position is not None
    assert again.extra["linked"] is False and again.position is None
    shard = app.incident_shards(app.get_incident(incident))[0]
    assert shard.cases[str(case)]["how"] == "hand" and shard.cases[str(case)]["linked_by"] == AGENT

    gone = app.unlink_from_incident(incident, case, actor=AGENT)
    assert gone.extra["unlinked"] is True and app.linked_cases(incident) == []
    assert app.unlink_from_incident(incident, case, actor=AGENT).extra["unlinked"] is False
    never = tweet_in(app, "@brand hi")
    assert app.unlink_from_incident(incident, never, actor=AGENT).position is None


def test_linking_needs_a_live_incident_and_a_case_that_exists(app_and_clock) -> None:
    app, _ = app_and_clock
    incident = declare(app)
    case = tweet_in(app, "@brand hi")
    with pytest.raises(ConversationNotFoundError):
        app.link_to_incident(incident, incident, actor=AGENT)
    with pytest.raises(IncidentNotFoundError):
        app.link_to_incident(case, case, actor=AGENT)
    app.resolve_incident(incident, summary="fixed", actor=SUPERVISOR)
    with pytest.raises(InvalidTransitionError):
        app.link_to_incident(incident, case, actor=AGENT)


def test_keywords_that_would_match_anything_are_refused(app_and_clock) -> None:
    app, _ = app_and_clock
    head = app.head_position()
    with pytest.raises(InvalidValueError) as error:
        declare(app, ("...",))
    assert error.value.field == "keywords"
    assert app.head_position() == head


# ---------------------------------------------------------------------- acknowledging
def test_each_case_is_acknowledged_once_in_bounded_calls(app_and_clock) -> None:
    app, clock = app_and_clock
    incident = declare(app)
    cases = []
    for _ in range(5):
        clock.advance(seconds=30)
        cases.append(tweet_in(app))

    first = app.acknowledge_incident(incident, body=ACK, actor=SUPERVISOR, limit=3)
    second = app.acknowledge_incident(incident, body=ACK, actor=SUPERVISOR, limit=3)
    third = app.acknowledge_incident(incident, body=ACK, actor=SUPERVISOR)

    assert (first.extra["queued"], first.extra["remaining"]) == (3, 2)
    assert (second.extra["queued"], second.extra["remaining"]) == (2, 0)
    assert (third.extra["queued"], third.extra["remaining"], third.position) == (0, 0, None)
    for case in cases:
        [ack] = acknowledgements(app, case)
        assert (ack["body"], ack["channel"], ack["author"]) == (ACK, v.X_PUBLIC, SUPERVISOR)
    # the oldest complaints first
    assert [bool(acknowledgements(app, c)) for c in cases] == [True] * 5
    assert app.get_incident(incident).acknowledgement == ACK


def test_once_acknowledgements_stand_a_new_case_is_acknowledged_as_it_opens(app_and_clock) -> None:
    app, _ = app_and_clock
    incident = declare(app)
    app.acknowledge_incident(incident, body=ACK, actor=SUPERVISOR)
    head = app.head_position()

    opened = app.open_conversation(
        channel="x_public", body="@brand outage??", actor=INTEGRATION,
        identity=Identity("x", "4242", "ann"), external_id="1900000000000000001",
    )  # fmt: skip

    types = [type(e).__name__ for e in app.conversation_events(opened.id)]
    assert types == ["Opened", "ReplyQueued"]
    [ack] = acknowledgements(app, opened.id)
    assert (ack["in_reply_to"], ack["recipient"]["value"], ack["author"]) == (
        "1900000000000000001", "4242", "system:incidents",
    )  # fmt: skip
    saved = [p for p, _ in app.global_events(head, 50)]
    assert max(saved) == opened.position  # the reply is in the opening's transaction
    by_hand = tweet_in(app, "@brand nothing loads")
    linked = app.link_to_incident(incident, by_hand, actor=AGENT)
    assert linked.extra["acknowledgement_reply_id"] is not None
    assert len(acknowledgements(app, by_hand)) == 1
    assert app.acknowledge_incident(incident, body=ACK, actor=SUPERVISOR).extra["queued"] == 0


def test_a_case_that_cannot_be_acknowledged_is_skipped_not_retried_forever(app_and_clock) -> None:
    app, _ = app_and_clock
    incident = declare(app)
    erased = tweet_in(app)
    kept = tweet_in(app)
    app.erase_customer(app.get_conversation(erased).customer_id, actor=SUPERVISOR)

    outcome = app.acknowledge_incident(incident, body=ACK, actor=SUPERVISOR)

    assert (outcome.extra["queued"], outcome.extra["skipped"], outcome.extra["remaining"]) == (
        1, 1, 0,
    )  # fmt: skip
    assert acknowledgements(app, erased) == [] and len(acknowledgements(app, kept)) == 1
    counts = app.incident_counts(app.get_incident(incident))
    assert (counts["acknowledgements_queued"], counts["acknowledgements_skipped"]) == (1, 1)


def test_acknowledging_names_the_version_it_expects(app_and_clock) -> None:
    app, _ = app_and_clock
    incident = declare(app)
    with pytest.raises(PreconditionFailedError):
        app.acknowledge_incident(incident, body=ACK, actor=SUPERVISOR, expected_version=7)
    assert app.get_incident(incident).acknowledgement is None


class RacingClock(Clock):
    """The test's clock, which lets ``race()`` run once, the first time the time is read
    to queue a reply: after the bulk loaded a case, before it saves it."""

    race: Callable[[], None] | None = None

    def __call__(self) -> datetime:
        if self.race is not None and sys._getframe(1).f_code.co_name == "_queue_on":
            race, self.race = self.race, None
            race()
        return self.now


def test_an_acknowledgement_racing_a_customer_message_is_tried_again(
    store: dict[str, str], another_instance
) -> None:
    clock = RacingClock()
    app = another_instance(clock)
    other = another_instance(Clock())
    incident = declare(app)
    cases = [tweet_in(app) for _ in range(3)]
    clock.race = lambda: other.receive_message(
        cases[0], channel="x_public", body="hello?", actor=INTEGRATION, external_id=a_tweet_id()
    )

    outcome = app.acknowledge_incident(incident, body=ACK, actor=SUPERVISOR)

    assert clock.race is None  # it ran: the first save lost to it, the second won
    assert outcome.extra["queued"] == 3
    assert all(len(acknowledgements(app, c)) == 1 for c in cases)
    assert len(app.get_conversation(cases[0]).messages) == 2


def test_cases_opening_at_once_are_all_linked(app_and_clock, another_instance) -> None:
    app, clock = app_and_clock
    incident = declare(app)
    app.acknowledge_incident(incident, body=ACK, actor=SUPERVISOR)
    apps = [another_instance(clock) for _ in range(4)]
    barrier = threading.Barrier(len(apps))
    opened: list[UUID] = []
    errors: list[Exception] = []

    def open_some(instance: Conversations) -> None:
        barrier.wait()
        for _ in range(5):
            try:
                opened.append(tweet_in(instance, "@brand down down down"))
            except Exception as error:  # surfaced below
                errors.append(error)

    threads = [threading.Thread(target=open_some, args=(a,)) for a in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sorted(map(str, app.linked_cases(incident))) == sorted(map(str, opened))
    assert all(len(acknowledgements(app, c)) == 1 for c in opened)


# ---------------------------------------------------------------------- update
def test_the_general_update_is_queued_once_from_the_brand_account(store, clock) -> None:
    from app.config import Settings, event_store_env

    app = Conversations(
        env=event_store_env(Settings.from_env(store), create_tables=True), clock=clock,
        accounts={"x_public": "1700000000000000001"},
    )  # fmt: skip
    try:
        incident = declare(app)
        queued = app.post_incident_update(incident, actor=SUPERVISOR)
        with pytest.raises(InvalidTransitionError):
            app.post_incident_update(incident, actor=SUPERVISOR)
        other = app.post_incident_update(incident, actor=SUPERVISOR, body="Still on it.")

        updates = app.get_incident(incident).updates
        first = updates[str(queued.extra["update_id"])]
        assert (first["body"], first["channel"], first["from_account"], first["status"]) == (
            "The app is down; we are on it.\nhttps://status.example.com", v.X_PUBLIC,
            "1700000000000000001", v.QUEUED,
        )  # fmt: skip
        assert updates[str(other.extra["update_id"])]["body"] == "Still on it."
    finally:
        app.close()


# ---------------------------------------------------------------------- resolving
def test_resolving_resolves_each_case_and_follows_it_up_where_it_began(app_and_clock) -> None:
    app, clock = app_and_clock
    incident = declare(app)
    public = tweet_in(app)
    moved = tweet_in(app)
    app.switch_channel(moved, to="x_dm", reason="details", actor=AGENT)
    done = tweet_in(app)
    app.resolve(done, resolution="answered", actor=AGENT)
    app.acknowledge_incident(incident, body=ACK, actor=SUPERVISOR)
    clock.advance(minutes=40)

    outcome = app.resolve_incident(
        incident, summary="The app is back", follow_up="Fixed! Thanks for waiting.",
        actor=SUPERVISOR,
    )  # fmt: skip

    assert (outcome.extra["queued"], outcome.extra["remaining"]) == (3, 0)
    for case in (public, moved, done):
        conversation = app.get_conversation(case)
        [follow] = [r for r in conversation.replies.values() if r["kind"] == "follow_up"]
        assert conversation.status == v.RESOLVED
        assert (follow["channel"], follow["body"]) == (v.X_PUBLIC, "Fixed! Thanks for waiting.")
    assert app.get_conversation(public).resolution == "fixed"
    assert app.get_conversation(done).resolution == "answered"  # resolved before: left so
    shards = app.incident_shards(app.get_incident(incident))
    followed = {cid: c["follow_up"] for s in shards for cid, c in s.cases.items()}
    assert followed[str(done)]["resolved_case"] is False
    assert followed[str(public)]["resolved_case"] is True
    # erasing the done case's customer changes nothing already recorded
    assert app.get_incident(incident).status == "resolved"
    assert app.incident_book() is not None and app.incident_book().entries == {}  # type: ignore[union-attr]


def test_resolving_in_bounded_calls_follows_up_the_rest_with_the_same_summary(
    app_and_clock,
) -> None:
    app, _ = app_and_clock
    incident = declare(app)
    cases = [tweet_in(app) for _ in range(3)]

    first = app.resolve_incident(incident, summary="fixed", actor=SUPERVISOR, limit=2)
    with pytest.raises(InvalidTransitionError) as error:
        app.resolve_incident(incident, summary="another", actor=SUPERVISOR)
    rest = app.resolve_incident(incident, summary="fixed", actor=SUPERVISOR)
    again = app.resolve_incident(incident, summary="fixed", actor=SUPERVISOR)

    assert error.value.field == "summary"
    assert (first.extra["queued"], first.extra["remaining"]) == (2, 1)
    assert (rest.extra["queued"], rest.extra["remaining"]) == (1, 0)
    assert (again.extra["queued"], again.position) == (0, None)
    for case in cases:
        follow_ups = [
            r for r in app.get_conversation(case).replies.values() if r["kind"] == "follow_up"
        ]
        assert [f["body"] for f in follow_ups] == ["fixed"]


def test_acknowledging_a_resolved_incident_is_refused(app_and_clock) -> None:
    app, _ = app_and_clock
    incident = declare(app)
    app.resolve_incident(incident, summary="fixed", actor=SUPERVISOR)
    with pytest.raises(InvalidTransitionError):
        app.acknowledge_incident(incident, body=ACK, actor=SUPERVISOR)


@pytest.fixture
def app_and_clock(application: Conversations, clock: Clock) -> tuple[Conversations, Clock]:
    return application, clock
