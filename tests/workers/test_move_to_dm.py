"""Move to DM: the switch records what the DM needs of the customer, X is asked whether
they meet it, and a DM X refuses leaves the case open, its SLA clock running, and says why.

Real Redis, RQ jobs, tweepy against the X stand-in; both stores.
"""

from __future__ import annotations

from uuid import UUID

import pytest

from domain import values as v
from domain.exceptions import InvalidValueError
from tests.workers.conftest import Rig
from tests.workers.test_delivery import CUSTOMER, a_mention, delivered, queue


def reach(rig: Rig, cid: UUID) -> dict | None:  # type: ignore[type-arg]
    return rig.app.get_conversation(cid).dm_reach


def topics(rig: Rig, cid: UUID) -> list[str]:
    return [type(e).__name__ for e in rig.app.events.get(cid)]


def test_the_switch_records_the_requirement_and_x_says_whether_the_customer_meets_it(
    rig: Rig,
) -> None:
    cid, _ = a_mention(rig)
    rig.x.set_user(CUSTOMER, accepts_dms=False, follows_brand=True)
    rig.app.switch_channel(cid, to="x_dm", reason="order number", actor="agent:alice")

    noted = reach(rig, cid)
    assert noted is not None
    assert (noted["requirement"], noted["receives_dms"], noted["source"]) == (
        v.DM_REQUIREMENT, None, "switch",
    )  # fmt: skip

    rig.run(until=lambda: (reach(rig, cid) or {}).get("source") == "x")
    checked = reach(rig, cid)
    assert checked is not None
    assert (checked["receives_dms"], checked["follows_brand"]) == (True, True)
    assert rig.x.state()["calls"]["GET /2/users/:id"] == 1


def test_a_customer_who_neither_follows_nor_takes_dms_is_shown_before_the_dm_fails(
    rig: Rig,
) -> None:
    cid, _ = a_mention(rig)
    rig.x.set_user(CUSTOMER, accepts_dms=False, follows_brand=False)
    rig.app.switch_channel(cid, to="x_dm", reason="details", actor="agent:alice")
    rig.run(until=lambda: (reach(rig, cid) or {}).get("source") == "x")
    assert (reach(rig, cid) or {})["receives_dms"] is False


def test_a_refused_dm_leaves_the_case_open_with_its_clock_running_and_says_why(
    rig: Rig,
) -> None:
    cid, _ = a_mention(rig)
    rig.app.switch_channel(cid, to="x_dm", reason="order number", actor="agent:alice")
    rig.run(until=lambda: (reach(rig, cid) or {}).get("source") == "x")
    rig.x.set_user(CUSTOMER, accepts_dms=False)  # they closed their DMs meanwhile
    reply_id = queue(rig, cid, body="What is your order number?")

    rig.run(until=lambda: rig.reply(cid, reply_id)["status"] == v.FAILED)

    conversation = rig.app.get_conversation(cid)
    assert conversation.status == v.OPEN
    assert rig.reply(cid, reply_id)["failure_code"] == "recipient_not_following"
    assert conversation.dm_reach["source"] == "delivery"
    assert conversation.dm_reach["receives_dms"] is False
    clock = rig.app.sla_clock(cid)
    assert clock.due("first_response") is not None  # a refused DM answered nobody
    assert not [m for m in clock.all_measurements() if m.metric == "first_response"]

    rig.x.set_user(CUSTOMER, follows_brand=True)  # they followed; the agent retries
    rig.app.request_redelivery(cid, reply_id=reply_id, actor="agent:alice")
    rig.run(until=lambda: delivered(rig, cid, reply_id))
    clock = rig.app.sla_clock(cid)
    assert [m.response for m in clock.all_measurements() if m.metric == "first_response"] == [
        "answer"
    ]
    assert topics(rig, cid).count("DmReachRecorded") == 3  # switch, x, delivery


def test_a_public_acknowledgement_can_invite_the_customer_to_follow_and_dm(rig: Rig) -> None:
    cid, tweet_id = a_mention(rig)
    outcome = rig.app.queue_reply(
        cid, kind="acknowledgement", body="Sorry Ann!", actor="agent:alice", invite_to_dm=True
    )
    reply_id = UUID(str(outcome.extra["reply_id"]))
    rig.run(until=lambda: delivered(rig, cid, reply_id))

    [tweet] = [t for t in rig.x.state()["tweets"] if t["in_reply_to"] == tweet_id]
    assert tweet["text"].endswith(f"Sorry Ann! {v.DM_INVITATION}")


@pytest.mark.parametrize(
    ("kind", "channel", "body", "field"),
    [
        ("answer", None, "Sorry", "invite_to_dm"),
        ("acknowledgement", "x_dm", "Sorry", "invite_to_dm"),
        ("acknowledgement", None, "x" * 250, "body"),
    ],
)
def test_an_invitation_only_goes_on_a_public_acknowledgement_that_fits_a_tweet(
    rig: Rig, kind: str, channel: str | None, body: str, field: str
) -> None:
    cid, _ = a_mention(rig)
    if channel is not None:
        rig.app.switch_channel(cid, to=channel, reason="details", actor="agent:alice")
    version = rig.app.get_conversation(cid).version
    with pytest.raises(InvalidValueError) as refused:
        rig.app.queue_reply(
            cid, kind=kind, body=body, actor="agent:alice", channel=channel, invite_to_dm=True
        )
    assert refused.value.field == field
    assert rig.app.get_conversation(cid).version == version
