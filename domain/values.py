"""Value objects and vocabularies shared by the aggregates.

Values are stored in events as plain strings (not ``str`` Enums, which bypass custom
transcoding and come back as plain strings anyway); these tuples are the vocabularies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

# Channels a contact can arrive on or a reply can leave by.
X_PUBLIC = "x_public"  # a tweet / mention
X_DM = "x_dm"  # an X direct message
EMAIL = "email"
CHAT = "chat"  # web chat widget
PHONE = "phone"  # a logged phone call
API = "api"  # any other integration posting through the REST API

CHANNELS = (X_PUBLIC, X_DM, EMAIL, CHAT, PHONE, API)
PUBLIC_CHANNELS = frozenset({X_PUBLIC})
# Private channels where a new contact that answers nothing joins the sender's open case
# on that channel (the customer DMs after being asked to), instead of opening one.
PRIVATE_THREADED = frozenset({X_DM, EMAIL})
# Channels whose replies an integration fetches and acknowledges (a chat widget's
# backend, another system on the API); Parley's workers send the others.
PULLED_CHANNELS = frozenset({CHAT, API})

# Identity kinds a customer can be reached by, and which channels each one opens.
IDENTITY_X = "x"  # X user id (the handle is kept beside it, it can change)
IDENTITY_EMAIL = "email"
IDENTITY_PHONE = "phone"
IDENTITY_KINDS = (IDENTITY_X, IDENTITY_EMAIL, IDENTITY_PHONE)

CHANNEL_IDENTITY_KIND: dict[str, str | None] = {
    X_PUBLIC: IDENTITY_X,
    X_DM: IDENTITY_X,
    EMAIL: IDENTITY_EMAIL,
    PHONE: IDENTITY_PHONE,
    CHAT: None,  # chat runs in the session the customer opened: no identity needed
    API: None,
}

REPLY_KINDS = ("acknowledgement", "answer", "follow_up")
AUTOMATED_KINDS = ("auto_reply", "bounce")  # messages no person wrote
PRIORITIES = ("none", "low", "medium", "high", "urgent")
MAX_TAGS = 50  # per conversation: one request cannot grow a case without bound
RESOLUTION_CODES = ("answered", "fixed", "no_response", "duplicate", "spam", "other")

# Conversation statuses.
OPEN = "open"
SNOOZED = "snoozed"
RESOLVED = "resolved"

# Reply delivery statuses.
QUEUED = "queued"  # waiting for a worker (first, or again after a retryable failure)
SENDING = "sending"  # an attempt started; its outcome is not recorded yet
DELIVERED = "delivered"
FAILED = "failed"  # for good, until an operator asks for a retry

# Why a delivery failed: what a person can act on.
FAILURE_CODES = (
    "unknown",  # recorded before codes existed
    "transient",  # the channel or network failed before anything was sent
    "uncertain",  # it may have been sent (timeout, 5xx): look before trying again
    "rate_limited",  # tried again at the channel's reset time
    "recipient_not_following",  # an X DM to someone who does not accept the brand's DMs
    "duplicate_content",  # X refuses the same text twice: edit the reply
    "rejected",  # the channel refused the request itself (bad target, too long...)
    "unauthorized",  # the channel refused Parley's credentials
    "recipient_refused",  # the mail server refused the recipient's address (550 5.1.1...)
    "bounced",  # the receiving side returned a bounce for a mail it had accepted
    "no_channel",  # no adapter for this channel is configured
    "gave_up",  # retried as often as allowed
    "customer_left",  # a chat reply the visitor left before the widget showed it
    "customer_erased",  # the customer was erased before it went out: it never will
)
# What an X DM needs of its recipient (X's rule: a brand's DM reaches only those who
# follow it or accept DMs from anyone).
DM_REQUIREMENT = "follows_brand_or_open_dms"
DM_REACH_SOURCES = ("switch", "x", "delivery")
DM_INVITATION = "Please follow us and send us a DM, so we can take the details in private."
TWEET_LIMIT = 280  # characters X takes in one tweet
OFF_CHANNEL = frozenset({"gave_up", "no_channel"})  # failures recorded without a call


def is_public(channel: str) -> bool:
    """Whether a message on this channel is visible to everyone (a tweet)."""
    return channel in PUBLIC_CHANNELS


# What a value of each identity kind looks like; the API's schema states the same
# patterns (ECMA and Python regexes alike: ASCII classes only), so a client can check them.
IDENTITY_PATTERNS: dict[str, tuple[str, str]] = {
    IDENTITY_X: (r"[0-9]{1,20}", "an X identity is the account's numeric user id"),
    IDENTITY_EMAIL: (
        r"[ \t]*[^@ \t\r\n]+@[^@ \t\r\n]+[ \t]*",
        "an e-mail address needs one @ between two parts, and no spaces",
    ),
    IDENTITY_PHONE: (r"(?=(?:[^0-9]*[0-9]){3})[\s\S]+", "a phone number needs at least 3 digits"),
}


def identity_key(kind: str, value: str) -> str:
    """An identity's natural key, without validating it: identities stored before a rule
    existed (an X handle where an id belongs) still compare, and are never refused."""
    value = value.strip()
    if kind == IDENTITY_EMAIL:
        value = value.lower()
    if kind == IDENTITY_PHONE:
        value = "".join(ch for ch in value if ch in "0123456789+")
    return f"{kind}:{value}"


@dataclass(frozen=True)
class Identity:
    """A way to reach a customer on a channel: an X user, an e-mail address, a phone."""

    kind: str
    value: str
    handle: str | None = None  # the X @handle, for display; the id is what identifies

    def __post_init__(self) -> None:
        if self.kind not in IDENTITY_KINDS:
            raise ValueError(f"unknown identity kind {self.kind!r}")
        pattern, rule = IDENTITY_PATTERNS[self.kind]
        if not re.fullmatch(pattern, self.value):
            raise ValueError(rule)

    @property
    def key(self) -> str:
        """The normalised natural key: e-mail addresses are case-insensitive."""
        return identity_key(self.kind, self.value)

    def as_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "value": self.value, "handle": self.handle}


@dataclass(frozen=True)
class Origin:
    """Where an inbound message came from, as its channel said: who wrote (``sender``),
    to which brand account, in which external thread (X ``conversation_id``, an e-mail's
    first Message-ID) and in reply to what (a tweet id, ``In-Reply-To``)."""

    sender: Identity | None = None
    brand_account: str | None = None
    thread_id: str | None = None
    in_reply_to: str | None = None

    def as_fields(self) -> dict[str, Any]:
        return {
            "sender": self.sender.as_dict() if self.sender else None,
            "brand_account": self.brand_account,
            "thread_id": self.thread_id,
            "in_reply_to": self.in_reply_to,
        }


NO_ORIGIN = Origin()


def check_in(value: str, vocabulary: tuple[str, ...], field: str) -> None:
    """Refuse a value outside its vocabulary, naming the field."""
    # Imported here: exceptions import nothing from values, values stays dependency-free.
    from domain.exceptions import InvalidValueError

    if value not in vocabulary:
        raise InvalidValueError(f"{value!r} is not one of {', '.join(vocabulary)}", field=field)


def check_channel(channel: str, field: str = "channel") -> None:
    check_in(channel, CHANNELS, field)


def plain(value: Any) -> Any:
    """A JSON-ready copy: UUIDs and datetimes (ISO 8601) as strings, sets as lists."""
    if isinstance(value, dict):
        return {str(k): plain(x) for k, x in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(x) for x in value]
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value
