"""Incident resources: declaring an outage, its cases, its updates, and its ledger."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.schemas.common import MAX_POSITION, OutcomeSchema, StrictSchema, body_field
from app.schemas.readmodels import MinPositionArgs, ProjectionMetaSchema
from domain import incident as d
from domain.incidents import DEFAULT_LIMIT
from projections.incidents import OWED_VALUES

BAD_CURSOR = "not a cursor of this list: pass a page's next_cursor as it is"


def cursor_field() -> fields.String:
    return fields.String(
        validate=[
            validate.Length(min=1, max=40),
            validate.Regexp(r"^[A-Za-z0-9_-]+$", error=BAD_CURSOR),
        ],
        metadata={
            "description": "a page's next_cursor, as it was given",
            "pattern": "^[A-Za-z0-9_-]+$",
        },
    )


# A host name (letters, digits, dots, hyphens; no IP literals), an optional port, then
# printable ASCII (percent-encode the rest, as RFC 3986 has it): classes that JSON Schema's
# ECMA regexes and Python's read alike, unlike \s, which they draw differently.
URL = validate.Regexp(
    r"^https?://[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]{1,5})?(?:[/?#][!-~]*)?$",
    error="an http:// or https:// URL: a host name, then printable ASCII without spaces",
)
PUBLIC_TEXT = validate.Length(min=1, max=1000)


def limit_field() -> fields.Integer:
    return fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "cases handled by this call at most (the answer's"
                  " `remaining` says how many a further call would handle)"},
    )  # fmt: skip


class DeclareIncidentSchema(StrictSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    public_summary = fields.String(
        required=True,
        validate=PUBLIC_TEXT,
        metadata={"description": "what the brand says in public: the general update's text"},
    )
    links = fields.List(
        fields.String(validate=[validate.Length(max=500), URL]),
        load_default=list,
        validate=validate.Length(max=d.MAX_LINKS),
        metadata={"description": "a status page, a help article: posted with the summary"},
    )
    keywords = fields.List(
        fields.String(validate=validate.Length(min=1, max=d.KEYWORD_MAX)),
        load_default=list,
        validate=validate.Length(max=d.MAX_KEYWORDS),
        metadata={
            "description": "a case opening with one of these words (or phrases) in its first"
            " message is linked to the incident: case-insensitive, whole words only (`down`"
            " matches `is it DOWN?` and `#down`, not `download`)"
        },
    )


class ReviseIncidentSchema(StrictSchema):
    """New terms for a live incident: what is left out stays as it is."""

    title = fields.String(validate=validate.Length(min=1, max=200))
    public_summary = fields.String(validate=PUBLIC_TEXT)
    links = fields.List(
        fields.String(validate=[validate.Length(max=500), URL]),
        validate=validate.Length(max=d.MAX_LINKS),
    )
    keywords = fields.List(
        fields.String(validate=validate.Length(min=1, max=d.KEYWORD_MAX)),
        validate=validate.Length(max=d.MAX_KEYWORDS),
        metadata={"description": "replaces the keywords: new ones link cases opening from now on"},
    )

    @validates_schema
    def changes_something(self, data: dict, **kwargs: object) -> None:
        if not data:
            raise ValidationError(
                "give at least one of title, public_summary, links, keywords", field_name="title"
            )


class RevisedSchema(OutcomeSchema):
    changed = fields.Boolean(metadata={"description": "false: the terms were these already"})


class UpdateViewSchema(Schema):
    id = fields.UUID()
    body = fields.String()
    channel = fields.String()
    from_account = fields.String(allow_none=True)
    author = fields.String()
    status = fields.String(metadata={"description": "queued, sending, delivered or failed"})
    attempts = fields.Integer()
    external_id = fields.String(allow_none=True, metadata={"description": "the tweet's id"})
    queued_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)
    failure_code = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    retry_at = fields.DateTime(allow_none=True)


class CaseCountsSchema(Schema):
    linked = fields.Integer()
    acknowledgements_queued = fields.Integer()
    acknowledgements_skipped = fields.Integer()
    follow_ups_queued = fields.Integer()
    follow_ups_skipped = fields.Integer()


class IncidentSchema(Schema):
    id = fields.UUID()
    version = fields.Integer(metadata={"description": "send it back as If-Match"})
    title = fields.String()
    public_summary = fields.String()
    links = fields.List(fields.String())
    keywords = fields.List(fields.String())
    status = fields.String(metadata={"description": "live or resolved"})
    declared_at = fields.DateTime()
    declared_by = fields.String()
    acknowledgement = fields.String(
        allow_none=True,
        metadata={"description": "the acknowledgement standing for cases linked from now on"},
    )
    acknowledgement_by = fields.String(allow_none=True)
    acknowledgement_at = fields.DateTime(allow_none=True)
    updates = fields.List(fields.Nested(UpdateViewSchema))
    resolved_at = fields.DateTime(allow_none=True)
    resolved_by = fields.String(allow_none=True)
    summary = fields.String(allow_none=True)
    follow_up = fields.String(allow_none=True)
    cases = fields.Nested(
        CaseCountsSchema,
        metadata={"description": "from the write side: replies queued (delivery: the ledger)"},
    )


class LinkSchema(StrictSchema):
    conversation_id = fields.UUID(required=True)


class LinkedSchema(OutcomeSchema):
    conversation_id = fields.UUID()
    linked = fields.Boolean(metadata={"description": "false: it was linked already"})
    acknowledgement_reply_id = fields.UUID(
        allow_none=True,
        metadata={"description": "the standing acknowledgement queued on the case, if any"},
    )


class UnlinkedSchema(OutcomeSchema):
    conversation_id = fields.UUID()
    unlinked = fields.Boolean(metadata={"description": "false: it was not linked"})


class AcknowledgeSchema(StrictSchema):
    body = body_field(metadata={"description": "the acknowledgement each customer gets"})
    limit = limit_field()


class BulkSchema(OutcomeSchema):
    queued = fields.Integer(metadata={"description": "replies queued by this call"})
    skipped = fields.Integer(
        metadata={"description": "cases that could not get one (erased, begun by phone...)"}
    )
    remaining = fields.Integer(metadata={"description": "cases a further call would handle"})


class PostUpdateSchema(StrictSchema):
    body = fields.String(
        load_default=None,
        validate=PUBLIC_TEXT,
        metadata={"description": "default: the public summary, then the links"},
    )


class UpdateQueuedSchema(OutcomeSchema):
    update_id = fields.UUID()


class ResolveIncidentSchema(StrictSchema):
    summary = fields.String(required=True, validate=PUBLIC_TEXT)
    follow_up = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=20_000),
        metadata={"description": "what each case's follow-up says; default: the summary"},
    )
    limit = limit_field()


class IncidentListArgsSchema(MinPositionArgs):
    status = fields.String(validate=validate.OneOf((d.LIVE, d.RESOLVED)))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = cursor_field()


class LedgerCountsSchema(Schema):
    linked = fields.Integer()
    acknowledged = fields.Integer(metadata={"description": "acknowledgements delivered"})
    followed_up = fields.Integer(metadata={"description": "follow-ups delivered"})
    owed_acknowledgement = fields.Integer()
    owed_follow_up = fields.Integer()


class UpdateRowSchema(Schema):
    update_id = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    queued_at = fields.String()
    delivered_at = fields.String(allow_none=True)
    external_id = fields.String(allow_none=True)
    failure_code = fields.String(allow_none=True)


class IncidentRowSchema(Schema):
    id = fields.String()
    title = fields.String()
    status = fields.String()
    declared_at = fields.String()
    declared_by = fields.String(allow_none=True)
    acknowledgements_requested_at = fields.String(allow_none=True)
    resolved_at = fields.String(allow_none=True)
    updates = fields.List(fields.Nested(UpdateRowSchema))
    counts = fields.Nested(LedgerCountsSchema)
    position = fields.Integer()


class IncidentPageSchema(Schema):
    items = fields.List(fields.Nested(IncidentRowSchema))
    next_cursor = fields.String(allow_none=True)
    projection = fields.Nested(ProjectionMetaSchema)


class LedgerArgsSchema(MinPositionArgs):
    owed = fields.String(
        validate=validate.OneOf(OWED_VALUES),
        metadata={"description": "only the cases owed this (`nothing`: owed nothing)"},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    cursor = cursor_field()


class LedgerReplySchema(Schema):
    reply_id = fields.String(allow_none=True)
    status = fields.String(
        allow_none=True,
        metadata={"description": "queued, sending, delivered, failed, or skipped (none could be"
                  " queued: `skipped` says why)"},
    )  # fmt: skip
    skipped = fields.String(allow_none=True)


class LedgerRowSchema(Schema):
    conversation_id = fields.String()
    customer_id = fields.String()
    how = fields.String(metadata={"description": "hand or keyword"})
    keyword = fields.String(allow_none=True)
    linked_at = fields.String()
    acknowledgement_queued_at = fields.String(allow_none=True)
    acknowledged_at = fields.String(
        allow_none=True, metadata={"description": "when the acknowledgement was delivered"}
    )
    follow_up_queued_at = fields.String(allow_none=True)
    followed_up_at = fields.String(
        allow_none=True, metadata={"description": "when the follow-up was delivered"}
    )
    acknowledgement = fields.Nested(LedgerReplySchema)
    follow_up = fields.Nested(LedgerReplySchema)
    resolved_by_incident = fields.Boolean()
    owed = fields.String(
        allow_none=True,
        metadata={"description": "acknowledgement (incident live, none delivered yet),"
                  " follow_up (incident resolved, none delivered yet) or null"},
    )  # fmt: skip
    position = fields.Integer(validate=validate.Range(min=0, max=MAX_POSITION))


class LedgerPageSchema(Schema):
    incident_id = fields.String()
    items = fields.List(fields.Nested(LedgerRowSchema))
    next_cursor = fields.String(allow_none=True)
    counts = fields.Nested(LedgerCountsSchema)
    projection = fields.Nested(ProjectionMetaSchema)
