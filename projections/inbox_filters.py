"""The inbox's filters: the SQL each one reads through, and the counts kept for them.

Every filter ``GET /v1/inbox`` offers has an index that starts with the filter's own
column(s), then ``status`` and the inbox's order (``sort_due, sort_waiting,
conversation_id``): a page of one status under one filter is one index range read in
order, stopped by the LIMIT. Several statuses are one such range each, merged (at most
``limit + 1`` rows from each). A tag's page is read off ``inbox_tags``, which carries
the row's status and sort keys for the same reason.

Counts per status: with no filter, one filter, or channel + awaiting, they come from
kept counts (``inbox_counts``, ``inbox_filter_counts``), moved by the projection in the
same transaction as the rows. Other combinations are counted up to ``COUNT_BOUND`` and
say so (``exact: false``): an exact count of a million resolved cases is a scan.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

COUNT_BOUND = 100  # counts not kept are counted up to here, then reported as "more"
ORDER = ("sort_due", "sort_waiting", "conversation_id")
# filter -> the column it compares (equality); assigned, sla and tag are special.
COLUMNS = {"assignee": "assignee", "team": "team", "channel": "current_channel",
           "priority": "priority", "awaiting": "awaiting", "classification": "classification",
           "follow_up_owed": "follow_up_owed"}  # fmt: skip
FILTERS = (*COLUMNS, "assigned", "sla", "tag")
SLA_TERMS = {
    "breached": "i.sla_breached = 1",
    "at_risk": "i.sla_breached = 0 AND i.sla_at_risk = 1",
    "ok": "i.sla_breached = 0 AND i.sla_at_risk = 0",
}
KEPT_PAIRS = (("awaiting", "channel"),)  # combinations with kept counts (sorted names)

_SORTED = "status, sort_due, sort_waiting, conversation_id"
# The inbox's indexes, one per filter (DDL templates of projections.base.Projection).
INDEXES = [
    f"CREATE INDEX {{t}}_status_{{g}} ON {{t}} ({_SORTED})",
    f"CREATE INDEX {{t}}_assignee_{{g}} ON {{t}} (assignee, {_SORTED})",
    f"CREATE INDEX {{t}}_assigned_{{g}} ON {{t}} ({_SORTED}) WHERE assignee IS NOT NULL",
    f"CREATE INDEX {{t}}_unassigned_{{g}} ON {{t}} ({_SORTED}) WHERE assignee IS NULL",
    f"CREATE INDEX {{t}}_team_{{g}} ON {{t}} (team, {_SORTED})",
    f"CREATE INDEX {{t}}_channel_{{g}} ON {{t}} (current_channel, {_SORTED})",
    f"CREATE INDEX {{t}}_chawait_{{g}} ON {{t}} (current_channel, awaiting, {_SORTED})",
    f"CREATE INDEX {{t}}_awaiting_{{g}} ON {{t}} (awaiting, {_SORTED})",
    f"CREATE INDEX {{t}}_priority_{{g}} ON {{t}} (priority, {_SORTED})",
    f"CREATE INDEX {{t}}_breached_{{g}} ON {{t}} ({_SORTED}) WHERE sla_breached = 1",
    f"CREATE INDEX {{t}}_sla_{{g}} ON {{t}} (sla_breached, sla_at_risk, {_SORTED})",
    f"CREATE INDEX {{t}}_owed_{{g}} ON {{t}} (follow_up_owed, {_SORTED})",
    f"CREATE INDEX {{t}}_class_{{g}} ON {{t}} (classification, {_SORTED})",
]
TAG_INDEX = f"CREATE INDEX {{t}}_order_{{g}} ON {{t}} (tag, {_SORTED})"


def given(filters: dict[str, Any]) -> dict[str, Any]:
    """The filters set (status, paging and the like left out)."""
    return {k: filters[k] for k in FILTERS if filters.get(k) is not None and filters[k] != ""}


def where(filters: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """SQL terms on ``proj_inbox i`` for every filter but the tag (read through its own
    table: see ``page_sql``)."""
    terms: list[str] = []
    params: list[Any] = []
    for name, column in COLUMNS.items():
        if name in filters:
            terms.append(f"i.{column} = ?")
            value = filters[name]
            params.append(int(value) if isinstance(value, bool) else value)
    if "assigned" in filters:
        terms.append("i.assignee IS NOT NULL" if filters["assigned"] else "i.assignee IS NULL")
    if "sla" in filters:
        terms.append(SLA_TERMS[filters["sla"]])
    return terms, params


def page_sql(
    filters: dict[str, Any], status: str, after: list[str] | None, limit: int,
    columns: str = "i.*",
) -> tuple[str, list[Any]]:  # fmt: skip
    """One status's page: an index range in the inbox's order, ``limit`` rows at most, of
    ``columns`` (of ``proj_inbox i``)."""
    terms, params = where(filters)
    if "tag" in filters:
        # CROSS JOIN keeps SQLite's join order: the tag's index range drives the page.
        source, key = "proj_inbox_tags t CROSS JOIN proj_inbox i", "t"
        head = ["t.tag = ?", "t.status = ?", "i.conversation_id = t.conversation_id"]
        head_params = [filters["tag"], status]
    else:
        source, key, head, head_params = "proj_inbox i", "i", ["i.status = ?"], [status]
    order = ", ".join(f"{key}.{c}" for c in ORDER)
    if after is not None:
        head.append(f"({order}) > (?, ?, ?)")
        head_params += after
    sql = f"SELECT {columns} FROM {source} WHERE {' AND '.join(head + terms)} ORDER BY {order} LIMIT ?"
    return sql, [*head_params, *params, limit]


def merged_page_sql(
    filters: dict[str, Any], statuses: list[str], after: list[str] | None, limit: int,
    columns: str = "i.*",
) -> tuple[str, list[Any]]:  # fmt: skip
    """Several statuses: each one's range (``limit`` rows at most), merged in order."""
    if len(statuses) == 1:
        return page_sql(filters, statuses[0], after, limit, columns)
    parts, params = [], []
    for n, status in enumerate(statuses):
        sql, part_params = page_sql(filters, status, after, limit, columns)
        parts.append(f"SELECT * FROM ({sql}) s{n}")
        params += part_params
    return f"{' UNION ALL '.join(parts)} ORDER BY {', '.join(ORDER)} LIMIT ?", [*params, limit]


