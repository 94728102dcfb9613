"""Schemas of the read models: inbox, SLA, customer history, projection status."""

from __future__ import annotations

from marshmallow import Schema, fields, validate
from webargs.fields import DelimitedList

from app.schemas.common import MAX_POSITION, StrictSchema, UTCDateTime
from domain import values as v
from domain.care_rules import LABELS

BAD_CURSOR = "not a cursor of this inbox: pass a page's next_cursor as it is"


class MinPositionArgs(StrictSchema):
    min_position = fields.Integer(
        validate=validate.Range(min=0, max=MAX_POSITION),
        metadata={"description": "wait (bounded) until the read model has processed this position"},
    )


class ProjectionMetaSchema(Schema):
    name = fields.String()
    position = fields.Integer()
    caught_up = fields.Boolean(metadata={"description": "false: the wait for min_position ran out"})
    lag = fields.Integer(metadata={"description": "how many positions short of min_position"})
    as_of = fields.String(
        metadata={"description": "with ?as_of: the moment replayed (the read model was "
                  "rebuilt from the log up to it, not read from the live tables)"}
    )  # fmt: skip


AS_OF = {
    "description": "ISO 8601: the read model as it stood then, replayed from the log in "
    "commit order (slower: a pass over the log up to that moment; min_position is ignored)"
}


class InboxQueryArgsSchema(MinPositionArgs):
    as_of = UTCDateTime(metadata=AS_OF)
    status = DelimitedList(
        fields.String(validate=validate.OneOf((v.OPEN, v.SNOOZED, v.RESOLVED))),
        validate=validate.Length(min=1, max=3),
        metadata={"description": "one status or several, comma-separated; default open,snoozed"},
    )
    assignee = fields.String(validate=validate.Length(min=1, max=100))
    assigned = fields.Boolean()
    team = fields.String(validate=validate.Length(min=1, max=100))
    channel = fields.String(validate=validate.OneOf(v.CHANNELS))
    priority = fields.String(validate=validate.OneOf(v.PRIORITIES))
    tag = fields.String(validate=validate.Length(min=1, max=50))
    awaiting = fields.String(validate=validate.OneOf(("acknowledgement", "reply", "nothing")))
    sla = fields.String(
        validate=validate.OneOf(("breached", "at_risk", "ok")),
        metadata={"description": "breached: a breach on record; at_risk: a warning, no breach;"
                  " ok: neither"},
    )  # fmt: skip
    follow_up_owed = fields.Boolean(
        metadata={"description": "true: begun in public, resolved elsewhere, and no public"
                  " follow-up delivered where it began since"}
    )  # fmt: skip
    classification = fields.String(
        validate=validate.OneOf(LABELS),
        metadata={"description": "the care policy's label of the case's latest classified"
                  " message"},
    )  # fmt: skip
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(
        validate=[
            validate.Length(min=1, max=400),
            validate.Regexp(r"^[A-Za-z0-9_-]+$", error=BAD_CURSOR),
        ],
        metadata={
            "description": "a page's next_cursor, as it was given",
            "pattern": "^[A-Za-z0-9_-]+$",
        },
    )


class InboxSlaSchema(Schema):
    state = fields.String(metadata={"description": "breached, at_risk or ok"})
    policy_id = fields.String(metadata={"description": "the policy pinned on the case"})
    policy_version = fields.Integer()


class InboxItemSchema(Schema):
    conversation_id = fields.String()
    customer_id = fields.String()
    status = fields.String()
    origin_channel = fields.String()
    current_channel = fields.String()
    origin_public = fields.Boolean()
    assignee = fields.String(allow_none=True)
    team = fields.String(allow_none=True)
    priority = fields.String()
    tags = fields.List(fields.String())
    awaiting = fields.String(metadata={"description": "acknowledgement, reply or nothing"})
    waiting_since = fields.String(allow_none=True)
    first_response_due = fields.String(allow_none=True)
    due = fields.String(
        allow_none=True,
        metadata={"description": "when a response is due, by the case's SLA clock (its policy)"},
    )
    last_message_preview = fields.String(allow_none=True)
    last_message_at = fields.String(allow_none=True)
    snoozed_until = fields.String(allow_none=True)
    failed_deliveries = fields.Integer()
    opened_at = fields.String()
    updated_at = fields.String()
    version = fields.Integer()
    position = fields.Integer()
    sla_breached = fields.Boolean(metadata={"description": "a breach of the case is on record"})
    sla_at_risk = fields.Boolean(
        metadata={"description": "an at-risk warning is on record for a metric still running"}
    )
    sla = fields.Nested(InboxSlaSchema)
    follow_up_owed = fields.Boolean(
        metadata={"description": "begun in public, resolved on another channel, and no"
                  " public follow-up delivered where it began since"}
    )  # fmt: skip
    classification = fields.String(
        allow_none=True,
        metadata={"description": "praise, complaint, question or other: the care policy's"
                  " label of the latest classified message (null: none classified)"},
    )  # fmt: skip


