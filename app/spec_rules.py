"""Rules the server enforces that marshmallow's schemas do not state by themselves,
written into the OpenAPI document so that what it calls valid, the server accepts.

- No string may hold a NUL character (PostgreSQL text cannot): every string property and
  parameter without a pattern of its own gets one that excludes it.
- Whole-object rules a ``@validates_schema`` method (or the domain) enforces: an
  assignment names something, an opening names its customer, an identity's value fits
  its kind, an SLA target in business hours has a calendar to run in, a calendar is
  open some time, a version is a named policy's, an incident's revision names a change.
"""

from __future__ import annotations

from typing import Any

from apispec import BasePlugin
from marshmallow import fields

from app.schemas.sla import HOLIDAY_LIST_NAME
from domain import values as v
from domain.business_hours import WEEKDAYS

NO_NUL = "^[^\\u0000]*$"
VARIABLE_NAME = "^[_A-Za-z][_A-Za-z0-9]{0,99}$"  # a string.Template identifier


def no_nul(converter: Any, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    """A field converter attribute function (apispec binds it to its converter)."""
    plain_string = isinstance(field, fields.String) and not isinstance(field, fields.UUID)
    if plain_string and "pattern" not in field.metadata and not _has_choices(field):
        return {"pattern": NO_NUL}
    return {}


def _has_choices(field: fields.Field) -> bool:
    from marshmallow.validate import OneOf, Regexp

    return any(isinstance(rule, OneOf | Regexp) for rule in field.validators)


def _identity_rules() -> dict[str, Any]:
    return {
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"properties": {"value": {"pattern": f"^(?:{pattern})$"}}},
            }
            for kind, (pattern, _) in v.IDENTITY_PATTERNS.items()
        ]
    }


# A target counted in business hours needs the policy's calendar.
_BUSINESS_HOURS_NEED_A_CALENDAR = {
    "if": {
        "properties": {
            "targets": {
                "contains": {
                    "properties": {"business_hours": {"const": True}},
                    "required": ["business_hours"],
                }
            }
        },
        "required": ["targets"],
    },
    "then": {"required": ["calendar"], "properties": {"calendar": {"type": "object"}}},
}

_LIST_NAME = {"minLength": 1, "maxLength": HOLIDAY_LIST_NAME, "pattern": NO_NUL}

RULES: dict[str, dict[str, Any]] = {
    "Assignment": {"minProperties": 1},
    "ReviseIncident": {"minProperties": 1},  # a revision changes something
    "OpenConversation": {"anyOf": [{"required": ["customer_id"]}, {"required": ["identity"]}]},
    "Identity": _identity_rules(),
    "AddIdentity": _identity_rules(),
    "SlaPolicySpec": _BUSINESS_HOURS_NEED_A_CALENDAR,
    # A calendar is open some time: its hours name at least one day with a period.
    "Hours": {
        "anyOf": [{"required": [day], "properties": {day: {"minItems": 1}}} for day in WEEKDAYS]
    },
    # The names of holiday lists (apispec writes no propertyNames of a Dict's keys).
    "Calendar": {"allOf": [{"properties": {"holiday_lists": {"propertyNames": _LIST_NAME}}}]},
    # A version is a named policy's; the built-in policy has version 0 only.
    # A reply's text, or a canned response to render (its variables only with it).
    "QueueReply": {
        "oneOf": [{"required": ["body"]}, {"required": ["canned_response_id"]}],
        "dependentRequired": {"variables": ["canned_response_id"]},
        "allOf": [{"properties": {"variables": {"propertyNames": {"pattern": VARIABLE_NAME}}}}],
    },
    # A classifier rule looks for something; a routing rule sets something.
    "ClassifierRule": {
        "anyOf": [
            {"required": ["keywords"], "properties": {"keywords": {"minItems": 1}}},
            {"required": ["pattern"], "properties": {"pattern": {"type": "string"}}},
        ]
    },
    "RoutingRule": {
        "anyOf": [
            {"required": ["team"], "properties": {"team": {"type": "string"}}},
            {"required": ["priority"], "properties": {"priority": {"type": "string"}}},
        ]
    },
    "ReapplySla": {
        "dependentRequired": {"version": ["policy_id"]},
        "if": {"properties": {"policy_id": {"const": "default"}}, "required": ["policy_id"]},
        "then": {"properties": {"version": {"const": 0}}},
    },
}


class RulesPlugin(BasePlugin):
    """Adds :data:`RULES` to the named schema components as they are registered."""

    def schema_helper(self, name: str, definition: Any, **kwargs: Any) -> dict[str, Any] | None:
        return RULES.get(name)
