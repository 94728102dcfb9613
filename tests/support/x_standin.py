"""A stand-in for the X (Twitter) API v2: a real HTTP server on loopback, in X's shapes.

The production adapter (tweepy's ``Client``, its session mounted with
``workers.channels.x_transport.RewriteAdapter``) runs against it unmodified: requests are
signed with OAuth 1.0a over ``https://api.twitter.com/...`` and verified here over that
same URL. Tests arrange the world through ``/_standin/*`` (JSON, no auth) or the same
methods in Python: customer tweets and DMs, users who refuse DMs, queued faults, rate
limits, Account Activity webhooks. ``GET /_standin/state`` shows what the brand did.

This module is the HTTP side (routes, OAuth, rate limits, faults, webhooks, the control
surface); the state and X's shapes are in ``tests.support.x_world``.

Run it alone: ``python -m tests.support.x_standin --port 0 --consumer-secret S``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import queue
import re
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

from oauthlib.oauth1.rfc5849 import signature as oauth

from tests.support.x_world import (
    DM_FIELDS,
    DM_REFUSED,
    DUPLICATE,
    FIRST_ID,
    TOO_MANY,
    UNAUTHORIZED,
    UNAVAILABLE,
    ApiError,
    World,
    listed,
    problem,
)

__all__ = ["FIRST_ID", "XStandIn", "crc_response", "webhook_signature"]

X_API = "https://api.twitter.com"
WINDOW = 900.0  # X counts rate limits in 15-minute windows
SIGNATURE_HEADER = "x-twitter-webhooks-signature"
BRAND_ID, BRAND_NAME = "1700000000000000001", "brand"
# Route pattern -> (handler, calls allowed per window: per-user limits in the spirit of X's).
API_ROUTES: dict[str, tuple[str, int]] = {
    "POST /2/tweets": ("_api_create_tweet", 200),
    "GET /2/users/:id/mentions": ("_api_mentions", 180),
    "GET /2/tweets/search/recent": ("_api_search", 180),
    "GET /2/users/:id/tweets": ("_api_users_tweets", 900),
    "GET /2/users/me": ("_api_me", 75),
    "GET /2/users/:id": ("_api_user", 900),  # after /me, which it would match too
    "GET /2/dm_events": ("_api_dm_events", 300),
    "GET /2/dm_conversations/with/:participant_id/dm_events": ("_api_dm_events", 300),
    "POST /2/dm_conversations/with/:participant_id/messages": ("_api_send_dm", 200),
}
CONTROL_ROUTES = {
    "POST /_standin/tweets": "_ctl_tweet",
    "POST /_standin/dms": "_ctl_dm",
    "POST /_standin/users/:id": "_ctl_user",
    "POST /_standin/faults": "_ctl_fault",
    "POST /_standin/rate_limits": "_ctl_rate_limit",
    "POST /_standin/webhooks": "_ctl_webhook",
    "POST /_standin/webhooks/crc": "_ctl_crc",
    "GET /_standin/state": "_ctl_state",
    "POST /_standin/reset": "_ctl_reset",
}
FAULT_KINDS = ("429", "503", "timeout", "duplicate", "dm_refused")
FAULT_ROUTES = {  # where a fault applies when it names no route (None: every API route)
    "duplicate": "POST /2/tweets",
    "dm_refused": "POST /2/dm_conversations/with/:participant_id/messages",
}

Answer = tuple[int, dict[str, Any], dict[str, str]]


def _hmac_b64(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def crc_response(consumer_secret: str, crc_token: str) -> dict[str, str]:
    """The answer X expects from a webhook to ``GET url?crc_token=...``."""
    return {"response_token": "sha256=" + _hmac_b64(consumer_secret, crc_token.encode())}


def webhook_signature(consumer_secret: str, body: bytes) -> str:
    """The ``x-twitter-webhooks-signature`` header X puts on each delivery."""
    return "sha256=" + _hmac_b64(consumer_secret, body)


def compile_route(pattern: str) -> re.Pattern[str]:
    """``"GET /2/users/:id/tweets"`` -> a regex over ``"GET /path"`` capturing ``id``."""
    parts = [
        f"(?P<{p[1:]}>[^/]+)" if p.startswith(":") else re.escape(p) for p in pattern.split("/")
    ]
    return re.compile("/".join(parts) + "$")


@dataclass
class Fault:
    """A queued misbehaviour, for the next ``count`` API calls matching ``route``."""

    kind: str
    route: str | None = None  # "METHOD /path", :params allowed
    count: int = 1
    reset_in: float = 60.0  # 429: x-rate-limit-reset is now + this
    delay: float = 5.0  # timeout: seconds before answering
    after_effect: bool = False  # 503/timeout: the action happens, only its answer is lost

    def matches(self, key: str) -> bool:
        return self.route is None or compile_route(self.route).match(key) is not None


@dataclass
class Call:
    """One request, parsed: path parameters, query (last value wins), JSON body."""

    params: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any]


class XStandIn:
    """The server. ``start()`` returns its base URL; ``stop()`` ends it; or use ``with``.

    What the control surface does is a method here too: ``add_tweet``, ``add_dm``,
    ``set_user``, ``add_fault``, ``set_rate_limit``, ``add_webhook``, ``check_crc``,
    ``state``, ``reset``; ``world`` is the state itself.
    """

    def __init__(
        self,
        consumer_secret: str,
        access_token_secret: str = "",
        brand_user_id: str = BRAND_ID,
        brand_username: str = BRAND_NAME,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        signed_base: str = X_API,
        rate_limits: dict[str, int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock`` (epoch seconds) is the stand-in's time: rate-limit windows, and when
        tweets and DMs are made; a test may run it simulated."""
        self.clock = clock
        self.consumer_secret, self.access_token_secret = consumer_secret, access_token_secret
        self.host, self.port, self.signed_base = host, port, signed_base.rstrip("/")
        self.default_limits = {p: limit for p, (_, limit) in API_ROUTES.items()}
        self.default_limits |= rate_limits or {}
        self.world = World(brand_user_id, brand_username, lambda: self.clock())
        self.url = ""
        self._routes = [(p, compile_route(p), h) for p, (h, _) in API_ROUTES.items()]
        self._routes += [(p, compile_route(p), h) for p, h in CONTROL_ROUTES.items()]
        self._lock = threading.Lock()  # faults, calls, limits, webhooks (the world has its own)
        self._outbox: queue.Queue[tuple[bytes, list[tuple[str, str]], threading.Event] | None]
        self._outbox = queue.Queue()
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._httpd: ThreadingHTTPServer | None = None
        self._courier: threading.Thread | None = None
        self.reset()

    def start(self) -> str:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, name="x-standin", daemon=True).start()
        self._courier = threading.Thread(target=self._deliver, name="x-standin-hooks", daemon=True)
        self._courier.start()
        self.url = f"http://{self.host}:{self.port}"
        return self.url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self._outbox.put(None)

    def __enter__(self) -> XStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the control surface, in Python -------------------------------------------------

    def reset(self) -> None:
        """Forget everything (ids keep increasing, so none is ever reused)."""
        self.world.reset()
        with self._lock:
            self._faults: list[Fault] = []
            self._webhooks: list[tuple[str, str]] = []
            self._deliveries: list[dict[str, Any]] = []
            self._calls: Counter[str] = Counter()
            self._limits = dict(self.default_limits)
            self._buckets: dict[str, list[float]] = {}  # route -> [remaining, reset at]
            self._windows: dict[str, float] = {}  # route -> seconds, when not X's 15 minutes

    def add_tweet(
        self,
        author_id: str,
        username: str,
        text: str,
        in_reply_to: str | None = None,
        created_at: str | None = None,
    ) -> dict[str, Any]:
        """A customer's tweet (a mention if it names @brand), delivered to the webhooks
        before this returns; the v2 tweet with every field."""
        reply_to = str(in_reply_to) if in_reply_to else None
        with self.world.lock:
            tweet = self.world.add_tweet(str(author_id), username, text, reply_to, created_at)
            view, event = self.world.full_tweet(tweet), self.world.tweet_event(tweet)
        self._emit(event, wait=True)
        return view

    def add_dm(self, sender_id: str, username: str, text: str) -> dict[str, Any]:
        """A customer's DM to the brand, delivered to the webhooks; the v2 DM event."""
        with self.world.lock:
            dm = self.world.add_dm(str(sender_id), username, text)
            view, event = self.world.dm_view(dm, DM_FIELDS), self.world.dm_event(dm)
        self._emit(event, wait=True)
        return view

    def set_user(
        self,
        user_id: str,
        accepts_dms: bool | None = None,
        username: str | None = None,
        follows_brand: bool | None = None,
    ) -> dict[str, Any]:
        """A user's settings: ``accepts_dms`` (DMs open to anyone) and ``follows_brand``;
        the brand's DM reaches them if either holds, as on X."""
        with self.world.lock:
            user = self.world.user(str(user_id), username)
            if accepts_dms is not None:
                user["accepts_dms"] = bool(accepts_dms)
            if follows_brand is not None:
                user["follows_brand"] = bool(follows_brand)
            return {"id": str(user_id), **user}

    def add_fault(self, kind: str, route: str | None = None, **options: Any) -> dict[str, Any]:
        """Queue a fault (see ``Fault``); faults are consumed in the order queued.

        ``after`` is accepted for ``after_effect``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if "after" in options:
            options["after_effect"] = options.pop("after")
        fault = Fault(kind, route or FAULT_ROUTES.get(kind), **options)
        if fault.route is not None and not re.match(r"[A-Z]+ /", fault.route):
            raise ValueError('route must read "METHOD /path"')
        with self._lock:
            self._faults.append(fault)
            return asdict(fault) | {"queued": len(self._faults)}

    def set_rate_limit(self, route: str, limit: int, window: float = WINDOW) -> dict[str, Any]:
        """Allow ``limit`` calls to ``route`` (a pattern from ``API_ROUTES``) per ``window``
        seconds (this window and the next ones), starting a fresh window now."""
        if route not in API_ROUTES:
            raise ValueError(f"no API route {route!r}")
        with self._lock:
            self._limits[route] = int(limit)
            self._windows[route] = float(window)
            self._buckets[route] = [int(limit), self.clock() + float(window)]
            return {"route": route, "limit": int(limit), "window": window}

    def add_webhook(self, url: str, consumer_secret: str | None = None) -> dict[str, Any]:
        """Deliver every later tweet and DM event (the brand's too, as X does) to ``url``."""
        with self._lock:
            self._webhooks.append((url, consumer_secret or self.consumer_secret))
            return {"url": url, "registered": len(self._webhooks)}

    def check_crc(
        self, url: str | None = None, consumer_secret: str | None = None
    ) -> dict[str, Any]:
        """X's registration check: ``GET url?crc_token=...`` and compare the answer.

        ``url`` defaults to the last webhook registered, the secret to that webhook's."""
        with self._lock:
            hooks = [h for h in self._webhooks if url in (None, h[0])]
        url, secret = hooks[-1] if hooks else (url, "")
        if url is None:
            raise ValueError("no webhook registered and no url given")
        secret = consumer_secret or secret or self.consumer_secret
        token = secrets.token_urlsafe(24)
        target = url + ("&" if "?" in url else "?") + urlencode({"crc_token": token})
        try:
            with self._opener.open(target, timeout=3) as answer:
                status, body = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, b""
        except OSError as error:
            return {"valid": False, "url": url, "error": str(error)}
        try:
            received = json.loads(body).get("response_token")
        except (ValueError, AttributeError):
            received = None
        valid = status == 200 and received == crc_response(secret, token)["response_token"]
        return {"valid": valid, "url": url, "status": status, "response_token": received}

    def state(self) -> dict[str, Any]:
        """What the brand did (its tweets and sent DMs), calls per route, deliveries."""
        brand = self.world.brand_user_id
        with self.world.lock:
            tweets = [
                {"id": t.id, "text": t.text, "in_reply_to": t.in_reply_to}
                for t in self.world.tweets.values()
                if t.author_id == brand
            ]
            dms = [
                {"id": d.id, "text": d.text, "recipient_id": d.recipient_id}
                for d in self.world.dms
                if d.sender_id == brand
            ]
        with self._lock:
            calls, deliveries = dict(self._calls), list(self._deliveries)
        return {"tweets": tweets, "dms": dms, "calls": calls, "webhook_deliveries": deliveries}

    # -- HTTP ---------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Answer:
        """One request in (headers keyed in Title-Case), ``(status, body, headers)`` out."""
        url = urlsplit(target)
        key = f"{method} {url.path}"
        found = next(((p, m, h) for p, r, h in self._routes if (m := r.match(key))), None)
        if found is None:
            return (
                404,
                problem(404, "Not Found Error", f"Sorry, that page does not exist: {url.path}"),
                {},
            )
        pattern, match, name = found
        try:
            # The control surface reads JSON whatever the Content-Type (``curl -d`` says
            # form-urlencoded); X's own routes only as X would.
            control = url.path.startswith("/_standin/")
            is_json = control or "json" in headers.get("Content-Type", "json")
            body = json.loads(raw) if raw and is_json else {}
        except ValueError:
            body = None
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        call = Call(match.groupdict(), query, body if isinstance(body, dict) else {})
        if pattern.split()[1].startswith("/_standin/"):
            try:
                return 200, getattr(self, name)(call), {}
            except (KeyError, ValueError, TypeError) as error:
                return 400, {"error": f"{type(error).__name__}: {error}"}, {}
        with self._lock:
            self._calls[pattern] += 1
        if not self._signed(method, url, headers, raw):
            return 401, UNAUTHORIZED, self._spend(pattern, 0)[0]
        rate, over = self._spend(pattern, 1)
        if over:
            return 429, TOO_MANY, rate
        with self._lock:
            fault = next((f for f in self._faults if f.matches(key)), None)
            if fault is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
        if body is None:
            return 400, problem(400, "Invalid Request", "The request body is not valid JSON."), rate
        return self._answer(getattr(self, name), call, fault, pattern, rate)

    def _answer(
        self,
        handler: Callable[[Call], Any],
        call: Call,
        fault: Fault | None,
        pattern: str,
        rate: dict[str, str],
    ) -> Answer:
        """Run the route's handler, or not, as the fault (if any) says."""

        def run() -> tuple[int, dict[str, Any]]:
            try:
                with self.world.lock:
                    status, body = handler(call)
                    return status, body
            except ApiError as error:
                return error.status, error.body

        if fault is None:
            return (*run(), rate)
        if fault.kind == "429":
            reset = str(int(self.clock() + fault.reset_in))
            limit = str(self._limits.get(pattern, 0))
            headers = {"x-rate-limit-limit": limit, "x-rate-limit-remaining": "0"}
            return 429, TOO_MANY, headers | {"x-rate-limit-reset": reset}
        if fault.kind in ("duplicate", "dm_refused"):
            return 403, DUPLICATE if fault.kind == "duplicate" else DM_REFUSED, rate
        done = run() if fault.after_effect else None  # the action happens first...
        if fault.kind == "timeout":
            time.sleep(fault.delay)  # ...then the answer comes late (or 503 if nothing happened)
            return (*(done or (503, UNAVAILABLE)), rate)
        return 503, UNAVAILABLE, rate  # ...and the answer is lost

    def _signed(self, method: str, url: SplitResult, headers: dict[str, str], raw: bytes) -> bool:
        """Verify the OAuth 1.0a HMAC-SHA1 signature over ``signed_base + path``, with the
        query, Authorization and form-encoded body parameters (RFC 5849, 3.4.1)."""
        auth = {"Authorization": headers.get("Authorization", "")}
        form = "x-www-form-urlencoded" in headers.get("Content-Type", "")
        try:
            sent = dict(oauth.collect_parameters(headers=auth, exclude_oauth_signature=False))
            body = raw.decode() if form else None
            params = oauth.collect_parameters(uri_query=url.query, body=body, headers=auth)
        except (ValueError, UnicodeDecodeError):
            return False
        if sent.get("oauth_signature_method") != "HMAC-SHA1" or "oauth_signature" not in sent:
            return False
        request = SimpleNamespace(
            params=params,
            uri=self.signed_base + url.path,
            http_method=method,
            signature=sent["oauth_signature"],
        )
        return bool(oauth.verify_hmac_sha1(request, self.consumer_secret, self.access_token_secret))

    def _spend(self, pattern: str, calls: int) -> tuple[dict[str, str], bool]:
        """Count ``calls`` against the route's window: its rate-limit headers, and whether
        the window was already spent (the call is refused and not counted)."""
        with self._lock:
            limit = self._limits.get(pattern, 0)
            bucket = self._buckets.get(pattern)
            now = self.clock()
            if bucket is None or now >= bucket[1]:
                window = self._windows.get(pattern, WINDOW)
                bucket = self._buckets[pattern] = [limit, now + window]
            over = calls > bucket[0]
            if not over:
                bucket[0] -= calls
            headers = {
                "x-rate-limit-limit": str(limit),
                "x-rate-limit-remaining": str(int(bucket[0])),
                "x-rate-limit-reset": str(int(bucket[1])),
            }
            return headers, over

    # -- API routes (called with the world locked) ----------------------------------------

    def _api_create_tweet(self, call: Call) -> tuple[int, dict[str, Any]]:
        reply_to = (call.body.get("reply") or {}).get("in_reply_to_tweet_id")
        tweet = self.world.post_tweet(call.body.get("text"), str(reply_to) if reply_to else None)
        self._emit(self.world.tweet_event(tweet), wait=False)
        return 201, {
            "data": {"id": tweet.id, "text": tweet.text, "edit_history_tweet_ids": [tweet.id]}
        }

    def _api_mentions(self, call: Call) -> tuple[int, dict[str, Any]]:
        return 200, self.world.tweet_page(call.query, self.world.mentions(call.params["id"]), 5)

    def _api_search(self, call: Call) -> tuple[int, dict[str, Any]]:
        return 200, self.world.tweet_page(
            call.query, self.world.search(call.query.get("query", "")), 10
        )

    def _api_users_tweets(self, call: Call) -> tuple[int, dict[str, Any]]:
        replies = "replies" not in listed(call.query, "exclude")
        tweets = self.world.timeline(call.params["id"], replies=replies)
        return 200, self.world.tweet_page(call.query, tweets, 5)

    def _api_me(self, call: Call) -> tuple[int, dict[str, Any]]:
        return 200, {"data": self.world.user_view(self.world.brand_user_id)}

    def _api_user(self, call: Call) -> tuple[int, dict[str, Any]]:
        """A user as the brand sees them: ``user.fields=connection_status,receives_your_dm``
        say whether they follow the brand and whether its DM reaches them."""
        fields = set(filter(None, call.query.get("user.fields", "").split(",")))
        return 200, {"data": self.world.user_view(call.params["id"], fields)}

    def _api_dm_events(self, call: Call) -> tuple[int, dict[str, Any]]:
        dms = self.world.conversation(call.params.get("participant_id"))
        return 200, self.world.dm_page(call.query, dms)

    def _api_send_dm(self, call: Call) -> tuple[int, dict[str, Any]]:
        dm = self.world.send_dm(call.params["participant_id"], call.body.get("text"))
        self._emit(self.world.dm_event(dm), wait=False)
        return 201, {"data": {"dm_conversation_id": dm.conversation_id, "dm_event_id": dm.id}}

    # -- the control surface, over HTTP ---------------------------------------------------

    def _ctl_tweet(self, call: Call) -> dict[str, Any]:
        b = call.body
        return self.add_tweet(
            b["author_id"], b["username"], b["text"], b.get("in_reply_to"), b.get("created_at")
        )

    def _ctl_dm(self, call: Call) -> dict[str, Any]:
        return self.add_dm(call.body["sender_id"], call.body["username"], call.body["text"])

    def _ctl_user(self, call: Call) -> dict[str, Any]:
        return self.set_user(
            call.params["id"], call.body.get("accepts_dms"), call.body.get("username"),
            call.body.get("follows_brand"),
        )  # fmt: skip

    def _ctl_fault(self, call: Call) -> dict[str, Any]:
        return self.add_fault(**call.body)

    def _ctl_rate_limit(self, call: Call) -> dict[str, Any]:
        return self.set_rate_limit(
            call.body["route"], call.body["limit"], call.body.get("window", WINDOW)
        )

    def _ctl_webhook(self, call: Call) -> dict[str, Any]:
        return self.add_webhook(call.body["url"], call.body.get("consumer_secret"))

    def _ctl_crc(self, call: Call) -> dict[str, Any]:
        return self.check_crc(call.body.get("url"), call.body.get("consumer_secret"))

    def _ctl_state(self, call: Call) -> dict[str, Any]:
        return self.state()

    def _ctl_reset(self, call: Call) -> dict[str, Any]:
        self.reset()
        return {"reset": True}

    # -- Account Activity deliveries ------------------------------------------------------

    def _emit(self, event: dict[str, Any], *, wait: bool) -> None:
        """Queue ``event`` for every webhook, in order. Control calls wait, so a test sees
        the event delivered; API calls don't, so their answers aren't held up."""
        with self._lock:
            hooks = list(self._webhooks)
        if not hooks:
            return
        done = threading.Event()
        self._outbox.put((json.dumps(event).encode(), hooks, done))
        if wait and self._courier is not None and self._courier.is_alive():
            done.wait(10)

    def _deliver(self) -> None:
        while (item := self._outbox.get()) is not None:
            body, hooks, done = item
            for url, secret in hooks:
                record: dict[str, Any] = {"url": url}
                headers = {
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: webhook_signature(secret, body),
                }
                try:
                    with self._opener.open(
                        urllib.request.Request(url, body, headers), timeout=5
                    ) as answer:
                        record["status"] = answer.status
                except urllib.error.HTTPError as error:
                    record["status"] = error.code
                except OSError as error:
                    record["error"] = str(error)
                with self._lock:
                    self._deliveries.append(record)
            done.set()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests' connection pool expects
    standin: XStandIn

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.title(): v for k, v in self.headers.items()}
        status, payload, extra = self.standin.handle(self.command, self.path, headers, raw)
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up waiting (a timeout fault)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A stand-in for the X API v2, on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--consumer-secret", required=True)
    parser.add_argument("--access-token-secret", default="")
    parser.add_argument("--brand-user-id", default=BRAND_ID)
    parser.add_argument("--brand-username", default=BRAND_NAME)
    parser.add_argument("--signed-base", default=X_API, help="the base URL clients sign over")
    args = parser.parse_args(argv)
    standin = XStandIn(
        args.consumer_secret,
        args.access_token_secret,
        args.brand_user_id,
        args.brand_username,
        host=args.host,
        port=args.port,
        signed_base=args.signed_base,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(standin.start(), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
