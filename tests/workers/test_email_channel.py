"""E-mail out: the SMTP adapter against a real SMTP server (aiosmtpd, ``SmtpSink``).

What arrives is parsed as a mail client would (``email.policy.default``); failures are
the server's own answers, a port nothing listens on, a connection dropped, a reply to
the final "." that comes too late. The ledger runs on SQLite and PostgreSQL, and the
last tests deliver through the outbox, RQ and the delivery job (the worker's context
builds the channel from ``PARLEY_SMTP_*``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest
import redis

from app.config import Settings
from domain import values as v
from domain.inbound import Contact
from domain.values import Identity, Origin
from projections.db import ReadStore, SQLiteReadStore, open_read_store
from tests.conftest import Clock
from tests.support.smtp_sink import SmtpSink, free_port
from tests.support.x_standin import XStandIn
from tests.workers.conftest import Rig, redis_url, rig_on
from workers.channels.base import Outgoing, PermanentError, TransientError, UncertainError
from workers.channels.email import EmailChannel, Ledger, SmtpConfig
from workers.delivery import ACTOR, Delivery, outgoing_of

MAIL_FROM = "Care Team <care@parley.example>"
USER, PASSWORD = "parley", "s3cret"
QUEUED_AT = datetime(2026, 11, 2, 9, 30, 15, tzinfo=UTC)
# An Outlook-style id: longer than a header line may be before it folds.
LONG_ID = (
    "AM0PR10MB3217C2E5D1F0A4B3C2D1E0F9A8B7C6D5E4F3A2B1@AM0PR10MB3217.EURPRD10.PROD.OUTLOOK.COM"
)


def outgoing(**changes: object) -> Outgoing:
    fields: dict[str, object] = {
        "reply_id": str(uuid4()), "channel": "email", "body": "Hello Ann,\nit ships today.",
        "in_reply_to": "CAF-3@mail.example.com", "recipient": {"kind": "email",
        "value": "ann@example.com"}, "from_account": None, "queued_at": QUEUED_AT,
        "subject": "Re: Where is my parcel?",
        "references": ("CAF-1@mail.example.com", "reply-earlier@parley.example"),
    }  # fmt: skip
    return Outgoing(**(fields | changes))  # type: ignore[arg-type]


@pytest.fixture
def read_store(tmp_path: Path) -> Iterator[ReadStore]:
    store = SQLiteReadStore(str(tmp_path / "read.sqlite"))
    yield store
    store.close()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def secure_sink() -> Iterator[SmtpSink]:
    with SmtpSink(starttls=True, auth=(USER, PASSWORD)) as server:
        yield server


def channel_to(sink: SmtpSink, store: ReadStore, **config: object) -> EmailChannel:
    settings: dict[str, object] = {"host": sink.host, "port": sink.port,
                                   "mail_from": MAIL_FROM, "timeout": 5.0}  # fmt: skip
    return EmailChannel(SmtpConfig(**(settings | config)), Ledger(store))  # type: ignore[arg-type]


# ---------------------------------------------------------------------- the message
def test_the_message_carries_the_replys_headers(sink: SmtpSink, read_store: ReadStore) -> None:
    out = outgoing()

    external_id = channel_to(sink, read_store).send(out)

    [received] = sink.messages
    mail = received.message
    assert external_id == f"reply-{out.reply_id}@parley.example"
    assert mail["Message-ID"] == f"<{external_id}>"
    assert mail["In-Reply-To"] == "<CAF-3@mail.example.com>"
    assert mail["References"] == (
        "<CAF-1@mail.example.com> <reply-earlier@parley.example> <CAF-3@mail.example.com>"
    )
    assert mail["Subject"] == "Re: Where is my parcel?"
    assert (mail["To"], mail["From"]) == ("ann@example.com", MAIL_FROM)
    assert mail["Date"] == format_datetime(QUEUED_AT)
    assert mail["X-Parley-Reply-Id"] == out.reply_id
    assert "Auto-Submitted" not in mail  # a person wrote it: auto-responders may answer
    assert (received.mail_from, received.rcpt_tos) == ("care@parley.example", ("ann@example.com",))
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content() == "Hello Ann,\nit ships today.\n"


def test_sending_a_reply_again_sends_the_same_message(
    sink: SmtpSink, read_store: ReadStore
) -> None:
    out = outgoing()
    channel = channel_to(sink, read_store)

    first, second = channel.send(out), channel.send(out)

    assert first == second
    one, two = sink.messages
    assert one.raw == two.raw  # byte for byte: Message-ID, Date, everything
    other = channel.send(outgoing())  # another reply is another message
    assert other != first and sink.messages[2].message["Message-ID"] == f"<{other}>"


def test_references_end_with_the_message_answered_once(
    sink: SmtpSink, read_store: ReadStore
) -> None:
    channel = channel_to(sink, read_store)
    channel.send(outgoing(references=("a@x", "CAF-3@mail.example.com")))  # already last
    channel.send(outgoing(in_reply_to="b@x", references=()))
    channel.send(outgoing(in_reply_to=None, references=(), subject=None))

    channel.send(outgoing(in_reply_to="root@x", references=("root@x", "r1@x")))

    threaded, first_answer, unthreaded, to_the_root = (r.message for r in sink.messages)
    assert to_the_root["References"] == "<root@x> <r1@x>"  # the thread's root stays first
    assert threaded["References"] == "<a@x> <CAF-3@mail.example.com>"
    assert (first_answer["In-Reply-To"], first_answer["References"]) == ("<b@x>", "<b@x>")
    assert "In-Reply-To" not in unthreaded and "References" not in unthreaded
    assert unthreaded["Subject"] == "Re: your message"


def test_long_message_ids_are_folded_between_ids_never_encoded(
    sink: SmtpSink, read_store: ReadStore
) -> None:
    channel_to(sink, read_store).send(outgoing(in_reply_to=LONG_ID, references=("a@x",)))

    [received] = sink.messages
    assert b"=?" not in received.raw  # an encoded word here would break the thread
    assert received.message["In-Reply-To"] == f"<{LONG_ID}>"
    assert received.message["References"] == f"<a@x> <{LONG_ID}>"
    assert all(len(line) <= 998 for line in received.raw.split(b"\r\n"))


def test_non_ascii_text_arrives_intact_in_a_7bit_message(
    sink: SmtpSink, read_store: ReadStore
) -> None:
    body = (
        "Bonjour Anaïs,\nvotre colis part aujourd'hui — désolés du retard.\n"
        ".a line that starts with a dot\n" + "très long " * 150 + "\nGrüße, こんにちは, 你好 🙂\n"
    )
    subject = "Re: Où est mon colis ? ✉️"

    channel_to(sink, read_store).send(outgoing(body=body, subject=subject))

    [received] = sink.messages
    assert received.raw.isascii()  # quoted-printable or base64: no 8BITMIME needed
    assert max(len(line) for line in received.raw.split(b"\r\n")) <= 78
    mail = received.message
    assert mail["Subject"] == subject
    assert mail.get_content_charset() == "utf-8"
    # Text is CRLF in MIME's canonical form, which base64 keeps: as a client shows it.
    assert mail.get_content().replace("\r\n", "\n") == body


@pytest.mark.parametrize(
    ("recipient", "says"),
    [
        (None, "no e-mail address to send to"),
        ({"kind": "email", "value": "ann@example.com\r\nRCPT TO:<eve@x>"}, "not an e-mail"),
        ({"kind": "email", "value": "anaïs@example.com"}, "ASCII addresses only"),
    ],
)
def test_a_reply_without_a_usable_address_is_refused_before_connecting(
    read_store: ReadStore, recipient: dict[str, str] | None, says: str
) -> None:
    nowhere = SmtpConfig(host="127.0.0.1", port=free_port(), mail_from=MAIL_FROM)
    channel = EmailChannel(nowhere, Ledger(read_store))

    with pytest.raises(PermanentError) as refused:
        channel.send(outgoing(recipient=recipient))

    assert refused.value.code == "rejected"
    assert says in refused.value.reason


def test_an_idn_domain_is_sent_as_its_ascii_form(sink: SmtpSink, read_store: ReadStore) -> None:
    channel_to(sink, read_store).send(outgoing(recipient={"value": "ann@bücher.example"}))

    [received] = sink.messages
    assert received.rcpt_tos == ("ann@xn--bcher-kva.example",)


# ---------------------------------------------------------------------- TLS and AUTH
def test_starttls_and_auth(secure_sink: SmtpSink, read_store: ReadStore) -> None:
    channel = channel_to(
        secure_sink, read_store, starttls=True, tls_verify=False, username=USER, password=PASSWORD
    )

    channel.send(outgoing())

    [received] = secure_sink.messages
    assert (received.tls, received.login) == (True, USER)


def test_a_wrong_password_is_unauthorized(secure_sink: SmtpSink, read_store: ReadStore) -> None:
    channel = channel_to(
        secure_sink, read_store, starttls=True, tls_verify=False, username=USER, password="nope"
    )

    with pytest.raises(PermanentError) as refused:
        channel.send(outgoing())

    assert refused.value.code == "unauthorized"
    assert "535" in refused.value.reason and "PARLEY_SMTP_PASSWORD" in refused.value.reason
    assert secure_sink.messages == []


def test_auth_without_starttls_is_unauthorized(
    secure_sink: SmtpSink, read_store: ReadStore
) -> None:
    # The sink offers AUTH only over TLS, as most servers do.
    channel = channel_to(secure_sink, read_store, username=USER, password=PASSWORD)

    with pytest.raises(PermanentError) as refused:
        channel.send(outgoing())

    assert refused.value.code == "unauthorized"
    assert "PARLEY_SMTP_STARTTLS" in refused.value.reason


def test_a_certificate_that_does_not_verify_is_refused(
    secure_sink: SmtpSink, read_store: ReadStore
) -> None:
    channel = channel_to(secure_sink, read_store, starttls=True, username=USER, password=PASSWORD)

    with pytest.raises(PermanentError) as refused:
        channel.send(outgoing())  # tls_verify stays on: a self-signed certificate

    assert refused.value.code == "rejected"
    assert "certificate" in refused.value.reason
    assert secure_sink.messages == []


# ---------------------------------------------------------------------- failures
def test_a_refused_recipient_is_permanent_and_names_the_servers_answer(
    sink: SmtpSink, read_store: ReadStore
) -> None:
    sink.refuse_rcpt(550, "5.1.1 <ann@example.com>: Recipient address rejected")

    with pytest.raises(PermanentError) as refused:
        channel_to(sink, read_store).send(outgoing())

    assert refused.value.code == "recipient_refused"
    assert "550 5.1.1 <ann@example.com>: Recipient address rejected" in refused.value.reason
    assert sink.messages == []


def test_a_recipient_deferred_with_450_is_transient(sink: SmtpSink, read_store: ReadStore) -> None:
    sink.refuse_rcpt(450, "4.2.0 Greylisted, try again later")
    channel = channel_to(sink, read_store)

    with pytest.raises(TransientError) as deferred:
        channel.send(outgoing())

    assert "450 4.2.0 Greylisted" in deferred.value.reason
    assert sink.messages == []
    channel.send(outgoing())  # the next attempt goes through
    assert len(sink.messages) == 1


def test_a_port_nothing_listens_on_is_transient(read_store: ReadStore) -> None:
    config = SmtpConfig(host="127.0.0.1", port=free_port(), mail_from=MAIL_FROM, timeout=2)

    with pytest.raises(TransientError) as failed:
        EmailChannel(config, Ledger(read_store)).send(outgoing())

    assert "refused" in failed.value.reason


def test_a_connection_dropped_before_data_is_transient(
    sink: SmtpSink, read_store: ReadStore
) -> None:
    sink.close_after_rcpt()

    with pytest.raises(TransientError):
        channel_to(sink, read_store).send(outgoing())

    assert sink.messages == []


@pytest.mark.parametrize(
    ("code", "error", "failure"),
    [(554, PermanentError, "rejected"), (451, TransientError, "transient")],
)
def test_an_answer_refusing_the_data(
    sink: SmtpSink, read_store: ReadStore, code: int, error: type[Exception], failure: str
) -> None:
    sink.fail_data(code, "5.7.1 Message rejected as spam" if code == 554 else "4.3.0 Try later")

    with pytest.raises(error) as refused:
        channel_to(sink, read_store).send(outgoing())

    assert refused.value.code == failure  # type: ignore[attr-defined]
    assert str(code) in refused.value.reason  # type: ignore[attr-defined]
    assert sink.messages == []


def test_no_answer_to_the_final_dot_is_uncertain(sink: SmtpSink, read_store: ReadStore) -> None:
    sink.delay_data(3.0)  # the server keeps the message, then answers too late
    out = outgoing()
    channel = channel_to(sink, read_store, timeout=0.5)

    with pytest.raises(UncertainError):
        channel.send(out)

    assert len(sink.messages) == 1  # it has it (RFC 1047): the client cannot know
    assert channel.find(out, lambda _: False) is None  # not in the ledger: it is sent again
    channel_to(sink, read_store).send(out)
    first, second = sink.messages
    assert first.message["Message-ID"] == second.message["Message-ID"]  # one in the inbox


# ---------------------------------------------------------------------- the ledger
@pytest.fixture
def any_read_store(store: dict[str, str]) -> Iterator[ReadStore]:
    """The read store a worker's context opens, on SQLite and on PostgreSQL."""
    opened = open_read_store(Settings.from_env(store))
    yield opened
    opened.close()


