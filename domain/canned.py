"""Canned responses: a team's stock replies, with variables filled in when one is used.

A canned response's text is a :class:`string.Template` (``Hi $customer_name, ...``):
substitution is explicit and nothing else is evaluated, so a supervisor's text cannot
reach into the system. Three variables are the system's own (:data:`BUILT_IN`); any
other ``$name`` in the text is the agent's to give when replying. A variable the text
uses that nobody gives, or one given that the text does not use, is refused naming it,
so a customer never reads ``$order_id`` and an agent's typo never goes unnoticed.

A :class:`CannedResponse` keeps every version of itself, as an SLA policy does; the
:class:`CannedResponseBook` (one aggregate, fixed id) lists the live ones and their
teams, so a team's list costs one load.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from string import Template
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.exceptions import InvalidTransitionError, InvalidValueError
from domain.indexes import key_id

CUSTOMER_NAME, CASE_LINK, INCIDENT_LINKS = "customer_name", "case_link", "incident_links"
BUILT_IN = (CUSTOMER_NAME, CASE_LINK, INCIDENT_LINKS)
TEXT_MAX = 5000
NAME_MAX = 200
TEAM_MAX = 100
VARIABLE_MAX = 1000  # characters of one variable's value


def template_variables(text: str) -> list[str]:
    """The variables a template uses, in order; refused if it is no valid template."""
    template = Template(text)
    if not template.is_valid():
        raise InvalidValueError(
            "a $ starts a variable ($name or ${name}); write $$ for a dollar sign",
            field="body",
        )
    return list(dict.fromkeys(template.get_identifiers()))


def check_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A canned response as saved: ``name``, ``team``, ``body``, ``description``."""
    name, team, body = spec.get("name"), spec.get("team"), spec.get("body")
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        raise InvalidValueError(f"a name has 1 to {NAME_MAX} characters", field="name")
    if not isinstance(team, str) or not team.strip() or len(team) > TEAM_MAX:
        raise InvalidValueError(f"a team has 1 to {TEAM_MAX} characters", field="team")
    if not isinstance(body, str) or not body.strip() or len(body) > TEXT_MAX:
        raise InvalidValueError(f"a body has 1 to {TEXT_MAX} characters", field="body")
    template_variables(body)
    return {"name": name, "team": team, "body": body, "description": spec.get("description", "")}


def render(text: str, built_in: Mapping[str, str | None], given: Mapping[str, str]) -> str:
    """The text with every variable filled: the system's ``built_in`` (None: not known for
    this case, so the agent may give it), the agent's ``given``. Unknown ones, either
    way, are refused naming each (``variables.x``)."""
    used = template_variables(text)
    known = {name: value for name, value in built_in.items() if value is not None}
    clash = sorted(set(given) & set(known))
    unused = sorted(set(given) - set(used))
    missing = [name for name in used if name not in given and name not in known]
    for names, why in (
        (clash, "is filled in by the system"),
        (unused, "is not used by this canned response"),
        (missing, "is used by this canned response and not known: give its value"),
    ):
        if names:
            raise InvalidValueError(
                f"{', '.join(names)}: {why} (it uses {', '.join(used) or 'no variables'})",
                field=f"variables.{names[0]}",
            )
    for name, value in given.items():
        if len(value) > VARIABLE_MAX:
            raise InvalidValueError(
                f"a variable has at most {VARIABLE_MAX} characters", field=f"variables.{name}"
            )
    return Template(text).substitute({**known, **given})


class CannedResponse(Aggregate):
    """One canned response and every version of it (``versions[n - 1]`` is version n)."""

    TOPIC = "parley.CannedResponse"

    class Created(Aggregate.Created):
        TOPIC = "parley.CannedResponse.Created"

    @event("Written", topic="parley.CannedResponse.Written")
    def __init__(self, spec: dict[str, Any], actor: str, timestamp: datetime) -> None:
        self.spec = spec
        self.deleted = False
        self.versions: list[dict[str, Any]] = []
        self._keep(actor, timestamp)

    def revise(self, spec: dict[str, Any], actor: str, timestamp: datetime) -> None:
        self._check_live()
        self._revise(spec=spec, actor=actor, timestamp=timestamp)

    @event("Revised", topic="parley.CannedResponse.Revised")
    def _revise(self, spec: dict[str, Any], actor: str, timestamp: datetime) -> None:
        self.spec = spec
        self._keep(actor, timestamp)

    def delete(self, actor: str, timestamp: datetime) -> None:
        self._check_live()
        self._delete(actor=actor, timestamp=timestamp)

    @event("Deleted", topic="parley.CannedResponse.Deleted")
    def _delete(self, actor: str, timestamp: datetime) -> None:
        self.deleted = True
        self._keep(actor, timestamp)

    def _check_live(self) -> None:
        if self.deleted:
            raise InvalidTransitionError("the canned response is deleted", field="canned_response")

    def _keep(self, actor: str, timestamp: datetime) -> None:
        self.versions.append(
            {"version": len(self.versions) + 1, "spec": self.spec, "deleted": self.deleted,
             "at": timestamp, "by": actor}
        )  # fmt: skip


class CannedResponseBook(Aggregate):
    """The live canned responses: ``{id: team}``, in the order they were written."""

    TOPIC = "parley.CannedResponseBook"

    class Created(Aggregate.Created):
        TOPIC = "parley.CannedResponseBook.Created"

    @staticmethod
    def create_id() -> UUID:
        return key_id("registry", "canned-responses")

    @event("Opened", topic="parley.CannedResponseBook.Opened")
    def __init__(self, actor: str, timestamp: datetime) -> None:
        self.entries: dict[str, str] = {}

    @event("Entered", topic="parley.CannedResponseBook.Entered")
    def enter(self, canned_response_id: str, team: str, actor: str, timestamp: datetime) -> None:
        self.entries[canned_response_id] = team

    @event("Removed", topic="parley.CannedResponseBook.Removed")
    def remove(self, canned_response_id: str, actor: str, timestamp: datetime) -> None:
        self.entries.pop(canned_response_id, None)
