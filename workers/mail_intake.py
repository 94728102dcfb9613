"""One inbound e-mail, recorded: the path the webhook and the Maildir poller share.

A raw message is parsed (:mod:`workers.email_inbound`) and then, by what it is: a bounce
of one of our replies marks that reply failed; an auto-reply is kept on the case it
answers; anything else is a customer's message, threaded to its case or opening one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import values as v
from domain.application import Conversations
from domain.exceptions import DomainError
from domain.inbound import Contact, check_published_at
from domain.values import identity_key
from workers.email_inbound import ParsedMail, mail_contact, parse_mail

RESULTS = ("recorded", "seen", "automated", "bounce", "ignored")


@dataclass(frozen=True)
class MailOutcome:
    result: str  # one of RESULTS
    message_id: str
    conversation_id: UUID | None = None
    reply_id: UUID | None = None
    created: bool = False  # a new case was opened

    def as_dict(self) -> dict[str, Any]:
        return {
            "result": self.result, "message_id": self.message_id,
            "conversation_id": self.conversation_id, "reply_id": self.reply_id,
            "created": self.created,
        }  # fmt: skip


def record_mail(app: Conversations, raw: bytes, actor: str) -> MailOutcome:
    """Record one raw message; raises ``MailError`` for one that cannot be (naming the
    field), ``VersionConflictError`` when it lost races after retrying (deliver again)."""
    mail = parse_mail(raw)
    return _record(app, mail, mail_contact(mail, actor))


def _record(app: Conversations, mail: ParsedMail, contact: Contact) -> MailOutcome:
    if _ours(app, mail):  # our own reply come back (a Bcc, an alias, a forward to us)
        return MailOutcome("ignored", mail.message_id)
    if mail.automated == "bounce" and mail.bounce is not None and mail.bounce.permanent:
        original = mail.bounce.original_message_id
        reason = mail.bounce.diagnostic or f"the mail bounced ({mail.bounce.status or 'no status'})"
        bounced = original and app.record_bounce(
            message_id=original, reason=reason[:500], status=mail.bounce.status,
            bounce_id=mail.message_id, actor=contact.actor, recipient=mail.bounce.recipient,
        )  # fmt: skip
        if bounced:
            return MailOutcome("bounce", mail.message_id, bounced.id, bounced.extra["reply_id"])
    if mail.automated is not None:
        kept = app.receive_automated(contact, mail.automated)
        if kept is None:
            return MailOutcome("ignored", mail.message_id)
        return MailOutcome("automated", mail.message_id, kept.id)
    outcome = app.receive_contact(trusted_date(contact, app.clock()))
    created = outcome.extra.get("created") is True
    return MailOutcome(
        "recorded" if created else "seen", mail.message_id, outcome.id,
        created=created and "customer_id" in outcome.extra,  # a new case, not a message
    )  # fmt: skip


def _ours(app: Conversations, mail: ParsedMail) -> bool:
    """A mail Parley sent (its Message-ID is a delivered reply's) or the brand's address
    sent: recording it would open a case whose customer is the brand."""
    brand = app.accounts.get(v.EMAIL)
    from_brand = brand is not None and identity_key(v.IDENTITY_EMAIL, mail.sender) == (
        identity_key(v.IDENTITY_EMAIL, brand)
    )
    return from_brand or app.delivered_as(v.EMAIL, mail.message_id) is not None


def trusted_date(contact: Contact, now: datetime) -> Contact:
    """A mail's Date is the sender's clock: one outside the window new messages are held
    to (a wrong clock, a mail stuck for weeks) gives way to the moment it arrived."""
    try:
        check_published_at(contact.published_at, now)
    except DomainError:
        return replace(contact, published_at=None)
    return contact
