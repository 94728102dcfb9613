"""The incident ledger: per incident, each affected customer's case, when it was linked,
when the incident's acknowledgement and follow-up reached them, and what is still owed.

One row per (incident, case) in ``incident_cases``; the incident's replies are found by
id through ``incident_replies`` (so a ``ReplyDelivered`` among all the log's replies
costs a prefetched lookup), its shards through ``incident_shards``. Times are those of
the events: ``acknowledged_at`` and ``followed_up_at`` are when the reply was
*delivered* (``ReplyDelivered``), never when it was queued. What a case is owed depends
on the incident's status, so it is computed when read (``OWED``), not stored:

- the incident live: an ``acknowledgement``, until one is delivered;
- the incident resolved: a ``follow_up``, until one is delivered.

The rows hold ids, times, keywords and statuses: nothing personal, so an erasure changes
nothing here.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from domain import values as v
from projections.base import Batch, Context, Projection, event_type
from projections.db import ReadStore, iso, timestamp

CASE_COLUMNS = (
    "case_key", "incident_id", "conversation_id", "customer_id", "linked", "how", "keyword",
    "linked_at", "seq", "acknowledgement_reply_id", "acknowledgement_status",
    "acknowledgement_queued_at", "acknowledged_at", "acknowledgement_skipped",
    "follow_up_reply_id", "follow_up_status", "follow_up_queued_at", "followed_up_at",
    "follow_up_skipped", "resolved_by_incident", "position",
)  # fmt: skip
INCIDENT_COLUMNS = (
    "incident_id", "title", "status", "declared_at", "declared_by",
    "acknowledgements_requested_at", "resolved_at", "seq", "position",
)  # fmt: skip
UPDATE_COLUMNS = (
    "update_id", "incident_id", "status", "attempts", "queued_at", "delivered_at",
    "external_id", "failure_code", "position",
)  # fmt: skip
OWED_VALUES = ("acknowledgement", "follow_up", "nothing")

# What a case is owed, from its row (c) and its incident's (i).
OWED = (
    "CASE WHEN i.status = 'resolved' THEN"
    " (CASE WHEN c.followed_up_at IS NULL THEN 'follow_up' ELSE 'nothing' END)"
    " ELSE (CASE WHEN c.acknowledged_at IS NULL THEN 'acknowledgement' ELSE 'nothing' END) END"
)


def case_key(incident_id: str, conversation_id: str) -> str:
    return f"{incident_id}:{conversation_id}"


class IncidentLedger(Projection):
    name = "incidents"
    version = 1
    tables = {
        "incidents": [
            "CREATE TABLE {t} (incident_id TEXT NOT NULL, title TEXT NOT NULL,"
            " status TEXT NOT NULL, declared_at TEXT NOT NULL, declared_by TEXT,"
            " acknowledgements_requested_at TEXT, resolved_at TEXT, seq BIGINT NOT NULL,"
            " position BIGINT NOT NULL, CONSTRAINT {t}_pk_{g} PRIMARY KEY (incident_id))",
            "CREATE INDEX {t}_seq_{g} ON {t} (seq)",
        ],
        "incident_updates": [
            "CREATE TABLE {t} (update_id TEXT NOT NULL, incident_id TEXT NOT NULL,"
            " status TEXT NOT NULL, attempts INTEGER NOT NULL, queued_at TEXT NOT NULL,"
            " delivered_at TEXT, external_id TEXT, failure_code TEXT,"
            " position BIGINT NOT NULL, CONSTRAINT {t}_pk_{g} PRIMARY KEY (update_id))",
            "CREATE INDEX {t}_incident_{g} ON {t} (incident_id, queued_at)",
        ],
        "incident_shards": [
            "CREATE TABLE {t} (shard_id TEXT NOT NULL, incident_id TEXT NOT NULL,"
            " CONSTRAINT {t}_pk_{g} PRIMARY KEY (shard_id))",
        ],
        "incident_cases": [
            "CREATE TABLE {t} (case_key TEXT NOT NULL, incident_id TEXT NOT NULL,"
            " conversation_id TEXT NOT NULL, customer_id TEXT NOT NULL,"
            " linked INTEGER NOT NULL, how TEXT NOT NULL, keyword TEXT,"
            " linked_at TEXT NOT NULL, seq BIGINT NOT NULL,"
            " acknowledgement_reply_id TEXT, acknowledgement_status TEXT,"
            " acknowledgement_queued_at TEXT, acknowledged_at TEXT,"
            " acknowledgement_skipped TEXT, follow_up_reply_id TEXT, follow_up_status TEXT,"
            " follow_up_queued_at TEXT, followed_up_at TEXT, follow_up_skipped TEXT,"
            " resolved_by_incident INTEGER NOT NULL, position BIGINT NOT NULL,"
            " CONSTRAINT {t}_pk_{g} PRIMARY KEY (case_key))",
            "CREATE INDEX {t}_incident_{g} ON {t} (incident_id, linked, seq)",
        ],
        "incident_replies": [
            "CREATE TABLE {t} (reply_id TEXT NOT NULL, case_key TEXT NOT NULL,"
            " kind TEXT NOT NULL, CONSTRAINT {t}_pk_{g} PRIMARY KEY (reply_id))",
        ],
    }
    cached = {
        "incidents": ("incident_id", INCIDENT_COLUMNS),
        "incident_updates": ("update_id", UPDATE_COLUMNS),
        "incident_shards": ("shard_id", ("shard_id", "incident_id")),
        "incident_cases": ("case_key", CASE_COLUMNS),
        "incident_replies": ("reply_id", ("reply_id", "case_key", "kind")),
    }

    def prefetch_keys(self, batch: Batch) -> list[str]:
        """Incidents and shards by their ids, updates and replies by theirs; case rows
        are read as their events name them."""
        keys: list[str] = []
        for _, event in batch:
            kind = event_type(event)
            if kind.startswith(("Incident.", "IncidentCases.")):
                keys.append(str(event.originator_id))
            if kind.startswith("Incident.Update") and hasattr(event, "update_id"):
                keys.append(str(event.update_id))
            elif kind.startswith("Conversation.") and hasattr(event, "reply_id"):
                keys.append(str(event.reply_id))
        return list(dict.fromkeys(keys))

    # ------------------------------------------------------------------ incidents
    def _incident(self, ctx: Context, event: Any, position: int, **changes: Any) -> None:
        key = str(event.originator_id)
        row = ctx.rows["incidents"].get(key)
        if row is not None:
            ctx.rows["incidents"].put(key, dict(row, **changes, position=position))

    def on_Incident_Declared(self, ctx: Context, position: int, event: Any) -> None:
        ctx.rows["incidents"].put(
            str(event.originator_id),
            {
                "incident_id": str(event.originator_id), "title": event.title,
                "status": "live", "declared_at": timestamp(event.timestamp),
                "declared_by": event.actor, "acknowledgements_requested_at": None,
                "resolved_at": None, "seq": position, "position": position,
            },
        )  # fmt: skip

    def on_Incident_Revised(self, ctx: Context, position: int, event: Any) -> None:
        self._incident(ctx, event, position, title=event.title)

    def on_Incident_AcknowledgementsRequested(
        self, ctx: Context, position: int, event: Any
    ) -> None:
        self._incident(
            ctx, event, position, acknowledgements_requested_at=timestamp(event.timestamp)
        )

    def on_Incident_Resolved(self, ctx: Context, position: int, event: Any) -> None:
        self._incident(
            ctx, event, position, status="resolved", resolved_at=timestamp(event.timestamp)
        )

    # ------------------------------------------------------------------ general updates
    def _update(self, ctx: Context, event: Any, position: int, **changes: Any) -> None:
        key = str(event.update_id)
        row = ctx.rows["incident_updates"].get(key)
        if row is not None:
            ctx.rows["incident_updates"].put(key, dict(row, **changes, position=position))

    def on_Incident_UpdateQueued(self, ctx: Context, position: int, event: Any) -> None:
        ctx.rows["incident_updates"].put(
            str(event.update_id),
            {
                "update_id": str(event.update_id), "incident_id": str(event.originator_id),
                "status": v.QUEUED, "attempts": 0, "queued_at": timestamp(event.timestamp),
                "delivered_at": None, "external_id": None, "failure_code": None,
                "position": position,
            },
        )  # fmt: skip

    def on_Incident_UpdateDispatched(self, ctx: Context, position: int, event: Any) -> None:
        self._update(ctx, event, position, status=v.SENDING, attempts=event.attempt)

    def on_Incident_UpdateDelivered(self, ctx: Context, position: int, event: Any) -> None:
        self._update(
            ctx, event, position, status=v.DELIVERED, external_id=event.external_id,
            delivered_at=timestamp(event.timestamp),
        )  # fmt: skip

    def on_Incident_UpdateDeliveryFailed(self, ctx: Context, position: int, event: Any) -> None:
        self._update(
            ctx, event, position, status=v.QUEUED if event.retryable else v.FAILED,
            failure_code=event.code,
        )  # fmt: skip

    # ------------------------------------------------------------------ cases
    def _case_of(self, ctx: Context, event: Any) -> tuple[str, dict[str, Any] | None]:
        shard = ctx.rows["incident_shards"].get(str(event.originator_id))
        if shard is None:  # pragma: no cover - a shard's first event is Started
            return "", None
        key = case_key(shard["incident_id"], str(event.conversation_id))
        return key, ctx.rows["incident_cases"].get(key)

    def on_IncidentCases_Started(self, ctx: Context, position: int, event: Any) -> None:
        ctx.rows["incident_shards"].put(
            str(event.originator_id),
            {"shard_id": str(event.originator_id), "incident_id": str(event.incident_id)},
        )

    def on_IncidentCases_Linked(self, ctx: Context, position: int, event: Any) -> None:
        shard = ctx.rows["incident_shards"].get(str(event.originator_id))
        if shard is None:  # pragma: no cover
            return
        key = case_key(shard["incident_id"], str(event.conversation_id))
        ctx.rows["incident_cases"].put(
            key,
            {
                "case_key": key, "incident_id": shard["incident_id"],
                "conversation_id": str(event.conversation_id),
                "customer_id": str(event.customer_id), "linked": 1, "how": event.how,
                "keyword": event.keyword, "linked_at": timestamp(event.timestamp),
                "seq": position, "acknowledgement_reply_id": None,
                "acknowledgement_status": None, "acknowledgement_queued_at": None,
                "acknowledged_at": None, "acknowledgement_skipped": None,
                "follow_up_reply_id": None, "follow_up_status": None,
                "follow_up_queued_at": None, "followed_up_at": None,
                "follow_up_skipped": None, "resolved_by_incident": 0, "position": position,
            },
        )  # fmt: skip

    def on_IncidentCases_Unlinked(self, ctx: Context, position: int, event: Any) -> None:
        key, row = self._case_of(ctx, event)
        if row is not None:
            ctx.rows["incident_cases"].put(key, dict(row, linked=0, position=position))

    def _queued(self, ctx: Context, position: int, event: Any, what: str, **more: Any) -> None:
        key, row = self._case_of(ctx, event)
        if row is None:
            return
        reply_id = str(event.reply_id) if event.reply_id is not None else None
        changes = {
            f"{what}_reply_id": reply_id,
            f"{what}_status": "skipped" if reply_id is None else v.QUEUED,
            f"{what}_queued_at": timestamp(event.timestamp) if reply_id else None,
            f"{what}_skipped": event.skipped,
        }
        ctx.rows["incident_cases"].put(key, dict(row, **changes, **more, position=position))
        if reply_id is not None:
            ctx.rows["incident_replies"].put(
                reply_id, {"reply_id": reply_id, "case_key": key, "kind": what}
            )

    def on_IncidentCases_Acknowledged(self, ctx: Context, position: int, event: Any) -> None:
        self._queued(ctx, position, event, "acknowledgement")

    def on_IncidentCases_FollowedUp(self, ctx: Context, position: int, event: Any) -> None:
        self._queued(
            ctx, position, event, "follow_up", resolved_by_incident=int(event.resolved_case)
        )

    # ------------------------------------------------------------------ the replies
    def _reply(self, ctx: Context, position: int, event: Any, status: str, **times: Any) -> None:
        """A delivery event of one of the incident's replies (others are not ours)."""
        reply = ctx.rows["incident_replies"].get(str(event.reply_id))
        if reply is None:
            return
        row = ctx.rows["incident_cases"].get(reply["case_key"])
        what = reply["kind"]
        if row is None or row[f"{what}_reply_id"] != str(event.reply_id):
            return
        changes: dict[str, Any] = {f"{what}_status": status}
        if status == v.DELIVERED:
            at = "acknowledged_at" if what == "acknowledgement" else "followed_up_at"
            changes[at] = timestamp(event.timestamp)
        ctx.rows["incident_cases"].put(reply["case_key"], dict(row, **changes, position=position))

    def on_Conversation_ReplyDispatched(self, ctx: Context, position: int, event: Any) -> None:
        self._reply(ctx, position, event, v.SENDING)

    def on_Conversation_ReplyDelivered(self, ctx: Context, position: int, event: Any) -> None:
        self._reply(ctx, position, event, v.DELIVERED)

    def on_Conversation_ReplyDeliveryFailed(self, ctx: Context, position: int, event: Any) -> None:
        self._reply(ctx, position, event, v.QUEUED if event.retryable else v.FAILED)

    def on_Conversation_ReplyBounced(self, ctx: Context, position: int, event: Any) -> None:
        self._reply(ctx, position, event, v.FAILED)

    def on_Conversation_RedeliveryRequested(self, ctx: Context, position: int, event: Any) -> None:
        self._reply(ctx, position, event, v.QUEUED)


