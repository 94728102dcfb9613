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


class CustomerSchema(Schema):
    id = fields.UUID()
    version = fields.Integer()
    name = fields.String(allow_none=True)
    identities = fields.List(
        fields.Nested(IdentitySchema), metadata={"description": "its own and merged-in ones"}
    )
    registered_at = fields.DateTime()
    merged_into = fields.UUID(allow_none=True)
    absorbed = fields.List(fields.UUID(), metadata={"description": "customers merged into it"})
