"""The one interface every outbound channel adapter has, and the errors it may raise.

An adapter sends one reply and answers the channel's id for it, or says how it failed:
transient (nothing was sent: try again), uncertain (it may have been sent: look before
trying again), rate limited (try at this time), or permanent (a person must act). The
delivery job knows this interface, never tweepy or smtplib.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Outgoing:
    """A reply as the channel needs it, all taken from its ``ReplyQueued`` event."""

    reply_id: str
    channel: str
    body: str
    in_reply_to: str | None  # the channel's id of the message it answers
    recipient: dict[str, Any] | None  # the identity it goes to
    from_account: str | None
    queued_at: datetime
    subject: str | None = None  # an e-mail's Subject ("Re: " the case's)
    references: tuple[str, ...] = ()  # the thread's earlier Message-IDs, oldest first


class DeliveryError(Exception):
    code = "transient"
    retryable = True

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(DeliveryError):
    """Nothing was sent (connection refused, a 5xx before the request was taken)."""


class UncertainError(DeliveryError):
    """It may have been sent (a timeout, a 5xx after sending): look before trying again."""

    code = "uncertain"


class RateLimitedError(DeliveryError):
    code = "rate_limited"

    def __init__(self, reason: str, reset_at: datetime) -> None:
        super().__init__(reason)
        self.reset_at = reset_at


class PermanentError(DeliveryError):
    """The channel refused this reply for a reason a person has to act on."""

    retryable = False

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class DuplicateError(PermanentError):
    """The channel refuses the text as one already posted: maybe an earlier attempt did."""

    def __init__(self, reason: str) -> None:
        super().__init__("duplicate_content", reason)


class Channel(Protocol):
    def send(self, outgoing: Outgoing) -> str:
        """Deliver; the channel's id of what was posted. Raises a ``DeliveryError``."""
        ...

    def find(self, outgoing: Outgoing, taken: Callable[[str], bool]) -> str | None:
        """The channel's id of this reply if an earlier attempt posted it, else None;
        ``taken(id)`` says an id is another reply's already (the same text sent twice)."""
        ...


class Holding(Protocol):
    """A channel with a rate limit it can tell of before a call (X's windows)."""

    def hold(self, outgoing: Outgoing) -> datetime | None:
        """None if ``outgoing`` may go now (its call is counted against the limit), else
        the moment it may."""
        ...


def held(channel: Any, outgoing: Outgoing) -> datetime | None:
    """When ``channel``'s rate limit lets ``outgoing`` go, if not now (None: now, or a
    channel without such a limit)."""
    hold = getattr(channel, "hold", None)
    return hold(outgoing) if hold is not None else None