def test_the_ledger_finds_what_the_server_accepted(
    sink: SmtpSink, any_read_store: ReadStore
) -> None:
    sent, never = outgoing(), outgoing()
    channel = channel_to(sink, any_read_store)

    external_id = channel.send(sent)

    assert channel.find(sent, lambda _: False) == external_id
    assert channel.find(never, lambda _: False) is None
    assert channel.find(sent, lambda found: found == external_id) is None  # another's
    [row] = any_read_store.query("SELECT * FROM email_sent")
    assert (row["message_id"], row["reply_id"]) == (external_id, sent.reply_id)
    # Another process (a new work-horse) reads the same ledger.
    assert channel_to(sink, any_read_store).find(sent, lambda _: False) == external_id


def test_a_refused_message_is_not_in_the_ledger(sink: SmtpSink, any_read_store: ReadStore) -> None:
    out = outgoing()
    sink.fail_data(554, "5.7.1 no")
    channel = channel_to(sink, any_read_store)

    with pytest.raises(PermanentError):
        channel.send(out)

    assert channel.find(out, lambda _: False) is None


def test_a_ledger_that_cannot_be_read_is_uncertain(sink: SmtpSink, tmp_path: Path) -> None:
    (tmp_path / "read.sqlite").mkdir()  # where the database should be, nothing opens
    store = SQLiteReadStore(str(tmp_path / "read.sqlite"))
    channel = channel_to(sink, store)

    with pytest.raises(UncertainError):
        channel.find(outgoing(), lambda _: False)


