"""SLA reports: figures per group and metric for a period, as recorded and as restated.

Both reports read the same thing, measurements (``domain.sla_clock.Measurement``, one
row per metric measured, in the shape of ``proj_sla_measurements``), and run them
through the same :func:`summarize`, so they can be set side by side:

- the **contractual** report reads the ``sla`` projection's table: each case measured
  against the terms it was promised (the ``SlaApplied``/``Opened`` events say which);
- a **restated** report folds every case's events again with ``SlaClock`` under the
  terms of one policy version (``override``), as if that policy had applied to every
  case from the start. The events are the same, so only the targets differ: recorded
  breaches stay as recorded (the log holds them), but ``met``/``missed`` follow the
  restated targets.

**Period membership.** A measurement belongs to the period it *ended* in: ``ended_at``
in ``[start, end)``. A first response given on Tuesday to a case opened on Monday is
Tuesday's; a resolution counts when the case was (last) resolved. A period's figures
only change when a measurement in it is made again (a reopened case resolved later
moves its resolution to the later period) or a breach is recorded on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.sla_clock import Measurement, SlaClock
from domain.sla_terms import FIRST_RESPONSE, METRICS
from projections.db import ReadStore, timestamp

TABLE = "proj_sla_measurements"  # the sla projection's (version 4) table: a contract
GROUPINGS = ("none", "channel", "agent", "team", "priority", "policy")
ALL = "all"  # the one group of group_by=none
NO_VALUE = "(none)"  # the group of measurements without an agent or a team
FIRST_RESPONSE_KINDS = ("acknowledgement", "answer", "call", "follow_up")
COLUMNS = (
    "conversation_id", "metric", "seq", "started_at", "ended_at", "seconds", "wall_seconds",
    "target_seconds", "met", "deadline", "breached", "response", "channel", "priority",
    "agent", "team", "policy_id", "policy_version", "position",
)  # fmt: skip
DEFAULT_DAYS = 7  # a period without a start: the week before its end
SUMMARIZED = (
    "metric", "seconds", "met", "breached", "response", "channel", "priority", "agent",
    "team", "policy_id", "policy_version",
)  # fmt: skip
PAGE = 5000  # notifications read per page by a restatement

Row = Mapping[str, Any]
Progress = Callable[[int, int], None]  # (position reached, head)


# ---------------------------------------------------------------------- figures
def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least ``p`` percent of
    the values at or below it (``sorted_values[ceil(p/100 * n) - 1]``). Always one of
    the values measured, never an interpolation, so a report of 2 responses has a
    median of the faster one; ``None`` without values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _figures(rows: Sequence[Row]) -> dict[str, Any]:
    seconds = sorted(float(r["seconds"]) for r in rows)
    met = sum(1 for r in rows if r["met"] is not None and bool(r["met"]))
    missed = sum(1 for r in rows if r["met"] is not None and not r["met"])
    recorded = sum(1 for r in rows if r["breached"])
    either = sum(1 for r in rows if r["breached"] or (r["met"] is not None and not r["met"]))
    return {
        "count": len(rows),
        "met": met,
        "missed": missed,
        "breaches_recorded": recorded,
        "breached": either,
        "without_target": len(rows) - met - missed,
        "within_target_share": _share(met, met + missed),
        "median_seconds": percentile(seconds, 50),
        "p90_seconds": percentile(seconds, 90),
    }


def _by_response(rows: Sequence[Row]) -> dict[str, Any]:
    """First responses by kind: an acknowledgement is a first response (the rulebook),
    so the report shows how many were only that, and how fast each kind came."""
    out = {}
    for kind in FIRST_RESPONSE_KINDS:
        chosen = [r for r in rows if r["response"] == kind]
        seconds = sorted(float(r["seconds"]) for r in chosen)
        out[kind] = {
            "count": len(chosen),
            "met": sum(1 for r in chosen if r["met"] is not None and bool(r["met"])),
            "median_seconds": percentile(seconds, 50),
        }
    return out


def group_of(row: Row, group_by: str) -> str:
    """The group a measurement falls in; ``policy`` groups by ``id@version``."""
    if group_by == "none":
        return ALL
    if group_by == "policy":
        return f"{row['policy_id']}@{row['policy_version']}"
    value = row[group_by]
    return NO_VALUE if value is None else str(value)


def summarize(measurements: Iterable[Row], group_by: str = "none") -> dict[str, Any]:
    """Figures per group, each with every metric (zero counts included):

    ``count``; ``met`` and ``missed`` against the measurement's own target (``met`` is
    ``None`` without one: ``without_target``); ``breaches_recorded``, the breaches the
    log holds (a late response cannot undo one); ``breached``, measurements missed or
    with a breach recorded; ``within_target_share`` = met / (met + missed);
    ``median_seconds`` and ``p90_seconds`` (nearest rank, :func:`percentile`) on the
    policy's clock (business hours where the target runs in them). ``first_response``
    also splits by ``response`` kind (``by_response``). Without measurements,
    ``group_by=none`` still answers its one group, ``all``.
    """
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by is one of {', '.join(GROUPINGS)}")
    groups: dict[str, dict[str, list[Row]]] = {}
    if group_by == "none":
        groups[ALL] = {}
    for row in measurements:
        groups.setdefault(group_of(row, group_by), {}).setdefault(row["metric"], []).append(row)
    out: dict[str, Any] = {}
    for name in sorted(groups):
        per_metric = {}
        for metric in METRICS:
            rows = groups[name].get(metric, [])
            per_metric[metric] = _figures(rows)
            if metric == FIRST_RESPONSE:
                per_metric[metric]["by_response"] = _by_response(rows)
        out[name] = per_metric
    return out


# ---------------------------------------------------------------------- rows
def measurement_row(conversation_id: str, m: Measurement, position: int) -> dict[str, Any]:
    """A measurement as ``proj_sla_measurements`` holds it (times as fixed-width UTC
    text, booleans as 1/0)."""
    return {
        "conversation_id": conversation_id, "metric": m.metric, "seq": m.seq,
        "started_at": timestamp(m.started_at), "ended_at": timestamp(m.ended_at),
        "seconds": m.seconds, "wall_seconds": m.wall_seconds,
        "target_seconds": m.target_seconds, "met": None if m.met is None else int(m.met),
        "deadline": timestamp(m.deadline), "breached": int(m.breached),
        "response": m.response, "channel": m.channel, "priority": m.priority,
        "agent": m.agent, "team": m.team, "policy_id": m.policy_id,
        "policy_version": m.policy_version, "position": position,
    }  # fmt: skip


def in_period(rows: Iterable[Row], start: datetime, end: datetime) -> list[Row]:
    """The measurements that ended in ``[start, end)``."""
    low, high = timestamp(start), timestamp(end)
    assert low is not None and high is not None
    return [r for r in rows if low <= r["ended_at"] < high]


def week_before(end: datetime) -> datetime:
    """A report's default start: seven days before ``end`` (or the first moment there is)."""
    try:
        return end - timedelta(days=DEFAULT_DAYS)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def period(start: datetime, end: datetime) -> dict[str, Any]:
    return {"start": start, "end": end, "membership": "ended_at in [start, end)"}