# ---------------------------------------------------------------------- reading
CASE_TIMES = ("linked_at", "acknowledgement_queued_at", "acknowledged_at",
              "follow_up_queued_at", "followed_up_at")  # fmt: skip


def _present_case(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "conversation_id": row["conversation_id"],
        "customer_id": row["customer_id"],
        "how": row["how"],
        "keyword": row["keyword"],
        **{name: iso(row[name]) for name in CASE_TIMES},
        "acknowledgement": {
            "reply_id": row["acknowledgement_reply_id"],
            "status": row["acknowledgement_status"],
            "skipped": row["acknowledgement_skipped"],
        },
        "follow_up": {
            "reply_id": row["follow_up_reply_id"],
            "status": row["follow_up_status"],
            "skipped": row["follow_up_skipped"],
        },
        "resolved_by_incident": bool(row["resolved_by_incident"]),
        "owed": None if row["owed"] == "nothing" else row["owed"],
        "position": row["position"],
    }


def _encode(value: int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise ValueError("not a cursor of this list") from error
    if not (value.isascii() and value.isdigit() and len(value) <= 19):
        raise ValueError("not a cursor of this list")
    return int(value)


def counts(store: ReadStore, incident_ids: list[str]) -> dict[str, dict[str, int]]:
    """Per incident: cases linked, acknowledged and followed up (delivered), and owed."""
    if not incident_ids:
        return {}
    marks = ", ".join("?" * len(incident_ids))
    rows = store.query(
        "SELECT c.incident_id AS incident_id, COUNT(*) AS linked,"
        " SUM(CASE WHEN c.acknowledged_at IS NULL THEN 0 ELSE 1 END) AS acknowledged,"
        " SUM(CASE WHEN c.followed_up_at IS NULL THEN 0 ELSE 1 END) AS followed_up,"
        f" SUM(CASE WHEN {OWED} = 'acknowledgement' THEN 1 ELSE 0 END) AS owed_acknowledgement,"
        f" SUM(CASE WHEN {OWED} = 'follow_up' THEN 1 ELSE 0 END) AS owed_follow_up"
        " FROM proj_incident_cases c JOIN proj_incidents i ON i.incident_id = c.incident_id"
        f" WHERE c.linked = 1 AND c.incident_id IN ({marks}) GROUP BY c.incident_id",
        incident_ids,
    )
    empty = dict.fromkeys(
        ("linked", "acknowledged", "followed_up", "owed_acknowledgement", "owed_follow_up"), 0
    )
    found = {r["incident_id"]: {k: int(r[k] or 0) for k in empty} for r in rows}
    return {i: found.get(i, dict(empty)) for i in incident_ids}


def _updates_of(store: ReadStore, incident_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each incident's general updates, oldest first (one query for a page)."""
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in incident_ids}
    if not incident_ids:
        return found
    marks = ", ".join("?" * len(incident_ids))
    for u in store.query(
        f"SELECT * FROM proj_incident_updates WHERE incident_id IN ({marks})"
        " ORDER BY queued_at, update_id",
        incident_ids,
    ):
        found[u["incident_id"]].append(u)
    return found


def _present_incident(row: dict[str, Any], updates: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row["incident_id"], "title": row["title"], "status": row["status"],
        "declared_at": iso(row["declared_at"]), "declared_by": row["declared_by"],
        "acknowledgements_requested_at": iso(row["acknowledgements_requested_at"]),
        "resolved_at": iso(row["resolved_at"]),
        "updates": [
            {"update_id": u["update_id"], "status": u["status"], "attempts": u["attempts"],
             "queued_at": iso(u["queued_at"]), "delivered_at": iso(u["delivered_at"]),
             "external_id": u["external_id"], "failure_code": u["failure_code"]}
            for u in updates
        ],
        "position": row["position"],
    }  # fmt: skip


def incident_summary(store: ReadStore, incident_id: str) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM proj_incidents WHERE incident_id = ?", [incident_id])
    if not rows:
        return None
    out = _present_incident(rows[0], _updates_of(store, [incident_id])[incident_id])
    out["counts"] = counts(store, [incident_id])[incident_id]
    return out


def list_incidents(
    store: ReadStore, status: str | None, *, limit: int = 50, cursor: str | None = None
) -> dict[str, Any]:
    """Incidents, the latest declared first; ``cursor`` is a page's ``next_cursor``."""
    where: list[str] = []
    params: list[Any] = []
    if status:
        where.append("status = ?")
        params.append(status)
    if cursor:
        where.append("seq < ?")  # the order incidents were declared in
        params.append(decode_cursor(cursor))
    sql = " AND ".join(where) or "1 = 1"
    rows = store.query(
        f"SELECT * FROM proj_incidents WHERE {sql} ORDER BY seq DESC LIMIT ?", [*params, limit + 1]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [r["incident_id"] for r in rows]
    found, updates = counts(store, ids), _updates_of(store, ids)
    items = [
        _present_incident(r, updates[r["incident_id"]]) | {"counts": found[r["incident_id"]]}
        for r in rows
    ]
    return {"items": items, "next_cursor": _encode(rows[-1]["seq"]) if more else None}


def incident_ledger(
    store: ReadStore,
    incident_id: str,
    *,
    owed: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    """The ledger: one row per linked case, in the order they were linked; ``owed``
    filters (acknowledgement, follow_up, nothing)."""
    where = ["c.incident_id = ?", "c.linked = 1"]
    params: list[Any] = [incident_id]
    if owed:
        where.append(f"{OWED} = ?")
        params.append(owed)
    if cursor:
        where.append("c.seq > ?")
        params.append(decode_cursor(cursor))
    rows = store.query(
        f"SELECT c.*, {OWED} AS owed FROM proj_incident_cases c"
        " JOIN proj_incidents i ON i.incident_id = c.incident_id"
        f" WHERE {' AND '.join(where)} ORDER BY c.seq LIMIT ?",
        [*params, limit + 1],
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [_present_case(r) for r in rows],
        "next_cursor": _encode(rows[-1]["seq"]) if more else None,
        "counts": counts(store, [incident_id])[incident_id],
    }
