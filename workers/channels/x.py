"""X (Twitter) through tweepy's ``Client`` (API v2): public replies, DMs, and looking for
a reply an earlier attempt may have posted.

X has no idempotency key, so after an uncertain attempt the delivery job asks
:meth:`XChannel.find` first: the brand's recent tweets replying to the same tweet, or
its DMs to the same person, with the reply's text. Every call is counted per route and
outcome, and the rate-limit headers kept, in Redis (X bills per call).
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import requests
import tweepy

from workers.channels.base import (
    DeliveryError,
    DuplicateError,
    Outgoing,
    PermanentError,
    RateLimitedError,
    TransientError,
    UncertainError,
)
from workers.channels.x_transport import X_API, mount

log = logging.getLogger(__name__)

CALLS = "parley:x:calls"  # hash: "METHOD /2/route status" -> count
LIMITS = "parley:x:limits"  # hash: "METHOD /2/route" -> {"limit", "remaining", "reset"}
BUDGET = "parley:x:budget:"  # + route: hash {"remaining", "reset"}: what posts may still go
TWEETS_ROUTE = "POST /2/tweets"
DM_ROUTE = "POST /2/dm_conversations/with/:id/messages"
# X's last word on a route's window: a later window replaces it; within one window the
# remaining count only goes down (answers may come back out of order).
_NOTE = """
local reset = tonumber(ARGV[2])
local known = tonumber(redis.call('HGET', KEYS[1], 'reset') or '0')
if reset > known then
  redis.call('HSET', KEYS[1], 'remaining', ARGV[1], 'reset', ARGV[2])
elseif reset == known then
  local left = tonumber(redis.call('HGET', KEYS[1], 'remaining') or ARGV[1])
  if tonumber(ARGV[1]) < left then redis.call('HSET', KEYS[1], 'remaining', ARGV[1]) end
end
redis.call('EXPIRE', KEYS[1], 86400)
return 0
"""
# Take one post from the route's window: 0 if it may go now (the window is unknown, has
# passed, or has posts left), else when it may (epoch seconds). X's reset is whole seconds,
# rounded down: a second more, so that a post never arrives a moment before the window.
_TAKE = """
local reset = tonumber(redis.call('HGET', KEYS[1], 'reset') or '0')
if reset == 0 or tonumber(ARGV[1]) >= reset + 1 then return 0 end
local left = tonumber(redis.call('HGET', KEYS[1], 'remaining') or '1')
if left > 0 then
  redis.call('HINCRBY', KEYS[1], 'remaining', -1)
  return 0
