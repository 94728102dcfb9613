"""Polling X: mentions of the brand, recent search for its keywords, and DMs.

Each poll reads every page since its cursor, records each tweet or DM through the
application (a repeat is a no-op: the channel's id is the key), and only then moves its
cursor, which is kept in the read store's database (``channel_cursors``). The window
overlaps the last one by a few minutes, because X's mentions endpoint can return a
tweet late; the overlap costs nothing but a few repeats.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import tweepy

from domain.exceptions import DomainError, VersionConflictError
from domain.inbound import Contact
from projections.db import ReadStore, parse_timestamp, timestamp
from workers.x_inbound import dm_contact, tweet_contact

log = logging.getLogger(__name__)

TABLE = "channel_cursors"
OVERLAP = timedelta(minutes=5)
FIRST_LOOK = timedelta(hours=1)  # a first poll goes back this far
MAX_LOOK = timedelta(days=7) - timedelta(minutes=1)  # recent search's own limit
TWEET_FIELDS = ["created_at", "conversation_id", "referenced_tweets", "author_id"]
USER_FIELDS = ["username", "name"]


class Cursors:
    """Where each poll got to: the newest time it stored (durable, in the read store)."""

    def __init__(self, store: ReadStore) -> None:
        self.store = store
        with store.transaction(lock_key=TABLE) as tx:
            tx.run(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (name TEXT NOT NULL PRIMARY KEY,"
                " value TEXT NOT NULL, updated_at TEXT NOT NULL)"
            )

    def get(self, name: str) -> datetime | None:
        rows = self.store.query(f"SELECT value FROM {TABLE} WHERE name = ?", [name])
        return parse_timestamp(rows[0]["value"]) if rows else None

    def set(self, name: str, value: datetime) -> None:
        now = timestamp(datetime.now(UTC))
        with self.store.transaction(lock_key=TABLE) as tx:
            tx.run(
                f"INSERT INTO {TABLE} (name, value, updated_at) VALUES (?, ?, ?)"
                f" ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                [name, timestamp(value), now],
            )

    def all(self) -> dict[str, str | None]:
        return {r["name"]: r["value"] for r in self.store.query(f"SELECT * FROM {TABLE}")}


class XPoller:
    def __init__(
        self,
        app: Any,
        client: tweepy.Client,
        cursors: Cursors,
        brand_user_id: str,
        keywords: Iterable[str] = (),
    ) -> None:
        self.app, self.client, self.cursors = app, client, cursors
        self.brand_user_id = brand_user_id
        self.keywords = [k.strip() for k in keywords if k.strip()]

    def _since(self, name: str) -> datetime:
        now = datetime.now(UTC)
        last = self.cursors.get(name)
        since = (last - OVERLAP) if last else now - FIRST_LOOK
        return max(since, now - MAX_LOOK)

    def _record(self, name: str, contacts: list[tuple[datetime | None, Contact]]) -> int:
        """Record every contact, then move the cursor to the newest; how many were new."""
        new = 0
        newest: datetime | None = None
        for at, contact in sorted(contacts, key=lambda c: c[0] or datetime.min.replace(tzinfo=UTC)):
            try:
                new += bool(self.app.receive_contact(contact).position)
            except VersionConflictError as error:
                # Not recorded, and worth recording: the cursor stays before it, so the
                # next poll reads it again.
                log.warning("X %s %s: %s; read again next poll", name, contact.external_id,
                            type(error).__name__)  # fmt: skip
                break
            except DomainError as error:  # e.g. older than the window contacts are held to
                # Its kind only: a refusal's message can quote the sender's identity.
                log.warning("X %s %s not recorded: %s (%s)", name, contact.external_id,
                            type(error).__name__, error.field or "-")  # fmt: skip
            if at is not None:
                newest = at if newest is None else max(newest, at)
        if newest is not None:
            self.cursors.set(name, newest)
        return new

    def _tweets(self, method: Any, name: str, **params: Any) -> int:
        contacts: list[tuple[datetime | None, Contact]] = []
        for page in tweepy.Paginator(
            method, start_time=self._since(name), max_results=100, tweet_fields=TWEET_FIELDS,
            expansions=["author_id"], user_fields=USER_FIELDS, user_auth=True, **params,
        ):  # fmt: skip
            users = {str(u.id): u for u in (page.includes or {}).get("users", [])}
            for tweet in page.data or []:
                if (contact := tweet_contact(tweet, users, self.brand_user_id)) is not None:
                    contacts.append((tweet.created_at, contact))
        return self._record(name, contacts)

    def mentions(self) -> int:
        return self._tweets(self.client.get_users_mentions, "x-mentions", id=self.brand_user_id)

    def search(self) -> int:
        if not self.keywords:
            return 0
        words = " OR ".join(f'"{k}"' if " " in k else k for k in self.keywords)
        return self._tweets(
            self.client.search_recent_tweets, "x-search", query=f"({words}) -is:retweet"
        )

    def dms(self) -> int:
        since = self._since("x-dms")
        contacts: list[tuple[datetime | None, Contact]] = []
        for page in tweepy.Paginator(
            self.client.get_direct_message_events, event_types="MessageCreate",
            dm_event_fields=["sender_id", "created_at", "dm_conversation_id"], max_results=100,
            user_auth=True,
        ):  # fmt: skip
            events = page.data or []
            for event in events:
                if event.created_at is not None and event.created_at < since:
                    continue
                if (contact := dm_contact(event, self.brand_user_id)) is not None:
                    contacts.append((event.created_at, contact))
            if events and all(e.created_at is not None and e.created_at < since for e in events):
                break  # newest first: the rest is older still
        return self._record("x-dms", contacts)
