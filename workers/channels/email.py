"""E-mail out through an SMTP server (smtplib): one reply, one message, one Message-ID.

The Message-ID is derived from the reply (``<reply-{reply_id}@{domain of the sender}>``),
never random, and so are the other headers (``Date`` is the time the reply was queued):
sending a reply again sends the same message, which mail clients show once.

The conversation is driven step by step (EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, the
message, its final reply) so a failure is known by where it happened: anything before
the message's final "." means the server has nothing (``TransientError``), a 5xx refusal
is for a person (``PermanentError``), and a timeout or a broken connection while waiting
for the reply to the final "." is ``UncertainError``: the server may have queued it
(RFC 1047).

SMTP cannot be asked whether it took a message, so :class:`Ledger` keeps, in the read
store's database (table ``email_sent``), every Message-ID the server accepted, written
as soon as its 250 to the final "." arrives and before :meth:`EmailChannel.send`
returns; :meth:`EmailChannel.find` answers from it. What that guarantees:

- a job killed after the ledger write (before the delivery was recorded) is found by
  the next attempt: no second copy;
- a kill between the server's 250 and the ledger write (microseconds), or a connection
  lost after the final "." before the 250 arrived (the RFC 1047 window: the server may
  have queued the message anyway), is not in the ledger: the next attempt sends a second
  copy. It carries the same Message-ID, so the customer's mail client shows one message;
- what happens after the server's 250 (relaying, the recipient's server, a bounce) is
  not known here: a bounce is inbound mail.
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from typing import Any

from app.config import mail_domain
from projections.db import ReadStore, timestamp
from workers.channels.base import (
    DeliveryError,
    Outgoing,
    PermanentError,
    TransientError,
    UncertainError,
)

log = logging.getLogger(__name__)

TABLE = "email_sent"
DEFAULT_SUBJECT = "Re: your message"


# ------------------------------------------------------------------------ the message
class _MessageIds(BaseHeader):
    """``In-Reply-To`` and ``References``: msg-ids folded only between ids.

    The library parses these as unstructured text and turns a line it cannot fold (one
    long id: Outlook's are ~90 characters) into an RFC 2047 encoded word, which no mail
    client threads on."""

    max_count = 1

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        kwds["decoded"] = " ".join(value.split())
        kwds["parse_tree"] = None

    def fold(self, *, policy: Any) -> str:
        limit = policy.max_line_length or 998
        lines, started = [f"{self.name}:"], False
        for msg_id in str(self).split():
            if started and len(lines[-1]) + 1 + len(msg_id) > limit:
                lines.append("")  # a continuation line: it begins with the space below
            lines[-1] += f" {msg_id}"
            started = True
        return policy.linesep.join(lines) + policy.linesep


_registry = HeaderRegistry()
_registry.map_to_type("in-reply-to", _MessageIds)
_registry.map_to_type("references", _MessageIds)
# CRLF, lines folded at 78, and 7-bit clean (quoted-printable or base64 for non-ASCII):
# nothing here depends on the server offering 8BITMIME or SMTPUTF8.
POLICY = SMTP_POLICY.clone(header_factory=_registry, cte_type="7bit")


def message_id(reply_id: str, mail_from: str) -> str:
    """The reply's Message-ID, without brackets: the same for every attempt."""
    return f"reply-{reply_id}@{mail_domain(mail_from)}"


def _bare(msg_id: str | None) -> str | None:
    """A Message-ID without brackets; None for nothing, or for text that is no id."""
    bare = (msg_id or "").strip().strip("<>").strip()
    usable = (
        bare.isascii() and bare.isprintable() and not any(c.isspace() or c in "<>" for c in bare)
    )
    return bare if bare and usable else None


def references(outgoing: Outgoing) -> list[str]:
    """The thread's ids, oldest first, ending with the one answered (RFC 5322 3.6.4);
    the thread's root stays first, even when it is the one answered."""
    ids: list[str] = []
    for msg_id in (*map(_bare, outgoing.references), _bare(outgoing.in_reply_to)):
        if msg_id is None or (ids and msg_id == ids[0]):
            continue
        if msg_id in ids:
            ids.remove(msg_id)
        ids.append(msg_id)
    return ids


def address_of(outgoing: Outgoing) -> str:
    """The recipient's address, in the ASCII the SMTP envelope needs (IDNA domain)."""
    value = str((outgoing.recipient or {}).get("value") or "").strip()
    if not value:
        raise PermanentError("rejected", "no e-mail address to send to")
    local, _, domain = value.partition("@")
    if not local or not domain or "@" in domain or any(c.isspace() or c < " " for c in value):
        raise PermanentError("rejected", f"{value!r} is not an e-mail address")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise PermanentError("rejected", f"{value!r} has a domain no DNS can hold") from None
    if not local.isascii():
        raise PermanentError(
            "rejected", f"{value!r}: Parley sends to ASCII addresses only (no SMTPUTF8)"
        )
    return f"{local}@{domain}"


def compose(outgoing: Outgoing, mail_from: str) -> EmailMessage:
    """The reply as a message; every header is derived from the reply, so a resend is
    the same message. No ``Auto-Submitted``: a person wrote it."""
    message = EmailMessage(policy=POLICY)
    message["Message-ID"] = f"<{message_id(outgoing.reply_id, mail_from)}>"
    message["Date"] = format_datetime(outgoing.queued_at)
    message["From"] = mail_from
    message["To"] = address_of(outgoing)
    # One line: a Subject from a customer's mail may carry folding or stray line breaks.
    message["Subject"] = " ".join((outgoing.subject or "").split()) or DEFAULT_SUBJECT
    if answered := _bare(outgoing.in_reply_to):
        message["In-Reply-To"] = f"<{answered}>"
    if thread := references(outgoing):
        message["References"] = " ".join(f"<{msg_id}>" for msg_id in thread)
    message["X-Parley-Reply-Id"] = outgoing.reply_id
    message.set_content(outgoing.body)  # utf-8; 7bit, quoted-printable or base64 as fits
    return message


def wire_bytes(message: EmailMessage) -> bytes:
    """What follows DATA: the message, dot-stuffed (RFC 5321 4.5.2), ending CRLF.CRLF."""
    data = re.sub(rb"(?m)^\.", b"..", message.as_bytes(policy=POLICY))
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


# ------------------------------------------------------------------------ the ledger
class Ledger:
    """The Message-IDs the SMTP server accepted (its 250 to the final "."), in the read
    store's database, in a table of its own (created on first use)."""

    def __init__(self, store: ReadStore | Callable[[], ReadStore]) -> None:
        self._store = store
        self._ready = False

    @property
    def store(self) -> ReadStore:
        """The read store, opened on first use (a worker's context opens it lazily)."""
        if not isinstance(self._store, ReadStore):
            self._store = self._store()
        return self._store

    def _ensure(self) -> None:
        if self._ready:
            return
        with self.store.transaction(lock_key=TABLE) as tx:  # one creator at a time
            tx.run(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (message_id TEXT NOT NULL PRIMARY KEY,"
                " reply_id TEXT NOT NULL, accepted_at TEXT NOT NULL)"
            )
        self._ready = True

    def record(self, message_id: str, reply_id: str) -> None:
        self._ensure()
        with self.store.transaction(lock_key=TABLE) as tx:
            tx.run(
                f"INSERT INTO {TABLE} (message_id, reply_id, accepted_at) VALUES (?, ?, ?)"
                " ON CONFLICT (message_id) DO NOTHING",
                [message_id, reply_id, timestamp(datetime.now(UTC))],
            )

    def accepted(self, message_id: str) -> bool:
        self._ensure()
        rows = self.store.query(f"SELECT 1 AS x FROM {TABLE} WHERE message_id = ?", [message_id])
        return bool(rows)


# ------------------------------------------------------------------------ SMTP
@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 25
    starttls: bool = False
    username: str = ""
    password: str = ""
    mail_from: str = "care@parley.localhost"
    timeout: float = 10.0
    tls_verify: bool = True

    def __post_init__(self) -> None:
        if not mail_domain(self.mail_from):
            raise ValueError(f"mail_from must be an e-mail address, not {self.mail_from!r}")

    @classmethod
    def of(cls, settings: Any) -> SmtpConfig:
        """From ``app.config.Settings`` (``PARLEY_SMTP_*``, ``PARLEY_MAIL_FROM``)."""
        return cls(
            host=settings.smtp_host, port=settings.smtp_port, starttls=settings.smtp_starttls,
            username=settings.smtp_username, password=settings.smtp_password,
            mail_from=settings.mail_from, timeout=settings.smtp_timeout_seconds,
            tls_verify=settings.smtp_tls_verify,
        )  # fmt: skip


class _Attempt:
    """Where the conversation with the server is: what a failure means depends on it."""

    step = "connect"  # then ehlo, starttls, login, mail, rcpt, data, message, reply, done


STEPS = {
    "connect": "the greeting", "ehlo": "EHLO", "starttls": "STARTTLS", "login": "AUTH",
    "mail": "MAIL FROM", "rcpt": "RCPT TO", "data": "DATA", "message": "the message",
    "reply": "the message",
}  # fmt: skip


def _refused(step: str, code: int, text: str) -> DeliveryError:
    """A reply code the server gave at ``step`` as the delivery job's error."""
    said, at = f"{code} {text}".strip(), STEPS.get(step, step)
    if 400 <= code < 500:
        return TransientError(f"the mail server answered {at} with {said}: try again later")
    if 500 <= code < 600:
        if step == "rcpt":
            return PermanentError(
                "recipient_refused", f"the mail server refused the address: {said}"
            )
        if step == "login":
            return PermanentError(
                "unauthorized", f"the mail server refused Parley's login ({said}): check"
                " PARLEY_SMTP_USERNAME and PARLEY_SMTP_PASSWORD",
            )  # fmt: skip
        return PermanentError("rejected", f"the mail server refused {at}: {said}")
    if step == "reply":
        return UncertainError(f"the mail server answered the message with {said!r}")
    return TransientError(f"the mail server answered {at} with {said!r}")


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


@contextmanager
def translated(attempt: _Attempt) -> Iterator[None]:
    """smtplib's and the socket's errors as the delivery job's, by the step they hit."""
    try:
        yield
    except DeliveryError:
        raise
    except smtplib.SMTPRecipientsRefused as error:  # sendmail's; kept for completeness
        code, text = next(iter(error.recipients.values()), (550, b""))
        raise _refused("rcpt", code, _text(text)) from error
    except smtplib.SMTPResponseException as error:  # connect, HELO, STARTTLS, AUTH, MAIL
        step = "login" if isinstance(error, smtplib.SMTPAuthenticationError) else attempt.step
        raise _refused(step, error.smtp_code, _text(error.smtp_error)) from error
    except smtplib.SMTPNotSupportedError as error:
        if attempt.step == "login":
            raise PermanentError(
                "unauthorized", "the mail server offers no AUTH (many offer it only after"
                " STARTTLS: PARLEY_SMTP_STARTTLS), or unset PARLEY_SMTP_USERNAME",
            ) from error  # fmt: skip
        raise PermanentError(
            "rejected", f"the mail server: {error} (check PARLEY_SMTP_STARTTLS)"
        ) from error
    except ssl.SSLCertVerificationError as error:
        raise PermanentError(
            "rejected", f"the mail server's TLS certificate did not verify: {error.verify_message}"
            " (check PARLEY_SMTP_HOST, or the server's certificate)",
        ) from error  # fmt: skip
    except UnicodeError as error:  # a non-ASCII username or password: smtplib sends ASCII
        failure = "unauthorized" if attempt.step == "login" else "rejected"
        raise PermanentError(failure, f"{STEPS[attempt.step]}: {error}") from error
    except OSError as error:  # smtplib's errors are OSErrors too; refused, DNS, timeouts
        raise _broken(attempt.step, error) from error


def _broken(step: str, error: OSError) -> DeliveryError:
    """A connection that failed at ``step``: before the final "." the server cannot have
    the message; while waiting for its answer to it, it may have queued it (RFC 1047)."""
    if step == "reply":
        return UncertainError(
            f"no answer from the mail server after the message was sent ({error}): it may"
            " have taken it"
        )
    unanswered = isinstance(error, smtplib.SMTPServerDisconnected)
    if step == "login" and isinstance(error, smtplib.SMTPException) and not unanswered:
        # "No suitable authentication method found": the server's AUTH and smtplib's differ
        return PermanentError("unauthorized", f"the mail server's AUTH: {error}")
    if isinstance(error, socket.gaierror):
        return TransientError(f"the mail server's name did not resolve: {error}")
    if isinstance(error, ConnectionRefusedError):
        return TransientError(f"the mail server refused the connection: {error}")
    return TransientError(
        f"the connection to the mail server failed at {STEPS.get(step, step)}: {error}"
    )


class EmailChannel:
    """Outbound on ``email``: one SMTP connection per reply."""

    def __init__(self, config: SmtpConfig, ledger: Ledger) -> None:
        self.config = config
        self.ledger = ledger

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.config.tls_verify:  # a test server's self-signed certificate
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def send(self, outgoing: Outgoing) -> str:
        message = compose(outgoing, self.config.mail_from)
        msg_id = message_id(outgoing.reply_id, self.config.mail_from)
        sender = parseaddr(self.config.mail_from)[1]
        recipient = address_of(outgoing)
        attempt = _Attempt()
        smtp: smtplib.SMTP | None = None
        try:
            with translated(attempt):
                smtp = smtplib.SMTP(self.config.host, self.config.port, timeout=self.config.timeout)
                self._transfer(smtp, attempt, sender, recipient, wire_bytes(message))
            # Accepted: written before anything else can fail, so a later attempt finds it.
            try:
                self.ledger.record(msg_id, outgoing.reply_id)
            except Exception:  # the mail went out: say so; only a crash-retry loses this
                log.exception("e-mail %s was accepted but could not be written down", msg_id)
        finally:
            if smtp is not None:
                _close(smtp, polite=attempt.step == "done")
        return msg_id

    def _transfer(
        self, smtp: smtplib.SMTP, attempt: _Attempt, sender: str, recipient: str, data: bytes
    ) -> None:
        """EHLO to the final ".": each step recorded in ``attempt`` before it runs."""
        attempt.step = "ehlo"
        smtp.ehlo_or_helo_if_needed()
        if self.config.starttls:
            attempt.step = "starttls"
            smtp.starttls(context=self._tls())
            attempt.step = "ehlo"
            smtp.ehlo_or_helo_if_needed()
        if self.config.username:
            attempt.step = "login"
            smtp.login(self.config.username, self.config.password)
        attempt.step = "mail"
        code, text = smtp.mail(sender)
        if code != 250:
            raise _refused("mail", code, _text(text))
        attempt.step = "rcpt"
        code, text = smtp.rcpt(recipient)
        if code not in (250, 251):
            raise _refused("rcpt", code, _text(text))
        attempt.step = "data"
        code, text = smtp.docmd("DATA")
        if code != 354:
            raise _refused("data", code, _text(text))
        attempt.step = "message"  # a break here leaves the server without the final "."
        smtp.send(data)
        attempt.step = "reply"
        code, text = smtp.getreply()
        if code != 250:
            raise _refused("reply", code, _text(text))
        attempt.step = "done"

    def find(
        self, outgoing: Outgoing, taken: Callable[[str], bool] = lambda _: False
    ) -> str | None:
        """The Message-ID if the server accepted this reply before (the ledger says so)."""
        msg_id = message_id(outgoing.reply_id, self.config.mail_from)
        try:
            accepted = self.ledger.accepted(msg_id)
        except Exception as error:  # the database: cannot tell, so never send blind
            raise UncertainError(f"could not read the e-mail ledger: {error}") from error
        return msg_id if accepted and not taken(msg_id) else None


def _close(smtp: smtplib.SMTP, *, polite: bool) -> None:
    """QUIT after a delivery (errors there change nothing); otherwise just hang up."""
    if polite:
        try:
            smtp.quit()
            return
        except (smtplib.SMTPException, OSError):
            pass
    smtp.close()
