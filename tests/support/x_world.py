"""The world behind the X stand-in: users, tweets and DMs, and how X renders them.

No HTTP here (that is ``x_standin``): this module holds the state, the rules X applies
to it (reply mentions, conversation roots, duplicate tweets, users who refuse DMs) and
X's wire shapes: v2 objects with only the fields asked for, pages, problem bodies, and
v1.1 Account Activity events for webhooks.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

FIRST_ID = 1_800_000_000_000_000_000
TWEET_FIELDS = {"author_id", "conversation_id", "created_at", "in_reply_to_user_id"}
DM_FIELDS = {"sender_id", "dm_conversation_id", "created_at"}
NO_ENTITIES: dict[str, list[Any]] = {"hashtags": [], "urls": [], "user_mentions": [], "symbols": []}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_QUERY_TOKEN = re.compile(r'-?"[^"]*"|-?\(|\)|[^\s()]+')
_DIGITS36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    """X v2's error body (RFC 7807 problem details)."""
    return {"title": title, "type": "about:blank", "status": status, "detail": detail}


UNAUTHORIZED = problem(401, "Unauthorized", "Unauthorized")
TOO_MANY = problem(429, "Too Many Requests", "Too Many Requests")
UNAVAILABLE = problem(503, "Service Unavailable", "Service Unavailable")
DUPLICATE = problem(
    403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."
)
REPLY_GONE = problem(
    403, "Forbidden", "You attempted to reply to a Tweet that is deleted or not visible to you."
)
DM_REFUSED = problem(403, "Forbidden", "You cannot send messages to this user.")


