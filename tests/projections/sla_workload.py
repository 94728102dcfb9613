"""A small care desk's day, written the same way into any store: SLA report tests run it
on two stores and compare their reports.

Nothing in it depends on which policy applies or when one was created: no breach
sweeps (a breach recorded under one policy's deadline would be missing under
another's), no automated replies.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.application import Conversations
from domain.values import Identity
from tests.conftest import Clock

ANN, BOB = "agent:ann", "agent:bob"
INTEGRATION = "integration:x"

# first response 15 min (e-mail: 30 min of business hours, Mon-Fri 09-17 UTC), next 30
# min, resolution 4 h
STRICT = {
    "name": "strict",
    "calendar": {
        "time_zone": "UTC",
        "hours": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
    },
    "targets": [
        {"metric": "first_response", "seconds": 900},
        {"metric": "first_response", "seconds": 1800, "channel": "email", "business_hours": True},
        {"metric": "next_response", "seconds": 1800},
        {"metric": "resolution", "seconds": 4 * 3600},
    ],
}


def reply(app: Conversations, case: UUID, kind: str, actor: str, n: int) -> None:
    """A reply queued and delivered at once (the channel took it now)."""
    queued = app.queue_reply(case, kind=kind, body=f"{kind} {n}", actor=actor)
    app.record_delivery(
        case, reply_id=queued.extra["reply_id"], external_id=f"ext-{case}-{n}", actor="system"
    )


def resolve(app: Conversations, case: UUID, actor: str) -> None:
    app.resolve(case, resolution="answered", actor=actor)


def run_day(app: Conversations, clock: Clock) -> dict[str, Any]:
    """Cases on X and e-mail: acknowledged and answered, late and in time, moved to a
    DM, assigned to teams, made urgent, resolved and reopened, one answered the next
    morning (a measurement of 2026-11-03). Returns the ids."""
    tweet = app.open_conversation(
        channel="x_public", body="@brand broken", actor=INTEGRATION,
        identity=Identity("x", "4242"), external_id="tweet-1",
    ).id  # fmt: skip
    app.assign(tweet, agent=ANN, team="social", actor=ANN)
    clock.advance(minutes=10)
    reply(app, tweet, "acknowledgement", ANN, 1)  # 10 min: met under both
    clock.advance(minutes=20)
    app.switch_channel(tweet, to="x_dm", reason="order number", actor=ANN)
    app.receive_message(tweet, channel="x_dm", body="#123", actor="customer")
    clock.advance(minutes=45)
    reply(app, tweet, "answer", ANN, 2)  # next response 45 min: missed under strict

    mail = app.open_conversation(
        channel="email", body="refund please", actor=INTEGRATION,
        identity=Identity("email", "c@example.com"), external_id="<m1@example.com>",
    ).id  # fmt: skip
    app.assign(mail, agent=BOB, team="billing", actor=BOB)
    clock.advance(minutes=40)
    reply(app, mail, "answer", BOB, 3)  # 40 min: met by default (e-mail), missed strict
    clock.advance(minutes=5)
    resolve(app, tweet, ANN)

    urgent = app.open_conversation(
        channel="x_public", body="@brand outage!!", actor=INTEGRATION,
        identity=Identity("x", "777"), external_id="tweet-2",
    ).id  # fmt: skip
    app.change_priority(urgent, priority="urgent", actor=BOB)
    clock.advance(minutes=3)
    reply(app, urgent, "acknowledgement", BOB, 4)
    clock.advance(hours=2)
    resolve(app, mail, BOB)
    reply(app, urgent, "answer", BOB, 5)
    clock.advance(minutes=1)
    resolve(app, urgent, BOB)
    clock.advance(hours=1)
    app.reopen(urgent, reason="not fixed", actor=BOB)
    app.receive_message(urgent, channel="x_public", body="still down", actor="customer")
    clock.advance(minutes=12)
    reply(app, urgent, "answer", ANN, 6)
    clock.advance(hours=3)
    resolve(app, urgent, ANN)

    clock.advance(minutes=10)  # 17:26, after hours
    evening = app.open_conversation(
        channel="email", body="invoice wrong", actor=INTEGRATION,
        identity=Identity("email", "d@example.com"), external_id="<m2@example.com>",
    ).id  # fmt: skip
    clock.advance(hours=16)  # 09:26 the next day: 26 business minutes, 16 h on the wall
    reply(app, evening, "answer", BOB, 7)
    return {"tweet": tweet, "mail": mail, "urgent": urgent, "evening": evening}