def report_of_rows(
    rows: Iterable[Row], start: datetime, end: datetime, group_by: str = "none"
) -> dict[str, Any]:
    """The report of any measurement rows (the table's, or folded from a log)."""
    return summarize(in_period(rows, start, end), group_by)


# ---------------------------------------------------------------------- contractual
def contractual_rows(store: ReadStore, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The period's rows, with the columns :func:`summarize` reads (one index range)."""
    return store.query(
        f"SELECT {', '.join(SUMMARIZED)} FROM {TABLE} WHERE ended_at >= ? AND ended_at < ?",
        [timestamp(start), timestamp(end)],
    )


def contractual_report(
    store: ReadStore, start: datetime, end: datetime, group_by: str = "none"
) -> dict[str, Any]:
    """Figures of the measurements the ``sla`` projection made, each under the terms
    its case was promised, that ended in ``[start, end)``."""
    return summarize(contractual_rows(store, start, end), group_by)


def follow_up_counts(store: ReadStore, start: datetime, end: datetime) -> dict[str, int]:
    """The care playbook's public follow-up, for the cases resolved in ``[start, end)``
    (their resolution measured then) that began in public and were resolved on another
    channel: how many were followed up where they began, how many still owe it.

    The case's state is the inbox's (``follow_up_owed``, by the aggregate's rule): a case
    resolved again later counts by its latest resolve."""
    row = store.query(
        "SELECT COUNT(*) AS resolved_elsewhere,"
        " COALESCE(SUM(i.follow_up_owed), 0) AS owed FROM proj_inbox i"
        " WHERE i.status = ? AND i.origin_public = 1 AND i.resolved_on <> i.origin_channel"
        f" AND i.conversation_id IN (SELECT conversation_id FROM {TABLE}"
        "  WHERE metric = ? AND ended_at >= ? AND ended_at < ?)",
        ["resolved", "resolution", timestamp(start), timestamp(end)],
    )[0]
    elsewhere, owed = int(row["resolved_elsewhere"]), int(row["owed"])
    return {"resolved_elsewhere": elsewhere, "followed_up": elsewhere - owed, "owed": owed}


# ---------------------------------------------------------------------- restated
def folded_topics() -> list[str]:
    """The stored topics of the events ``SlaClock`` folds (its ``_on_*`` handlers): the
    only ones a restatement reads and decodes."""
    names = [n.removeprefix("_on_") for n in dir(SlaClock) if n.startswith("_on_")]
    return sorted("parley." + n.replace("_", ".", 1) for n in names)


def folded_rows(
    recorder: Any,
    mapper: Any,
    *,
    page: int = PAGE,
    progress: Progress | None = None,
    **clock_options: Any,
) -> Iterator[dict[str, Any]]:
    """Every case's measurements, folded from the whole log with ``SlaClock(**options)``.

    One pass over the notification log in pages, only the topics the clock folds
    (filtered by the database), each decoded once; one clock per originator. With no
    options, the rows the ``sla`` projection is contracted to hold; with
    ``override=``, a restatement. Each row's ``position`` is that of the event that
    last changed it.
    """
    topics = folded_topics()
    head = int(recorder.max_notification_id() or 0) if progress else 0
    clocks: dict[Any, SlaClock] = {}
    made: dict[tuple[Any, str, int], tuple[Measurement, int]] = {}
    after = 0
    while notifications := recorder.select_notifications(
        start=after, limit=page, topics=topics, inclusive_of_start=False
    ):
        for notification in notifications:
            event = mapper.to_domain_event(notification)
            key = event.originator_id
            clock = clocks.get(key)
            if clock is None:
                clock = clocks[key] = SlaClock(**clock_options)
            clock.observe(event)
            if clock.changed:
                for m in clock.take_changes():
                    made[(key, m.metric, m.seq)] = (m, notification.id)
        after = notifications[-1].id
        if progress:
            progress(after, max(head, after))
    for (key, _, _), (m, position) in made.items():
        yield measurement_row(str(key), m, position)


def restated_rows(
    application: Any,
    policy_id: str,
    version: int | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The policy's version (its latest if None) and every case's measurements under it."""
    number, spec = application.sla_policy_spec(policy_id, version)
    policy = {"id": policy_id, "version": number, "name": spec.name}
    rows = folded_rows(
        application.recorder,
        application.mapper,
        override=spec.terms,
        override_policy=(policy_id, number),
        progress=progress,
    )
    return policy, list(rows)


def restated_report(
    application: Any,
    start: datetime,
    end: datetime,
    group_by: str = "none",
    policy_id: str = "default",
    version: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The figures of ``[start, end)`` had ``policy_id`` at ``version`` (its latest if
    None) applied to every case from the start: ``{"policy": {...}, "groups": {...}}``.

    A pass over the whole log (a measurement ending in the period may have started long
    before it, and what a case is owed depends on all its earlier events)."""
    policy, rows = restated_rows(application, policy_id, version, progress)
    return {"policy": policy, "groups": report_of_rows(rows, start, end, group_by)}
