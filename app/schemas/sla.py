"""SLA policies: a policy as a supervisor writes it, as it is shown, and what a case is
promised (its pinned policy and its breaches).

The request schemas refuse what they can say (unknown fields, a metric or channel
outside the vocabulary, a target of 0 seconds, a period that is no ``HH:MM-HH:MM``); the
rest is the domain's (``domain.sla_terms``, ``domain.business_hours``): whether a time
zone exists, periods that overlap or end before they start, a business-hours target
without a calendar, two targets for one metric, channel and priority. Either way the
answer is a 422 naming the field.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.schemas.common import StrictSchema, WholeNumber, channel_field
from domain import values as v
from domain.sla_terms import DEFAULT_AT_RISK_SHARE, MAX_TARGET_SECONDS, MAX_TARGETS, METRICS

MAX_NOTIFY = 20
MAX_HOLIDAY_LISTS = 50
HOLIDAY_LIST_NAME = 100  # characters (app.spec_rules writes it of the keys)
MAX_RANK = 2**31 - 1
HHMM = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"
PERIOD = rf"^{HHMM}-(?:{HHMM}|24:00)$"
TIME_ZONE = r"^[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*$"
EMAIL = r"^[^@ \t\r\n\u0000]+@[^@ \t\r\n\u0000]+$"
# What str.strip() strips, spelled out: ``\s`` means other things to other regex engines.
BLANK = r"\t-\r\u001c- \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NAME = rf"^[^\u0000]*[^\u0000{BLANK}][^\u0000]*$"  # not blank, no NUL
POLICY_ID = (
    r"^(?:default|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)


class Whole(validate.Regexp):
    """The whole value matches (``re.match`` lets ``$`` match before a last newline, which
    the document's pattern, read as ECMAScript, refuses)."""

    def __call__(self, value: Any) -> Any:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class JsonBoolean(fields.Boolean):
    """``true`` or ``false`` only (marshmallow's own Boolean takes ``"yes"``, ``1`` ...)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class JsonNumber(fields.Float):
    """A JSON number (``0.8``, ``1``), never a string or a boolean."""

    def _validated(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)  # type: ignore[no-any-return]


def _share(value: float) -> None:
    if not 0 < value < 1:
        raise ValidationError("must be greater than 0 and less than 1")


def _at_most(most: int) -> Any:
    def check(value: dict[str, Any]) -> None:
        if len(value) > most:
            raise ValidationError(f"at most {most}")

    return check


def _choices(values: tuple[str, ...], **kwargs: Any) -> fields.List:
    return fields.List(
        fields.String(validate=validate.OneOf(values)),
        load_default=list,
        validate=validate.Length(max=len(values)),
        **kwargs,
    )


def _names(most: int, length: int, **kwargs: Any) -> fields.List:
    return fields.List(
        fields.String(validate=validate.Length(min=1, max=length)),
        load_default=list,
        validate=validate.Length(max=most),
        **kwargs,
    )


# ---------------------------------------------------------------------- requests
class ConditionsSchema(StrictSchema):
    """Which cases the policy is for: an empty list matches every case; a case matches
    when it matches every list given (`tags`, the case's, and `customer_tags`, its
    customer's: any one of them). A case is matched as it opens (its channel and its
    customer's tags; priority `none`, no tags or team yet) and when a policy is applied
    to it again."""

    channels = _choices(v.CHANNELS, metadata={"description": "the channel the case began on"})
    priorities = _choices(v.PRIORITIES)
    tags = _names(v.MAX_TAGS, 50)
    teams = _names(100, 100)
    customer_tags = _names(v.MAX_TAGS, 50)


class TargetSchema(StrictSchema):
    metric = fields.String(required=True, validate=validate.OneOf(METRICS))
    seconds = WholeNumber(
        required=True,
        validate=validate.Range(min=1, max=MAX_TARGET_SECONDS),
        metadata={"description": "1 second to 366 days"},
    )
    channel = channel_field(
        load_default=None, metadata={"description": "absent: every channel (a named one wins)"}
    )
    priority = fields.String(
        load_default=None,
        validate=validate.OneOf(v.PRIORITIES),
        metadata={"description": "absent: every priority (a named one wins)"},
    )
    business_hours = JsonBoolean(
        load_default=False,
        metadata={"description": "count only the policy's business hours (needs `calendar`)"},
    )


def _periods(**kwargs: Any) -> fields.List:
    return fields.List(
        fields.String(validate=Whole(PERIOD, error="a period such as 09:00-17:00")),
        validate=validate.Length(max=48),
        **kwargs,
    )


class HoursSchema(StrictSchema):
    """Periods per weekday, local time; a day left out is closed."""

    mon = _periods(metadata={"description": "periods HH:MM-HH:MM (24:00 may end one)"})
    tue = _periods()
    wed = _periods()
    thu = _periods()
    fri = _periods()
    sat = _periods()
    sun = _periods()


class CalendarSchema(StrictSchema):
    time_zone = fields.String(
        load_default="UTC",
        validate=[validate.Length(min=1, max=64), Whole(TIME_ZONE)],
        metadata={"description": "an IANA time zone, such as Europe/London (422 if unknown)"},
    )
    hours = fields.Nested(
        HoursSchema, metadata={"description": "absent: open every day round the clock"}
    )
    holidays = fields.List(
        fields.Date(), load_default=list, validate=validate.Length(max=1000),
        metadata={"description": "local dates closed all day"},
    )  # fmt: skip
    holiday_lists = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=HOLIDAY_LIST_NAME)),
        values=fields.List(fields.Date(), validate=validate.Length(max=1000)),
        load_default=dict,
        validate=_at_most(MAX_HOLIDAY_LISTS),  # as maxProperties: a Length would be maxLength
        metadata={
            "description": "named lists of closed dates (a country's public holidays)",
            "maxProperties": MAX_HOLIDAY_LISTS,
        },
    )


class SlaPolicySpecSchema(StrictSchema):
    """A policy as a supervisor writes it: each save is a new version."""

    name = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=200), Whole(NAME, error="must not be blank")],
    )
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    rank = WholeNumber(
        load_default=100,
        validate=validate.Range(min=-MAX_RANK - 1, max=MAX_RANK),
        metadata={"description": "lowest first: the first live policy matching a case applies"},
    )
    conditions = fields.Nested(ConditionsSchema, load_default=dict)
    targets = fields.List(
        fields.Nested(TargetSchema),
        load_default=list,
        validate=validate.Length(max=MAX_TARGETS),
        metadata={"description": "the most specific target for a case's channel and priority"},
    )
    calendar = fields.Nested(
        CalendarSchema,
        load_default=None,
        allow_none=True,
        metadata={"description": "the business hours that targets with business_hours run in"},
    )
    at_risk_share = JsonNumber(
        load_default=DEFAULT_AT_RISK_SHARE,
        validate=_share,  # apispec writes a Range's bounds as inclusive whatever it says
        metadata={
            "description": "a case is at risk once this share of its target is gone",
            "exclusiveMinimum": 0,
            "exclusiveMaximum": 1,
        },
    )
    count_automated_replies = JsonBoolean(
        load_default=False,
        metadata={"description": "whether replies nobody typed (an integration's) count"},
    )
    notify = fields.List(
        fields.String(
            validate=[
                validate.Length(min=3, max=320),
                Whole(EMAIL, error="an e-mail address"),
            ]
        ),
        load_default=list,
        validate=validate.Length(max=MAX_NOTIFY),
        metadata={"description": "who hears of a breach (e-mail addresses)"},
    )


class SlaPolicyListArgsSchema(StrictSchema):
    include_retired = fields.Boolean(
        load_default=False, metadata={"description": "also the retired ones (listed last)"}
    )


class ReapplySlaSchema(StrictSchema):
    """Neither field: the policy the rules choose for the case as it is now."""

    policy_id = fields.String(
        validate=Whole(POLICY_ID, error="a policy's id, or default"),
        metadata={"description": "the policy to apply (`default`: the built-in one)"},
    )
    version = WholeNumber(
        validate=validate.Range(min=0, max=MAX_RANK),
        metadata={"description": "with policy_id: that version (default: its latest)"},
    )

    @validates_schema
    def version_of_a_policy(self, data: dict[str, Any], **kwargs: object) -> None:
        if "version" in data and "policy_id" not in data:
            raise ValidationError("give the policy_id the version is of", field_name="version")


# ---------------------------------------------------------------------- answers
class ConditionsViewSchema(Schema):
    channels = fields.List(fields.String())
    priorities = fields.List(fields.String())
    tags = fields.List(fields.String())
    teams = fields.List(fields.String())
    customer_tags = fields.List(fields.String())


class TargetViewSchema(Schema):
    metric = fields.String()
    seconds = fields.Integer()
    channel = fields.String(allow_none=True)
    priority = fields.String(allow_none=True)
    business_hours = fields.Boolean()


class CalendarViewSchema(Schema):
    time_zone = fields.String()
    hours = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "absent: round the clock"},
    )
    holidays = fields.List(fields.String(metadata={"format": "date"}))
    holiday_lists = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String(metadata={"format": "date"}))
    )


class SlaPolicySchema(Schema):
    """One version of a policy."""

    id = fields.UUID()
    version = fields.Integer(metadata={"description": "the policy's version (its ETag)"})
    name = fields.String()
    description = fields.String()
    rank = fields.Integer()
    conditions = fields.Nested(ConditionsViewSchema)
    targets = fields.List(fields.Nested(TargetViewSchema))
    calendar = fields.Nested(CalendarViewSchema, allow_none=True)
    at_risk_share = fields.Float()
    count_automated_replies = fields.Boolean()
    notify = fields.List(fields.String())
    retired = fields.Boolean(metadata={"description": "applies to no new case"})
    created_at = fields.DateTime()
    created_by = fields.String()
    updated_at = fields.DateTime(metadata={"description": "when this version was saved"})
    updated_by = fields.String()


class SlaPolicyWrittenSchema(SlaPolicySchema):
    position = fields.Integer(
        allow_none=True, metadata={"description": "global position of the write's last event"}
    )


class SlaPolicyPageSchema(Schema):
    items = fields.List(fields.Nested(SlaPolicySchema))
    next_cursor = fields.String(allow_none=True, metadata={"description": "always null: one page"})


class SlaPinSchema(Schema):
    """The policy a case was promised, as pinned on it."""

    id = fields.String(metadata={"description": "the policy's id, or `default` (built in)"})
    version = fields.Integer(metadata={"description": "0 for the built-in policy"})
    name = fields.String()
    applied_at = fields.DateTime(allow_none=True)
    reason = fields.String(
        metadata={
            "description": "rules (chosen when the case opened), reapplied (by a "
            "supervisor), or built-in (a case opened before policies existed)"
        }
    )


class SlaBreachSchema(Schema):
    metric = fields.String(metadata={"description": "first_response, next_response, resolution"})
    seq = fields.Integer(metadata={"description": "which wait of the case (1: the first)"})
    deadline = fields.DateTime()
    detected_at = fields.DateTime()


class ConversationSlaSchema(Schema):
    policy = fields.Nested(SlaPinSchema)
    breaches = fields.List(fields.Nested(SlaBreachSchema))
