"""Roster use cases: keep each team's agents and shifts, and hand routed cases out.

A case the care policy routes to a team, with no agent yet, is handed to the team's
next agent on shift with capacity, in the save that routes it (the roster saved with
the case, version-checked, so a lost race is the opening's usual conflict, retried).
Nobody on shift, or everybody full: it waits unassigned in the team's queue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from domain import values as v
from domain.conversation import Conversation
from domain.customers import CustomerDirectory
from domain.exceptions import NotFoundError, PreconditionFailedError
from domain.idempotency import Claim
from domain.outcome import Outcome
from domain.roster import TeamRoster

ROUND_ROBIN_ACTOR = "system:routing"


class RosterNotFoundError(NotFoundError):
    field = "team"


class Rosters(CustomerDirectory):
    def roster_agent(
        self,
        team: str,
        agent: str,
        *,
        capacity: int,
        shift: dict[str, Any],
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Put an agent on a team's roster (the team's roster begins with its first)."""
        now = self.clock()
        try:
            roster = self.get_roster(team)
            self._check_version(roster, expected_version)
        except RosterNotFoundError:
            if expected_version not in (None, 0):
                raise PreconditionFailedError(
                    TeamRoster.create_id(team), 0, expected_version
                ) from None
            roster = TeamRoster(team=team, actor=actor, timestamp=now)
        roster.roster(agent=agent, capacity=capacity, shift=shift, actor=actor, timestamp=now)
        return self._save(
            roster, claim=claim, expected_version=expected_version,
            response=self._outcome(roster),
        )  # fmt: skip

    def unroster_agent(
        self,
        team: str,
        agent: str,
        *,
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        roster = self.get_roster(team)
        self._check_version(roster, expected_version)
        roster.remove(agent=agent, actor=actor, timestamp=self.clock())
        return self._save(
            roster, claim=claim, expected_version=expected_version,
            response=self._outcome(roster),
        )  # fmt: skip

    def get_roster(self, team: str) -> TeamRoster:
        try:
            roster: TeamRoster = self.repository.get(TeamRoster.create_id(team))
        except AggregateNotFoundError:
            raise RosterNotFoundError(f"team {team} has no roster") from None
        return roster

    def _hand_out(self, conversation: Conversation, now: datetime) -> list[TeamRoster]:
        """Give a routed case with no agent to its team's next agent (the roster to save
        with it), if the team has a roster and somebody on shift with capacity."""
        if conversation.team is None or conversation.assignee is not None:
            return []
        try:
            roster = self.get_roster(conversation.team)
        except RosterNotFoundError:
            return []
        agent = roster.next_agent(now)
        if agent is None:
            return []  # in the team's queue, unassigned
        roster.hand_out(agent=agent, conversation_id=conversation.id, actor=ROUND_ROBIN_ACTOR,
                        timestamp=now)  # fmt: skip
        conversation.assign(agent=agent, team=None, actor=ROUND_ROBIN_ACTOR, timestamp=now)
        return [roster]

    def _released(
        self, conversation: Conversation, team: str | None, actor: str, now: datetime
    ) -> list[TeamRoster]:
        """The roster (of ``team``, the case's before the command) to save with a command
        after which the case no longer counts against the agent it was handed to:
        resolved, or given to someone else."""
        if team is None:
            return []
        try:
            roster = self.get_roster(team)
        except RosterNotFoundError:
            return []
        holder = roster.holder(conversation.id)
        if holder is None:
            return []
        if conversation.status == v.RESOLVED:
            reason = "resolved"
        elif conversation.assignee != holder:
            reason = "reassigned"
        else:
            return []
        roster.release(conversation_id=conversation.id, reason=reason, actor=actor, timestamp=now)
        return [roster]
