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
from workers.email_inbound import MailError
from workers.mail_intake import RESULTS, record_mail
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
            # Its kind only: a refusal's message can quote the sender's identity.
            current_app.logger.warning(
                "X webhook %s refused: %s (%s)", contact.external_id, type(error).__name__,
                error.field or "-",
            )  # fmt: skip
            counts["ignored"] += 1
            continue
        counts["recorded" if outcome.extra.get("created") else "seen"] += 1
    return counts


def _events(payload: dict[str, Any]) -> int:
    return sum(len(payload.get(k) or []) for k in ("tweet_create_events", "direct_message_events"))


class MailReceivedSchema(Schema):
    result = fields.String(
        metadata={
            "enum": list(RESULTS),
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
        return record_mail(application(), raw, current_principal().actor).as_dict()
    except MailError as error:
        raise RequestFieldError(error.field, "body", str(error)) from error
    except VersionConflictError:
        return problem(
            503, "Service Unavailable", "busy recording; deliver again",
            headers={"Retry-After": "1"},
        )  # fmt: skip
