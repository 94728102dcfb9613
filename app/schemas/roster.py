"""A team's roster: an agent's shift and capacity as a supervisor writes them, and the
roster as every role reads it (who is on shift now, who holds what, whose turn it was)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.schemas.common import StrictSchema, WholeNumber
from app.schemas.sla import CalendarSchema, CalendarViewSchema
from domain.roster import MAX_CAPACITY


class RosterAgentSchema(StrictSchema):
    """An agent on a team's roster: when they work, and how many cases they hold at most."""

    capacity = WholeNumber(
        required=True,
        validate=validate.Range(min=0, max=MAX_CAPACITY),
        metadata={"description": "open cases the round-robin gives them at most (0: none)"},
    )
    shift = fields.Nested(
        CalendarSchema,
        required=True,
        metadata={
            "description": "weekly periods in their time zone (no `hours`: round the "
            "clock); `holidays` are their days off"
        },
    )


class RosterAgentViewSchema(Schema):
    agent = fields.String()
    capacity = fields.Integer()
    shift = fields.Nested(CalendarViewSchema)
    open_cases = fields.List(
        fields.UUID(), metadata={"description": "cases the round-robin gave them, still open"}
    )
    on_shift = fields.Boolean(metadata={"description": "on shift now"})


class TeamRosterSchema(Schema):
    team = fields.String()
    version = fields.Integer(metadata={"description": "the roster's version (its ETag)"})
    last_assigned = fields.String(
        allow_none=True, metadata={"description": "who got the last case: the next turn follows"}
    )
    agents = fields.List(
        fields.Nested(RosterAgentViewSchema), metadata={"description": "in round-robin order"}
    )


class TeamRosterWrittenSchema(TeamRosterSchema):
    position = fields.Integer(
        allow_none=True, metadata={"description": "global position of the write's last event"}
    )