class ApiError(Exception):
    """An API call X refuses: the status and body to answer with."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("detail"))
        self.status, self.body = status, body


def invalid(param: str, value: Any, message: str | None = None) -> ApiError:
    """X's 400 for a bad query parameter or body field."""
    message = message or f"The `{param}` query parameter value [{value}] is not valid"
    return ApiError(
        400,
        {
            "errors": [{"parameters": {param: [str(value)]}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
    )


def now(clock: Callable[[], float] | None = None) -> datetime:
    """The moment (``clock``: epoch seconds, default the real one), to the millisecond."""
    moment = datetime.fromtimestamp(clock(), UTC) if clock is not None else datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso(moment: datetime) -> str:
    """X v2's time format: ``2026-11-02T09:00:00.000Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def v1_time(moment: datetime) -> str:
    """v1.1's time format, whatever the locale: ``Wed Oct 10 20:19:24 +0000 2018``."""
    m = moment.astimezone(UTC)
    return f"{_DAYS[m.weekday()]} {_MONTHS[m.month - 1]} {m:%d %H:%M:%S} +0000 {m.year}"


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def base36(number: int) -> str:
    out = ""
    while number:
        number, digit = divmod(number, 36)
        out = _DIGITS36[digit] + out
    return out or "0"


def listed(query: dict[str, str], name: str) -> set[str]:
    """A comma-separated query parameter (``tweet.fields=a,b``) as a set."""
    return {v for v in query.get(name, "").split(",") if v}


@dataclass
class Tweet:
    id: str
    author_id: str
    username: str
    text: str
    created_at: datetime
    conversation_id: str
    in_reply_to: str | None = None
    in_reply_to_user_id: str | None = None


@dataclass
class Dm:
    id: str
    sender_id: str
    recipient_id: str
    text: str
    created_at: datetime

    @property
    def conversation_id(self) -> str:
        """A one-to-one conversation's id, as X forms it: the two user ids, lower first."""
        return "-".join(sorted((self.sender_id, self.recipient_id), key=int))


class _HasId(Protocol):
    id: str


T = TypeVar("T", bound=_HasId)


Match = Callable[[Tweet], bool]


def words(needle: str) -> Callable[[str], bool]:
    """Whole words, any case, as X's search matches them (``refund`` misses ``refunds``)."""
    regex = re.compile(rf"(?<![\w@#]){re.escape(needle)}(?!\w)", re.IGNORECASE)
    return lambda text: regex.search(text) is not None


def parse_query(query: str) -> Match:
    """Enough of X's search language: words, "phrases", OR, (groups), -negation, from:,
    is:reply, is:retweet (never true here); any other operator matches everything.

    AND binds tighter than OR, as X documents: ``a OR b c`` is ``a OR (b c)``.
    """
    tokens, pos = _QUERY_TOKEN.findall(query), 0

    def either() -> Match:
        nonlocal pos
        options = [both()]
        while pos < len(tokens) and tokens[pos] == "OR":
            pos += 1
            options.append(both())
        return lambda t: any(o(t) for o in options)

    def both() -> Match:
        nonlocal pos
        terms: list[Match] = []
        while pos < len(tokens) and tokens[pos] not in ("OR", ")"):
            token, pos = tokens[pos], pos + 1
            if token in ("(", "-("):
                group = either()
                pos += pos < len(tokens) and tokens[pos] == ")"
                terms.append(negated(group) if token == "-(" else group)
            else:
                terms.append(term(token))
        return lambda t: all(x(t) for x in terms)

    return either()


def negated(match: Match) -> Match:
    return lambda t: not match(t)


def term(token: str) -> Match:
    negate = token.startswith("-") and len(token) > 1
    token = token[1:] if negate else token
    op, _, value = token.partition(":")
    if token.startswith('"'):
        found = words(token.strip('"'))
        match: Match = lambda t: found(t.text)  # noqa: E731
    elif op == "from" and value:
        match = lambda t: t.username.lower() == value.lstrip("@").lower()  # noqa: E731
    elif token == "is:reply":
        match = lambda t: t.in_reply_to is not None  # noqa: E731
    elif token == "is:retweet":
        match = lambda t: False  # noqa: E731
    elif value and op.isalpha():
        return lambda t: True  # an operator we don't model: ignored, negated or not
    else:
        found = words(token)
        match = lambda t: found(t.text)  # noqa: E731
    return negated(match) if negate else match


class World:
    """Users, tweets and DMs, behind one lock. The brand is the authenticated user.

    Ids come from one counter, increasing like snowflakes (so ``since_id`` works as an
    integer comparison), and never restart: ``reset()`` keeps counting.
    """

    def __init__(
        self, brand_user_id: str, brand_username: str, clock: Callable[[], float] | None = None
    ) -> None:
        self.brand_user_id, self.brand_username = brand_user_id, brand_username
        self.clock = clock  # epoch seconds; None: the real time
        self.lock = threading.RLock()
        self._ids = itertools.count(FIRST_ID)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.tweets: dict[str, Tweet] = {}
            self.dms: list[Dm] = []
            self.users: dict[str, dict[str, Any]] = {
                self.brand_user_id: {"username": self.brand_username, "accepts_dms": True}
            }

    def user(self, user_id: str, username: str | None = None) -> dict[str, Any]:
        with self.lock:
            user = self.users.setdefault(
                user_id, {"username": f"user{user_id}", "accepts_dms": True}
            )
            if username:
                user["username"] = username
            return user

    # -- what happens -------------------------------------------------------------------

    def add_tweet(
        self,
        author_id: str,
        username: str,
        text: str,
        in_reply_to: str | None,
        created_at: str | None,
    ) -> Tweet:
        with self.lock:
            self.user(author_id, username)
            parent = self.tweets.get(in_reply_to) if in_reply_to else None
            if in_reply_to and parent is None:
                raise ValueError(f"no tweet {in_reply_to}")
            return self._new_tweet(
                author_id, text, parent, parse_time(created_at) if created_at else None
            )

    def post_tweet(self, text: Any, in_reply_to: str | None) -> Tweet:
        """The brand tweets: refused for an unknown parent or a repeat of its own text."""
        if not isinstance(text, str) or not text:
            raise invalid("text", text, "The `text` field is required.")
        with self.lock:
            parent = self.tweets.get(in_reply_to) if in_reply_to else None
            if in_reply_to and parent is None:
                raise ApiError(403, REPLY_GONE)
            text = self._with_reply_mention(self.brand_user_id, text, parent)
            if any(
                t.author_id == self.brand_user_id and t.text == text for t in self.tweets.values()
            ):
                raise ApiError(403, DUPLICATE)
            return self._new_tweet(self.brand_user_id, text, parent)

    def add_dm(self, sender_id: str, username: str, text: str) -> Dm:
        with self.lock:
            self.user(sender_id, username)
            return self._new_dm(sender_id, self.brand_user_id, text)

    def send_dm(self, recipient_id: str, text: Any) -> Dm:
        """The brand sends a DM: refused if the recipient doesn't accept the brand's DMs."""
        if not isinstance(text, str) or not text:
            raise invalid("text", text, "The `text` field is required.")
        with self.lock:
            if not self.receives_dms(recipient_id):
                raise ApiError(403, DM_REFUSED)
            return self._new_dm(self.brand_user_id, recipient_id, text)

    def _with_reply_mention(self, author: str, text: str, parent: Tweet | None) -> str:
        """X puts the replied-to author's @username in front of a reply's text."""
        if parent is None or parent.author_id == author:
            return text
        lead = f"@{parent.username}"
        if re.match(rf"{re.escape(lead)}(?!\w)", text, re.IGNORECASE):
            return text
        return f"{lead} {text}"

    def _new_tweet(
        self, author: str, text: str, parent: Tweet | None, moment: datetime | None = None
    ) -> Tweet:
        tweet_id = str(next(self._ids))
        tweet = Tweet(
            tweet_id,
            author,
            self.users[author]["username"],
            self._with_reply_mention(author, text, parent),
            moment or now(self.clock),
            conversation_id=parent.conversation_id if parent else tweet_id,
            in_reply_to=parent.id if parent else None,
            in_reply_to_user_id=parent.author_id if parent else None,
        )
        self.tweets[tweet_id] = tweet
        return tweet

    def _new_dm(self, sender: str, recipient: str, text: str) -> Dm:
        dm = Dm(str(next(self._ids)), sender, recipient, text, now(self.clock))
        self.dms.append(dm)
        return dm

    # -- what the API finds -------------------------------------------------------------

    def mentions(self, user_id: str) -> list[Tweet]:
        """Others' tweets naming ``@username`` (an e-mail address or ``@usernameX`` doesn't)."""
        name = self.users.get(user_id, {}).get("username")
        if not name:
            return []
        named = re.compile(rf"(?<![\w@])@{re.escape(name)}(?!\w)", re.IGNORECASE)
        return [t for t in self.tweets.values() if t.author_id != user_id and named.search(t.text)]

    def search(self, query: str) -> list[Tweet]:
        if not query.strip():
            raise invalid("query", query, "The `query` query parameter can not be empty")
        matches = parse_query(query)
        return [t for t in self.tweets.values() if matches(t)]

    def timeline(self, user_id: str, *, replies: bool = True) -> list[Tweet]:
        tweets = self.tweets.values()
        return [t for t in tweets if t.author_id == user_id and (replies or not t.in_reply_to)]

    def conversation(self, participant_id: str | None) -> list[Dm]:
        """The brand's DM events, both directions; with ``participant_id``, one 1-1 thread."""
        if participant_id is None:
            return list(self.dms)
        return [d for d in self.dms if participant_id in (d.sender_id, d.recipient_id)]

    # -- X's v2 shapes --------------------------------------------------------------------

    def tweet_view(self, t: Tweet, fields: set[str]) -> dict[str, Any]:
        """The fields ``tweet.fields`` asked for, plus the ones X always sends."""
        view: dict[str, Any] = {"id": t.id, "text": t.text, "edit_history_tweet_ids": [t.id]}
        every: dict[str, Any] = {
            "author_id": t.author_id,
            "conversation_id": t.conversation_id,
            "created_at": iso(t.created_at),
        }
        if t.in_reply_to:
            every["in_reply_to_user_id"] = t.in_reply_to_user_id
            every["referenced_tweets"] = [{"type": "replied_to", "id": t.in_reply_to}]
        return view | {k: v for k, v in every.items() if k in fields}

    def full_tweet(self, t: Tweet) -> dict[str, Any]:
        return self.tweet_view(t, TWEET_FIELDS | {"referenced_tweets"})

    def dm_view(self, d: Dm, fields: set[str]) -> dict[str, Any]:
        """X's trap: unless ``dm_event.fields`` asks, a DM event has no sender or time."""
        every = {
            "sender_id": d.sender_id,
            "dm_conversation_id": d.conversation_id,
            "created_at": iso(d.created_at),
        }
        view = {"id": d.id, "event_type": "MessageCreate", "text": d.text}
        return view | {k: v for k, v in every.items() if k in fields}

    def receives_dms(self, user_id: str) -> bool:
        """Whether the brand's DM reaches the user: they follow it, or take DMs from anyone."""
        user = self.user(user_id)
        return bool(user["accepts_dms"] or user.get("follows_brand"))

    def user_view(self, user_id: str, fields: AbstractSet[str] = frozenset()) -> dict[str, Any]:
        name = self.user(user_id)["username"]
        view: dict[str, Any] = {"id": user_id, "name": name, "username": name}
        if "connection_status" in fields:  # the user's relationship to the brand
            view["connection_status"] = (
                ["followed_by"] if self.user(user_id).get("follows_brand") else []
            )
        if "receives_your_dm" in fields:
            view["receives_your_dm"] = self.receives_dms(user_id)
        return view

    def tweet_page(self, query: dict[str, str], tweets: list[Tweet], least: int) -> dict[str, Any]:
        """A v2 page of tweets: ``data``, ``includes`` as expanded, ``meta``."""
        within = _bounds(query)
        tweets = [t for t in tweets if within(t)]
        page, next_token = _page(query, tweets, least, default=10)
        expansions = listed(query, "expansions")
        fields = listed(query, "tweet.fields") | (expansions & TWEET_FIELDS)  # expanded => shown
        if "referenced_tweets.id" in expansions:
            fields.add("referenced_tweets")
        doc: dict[str, Any] = {"data": [self.tweet_view(t, fields) for t in page]} if page else {}
        user_ids = [
            getattr(t, f)
            for t in page
            for f in ("author_id", "in_reply_to_user_id")
            if f in expansions
        ]
        parents = [t.in_reply_to for t in page if t.in_reply_to]
        includes: dict[str, Any] = {}
        if user_ids := [u for u in dict.fromkeys(user_ids) if u]:
            includes["users"] = [self.user_view(u) for u in user_ids]
        if parents and "referenced_tweets.id" in expansions:
            includes["tweets"] = [
                self.tweet_view(self.tweets[p], fields) for p in dict.fromkeys(parents)
            ]
        if includes:
            doc["includes"] = includes
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta |= {"newest_id": page[0].id, "oldest_id": page[-1].id}
        if next_token:
            meta["next_token"] = next_token
        return doc | {"meta": meta}

    def dm_page(self, query: dict[str, str], dms: list[Dm]) -> dict[str, Any]:
        """A v2 page of DM events (X's DM meta has no newest/oldest ids)."""
        types = listed(query, "event_types")
        page, next_token = _page(
            query, dms if not types or "MessageCreate" in types else [], 1, 100
        )
        expansions = listed(query, "expansions")
        fields = listed(query, "dm_event.fields") | (expansions & {"sender_id"})
        doc: dict[str, Any] = {"data": [self.dm_view(d, fields) for d in page]} if page else {}
        if page and "sender_id" in expansions:
            senders = dict.fromkeys(d.sender_id for d in page)
            doc["includes"] = {"users": [self.user_view(u) for u in senders]}
        meta: dict[str, Any] = {"result_count": len(page)}
        if next_token:
            meta["next_token"] = next_token
        return doc | {"meta": meta}

    # -- v1.1 Account Activity events -----------------------------------------------------

    def _v1_user(self, user_id: str) -> dict[str, Any]:
        name = self.user(user_id)["username"]
        return {"id": int(user_id), "id_str": user_id, "name": name, "screen_name": name}

    def tweet_event(self, t: Tweet) -> dict[str, Any]:
        parent = self.tweets.get(t.in_reply_to or "")
        by_name = {u["username"].lower(): uid for uid, u in self.users.items()}
        mentions = [
            self._v1_user(by_name[m.group(1).lower()]) | {"indices": [m.start(), m.end()]}
            for m in re.finditer(r"(?<![\w@])@(\w+)", t.text)
            if m.group(1).lower() in by_name
        ]
        tweet = {
            "created_at": v1_time(t.created_at),
            "id": int(t.id),
            "id_str": t.id,
            "text": t.text,
            "user": self._v1_user(t.author_id),
            "in_reply_to_status_id": int(t.in_reply_to) if t.in_reply_to else None,
            "in_reply_to_status_id_str": t.in_reply_to,
            "in_reply_to_user_id": int(t.in_reply_to_user_id) if t.in_reply_to_user_id else None,
            "in_reply_to_user_id_str": t.in_reply_to_user_id,
            "in_reply_to_screen_name": parent.username if parent else None,
            "entities": NO_ENTITIES | {"user_mentions": mentions},
        }
        return {"for_user_id": self.brand_user_id, "tweet_create_events": [tweet]}

    def dm_event(self, d: Dm) -> dict[str, Any]:
        event = {
            "type": "message_create",
            "id": d.id,
            "created_timestamp": str(int(d.created_at.timestamp() * 1000)),
            "message_create": {
                "target": {"recipient_id": d.recipient_id},
                "sender_id": d.sender_id,
                "message_data": {"text": d.text, "entities": NO_ENTITIES},
            },
        }
        users = {u: self._v1_user(u) | {"id": u} for u in (d.sender_id, d.recipient_id)}
        return {"for_user_id": self.brand_user_id, "direct_message_events": [event], "users": users}


def _bounds(query: dict[str, str]) -> Match:
    """``since_id``/``until_id`` (exclusive) and ``start_time``/``end_time``, as X reads them."""
    ids = {}
    for name in ("since_id", "until_id"):
        if name in query and not query[name].isdigit():
            raise invalid(name, query[name])
        ids[name] = int(query.get(name) or 0)
    times: dict[str, datetime | None] = {}
    for name in ("start_time", "end_time"):
        try:
            times[name] = parse_time(query[name]) if name in query else None
        except ValueError:
            raise invalid(name, query[name]) from None
    since, until, start, end = (
        ids["since_id"],
        ids["until_id"],
        times["start_time"],
        times["end_time"],
    )
    return lambda t: (
        int(t.id) > since
        and (not until or int(t.id) < until)
        and (start is None or t.created_at >= start)
        and (end is None or t.created_at < end)
    )


def _page(
    query: dict[str, str], items: Sequence[T], least: int, default: int
) -> tuple[list[T], str | None]:
    """Newest first, ``max_results`` at a time; a token is the next page's first id, base 36.

    Tweepy sends ``next_token`` for search and ``pagination_token`` elsewhere; X takes both.
    """
    size = query.get("max_results", str(default))
    if not size.isdigit() or not least <= int(size) <= 100:
        message = f"The `max_results` query parameter value [{size}] is not between {least} and 100"
        raise invalid("max_results", size, message)
    name = "next_token" if "next_token" in query else "pagination_token"
    ordered = sorted(items, key=lambda i: int(i.id), reverse=True)
    if token := query.get(name):
        try:
            first = int(token, 36)
        except ValueError:
            raise invalid(name, token) from None
        ordered = [i for i in ordered if int(i.id) <= first]
    count = int(size)
    page, rest = ordered[:count], ordered[count:]
    return page, base36(int(rest[0].id)) if rest else None
