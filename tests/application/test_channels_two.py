"""E-mail threading, bounces and auto-replies, web chat sessions and phone calls, on the
application tier (both stores)."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from domain.application import Conversations
from domain.exceptions import (
    ChannelIdentityMissingError,
    InvalidTransitionError,
    InvalidValueError,
)
from domain.inbound import Contact
from domain.values import Identity, Origin
from tests.application.conftest import AGENT, an_email_identity, open_from_tweet
from tests.conftest import Clock

MAIL = "integration:mail"
WIDGET = "integration:widget"
WORKER = "system:delivery"


def a_mail(
    sender: Identity,
    *,
    body: str = "Where is my order?",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    subject: str | None = "Order 1234",
) -> Contact:
    message_id = message_id or f"{uuid4().hex}@mail.example.com"
    return Contact(
        channel="email", body=body, external_id=message_id, sender=sender, actor=MAIL,
        origin=Origin(
            sender=sender, thread_id=references[0] if references else in_reply_to or message_id,
            in_reply_to=in_reply_to,
        ),
        subject=subject, references=references,
        details={"html": None, "attachments": [], "quoted_at": None, "derived_message_id": False},
    )  # fmt: skip


def delivered_reply(app: Conversations, conversation_id, body: str = "On its way") -> tuple:  # type: ignore[no-untyped-def]
    reply_id = app.queue_reply(conversation_id, kind="answer", body=body, actor=AGENT).extra[
        "reply_id"
    ]
    message_id = f"reply-{reply_id}@parley.example"
    app.dispatch_reply(conversation_id, reply_id=reply_id, attempt=1, actor=WORKER)
    app.record_delivery(
        conversation_id, reply_id=reply_id, external_id=message_id, attempt=1, actor=WORKER
    )
    return reply_id, message_id


# ------------------------------------------------------------------ e-mail
def test_a_reply_by_email_carries_the_thread_and_subject(application: Conversations) -> None:
    customer = an_email_identity()
    first = a_mail(customer, subject="Order 1234 never came")
    opened = application.receive_contact(first)

    reply_id = application.queue_reply(opened.id, kind="answer", body="Sorry!", actor=AGENT).extra[
        "reply_id"
    ]

    reply = application.find_reply(opened.id, reply_id)
    assert reply["subject"] == "Re: Order 1234 never came"
    assert reply["in_reply_to"] == first.external_id
    assert reply["references"] == [first.external_id]
    assert reply["recipient"]["value"] == customer.value


def test_a_subject_gets_one_re_only(application: Conversations) -> None:
    opened = application.receive_contact(a_mail(an_email_identity(), subject="RE:  Refund"))
    reply_id = application.queue_reply(opened.id, kind="answer", body="ok", actor=AGENT).extra[
        "reply_id"
    ]
    assert application.find_reply(opened.id, reply_id)["subject"] == "RE: Refund"


def test_the_customers_answer_to_our_mail_threads_into_the_case(
    application: Conversations,
) -> None:
    customer = an_email_identity()
    first = a_mail(customer)
    opened = application.receive_contact(first)
    application.resolve(opened.id, resolution="answered", actor=AGENT)  # no open case left
    application.reopen(opened.id, reason="agent", actor=AGENT)
    _, ours = delivered_reply(application, opened.id)
    application.resolve(opened.id, resolution="answered", actor=AGENT)

    answer = a_mail(customer, body="Thanks, it came", in_reply_to=ours,
                    references=(first.external_id, ours), subject="Re: Order 1234")  # fmt: skip
    landed = application.receive_contact(answer)

    assert landed.id == opened.id
    conversation = application.get_conversation(opened.id)
    assert conversation.status == "open"  # the customer wrote: it reopens
    assert [m["body"] for m in conversation.messages][-1] == "Thanks, it came"
    # The next reply's References carry the whole thread, oldest first.
    reply_id = application.queue_reply(opened.id, kind="answer", body="Great", actor=AGENT).extra[
        "reply_id"
    ]
    assert application.find_reply(opened.id, reply_id)["references"] == [
        first.external_id, ours, answer.external_id,
    ]  # fmt: skip


def test_a_mail_threads_by_its_references_when_in_reply_to_is_unknown(
    application: Conversations,
) -> None:
    customer = an_email_identity()
    first = a_mail(customer)
    opened = application.receive_contact(first)
    application.resolve(opened.id, resolution="answered", actor=AGENT)

    later = a_mail(customer, in_reply_to="somewhere-else@elsewhere.example",
                   references=(first.external_id, "somewhere-else@elsewhere.example"))  # fmt: skip
    assert application.receive_contact(later).id == opened.id


def test_the_same_mail_posted_twice_is_one_message(application: Conversations) -> None:
    mail = a_mail(an_email_identity())
    first = application.receive_contact(mail)
    head = application.head_position()

    again = application.receive_contact(mail)

    assert (again.id, again.extra["created"]) == (first.id, False)
    assert application.head_position() == head


def test_someone_else_answering_our_mail_opens_their_own_case(
    application: Conversations,
) -> None:
    opened = application.receive_contact(a_mail(an_email_identity()))
    _, ours = delivered_reply(application, opened.id)

    forwarded = application.receive_contact(a_mail(an_email_identity(), in_reply_to=ours))

    assert forwarded.id != opened.id


def test_a_bounce_marks_the_reply_failed_once(application: Conversations) -> None:
    opened = application.receive_contact(a_mail(an_email_identity()))
    reply_id, ours = delivered_reply(application, opened.id)

    bounced = application.record_bounce(
        message_id=ours, reason="550 5.1.1 no such user", status="5.1.1",
        bounce_id="dsn-1@mx.example", actor=MAIL,
    )  # fmt: skip
    again = application.record_bounce(
        message_id=ours, reason="550 5.1.1 no such user", status="5.1.1",
        bounce_id="dsn-1@mx.example", actor=MAIL,
    )  # fmt: skip

    assert bounced is not None and bounced.extra == {"reply_id": reply_id, "created": True}
    assert again is not None and again.extra["created"] is False and again.position is None
    reply = application.find_reply(opened.id, reply_id)
    assert (reply["status"], reply["failure_code"]) == ("failed", "bounced")
    assert "no such user" in reply["last_error"]
    assert (
        application.record_bounce(
            message_id="not-ours@x.example", reason="r", status=None, bounce_id="d2", actor=MAIL
        )
        is None
    )


def test_an_auto_reply_is_kept_but_reopens_nothing_and_answers_no_clock(
    application: Conversations, clock: Clock
) -> None:
    customer = an_email_identity()
    opened = application.receive_contact(a_mail(customer))
    _, ours = delivered_reply(application, opened.id)
    application.resolve(opened.id, resolution="answered", actor=AGENT)
    before = application.get_conversation(opened.id)

    kept = application.receive_automated(
        a_mail(customer, body="I am out of office", in_reply_to=ours), "auto_reply"
    )

    assert kept is not None and kept.id == opened.id
    after = application.get_conversation(opened.id)
    assert (after.status, after.awaiting) == ("resolved", "nothing")
    assert [a["body"] for a in after.automated] == ["I am out of office"]
    assert after.messages == before.messages
    # One answering nothing known is dropped.
    assert application.receive_automated(a_mail(an_email_identity()), "auto_reply") is None


# ------------------------------------------------------------------ web chat
def test_a_chat_session_is_one_case(application: Conversations) -> None:
    session = f"s-{uuid4().hex}"
    first = application.receive_chat(session, body="Hi, anyone there?", actor=WIDGET)
    second = application.receive_chat(session, body="Hello?", actor=WIDGET)

    assert first.extra["created"] is True and second.id == first.id
    conversation = application.get_conversation(first.id)
    assert conversation.origin_channel == "chat"
    assert conversation.chat_session == session
    assert [m["body"] for m in conversation.messages] == ["Hi, anyone there?", "Hello?"]
    assert application.identities_of(application.customer_of(conversation.customer_id)) == []


def test_a_chat_reply_is_delivered_by_the_widgets_receipt(application: Conversations) -> None:
    session = f"s-{uuid4().hex}"
    case = application.receive_chat(session, body="Hi", actor=WIDGET).id
    reply_id = application.queue_reply(case, kind="answer", body="Hello!", actor=AGENT).extra[
        "reply_id"
    ]

    application.record_receipt(case, reply_id=reply_id, actor=WIDGET)
    head = application.head_position()
    application.record_receipt(case, reply_id=reply_id, actor=WIDGET)  # a repeat: nothing

    reply = application.find_reply(case, reply_id)
    assert reply["status"] == "delivered"
    assert application.head_position() == head


def test_a_receipt_is_refused_for_a_reply_the_workers_send(application: Conversations) -> None:
    opened = open_from_tweet(application)
    reply_id = application.queue_reply(opened.id, kind="answer", body="hi", actor=AGENT).extra[
        "reply_id"
    ]
    with pytest.raises(InvalidTransitionError):
        application.record_receipt(opened.id, reply_id=reply_id, actor=WIDGET)


def test_after_the_visitor_leaves_replies_go_by_email(application: Conversations) -> None:
    session = f"s-{uuid4().hex}"
    address = an_email_identity()
    case = application.receive_chat(
        session, body="Hi", actor=WIDGET, email=address.value, customer_name="Ann"
    ).id
    unseen = application.queue_reply(case, kind="answer", body="One moment", actor=AGENT).extra[
        "reply_id"
    ]

    application.end_chat(session, actor=WIDGET)
    later = application.queue_reply(case, kind="answer", body="Found it", actor=AGENT)

    conversation = application.get_conversation(case)
    assert conversation.chat_ended and conversation.current_channel == "email"
    assert conversation.replies[str(unseen)]["failure_code"] == "customer_left"
    reply = conversation.replies[str(later.extra["reply_id"])]
    assert (reply["channel"], reply["recipient"]["value"]) == ("email", address.value)
    with pytest.raises(InvalidTransitionError):  # the session is over
        application.receive_chat(session, body="back!", actor=WIDGET)


def test_a_visitor_who_left_without_an_address_cannot_be_replied_to(
    application: Conversations,
) -> None:
    session = f"s-{uuid4().hex}"
    case = application.receive_chat(session, body="Hi", actor=WIDGET).id
    application.end_chat(session, actor=WIDGET)
    head = application.head_position()

    with pytest.raises(ChannelIdentityMissingError):
        application.queue_reply(case, kind="answer", body="Hello?", actor=AGENT)
    assert application.head_position() == head


# ------------------------------------------------------------------ phone
def test_an_outbound_call_answers_the_customer(application: Conversations, clock: Clock) -> None:
    opened = open_from_tweet(application)
    started = clock.advance(minutes=5)
    clock.advance(minutes=12)

    logged = application.log_call(
        opened.id, direction="outbound", started_at=started, duration_seconds=300,
        summary="Explained the refund", actor=AGENT,
    )  # fmt: skip

    conversation = application.get_conversation(opened.id)
    assert conversation.awaiting == "nothing"
    call = conversation.calls[0]
    assert call["id"] == logged.extra["call_id"]
    assert (call["direction"], call["agent"], call["summary"]) == (
        "outbound", AGENT, "Explained the refund",
    )  # fmt: skip


def test_an_inbound_call_reopens_a_resolved_case(application: Conversations, clock: Clock) -> None:
    opened = open_from_tweet(application)
    application.resolve(opened.id, resolution="answered", actor=AGENT)
    started = clock.advance(minutes=1)

    application.log_call(
        opened.id, direction="inbound", started_at=started, duration_seconds=60,
        summary="Called back about the parcel", actor=AGENT,
    )  # fmt: skip

    conversation = application.get_conversation(opened.id)
    assert (conversation.status, conversation.awaiting) == ("open", "nothing")


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("direction", {"direction": "sideways"}),
        ("duration_seconds", {"duration_seconds": -1}),
        ("started_at", {"started_at_offset": timedelta(minutes=5)}),
        ("started_at", {"started_at_offset": -timedelta(days=8)}),
    ],
)
def test_a_call_that_cannot_be_is_refused(
    application: Conversations, clock: Clock, field: str, change: dict
) -> None:
    opened = open_from_tweet(application)
    arguments = {"direction": "outbound", "duration_seconds": 10, "started_at": clock.now}
    offset = change.get("started_at_offset")
    if offset is not None:
        arguments["started_at"] = clock.now + offset
    arguments |= {k: x for k, x in change.items() if k != "started_at_offset"}
    head = application.head_position()

    with pytest.raises(InvalidValueError) as refused:
        application.log_call(opened.id, summary="x", actor=AGENT, **arguments)
    assert refused.value.field == field
    assert application.head_position() == head


def test_a_reply_cannot_go_out_by_phone(application: Conversations) -> None:
    customer = Identity("phone", "+44 20 7946 0000")
    opened = application.open_conversation(
        channel="phone", body="Called about billing", actor=AGENT, identity=customer
    )
    with pytest.raises(InvalidValueError) as refused:
        application.queue_reply(opened.id, kind="answer", body="hi", actor=AGENT)
    assert refused.value.field == "channel"


# ------------------------------------------------------------------ found in review
def test_a_bounced_reply_sent_again_is_delivered_again(application: Conversations) -> None:
    """The resend is the same mail (its Message-ID comes from the reply), indexed once."""
    opened = application.receive_contact(a_mail(an_email_identity()))
    reply_id, ours = delivered_reply(application, opened.id)
    application.record_bounce(
        message_id=ours, reason="mailbox full", status="5.2.2", bounce_id="b1", actor=MAIL
    )
    application.request_redelivery(opened.id, reply_id=reply_id, actor="ops:olga")
    application.dispatch_reply(opened.id, reply_id=reply_id, attempt=2, actor=WORKER)

    application.record_delivery(
        opened.id, reply_id=reply_id, external_id=ours, attempt=2, actor=WORKER
    )

    assert application.find_reply(opened.id, reply_id)["status"] == "delivered"
    assert application.delivered_as("email", ours) == reply_id


def test_a_bounce_naming_another_recipient_fails_nothing(application: Conversations) -> None:
    opened = application.receive_contact(a_mail(an_email_identity()))
    reply_id, ours = delivered_reply(application, opened.id)

    other = application.record_bounce(
        message_id=ours, reason="550 no such user", status="5.1.1", bounce_id="b2",
        actor=MAIL, recipient="someone.forwarded@elsewhere.example",
    )  # fmt: skip

    assert other is None
    assert application.find_reply(opened.id, reply_id)["status"] == "delivered"


def test_a_later_chat_message_cannot_redirect_the_replies(application: Conversations) -> None:
    session = f"s-{uuid4().hex}"
    ann = an_email_identity()
    case = application.receive_chat(session, body="Hi", actor=WIDGET, email=ann.value).id
    application.receive_chat(
        session, body="send it here", actor=WIDGET, email="evil@attacker.example"
    )
    application.end_chat(session, actor=WIDGET)

    reply = application.queue_reply(case, kind="answer", body="Your refund", actor=AGENT)

    recipient = application.find_reply(case, reply.extra["reply_id"])["recipient"]
    assert recipient["value"] == ann.value


def test_two_first_messages_of_a_session_at_once_make_one_case(
    another_instance, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    import threading

    apps = [another_instance(clock), another_instance(clock)]
    session = f"s-{uuid4().hex}"
    barrier = threading.Barrier(2)
    results: list[object] = []

    def first(app: Conversations, body: str) -> None:
        barrier.wait()
        try:
            results.append(app.receive_chat(session, body=body, actor=WIDGET).id)
        except Exception as error:  # the test reports it
            results.append(error)

    threads = [threading.Thread(target=first, args=(a, f"hello {i}")) for i, a in enumerate(apps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(set(results)) == 1, results
    conversation = apps[0].get_conversation(results[0])  # type: ignore[arg-type]
    assert sorted(m["body"] for m in conversation.messages) == ["hello 0", "hello 1"]
