"""Canned responses: as a supervisor writes one, and as every role reads it.

The schema refuses what it can say (lengths, unknown fields); whether the text is a
valid template (a lone ``$``) is the domain's (``domain.canned``): a 422 naming ``body``.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.schemas.common import StrictSchema
from app.schemas.sla import NAME, Whole
from domain.canned import NAME_MAX, TEAM_MAX, TEXT_MAX


class CannedResponseSpecSchema(StrictSchema):
    """A canned response: each save is a new version."""

    name = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=NAME_MAX), Whole(NAME, error="must not be blank")],
    )
    team = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=TEAM_MAX), Whole(NAME, error="must not be blank")],
        metadata={"description": "the team whose stock reply it is"},
    )
    body = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=TEXT_MAX), Whole(NAME, error="must not be blank")],
        metadata={
            "description": "the text, a template: `$customer_name`, `$case_link`, "
            "`$incident_links` are filled in by the system, any other `$name` (or `${name}`) "
            "by the agent replying; `$$` is a dollar sign"
        },
    )
    description = fields.String(load_default="", validate=validate.Length(max=2000))


class CannedResponseListArgsSchema(StrictSchema):
    team = fields.String(
        validate=validate.Length(min=1, max=TEAM_MAX),
        metadata={"description": "only this team's"},
    )


class CannedResponseSchema(Schema):
    id = fields.UUID()
    version = fields.Integer(metadata={"description": "its version (its ETag)"})
    name = fields.String()
    team = fields.String()
    body = fields.String()
    description = fields.String()
    variables = fields.List(
        fields.String(), metadata={"description": "the variables its text uses, in order"}
    )
    deleted = fields.Boolean(metadata={"description": "no agent can use it any more"})
    created_at = fields.DateTime()
    created_by = fields.String()
    updated_at = fields.DateTime(metadata={"description": "when this version was saved"})
    updated_by = fields.String()


class CannedResponseWrittenSchema(CannedResponseSchema):
    position = fields.Integer(
        allow_none=True, metadata={"description": "global position of the write's last event"}
    )


class CannedResponsePageSchema(Schema):
    items = fields.List(fields.Nested(CannedResponseSchema))
    next_cursor = fields.String(allow_none=True, metadata={"description": "always null: one page"})
