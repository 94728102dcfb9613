"""Customer history: one timeline per customer over every channel and conversation.

Entries are written under the customer a conversation belongs to. Merges are kept as
links (absorbed -> survivor), and the timeline of a customer is read over it and every
customer merged into it, so an unmerge needs no rewrite: the link just goes away.
"""

from __future__ import annotations

from typing import Any

from domain import values as v
from domain.privacy import ERASED, erased_text
from projections.base import Context, Projection, clean, preview
from projections.db import ReadStore, Tx, iso, timestamp

ENTRY_COLUMNS = (
    "position", "customer_id", "conversation_id", "kind", "channel", "public", "actor",
    "at", "summary",
)  # fmt: skip
# Kinds of entry whose summary is made of personal fields (``x:`` covers ``x:<anything>``).
PERSONAL_KINDS = (
    "conversation_opened", "message_received", "reply_queued:", "reply_delivery_failed",
    "reply_bounced", "call_logged:", "automated:", "channel_switched", "chat_ended",
    "reopened", "registered", "identity_added",
)  # fmt: skip


class CustomerHistory(Projection):
    name = "history"
    version = 2  # 2: calls, bounces, auto-replies and chats ended
    tables = {
        "history": [
            "CREATE TABLE {t} (position BIGINT NOT NULL, customer_id TEXT NOT NULL,"
            " conversation_id TEXT, kind TEXT NOT NULL, channel TEXT, public INTEGER,"
            " actor TEXT, at TEXT NOT NULL, summary TEXT NOT NULL,"
            " CONSTRAINT {t}_pk_{g} PRIMARY KEY (position))",
            "CREATE INDEX {t}_customer_{g} ON {t} (customer_id, position)",
        ],
        "history_conversations": [
            "CREATE TABLE {t} (conversation_id TEXT NOT NULL, customer_id TEXT NOT NULL,"
            " channel TEXT NOT NULL, CONSTRAINT {t}_pk_{g} PRIMARY KEY (conversation_id))",
        ],
        "history_merges": [
            "CREATE TABLE {t} (absorbed_id TEXT NOT NULL, survivor_id TEXT NOT NULL,"
            " CONSTRAINT {t}_pk_{g} PRIMARY KEY (absorbed_id))",
            "CREATE INDEX {t}_survivor_{g} ON {t} (survivor_id)",
        ],
    }
    cached = {
        "history_conversations": ("conversation_id", ("conversation_id", "customer_id", "channel"))
    }

    def _entry(
        self,
        ctx: Context,
        position: int,
        event: Any,
        *,
        customer_id: str,
        kind: str,
        summary: str,
        conversation_id: str | None = None,
        channel: str | None = None,
        public: bool | None = None,
    ) -> None:
        values = [position, customer_id, conversation_id, kind, channel,
                  None if public is None else int(public), getattr(event, "actor", None),
                  timestamp(event.timestamp), clean(summary)]  # fmt: skip
        ctx.insert("history", dict(zip(ENTRY_COLUMNS, values, strict=True)))

    def _conversation_entry(
        self, ctx: Context, position: int, event: Any, kind: str, summary: str, **extra: Any
    ) -> None:
        conversation = ctx.rows["history_conversations"].get(str(event.originator_id))
        if conversation is None:
            return
        self._entry(
            ctx,
            position,
            event,
            customer_id=conversation["customer_id"],
            kind=kind,
            summary=summary,
            conversation_id=conversation["conversation_id"],
            channel=extra.pop("channel", conversation["channel"]),
            **extra,
        )

    # ------------------------------------------------------------------ conversations
    def on_Conversation_Opened(self, ctx: Context, position: int, event: Any) -> None:
        key = str(event.originator_id)
        ctx.rows["history_conversations"].put(
            key, {"conversation_id": key, "customer_id": str(event.customer_id),
                  "channel": event.channel},
        )  # fmt: skip
        self._conversation_entry(
            ctx,
            position,
            event,
            "conversation_opened",
            erased_text(event, preview(event.body)),
            public=event.public,
        )

    def on_Conversation_MessageReceived(self, ctx: Context, position: int, event: Any) -> None:
        self._conversation_entry(
            ctx,
            position,
            event,
            "message_received",
            erased_text(event, preview(event.body)),
            channel=event.channel,
            public=event.public,
        )

    def on_Conversation_ReplyQueued(self, ctx: Context, position: int, event: Any) -> None:
        self._conversation_entry(
            ctx,
            position,
            event,
            f"reply_queued:{event.kind}",
            erased_text(event, preview(event.body)),
            channel=event.channel,
            public=event.public,
        )

    def on_Conversation_ReplyDelivered(self, ctx: Context, position: int, event: Any) -> None:
        self._conversation_entry(ctx, position, event, "reply_delivered", event.external_id)

    def on_Conversation_ReplyDeliveryFailed(self, ctx: Context, position: int, event: Any) -> None:
        self._conversation_entry(
            ctx, position, event, "reply_delivery_failed", erased_text(event, event.reason)
        )

    def on_Conversation_ReplyBounced(self, ctx: Context, position: int, event: Any) -> None:
        self._conversation_entry(
            ctx, position, event, "reply_bounced", erased_text(event, event.reason)
        )

    def on_Conversation_CallLogged(self, ctx: Context, position: int, event: Any) -> None:
        minutes = round(event.duration_seconds / 60)
        self._conversation_entry(
            ctx, position, event, f"call_logged:{event.direction}",
            erased_text(event, preview(f"{minutes} min, {event.agent or event.actor}: {event.summary}")),
            channel=v.PHONE, public=False,
        )  # fmt: skip

    def on_Conversation_AutomatedMessageReceived(
        self, ctx: Context, position: int, event: Any
    ) -> None:
        self._conversation_entry(
            ctx, position, event, f"automated:{event.kind}", erased_text(event, preview(event.body)),
            channel=event.channel, public=False,
        )  # fmt: skip

    def on_Conversation_ChatEnded(self, ctx: Context, position: int, event: Any) -> None:
        self._conversation_entry(
            ctx, position, event, "chat_ended", erased_text(event, event.reason)
        )

    def on_Conversation_ChannelSwitched(self, ctx: Context, position: int, event: Any) -> None:
        row = ctx.rows["history_conversations"].get(str(event.originator_id))
        if row is not None:
            ctx.rows["history_conversations"].put(
                row["conversation_id"], {**row, "channel": event.to_channel}
            )
        self._conversation_entry(
            ctx,
            position,
            event,
            "channel_switched",
            erased_text(
                event,
                f"{event.from_channel} -> {event.to_channel}"
                + (f": {event.reason}" if event.reason else ""),
            ),
            channel=event.to_channel,
        )

    def on_Conversation_Resolved(self, ctx: Context, position: int, event: Any) -> None:
        self._conversation_entry(
            ctx, position, event, "resolved", erased_text(event, event.resolution)
        )

    def on_Conversation_Reopened(self, ctx: Context, position: int, event: Any) -> None:
        self._conversation_entry(ctx, position, event, "reopened", erased_text(event, event.reason))

    # ------------------------------------------------------------------ customers
    def on_Customer_Registered(self, ctx: Context, position: int, event: Any) -> None:
        ways = ", ".join(f"{i['kind']}:{i['value']}" for i in event.identities)
        self._entry(
            ctx,
            position,
            event,
            customer_id=str(event.originator_id),
            kind="registered",
            summary=erased_text(event, f"{event.name or 'customer'} ({ways})"),
        )

    def on_Customer_IdentityAdded(self, ctx: Context, position: int, event: Any) -> None:
        identity = event.identity
        self._entry(
            ctx,
            position,
            event,
            customer_id=str(event.originator_id),
            kind="identity_added",
            summary=erased_text(event, f"{identity['kind']}:{identity['value']}"),
        )

    def on_Customer_Erased(self, ctx: Context, position: int, event: Any) -> None:
        """Entries whose summary came from personal fields read as erased, as a rebuild
        (which sees those events erased) writes them; the rest of the story stays."""
        ctx.flush_inserts()  # this batch's entries are in the table before they change
        kinds = " OR ".join(f"kind {'LIKE' if k.endswith(':') else '='} ?" for k in PERSONAL_KINDS)
        params = [f"{k}%" if k.endswith(":") else k for k in PERSONAL_KINDS]
        owners = [str(o) for o in event.owners]
        conversations = [str(c) for c in event.conversation_ids]
        marks = ", ".join("?" * len(owners))
        where = f"customer_id IN ({marks})"  # their entries, and their cases' (named or not)
        if conversations:
            where = f"({where}) OR conversation_id IN ({', '.join('?' * len(conversations))})"
        ctx.tx.run(
            f"UPDATE {ctx.names['history']} SET summary = ? WHERE ({where}) AND ({kinds})",
            [ERASED, *owners, *conversations, *params],
        )
        self._entry(
            ctx, position, event, customer_id=str(event.originator_id), kind="erased",
            summary=f"personal data erased ({len(event.owners)} record(s),"
            f" {len(event.conversation_ids)} conversation(s))",
        )  # fmt: skip

    def on_Customer_Merged(self, ctx: Context, position: int, event: Any) -> None:
        absorbed, survivor = str(event.originator_id), str(event.target_id)
        ctx.tx.run(
            f"INSERT INTO {ctx.names['history_merges']} (absorbed_id, survivor_id) VALUES (?, ?)",
            [absorbed, survivor],
        )
        self._entry(
            ctx,
            position,
            event,
            customer_id=survivor,
            kind="merged",
            summary=f"{absorbed} merged in",
        )

    def on_Customer_Unmerged(self, ctx: Context, position: int, event: Any) -> None:
        absorbed, survivor = str(event.originator_id), str(event.target_id)
        ctx.tx.run(f"DELETE FROM {ctx.names['history_merges']} WHERE absorbed_id = ?", [absorbed])
        self._entry(
            ctx,
            position,
            event,
            customer_id=absorbed,
            kind="unmerged",
            summary=f"split from {survivor}",
        )


