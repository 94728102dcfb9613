"""The SLA clock: per conversation, when the customer waited and how long for a response.

One case across every channel it moves through. Each wait (from a customer message that
found nobody answering, to the next reply) is a row in ``sla_responses``: ``first`` for
the first response (an acknowledgement counts), ``next`` for every later one. Targets are
not stored: a report applies any policy to these facts, for any past period.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.awaiting import customer_time
from domain.sla import DEFAULT_POLICY, SlaPolicy
from projections.base import Context, Projection
from projections.db import ReadStore, iso, parse_timestamp, timestamp

CLOCK_COLUMNS = (
    "conversation_id", "origin_channel", "current_channel", "priority", "first_contact_at",
    "first_response_at", "first_response_seconds", "waiting_since", "last_customer_message_at",
    "last_response_at", "next_response_seconds", "response_count", "resolved_at",
    "resolution_seconds", "reopened", "position",
)  # fmt: skip


def _seconds(start: str | None, end: str | None) -> float | None:
    a, b = parse_timestamp(start), parse_timestamp(end)
    if a is None or b is None:
        return None
    return round(max((b - a).total_seconds(), 0.0), 6)


class SlaClock(Projection):
    name = "sla"
    # 2: the customer's time by domain.awaiting (published_at held to a window); 3: calls
    version = 3
    tables = {
        "sla_clock": [
            "CREATE TABLE {t} (conversation_id TEXT NOT NULL, origin_channel TEXT NOT NULL,"
            " current_channel TEXT NOT NULL, priority TEXT NOT NULL,"
            " first_contact_at TEXT NOT NULL, first_response_at TEXT,"
            " first_response_seconds DOUBLE PRECISION, waiting_since TEXT,"
            " last_customer_message_at TEXT, last_response_at TEXT,"
            " next_response_seconds DOUBLE PRECISION, response_count INTEGER NOT NULL,"
            " resolved_at TEXT, resolution_seconds DOUBLE PRECISION, reopened INTEGER NOT NULL,"
            " position BIGINT NOT NULL, CONSTRAINT {t}_pk_{g} PRIMARY KEY (conversation_id))",
        ],
        "sla_responses": [
            "CREATE TABLE {t} (conversation_id TEXT NOT NULL, seq INTEGER NOT NULL,"
            " kind TEXT NOT NULL, channel TEXT NOT NULL, priority TEXT NOT NULL,"
            " waited_from TEXT NOT NULL, responded_at TEXT NOT NULL,"
            " seconds DOUBLE PRECISION NOT NULL, position BIGINT NOT NULL,"
            " CONSTRAINT {t}_pk_{g} PRIMARY KEY (conversation_id, seq))",
            "CREATE INDEX {t}_period_{g} ON {t} (responded_at)",
        ],
    }
    cached = {"sla_clock": ("conversation_id", CLOCK_COLUMNS)}

    def _change(self, ctx: Context, position: int, event: Any, **changes: Any) -> dict[str, Any]:
        key = str(event.originator_id)
        row = dict(ctx.rows["sla_clock"].get(key) or {}, **changes, position=position)
        ctx.rows["sla_clock"].put(key, row)
        return row

    def on_Conversation_Opened(self, ctx: Context, position: int, event: Any) -> None:
        at = timestamp(customer_time(event.published_at, event.timestamp))
        row = dict.fromkeys(CLOCK_COLUMNS)
        row.update(
            conversation_id=str(event.originator_id),
            origin_channel=event.channel,
            current_channel=event.channel,
            priority="none",
            first_contact_at=at,
            waiting_since=at,
            last_customer_message_at=at,
            response_count=0,
            reopened=0,
            position=position,
        )
        ctx.rows["sla_clock"].put(str(event.originator_id), row)

    def on_Conversation_MessageReceived(self, ctx: Context, position: int, event: Any) -> None:
        row = ctx.rows["sla_clock"].get(str(event.originator_id)) or {}
        at = timestamp(customer_time(event.published_at, event.timestamp))
        waiting = row.get("waiting_since") or at  # an unanswered wait keeps its start
        self._change(ctx, position, event, last_customer_message_at=at, waiting_since=waiting)

    def on_Conversation_ReplyQueued(self, ctx: Context, position: int, event: Any) -> None:
        self._respond(ctx, position, event, str(timestamp(event.timestamp)))

    def on_Conversation_CallLogged(self, ctx: Context, position: int, event: Any) -> None:
        """A call answers the customer when it began (an inbound one: the customer spoke
        then, and was heard at once); logged late, it still counts from its start."""
        row = ctx.rows["sla_clock"].get(str(event.originator_id))
        if row is None:
            return
        began = customer_time(event.started_at, event.timestamp)
        if event.direction == "inbound":
            at = str(timestamp(began))
            waiting = row.get("waiting_since") or at
            row = self._change(
                ctx, position, event, last_customer_message_at=at, waiting_since=waiting
            )
        answered = max(str(timestamp(began)), row["waiting_since"] or "")
        self._respond(ctx, position, event, answered)

    def _respond(self, ctx: Context, position: int, event: Any, at: str) -> None:
        """A response at ``at`` (a reply queued, a call): it ends the customer's wait."""
        row = ctx.rows["sla_clock"].get(str(event.originator_id))
        if row is None:
            return
        changes: dict[str, Any] = {"last_response_at": at}
        if row["waiting_since"] is not None:
            seconds = _seconds(row["waiting_since"], at)
            first = row["first_response_at"] is None
            ctx.insert(
                "sla_responses",
                {"conversation_id": row["conversation_id"], "seq": row["response_count"] + 1,
                 "kind": "first" if first else "next",
                 "channel": row["origin_channel"] if first else row["current_channel"],
                 "priority": row["priority"], "waited_from": row["waiting_since"],
                 "responded_at": at, "seconds": seconds, "position": position},
            )  # fmt: skip
            changes |= {"waiting_since": None, "response_count": row["response_count"] + 1}
            if first:
                changes |= {"first_response_at": at, "first_response_seconds": seconds}
            else:
                changes["next_response_seconds"] = seconds
        self._change(ctx, position, event, **changes)

    def on_Conversation_ChannelSwitched(self, ctx: Context, position: int, event: Any) -> None:
        self._change(ctx, position, event, current_channel=event.to_channel)

    def on_Conversation_PriorityChanged(self, ctx: Context, position: int, event: Any) -> None:
        self._change(ctx, position, event, priority=event.priority)

    def on_Conversation_Resolved(self, ctx: Context, position: int, event: Any) -> None:
        row = ctx.rows["sla_clock"].get(str(event.originator_id)) or {}
        at = timestamp(event.timestamp)
        # An unanswered wait stays open, as in the inbox: reopened and answered, it counts.
        self._change(
            ctx,
            position,
            event,
            resolved_at=at,
            resolution_seconds=_seconds(row.get("first_contact_at"), at),
        )

    def on_Conversation_Reopened(self, ctx: Context, position: int, event: Any) -> None:
        row = ctx.rows["sla_clock"].get(str(event.originator_id)) or {"reopened": 0}
        self._change(
            ctx,
            position,
            event,
            resolved_at=None,
            resolution_seconds=None,
            reopened=row["reopened"] + 1,
        )


