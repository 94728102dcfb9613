"""The SLA view: each case's clock (``sla_cases``) and every metric measured (``sla_measurements``).

Both come from :class:`domain.sla_clock.SlaClock`, folded event by event under the
policy pinned on the case, so this view, the inbox and the application agree on what is
due and what was met. ``sla_cases.next_alarm`` (indexed) is when the case next owes a
breach or an at-risk warning; the sweep (``workers.sla_sweep``) reads it. A deadline
passing is no event: the sweep asks for ``next_alarm <= now``, and the case's own events
decide what is recorded.

``sla_measurements`` is a contract: the SLA report is built on its columns. A row can
change after it is written (its ``breached`` flag, when the breach is recorded late).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.sla_clock import Measurement, SlaClock
from domain.sla_terms import FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION
from projections.base import Context, Projection, event_type
from projections.case_clocks import clocks, fold, keep
from projections.db import ReadStore, iso, timestamp

CASE_COLUMNS = (
    "conversation_id", "policy_id", "policy_version", "origin_channel", "current_channel",
    "priority", "status", "first_response_due", "next_response_due", "resolution_due",
    "next_alarm", "breached", "at_risk", "state", "position",
)  # fmt: skip
MEASUREMENT_COLUMNS = (
    "conversation_id", "metric", "seq", "started_at", "ended_at", "seconds", "wall_seconds",
    "target_seconds", "met", "deadline", "breached", "response", "channel", "priority",
    "agent", "team", "policy_id", "policy_version", "position",
)  # fmt: skip
TIMES = ("first_response_due", "next_response_due", "resolution_due", "next_alarm",
         "started_at", "ended_at", "deadline")  # fmt: skip


class SlaCases(Projection):
    name = "sla"
    # 2: the customer's time by domain.awaiting; 3: calls; 4: the SlaClock (policies,
    # delivered replies, pauses, breaches), sla_cases and sla_measurements
    version = 4
    tables = {
        "sla_cases": [
            "CREATE TABLE {t} (conversation_id TEXT NOT NULL, policy_id TEXT NOT NULL,"
            " policy_version INTEGER NOT NULL, origin_channel TEXT NOT NULL,"
            " current_channel TEXT NOT NULL, priority TEXT NOT NULL, status TEXT NOT NULL,"
            " first_response_due TEXT, next_response_due TEXT, resolution_due TEXT,"
            " next_alarm TEXT, breached INTEGER NOT NULL, at_risk INTEGER NOT NULL,"
            " state TEXT NOT NULL, position BIGINT NOT NULL,"
            " CONSTRAINT {t}_pk_{g} PRIMARY KEY (conversation_id))",
            "CREATE INDEX {t}_alarm_{g} ON {t} (next_alarm, conversation_id)",
        ],
        "sla_measurements": [
            "CREATE TABLE {t} (conversation_id TEXT NOT NULL, metric TEXT NOT NULL,"
            " seq INTEGER NOT NULL, started_at TEXT NOT NULL, ended_at TEXT NOT NULL,"
            " seconds DOUBLE PRECISION NOT NULL, wall_seconds DOUBLE PRECISION NOT NULL,"
            " target_seconds INTEGER, met INTEGER, deadline TEXT, breached INTEGER NOT NULL,"
            " response TEXT NOT NULL, channel TEXT NOT NULL, priority TEXT NOT NULL,"
            " agent TEXT, team TEXT, policy_id TEXT NOT NULL, policy_version INTEGER NOT NULL,"
            " position BIGINT NOT NULL,"
            " CONSTRAINT {t}_pk_{g} PRIMARY KEY (conversation_id, metric, seq))",
            "CREATE INDEX {t}_ended_{g} ON {t} (ended_at)",
        ],
    }
    cached = {"sla_cases": ("conversation_id", CASE_COLUMNS)}

    def handler_for_kind(self, kind: str) -> Any:
        return self._observe if kind.startswith("Conversation.") else None

    def _observe(self, ctx: Context, position: int, event: Any) -> None:
        key = str(event.originator_id)
        cache = ctx.rows["sla_cases"]
        row = cache.get(key)
        seen = row is not None or key in clocks(ctx)  # written before, or opened in the batch
        if not seen and event_type(event) != "Conversation.Opened":
            return  # not a case this view has seen open (cannot happen in a whole log)
        clock = fold(ctx, key, row, event, "state")
        # The case's row is written from its clock when the batch ends (every event of
        # the case writes it, so as of the last): once per batch, not once per event.
        last: dict[str, int] = ctx.memo.setdefault("last_position", {})
        last[key] = position
        measured: dict[tuple[str, str, int], list[Any]] = ctx.memo.setdefault("measured", {})
        for m in clock.take_changes():
            measured[(key, m.metric, m.seq)] = measurement_row(key, m, position)

    def finish_batch(self, ctx: Context) -> None:
        cache, batch = ctx.rows["sla_cases"], clocks(ctx)
        for key, position in ctx.memo.pop("last_position", {}).items():
            state = (cache.rows.get(key) or {}).get("state") or ""
            cache.put(key, case_row(key, batch[key], position, state))
        keep(ctx, "sla_cases", "state")
        rows = list(ctx.memo.pop("measured", {}).values())
        updates = ", ".join(
            f"{c} = excluded.{c}" for c in MEASUREMENT_COLUMNS[3:]
        )  # every column but the key
        ctx.tx.insert_many(
            f"INSERT INTO {ctx.names['sla_measurements']} ({', '.join(MEASUREMENT_COLUMNS)})",
            rows,
            f"ON CONFLICT (conversation_id, metric, seq) DO UPDATE SET {updates}",
        )


def case_row(key: str, clock: SlaClock, position: int, state: str) -> dict[str, Any]:
    """The case's row as its clock stands (``state`` is rewritten when the batch ends)."""
    return {
        "conversation_id": key, "policy_id": clock.policy_id,
        "policy_version": clock.policy_version, "origin_channel": clock.origin_channel,
        "current_channel": clock.current_channel, "priority": clock.priority,
        "status": clock.status,
        "first_response_due": timestamp(clock.due(FIRST_RESPONSE)),
        "next_response_due": timestamp(clock.due(NEXT_RESPONSE)),
        "resolution_due": timestamp(clock.due(RESOLUTION)),
        "next_alarm": timestamp(clock.next_alarm()), "breached": int(clock.breached),
        "at_risk": int(at_risk(clock)), "state": state, "position": position,
    }  # fmt: skip


