"""Channels pushing: ``/webhooks/x`` (X's Account Activity API) and ``/webhooks/email``.

E-mail: a raw RFC 5322 message, posted by the mail server's pipe or an inbound-mail
service with an integration token, is threaded to its case, recorded once per
Message-ID; auto-replies are kept without reopening anything, and a bounce of one of
our replies marks that reply failed.

X: its Account Activity API pushes tweets and DMs as they happen.

``GET`` answers X's CRC challenge; ``POST`` takes a signed delivery. The signature
(``x-twitter-webhooks-signature``: base64 of HMAC-SHA256 of the raw body, keyed by the
app's consumer secret) is checked over the bytes received before anything is parsed:
a missing or wrong one is 401 and nothing is recorded. A tweet or DM that polling
recorded too (or X delivered twice) is recorded once: its id is its key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace
from datetime import datetime
from typing import Any

from flask import current_app, request
from marshmallow import Schema, fields, validate

from app.apidoc import Blueprint
from app.auth import current_principal, requires
from app.errors import RequestFieldError, problem
from app.parsing import decode_json
from app.state import application
from domain.access import INGEST
from domain.exceptions import DomainError, VersionConflictError
from domain.inbound import Contact, check_published_at
from workers.email_inbound import MailError, ParsedMail, mail_contact, parse_mail
from workers.x_inbound import webhook_contacts

blp = Blueprint("webhooks", __name__, url_prefix="/webhooks", description="Channels pushing.")

SIGNATURE = "x-twitter-webhooks-signature"


def signature(secret: str, payload: bytes) -> str:
    digest = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


class CrcArgsSchema(Schema):
    crc_token = fields.String(required=True, validate=validate.Length(min=1, max=500))


class CrcSchema(Schema):
    response_token = fields.String(metadata={"description": "sha256=<base64 HMAC>"})


class ActivityReceivedSchema(Schema):
    recorded = fields.Integer(metadata={"description": "tweets and DMs new to Parley"})
    seen = fields.Integer(metadata={"description": "ones recorded before (a repeat)"})
    ignored = fields.Integer(metadata={"description": "the brand's own, or refused"})


def _secret() -> str:
    settings = current_app.config["PARLEY_SETTINGS"]
    if not settings.x_configured():
        raise RequestFieldError("x", "path", "X is not configured on this server", 404)
    return str(settings.x_consumer_secret)


@blp.route("/x", methods=["GET"])
@blp.arguments(CrcArgsSchema, location="query")
@blp.operation("answerXChallenge", security=[])
@blp.response(200, CrcSchema)
@blp.problems(404, 422)
def x_challenge(args: dict[str, Any]) -> Any:
    """X's CRC check: the token, signed with the app's consumer secret"""
    return {"response_token": signature(_secret(), args["crc_token"].encode())}


@blp.route("/x", methods=["POST"])
@blp.operation(
    "receiveXActivity",
    security=[],
    parameters=[
        {
            "name": SIGNATURE,
            "in": "header",
            "required": True,
            "description": "sha256=<base64 of HMAC-SHA256 of the raw body, keyed by the "
            "consumer secret>",
            "schema": {"type": "string", "pattern": "^sha256=[A-Za-z0-9+/=]+$"},
        }
    ],
    requestBody={
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
        "description": "an Account Activity delivery (tweet_create_events, "
        "direct_message_events, in X's v1.1 shapes); other kinds are acknowledged",
    },
)
@blp.response(200, ActivityReceivedSchema)
@blp.problems(400, 401, 404, 413, 415, 503)
def x_activity() -> Any:
    """A signed Account Activity delivery: tweets and DMs, recorded once each"""
    given = request.headers.get(SIGNATURE, "")
    if not given:
        return problem(
            401, "Unauthorized", f"a delivery must be signed in the {SIGNATURE} header",
            headers={"WWW-Authenticate": 'HMAC realm="x-webhooks"'},
        )  # fmt: skip
    secret = _secret()
    raw = request.get_data(cache=True)
    if not hmac.compare_digest(given.encode(), signature(secret, raw).encode()):
        return problem(
            401, "Unauthorized", f"the {SIGNATURE} header does not sign this body",
            headers={"WWW-Authenticate": 'HMAC realm="x-webhooks"'},
        )  # fmt: skip
    payload = decode_json(raw) if raw.strip() else {}
    if not isinstance(payload, dict):
        return problem(400, "Bad Request", "an Account Activity delivery is a JSON object")
    settings = current_app.config["PARLEY_SETTINGS"]
    counts = {"recorded": 0, "seen": 0, "ignored": 0}
    contacts = webhook_contacts(payload, settings.x_brand_user_id)
    counts["ignored"] = _events(payload) - len(contacts)
    for contact in contacts:
        try:
            outcome = application().receive_contact(contact)
        except VersionConflictError:
            # Still losing races after retrying: let X deliver again (it retries on 5xx);
            # what was recorded is recorded once however often it comes.
            return problem(
                503, "Service Unavailable", "busy recording; deliver again",
                headers={"Retry-After": "1"},
            )  # fmt: skip
        except DomainError as error:  # e.g. a delivery older than the window: drop it
            current_app.logger.warning("X webhook %s refused: %s", contact.external_id, error)
            counts["ignored"] += 1
            continue
        counts["recorded" if outcome.extra.get("created") else "seen"] += 1
    return counts


def _events(payload: dict[str, Any]) -> int:
    return sum(len(payload.get(k) or []) for k in ("tweet_create_events", "direct_message_events"))


MAIL_RESULTS = ("recorded", "seen", "automated", "bounce", "ignored")


class MailReceivedSchema(Schema):
    result = fields.String(
        metadata={
            "enum": list(MAIL_RESULTS),
            "description": "recorded: a new message on its case; seen: this Message-ID was "
            "recorded before; automated: an auto-reply kept on its case (it reopens nothing); "
            "bounce: one of our replies is marked failed; ignored: an auto-reply or bounce "
            "answering nothing Parley sent or holds",
        }
    )
    message_id = fields.String(metadata={"description": "the mail's Message-ID (or derived)"})
    conversation_id = fields.UUID(allow_none=True)
    reply_id = fields.UUID(allow_none=True, metadata={"description": "the bounced reply"})
    created = fields.Boolean(metadata={"description": "a new case was opened"})


def _mail_view(view: Any) -> Any:
    view.accepts_media_types = ("message/rfc822",)
    view.max_body_setting = "mail_max_bytes"
    return view


@blp.route("/email", methods=["POST"])
@requires(INGEST)
@blp.operation(
    "receiveEmail",
    requestBody={
        "required": True,
        "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
        "description": "one raw RFC 5322 message, as the mail server received it",
    },
)
@blp.response(200, MailReceivedSchema)
@blp.problems(401, 403, 413, 415, 422, 503)
@_mail_view
def receive_email() -> Any:
    """An inbound e-mail: threaded to its case by In-Reply-To/References, once per Message-ID"""
    raw = request.get_data(cache=True)
    try:
        mail = parse_mail(raw)
        contact = mail_contact(mail, current_principal().actor)
    except MailError as error:
        raise RequestFieldError(error.field, "body", str(error)) from error
    try:
        return _record_mail(mail, contact)
    except VersionConflictError:
        return problem(
            503, "Service Unavailable", "busy recording; deliver again",
            headers={"Retry-After": "1"},
        )  # fmt: skip


def _record_mail(mail: ParsedMail, contact: Contact) -> dict[str, Any]:
    app = application()
    answer: dict[str, Any] = {"message_id": mail.message_id, "conversation_id": None,
                              "reply_id": None, "created": False}  # fmt: skip
    if mail.automated == "bounce" and mail.bounce is not None and mail.bounce.permanent:
        original = mail.bounce.original_message_id
        reason = mail.bounce.diagnostic or f"the mail bounced ({mail.bounce.status or 'no status'})"
        bounced = original and app.record_bounce(
            message_id=original, reason=reason[:500], status=mail.bounce.status,
            bounce_id=mail.message_id, actor=contact.actor,
        )  # fmt: skip
        if bounced:
            return answer | {"result": "bounce", "conversation_id": bounced.id,
                             "reply_id": bounced.extra["reply_id"]}  # fmt: skip
    if mail.automated is not None:
        kept = app.receive_automated(contact, mail.automated)
        if kept is None:
            return answer | {"result": "ignored"}
        return answer | {"result": "automated", "conversation_id": kept.id}
    outcome = app.receive_contact(_trusted_date(contact, app.clock()))
    created = outcome.extra.get("created") is True
    return answer | {
        "result": "recorded" if created else "seen",
        "conversation_id": outcome.id,
        "created": created and "customer_id" in outcome.extra,  # a new case, not a message
    }


def _trusted_date(contact: Contact, now: datetime) -> Contact:
    """A mail's Date is the sender's clock: one outside the window new messages are held
    to (a wrong clock, a mail stuck for weeks) gives way to the moment it arrived."""
    try:
        check_published_at(contact.published_at, now)
    except DomainError:
        return replace(contact, published_at=None)
    return contact
