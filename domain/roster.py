"""A team's roster: its agents, their shifts and capacity, and whose turn it is.

A case routed to a team goes to the next agent of the team, round-robin, who is on
shift now and has capacity (fewer open cases from the round-robin than their
``capacity``); if nobody is, it waits unassigned in the team's queue. Whose turn it is
(``last_assigned``) and each agent's open cases are the roster's own state, changed by
its own events: two workers routing at once load the same version, and only one save
of that version can succeed, so they can never both hand out the same turn. The loser's
opening is retried on the new version and picks the next agent.

A shift is a :class:`~domain.business_hours.BusinessCalendar` (weekly periods in the
agent's time zone, days off as holidays), so a shift across a change of the clocks
lasts as long as it really does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.business_hours import BusinessCalendar
from domain.exceptions import InvalidValueError, NotFoundError
from domain.indexes import key_id
from domain.sla_terms import _calendar_json, calendar_from_dict

MAX_CAPACITY = 1000
MAX_AGENTS = 500


class AgentNotRosteredError(NotFoundError):
    field = "agent"


def check_shift(shift: Mapping[str, Any]) -> dict[str, Any]:
    """A shift as stored (a calendar's JSON form); refused naming ``shift.<part>``."""
    try:
        calendar_from_dict(shift)
        return _calendar_json(shift)
    except InvalidValueError as error:
        raise InvalidValueError(str(error), field=f"shift.{error.field}") from None


@cache
def _calendar(time_zone: str, hours: tuple[tuple[str, tuple[str, ...]], ...] | None,
              holidays: tuple[str, ...]) -> BusinessCalendar:  # fmt: skip
    data: dict[str, Any] = {"time_zone": time_zone, "holidays": list(holidays)}
    if hours is not None:
        data["hours"] = {day: list(periods) for day, periods in hours}
    return calendar_from_dict(data)


def on_shift(shift: Mapping[str, Any], at: datetime) -> bool:
    hours = shift.get("hours")
    frozen = None if hours is None else tuple((d, tuple(p)) for d, p in sorted(hours.items()))
    holidays = [*shift.get("holidays", ()), *(
        d for dates in (shift.get("holiday_lists") or {}).values() for d in dates
    )]  # fmt: skip
    return _calendar(shift.get("time_zone", "UTC"), frozen, tuple(holidays)).is_open(at)


class TeamRoster(Aggregate):
    """``agents[name]``: ``capacity``, ``shift``, ``open`` (case ids the round-robin gave
    them, still open), in the order they were first rostered."""

    TOPIC = "parley.TeamRoster"

    class Created(Aggregate.Created):
        TOPIC = "parley.TeamRoster.Created"

    @staticmethod
    def create_id(team: str) -> UUID:
        return key_id("team-roster", team)

    @event("Started", topic="parley.TeamRoster.Started")
    def __init__(self, team: str, actor: str, timestamp: datetime) -> None:
        self.team = team
        self.agents: dict[str, dict[str, Any]] = {}
        self.last_assigned: str | None = None

    def roster(
        self, *, agent: str, capacity: int, shift: dict[str, Any], actor: str, timestamp: datetime
    ) -> None:
        """Put an agent on the roster, or change their shift or capacity."""
        if not 0 <= capacity <= MAX_CAPACITY:
            raise InvalidValueError(f"capacity is 0 to {MAX_CAPACITY}", field="capacity")
        if agent not in self.agents and len(self.agents) >= MAX_AGENTS:
            raise InvalidValueError(f"a team has at most {MAX_AGENTS} agents", field="agent")
        self._roster(agent=agent, capacity=capacity, shift=check_shift(shift), actor=actor,
                     timestamp=timestamp)  # fmt: skip

    @event("AgentRostered", topic="parley.TeamRoster.AgentRostered")
    def _roster(
        self, agent: str, capacity: int, shift: dict[str, Any], actor: str, timestamp: datetime
    ) -> None:
        held = self.agents.get(agent, {}).get("open", [])
        self.agents[agent] = {"capacity": capacity, "shift": shift, "open": held}

    def remove(self, *, agent: str, actor: str, timestamp: datetime) -> None:
        """Take an agent off the roster (the cases they hold stay theirs)."""
        if agent not in self.agents:
            raise AgentNotRosteredError(f"{agent} is not on the {self.team} roster")
        self._remove(agent=agent, actor=actor, timestamp=timestamp)

    @event("AgentRemoved", topic="parley.TeamRoster.AgentRemoved")
    def _remove(self, agent: str, actor: str, timestamp: datetime) -> None:
        del self.agents[agent]

    def next_agent(self, at: datetime) -> str | None:
        """Whose turn it is at ``at``: the first agent after the last one assigned (in
        roster order, round the list) who is on shift and below capacity."""
        names = list(self.agents)
        if not names:
            return None
        start = names.index(self.last_assigned) + 1 if self.last_assigned in names else 0
        for name in names[start:] + names[:start]:
            agent = self.agents[name]
            if len(agent["open"]) < agent["capacity"] and on_shift(agent["shift"], at):
                return name
        return None

    def hand_out(
        self, *, agent: str, conversation_id: UUID, actor: str, timestamp: datetime
    ) -> None:
        self._hand_out(agent=agent, conversation_id=conversation_id, actor=actor,
                       timestamp=timestamp)  # fmt: skip

    @event("CaseHandedOut", topic="parley.TeamRoster.CaseHandedOut")
    def _hand_out(self, agent: str, conversation_id: UUID, actor: str, timestamp: datetime) -> None:
        self.last_assigned = agent
        if agent in self.agents:
            self.agents[agent]["open"].append(str(conversation_id))

    def holder(self, conversation_id: UUID) -> str | None:
        """The agent the round-robin gave the case to, if it still counts against them."""
        key = str(conversation_id)
        return next((n for n, a in self.agents.items() if key in a["open"]), None)

    def release(
        self, *, conversation_id: UUID, reason: str, actor: str, timestamp: datetime
    ) -> bool:
        """The case no longer counts against its agent (resolved, or given to another)."""
        agent = self.holder(conversation_id)
        if agent is None:
            return False
        self._release(agent=agent, conversation_id=conversation_id, reason=reason, actor=actor,
                      timestamp=timestamp)  # fmt: skip
        return True

    @event("CaseReleased", topic="parley.TeamRoster.CaseReleased")
    def _release(
        self, agent: str, conversation_id: UUID, reason: str, actor: str, timestamp: datetime
    ) -> None:
        if agent in self.agents:
            self.agents[agent]["open"].remove(str(conversation_id))
