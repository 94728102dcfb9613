"""``/v1/teams/{team}/roster`` and ``/v1/teams/{team}/agents/{agent}``: who answers a
team's cases, when, and how many at once.

A case the care policy routes to a team goes to its next agent on shift with capacity,
round-robin; with nobody, it waits in the team's queue. Supervisors keep the rosters;
every role that reads may read them.
"""

from __future__ import annotations

from typing import Any

from app.apidoc import Blueprint
from app.auth import current_principal, requires
from app.schemas import roster as s
from app.state import application
from app.writes import execute, expected_version
from domain.access import MANAGE_CARE, READ
from domain.roster import TeamRoster, on_shift

blp = Blueprint(
    "rosters",
    __name__,
    url_prefix="/v1/teams",
    description="Teams' rosters: agents, their shifts and capacity, round-robin turns.",
)

DELETE_PROBLEMS = (401, 403, 404, 409, 412, 422, 503)  # no body: never 413 or 415


def roster_view(roster: TeamRoster) -> dict[str, Any]:
    now = application().clock()
    return {
        "team": roster.team, "version": roster.version, "last_assigned": roster.last_assigned,
        "agents": [
            {"agent": name, "capacity": a["capacity"], "shift": a["shift"],
             "open_cases": list(a["open"]), "on_shift": on_shift(a["shift"], now)}
            for name, a in roster.agents.items()
        ],
    }  # fmt: skip


def _present(team: str) -> Any:
    def present(body: dict[str, Any]) -> dict[str, Any]:
        shown = s.TeamRosterSchema().dump(roster_view(application().get_roster(team)))
        return {**shown, "position": body["position"]}

    return present


@blp.route("/<team>/roster", methods=["GET"])
@requires(READ)
@blp.read("getTeamRoster", s.TeamRosterSchema, headers=("ETag",), problems=(401, 403, 404, 503))
def get_roster(team: str) -> Any:
    """A team's roster: its agents in round-robin order, each one's shift, capacity and
    open cases, and who got the last case"""
    roster = application().get_roster(team)
    return roster_view(roster), 200, {"ETag": f'"{roster.version}"'}


@blp.route("/<team>/agents/<agent>", methods=["PUT"])
@requires(MANAGE_CARE)
@blp.arguments(s.RosterAgentSchema)
@blp.write("rosterAgent", 200, s.TeamRosterWrittenSchema, description="the roster, saved")
def roster_agent(data: dict[str, Any], team: str, agent: str) -> Any:
    """Put an agent on a team's roster, or change their shift or capacity

    A new agent takes their turn after everyone already on it. The cases they hold stay
    theirs. `If-Match` names the roster's version.
    """
    actor, expected = current_principal().actor, expected_version()
    return execute(
        lambda claim: application().roster_agent(
            team,
            agent,
            capacity=data["capacity"],
            shift=data["shift"],
            actor=actor,
            expected_version=expected,
            claim=claim,
        ),
        present=_present(team),
    )


@blp.route("/<team>/agents/<agent>", methods=["DELETE"])
@requires(MANAGE_CARE)
@blp.write(
    "unrosterAgent", 200, s.TeamRosterWrittenSchema, description="the roster, saved",
    problems=DELETE_PROBLEMS,
)  # fmt: skip
def unroster_agent(team: str, agent: str) -> Any:
    """Take an agent off a team's roster: they get no more of its cases (those they hold
    stay theirs); 404 if they are not on it"""
    actor, expected = current_principal().actor, expected_version()
    return execute(
        lambda claim: application().unroster_agent(
            team, agent, actor=actor, expected_version=expected, claim=claim
        ),
        present=_present(team),
    )
