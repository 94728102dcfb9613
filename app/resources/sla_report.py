"""``GET /v1/sla/report``: a period's SLA figures, as promised and (on request) restated.

The contractual figures come from the ``sla`` read model (each case under the terms it
was promised); with ``policy`` the same period is restated from the log as if that
policy had applied to every case from the start, and shown beside them. A restatement
is a pass over the whole log: every role that reads may ask for one, as for the
policies themselves, but it takes seconds on a big log, not milliseconds.
"""

from __future__ import annotations

from typing import Any

from app.apidoc import Blueprint
from app.auth import requires
from app.errors import RequestFieldError
from app.readside import catch_up, headers_for, read_store
from app.schemas import sla_report as s
from app.state import application
from domain.access import READ
from projections.sla_report import (
    contractual_report,
    follow_up_counts,
    period,
    restated_report,
    week_before,
)

blp = Blueprint(
    "sla report",
    __name__,
    url_prefix="/v1/sla",
    description="SLA figures for a period: as promised, and restated under a policy.",
)


@blp.route("/report", methods=["GET"])
@requires(READ)
@blp.arguments(s.SlaReportArgsSchema, location="query")
@blp.read(
    "getSlaReport",
    s.SlaReportSchema,
    headers=("Parley-Projection-Position", "Parley-Projection-Lag"),
    problems=(401, 403, 404, 422, 503),
)
def sla_report(args: dict[str, Any]) -> Any:
    """SLA figures of measurements that ended in [from, to), per group and metric

    `contractual`: each case under the terms it was promised. With `policy`,
    `restated`: the same period recomputed from the log under that policy (a pass over
    the whole log). Percentiles are nearest-rank; times on the policy's clock.
    """
    end = args.get("end") or application().clock()
    start = args.get("start") or week_before(end)
    if start >= end:
        raise RequestFieldError("from", "query", "from must be before to")
    group_by = args["group_by"]
    restated = None
    if "policy" in args:  # first: an unknown policy is a 404 before anything is read
        restated = restated_report(
            application(), start, end, group_by, args["policy"], args.get("version")
        )
    meta = catch_up("sla", args.get("min_position"))
    body = {
        "period": period(start, end),
        "group_by": group_by,
        "contractual": {"groups": contractual_report(read_store(), start, end, group_by)},
        "restated": restated,
        "follow_up": follow_up_counts(read_store(), start, end),
        "projection": meta,
    }
    return body, 200, headers_for(meta)
