"""Customer resources."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate, validates_schema

from app.schemas.common import IdentitySchema, StrictSchema, check_identity_value


class RegisterCustomerSchema(StrictSchema):
    name = fields.String(load_default=None, validate=validate.Length(max=200))
    identities = fields.List(
        fields.Nested(IdentitySchema), required=True, validate=validate.Length(min=1, max=20)
    )


class AddIdentitySchema(IdentitySchema):
    pass


class MergeCustomerSchema(StrictSchema):
    into = fields.UUID(required=True, metadata={"description": "the customer that stays"})


class LookupArgsSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(("x", "email", "phone")))
    value = fields.String(
        required=True,
        validate=validate.Length(min=1, max=320),
        metadata={
            "description": "as for that kind of identity (x: digits; email: an @; phone: 3+ digits)"
        },
    )

    @validates_schema
    def value_fits_kind(self, data: dict[str, Any], **kwargs: object) -> None:
        check_identity_value(data)


class KnownIdentitySchema(Schema):
    """An identity as recorded: once the customer is erased, ``value`` and ``handle`` read
    ``[erased]``."""

    kind = fields.String(validate=validate.OneOf(("x", "email", "phone")))
    value = fields.String()
    handle = fields.String(allow_none=True)


class ErasureRequestSchema(StrictSchema):
    reference = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "the request's own reference (a ticket number), kept in the log"
            " in the clear: never personal data"
        },
    )


class ErasureSchema(Schema):
    id = fields.UUID(required=True, metadata={"description": "the customer erased"})
    version = fields.Integer(required=True)
    position = fields.Integer(
        allow_none=True,
        metadata={"description": "the erasure's global position; null if erased before"},
    )
    already = fields.Boolean(
        metadata={"description": "true: it was erased before; nothing changed"}
    )
    conversations = fields.Integer(
        metadata={"description": "conversations whose personal data reads as erased now"}
    )


class CustomerSchema(Schema):
    id = fields.UUID()
    version = fields.Integer()
    name = fields.String(allow_none=True, metadata={"description": "[erased] once erased"})
    identities = fields.List(
        fields.Nested(KnownIdentitySchema), metadata={"description": "its own and merged-in ones"}
    )
    erased_at = fields.DateTime(
        allow_none=True, metadata={"description": "when its personal data was erased"}
    )
    registered_at = fields.DateTime()
    merged_into = fields.UUID(allow_none=True)
    absorbed = fields.List(fields.UUID(), metadata={"description": "customers merged into it"})
    tags = fields.List(fields.String(), metadata={"description": "the team's labels (vip, ...)"})