end
return reset + 1
"""
LOOK_BACK = timedelta(minutes=5)  # how far before queuing a found reply may have been posted
MAX_LOOKED = 500  # tweets or DMs read back when looking for an earlier attempt's post
# An id in a path: a long number (not the API's version, /2) or a DM conversation's pair.
_ID = re.compile(r"/[0-9]{3,}(?:-[0-9]{3,})?(?=/|$)")


def route_of(method: str, url: str) -> str:
    """``GET /2/users/:id/mentions`` from a request: the unit X bills and limits."""
    path = "/" + url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    return f"{method} {_ID.sub('/:id', path)}"


class Usage:
    """Counts every call to X and keeps the last rate-limit headers, per route; and keeps
    the budget of the posting routes (:meth:`take`), so that posts wait for their window
    instead of being sent to X only to be refused."""

    def __init__(self, client: redis.Redis | None) -> None:
        self.redis = client

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if self.redis is None:
            return
        route = route_of(response.request.method or "GET", response.request.url or "")
        try:
            pipe = self.redis.pipeline()
            pipe.hincrby(CALLS, f"{route} {response.status_code}", 1)
            if "x-rate-limit-limit" in response.headers:
                limit = {k: response.headers.get(f"x-rate-limit-{k}") for k in
                         ("limit", "remaining", "reset")}  # fmt: skip
                pipe.hset(LIMITS, route, json.dumps(limit))
                remaining, reset = limit["remaining"] or "", limit["reset"] or ""
                if route in (TWEETS_ROUTE, DM_ROUTE) and remaining.isdigit() and reset.isdigit():
                    pipe.eval(_NOTE, 1, BUDGET + route, remaining, reset)
            pipe.execute()
        except redis.RedisError as error:
            log.debug("could not count an X call: %s", error)

    def take(self, route: str, now: datetime) -> datetime | None:
        """Take one call of ``route``'s window as X last reported it: None if the call
        may go now, else when the window resets. Without Redis, every call may go (X's
        own 429 still reschedules it)."""
        if self.redis is None:
            return None
        try:
            reset = int(self.redis.eval(_TAKE, 1, BUDGET + route, str(now.timestamp())))  # type: ignore[arg-type]
        except redis.RedisError as error:
            log.debug("could not read X's rate-limit budget: %s", error)
            return None
        return None if reset == 0 else datetime.fromtimestamp(reset, UTC)

    def snapshot(self) -> dict[str, Any]:
        """What ``parley channels status`` and ``GET /v1/ops/channels`` show."""
        assert self.redis is not None
        calls: dict[str, dict[str, int]] = {}
        for key, count in self.redis.hgetall(CALLS).items():  # type: ignore[union-attr]
            route, _, status = key.decode().rpartition(" ")
            calls.setdefault(route, {})[status] = int(count)
        limits = {
            k.decode(): json.loads(x)
            for k, x in self.redis.hgetall(LIMITS).items()  # type: ignore[union-attr]
        }
        return {"calls": calls, "rate_limits": limits}


def client_for(settings: Any, usage: Usage, timeout: float = 10.0) -> tweepy.Client:
    """A tweepy ``Client`` with Parley's credentials, a timeout, and every call counted.

    ``wait_on_rate_limit`` stays off: a job must never sleep inside a call (TRAPS), it
    reschedules at the reset time instead.
    """
    client = tweepy.Client(
        consumer_key=settings.x_consumer_key,
        consumer_secret=settings.x_consumer_secret,
        access_token=settings.x_access_token,
        access_token_secret=settings.x_access_token_secret,
        wait_on_rate_limit=False,
    )
    mount(client.session, settings.x_api_base_url or X_API, timeout=timeout)
    client.session.hooks["response"].append(usage.hook)
    return client


@contextmanager
def translated() -> Iterator[None]:
    """tweepy's and requests' errors as the delivery job's: transient, uncertain, rate
    limited, or permanent with a reason a person can act on."""
    try:
        yield
    except tweepy.TooManyRequests as error:
        reset = error.response.headers.get("x-rate-limit-reset")
        when = (
            datetime.fromtimestamp(int(reset), UTC)
            if reset and reset.isdigit()
            else datetime.now(UTC) + timedelta(minutes=15)
        )
        raise RateLimitedError(
            f"X rate limit reached; it resets at {when.isoformat()}", when
        ) from error
    except tweepy.Forbidden as error:
        text = " ".join([*error.api_messages, str(error)]).lower()
        if "duplicate" in text:
            raise DuplicateError(
                "X refuses a text the brand posted already: edit the reply and send it again"
            ) from error
        if "cannot send messages" in text or "not permitted to send" in text:
            raise PermanentError(
                "recipient_not_following",
                "X refused the DM: the customer does not accept DMs from the brand (they must "
                "follow it or open their DMs); ask them in public, then retry",
            ) from error
        raise PermanentError("rejected", f"X refused it: {_message(error)}") from error
    except tweepy.Unauthorized as error:
        raise PermanentError(
            "unauthorized", "X refused Parley's credentials: check PARLEY_X_* and retry"
        ) from error
    except (tweepy.BadRequest, tweepy.NotFound) as error:
        raise PermanentError("rejected", f"X refused it: {_message(error)}") from error
    except tweepy.TwitterServerError as error:
        raise UncertainError(f"X answered {error.response.status_code}") from error
    except requests.ConnectTimeout as error:
        raise TransientError(f"X did not answer the connection: {error}") from error
    except requests.ConnectionError as error:
        if "refused" in str(error).lower():
            raise TransientError(f"X refused the connection: {error}") from error
        raise UncertainError(f"the connection to X broke: {error}") from error
    except requests.Timeout as error:
        raise UncertainError(f"X did not answer in time: {error}") from error
    except tweepy.TweepyException as error:
        raise UncertainError(f"X: {error}") from error


def _message(error: tweepy.HTTPException) -> str:
    return "; ".join(error.api_messages) or str(error.response.status_code)


def utc_now() -> datetime:
    return datetime.now(UTC)


class XChannel:
    """Outbound on ``x_public`` (a reply tweet, or a standalone one: an incident's general
    update) and ``x_dm`` (a direct message)."""

    def __init__(
        self,
        client: tweepy.Client,
        brand_user_id: str,
        usage: Usage | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.client = client
        self.brand_user_id = brand_user_id
        self.usage = usage
        self.clock = clock  # what X's reset times are compared with

    def hold(self, outgoing: Outgoing) -> datetime | None:
        """When X's rate limit lets this post go, if not now: the delivery job waits for
        that moment rather than spend a request X would refuse (a 429). Taking the post
        from the window here is what keeps a bulk of replies inside the limit."""
        if self.usage is None:
            return None
        route = DM_ROUTE if outgoing.channel == "x_dm" else TWEETS_ROUTE
        return self.usage.take(route, self.clock())

    def send(self, outgoing: Outgoing) -> str:
        with translated():
            if outgoing.channel == "x_dm":
                return self._dm(outgoing)
            return self._tweet(outgoing)

    def _tweet(self, outgoing: Outgoing) -> str:
        text = outgoing.body
        handle = (outgoing.recipient or {}).get("handle")
        if outgoing.in_reply_to is None and handle:
            text = f"@{handle} {text}"  # nothing to answer: mention the customer instead
        if outgoing.in_reply_to is None and outgoing.recipient is None:
            return self.post(text)
        response = self.client.create_tweet(
            text=text, in_reply_to_tweet_id=outgoing.in_reply_to, user_auth=True
        )
        return str(response.data["id"])

    def post(self, text: str) -> str:
        """A standalone tweet from the brand account (an incident's general update): in
        reply to nobody, mentioning nobody. Errors are tweepy's (``send`` translates)."""
        response = self.client.create_tweet(text=text, user_auth=True)
        return str(response.data["id"])

    def _dm(self, outgoing: Outgoing) -> str:
        recipient = (outgoing.recipient or {}).get("value")
        if not recipient:
            raise PermanentError("rejected", "the case names no X account to send the DM to")
        response = self.client.create_direct_message(
            participant_id=recipient, text=outgoing.body, user_auth=True
        )
        return str(response.data["dm_event_id"])

    def dm_reach(self, user_id: str) -> tuple[bool | None, bool | None]:
        """Whether the brand's DM reaches ``user_id`` and whether they follow the brand,
        as X says (``receives_your_dm``, ``connection_status``); None where it does not
        say. Errors are the delivery job's (``translated``)."""
        with translated():
            response = self.client.get_user(
                id=user_id, user_fields=["connection_status", "receives_your_dm"], user_auth=True
            )
        data = getattr(response.data, "data", None) or {}
        receives = data.get("receives_your_dm")
        status = data.get("connection_status")
        follows = None if status is None else "followed_by" in status
        return (None if receives is None else bool(receives)), follows

    def find(
        self, outgoing: Outgoing, taken: Callable[[str], bool] = lambda _: False
    ) -> str | None:
        """The id of this reply if X has it already (posted by an earlier attempt)."""
        since = outgoing.queued_at - LOOK_BACK
        try:
            with translated():
                if outgoing.channel == "x_dm":
                    return self._find_dm(outgoing, since, taken)
                return self._find_tweet(outgoing, since, taken)
        except DeliveryError as error:
            raise UncertainError(f"could not look for an earlier attempt on X: {error}") from error

    def _find_tweet(
        self, outgoing: Outgoing, since: datetime, taken: Callable[[str], bool]
    ) -> str | None:
        pages = tweepy.Paginator(
            self.client.get_users_tweets, self.brand_user_id, max_results=100,
            start_time=since, tweet_fields=["referenced_tweets", "created_at"], user_auth=True,
        )  # fmt: skip
        for tweet in pages.flatten(limit=MAX_LOOKED):
            if taken(str(tweet.id)):
                continue
            replied = {str(r.id) for r in (tweet.referenced_tweets or []) if r.type == "replied_to"}
            answers = outgoing.in_reply_to in replied if outgoing.in_reply_to else not replied
            if answers and html.unescape(tweet.text).endswith(outgoing.body):
                return str(tweet.id)
        return None

    def _find_dm(
        self, outgoing: Outgoing, since: datetime, taken: Callable[[str], bool]
    ) -> str | None:
        recipient = (outgoing.recipient or {}).get("value")
        if not recipient:
            return None
        pages = tweepy.Paginator(
            self.client.get_direct_message_events, participant_id=recipient,
            event_types="MessageCreate", max_results=100, user_auth=True,
            dm_event_fields=["sender_id", "created_at", "dm_conversation_id"],
        )  # fmt: skip
        for dm in pages.flatten(limit=MAX_LOOKED):
            if dm.created_at is not None and dm.created_at < since:
                break  # newest first: the rest is older still
            ours = str(dm.sender_id) == self.brand_user_id and not taken(str(dm.id))
            if ours and html.unescape(dm.text) == outgoing.body:
                return str(dm.id)
        return None
