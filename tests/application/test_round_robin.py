"""Round-robin on a real store: a routed case goes to the team's next agent on shift with
capacity, in the save that routes it; two instances racing never hand out one turn twice;
a case resolved or given away frees its agent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import uuid4

from domain.application import Clock, Conversations
from domain.idempotency import Claim, IdempotentRequest
from tests.application.conftest import AGENT, INTEGRATION, SUPERVISOR, a_tweet_id, an_x_identity
from tests.conftest import Clock as ManualClock

RULES = {"routing": [{"name": "all to care", "team": "care"}]}
ALWAYS = {"time_zone": "UTC"}


def tweet(app: Conversations, claim: Claim | None = None) -> Any:
    return app.open_conversation(
        channel="x_public", body="@brand help", actor=INTEGRATION, identity=an_x_identity(),
        external_id=a_tweet_id(), claim=claim,
    )  # fmt: skip


def staff(app: Conversations, *agents: str, capacity: int = 10, shift: Any = ALWAYS) -> None:
    app.save_care_rules(RULES, actor=SUPERVISOR)
    for agent in agents:
        app.roster_agent("care", agent, capacity=capacity, shift=shift, actor=SUPERVISOR)


def assignee(app: Conversations, opened: Any) -> str | None:
    return app.get_conversation(opened.id).assignee


def test_routed_cases_go_round_the_team_in_the_save_that_routes_them(
    application: Conversations,
) -> None:
    staff(application, "ann", "bob")

    cases = [tweet(application) for _ in range(3)]

    assert [assignee(application, c) for c in cases] == ["ann", "bob", "ann"]
    events = application.conversation_events(cases[0].id)
    assert [(type(e).__name__, e.actor) for e in events] == [
        ("Opened", INTEGRATION), ("MessageClassified", "system:classifier"),
        ("Routed", "system:routing"), ("Assigned", "system:routing"),
        ("Assigned", "system:routing"),
    ]  # fmt: skip
    assert (events[3].team, events[4].agent) == ("care", "ann")  # type: ignore[attr-defined]
    roster = application.get_roster("care")
    assert {n: len(a["open"]) for n, a in roster.agents.items()} == {"ann": 2, "bob": 1}


def test_with_nobody_on_shift_the_case_waits_in_the_team_queue(
    application: Conversations, clock: ManualClock
) -> None:
    staff(application, "ann", shift={"time_zone": "UTC", "hours": {"sat": ["09:00-17:00"]}})

    case = application.get_conversation(tweet(application).id)  # Monday 09:00

    assert (case.team, case.assignee) == ("care", None)


def test_two_instances_racing_never_give_the_same_turn(
    application: Conversations,
    clock: ManualClock,
    another_instance: Callable[[Clock], Conversations],
) -> None:
    staff(application, "ann", "bob")
    winner = another_instance(clock)
    won: list[Any] = []

    class Racing:
        """The loser's clock: after its reads (the roster's too), the winner opens a case."""

        calls = 0

        def __call__(self) -> datetime:
            self.calls += 1
            if self.calls == 2:
                won.append(tweet(winner))
            return clock()

    loser = another_instance(Racing())

    lost = tweet(loser, Claim(IdempotentRequest(INTEGRATION, uuid4().hex, "fp")))

    assert assignee(application, won[0]) == "ann"
    assert assignee(application, lost) == "bob"  # retried on the roster the winner saved
    roster = application.get_roster("care")
    assert roster.agents["ann"]["open"] == [str(won[0].id)]
    assert roster.agents["bob"]["open"] == [str(lost.id)]


def test_a_case_resolved_or_given_away_frees_its_agent(application: Conversations) -> None:
    staff(application, "ann", capacity=1)
    first = tweet(application)
    second = tweet(application)  # ann is full: in the queue
    assert (assignee(application, first), assignee(application, second)) == ("ann", None)

    application.resolve(first.id, resolution="answered", actor=AGENT)
    third = tweet(application)
    assert assignee(application, third) == "ann"

    application.assign(third.id, agent="zoe", actor=AGENT)
    assert application.get_roster("care").agents["ann"]["open"] == []
    assert assignee(application, tweet(application)) == "ann"