def kept_key(filters: dict[str, Any]) -> str | None:
    """The key of the kept counts for these filters ("" for none), or None: not kept."""
    names = tuple(sorted(filters))
    if len(names) > 1 and names not in KEPT_PAIRS:
        return None
    return "&".join(f"{n}={_value(filters[n])}" for n in names)


def bounded_counts_sql(
    filters: dict[str, Any], statuses: tuple[str, ...], bound: int = COUNT_BOUND
) -> tuple[str, list[Any]]:
    """Each status's count up to ``bound + 1`` (more than the bound: not exact); each one
    an index range of the filters, stopped there."""
    parts, params = [], []
    for n, status in enumerate(statuses):
        sql, part_params = page_sql(filters, status, None, bound + 1)
        inner = sql.replace("SELECT i.*", "SELECT 1 AS one", 1)
        parts.append(f"SELECT ? AS status, COUNT(*) AS n FROM ({inner}) c{n}")
        params += [status, *part_params]
    return " UNION ALL ".join(parts), params


def count_keys(row: dict[str, Any]) -> Iterator[str]:
    """The kept-count keys a row counts under (besides its status alone)."""
    channel, awaiting = row["current_channel"], row["awaiting"]
    yield f"channel={channel}"
    yield f"awaiting={awaiting}"
    yield f"awaiting={awaiting}&channel={channel}"
    yield f"priority={row['priority']}"
    yield f"assigned={_value(row['assignee'] is not None)}"
    yield f"sla={sla_state(row)}"
    yield f"follow_up_owed={_value(bool(row['follow_up_owed']))}"
    for name in ("assignee", "team", "classification"):
        if row[name] is not None:
            yield f"{name}={row[name]}"
    for tag in json.loads(row["tags"]):
        yield f"tag={tag}"


def sla_state(row: dict[str, Any]) -> str:
    """``breached`` (a breach on record), ``at_risk`` (a warning, no breach) or ``ok``."""
    return "breached" if row["sla_breached"] else "at_risk" if row["sla_at_risk"] else "ok"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
