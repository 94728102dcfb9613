"""Helpers for the read-side tests: opening cases on any channel, catching projections up,
reading Server-Sent Events."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app import follower_for
from projections.follower import Follower
from tests.app.helpers import new_external_id, tweet


def project(flask_app: Flask) -> int:
    """Bring every projection up to the head of the log; the number of events applied."""
    return follower_for(
        flask_app.extensions["parley.application"], flask_app.extensions["parley.read_store"]
    ).run_once()


@contextmanager
def following(flask_app: Flask, poll_interval: float = 0.02) -> Iterator[Follower]:
    """A follower thread keeping the projections up to date while the block runs."""
    follower = follower_for(
        flask_app.extensions["parley.application"], flask_app.extensions["parley.read_store"]
    )
    stop = threading.Event()
    thread = threading.Thread(target=follower.run_forever, args=(stop, poll_interval), daemon=True)
    thread.start()
    try:
        yield follower
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive()


def email_address() -> str:
    return f"c{uuid.uuid4().hex[:12]}@example.com"


def contact(channel: str, **overrides: Any) -> dict[str, Any]:
    """The body of a first contact on ``channel`` from a new customer (unless told who)."""
    body: dict[str, Any]
    if channel in ("x_public", "x_dm"):
        body = tweet(channel=channel)
    else:
        body = {
            "channel": channel,
            "body": f"hello from {channel}",
            "identity": {"kind": "email", "value": email_address()},
            "customer_name": "Bea",
            "external_id": new_external_id(),
        }
    if channel == "email":
        body["subject"] = "Where is my order?"
    body.update(overrides)
    if "customer_id" in overrides and "identity" not in overrides:
        body.pop("identity")
    return body


def open_case(client: FlaskClient, headers: dict[str, str], channel: str, **overrides: Any) -> Any:
    """Open a case on ``channel``; the 201 body (id, version, position, customer_id ...)."""
    response = client.post("/v1/conversations", json=contact(channel, **overrides), headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def write(
    client: FlaskClient, headers: dict[str, str], path: str, body: Any, status: int = 200
) -> Any:
    """POST a write and check its status; the answer's body."""
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == status, (path, response.get_json())
    return response.get_json()


def reply(client: FlaskClient, headers: dict[str, str], cid: str, **body: Any) -> Any:
    body.setdefault("body", "Sorry to hear that, we are on it")
    return write(client, headers, f"/v1/conversations/{cid}/replies", body, 202)


def answer(
    client: FlaskClient, headers: dict[str, str], flask_app: Flask, cid: str, **body: Any
) -> Any:
    """A reply queued over HTTP and delivered, as a worker records it (a response counts
    for the SLA clock when delivered); the 202 body of the queueing."""
    queued = reply(client, headers, cid, **body)
    flask_app.extensions["parley.application"].record_delivery(
        uuid.UUID(cid), reply_id=uuid.UUID(queued["reply_id"]),
        external_id=f"out-{queued['position']}", actor="system:worker",
    )  # fmt: skip
    return queued


def message(client: FlaskClient, headers: dict[str, str], cid: str, channel: str) -> Any:
    body = {"channel": channel, "body": "any news?", "external_id": new_external_id()}
    return write(client, headers, f"/v1/conversations/{cid}/messages", body, 201)


@dataclass
class Sse:
    """One Server-Sent Events message."""

    event: str | None
    id: str | None  # "<events>-<inbox>"
    data: Any
    retry: int | None = None
    comment: bool = False


def parse_sse(text: str) -> list[Sse]:
    """The messages of a ``text/event-stream`` body, in order."""
    messages = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields: dict[str, str] = {}
        comment = False
        for line in block.split("\n"):
            if line.startswith(":"):
                comment = True
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        messages.append(
            Sse(
                event=fields.get("event"),
                id=fields.get("id"),
                data=json.loads(fields["data"]) if "data" in fields else None,
                retry=int(fields["retry"]) if "retry" in fields else None,
                comment=comment,
            )
        )
    return messages


def stream(client, headers, timeout: float = 1, **query: Any):  # type: ignore[no-untyped-def]
    """``GET /v1/stream`` until the server ends it after ``timeout`` seconds; the response.

    From the start of the log (``after=0``) unless told otherwise: ``after=None`` asks
    for the default (now), and a ``Last-Event-ID`` header resumes."""
    query.setdefault("after", None if "Last-Event-ID" in headers else 0)
    query = {k: v for k, v in query.items() if v is not None}
    response = client.get("/v1/stream", query_string={"timeout": timeout, **query}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response