# ---------------------------------------------------------------------- reading
def merged_ids(tx: Tx, customer_id: str) -> list[str]:
    """The customer and every customer merged into it, transitively."""
    found, frontier = [customer_id], [customer_id]
    while frontier:
        marks = ", ".join("?" * len(frontier))
        rows = tx.all(
            f"SELECT absorbed_id FROM proj_history_merges WHERE survivor_id IN ({marks})", frontier
        )
        frontier = [r["absorbed_id"] for r in rows if r["absorbed_id"] not in found]
        found += frontier
    return found


def customer_timeline(
    store: ReadStore, customer_id: str, *, after: int = 0, limit: int = 100
) -> dict[str, Any]:
    with store.transaction() as tx:
        ids = merged_ids(tx, customer_id)
        marks = ", ".join("?" * len(ids))
        rows = tx.all(
            f"SELECT * FROM proj_history WHERE customer_id IN ({marks}) AND position > ?"
            " ORDER BY position LIMIT ?",
            [*ids, after, limit + 1],
        )
    more = len(rows) > limit
    rows = rows[:limit]
    items = []
    for row in rows:
        public = None if row["public"] is None else bool(row["public"])
        items.append({**row, "public": public, "at": iso(row["at"])})
    return {
        "customer_ids": ids,
        "items": items,
        "next_cursor": rows[-1]["position"] if more else None,
    }