class InboxPageSchema(Schema):
    items = fields.List(fields.Nested(InboxItemSchema))
    next_cursor = fields.String(allow_none=True)
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "cases per status under the other filters (open, snoozed,"
                  " resolved); where counts_exact says false, more than count_bound"},
    )  # fmt: skip
    counts_exact = fields.Dict(
        keys=fields.String(),
        values=fields.Boolean(),
        metadata={"description": "per status: true, the count is exact (kept counts: no"
                  " filter, one filter, or channel + awaiting; or a bounded count under the"
                  " bound); false, there are more than count_bound and counts shows the bound"},
    )  # fmt: skip
    count_bound = fields.Integer(
        metadata={"description": "how far counts of other filter combinations are counted"}
    )
    projection = fields.Nested(ProjectionMetaSchema)


class HistoryQueryArgsSchema(MinPositionArgs):
    as_of = UTCDateTime(metadata=AS_OF)
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_POSITION))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class HistoryEntrySchema(Schema):
    position = fields.Integer()
    customer_id = fields.String()
    conversation_id = fields.String(allow_none=True)
    kind = fields.String()
    channel = fields.String(allow_none=True)
    public = fields.Boolean(allow_none=True)
    actor = fields.String(allow_none=True)
    at = fields.String()
    summary = fields.String()


class HistoryPageSchema(Schema):
    customer_ids = fields.List(fields.String(), metadata={"description": "it and those merged in"})
    items = fields.List(fields.Nested(HistoryEntrySchema))
    next_cursor = fields.Integer(allow_none=True)
    projection = fields.Nested(ProjectionMetaSchema)


class SlaMeasurementSchema(Schema):
    metric = fields.String(metadata={"description": "first_response, next_response or resolution"})
    seq = fields.Integer(metadata={"description": "which wait of the case (1 for the first)"})
    started_at = fields.String()
    ended_at = fields.String()
    seconds = fields.Float(metadata={"description": "on the policy's clock (pauses left out)"})
    wall_seconds = fields.Float()
    target_seconds = fields.Integer(allow_none=True)
    met = fields.Boolean(allow_none=True, metadata={"description": "null: no target for it"})
    deadline = fields.String(allow_none=True, metadata={"description": "when it was missed"})
    breached = fields.Boolean(metadata={"description": "a breach is on record for it"})
    response = fields.String(
        metadata={"description": "acknowledgement, answer, follow_up, call or resolved"}
    )
    channel = fields.String()
    priority = fields.String()
    agent = fields.String(allow_none=True)
    team = fields.String(allow_none=True)
    policy_id = fields.String()
    policy_version = fields.Integer()
    position = fields.Integer()


class SlaClockSchema(Schema):
    conversation_id = fields.String()
    policy_id = fields.String(metadata={"description": "the policy pinned on the case"})
    policy_version = fields.Integer()
    origin_channel = fields.String()
    current_channel = fields.String()
    priority = fields.String()
    status = fields.String()
    first_response_due = fields.String(allow_none=True)
    next_response_due = fields.String(allow_none=True)
    resolution_due = fields.String(allow_none=True)
    next_alarm = fields.String(
        allow_none=True,
        metadata={"description": "when the case next owes a breach or an at-risk warning"},
    )
    breached = fields.Boolean()
    at_risk = fields.Boolean()
    position = fields.Integer()
    measurements = fields.List(fields.Nested(SlaMeasurementSchema))
    projection = fields.Nested(ProjectionMetaSchema)


class ProjectionStatusSchema(Schema):
    name = fields.String()
    position = fields.Integer()
    head = fields.Integer()
    lag = fields.Integer()
    state = fields.String(
        metadata={
            "description": "running, failed, missing (never set up) or outdated (its tables"
            " were built by another version of its code: being rebuilt, not followed)"
        }
    )
    version = fields.Integer(metadata={"description": "the running code's projection version"})
    built_by_version = fields.Integer(
        allow_none=True, metadata={"description": "the version that built the live tables"}
    )
    last_error = fields.Dict(allow_none=True)
    updated_at = fields.String(allow_none=True)


class ProjectionStatusPageSchema(Schema):
    items = fields.List(fields.Nested(ProjectionStatusSchema))
    next_cursor = fields.String(allow_none=True, metadata={"description": "always null: one page"})
