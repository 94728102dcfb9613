"""``POST /webhooks/email``: raw mail in, threaded to its case, recorded once; bounces
and auto-replies recognised. The messages are built here, as mail servers send them."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime
from uuid import UUID, uuid4

from tests.app.helpers import assert_problem, error_fields, head_position
from tests.conftest import Clock


def mail(
    clock: Clock,
    *,
    sender: str = "ann@example.com",
    subject: str = "Order 1234 never came",
    body: str = "Hello, my order never arrived.",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[bytes, str]:
    message = EmailMessage()
    message_id = message_id or f"{uuid4().hex}@mail.example.com"
    message["From"] = f"Ann Example <{sender}>"
    message["To"] = "care@brand.example"
    message["Subject"] = subject
    message["Date"] = format_datetime(clock.now)
    message["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        message["References"] = references
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes(), message_id


def post(client, auth, raw: bytes):  # type: ignore[no-untyped-def]
    return client.post(
        "/webhooks/email", data=raw, content_type="message/rfc822", headers=auth("integration")
    )


def test_a_mail_opens_a_case_and_its_repeat_is_one_message(client, auth, clock, flask_app) -> None:  # type: ignore[no-untyped-def]
    raw, message_id = mail(clock, sender=f"{uuid4().hex[:8]}@example.com")

    first = post(client, auth, raw)
    head = head_position(flask_app)
    again = post(client, auth, raw)

    assert first.status_code == 200, first.get_json()
    assert first.get_json() | {"conversation_id": None} == {
        "result": "recorded", "message_id": message_id, "conversation_id": None,
        "reply_id": None, "created": True,
    }  # fmt: skip
    assert again.get_json()["result"] == "seen"
    assert again.get_json()["conversation_id"] == first.get_json()["conversation_id"]
    assert head_position(flask_app) == head
    case = client.get(
        f"/v1/conversations/{first.get_json()['conversation_id']}", headers=auth()
    ).get_json()
    assert (case["origin_channel"], case["subject"]) == ("email", "Order 1234 never came")
    assert case["messages"][0]["body"].strip() == "Hello, my order never arrived."
    assert case["messages"][0]["sender"]["value"].endswith("@example.com")


def test_an_answer_to_the_customers_mail_threads_into_its_case(client, auth, clock) -> None:  # type: ignore[no-untyped-def]
    sender = f"{uuid4().hex[:8]}@example.com"
    raw, first_id = mail(clock, sender=sender)
    case = post(client, auth, raw).get_json()["conversation_id"]
    client.post(f"/v1/conversations/{case}/resolve", json={}, headers=auth())

    answer, _ = mail(
        clock, sender=sender, subject="Re: Order 1234", body="Any news?",
        in_reply_to=first_id, references=f"<{first_id}>",
    )  # fmt: skip
    landed = post(client, auth, answer).get_json()

    assert (landed["result"], landed["conversation_id"], landed["created"]) == (
        "recorded", case, False,
    )  # fmt: skip
    reopened = client.get(f"/v1/conversations/{case}", headers=auth()).get_json()
    assert reopened["status"] == "open" and len(reopened["messages"]) == 2


def test_an_auto_reply_reopens_nothing(client, auth, clock) -> None:  # type: ignore[no-untyped-def]
    sender = f"{uuid4().hex[:8]}@example.com"
    raw, first_id = mail(clock, sender=sender)
    case = post(client, auth, raw).get_json()["conversation_id"]
    client.post(f"/v1/conversations/{case}/resolve", json={}, headers=auth())

    auto, _ = mail(
        clock, sender=sender, subject="Out of office", body="I am away until Monday.",
        in_reply_to=first_id, headers={"Auto-Submitted": "auto-replied"},
    )  # fmt: skip
    kept = post(client, auth, auto).get_json()

    assert (kept["result"], kept["conversation_id"]) == ("automated", case)
    after = client.get(f"/v1/conversations/{case}", headers=auth()).get_json()
    assert after["status"] == "resolved" and len(after["messages"]) == 1
    assert [a["kind"] for a in after["automated_messages"]] == ["auto_reply"]


def test_what_cannot_be_a_mail_is_a_4xx_and_writes_nothing(client, auth, flask_app) -> None:  # type: ignore[no-untyped-def]
    head = head_position(flask_app)
    for raw in (b"", b"\x00\xff garbage", b"Subject: no sender\r\n\r\nhello\r\n"):
        refused = post(client, auth, raw)
        assert refused.status_code == 422, (raw, refused.get_json())
        assert error_fields(refused.get_json())
    as_json = client.post("/webhooks/email", json={"raw": "x"}, headers=auth("integration"))
    assert_problem(as_json, 415)
    assert head_position(flask_app) == head


def test_a_mail_larger_than_the_json_limit_is_taken(client, auth, clock) -> None:  # type: ignore[no-untyped-def]
    message = EmailMessage()
    message["From"] = f"{uuid4().hex[:8]}@example.com"
    message["To"] = "care@brand.example"
    message["Subject"] = "Photos of the damage"
    message.set_content("See attached.")
    message.add_attachment(b"\x89PNG" + b"\x00" * 3_000_000, maintype="image",
                           subtype="png", filename="damage.png")  # fmt: skip
    taken = post(client, auth, message.as_bytes())
    assert taken.status_code == 200, taken.get_json()
    case = client.get(
        f"/v1/conversations/{taken.get_json()['conversation_id']}", headers=auth()
    ).get_json()
    (attachment,) = case["messages"][0]["details"]["attachments"]
    assert (attachment["filename"], attachment["content_type"]) == ("damage.png", "image/png")
    assert attachment["size"] == 3_000_004


def test_only_an_integration_token_may_post_mail(client, auth, clock) -> None:  # type: ignore[no-untyped-def]
    raw, _ = mail(clock)
    refused = client.post(
        "/webhooks/email", data=raw, content_type="message/rfc822", headers=auth("agent")
    )
    assert assert_problem(refused, 403)["allowed_roles"] == ["integration"]
    anonymous = client.post("/webhooks/email", data=raw, content_type="message/rfc822")
    assert_problem(anonymous, 401)


def _dsn(clock: Clock, original_id: str, recipient: str, status: str, action: str) -> bytes:
    """A delivery status notification as Postfix sends one (RFC 3464)."""
    boundary = "dsn-boundary-1"
    return (
        f"From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        f"To: care@parley.localhost\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
        f"Date: {format_datetime(clock.now)}\r\n"
        f"Message-ID: <{uuid4().hex}@mx.example.net>\r\n"
        f"Auto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        f"\r\n--{boundary}\r\n"
        f"Content-Type: text/plain\r\n\r\n"
        f"I'm sorry to have to inform you that your message could not be delivered.\r\n"
        f"\r\n--{boundary}\r\n"
        f"Content-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected\r\n"
        f"\r\n--{boundary}\r\n"
        f"Content-Type: text/rfc822-headers\r\n\r\n"
        f"From: care@parley.localhost\r\n"
        f"To: {recipient}\r\n"
        f"Subject: Re: Order 1234 never came\r\n"
        f"Message-ID: <{original_id}>\r\n"
        f"\r\n--{boundary}--\r\n"
    ).encode()


def _delivered_by_email(flask_app, client, auth, clock) -> tuple[str, str, str, str]:  # type: ignore[no-untyped-def]
    """A case opened by mail and answered by mail, delivered as a worker records it."""
    sender = f"{uuid4().hex[:8]}@example.com"
    case = post(client, auth, mail(clock, sender=sender)[0]).get_json()["conversation_id"]
    reply_id = client.post(
        f"/v1/conversations/{case}/replies", json={"body": "It ships today"}, headers=auth()
    ).get_json()["reply_id"]
    ours = f"reply-{reply_id}@parley.localhost"
    app = flask_app.extensions["parley.application"]
    ids = {"reply_id": UUID(reply_id), "attempt": 1, "actor": "system:delivery"}
    app.dispatch_reply(UUID(case), **ids)
    app.record_delivery(UUID(case), external_id=ours, **ids)
    return case, reply_id, ours, sender


def test_a_bounce_of_our_reply_marks_it_failed(client, auth, clock, flask_app) -> None:  # type: ignore[no-untyped-def]
    case, reply_id, ours, sender = _delivered_by_email(flask_app, client, auth, clock)
    dsn = _dsn(clock, ours, sender, "5.1.1", "failed")

    bounced = post(client, auth, dsn).get_json()
    head = head_position(flask_app)
    again = post(client, auth, dsn).get_json()

    assert (bounced["result"], bounced["conversation_id"], bounced["reply_id"]) == (
        "bounce", case, reply_id,
    )  # fmt: skip
    assert again["result"] == "bounce" and head_position(flask_app) == head
    conversation = client.get(f"/v1/conversations/{case}", headers=auth()).get_json()
    (reply,) = conversation["replies"]
    assert (reply["status"], reply["failure_code"]) == ("failed", "bounced")
    assert "5.1.1" in reply["last_error"]
    assert conversation["status"] == "open" and len(conversation["messages"]) == 1


def test_a_delayed_report_fails_nothing(client, auth, clock, flask_app) -> None:  # type: ignore[no-untyped-def]
    case, _, ours, sender = _delivered_by_email(flask_app, client, auth, clock)

    delayed = post(client, auth, _dsn(clock, ours, sender, "4.4.7", "delayed")).get_json()

    assert delayed["result"] in ("automated", "ignored")
    conversation = client.get(f"/v1/conversations/{case}", headers=auth()).get_json()
    assert conversation["replies"][0]["status"] == "delivered"


def test_our_own_reply_coming_back_opens_no_case(client, auth, clock, flask_app) -> None:  # type: ignore[no-untyped-def]
    _, _, ours, _ = _delivered_by_email(flask_app, client, auth, clock)
    head = head_position(flask_app)

    echoed, _ = mail(clock, sender="care@parley.localhost", message_id=ours, subject="Re: x")
    from_brand, _ = mail(clock, sender="Care@Parley.localhost", subject="internal note")

    assert post(client, auth, echoed).get_json()["result"] == "ignored"
    assert post(client, auth, from_brand).get_json()["result"] == "ignored"
    assert head_position(flask_app) == head


def test_a_non_ascii_message_id_is_no_id(client, auth, clock) -> None:  # type: ignore[no-untyped-def]
    raw, _ = mail(clock, sender=f"{uuid4().hex[:8]}@example.com")
    raw = raw.replace(b"Message-ID: <", "Message-ID: <café-".encode(), 1)
    taken = post(client, auth, raw).get_json()
    assert taken["result"] == "recorded"
    assert taken["message_id"].startswith("derived-") and taken["message_id"].isascii()
