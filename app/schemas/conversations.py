"""Conversation resources: what comes in with each command, and what a conversation looks like."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.schemas.care import ClassificationSchema, RoutedSchema
from app.schemas.common import (
    BODY_MAX,
    IdentitySchema,
    OutcomeSchema,
    StrictSchema,
    UTCDateTime,
    WholeNumber,
    body_field,
    channel_field,
)
from app.schemas.sla import ConversationSlaSchema, Whole
from app.spec_rules import VARIABLE_NAME
from domain import values as v

NAME = validate.Length(min=1, max=100)
MAX_VARIABLES = 50


def _at_most_variables(value: dict[str, Any]) -> None:
    if len(value) > MAX_VARIABLES:
        raise ValidationError(f"at most {MAX_VARIABLES}")


EXTERNAL_ID = validate.Length(min=1, max=998)  # RFC 5322 caps a header line at 998


class OpenConversationSchema(StrictSchema):
    channel = channel_field(required=True)
    body = body_field()
    customer_id = fields.UUID(metadata={"description": "an existing customer; or give identity"})
    identity = fields.Nested(IdentitySchema, metadata={"description": "found or registered"})
    customer_name = fields.String(load_default=None, validate=NAME)
    external_id = fields.String(
        load_default=None,
        validate=EXTERNAL_ID,
        metadata={"description": "the channel's id (tweet id, Message-ID): a repeat is a no-op"},
    )
    published_at = UTCDateTime(
        load_default=None, metadata={"description": "when the customer sent it"}
    )
    subject = fields.String(load_default=None, validate=validate.Length(max=500))

    @validates_schema
    def names_a_customer(self, data: dict, **kwargs: object) -> None:
        if data.get("customer_id") is None and data.get("identity") is None:
            raise ValidationError("give customer_id or identity", field_name="customer_id")


class OpenedSchema(OutcomeSchema):
    created = fields.Boolean(metadata={"description": "false when the contact was seen before"})
    customer_id = fields.UUID()
    message_id = fields.UUID()


class ReceiveMessageSchema(StrictSchema):
    channel = channel_field(required=True)
    body = body_field()
    external_id = fields.String(load_default=None, validate=EXTERNAL_ID)
    published_at = UTCDateTime(load_default=None)


class MessageRecordedSchema(OutcomeSchema):
    created = fields.Boolean(metadata={"description": "false when it was recorded before"})
    message_id = fields.UUID(allow_none=True)
    customer_id = fields.UUID(metadata={"description": "the case's customer"})


class QueueReplySchema(StrictSchema):
    """The text, or a canned response to render (with its variables): one of the two."""

    body = fields.String(
        validate=validate.Length(min=1, max=BODY_MAX),
        metadata={"description": "the reply's text (or give `canned_response_id`)"},
    )
    canned_response_id = fields.UUID(
        metadata={"description": "render this canned response as the reply's text"}
    )
    variables = fields.Dict(
        keys=fields.String(validate=Whole(VARIABLE_NAME, error="a variable's name ($name)")),
        values=fields.String(validate=validate.Length(max=1000)),
        validate=_at_most_variables,
        metadata={
            "description": "the canned response's own variables ($order_id ...); "
            "customer_name, case_link and incident_links are filled in by the system",
            "maxProperties": MAX_VARIABLES,
        },
    )
    kind = fields.String(load_default="answer", validate=validate.OneOf(v.REPLY_KINDS))
    channel = channel_field(
        load_default=None, metadata={"description": "default: the conversation's current channel"}
    )
    invite_to_dm = fields.Boolean(
        load_default=False,
        metadata={
            "description": "a public acknowledgement only: append the invitation to follow"
            " the brand and send a DM (the text is in docs/api.md), so the case can move to DM"
        },
    )

    @validates_schema
    def text_or_canned(self, data: dict[str, Any], **kwargs: object) -> None:
        if ("body" in data) == ("canned_response_id" in data):
            raise ValidationError("give body or canned_response_id (one)", field_name="body")
        if "variables" in data and "canned_response_id" not in data:
            raise ValidationError("variables fill a canned response", field_name="variables")


class ReplyQueuedSchema(OutcomeSchema):
    reply_id = fields.UUID()
    channel = fields.String()
    public = fields.Boolean()


class SwitchChannelSchema(StrictSchema):
    to = channel_field(required=True)
    reason = fields.String(load_default="", validate=validate.Length(max=500))
    identity = fields.Nested(
        IdentitySchema,
        load_default=None,
        metadata={"description": "how to reach the customer there, if not known yet"},
    )


class AssignmentSchema(StrictSchema):
    """A present key with a name assigns; a present key with null unassigns; absent: unchanged."""

    agent = fields.String(allow_none=True, validate=NAME)
    team = fields.String(allow_none=True, validate=NAME)

    @validates_schema
    def names_something(self, data: dict, **kwargs: object) -> None:
        if "agent" not in data and "team" not in data:
            raise ValidationError("give agent, team or both (null to unassign)", field_name="agent")


class AddNoteSchema(StrictSchema):
    body = body_field()


class NoteAddedSchema(OutcomeSchema):
    note_id = fields.UUID()


class TagsSchema(StrictSchema):
    add = fields.List(
        fields.String(validate=validate.Length(min=1, max=50)),
        load_default=list,
        validate=validate.Length(max=v.MAX_TAGS),
    )
    remove = fields.List(
        fields.String(validate=validate.Length(min=1, max=50)),
        load_default=list,
        validate=validate.Length(max=v.MAX_TAGS),
    )


class PrioritySchema(StrictSchema):
    priority = fields.String(required=True, validate=validate.OneOf(v.PRIORITIES))


class SnoozeSchema(StrictSchema):
    until = UTCDateTime(required=True, allow_none=True, metadata={"description": "null wakes it"})


class ResolveSchema(StrictSchema):
    resolution = fields.String(load_default="answered", validate=validate.OneOf(v.RESOLUTION_CODES))


class ReopenSchema(StrictSchema):
    reason = fields.String(load_default="agent", validate=validate.Length(min=1, max=500))


class ConversationQueryArgsSchema(StrictSchema):
    as_of = UTCDateTime(metadata={"description": "ISO 8601: the conversation as it stood then"})


class AttachmentSchema(Schema):
    filename = fields.String(allow_none=True)
    content_type = fields.String()
    size = fields.Integer(metadata={"description": "bytes; the content is not kept"})


class MessageDetailsSchema(Schema):
    """What a channel said beyond the text (e-mail: its HTML, attachments, quoting)."""

    html = fields.String(allow_none=True, metadata={"description": "an e-mail's HTML part"})
    attachments = fields.List(fields.Nested(AttachmentSchema))
    quoted_at = fields.Integer(
        allow_none=True,
        metadata={"description": "where quoted earlier mail begins in `body` (characters)"},
    )
    derived_message_id = fields.Boolean(
        metadata={"description": "the mail had no Message-ID: Parley derived one from it"}
    )


class SenderSchema(Schema):
    kind = fields.String()
    value = fields.String()
    handle = fields.String(allow_none=True)


class MessageSchema(Schema):
    id = fields.UUID()
    channel = fields.String()
    external_id = fields.String(allow_none=True)
    body = fields.String()
    public = fields.Boolean()
    published_at = fields.DateTime()
    observed_at = fields.DateTime()
    sender = fields.Nested(SenderSchema, allow_none=True)
    thread_id = fields.String(allow_none=True)
    in_reply_to = fields.String(allow_none=True)
    details = fields.Nested(MessageDetailsSchema, allow_none=True)
    classification = fields.Nested(
        ClassificationSchema,
        allow_none=True,
        metadata={"description": "the care policy's label for it (null: not classified)"},
    )


class AutomatedMessageSchema(Schema):
    id = fields.UUID()
    channel = fields.String()
    kind = fields.String(metadata={"description": "auto_reply or bounce"})
    external_id = fields.String()
    body = fields.String()
    sender = fields.Nested(SenderSchema, allow_none=True)
    published_at = fields.DateTime()
    observed_at = fields.DateTime()


class CallSchema(Schema):
    id = fields.UUID()
    direction = fields.String(metadata={"description": "inbound or outbound"})
    started_at = fields.DateTime()
    duration_seconds = fields.Integer()
    agent = fields.String(allow_none=True)
    summary = fields.String()
    number = fields.String(allow_none=True)
    logged_by = fields.String()
    logged_at = fields.DateTime()


class ChatStateSchema(Schema):
    session_id = fields.String()
    ended = fields.Boolean(metadata={"description": "the customer left the chat"})


class LogCallSchema(StrictSchema):
    direction = fields.String(required=True, validate=validate.OneOf(("inbound", "outbound")))
    started_at = UTCDateTime(required=True, metadata={"description": "when the call began"})
    duration_seconds = WholeNumber(required=True, validate=validate.Range(min=0, max=86_400))
    agent = fields.String(
        load_default=None, validate=NAME, metadata={"description": "default: who logs it"}
    )
    summary = body_field(metadata={"description": "what was said and agreed"})
    number = fields.String(
        load_default=None,
        validate=validate.Length(min=3, max=50),
        metadata={"description": "the customer's number on the call"},
    )


class CallLoggedSchema(OutcomeSchema):
    call_id = fields.UUID()


class ReceiptSchema(OutcomeSchema):
    reply_id = fields.UUID()


class ReplySchema(Schema):
    id = fields.UUID()
    author = fields.String()
    channel = fields.String()
    public = fields.Boolean()
    kind = fields.String()
    body = fields.String()
    status = fields.String(metadata={"description": "queued, sending, delivered or failed"})
    queued_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)
    external_id = fields.String(allow_none=True)
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    failure_code = fields.String(allow_none=True)
    recipient = fields.Nested(SenderSchema, allow_none=True)
    subject = fields.String(allow_none=True, metadata={"description": "e-mail replies"})


def _note_body(note: dict) -> str | None:
    from app.auth import may_read_notes

    return note["body"] if may_read_notes() else None


class NoteSchema(Schema):
    id = fields.UUID()
    author = fields.String()
    body = fields.Function(
        _note_body,
        allow_none=True,
        metadata={
            "type": "string",
            "description": "null unless the token's role may read private notes "
            "(agent, supervisor)",
        },
    )
    added_at = fields.DateTime()
    redacted = fields.Function(
        lambda note: [] if _note_body(note) is not None else ["body"],
        metadata={"type": "array", "items": {"type": "string"},
                  "description": "fields withheld from this token's role"},
    )  # fmt: skip


class ChannelSpellSchema(Schema):
    channel = fields.String()
    since = fields.DateTime()
    reason = fields.String()


class DmReachSchema(Schema):
    requirement = fields.String(
        metadata={"description": "what an X DM needs of the customer: follows_brand_or_open_dms"}
    )
    receives_dms = fields.Boolean(
        allow_none=True,
        metadata={"description": "whether the brand's DM reaches them; null: not known yet"},
    )
    follows_brand = fields.Boolean(allow_none=True)
    source = fields.String(
        metadata={
            "description": "switch (the move to DM), x (X was asked) or delivery (X refused a DM)"
        }
    )
    recorded_at = fields.DateTime()


class ConversationSchema(Schema):
    id = fields.UUID()
    version = fields.Integer()
    status = fields.String(metadata={"description": "open, snoozed or resolved"})
    customer_id = fields.UUID()
    origin_channel = fields.String()
    origin_public = fields.Boolean()
    current_channel = fields.String()
    subject = fields.String(allow_none=True)
    assignee = fields.String(allow_none=True)
    team = fields.String(allow_none=True)
    priority = fields.String()
    tags = fields.List(fields.String())
    awaiting = fields.String(metadata={"description": "acknowledgement, reply or nothing"})
    snoozed_until = fields.DateTime(allow_none=True)
    resolution = fields.String(allow_none=True)
    opened_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)
    follow_up_owed = fields.Boolean(
        metadata={"description": "begun in public, resolved on another channel, and no public"
                  " follow-up delivered where it began since"}
    )  # fmt: skip
    messages = fields.List(fields.Nested(MessageSchema))
    replies = fields.Method("_replies", metadata={"type": "array"})
    notes = fields.List(fields.Nested(NoteSchema))
    channel_history = fields.List(fields.Nested(ChannelSpellSchema))
    calls = fields.List(fields.Nested(CallSchema))
    automated_messages = fields.List(
        fields.Nested(AutomatedMessageSchema),
        attribute="automated",
        metadata={"description": "auto-replies and bounces on the case's thread"},
    )
    chat = fields.Method("_chat", metadata={"type": ["object", "null"]})
    dm_reach = fields.Nested(
        DmReachSchema,
        allow_none=True,
        metadata={
            "description": "whether an X DM reaches the customer; null until the case moves to DM"
        },
    )
    sla = fields.Nested(
        ConversationSlaSchema,
        metadata={"description": "the SLA policy pinned on the case, and its breaches on record"},
    )
    routed = fields.Nested(
        RoutedSchema,
        allow_none=True,
        metadata={"description": "the care policy's routing rule that last set team or priority"},
    )

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "messages":  # each with the care policy's classification of it
            return [
                {**m, "classification": obj.classifications.get(str(m["id"]))} for m in obj.messages
            ]
        if attr == "sla":  # made of two of the case's attributes
            return {
                "policy": obj.sla_policy_or_default,
                "breaches": obj.sla_breaches,
            }
        return super().get_attribute(obj, attr, default)

    def _chat(self, conversation: object) -> dict | None:
        session = getattr(conversation, "chat_session", None)
        if session is None:
            return None
        return {"session_id": session, "ended": bool(getattr(conversation, "chat_ended", False))}

    def _replies(self, conversation: object) -> list[dict]:
        replies = getattr(conversation, "replies", {}).values()
        return ReplySchema(many=True).dump(sorted(replies, key=lambda r: r["queued_at"]))
