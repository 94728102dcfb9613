"""The X API v2 stand-in, driven the way production drives X: tweepy's ``Client`` (OAuth
1.0a user context), its session mounted with ``RewriteAdapter``, over loopback HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import tweepy

from tests.support.x_standin import FIRST_ID, XStandIn, crc_response
from workers.channels.x_transport import RewriteAdapter, mount

ROOT = Path(__file__).resolve().parents[2]
BRAND, BRAND_NAME = "1600000000000000042", "acme"
CONSUMER_SECRET, TOKEN_SECRET = "consumer-s3cret", "token-s3cret"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
V1_TIME = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \+0000 \d{4}$"
)
DEFAULT_TWEET_KEYS = {"id", "text", "edit_history_tweet_ids"}


def make_client(
    url: str, *, timeout: float = 5, return_type: Any = tweepy.Response, **overrides: str
) -> tweepy.Client:
    credentials = {
        "consumer_key": "consumer-key",
        "consumer_secret": CONSUMER_SECRET,
        "access_token": f"{BRAND}-token",
        "access_token_secret": TOKEN_SECRET,
    }
    client = tweepy.Client(**(credentials | overrides), return_type=return_type)
    mount(client.session, url, timeout)
    return client


@pytest.fixture(scope="module")
def server() -> Iterator[XStandIn]:
    with XStandIn(CONSUMER_SECRET, TOKEN_SECRET, BRAND, BRAND_NAME) as standin:
        yield standin


@pytest.fixture
def x(server: XStandIn) -> XStandIn:
    server.reset()
    return server


@pytest.fixture
def client(x: XStandIn) -> tweepy.Client:
    return make_client(x.url)


@pytest.fixture
def raw(x: XStandIn) -> tweepy.Client:
    """The same client, answering the JSON as X sent it."""
    return make_client(x.url, return_type=dict)


def control(x: XStandIn, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    answer = requests.request(method, x.url + path, json=body, timeout=5)
    answer.raise_for_status()
    return answer.json()


def mention(x: XStandIn, text: str = "my order is late", who: str = "alice", uid: str = "7") -> str:
    return x.add_tweet(uid, who, f"@{BRAND_NAME} {text}")["id"]


# -- transport and signatures ------------------------------------------------------------


def test_rewrite_adapter_swaps_only_the_x_prefix_and_sets_a_timeout() -> None:
    adapter = RewriteAdapter("http://127.0.0.1:9/x/", timeout=3)
    assert (
        adapter.rewrite("https://api.twitter.com/2/tweets?a=1")
        == "http://127.0.0.1:9/x/2/tweets?a=1"
    )
    assert adapter.rewrite("https://api.twitter.com.evil/2") == "https://api.twitter.com.evil/2"
    assert adapter.rewrite("https://upload.twitter.com/1.1") == "https://upload.twitter.com/1.1"
    assert adapter.timeout == 3


def test_signatures_are_verified_over_the_original_url(x: XStandIn) -> None:
    """The adapter rewrites after signing: the stand-in checks the api.twitter.com URL."""
    assert make_client(x.url).create_tweet(text="signed over api.twitter.com").data["id"]
    other = XStandIn(CONSUMER_SECRET, TOKEN_SECRET, signed_base="https://elsewhere.example")
    with other, pytest.raises(tweepy.Unauthorized):
        make_client(other.url).create_tweet(text="hello")


@pytest.mark.parametrize(
    "wrong",
    [{"consumer_secret": "nope"}, {"access_token_secret": "nope"}],
    ids=["consumer", "token"],
)
def test_a_wrong_secret_is_401_in_xs_shape(x: XStandIn, wrong: dict[str, str]) -> None:
    with pytest.raises(tweepy.Unauthorized) as caught:
        make_client(x.url, **wrong).create_tweet(text="hello")  # type: ignore[arg-type]
    assert caught.value.response.json() == {
        "title": "Unauthorized",
        "type": "about:blank",
        "status": 401,
        "detail": "Unauthorized",
    }
    assert x.state()["tweets"] == []


def test_a_bearer_token_alone_is_refused(x: XStandIn, client: tweepy.Client) -> None:
    client.bearer_token = "not-oauth1"
    with pytest.raises(tweepy.Unauthorized):
        client.get_users_mentions(BRAND)  # user_auth=False: a Bearer header, no signature


def test_the_adapter_timeout_applies(x: XStandIn) -> None:
    x.add_fault("timeout", delay=1.0)
    with pytest.raises(requests.exceptions.Timeout):
        make_client(x.url, timeout=0.2).create_tweet(text="slow")
    assert x.state()["tweets"] == []  # without after_effect, nothing happened


def test_unknown_routes_are_404(x: XStandIn) -> None:
    answer = requests.get(x.url + "/2/nothing/here", timeout=5)
    assert answer.status_code == 404
    assert answer.json()["status"] == 404


# -- POST /2/tweets ----------------------------------------------------------------------


def test_create_tweet_answers_201_with_id_text_and_edit_history(x: XStandIn) -> None:
    answer = make_client(x.url, return_type=requests.Response).create_tweet(text="Hello world")
    assert answer.status_code == 201
    data = answer.json()["data"]
    assert data == {"id": data["id"], "text": "Hello world", "edit_history_tweet_ids": [data["id"]]}
    assert int(data["id"]) >= FIRST_ID
    assert x.state()["tweets"] == [{"id": data["id"], "text": "Hello world", "in_reply_to": None}]


def test_a_reply_names_the_customer_and_joins_the_conversation(
    x: XStandIn, client: tweepy.Client
) -> None:
    root = mention(x)
    reply = client.create_tweet(text="Sorry! Checking.", in_reply_to_tweet_id=root).data
    assert reply["text"] == "@alice Sorry! Checking."  # X prefixes the replied-to author
    mine = client.get_users_tweets(
        BRAND,
        user_auth=True,
        tweet_fields=["conversation_id", "in_reply_to_user_id", "referenced_tweets"],
    ).data[0]
    assert mine.conversation_id == int(root) and mine.in_reply_to_user_id == 7
    assert mine.referenced_tweets[0].data == {"type": "replied_to", "id": root}
    assert x.state()["tweets"][0]["in_reply_to"] == root


def test_posting_the_same_text_twice_is_forbidden(x: XStandIn, client: tweepy.Client) -> None:
    client.create_tweet(text="We're on it")
    with pytest.raises(tweepy.Forbidden) as caught:
        client.create_tweet(text="We're on it")
    assert caught.value.response.json() == {
        "detail": "You are not allowed to create a Tweet with duplicate content.",
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
    }
    assert len(x.state()["tweets"]) == 1
    client.create_tweet(text="We're on it!")  # different text is fine


def test_replying_to_an_unknown_tweet_is_forbidden(x: XStandIn, client: tweepy.Client) -> None:
    with pytest.raises(tweepy.Forbidden) as caught:
        client.create_tweet(text="hi", in_reply_to_tweet_id=str(FIRST_ID - 1))
    assert caught.value.api_messages == [
        "You attempted to reply to a Tweet that is deleted or not visible to you."
    ]
    assert x.state()["tweets"] == []


def test_create_tweet_without_text_is_400(client: tweepy.Client) -> None:
    with pytest.raises(tweepy.BadRequest):
        client.create_tweet()


# -- timelines and search ----------------------------------------------------------------


def test_mentions_are_newest_first_with_only_the_fields_asked_for(
    x: XStandIn, raw: tweepy.Client
) -> None:
    first, second = mention(x, "one"), mention(x, "two", "bob", "8")
    x.add_tweet("9", "carol", "no mention of anyone")
    x.add_tweet("9", "carol", "emailacme@example.com is not @acmeX either")
    plain = raw.get_users_mentions(BRAND, user_auth=True)
    assert [t["id"] for t in plain["data"]] == [second, first]
    assert all(set(t) == DEFAULT_TWEET_KEYS for t in plain["data"])
    assert plain["meta"] == {"result_count": 2, "newest_id": second, "oldest_id": first}
    assert "includes" not in plain

    fields = [
        "author_id",
        "conversation_id",
        "created_at",
        "in_reply_to_user_id",
        "referenced_tweets",
    ]
    full = raw.get_users_mentions(
        BRAND, user_auth=True, tweet_fields=fields, expansions="author_id"
    )
    newest = full["data"][0]
    assert set(newest) == DEFAULT_TWEET_KEYS | {"author_id", "conversation_id", "created_at"}
    assert newest["author_id"] == "8" and newest["conversation_id"] == second
    assert ISO_MS.match(newest["created_at"])
    assert full["includes"]["users"] == [
        {"id": "8", "name": "bob", "username": "bob"},
        {"id": "7", "name": "alice", "username": "alice"},
    ]


def test_a_customer_reply_in_a_thread_carries_the_reply_fields(
    x: XStandIn, raw: tweepy.Client
) -> None:
    root = mention(x)
    ours = make_client(x.url).create_tweet(text="DM us?", in_reply_to_tweet_id=root).data["id"]
    again = x.add_tweet("7", "alice", "ok done", in_reply_to=ours)
    assert again["text"] == "@acme ok done"  # so it is a mention too
    assert again["conversation_id"] == root
    assert again["in_reply_to_user_id"] == BRAND
    assert again["referenced_tweets"] == [{"type": "replied_to", "id": ours}]
    found = raw.get_users_mentions(
        BRAND,
        user_auth=True,
        tweet_fields="in_reply_to_user_id,referenced_tweets",
        expansions=["referenced_tweets.id", "in_reply_to_user_id"],
        since_id=root,
    )
    assert [t["id"] for t in found["data"]] == [again["id"]]
    assert found["includes"]["tweets"][0]["id"] == ours
    assert found["includes"]["users"] == [{"id": BRAND, "name": "acme", "username": "acme"}]


def test_mentions_page_with_max_results_since_id_and_until_id(
    x: XStandIn, client: tweepy.Client
) -> None:
    ids = [mention(x, f"number {n}") for n in range(7)]
    page = client.get_users_mentions(BRAND, user_auth=True, max_results=5)
    assert [t.id for t in page.data] == [int(i) for i in reversed(ids[2:])]
    rest = client.get_users_mentions(
        BRAND, user_auth=True, max_results=5, pagination_token=page.meta["next_token"]
    )
    assert [t.id for t in rest.data] == [int(ids[1]), int(ids[0])]
    assert "next_token" not in rest.meta
    every = tweepy.Paginator(client.get_users_mentions, BRAND, user_auth=True, max_results=5)
    assert len(list(every.flatten())) == 7
    newer = client.get_users_mentions(BRAND, user_auth=True, since_id=ids[4])
    assert [t.id for t in newer.data] == [int(ids[6]), int(ids[5])]
    older = client.get_users_mentions(BRAND, user_auth=True, until_id=ids[1])
    assert [t.id for t in older.data] == [int(ids[0])]
    none = client.get_users_mentions(BRAND, user_auth=True, since_id=ids[6])
    assert none.data is None and none.meta == {"result_count": 0}


def test_mentions_between_start_and_end_time(x: XStandIn, client: tweepy.Client) -> None:
    for hour in (8, 9, 10):
        x.add_tweet("7", "alice", f"@acme at {hour}", created_at=f"2026-11-02T{hour:02d}:00:00Z")
    found = client.get_users_mentions(
        BRAND,
        user_auth=True,
        start_time=datetime(2026, 11, 2, 8, 30, tzinfo=UTC),
        end_time="2026-11-02T10:00:00Z",
        tweet_fields="created_at",
    )
    assert [t.text for t in found.data] == ["@acme at 9"]
    assert found.data[0].created_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with pytest.raises(tweepy.BadRequest):
        client.get_users_mentions(BRAND, user_auth=True, since_id="not-an-id")


def test_max_results_out_of_range_is_400(client: tweepy.Client) -> None:
    with pytest.raises(tweepy.BadRequest) as caught:
        client.get_users_mentions(BRAND, user_auth=True, max_results=1)
    assert "not between 5 and 100" in caught.value.api_messages[0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("broken", {"broken box", "screen broken again"}),
        ('"want a refund"', {"I want a refund now"}),
        ("refund OR service", {"I want a refund now", "great service"}),
        ("broken -screen", {"broken box"}),
        (
            "(refund OR broken) -is:retweet lang:en",
            {"I want a refund now", "broken box", "screen broken again"},
        ),
        ("box OR want refund", {"broken box", "I want a refund now"}),
        ("broken -(screen OR again)", {"broken box"}),
        ("from:bob", {"great service"}),
        ("refunds", {"refunds are slow", "refunds take 3 days"}),
        ("-from:acme refunds", {"refunds are slow"}),
    ],
)
def test_search_recent_understands_words_phrases_or_and_operators(
    x: XStandIn, client: tweepy.Client, query: str, expected: set[str]
) -> None:
    for text, who in [
        ("broken box", "alice"),
        ("I want a refund now", "alice"),
        ("great service", "bob"),
        ("screen broken again", "carol"),
        ("refunds are slow", "carol"),
    ]:
        x.add_tweet({"alice": "7", "bob": "8", "carol": "9"}[who], who, text)
    make_client(x.url).create_tweet(text="refunds take 3 days")  # the brand's own, found too
    found = client.search_recent_tweets(query, user_auth=True).data or []
    assert {t.text for t in found} == expected


def test_search_pages_with_next_token_and_asks_for_ten_or_more(
    x: XStandIn, client: tweepy.Client
) -> None:
    for n in range(12):
        x.add_tweet("7", "alice", f"refund {n}")
    first = client.search_recent_tweets("refund", user_auth=True, max_results=10)
    assert first.meta["result_count"] == 10
    assert first.data[0].text == "refund 11"
    pages = tweepy.Paginator(client.search_recent_tweets, "refund", user_auth=True, max_results=10)
    assert len(list(pages.flatten())) == 12
    with pytest.raises(tweepy.BadRequest):
        client.search_recent_tweets("refund", user_auth=True, max_results=5)
    with pytest.raises(tweepy.BadRequest):
        client.search_recent_tweets(" ", user_auth=True)


def test_users_tweets_finds_a_reply_the_brand_already_posted(
    x: XStandIn, raw: tweepy.Client
) -> None:
    root = mention(x)
    make_client(x.url).create_tweet(text="Looking into it", in_reply_to_tweet_id=root)
    make_client(x.url).create_tweet(text="Announcement")
    found = raw.get_users_tweets(BRAND, user_auth=True, tweet_fields="referenced_tweets,created_at")
    assert [t["text"] for t in found["data"]] == ["Announcement", "@alice Looking into it"]
    assert "referenced_tweets" not in found["data"][0]
    assert found["data"][1]["referenced_tweets"] == [{"type": "replied_to", "id": root}]
    only = raw.get_users_tweets(BRAND, user_auth=True, exclude="replies")
    assert [t["text"] for t in only["data"]] == ["Announcement"]


def test_get_me_is_the_brand(client: tweepy.Client) -> None:
    assert client.get_me().data.data == {"id": BRAND, "name": BRAND_NAME, "username": BRAND_NAME}


# -- direct messages ---------------------------------------------------------------------


def test_dm_events_have_only_id_type_and_text_unless_fields_are_asked(
    x: XStandIn, raw: tweepy.Client
) -> None:
    theirs = x.add_dm("7", "alice", "where is my parcel?")
    ours = make_client(x.url).create_direct_message(participant_id="7", text="Checking!").data
    plain = raw.get_direct_message_events()
    assert plain["data"] == [
        {"id": ours["dm_event_id"], "event_type": "MessageCreate", "text": "Checking!"},
        {"id": theirs["id"], "event_type": "MessageCreate", "text": "where is my parcel?"},
    ]
    assert plain["meta"] == {"result_count": 2}
    full = raw.get_direct_message_events(
        dm_event_fields=["sender_id", "dm_conversation_id", "created_at"], expansions="sender_id"
    )
    newest, oldest = full["data"]
    assert newest["sender_id"] == BRAND and oldest["sender_id"] == "7"
    assert newest["dm_conversation_id"] == oldest["dm_conversation_id"] == f"7-{BRAND}"
    assert ours["dm_conversation_id"] == f"7-{BRAND}" and ISO_MS.match(oldest["created_at"])
    assert [u["id"] for u in full["includes"]["users"]] == [BRAND, "7"]
    assert theirs == {"event_type": "MessageCreate", **oldest}


def test_dm_events_with_one_participant_filter_and_page(x: XStandIn, client: tweepy.Client) -> None:
    for n in range(3):
        x.add_dm("7", "alice", f"alice {n}")
    x.add_dm("8", "bob", "bob here")
    alice = client.get_direct_message_events(participant_id="7", max_results=2)
    assert [e.text for e in alice.data] == ["alice 2", "alice 1"]
    rest = client.get_direct_message_events(
        participant_id="7", max_results=2, pagination_token=alice.meta["next_token"]
    )
    assert [e.text for e in rest.data] == ["alice 0"]
    assert client.get_direct_message_events(event_types="ParticipantsJoin").data is None
    assert len(client.get_direct_message_events(event_types="MessageCreate").data) == 4


def test_send_dm_answers_201_and_is_recorded(x: XStandIn) -> None:
    answer = make_client(x.url, return_type=requests.Response).create_direct_message(
        participant_id="7", text="Hi Alice"
    )
    assert answer.status_code == 201
    data = answer.json()["data"]
    assert set(data) == {"dm_conversation_id", "dm_event_id"}
    assert x.state()["dms"] == [
        {"id": data["dm_event_id"], "text": "Hi Alice", "recipient_id": "7"}
    ]


def test_a_user_who_refuses_dms_is_403(x: XStandIn, client: tweepy.Client) -> None:
    assert control(x, "POST", "/_standin/users/7", {"accepts_dms": False})["accepts_dms"] is False
    with pytest.raises(tweepy.Forbidden) as caught:
        client.create_direct_message(participant_id="7", text="Hi")
    assert caught.value.api_messages == ["You cannot send messages to this user."]
    assert caught.value.response.json()["status"] == 403
    client.create_direct_message(participant_id="8", text="Hi")  # others still can
    x.set_user("7", accepts_dms=True)
    client.create_direct_message(participant_id="7", text="Hi")
    assert [d["recipient_id"] for d in x.state()["dms"]] == ["8", "7"]


def test_a_follower_takes_dms_and_the_user_lookup_says_so(
    x: XStandIn, client: tweepy.Client
) -> None:
    control(x, "POST", "/_standin/users/7", {"accepts_dms": False, "follows_brand": True})
    client.create_direct_message(participant_id="7", text="Hi")  # a follower takes DMs
    fields = ["connection_status", "receives_your_dm"]
    user = client.get_user(id="7", user_fields=fields, user_auth=True).data
    assert (user.data["connection_status"], user.data["receives_your_dm"]) == (
        ["followed_by"],
        True,
    )
    x.set_user("7", follows_brand=False)
    user = client.get_user(id="7", user_fields=fields, user_auth=True).data
    assert (user.data["connection_status"], user.data["receives_your_dm"]) == ([], False)
    assert set(client.get_user(id="7", user_auth=True).data.data) == {"id", "name", "username"}
    with pytest.raises(tweepy.Forbidden):
        client.create_direct_message(participant_id="7", text="Hi")


# -- rate limits -------------------------------------------------------------------------


def test_every_api_answer_carries_rate_limit_headers(x: XStandIn) -> None:
    client = make_client(x.url, return_type=requests.Response)
    first = client.get_users_mentions(BRAND, user_auth=True).headers
    second = client.get_users_mentions(BRAND, user_auth=True).headers
    assert first["x-rate-limit-limit"] == "180"
    assert (first["x-rate-limit-remaining"], second["x-rate-limit-remaining"]) == ("179", "178")
    assert 0 < int(first["x-rate-limit-reset"]) - time.time() <= 900
    tweets = client.create_tweet(text="own bucket").headers
    assert (tweets["x-rate-limit-limit"], tweets["x-rate-limit-remaining"]) == ("200", "199")


def test_a_spent_limit_is_429_until_the_window_resets(x: XStandIn, client: tweepy.Client) -> None:
    control(x, "POST", "/_standin/rate_limits", {"route": "GET /2/users/:id/mentions", "limit": 2})
    client.get_users_mentions(BRAND, user_auth=True)
    client.get_users_mentions(BRAND, user_auth=True)
    with pytest.raises(tweepy.TooManyRequests) as caught:
        client.get_users_mentions(BRAND, user_auth=True)
    assert caught.value.response.headers["x-rate-limit-remaining"] == "0"
    assert caught.value.reset_time > time.time()
    assert caught.value.response.json()["title"] == "Too Many Requests"
    client.create_tweet(text="other routes have their own limit")
    x.set_rate_limit("GET /2/users/:id/mentions", 1, window=0.2)
    client.get_users_mentions(BRAND, user_auth=True)
    time.sleep(0.3)
    client.get_users_mentions(BRAND, user_auth=True)


# -- faults ------------------------------------------------------------------------------


def test_a_429_fault_sets_reset_and_is_consumed(x: XStandIn, client: tweepy.Client) -> None:
    control(
        x,
        "POST",
        "/_standin/faults",
        {"kind": "429", "route": "POST /2/tweets", "count": 2, "reset_in": 30},
    )
    for _ in range(2):
        with pytest.raises(tweepy.TooManyRequests) as caught:
            client.create_tweet(text="limited")
        assert caught.value.response.headers["x-rate-limit-remaining"] == "0"
        assert abs(caught.value.reset_time - (time.time() + 30)) <= 2
    client.get_users_mentions(BRAND, user_auth=True)  # other routes were never affected
    client.create_tweet(text="limited")
    assert len(x.state()["tweets"]) == 1


def test_faults_are_consumed_in_order_on_any_route(x: XStandIn, client: tweepy.Client) -> None:
    x.add_fault("503")
    x.add_fault("429", reset_in=5)
    with pytest.raises(tweepy.TwitterServerError):
        client.get_users_mentions(BRAND, user_auth=True)
    with pytest.raises(tweepy.TooManyRequests):
        client.create_direct_message(participant_id="7", text="x")
    client.get_direct_message_events()
    assert x.state()["dms"] == []


def test_a_503_loses_nothing_but_the_call(x: XStandIn, client: tweepy.Client) -> None:
    x.add_fault("503", route="POST /2/tweets")
    with pytest.raises(tweepy.TwitterServerError) as caught:
        client.create_tweet(text="retry me")
    assert caught.value.response.status_code == 503
    assert x.state()["tweets"] == []
    client.create_tweet(text="retry me")
    assert len(x.state()["tweets"]) == 1


def test_a_503_after_effect_posts_then_loses_the_answer(x: XStandIn, client: tweepy.Client) -> None:
    """Posted, but the outcome was lost: look before posting again."""
    root = mention(x)
    control(
        x, "POST", "/_standin/faults", {"kind": "503", "route": "POST /2/tweets", "after": True}
    )
    with pytest.raises(tweepy.TwitterServerError):
        client.create_tweet(text="On it", in_reply_to_tweet_id=root)
    posted = client.get_users_tweets(BRAND, user_auth=True, tweet_fields="referenced_tweets").data
    assert [t.referenced_tweets[0].id for t in posted] == [int(root)]
    with pytest.raises(tweepy.Forbidden):  # posting blindly again is a duplicate
        client.create_tweet(text="On it", in_reply_to_tweet_id=root)
    assert len(x.state()["tweets"]) == 1


def test_a_timeout_after_effect_posts_and_answers_too_late(x: XStandIn) -> None:
    x.add_fault(
        "timeout",
        route="POST /2/dm_conversations/with/:participant_id/messages",
        delay=1.0,
        after_effect=True,
    )
    slow = make_client(x.url, timeout=0.2)
    slow.create_tweet(text="unaffected route")
    with pytest.raises(requests.exceptions.Timeout):
        slow.create_direct_message(participant_id="7", text="maybe sent")
    assert [d["text"] for d in x.state()["dms"]] == ["maybe sent"]


def test_a_short_timeout_fault_is_only_slow(x: XStandIn, client: tweepy.Client) -> None:
    x.add_fault("timeout", delay=0.3, after_effect=True)
    started = time.monotonic()
    assert client.create_tweet(text="slow but fine").data["text"] == "slow but fine"
    assert time.monotonic() - started >= 0.3


def test_duplicate_and_dm_refused_faults(x: XStandIn, client: tweepy.Client) -> None:
    x.add_fault("duplicate")
    x.add_fault("dm_refused")
    client.get_users_mentions(BRAND, user_auth=True)  # these default to their own routes
    with pytest.raises(tweepy.Forbidden) as dup:
        client.create_tweet(text="brand new text")
    assert "duplicate content" in dup.value.api_messages[0]
    with pytest.raises(tweepy.Forbidden) as refused:
        client.create_direct_message(participant_id="7", text="hi")
    assert refused.value.api_messages == ["You cannot send messages to this user."]
    assert x.state()["tweets"] == [] and x.state()["dms"] == []


# -- the control surface -----------------------------------------------------------------


def test_control_tweets_make_v2_tweets_with_every_field(x: XStandIn) -> None:
    root = control(
        x, "POST", "/_standin/tweets",
        {"author_id": "7", "username": "alice", "text": "@acme hi", "created_at": "2026-11-02T09:00:00Z"},
    )  # fmt: skip
    assert root == {
        "id": root["id"],
        "text": "@acme hi",
        "edit_history_tweet_ids": [root["id"]],
        "author_id": "7",
        "conversation_id": root["id"],
        "created_at": "2026-11-02T09:00:00.000Z",
    }
    child = control(
        x,
        "POST",
        "/_standin/tweets",
        {"author_id": "7", "username": "alice", "text": "more", "in_reply_to": root["id"]},
    )
    grandchild = control(
        x,
        "POST",
        "/_standin/tweets",
        {"author_id": "8", "username": "bob", "text": "+1", "in_reply_to": child["id"]},
    )
    assert child["text"] == "more"  # replying to yourself adds no mention
    assert grandchild["text"] == "@alice +1"
    assert grandchild["conversation_id"] == child["conversation_id"] == root["id"]
    assert int(root["id"]) < int(child["id"]) < int(grandchild["id"])


def test_control_dms_users_state_and_reset(x: XStandIn, client: tweepy.Client) -> None:
    dm = control(
        x, "POST", "/_standin/dms", {"sender_id": "7", "username": "alice", "text": "hello"}
    )
    assert dm["sender_id"] == "7" and dm["dm_conversation_id"] == f"7-{BRAND}"
    client.create_tweet(text="hi all")
    client.get_direct_message_events()
    client.get_direct_message_events()
    state = control(x, "GET", "/_standin/state")
    assert state["calls"] == {"POST /2/tweets": 1, "GET /2/dm_events": 2}
    assert state["dms"] == []  # only what the brand sent
    assert control(x, "POST", "/_standin/reset") == {"reset": True}
    assert control(x, "GET", "/_standin/state") == {
        "tweets": [],
        "dms": [],
        "calls": {},
        "webhook_deliveries": [],
    }
    assert client.get_direct_message_events().data is None


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_standin/tweets", {"author_id": "7", "username": "alice"}),
        ("/_standin/tweets", {"author_id": "7", "username": "a", "text": "x", "in_reply_to": "1"}),
        ("/_standin/faults", {"kind": "meteor"}),
        ("/_standin/faults", {"kind": "503", "colour": "red"}),
        ("/_standin/faults", {"kind": "503", "route": "/2/tweets"}),
        ("/_standin/webhooks/crc", {}),
    ],
)
def test_bad_control_requests_are_400(x: XStandIn, path: str, body: dict[str, Any]) -> None:
    answer = requests.post(x.url + path, json=body, timeout=5)
    assert answer.status_code == 400
    assert "error" in answer.json()


# -- Account Activity webhooks -----------------------------------------------------------


class Receiver:
    """A webhook endpoint: records each POST and answers CRC checks with ``secret``."""

    def __init__(self, secret: str) -> None:
        self.secret, self.posts = secret, queue.Queue[tuple[dict[str, str], bytes]]()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                token = parse_qs(urlsplit(self.path).query)["crc_token"][0]
                self._reply(json.dumps(crc_response(receiver.secret, token)).encode())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.put(({k.lower(): v for k, v in self.headers.items()}, body))
                self._reply(b"{}")

            def _reply(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/webhooks/x"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def next(self, secret: str) -> dict[str, Any]:
        """The next delivery, after checking its signature with ``secret``."""
        headers, body = self.posts.get(timeout=5)
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        assert (
            headers["x-twitter-webhooks-signature"] == "sha256=" + base64.b64encode(digest).decode()
        )
        return json.loads(body)  # type: ignore[no-any-return]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver(CONSUMER_SECRET)
    yield endpoint
    endpoint.httpd.shutdown()
    endpoint.httpd.server_close()


def test_customer_tweets_and_dms_reach_the_webhook_in_v1_shape(
    x: XStandIn, receiver: Receiver
) -> None:
    control(x, "POST", "/_standin/webhooks", {"url": receiver.url})
    tweet = mention(x, "help")
    event = receiver.next(CONSUMER_SECRET)  # already delivered when the call returns
    assert event["for_user_id"] == BRAND
    (v1,) = event["tweet_create_events"]
    assert (v1["id_str"], v1["text"], v1["in_reply_to_status_id_str"]) == (
        tweet,
        "@acme help",
        None,
    )
    assert (v1["user"]["id_str"], v1["user"]["screen_name"]) == ("7", "alice")
    assert V1_TIME.match(v1["created_at"])
    assert v1["entities"]["user_mentions"][0]["id_str"] == BRAND

    dm = x.add_dm("7", "alice", "psst")
    event = receiver.next(CONSUMER_SECRET)
    (v1,) = event["direct_message_events"]
    assert v1["type"] == "message_create" and v1["id"] == dm["id"]
    assert v1["message_create"] == {
        "target": {"recipient_id": BRAND},
        "sender_id": "7",
        "message_data": {
            "text": "psst",
            "entities": {"hashtags": [], "urls": [], "user_mentions": [], "symbols": []},
        },
    }
    assert (
        v1["created_timestamp"].isdigit()
        and abs(int(v1["created_timestamp"]) / 1000 - time.time()) < 60
    )
    assert event["users"]["7"]["screen_name"] == "alice"
    assert x.state()["webhook_deliveries"] == [{"url": receiver.url, "status": 200}] * 2


def test_the_brands_own_tweets_and_dms_are_echoed(
    x: XStandIn, client: tweepy.Client, receiver: Receiver
) -> None:
    x.add_webhook(receiver.url, consumer_secret="other-secret")
    root = mention(x)
    assert receiver.next("other-secret")["tweet_create_events"][0]["id_str"] == root
    client.create_tweet(text="Sorry!", in_reply_to_tweet_id=root)
    echo = receiver.next("other-secret")["tweet_create_events"][0]
    assert echo["user"]["id_str"] == BRAND and echo["in_reply_to_status_id_str"] == root
    assert echo["in_reply_to_screen_name"] == "alice"
    client.create_direct_message(participant_id="7", text="Check DMs")
    sent = receiver.next("other-secret")["direct_message_events"][0]["message_create"]
    assert sent["sender_id"] == BRAND and sent["target"]["recipient_id"] == "7"


def test_crc_check(x: XStandIn, receiver: Receiver) -> None:
    token = "challenge"
    digest = hmac.new(b"consumer-s3cret", token.encode(), hashlib.sha256).digest()
    assert crc_response("consumer-s3cret", token) == {
        "response_token": "sha256=" + base64.b64encode(digest).decode()
    }
    x.add_webhook(receiver.url)
    assert control(x, "POST", "/_standin/webhooks/crc", {})["valid"] is True
    receiver.secret = "wrong"
    answer = control(x, "POST", "/_standin/webhooks/crc", {"url": receiver.url})
    assert answer["valid"] is False and answer["status"] == 200
    gone = x.check_crc("http://127.0.0.1:9/nowhere")
    assert gone["valid"] is False and "error" in gone


# -- run as a process --------------------------------------------------------------------


def test_runs_as_a_process_printing_its_url() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["--port", "0", "--consumer-secret", CONSUMER_SECRET]
    args += ["--access-token-secret", TOKEN_SECRET]
    args += ["--brand-user-id", BRAND, "--brand-username", BRAND_NAME]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.x_standin", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert re.match(r"^http://127\.0\.0\.1:\d+$", url)
        tweet = make_client(url).create_tweet(text="from a process").data
        assert (
            requests.get(url + "/_standin/state", timeout=5).json()["tweets"][0]["id"]
            == tweet["id"]
        )
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
