"""The mixed load: agents opening, replying, assigning, switching channels, resolving;
customers tweeting, DMing (through the X stand-in) and mailing (``POST /webhooks/email``).

Every write carries an ``Idempotency-Key`` and is retried with it, against the other
server too, until it is answered (a connection error, a timeout or a 5xx is retried);
some are sent again on purpose after their answer, to check the replay. Every attempt
and every answer is recorded for the checks.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import requests

TIMEOUT = 10.0
GIVE_UP = 180.0  # a write unanswered this long is recorded as lost
CHANNELS = ("x_public", "x_dm", "email", "api")


@dataclass
class Attempt:
    at: float  # time.monotonic() at its start
    seconds: float
    op: str
    status: int  # 0: no answer (connection error, timeout)
    retry_after: bool


@dataclass
class Answer:
    """A write that was answered 2xx."""

    op: str
    key: str
    status: int
    body: dict[str, Any]
    replayed: bool
    lost_before: int  # attempts before it that got no answer (or a 5xx)
    at: float
    seconds: float  # from the first attempt to the answer: what a client waited


@dataclass
class Contact:
    """An inbound contact, and how many times the load delivered it."""

    channel: str
    external_id: str
    deliveries: int
    conversation_id: str | None = None


@dataclass
class Record:
    started: float = field(default_factory=time.monotonic)
    attempts: list[Attempt] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    replays: list[tuple[Answer, Answer]] = field(default_factory=list)  # first, deliberate retry
    refused: list[tuple[str, int, str]] = field(default_factory=list)  # unexpected 4xx
    lost: list[tuple[str, str]] = field(default_factory=list)  # op, key: never answered
    contacts: list[Contact] = field(default_factory=list)
    replies: dict[str, tuple[str, str, str]] = field(
        default_factory=dict
    )  # id -> cid, channel, text
    conversations: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client:
    """One agent console (or integration): a session, a preferred server, failover."""

    def __init__(self, bases: list[str], record: Record, rng: random.Random) -> None:
        self.bases, self.record, self.rng = bases, record, rng
        self.session = requests.Session()
        self.home = rng.randrange(len(bases))

    def _note(self, attempt: Attempt) -> None:
        with self.record.lock:
            self.record.attempts.append(attempt)

    def send(
        self, method: str, path: str, token: str, op: str, *, body: Any = None,
        raw: bytes | None = None, headers: dict[str, str] | None = None,
    ) -> tuple[requests.Response | None, float]:  # fmt: skip
        """One attempt, on the home server; a connection error moves home to the other."""
        base = self.bases[self.home]
        hdrs = {"Authorization": f"Bearer {token}", **(headers or {})}
        if raw is not None:
            hdrs["Content-Type"] = "message/rfc822"
        began = time.monotonic()
        try:
            response = self.session.request(
                method, base + path, json=body if raw is None else None, data=raw,
                headers=hdrs, timeout=TIMEOUT,
            )  # fmt: skip
        except requests.RequestException:
            self._note(Attempt(began, time.monotonic() - began, op, 0, False))
            self.home = (self.home + 1) % len(self.bases)
            return None, began
        self._note(
            Attempt(began, time.monotonic() - began, op, response.status_code,
                    "Retry-After" in response.headers)
        )  # fmt: skip
        if response.status_code >= 500:
            self.home = (self.home + 1) % len(self.bases)
        return response, began

    def write(
        self, path: str, token: str, op: str, *, body: Any = None, raw: bytes | None = None,
        if_match: str | None = None, ok: tuple[int, ...] = (),
    ) -> tuple[int, dict[str, Any]]:  # fmt: skip
        """POST until answered (same Idempotency-Key throughout); (status, body)."""
        key = f"soak-{uuid.uuid4().hex}"
        headers = {"Idempotency-Key": key}
        if if_match is not None:
            headers["If-Match"] = if_match
        first, lost = time.monotonic(), 0
        while True:
            response, began = self.send("POST", path, token, op, body=body, raw=raw,
                                        headers=headers)  # fmt: skip
            if response is not None and response.status_code < 500:
                break
            lost += 1
            if time.monotonic() - first > GIVE_UP:
                with self.record.lock:
                    self.record.lost.append((op, key))
                return 0, {}
            time.sleep(0.2 + self.rng.random() * 0.3)
        status = response.status_code
        data = response.json() if response.content else {}
        if status >= 300:
            if status not in ok:
                with self.record.lock:
                    self.record.refused.append((op, status, response.text[:300]))
            return status, data
        answer = Answer(op, key, status, data, response.headers.get("Idempotent-Replayed") == "true",
                        lost, began, time.monotonic() - first)  # fmt: skip
        with self.record.lock:
            self.record.answers.append(answer)
        if self.rng.random() < 0.15:  # the client retries although it had its answer
            again, _ = self.send("POST", path, token, op + " (retry)", body=body, raw=raw,
                                 headers=headers)  # fmt: skip
            if again is not None and again.status_code < 300:
                retry = Answer(op, key, again.status_code, again.json(),
                               again.headers.get("Idempotent-Replayed") == "true", 0,
                               time.monotonic(), 0.0)  # fmt: skip
                with self.record.lock:
                    self.record.replays.append((answer, retry))
        return status, data

    def get(self, path: str, token: str, op: str) -> requests.Response | None:
        deadline = time.monotonic() + GIVE_UP
        while time.monotonic() < deadline:
            response, _ = self.send("GET", path, token, op)
            if response is not None and response.status_code < 500:
                return response
            time.sleep(0.3)
        return None


def _mail(sender: str, subject: str, text: str) -> tuple[str, bytes]:
    message_id = f"<{uuid.uuid4().hex}@customer.example>"
    raw = (
        f"From: Customer <{sender}>\r\nTo: care@parley.localhost\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\nDate: {formatdate()}\r\n\r\n{text}\r\n"
    )
    return message_id, raw.encode()


class Agent(threading.Thread):
    """Works cases end to end until ``stop``: each case on a channel picked at random."""

    def __init__(self, n: int, bases: list[str], x_base: str, tokens: dict[str, str],
                 record: Record, stop: threading.Event, seed: int) -> None:  # fmt: skip
        super().__init__(name=f"agent{n}", daemon=True)
        self.rng = random.Random(seed * 1000 + n)
        self.client = Client(bases, record, self.rng)
        self.x_base, self.tokens, self.record, self.stop = x_base, tokens, record, stop
        self.n = n
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.case()
            except Exception as error:  # the checks report it; the load goes on
                self.errors.append(f"{type(error).__name__}: {error}")
                time.sleep(0.5)

    # ------------------------------------------------------------------ a case
    def _standin(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = requests.post(self.x_base + path, json=body, timeout=10).json()
        return answer

    def _deliveries(self) -> int:
        return 2 if self.rng.random() < 0.3 else 1  # at-least-once: some contacts twice

    def open_case(self) -> str | None:
        channel = self.rng.choice(CHANNELS)
        customer = str(self.rng.randrange(10**17, 10**18))
        tag = uuid.uuid4().hex[:8]
        _agent, integration = self.tokens["agent"], self.tokens["integration"]
        if channel == "email":
            message_id, raw = _mail(f"c{customer}@customer.example", f"Order {tag}", f"help {tag}")
            times, cid = self._deliveries(), None
            for _ in range(times):
                _, data = self.client.write("/webhooks/email", integration, "mail in", raw=raw)
                cid = data.get("conversation_id") or cid
            self._contact(channel, message_id, times, cid)
            return cid
        if channel == "api":
            body: dict[str, Any] = {
                "channel": "api", "body": f"api contact {tag}",
                "identity": {"kind": "email", "value": f"a{customer}@customer.example"},
                "external_id": f"api-{tag}",
            }  # fmt: skip
        elif channel == "x_public":
            tweet = self._standin("/_standin/tweets", {
                "author_id": customer, "username": f"u{customer}", "text": f"@brand help {tag}"})  # fmt: skip
            body = {"channel": "x_public", "body": tweet["text"], "external_id": tweet["id"],
                    "identity": {"kind": "x", "value": customer, "handle": f"u{customer}"}}  # fmt: skip
        else:
            dm = self._standin("/_standin/dms", {
                "sender_id": customer, "username": f"u{customer}", "text": f"dm help {tag}"})  # fmt: skip
            body = {"channel": "x_dm", "body": f"dm help {tag}", "external_id": dm["id"],
                    "identity": {"kind": "x", "value": customer, "handle": f"u{customer}"}}  # fmt: skip
        times, cid = self._deliveries(), None
        for _ in range(times):
            _, data = self.client.write("/v1/conversations", integration, "open", body=body)
            cid = data.get("id") or cid
        self._contact(channel, str(body["external_id"]), times, cid)
        return cid

    def _contact(self, channel: str, external_id: str, times: int, cid: str | None) -> None:
        with self.record.lock:
            self.record.contacts.append(Contact(channel, external_id, times, cid))
            if cid:
                self.record.conversations.add(cid)

    def act(self, cid: str, path: str, op: str, body: dict[str, Any]) -> dict[str, Any]:
        """A write with If-Match (the version known); on 412/409 re-read and go again."""
        token = self.tokens["agent"]
        for _ in range(5):
            version = None
            if self.rng.random() < 0.7:
                got = self.client.get(f"/v1/conversations/{cid}", token, "read")
                version = got.headers.get("ETag") if got is not None else None
            status, data = self.client.write(f"/v1/conversations/{cid}{path}", token, op,
                                             body=body, if_match=version, ok=(409, 412))  # fmt: skip
            if status not in (409, 412):
                return data
        return {}

    def reply(self, cid: str, kind: str) -> None:
        text = f"{kind} {uuid.uuid4().hex[:12]} from agent {self.n}"
        data = self.act(cid, "/replies", "reply", {"kind": kind, "body": text})
        if data.get("reply_id"):
            with self.record.lock:
                self.record.replies[data["reply_id"]] = (cid, str(data.get("channel")), text)

    def case(self) -> None:
        cid = self.open_case()
        if cid is None:
            return
        detail = self.client.get(f"/v1/conversations/{cid}", self.tokens["agent"], "read")
        channel = detail.json().get("channel") if detail is not None else None
        if channel == "api":
            self.act(cid, "/channel-switches", "switch", {
                "to": "email", "reason": "details by mail",
                "identity": {"kind": "email", "value": f"s{uuid.uuid4().hex[:10]}@customer.example"},
            })  # fmt: skip
        self.reply(cid, "acknowledgement")
        self.act(cid, "/assignment", "assign", {"agent": f"agent{self.n}", "team": "care"})
        if channel == "x_public" and self.rng.random() < 0.6:
            self.act(cid, "/channel-switches", "switch", {"to": "x_dm", "reason": "order details"})
        self.act(cid, "/notes", "note", {"body": "checked the order"})
        self.reply(cid, "answer")
        self.act(cid, "/resolve", "resolve", {"resolution": "answered"})
        time.sleep(self.rng.random() * 0.2)
