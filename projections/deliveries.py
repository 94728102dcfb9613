"""Deliveries: one row per reply, where its delivery stands, for ops and for retries.

``GET /v1/ops/deliveries?status=failed`` lists what needs a person; the row says why
(the failure's code and reason) and how often it was tried. A retry
(``POST /v1/ops/deliveries/{reply_id}/retry``) finds the reply's conversation here.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from domain import values as v
from domain.privacy import ERASED
from projections.base import Batch, Context, Projection, clean
from projections.db import ReadStore, iso, timestamp

COLUMNS = (
    "reply_id", "conversation_id", "channel", "kind", "status", "attempts", "failure_code",
    "last_error", "retry_at", "external_id", "queued_at", "updated_at", "position",
)  # fmt: skip
STATUSES = (v.QUEUED, v.SENDING, v.DELIVERED, v.FAILED)


# Replies Parley sends through a channel; chat, phone and API replies are read from
# Parley itself and are never "queued" for a worker.
SENT = frozenset({v.X_PUBLIC, v.X_DM, v.EMAIL})


class Deliveries(Projection):
    name = "deliveries"
    version = 3  # 2: only replies a worker sends; 3: bounces
    tables = {
        "deliveries": [
            "CREATE TABLE {t} (reply_id TEXT NOT NULL, conversation_id TEXT NOT NULL,"
            " channel TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,"
            " attempts INTEGER NOT NULL, failure_code TEXT, last_error TEXT, retry_at TEXT,"
            " external_id TEXT, queued_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
            " position BIGINT NOT NULL, CONSTRAINT {t}_pk_{g} PRIMARY KEY (reply_id))",
            "CREATE INDEX {t}_status_{g} ON {t} (status, position)",
        ]
    }
    cached = {"deliveries": ("reply_id", COLUMNS)}

    def prefetch_keys(self, batch: Batch) -> list[str]:
        return list(dict.fromkeys(str(e.reply_id) for _, e in batch if hasattr(e, "reply_id")))

    def _change(self, ctx: Context, position: int, event: Any, **changes: Any) -> None:
        key = str(event.reply_id)
        row = ctx.rows["deliveries"].get(key)
        if row is None:
            return
        row = dict(row, **changes, updated_at=timestamp(event.timestamp), position=position)
        ctx.rows["deliveries"].put(key, row)

    def on_Conversation_ReplyQueued(self, ctx: Context, position: int, event: Any) -> None:
        if event.channel not in SENT:
            return
        ctx.rows["deliveries"].put(
            str(event.reply_id),
            {
                "reply_id": str(event.reply_id), "conversation_id": str(event.originator_id),
                "channel": event.channel, "kind": event.kind, "status": v.QUEUED,
                "attempts": 0, "failure_code": None, "last_error": None, "retry_at": None,
                "external_id": None, "queued_at": timestamp(event.timestamp),
                "updated_at": timestamp(event.timestamp), "position": position,
            },
        )  # fmt: skip

    def on_Conversation_ReplyDispatched(self, ctx: Context, position: int, event: Any) -> None:
        self._change(ctx, position, event, status=v.SENDING, attempts=event.attempt, retry_at=None)

    def on_Conversation_ReplyDelivered(self, ctx: Context, position: int, event: Any) -> None:
        self._change(
            ctx, position, event, status=v.DELIVERED, external_id=event.external_id,
            retry_at=None,
        )  # fmt: skip

    def on_Conversation_ReplyDeliveryFailed(self, ctx: Context, position: int, event: Any) -> None:
        row = ctx.rows["deliveries"].get(str(event.reply_id)) or {"attempts": 0}
        self._change(
            ctx, position, event, status=v.QUEUED if event.retryable else v.FAILED,
            attempts=max(event.attempt, row["attempts"]), failure_code=event.code,
            last_error=clean(event.reason)[:2000], retry_at=timestamp(event.retry_at),
        )  # fmt: skip

    def on_Conversation_ReplyBounced(self, ctx: Context, position: int, event: Any) -> None:
        self._change(
            ctx, position, event, status=v.FAILED, failure_code="bounced",
            last_error=clean(event.reason)[:2000], retry_at=None,
        )  # fmt: skip

    def on_Customer_Erased(self, ctx: Context, position: int, event: Any) -> None:
        """A failure's message may quote the address: it reads as erased, as a rebuild
        (which sees the failures erased) writes it."""
        conversations = [str(c) for c in event.conversation_ids]
        if not conversations:
            return
        cache = ctx.rows["deliveries"]
        marks = ", ".join("?" * len(conversations))
        found = ctx.tx.all(
            f"SELECT reply_id FROM {ctx.names['deliveries']} WHERE conversation_id IN ({marks})"
            " AND last_error IS NOT NULL",
            conversations,
        )
        keys = {str(r["reply_id"]) for r in found}
        keys |= {
            k for k, row in cache.rows.items() if row and row["conversation_id"] in conversations
        }
        for key in sorted(keys):
            row = cache.get(key)
            if row is not None and row["last_error"] is not None:
                cache.put(key, dict(row, last_error=ERASED))

    def on_Conversation_RedeliveryRequested(self, ctx: Context, position: int, event: Any) -> None:
        self._change(ctx, position, event, status=v.QUEUED, retry_at=None)


# ---------------------------------------------------------------------- reading
def _present(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("retry_at", "queued_at", "updated_at"):
        out[key] = iso(row[key])
    return out


def list_deliveries(
    store: ReadStore, status: str | None, *, limit: int = 50, cursor: str | None = None
) -> dict[str, Any]:
    """Deliveries, the latest change first; ``cursor`` is a page's ``next_cursor``."""
    where: list[str] = []
    params: list[Any] = []
    if status:
        where.append("status = ?")
        params.append(status)
    if cursor:
        where.append("position < ?")
        params.append(decode_cursor(cursor))
    sql = " AND ".join(where) or "1 = 1"
    rows = store.query(
        f"SELECT * FROM proj_deliveries WHERE {sql} ORDER BY position DESC LIMIT ?",
        [*params, limit + 1],
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = (
        base64.urlsafe_b64encode(str(rows[-1]["position"]).encode()).decode() if more else None
    )
    return {"items": [_present(r) for r in rows], "next_cursor": next_cursor}


def decode_cursor(cursor: str) -> int:
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise ValueError("not a cursor of this list") from error
    if not (value.isascii() and value.isdigit() and len(value) <= 19):
        raise ValueError("not a cursor of this list")
    return int(value)


def delivery(store: ReadStore, reply_id: str) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM proj_deliveries WHERE reply_id = ?", [reply_id])
    return _present(rows[0]) if rows else None
