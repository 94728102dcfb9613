"""A team's roster, with no store: round-robin in turn, and only to agents on shift with
capacity; shifts in the agent's own time zone, across changes of the clocks."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.exceptions import InvalidValueError
from domain.roster import TeamRoster, on_shift

MONDAY_10 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # a Monday
OFFICE = {"time_zone": "UTC", "hours": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed")}}
ALWAYS = {"time_zone": "UTC"}


def a_roster(*agents: tuple[str, int, dict]) -> TeamRoster:
    roster = TeamRoster(team="care", actor="supervisor:sue", timestamp=MONDAY_10)
    for name, capacity, shift in agents:
        roster.roster(agent=name, capacity=capacity, shift=shift, actor="s", timestamp=MONDAY_10)
    return roster


def hand_out(roster: TeamRoster, at: datetime = MONDAY_10) -> str | None:
    agent = roster.next_agent(at)
    if agent is not None:
        roster.hand_out(agent=agent, conversation_id=uuid4(), actor="system:routing", timestamp=at)
    return agent


def test_cases_go_round_the_agents_in_turn() -> None:
    roster = a_roster(("ann", 10, ALWAYS), ("bob", 10, ALWAYS), ("cat", 10, ALWAYS))

    assert [hand_out(roster) for _ in range(7)] == ["ann", "bob", "cat"] * 2 + ["ann"]
    assert {n: len(a["open"]) for n, a in roster.agents.items()} == {"ann": 3, "bob": 2, "cat": 2}


def test_an_agent_off_shift_is_skipped_and_their_turn_not_saved_for_them() -> None:
    roster = a_roster(("ann", 10, OFFICE), ("bob", 10, ALWAYS))
    evening = MONDAY_10.replace(hour=20)

    assert [hand_out(roster, evening) for _ in range(2)] == ["bob", "bob"]
    assert hand_out(roster) == "ann"


def test_a_shift_starts_on_its_first_minute_and_ends_before_its_last() -> None:
    assert on_shift(OFFICE, MONDAY_10.replace(hour=9)) is True
    assert on_shift(OFFICE, MONDAY_10.replace(hour=8, minute=59)) is False
    assert on_shift(OFFICE, MONDAY_10.replace(hour=17)) is False
    assert on_shift(OFFICE, MONDAY_10.replace(day=5, hour=10)) is False  # Thursday: off


def test_an_agent_at_capacity_gets_nothing_until_a_case_is_released() -> None:
    roster = a_roster(("ann", 1, ALWAYS), ("bob", 0, ALWAYS))

    assert hand_out(roster) == "ann"
    assert hand_out(roster) is None  # nobody with room: the case waits in the queue
    held = roster.agents["ann"]["open"][0]
    assert roster.release(conversation_id=held, reason="resolved", actor="a", timestamp=MONDAY_10)
    assert hand_out(roster) == "ann"


def test_nobody_on_shift_leaves_the_case_unassigned() -> None:
    roster = a_roster(("ann", 5, OFFICE))

    assert hand_out(roster, MONDAY_10.replace(hour=23)) is None
    assert roster.last_assigned is None


def test_a_shift_is_kept_in_the_agents_own_time_zone_across_the_clock_change() -> None:
    london = {"time_zone": "Europe/London", "hours": {"sun": ["09:00-17:00"]}}
    summer, winter = (
        datetime(2026, 3, 22, 8, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 8, 30, tzinfo=UTC),
    )

    assert on_shift(london, summer) is False  # 08:30 GMT: not yet
    assert on_shift(london, winter) is True  # 09:30 BST: the clocks went forward that night
    assert on_shift(london, datetime(2026, 3, 29, 16, 0, tzinfo=UTC)) is False  # 17:00 BST


def test_a_night_shift_runs_across_midnight() -> None:
    night = {
        "time_zone": "America/New_York",
        "hours": {"mon": ["22:00-24:00"], "tue": ["00:00-06:00"]},
    }

    assert on_shift(night, datetime(2026, 11, 3, 4, 0, tzinfo=UTC)) is True  # Mon 23:00 EST
    assert on_shift(night, datetime(2026, 11, 3, 10, 0, tzinfo=UTC)) is True  # Tue 05:00
    assert on_shift(night, datetime(2026, 11, 3, 12, 0, tzinfo=UTC)) is False  # Tue 07:00


def test_a_day_off_is_off() -> None:
    shift = {**OFFICE, "holidays": ["2026-11-02"]}
    roster = a_roster(("ann", 5, shift))

    assert hand_out(roster) is None


def test_an_unusable_shift_or_capacity_is_refused_naming_it() -> None:
    with pytest.raises(InvalidValueError) as refused:
        a_roster(("ann", 5, {"time_zone": "Mars/Olympus"}))
    assert refused.value.field == "shift.time_zone"
    with pytest.raises(InvalidValueError) as refused:
        a_roster(("ann", -1, ALWAYS))
    assert refused.value.field == "capacity"


def test_rostering_again_keeps_the_cases_an_agent_holds() -> None:
    roster = a_roster(("ann", 5, ALWAYS))
    hand_out(roster)

    roster.roster(agent="ann", capacity=1, shift=OFFICE, actor="s", timestamp=MONDAY_10)

    assert len(roster.agents["ann"]["open"]) == 1 and roster.next_agent(MONDAY_10) is None
