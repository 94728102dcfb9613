"""Resolve in private, then follow up in public where the case began, without reopening."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain import values as v
from domain.conversation import Conversation
from domain.exceptions import ConversationResolvedError, InvalidValueError
from tests.domain.builders import AGENT, a_conversation, at
from tests.domain.test_conversation_replies import reply, switch


def resolved_in_dm() -> Conversation:
    case = a_conversation()
    switch(case, "x_dm", minutes=1)
    case.resolve(resolution="fixed", actor=AGENT, timestamp=at(20))
    return case


def deliver(case: Conversation, reply_id: UUID, minutes: float) -> None:
    case.record_delivery(reply_id=reply_id, external_id=f"t-{minutes}", actor="system",
                         timestamp=at(minutes))  # fmt: skip


def test_a_case_resolved_in_private_owes_a_public_follow_up_until_one_is_delivered() -> None:
    case = resolved_in_dm()
    assert case.follow_up_owed

    follow_up = reply(case, minutes=21, kind="follow_up")

    assert case.status == v.RESOLVED and case.replies[str(follow_up)]["channel"] == "x_public"
    assert case.follow_up_owed  # queued is not delivered
    deliver(case, follow_up, 22)
    assert not case.follow_up_owed and case.followed_up_at == at(22)


def test_only_a_follow_up_and_only_where_the_case_began_goes_to_a_resolved_case() -> None:
    case = resolved_in_dm()

    with pytest.raises(ConversationResolvedError):
        reply(case, minutes=21, kind="answer")
    with pytest.raises(InvalidValueError) as refused:
        reply(case, minutes=21, kind="follow_up", channel="x_dm")
    assert refused.value.field == "channel"


def test_a_case_handled_in_public_or_begun_in_private_owes_nothing() -> None:
    public = a_conversation()
    public.resolve(resolution="answered", actor=AGENT, timestamp=at(5))
    private = a_conversation(channel="email")
    switch(private, "phone", minutes=1)
    private.resolve(resolution="fixed", actor=AGENT, timestamp=at(5))

    assert not public.follow_up_owed and not private.follow_up_owed


def test_reopening_and_resolving_again_owes_a_new_follow_up() -> None:
    case = resolved_in_dm()
    deliver(case, reply(case, minutes=21, kind="follow_up"), 22)
    case.reopen(reason="it broke again", actor=AGENT, timestamp=at(30))
    assert not case.follow_up_owed
    case.resolve(resolution="fixed", actor=AGENT, timestamp=at(40))
    assert case.follow_up_owed