# ---------------------------------------------------------------------- reading
def conversation_clock(store: ReadStore, conversation_id: str) -> dict[str, Any] | None:
    with store.transaction() as tx:
        clock = tx.one("SELECT * FROM proj_sla_clock WHERE conversation_id = ?", [conversation_id])
        if clock is None:
            return None
        responses = tx.all(
            "SELECT * FROM proj_sla_responses WHERE conversation_id = ? ORDER BY seq",
            [conversation_id],
        )
    return {**_iso(clock), "responses": [_iso(r) for r in responses]}


def _iso(row: dict[str, Any]) -> dict[str, Any]:
    """Stored fixed-width UTC text as ISO 8601 with an offset, like every other view."""
    out = dict(row)
    for key, value in row.items():
        if isinstance(value, str) and (
            key.endswith("_at") or key in ("waiting_since", "waited_from")
        ):
            out[key] = iso(value)
    return out


def report(
    store: ReadStore, start: datetime, end: datetime, policy: SlaPolicy = DEFAULT_POLICY
) -> dict[str, Any]:
    """First and next response figures for responses given in [start, end), under ``policy``."""
    rows = store.query(
        "SELECT kind, channel, priority, seconds FROM proj_sla_responses"
        " WHERE responded_at >= ? AND responded_at < ?",
        [timestamp(start), timestamp(end)],
    )
    out: dict[str, Any] = {"period": {"start": start, "end": end}}
    for kind in ("first", "next"):
        chosen = [r for r in rows if r["kind"] == kind]
        seconds = sorted(float(r["seconds"]) for r in chosen)
        met = sum(
            1 for r in chosen
            if float(r["seconds"]) <= policy.target(kind, r["channel"], r["priority"]).total_seconds()
        )  # fmt: skip
        out[f"{kind}_response"] = {
            "count": len(seconds),
            "met": met,
            "breached": len(seconds) - met,
            "met_ratio": round(met / len(seconds), 4) if seconds else None,
            "median_seconds": _percentile(seconds, 0.5),
            "p90_seconds": _percentile(seconds, 0.9),
        }
    return out


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]
