"""The care policy's rules as a supervisor writes them, and as every role reads them.

The request schemas refuse what they can say (unknown fields, a label, channel or
priority outside the vocabulary, lengths); the rest is the domain's
(``domain.care_rules``): a pattern that is no regular expression, a rule with neither
keywords nor a pattern, two rules of one name, a routing rule that sets nothing. Either
way the answer is a 422 naming the field (``classifier.rules.0.pattern``).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from app.schemas.canned import CannedResponseSchema
from app.schemas.common import StrictSchema, channel_field
from app.schemas.roster import TeamRosterSchema
from app.schemas.sla import NAME, SlaPolicySchema, Whole
from domain import values as v
from domain.care_rules import LABELS, MAX_RULES, NAME_MAX, OTHER, PATTERN_MAX, TEAM_MAX
from domain.incident import KEYWORD_MAX, MAX_KEYWORDS


def _name(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=[validate.Length(min=1, max=NAME_MAX), Whole(NAME, error="must not be blank")],
        **kwargs,
    )


def _keywords() -> fields.List:
    return fields.List(
        fields.String(validate=validate.Length(min=1, max=KEYWORD_MAX)),
        load_default=list,
        validate=validate.Length(max=MAX_KEYWORDS),
        metadata={
            "description": "whole words or phrases, case-folded: any one matches (each needs "
            "a letter or digit)"
        },
    )


def _channels() -> fields.List:
    return fields.List(
        channel_field(),
        load_default=list,
        validate=validate.Length(max=len(v.CHANNELS)),
        metadata={"description": "only messages on these channels (empty: any)"},
    )


def _label(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.OneOf(LABELS), **kwargs)


# ---------------------------------------------------------------------- requests
class ClassifierRuleSchema(StrictSchema):
    """A rule matches when a keyword or the pattern is found (on its channels)."""

    name = _name(required=True)
    label = _label(required=True)
    keywords = _keywords()
    pattern = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=PATTERN_MAX),
        metadata={"description": "a regular expression (Python's), searched ignoring case"},
    )
    channels = _channels()


class ClassifierSchema(StrictSchema):
    rules = fields.List(
        fields.Nested(ClassifierRuleSchema),
        load_default=list,
        validate=validate.Length(max=MAX_RULES),
        metadata={"description": "tried in order: the first that matches gives the label"},
    )
    default = _label(load_default=OTHER, metadata={"description": "the label when no rule matches"})


class RoutingRuleSchema(StrictSchema):
    """A rule matches when every list given matches (an empty one matches anything)."""

    name = _name(required=True)
    keywords = _keywords()
    channels = _channels()
    classifications = fields.List(
        _label(),
        load_default=list,
        validate=validate.Length(max=len(LABELS)),
        metadata={"description": "the message's label is one of these"},
    )
    customer_tags = fields.List(
        fields.String(validate=validate.Length(min=1, max=50)),
        load_default=list,
        validate=validate.Length(max=v.MAX_TAGS),
        metadata={"description": "the customer has one of these tags"},
    )
    team = fields.String(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(min=1, max=TEAM_MAX), Whole(NAME, error="must not be blank")],
        metadata={"description": "the team the case goes to"},
    )
    priority = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(v.PRIORITIES)
    )


class CareRulesSchema(StrictSchema):
    """The care policy's rules, whole: each save is the policy's next version."""

    classifier = fields.Nested(ClassifierSchema, load_default=dict)
    routing = fields.List(
        fields.Nested(RoutingRuleSchema),
        load_default=list,
        validate=validate.Length(max=MAX_RULES),
        metadata={"description": "tried in order: the first that matches routes the case"},
    )


# ---------------------------------------------------------------------- answers
class ClassifierRuleViewSchema(Schema):
    name = fields.String()
    label = fields.String()
    keywords = fields.List(fields.String())
    pattern = fields.String(allow_none=True)
    channels = fields.List(fields.String())


class ClassifierViewSchema(Schema):
    rules = fields.List(fields.Nested(ClassifierRuleViewSchema))
    default = fields.String()


class RoutingRuleViewSchema(Schema):
    name = fields.String()
    keywords = fields.List(fields.String())
    channels = fields.List(fields.String())
    classifications = fields.List(fields.String())
    customer_tags = fields.List(fields.String())
    team = fields.String(allow_none=True)
    priority = fields.String(allow_none=True)


class CareRulesViewSchema(Schema):
    """One version of the rules (version 0: none saved yet; nothing is classified)."""

    version = fields.Integer(metadata={"description": "the care policy's version (its ETag)"})
    classifier = fields.Nested(ClassifierViewSchema)
    routing = fields.List(fields.Nested(RoutingRuleViewSchema))
    updated_at = fields.DateTime(allow_none=True, metadata={"description": "when it was saved"})
    updated_by = fields.String(allow_none=True)


class CareRulesWrittenSchema(CareRulesViewSchema):
    position = fields.Integer(
        allow_none=True, metadata={"description": "global position of the write's last event"}
    )


class CareRulesPageSchema(Schema):
    items = fields.List(fields.Nested(CareRulesViewSchema))
    next_cursor = fields.String(allow_none=True, metadata={"description": "always null: one page"})


class ClassificationSchema(Schema):
    """What the care policy's classifier made of a message."""

    label = fields.String(metadata={"description": "praise, complaint, question or other"})
    rule = fields.String(
        allow_none=True, metadata={"description": "the rule that matched; null: the default"}
    )
    position = fields.Integer(allow_none=True, metadata={"description": "1: the first rule"})
    policy_version = fields.Integer(metadata={"description": "the care policy's version"})
    classified_at = fields.DateTime()


class RoutedSchema(Schema):
    """The routing rule that last set the case's team or priority."""

    message_id = fields.UUID()
    rule = fields.String()
    position = fields.Integer()
    policy_version = fields.Integer()
    team = fields.String(allow_none=True, metadata={"description": "null: left as it was"})
    priority = fields.String(allow_none=True, metadata={"description": "null: left as it was"})
    routed_at = fields.DateTime()


class CareSlaSchema(Schema):
    policies = fields.List(
        fields.Nested(SlaPolicySchema),
        metadata={"description": "the live SLA policies, in the order they apply"},
    )
    default = fields.Nested(
        SlaPolicySchema, metadata={"description": "the built-in policy (no id, version 0)"}
    )


class CannedTeamSchema(Schema):
    team = fields.String()
    responses = fields.List(fields.Nested(CannedResponseSchema))


class CarePolicyDocumentSchema(Schema):
    """The care policy, whole: the rules, the SLA promises, the canned responses."""

    version = fields.Integer(metadata={"description": "the care policy's version (0: none yet)"})
    updated_at = fields.DateTime(allow_none=True)
    updated_by = fields.String(allow_none=True)
    classifier = fields.Nested(ClassifierViewSchema)
    routing = fields.List(fields.Nested(RoutingRuleViewSchema))
    sla = fields.Nested(CareSlaSchema)
    rosters = fields.List(
        fields.Nested(TeamRosterSchema),
        metadata={"description": "the rosters of the teams routing names, in its order"},
    )
    canned_responses = fields.List(
        fields.Nested(CannedTeamSchema), metadata={"description": "by team, in team order"}
    )
