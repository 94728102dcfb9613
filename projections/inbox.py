"""The inbox: a row per conversation, shaped for an agent console's list.

Derived columns (what the case awaits, since when, when a response is due, and the
sort keys) are computed here from the events alone, so a rebuild gives the same rows.
Due times and the SLA flags come from the case's own :class:`~domain.sla_clock.SlaClock`
(the policy pinned on the case), kept beside the row; whether a public follow-up is owed
by the same rule as ``Conversation.follow_up_owed``.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from domain import values as v
from domain.awaiting import Wait, customer_time
from domain.privacy import ERASED, erased_text
from domain.sla_clock import SlaClock
from domain.sla_terms import FIRST_RESPONSE
from projections.base import (
    PREFETCH_CHUNK,
    Context,
    Projection,
    clean,
    dumps,
    preview,
)  # fmt: skip
from projections.case_clocks import clocks, fold, keep
from projections.db import ReadStore, Tx, iso, parse_timestamp, timestamp
from projections.inbox_filters import (
    COUNT_BOUND,
    INDEXES,
    TAG_INDEX,
    bounded_counts_sql,
    count_keys,
    given,
    kept_key,
    merged_page_sql,
    sla_state,
)  # fmt: skip

NEVER = "9999-12-31T23:59:59.999999Z"  # sorts after every real time
HIDDEN = {
    "active", "sort_due", "sort_waiting", "replied", "unanswered_since", "failed_replies",
    "resolved_on", "followed_up", "follow_ups", "sla_policy_id", "sla_policy_version",
    "sla_state",
}  # fmt: skip
PRIORITY_RANK = {p: i for i, p in enumerate(v.PRIORITIES)}
ACTIVE = (v.OPEN, v.SNOOZED)  # the default view: every case not resolved
STATUSES = (v.OPEN, v.SNOOZED, v.RESOLVED)
TAGGED = ("tags", "status", "sort_due", "sort_waiting")  # what the tag rows carry

COLUMNS = (
    "conversation_id", "customer_id", "status", "origin_channel", "current_channel",
    "active", "origin_public", "assignee", "team", "priority", "tags", "replied",
    "unanswered_since",
    "awaiting", "waiting_since",
    "first_response_due", "due", "sort_due", "sort_waiting", "last_message_preview",
    "last_message_at", "snoozed_until", "failed_deliveries", "failed_replies", "opened_at",
    "updated_at",
    "version", "position",
    "sla_breached", "sla_at_risk", "sla_policy_id", "sla_policy_version", "sla_state",
    "resolved_on", "followed_up", "follow_ups", "follow_up_owed", "classification",
)  # fmt: skip


class Inbox(Projection):
    name = "inbox"
    # 2: the active flag, its ordered indexes, and inbox_counts; 3: awaiting and the
    # customer's time by domain.awaiting (event order; published_at held to a window);
    # 4: failed_deliveries counts the replies failed now (a retry or delivery clears one);
    # 5: calls, bounces, and e-mail previews without the quoted earlier mail; 6: due
    # times by the case's SlaClock, sla_breached, sla_at_risk, follow_up_owed; 7: the
    # classification of the case's latest classified message, and routing moves the version;
    # 8: an index per filter (status, then the order), inbox_tags with status and sort
    # keys, inbox_filter_counts
    version = 8
    tables = {
        "inbox": [
            "CREATE TABLE {t} (conversation_id TEXT NOT NULL, customer_id TEXT NOT NULL,"
            " status TEXT NOT NULL, origin_channel TEXT NOT NULL, current_channel TEXT NOT NULL,"
            " active INTEGER NOT NULL, origin_public INTEGER NOT NULL, assignee TEXT, team TEXT, priority TEXT NOT NULL,"
            " tags TEXT NOT NULL, replied INTEGER NOT NULL, unanswered_since TEXT,"
            " awaiting TEXT NOT NULL, waiting_since TEXT,"
            " first_response_due TEXT, due TEXT, sort_due TEXT NOT NULL,"
            " sort_waiting TEXT NOT NULL, last_message_preview TEXT, last_message_at TEXT,"
            " snoozed_until TEXT, failed_deliveries INTEGER NOT NULL, failed_replies TEXT NOT NULL,"
            " opened_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL, version INTEGER NOT NULL, position BIGINT NOT NULL,"
            " sla_breached INTEGER NOT NULL, sla_at_risk INTEGER NOT NULL,"
            " sla_policy_id TEXT NOT NULL, sla_policy_version INTEGER NOT NULL,"
            " sla_state TEXT NOT NULL, resolved_on TEXT, followed_up INTEGER NOT NULL,"
            " follow_ups TEXT NOT NULL, follow_up_owed INTEGER NOT NULL, classification TEXT,"
            " CONSTRAINT {t}_pk_{g} PRIMARY KEY (conversation_id))",
            "CREATE INDEX {t}_position_{g} ON {t} (position)",
        ],
        # A row per tag of a case, with the case's status and sort keys: a tag's page is
        # one range of its index, in order (kept by finish_batch from the rows).
        "inbox_tags": [
            "CREATE TABLE {t} (conversation_id TEXT NOT NULL, tag TEXT NOT NULL,"
            " status TEXT NOT NULL, sort_due TEXT NOT NULL, sort_waiting TEXT NOT NULL,"
            " CONSTRAINT {t}_pk_{g} PRIMARY KEY (conversation_id, tag))",
        ],
        # Cases per status, kept as rows change: the unfiltered counts without a scan.
        "inbox_counts": [
            "CREATE TABLE {t} (status TEXT NOT NULL, n BIGINT NOT NULL,"
            " CONSTRAINT {t}_pk_{g} PRIMARY KEY (status))",
        ],
        # Cases per status under each single filter's value (and channel + awaiting),
        # kept the same way: "channel=email", "awaiting=reply&channel=email", "tag=vip".
        "inbox_filter_counts": [
            "CREATE TABLE {t} (status TEXT NOT NULL, filter TEXT NOT NULL, n BIGINT NOT NULL,"
            " CONSTRAINT {t}_pk_{g} PRIMARY KEY (filter, status))",
        ],
    }
    # One index per filter, each ending in status and the inbox's order: a page is an
    # index range read in order, whatever the planner's statistics say
    # (projections.inbox_filters). Only pages read them: a rebuild makes them at the end.
    read_indexes = {"inbox": INDEXES, "inbox_tags": [TAG_INDEX]}
    cached = {"inbox": ("conversation_id", COLUMNS)}

    def handler_for_kind(self, kind: str) -> Any:
        """A conversation's event is folded into its clock first, then handled (the SLA
        events only move the clock)."""
        handler = super().handler_for_kind(kind)
        if not kind.startswith("Conversation."):
            return handler

        def folded(ctx: Context, position: int, event: Any) -> None:
            key = str(event.originator_id)
            row = ctx.rows["inbox"].get(key)
            if row is None and kind != "Conversation.Opened":
                return  # a case this view never saw open (cannot happen in a whole log)
            fold(ctx, key, row, event, "sla_state")
            if handler is not None:
                handler(ctx, position, event)
            elif kind in SLA_EVENTS:
                self._update(ctx, position, event)

        return folded

    # ------------------------------------------------------------------ helpers
    def _update(self, ctx: Context, position: int, event: Any, **changes: Any) -> None:
        key = str(event.originator_id)
        row = ctx.rows["inbox"].get(key)
        if row is None:
            return  # a conversation opened before this projection's events? cannot happen
        row = dict(row, **changes)
        row.update(updated_at=timestamp(event.timestamp), version=event.originator_version)
        row["position"] = position
        ctx.rows["inbox"].put(key, row)  # derived when the batch ends

    def _derive_rows(self, ctx: Context) -> None:
        """Derive each row the batch wrote from its clock, once, as the batch ends.

        Every event that moves a case's clock also writes its row (``_update``), so the
        clock now is the clock as of the row's last write in the batch: deriving here
        gives what deriving after each event would, however the log was cut into batches.
        No handler reads a derived column."""
        cache = ctx.rows["inbox"]
        for key, clock in clocks(ctx).items():
            row = cache.rows.get(key)
            if row is not None and key in cache.dirty:
                self._derive(row, clock)

    def _derive(self, row: dict[str, Any], clock: SlaClock) -> dict[str, Any]:
        """What the case awaits and since when, due times, SLA flags, the follow-up owed
        and sort keys, by the same rules as the aggregate (:class:`domain.awaiting.Wait`,
        the case's :class:`SlaClock`, ``Conversation.follow_up_owed``)."""
        wait = self._wait(row)
        row["awaiting"] = wait.awaiting(row["status"])
        since = wait.waiting_since(row["status"])
        row["active"] = int(row["status"] in ACTIVE)
        row["waiting_since"] = timestamp(since)
        row["due"] = timestamp(clock.response_due())
        row["first_response_due"] = timestamp(clock.due(FIRST_RESPONSE))
        row["sla_breached"] = int(clock.breached)
        row["sla_at_risk"] = int(sla_at_risk(clock))
        row["sla_policy_id"], row["sla_policy_version"] = clock.policy_id, clock.policy_version
        row["follow_up_owed"] = int(
            row["status"] == v.RESOLVED
            and bool(row["origin_public"])
            and row["resolved_on"] != row["origin_channel"]
            and not row["followed_up"]
        )
        row["sort_due"] = row["due"] or NEVER
        row["sort_waiting"] = row["waiting_since"] or NEVER
        return row

    @staticmethod
    def _wait(row: dict[str, Any]) -> Wait:
        return Wait(bool(row.get("replied")), parse_timestamp(row.get("unanswered_since")))

    @staticmethod
    def _waiting(wait: Wait) -> dict[str, Any]:
        return {"replied": int(wait.replied), "unanswered_since": timestamp(wait.unanswered_since)}

    @staticmethod
    def _customer_time(event: Any) -> datetime:
        """When the customer spoke (``domain.awaiting.customer_time``)."""
        return customer_time(event.published_at, event.timestamp)

    def finish_batch(self, ctx: Context) -> None:
        """Keep each case's clock in its row; move the kept counts by the batch's row
        changes; rewrite the tag rows of cases whose tags, status or sort keys moved."""
        self._derive_rows(ctx)
        keep(ctx, "inbox", "sla_state")
        delta: dict[str, int] = {}
        filtered: dict[tuple[str, str], int] = {}
        retagged: list[dict[str, Any]] = []
        for before, after in ctx.rows["inbox"].changes():
            for row, step in ((before, -1), (after, 1)):
                if row is None:
                    continue
                delta[row["status"]] = delta.get(row["status"], 0) + step
                for key in count_keys(row):
                    filtered[row["status"], key] = filtered.get((row["status"], key), 0) + step
            if before is None or any(before[c] != after[c] for c in TAGGED):
                retagged.append(after)
        table = ctx.names["inbox_counts"]
        ctx.tx.run_many(
            f"INSERT INTO {table} (status, n) VALUES (?, ?)"
            f" ON CONFLICT (status) DO UPDATE SET n = {table}.n + excluded.n",
            [[status, n] for status, n in sorted(delta.items()) if n],
        )
        # No zero rows: how the log was cut into batches must not show in the view.
        ctx.tx.run(f"DELETE FROM {table} WHERE n = 0")
        table = ctx.names["inbox_filter_counts"]
        moved = [[status, key, n] for (status, key), n in sorted(filtered.items()) if n]
        ctx.tx.run_many(
            f"INSERT INTO {table} (status, filter, n) VALUES (?, ?, ?)"
            f" ON CONFLICT (filter, status) DO UPDATE SET n = {table}.n + excluded.n",
            moved,
        )
        if moved:
            ctx.tx.run(f"DELETE FROM {table} WHERE n = 0")
        self._retag_rows(ctx, retagged)

    @staticmethod
    def _retag_rows(ctx: Context, rows: list[dict[str, Any]]) -> None:
        table = ctx.names["inbox_tags"]
        for start in range(0, len(rows), PREFETCH_CHUNK):
            chunk = rows[start : start + PREFETCH_CHUNK]
            marks = ", ".join("?" * len(chunk))
            ctx.tx.run(
                f"DELETE FROM {table} WHERE conversation_id IN ({marks})",
                [r["conversation_id"] for r in chunk],
            )
        ctx.tx.append(
            table,
            ("conversation_id", "tag", "status", "sort_due", "sort_waiting"),
            [
                [r["conversation_id"], tag, r["status"], r["sort_due"], r["sort_waiting"]]
                for r in rows
                for tag in json.loads(r["tags"])
            ],
        )

    # ------------------------------------------------------------------ handlers
    def on_Conversation_Opened(self, ctx: Context, position: int, event: Any) -> None:
        at = timestamp(self._customer_time(event))
        row = {
            "conversation_id": str(event.originator_id),
            "customer_id": str(event.customer_id),
            "status": v.OPEN,
            "origin_channel": event.channel,
            "current_channel": event.channel,
            "origin_public": int(event.public),
            "assignee": None,
            "team": None,
            "priority": "none",
            "tags": "[]",
            "replied": 0,
            "unanswered_since": at,
            "last_message_preview": erased_text(
                event, preview(new_text(event.body, event.details))
            ),
            "last_message_at": at,
            "snoozed_until": None,
            "failed_deliveries": 0,
            "failed_replies": "[]",
            "opened_at": timestamp(event.timestamp),
            "updated_at": timestamp(event.timestamp),
            "version": event.originator_version,
            "position": position,
            "sla_state": "",  # written when the batch ends
            "resolved_on": None,
            "followed_up": 0,
            "follow_ups": "[]",
            "classification": None,
        }
        ctx.rows["inbox"].put(row["conversation_id"], row)  # derived when the batch ends

    def on_Conversation_MessageReceived(self, ctx: Context, position: int, event: Any) -> None:
        row = ctx.rows["inbox"].get(str(event.originator_id)) or {}
        at = self._customer_time(event)
        changes: dict[str, Any] = {
            "last_message_preview": erased_text(
                event, preview(new_text(event.body, event.details))
            ),
            "last_message_at": timestamp(at),
            **self._waiting(self._wait(row).message(at)),
        }
        if row.get("status") == v.SNOOZED:
            changes |= {"status": v.OPEN, "snoozed_until": None}
        self._update(ctx, position, event, **changes)

    def on_Conversation_ReplyQueued(self, ctx: Context, position: int, event: Any) -> None:
        row = ctx.rows["inbox"].get(str(event.originator_id)) or {}
        changes = self._waiting(self._wait(row).reply())
        if event.kind == "follow_up" and event.channel == row.get("origin_channel"):
            follow_ups = {*json.loads(row.get("follow_ups") or "[]"), str(event.reply_id)}
            changes["follow_ups"] = dumps(follow_ups)
        self._update(ctx, position, event, **changes)

    def on_Conversation_ReplyDelivered(self, ctx: Context, position: int, event: Any) -> None:
        """A follow-up where the case began, delivered while it is resolved, is the public
        follow-up the case owed."""
        row = ctx.rows["inbox"].get(str(event.originator_id)) or {}
        follow_ups = set(json.loads(row.get("follow_ups") or "[]"))
        if str(event.reply_id) in follow_ups:
            follow_ups.discard(str(event.reply_id))
            followed = row.get("followed_up") or int(row.get("status") == v.RESOLVED)
            self._update(ctx, position, event, follow_ups=dumps(follow_ups), followed_up=followed)
        self._failed(ctx, position, event, failed=False)

    def on_Conversation_ReplyDeliveryFailed(self, ctx: Context, position: int, event: Any) -> None:
        self._failed(ctx, position, event, failed=not event.retryable)

    def on_Conversation_ReplyBounced(self, ctx: Context, position: int, event: Any) -> None:
        self._failed(ctx, position, event, failed=True)

    def on_Conversation_CallLogged(self, ctx: Context, position: int, event: Any) -> None:
        """A call is in the list like a message: its summary the preview; it answers."""
        row = ctx.rows["inbox"].get(str(event.originator_id)) or {}
        wait = self._wait(row)
        began = customer_time(event.started_at, event.timestamp)
        changes: dict[str, Any] = {
            "last_message_preview": erased_text(
                event, preview(f"[{event.direction} call] {event.summary}")
            ),
            "last_message_at": timestamp(began),
        }
        if event.direction == "inbound":
            wait = wait.message(began)
            if row.get("status") == v.SNOOZED:
                changes |= {"status": v.OPEN, "snoozed_until": None}
        self._update(ctx, position, event, **changes, **self._waiting(wait.reply()))

    def on_Customer_Erased(self, ctx: Context, position: int, event: Any) -> None:
        """The customer's previews go: each reads as a rebuild (which sees the messages
        erased) would write it. Nothing else of the row is personal."""
        cache = ctx.rows["inbox"]
        owners = [str(o) for o in event.owners]
        keys = [str(c) for c in event.conversation_ids]
        # And every case of theirs, named or not (one opened before case indexes existed).
        marks = ", ".join("?" * len(owners))
        keys += [str(r["conversation_id"]) for r in ctx.tx.all(
            f"SELECT conversation_id FROM {ctx.names['inbox']} WHERE customer_id IN ({marks})",
            owners,
        )]  # fmt: skip
        keys += [k for k, row in cache.rows.items() if row and row["customer_id"] in owners]
        keys = list(dict.fromkeys(keys))
        cache.prefetch(keys)
        for key in keys:
            row = cache.get(key)
            if row is not None and row["last_message_preview"] is not None:
                cache.put(key, dict(row, last_message_preview=ERASED))

    def on_Conversation_AutomatedMessageReceived(
        self, ctx: Context, position: int, event: Any
    ) -> None:
        self._update(ctx, position, event)  # kept on the case; it changes nothing listed

    def on_Conversation_ChatEnded(self, ctx: Context, position: int, event: Any) -> None:
        self._update(ctx, position, event)

    def on_Conversation_DmReachRecorded(self, ctx: Context, position: int, event: Any) -> None:
        self._update(ctx, position, event)

    def on_Conversation_MessageClassified(self, ctx: Context, position: int, event: Any) -> None:
        """The care policy's label of a message: the inbox shows the latest one's."""
        self._update(ctx, position, event, classification=event.label)

    def on_Conversation_Routed(self, ctx: Context, position: int, event: Any) -> None:
        self._update(ctx, position, event)

    def on_Conversation_ReplyDispatched(self, ctx: Context, position: int, event: Any) -> None:
        self._update(ctx, position, event)

    def on_Conversation_RedeliveryRequested(self, ctx: Context, position: int, event: Any) -> None:
        self._failed(ctx, position, event, failed=False)

    def _failed(self, ctx: Context, position: int, event: Any, *, failed: bool) -> None:
        """Which replies of the case failed for good (until delivered or retried)."""
        row = ctx.rows["inbox"].get(str(event.originator_id)) or {"failed_replies": "[]"}
        replies = set(json.loads(row["failed_replies"]))
        (replies.add if failed else replies.discard)(str(event.reply_id))
        self._update(
            ctx, position, event, failed_replies=dumps(replies), failed_deliveries=len(replies)
        )

    def on_Conversation_ChannelSwitched(self, ctx: Context, position: int, event: Any) -> None:
        self._update(ctx, position, event, current_channel=event.to_channel)

    def on_Conversation_Assigned(self, ctx: Context, position: int, event: Any) -> None:
        row = ctx.rows["inbox"].get(str(event.originator_id)) or {}
        self._update(
            ctx,
            position,
            event,
            assignee=event.agent if event.agent is not None else row.get("assignee"),
            team=event.team if event.team is not None else row.get("team"),
        )

    def on_Conversation_Unassigned(self, ctx: Context, position: int, event: Any) -> None:
        changes = {k: None for k in ("agent", "team") if getattr(event, k)}
        if "agent" in changes:
            changes["assignee"] = changes.pop("agent")
        self._update(ctx, position, event, **changes)

    def on_Conversation_NoteAdded(self, ctx: Context, position: int, event: Any) -> None:
        self._update(ctx, position, event)

    def _retag(self, ctx: Context, position: int, event: Any, add: bool) -> None:
        """The row's tags; its tag rows follow in ``finish_batch``."""
        tag = clean(event.tag)
        row = ctx.rows["inbox"].get(str(event.originator_id))
        tags = set(json.loads(row["tags"])) if row else set()
        (tags.add if add else tags.discard)(tag)
        self._update(ctx, position, event, tags=dumps(tags))

    def on_Conversation_Tagged(self, ctx: Context, position: int, event: Any) -> None:
        self._retag(ctx, position, event, add=True)

    def on_Conversation_Untagged(self, ctx: Context, position: int, event: Any) -> None:
        self._retag(ctx, position, event, add=False)

    def on_Conversation_PriorityChanged(self, ctx: Context, position: int, event: Any) -> None:
        self._update(ctx, position, event, priority=event.priority)

    def on_Conversation_Snoozed(self, ctx: Context, position: int, event: Any) -> None:
        self._update(ctx, position, event, status=v.SNOOZED, snoozed_until=timestamp(event.until))

    def on_Conversation_Unsnoozed(self, ctx: Context, position: int, event: Any) -> None:
        self._update(ctx, position, event, status=v.OPEN, snoozed_until=None)

    def on_Conversation_Resolved(self, ctx: Context, position: int, event: Any) -> None:
        row = ctx.rows["inbox"].get(str(event.originator_id)) or {}
        self._update(
            ctx,
            position,
            event,
            status=v.RESOLVED,
            snoozed_until=None,
            resolved_on=row.get("current_channel"),
            followed_up=0,
        )

    def on_Conversation_Reopened(self, ctx: Context, position: int, event: Any) -> None:
        self._update(ctx, position, event, status=v.OPEN)


SLA_EVENTS = ("Conversation.SlaApplied", "Conversation.SlaBreached", "Conversation.SlaAtRisk")


def sla_at_risk(clock: SlaClock) -> bool:
    """A warning is on record for a metric still running and not breached."""
    return any(t.at_risk and not t.breached for t in clock.timers.values())


def new_text(body: str, details: dict[str, Any] | None) -> str:
    """A message without the quoted earlier mail it carries, when there is new text."""
    quoted = (details or {}).get("quoted_at")
    if isinstance(quoted, int) and 0 < quoted <= len(body) and body[:quoted].strip():
        return body[:quoted]
    return body


# ---------------------------------------------------------------------- reading
def encode_cursor(row: dict[str, Any]) -> str:
    raw = json.dumps([row["sort_due"], row["sort_waiting"], row["conversation_id"]])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[str]:
    """The sort key a cursor carries; ValueError if it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise ValueError("not a cursor from this inbox") from error
    if not (
        isinstance(key, list)
        and len(key) == 3
        and all(isinstance(k, str) and "\x00" not in k and k.isprintable() for k in key)
    ):
        raise ValueError("not a cursor from this inbox")
    try:
        for k in key:
            k.encode()
    except UnicodeEncodeError:
        raise ValueError("not a cursor from this inbox") from None
    return key


def query_inbox(
    store: ReadStore,
    filters: dict[str, Any],
    *,
    limit: int = 50,
    cursor: str | None = None,
    count_bound: int = COUNT_BOUND,
) -> dict[str, Any]:
    """A page of the inbox, most overdue first then longest waiting, with counts per status.

    ``filters``: status (a list; default: open and snoozed), assignee, team, channel (the current
    one), priority, tag, awaiting, assigned (true/false), sla (breached, at_risk or ok),
    follow_up_owed (true/false), classification (the latest message's label).

    Counts cover every status under the other filters: kept ones (no filter, one, or
    channel + awaiting) are exact; others are counted up to ``count_bound``, and a status
    with more shows the bound with ``counts_exact[status]`` false.
    """
    wanted = filters.get("status") or ACTIVE
    statuses = sorted({wanted} if isinstance(wanted, str) else set(wanted))
    after = decode_cursor(cursor) if cursor else None
    chosen = given(filters)
    page_sql, page_params = merged_page_sql(chosen, statuses, after, limit + 1, PAGE_COLUMNS)
    key = kept_key(chosen)
    with store.transaction() as tx:
        rows = tx.all(page_sql, page_params)
        if key == "":
            counts = tx.all("SELECT status, n FROM proj_inbox_counts")
        elif key is not None:
            counts = tx.all(
                "SELECT status, n FROM proj_inbox_filter_counts WHERE filter = ?", [key]
            )
        else:
            counts = tx.all(*bounded_counts_sql(chosen, STATUSES, count_bound))
    more = len(rows) > limit
    rows = rows[:limit]
    found = {c["status"]: int(c["n"]) for c in counts}
    exact = {s: found.get(s, 0) <= count_bound or key is not None for s in STATUSES}
    return {
        "items": [_present(r) for r in rows],
        "next_cursor": encode_cursor(rows[-1]) if more else None,
        "counts": {s: found.get(s, 0) if exact[s] else count_bound for s in STATUSES},
        "counts_exact": exact,
        "count_bound": count_bound,
    }


SHOWN = tuple(k for k in COLUMNS if k not in HIDDEN)
# What a read selects: every column but the case's kept clock (four kilobytes a row, on
# SQLite in overflow pages, on PostgreSQL compressed out of line), which only the
# projection itself reads back.
SHOWN_COLUMNS = ", ".join(c for c in COLUMNS if c != "sla_state")
PAGE_COLUMNS = ", ".join(f"i.{c}" for c in COLUMNS if c != "sla_state")
FLAGS = ("origin_public", "sla_breached", "sla_at_risk", "follow_up_owed")  # shown as booleans
TIMES = (
    "waiting_since", "first_response_due", "due", "last_message_at", "snoozed_until",
    "opened_at", "updated_at",
)  # fmt: skip


def _present(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in SHOWN}
    for key in FLAGS:
        out[key] = bool(row[key])
    out["tags"] = json.loads(row["tags"])
    out["sla"] = {
        "state": sla_state(row), "policy_id": row["sla_policy_id"],
        "policy_version": row["sla_policy_version"],
    }  # fmt: skip
    for key in TIMES:
        out[key] = iso(row[key])
    return out


def inbox_row(tx: Tx, conversation_id: str) -> dict[str, Any] | None:
    row = tx.one(
        f"SELECT {SHOWN_COLUMNS} FROM proj_inbox WHERE conversation_id = ?", [conversation_id]
    )
    return _present(row) if row else None


def inbox_changes(store: ReadStore, after: int, limit: int = 100) -> list[dict[str, Any]]:
    """Inbox rows changed by events after ``after``, in the order of their last change."""
    rows = store.query(
        f"SELECT {SHOWN_COLUMNS} FROM proj_inbox WHERE position > ? ORDER BY position LIMIT ?",
        [after, limit],
    )
    return [_present(r) for r in rows]
