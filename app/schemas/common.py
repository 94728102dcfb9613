"""Fields and schemas every resource uses."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, overload

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from domain import values as v

BODY_MAX = 20_000  # characters of a message, reply or note
MAX_POSITION = 2**63 - 1  # the largest position either store can hold


class WholeNumber(fields.Integer):
    """A JSON integer as JSON Schema means it: ``60`` or ``60.0``, never ``"60"``, ``true``
    or ``60.5`` (marshmallow's own Integer takes strings; its strict mode refuses 60.0)."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        return int(value)


class UTCDateTime(fields.DateTime):
    """ISO 8601; a time without an offset is taken as UTC, and all come out in UTC."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        result = super()._deserialize(value, attr, data, **kwargs)
        if result.tzinfo is None:
            return result.replace(tzinfo=UTC)
        try:
            return result.astimezone(UTC)
        except OverflowError as error:  # e.g. 9999-12-31T23:59:59-05:00 is past year 9999 in UTC
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE) from error


def channel_field(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.OneOf(v.CHANNELS), **kwargs)


def body_field(**kwargs: Any) -> fields.String:
    return fields.String(required=True, validate=validate.Length(min=1, max=BODY_MAX), **kwargs)


class StrictSchema(Schema):
    """Unknown fields are an error (marshmallow's default), so a typo is never ignored."""


def check_identity_value(data: dict[str, Any]) -> None:
    """The value's rule for its kind (``domain.values.IDENTITY_PATTERNS``), on ``value``."""
    kind, value = data.get("kind"), data.get("value")
    if kind in v.IDENTITY_PATTERNS and isinstance(value, str):
        pattern, rule = v.IDENTITY_PATTERNS[kind]
        if not re.fullmatch(pattern, value):
            raise ValidationError(rule, field_name="value")


class IdentitySchema(StrictSchema):
    """How to reach a customer; ``value``'s syntax depends on ``kind`` (the document
    says so with one ``if``/``then`` per kind)."""

    kind = fields.String(required=True, validate=validate.OneOf(v.IDENTITY_KINDS))
    value = fields.String(
        required=True,
        validate=validate.Length(min=1, max=320),
        metadata={"description": "x: the numeric user id; email: an address; phone: 3+ digits"},
    )
    handle = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))

    @validates_schema
    def value_fits_kind(self, data: dict[str, Any], **kwargs: object) -> None:
        check_identity_value(data)


@overload
def to_identity(data: dict[str, Any]) -> v.Identity: ...
@overload
def to_identity(data: None) -> None: ...
def to_identity(data: dict[str, Any] | None) -> v.Identity | None:
    if data is None:
        return None
    try:
        return v.Identity(**data)
    except ValueError as error:
        raise ValidationError(str(error), field_name="identity") from error


class OutcomeSchema(Schema):
    """What every write answers."""

    id = fields.UUID(required=True)
    version = fields.Integer(required=True, metadata={"description": "the aggregate's version"})
    position = fields.Integer(
        allow_none=True,
        metadata={"description": "global position of the write's last event; null if no-op"},
    )


class PageArgsSchema(StrictSchema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_POSITION))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class EventSchema(Schema):
    """One recorded event, as auditors read it."""

    position = fields.Integer(metadata={"description": "global position (the /v1/events log)"})
    aggregate_id = fields.UUID()
    aggregate = fields.String(metadata={"description": "Conversation, Customer, ..."})
    type = fields.String(metadata={"description": "past tense: Opened, ReplyQueued, ..."})
    topic = fields.String()
    version = fields.Integer()
    timestamp = fields.DateTime()
    actor = fields.String(allow_none=True)
    data = fields.Dict(
        metadata={
            "description": "the event's own fields; one with personal data names whose key"
            " seals them (key_owner, customer_id or the customer's own id)"
        }
    )
    erased = fields.Boolean(
        metadata={
            "description": "present (true) when the customer's personal data was erased:"
            " the personal fields read [erased]"
        }
    )
    redacted = fields.List(
        fields.String(),
        metadata={"description": "fields withheld from this token's role (null in data)"},
    )


class EventPageSchema(Schema):
    items = fields.List(fields.Nested(EventSchema))
    next_cursor = fields.Integer(
        allow_none=True, metadata={"description": "pass as `after` for the next page; null at end"}
    )