def at_risk(clock: SlaClock) -> bool:
    """A warning is on record for a metric still running and not breached."""
    return any(t.at_risk and not t.breached for t in clock.timers.values())


def measurement_row(key: str, m: Measurement, position: int) -> list[Any]:
    return [
        key, m.metric, m.seq, timestamp(m.started_at), timestamp(m.ended_at), m.seconds,
        m.wall_seconds, m.target_seconds, None if m.met is None else int(m.met),
        timestamp(m.deadline), int(m.breached), m.response, m.channel, m.priority, m.agent,
        m.team, m.policy_id, m.policy_version, position,
    ]  # fmt: skip


# ---------------------------------------------------------------------- reading
def conversation_sla(store: ReadStore, conversation_id: str) -> dict[str, Any] | None:
    """A case's clock as the view has it: due times, flags and its measurements."""
    with store.transaction() as tx:
        case = tx.one("SELECT * FROM proj_sla_cases WHERE conversation_id = ?", [conversation_id])
        if case is None:
            return None
        measured = tx.all(
            "SELECT * FROM proj_sla_measurements WHERE conversation_id = ?"
            " ORDER BY started_at, metric, seq",
            [conversation_id],
        )
    out = _present(case)
    out.pop("state")
    out["measurements"] = [_present(m) for m in measured]
    return out


def _present(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in TIMES:
        if key in out:
            out[key] = iso(out[key])
    for key in ("breached", "at_risk", "met"):
        if key in out and out[key] is not None:
            out[key] = bool(out[key])
    return out


def due_alarms(
    store: ReadStore, now: datetime, limit: int, after: tuple[str, str] | None = None
) -> list[tuple[str, str]]:
    """Cases whose next alarm is due by ``now``: (next_alarm, conversation_id), earliest
    first, at most ``limit``, after the key ``after`` (paging). One range of an index."""
    if after is None:
        rows = store.query(
            "SELECT next_alarm, conversation_id FROM proj_sla_cases WHERE next_alarm <= ?"
            " ORDER BY next_alarm, conversation_id LIMIT ?",
            [timestamp(now), limit],
        )
    else:
        rows = store.query(
            "SELECT next_alarm, conversation_id FROM proj_sla_cases WHERE next_alarm <= ?"
            " AND (next_alarm, conversation_id) > (?, ?)"
            " ORDER BY next_alarm, conversation_id LIMIT ?",
            [timestamp(now), after[0], after[1], limit],
        )
    return [(str(r["next_alarm"]), str(r["conversation_id"])) for r in rows]


def measurement_summary(store: ReadStore, start: datetime, end: datetime) -> dict[str, Any]:
    """First and next response figures for measurements ended in [start, end), each
    against the target of the policy pinned on its case. A stand-in for the full report
    (``projections.sla_report``): the same shape ``GET /v1/sla/report`` had."""
    rows = store.query(
        "SELECT metric, seconds, met, breached FROM proj_sla_measurements"
        " WHERE ended_at >= ? AND ended_at < ? AND metric IN (?, ?)",
        [timestamp(start), timestamp(end), FIRST_RESPONSE, NEXT_RESPONSE],
    )
    out: dict[str, Any] = {"period": {"start": start, "end": end}}
    for metric in (FIRST_RESPONSE, NEXT_RESPONSE):
        chosen = [r for r in rows if r["metric"] == metric]
        seconds = sorted(float(r["seconds"]) for r in chosen)
        missed = sum(1 for r in chosen if r["met"] == 0 or r["breached"])
        out[metric] = {
            "count": len(seconds),
            "met": len(seconds) - missed,
            "breached": missed,
            "met_ratio": round((len(seconds) - missed) / len(seconds), 4) if seconds else None,
            "median_seconds": _percentile(seconds, 0.5),
            "p90_seconds": _percentile(seconds, 0.9),
        }
    return out


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]