# ---------------------------------------------------------------------- settings
def test_settings_configure_the_channel(sink: SmtpSink) -> None:
    settings = Settings.from_env(
        {"PARLEY_SMTP_HOST": "127.0.0.1", "PARLEY_SMTP_PORT": str(sink.port),
         "PARLEY_SMTP_STARTTLS": "no", "PARLEY_SMTP_TLS_VERIFY": "yes",
         "PARLEY_MAIL_FROM": MAIL_FROM, "PARLEY_SMTP_TIMEOUT_SECONDS": "3"}
    )  # fmt: skip

    config = SmtpConfig.of(settings)

    assert settings.smtp_configured() and not Settings().smtp_configured()
    assert config == SmtpConfig(host="127.0.0.1", port=sink.port, mail_from=MAIL_FROM, timeout=3)
    assert Settings().smtp_port == 25 and Settings().mail_from == "care@parley.localhost"


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"PARLEY_SMTP_STARTTLS": "maybe"}, "PARLEY_SMTP_STARTTLS must be yes or no"),
        ({"PARLEY_SMTP_PORT": "0"}, "PARLEY_SMTP_PORT must be a port"),
        ({"PARLEY_SMTP_TIMEOUT_SECONDS": "0"}, "PARLEY_SMTP_TIMEOUT_SECONDS must be more"),
        ({"PARLEY_SMTP_HOST": "mx", "PARLEY_MAIL_FROM": "care"}, "PARLEY_MAIL_FROM must be"),
    ],
)
def test_bad_settings_say_what_is_wrong(env: dict[str, str], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Settings.from_env(env)


# ---------------------------------------------------------------------- through the workers
@pytest.fixture
def mail_rig(store: dict[str, str], x: XStandIn, clock: Clock, sink: SmtpSink) -> Iterator[Rig]:
    client = redis.Redis.from_url(redis_url())
    client.flushdb()
    smtp = {"PARLEY_SMTP_HOST": sink.host, "PARLEY_SMTP_PORT": str(sink.port),
            "PARLEY_MAIL_FROM": MAIL_FROM, "PARLEY_SMTP_TIMEOUT_SECONDS": "2"}  # fmt: skip
    try:
        with rig_on(store, x, redis_url(), smtp) as made:
            yield made
    finally:
        client.flushdb()
        client.close()


def a_mail(rig: Rig) -> UUID:
    """A customer writes to the brand: a case on e-mail."""
    ann = Identity(v.IDENTITY_EMAIL, "ann@example.com")
    outcome = rig.app.receive_contact(
        Contact(
            channel=v.EMAIL, body="Where is my parcel?", external_id="CAF-1@mail.example.com",
            sender=ann, actor="system:email", subject="Where is my parcel?",
            origin=Origin(sender=ann, thread_id="CAF-1@mail.example.com"),
        )
    )  # fmt: skip
    return outcome.id


def queue(rig: Rig, cid: UUID) -> UUID:
    outcome = rig.app.queue_reply(cid, kind="answer", body="It ships today.", actor="agent:al")
    return UUID(str(outcome.extra["reply_id"]))


def test_a_reply_by_email_goes_out_through_the_workers(mail_rig: Rig, sink: SmtpSink) -> None:
    cid = a_mail(mail_rig)
    reply_id = queue(mail_rig, cid)

    mail_rig.run(until=lambda: mail_rig.reply(cid, reply_id)["status"] == v.DELIVERED)

    [received] = sink.messages
    reply = mail_rig.reply(cid, reply_id)
    assert reply["external_id"] == f"reply-{reply_id}@parley.example"
    assert received.message["Message-ID"] == f"<{reply['external_id']}>"
    assert received.message["In-Reply-To"] == "<CAF-1@mail.example.com>"
    assert received.rcpt_tos == ("ann@example.com",)


def test_a_job_killed_after_the_server_took_the_mail_sends_no_second(
    mail_rig: Rig, sink: SmtpSink
) -> None:
    cid = a_mail(mail_rig)
    reply_id = queue(mail_rig, cid)
    # The killed work-horse: it recorded its attempt and sent, and recorded nothing more.
    mail_rig.app.dispatch_reply(cid, reply_id=reply_id, attempt=1, actor=ACTOR)
    channel = mail_rig.ctx.channels["email"]
    sent = channel.send(outgoing_of(mail_rig.reply(cid, reply_id)))

    result = Delivery(mail_rig.app, mail_rig.ctx.channels, mail_rig.ctx.redis,
                      attempt_seconds=0).run(cid, reply_id)  # fmt: skip

    assert (result.outcome, result.detail) == ("found", sent)
    assert len(sink.messages) == 1
    assert mail_rig.reply(cid, reply_id)["external_id"] == sent


def test_an_unanswered_final_dot_is_sent_again_as_the_same_message(
    mail_rig: Rig, sink: SmtpSink
) -> None:
    cid = a_mail(mail_rig)
    reply_id = queue(mail_rig, cid)
    sink.delay_data(4.0)  # longer than PARLEY_SMTP_TIMEOUT_SECONDS
    mail_rig.outbox.run_once()
    job = Delivery(mail_rig.app, mail_rig.ctx.channels, mail_rig.ctx.redis)

    first = job.run(cid, reply_id)
    second = job.run(cid, reply_id)  # its retry: the ledger has nothing, so it sends

    assert (first.outcome, first.detail, second.outcome) == ("retry", "uncertain", "delivered")
    one, two = sink.messages
    assert one.message["Message-ID"] == two.message["Message-ID"]
    assert one.raw == two.raw


def test_a_delivery_job_run_twice_sends_one_mail(mail_rig: Rig, sink: SmtpSink) -> None:
    cid = a_mail(mail_rig)
    reply_id = queue(mail_rig, cid)
    mail_rig.outbox.run_once()
    job = Delivery(mail_rig.app, mail_rig.ctx.channels, mail_rig.ctx.redis)

    first = job.run(cid, reply_id)
    second = job.run(cid, reply_id)  # RQ ran it again (a retry, a duplicate enqueue)

    assert (first.outcome, second.outcome) == ("delivered", "skipped")
    assert len(sink.messages) == 1
    assert mail_rig.reply(cid, reply_id)["subject"] == "Re: Where is my parcel?"
    assert sink.messages[0].message["Subject"] == "Re: Where is my parcel?"
