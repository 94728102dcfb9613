"""Tweets and DMs from X, as one kind of inbound contact, from polling or a webhook.

The API v2 (polled: mentions, recent search, DM events) and the Account Activity
webhook (v1.1 shapes: ``tweet_create_events``, ``direct_message_events``) describe the
same tweet differently; both become a :class:`domain.inbound.Contact`. The brand's own
tweets and DMs, which both echo back, are dropped here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from domain import values as v
from domain.inbound import Contact
from domain.values import Identity, Origin

ACTOR = "integration:x"


def _thread_of_dm(a: str, b: str) -> str:
    """X's id of a one-to-one DM conversation: the two user ids, lower first."""
    low, high = sorted((a, b), key=int)
    return f"{low}-{high}"


def tweet_contact(
    tweet: Any, users: dict[str, Any], brand_user_id: str, actor: str = ACTOR
) -> Contact | None:
    """A v2 tweet (tweepy's ``Tweet``) as a contact; None for the brand's own."""
    author = str(tweet.author_id)
    if author == brand_user_id:
        return None
    replied = next(
        (str(r.id) for r in (tweet.referenced_tweets or []) if r.type == "replied_to"),
        None,
    )
    user = users.get(author)
    return Contact(
        channel=v.X_PUBLIC,
        body=tweet.text,
        external_id=str(tweet.id),
        sender=Identity("x", author, handle=getattr(user, "username", None)),
        actor=actor,
        published_at=tweet.created_at,
        origin=Origin(
            sender=Identity("x", author, handle=getattr(user, "username", None)),
            brand_account=brand_user_id,
            thread_id=str(tweet.conversation_id) if tweet.conversation_id else None,
            in_reply_to=replied,
        ),
        customer_name=getattr(user, "name", None),
    )


def dm_contact(event: Any, brand_user_id: str, actor: str = ACTOR) -> Contact | None:
    """A v2 DM event (tweepy's ``DirectMessageEvent``) as a contact; None for ours."""
    sender = str(event.sender_id)
    if sender == brand_user_id or event.event_type != "MessageCreate":
        return None
    return Contact(
        channel=v.X_DM,
        body=event.text,
        external_id=str(event.id),
        sender=Identity("x", sender),
        actor=actor,
        published_at=event.created_at,
        origin=Origin(
            sender=Identity("x", sender),
            brand_account=brand_user_id,
            thread_id=str(event.dm_conversation_id or _thread_of_dm(sender, brand_user_id)),
        ),
    )


def webhook_contacts(payload: dict[str, Any], brand_user_id: str) -> list[Contact]:
    """The contacts of an Account Activity delivery (v1.1 shapes); others are ignored."""
    if str(payload.get("for_user_id", brand_user_id)) != brand_user_id:
        return []
    contacts = []
    for tweet in payload.get("tweet_create_events") or []:
        if (contact := _v1_tweet(tweet, brand_user_id)) is not None:
            contacts.append(contact)
    users = payload.get("users") or {}
    for event in payload.get("direct_message_events") or []:
        if (contact := _v1_dm(event, users, brand_user_id)) is not None:
            contacts.append(contact)
    return contacts


def _v1_tweet(tweet: dict[str, Any], brand_user_id: str) -> Contact | None:
    user = tweet.get("user") or {}
    author = str(user.get("id_str") or "")
    if not author or author == brand_user_id or tweet.get("retweeted_status"):
        return None
    text = (tweet.get("extended_tweet") or {}).get("full_text") or tweet.get("text") or ""
    sender = Identity("x", author, handle=user.get("screen_name"))
    return Contact(
        channel=v.X_PUBLIC,
        body=text,
        external_id=str(tweet["id_str"]),
        sender=sender,
        actor=ACTOR,
        published_at=_v1_time(tweet.get("created_at")),
        origin=Origin(
            sender=sender,
            brand_account=brand_user_id,
            in_reply_to=tweet.get("in_reply_to_status_id_str"),
        ),
        customer_name=user.get("name"),
    )


def _v1_dm(event: dict[str, Any], users: dict[str, Any], brand_user_id: str) -> Contact | None:
    created = event.get("message_create") or {}
    sender_id = str(created.get("sender_id") or "")
    if event.get("type") != "message_create" or not sender_id or sender_id == brand_user_id:
        return None
    user = users.get(sender_id) or {}
    sender = Identity("x", sender_id, handle=user.get("screen_name"))
    millis = str(event.get("created_timestamp") or "")
    return Contact(
        channel=v.X_DM,
        body=(created.get("message_data") or {}).get("text") or "",
        external_id=str(event["id"]),
        sender=sender,
        actor=ACTOR,
        published_at=datetime.fromtimestamp(int(millis) / 1000, UTC) if millis.isdigit() else None,
        origin=Origin(
            sender=sender,
            brand_account=brand_user_id,
            thread_id=_thread_of_dm(sender_id, brand_user_id),
        ),
        customer_name=user.get("name"),
    )


def _v1_time(value: str | None) -> datetime | None:
    """``Wed Oct 10 20:19:24 +0000 2018`` (v1.1's tweet time) as a UTC datetime."""
    if not value:
        return None
    try:
        parts = value.split()
        return parsedate_to_datetime(
            f"{parts[0]}, {parts[2]} {parts[1]} {parts[5]} {parts[3]} {parts[4]}"
        ).astimezone(UTC)
    except (IndexError, TypeError, ValueError):
        return None
