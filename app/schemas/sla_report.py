"""``GET /v1/sla/report``: its query and its answer (projections/sla_report.py computes it).

The period is ``[from, to)``; either may be left out: ``to`` is then now, ``from`` seven
days before ``to``. A policy restates the figures under its terms (its latest version,
or ``version``); a version without a policy is refused, naming ``version``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.schemas.common import UTCDateTime
from app.schemas.readmodels import MinPositionArgs, ProjectionMetaSchema
from app.schemas.sla import MAX_RANK, POLICY_ID, Whole
from projections.sla_report import FIRST_RESPONSE_KINDS, GROUPINGS


class SlaReportArgsSchema(MinPositionArgs):
    start = UTCDateTime(
        data_key="from",
        metadata={"description": "ISO 8601: the period's start, included (default: `to` - 7 days)"},
    )
    end = UTCDateTime(
        data_key="to",
        metadata={"description": "ISO 8601: the period's end, excluded (default: now)"},
    )
    group_by = fields.String(
        load_default="none",
        validate=validate.OneOf(GROUPINGS),
        metadata={"description": "one group per value (`policy`: per `id@version`); "
                  "`none`: one group, `all`"},
    )  # fmt: skip
    policy = fields.String(
        validate=Whole(POLICY_ID, error="a policy's id, or default"),
        metadata={"description": "restate the figures under this policy (`default`: the "
                  "built-in one) as if it had applied to every case from the start"},
    )  # fmt: skip
    version = fields.Integer(
        validate=validate.Range(min=0, max=MAX_RANK),
        metadata={"description": "with `policy`: that version (default: its latest)"},
    )

    @validates_schema
    def a_period_and_a_policys_version(self, data: dict[str, Any], **kwargs: object) -> None:
        if "version" in data and "policy" not in data:
            raise ValidationError("give the policy the version is of", field_name="version")
        if "start" in data and "end" in data and data["start"] >= data["end"]:
            raise ValidationError("from must be before to", field_name="from")


class ReportPeriodSchema(Schema):
    start = fields.DateTime(metadata={"description": "included"})
    end = fields.DateTime(metadata={"description": "excluded"})
    membership = fields.String(
        metadata={"description": "a measurement is in the period it ended in"}
    )


def _seconds(description: str) -> fields.Float:
    return fields.Float(allow_none=True, metadata={"description": description})


class MetricFiguresSchema(Schema):
    count = fields.Integer(metadata={"description": "measurements that ended in the period"})
    met = fields.Integer(metadata={"description": "within their target"})
    missed = fields.Integer(metadata={"description": "over their target"})
    breaches_recorded = fields.Integer(
        metadata={"description": "with a breach on record (a late response does not undo it)"}
    )
    breached = fields.Integer(metadata={"description": "missed, or with a breach recorded"})
    without_target = fields.Integer(metadata={"description": "no target applied to them"})
    within_target_share = fields.Float(
        allow_none=True, metadata={"description": "met / (met + missed); null without either"}
    )
    median_seconds = _seconds("nearest-rank median, on the policy's clock")
    p90_seconds = _seconds("nearest-rank 90th percentile, on the policy's clock")


class ResponseKindFiguresSchema(Schema):
    count = fields.Integer()
    met = fields.Integer()
    median_seconds = _seconds("nearest-rank median")


ByResponseSchema = Schema.from_dict(
    {kind: fields.Nested(ResponseKindFiguresSchema) for kind in FIRST_RESPONSE_KINDS},
    name="ByResponseSchema",
)


class FirstResponseFiguresSchema(MetricFiguresSchema):
    by_response = fields.Nested(
        ByResponseSchema,
        metadata={"description": "first responses by kind: acknowledgements apart from answers"},
    )


class GroupFiguresSchema(Schema):
    first_response = fields.Nested(FirstResponseFiguresSchema)
    next_response = fields.Nested(MetricFiguresSchema)
    resolution = fields.Nested(MetricFiguresSchema)


def _groups() -> fields.Dict:
    return fields.Dict(
        keys=fields.String(),
        values=fields.Nested(GroupFiguresSchema),
        metadata={"description": "by group: a channel, agent, team, priority, `id@version` "
                  "or `all`; `(none)` for measurements without an agent or team"},
    )  # fmt: skip


class ContractualSchema(Schema):
    groups = _groups()


class RestatingPolicySchema(Schema):
    id = fields.String()
    version = fields.Integer()
    name = fields.String()


class RestatedSchema(Schema):
    policy = fields.Nested(RestatingPolicySchema)
    groups = _groups()


class FollowUpCountsSchema(Schema):
    resolved_elsewhere = fields.Integer(
        metadata={"description": "cases resolved in the period that began in public and were"
                  " resolved on another channel"}
    )  # fmt: skip
    followed_up = fields.Integer(
        metadata={"description": "of those, followed up in public where they began (delivered)"}
    )
    owed = fields.Integer(metadata={"description": "of those, resolved without one so far"})


class SlaReportSchema(Schema):
    period = fields.Nested(ReportPeriodSchema)
    group_by = fields.String()
    contractual = fields.Nested(
        ContractualSchema,
        metadata={"description": "each case under the terms it was promised (the sla view)"},
    )
    restated = fields.Nested(
        RestatedSchema,
        allow_none=True,
        metadata={"description": "with `policy`: every case under that policy, from the "
                  "log (null without `policy`)"},
    )  # fmt: skip
    follow_up = fields.Nested(
        FollowUpCountsSchema,
        metadata={"description": "the public follow-up the care playbook asks for (inbox view)"},
    )
    projection = fields.Nested(ProjectionMetaSchema)
