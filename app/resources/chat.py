"""``/v1/chat/sessions``: a web chat widget's backend talking to Parley.

Each message carries the widget's session id as its thread: the first opens a case,
the rest join it. The widget fetches the case's chat replies (``GET``) and acknowledges
each one it showed (``POST /v1/conversations/{id}/replies/{reply_id}/receipt``); when
the visitor leaves (``/end``), replies go by e-mail if the customer has an address.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, fields, validate

from app.apidoc import Blueprint
from app.auth import current_principal, requires
from app.errors import RequestFieldError
from app.schemas.common import OutcomeSchema, StrictSchema, UTCDateTime, body_field
from app.schemas.conversations import EXTERNAL_ID, NAME, OpenedSchema
from app.state import application
from app.writes import execute
from domain import values as v
from domain.access import INGEST, READ

blp = Blueprint("chat", __name__, url_prefix="/v1/chat", description="Web chat sessions.")

SESSION_PATTERN = r"[A-Za-z0-9._:-]{1,128}"


def _session(session_id: str) -> str:
    if not re.fullmatch(SESSION_PATTERN, session_id):
        raise RequestFieldError(
            "session_id", "path", f"a session id matches {SESSION_PATTERN}: no such session", 404
        )
    return session_id


class ChatMessageSchema(StrictSchema):
    body = body_field()
    customer_name = fields.String(load_default=None, validate=NAME)
    email = fields.String(
        load_default=None,
        validate=[
            validate.Length(max=320),
            validate.Regexp(f"^(?:{v.IDENTITY_PATTERNS['email'][0]})$",
                            error=v.IDENTITY_PATTERNS["email"][1]),
        ],
        metadata={"description": "the visitor's address, if they gave one: replies go "
                  "there once they leave the chat"},
    )  # fmt: skip
    external_id = fields.String(
        load_default=None,
        validate=EXTERNAL_ID,
        metadata={"description": "the widget's message id: a repeat is a no-op"},
    )
    published_at = UTCDateTime(load_default=None)


class ChatReplySchema(Schema):
    id = fields.UUID()
    author = fields.String()
    kind = fields.String()
    body = fields.String()
    status = fields.String(metadata={"description": "queued (to show), delivered or failed"})
    queued_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)


class ChatSessionSchema(Schema):
    session_id = fields.String()
    conversation_id = fields.UUID()
    ended = fields.Boolean()
    replies = fields.List(
        fields.Nested(ChatReplySchema),
        metadata={"description": "the case's chat replies, oldest first"},
    )


class EndChatSchema(StrictSchema):
    reason = fields.String(load_default="customer_left", validate=validate.Length(min=1, max=100))


@blp.route("/sessions/<session_id>/messages", methods=["POST"])
@requires(INGEST)
@blp.arguments(ChatMessageSchema)
@blp.write(
    "recordChatMessage",
    201,
    OpenedSchema,
    description="recorded (`created`: a new case was opened for the session)",
    if_match=False,
    also={200: (OpenedSchema, "seen before (same external_id): nothing written")},
)
def chat_message(data: dict[str, Any], session_id: str) -> Any:
    """A visitor's chat message: the session's case, or a new one"""
    session = _session(session_id)
    return execute(
        lambda claim: application().receive_chat(
            session, actor=current_principal().actor, claim=claim, **data
        ),
        status=201,
        status_of=lambda o: 201 if o.extra.get("message_id") else 200,
    )


@blp.route("/sessions/<session_id>", methods=["GET"])
@requires(READ)
@blp.read("getChatSession", ChatSessionSchema)
def chat_session(session_id: str) -> Any:
    """The session's case and its chat replies (what the widget shows)"""
    conversation = application().chat_case(_session(session_id))
    replies = sorted(
        (r for r in conversation.replies.values() if r["channel"] == v.CHAT),
        key=lambda r: r["queued_at"],
    )
    return {
        "session_id": session_id,
        "conversation_id": conversation.id,
        "ended": conversation.chat_ended,
        "replies": replies,
    }


@blp.route("/sessions/<session_id>/end", methods=["POST"])
@requires(INGEST)
@blp.arguments(EndChatSchema)
@blp.write("endChat", 200, OutcomeSchema, if_match=False)
def end_chat(data: dict[str, Any], session_id: str) -> Any:
    """The visitor left: unseen chat replies fail (send them again by e-mail)"""
    session = _session(session_id)
    return execute(
        lambda claim: application().end_chat(
            session, actor=current_principal().actor, claim=claim, **data
        )
    )
