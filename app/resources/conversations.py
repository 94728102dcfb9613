"""``/v1/conversations``: open a case, read it (now or as of a moment), and act on it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import current_app, request

from app.apidoc import CONVERSATION_LINKS, Blueprint
from app.auth import current_principal, may_read_notes, requires
from app.schemas import conversations as s
from app.schemas import sla
from app.schemas.common import EventPageSchema, PageArgsSchema, to_identity
from app.schemas.events import describe_event
from app.state import application
from app.writes import execute, expected_version
from domain.access import HANDLE, INGEST, MANAGE_IDENTITIES, MANAGE_SLA, OPEN, READ, may
from domain.exceptions import NotFoundError, UnknownReplyError
from domain.idempotency import Claim
from domain.outcome import Outcome

blp = Blueprint(
    "conversations",
    __name__,
    url_prefix="/v1/conversations",
    description="Customer cases across every channel.",
)


def _run(
    use_case: str,
    conversation_id: UUID,
    *,
    status: int = 200,
    fields: dict[str, str] | None = None,
    **arguments: Any,
) -> Any:
    """Run an application use case on a conversation under If-Match and Idempotency-Key."""
    run = getattr(application(), use_case)
    return execute(
        lambda claim: run(
            conversation_id,
            actor=current_principal().actor,
            expected_version=expected_version(),
            claim=claim,
            **arguments,
        ),
        status=status,
        fields=fields,
    )


@blp.route("", methods=["POST"])
@requires(OPEN)
@blp.arguments(s.OpenConversationSchema)
@blp.write(
    "openConversation",
    201,
    s.OpenedSchema,
    description="opened",
    if_match=False,
    location=True,
    follow=CONVERSATION_LINKS,
    also={
        200: (
            s.OpenedSchema,
            "this contact (its external_id) was recorded before: nothing "
            "was written, `created` is false",
        )
    },
)
def open_conversation(data: dict[str, Any]) -> Any:
    """Open a conversation from a customer's first contact (API, web chat, phone, ...)"""
    identity = to_identity(data.pop("identity", None))
    principal = current_principal()

    def command(claim: Claim | None) -> Outcome:
        return application().open_conversation(
            identity=identity,
            actor=principal.actor,
            may_add_identity=may(principal.role, MANAGE_IDENTITIES),
            claim=claim,
            **data,
        )

    return execute(
        command,
        status=201,
        status_of=lambda o: 201 if o.extra["created"] else 200,
        location=lambda id_: f"/v1/conversations/{id_}",
    )


@blp.route("/<uuid:conversation_id>", methods=["GET"])
@requires(READ)
@blp.arguments(s.ConversationQueryArgsSchema, location="query")
@blp.read("getConversation", s.ConversationSchema, headers=("ETag",))
def get_conversation(args: dict[str, Any], conversation_id: UUID) -> Any:
    """A conversation's current state, or its state at `as_of`"""
    conversation = application().get_conversation(conversation_id, as_of=args.get("as_of"))
    return conversation, 200, {"ETag": f'"{conversation.version}"'}


@blp.route("/<uuid:conversation_id>/events", methods=["GET"])
@requires(READ)
@blp.arguments(PageArgsSchema, location="query")
@blp.read("listConversationEvents", EventPageSchema)
def conversation_events(args: dict[str, Any], conversation_id: UUID) -> Any:
    """The conversation's event history, oldest first; `after` is a version cursor"""
    events = application().conversation_events(conversation_id, args["after"], args["limit"])
    items = [describe_event(e, private=may_read_notes()) for e in events]
    more = len(items) == args["limit"]
    return {"items": items, "next_cursor": items[-1]["version"] if more else None}


@blp.route("/<uuid:conversation_id>/messages", methods=["POST"])
@requires(OPEN)
@blp.arguments(s.ReceiveMessageSchema)
@blp.write(
    "recordMessage",
    201,
    s.MessageRecordedSchema,
    description="recorded",
    also={200: (s.MessageRecordedSchema, "seen before (same external_id): nothing written")},
)
def receive_message(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Record an inbound customer message (a resolved conversation reopens)"""
    return execute(
        lambda claim: application().receive_message(
            conversation_id,
            actor=current_principal().actor,
            expected_version=expected_version(),
            claim=claim,
            **data,
        ),
        status=201,
        status_of=lambda o: 201 if o.extra["created"] else 200,
    )


@blp.route("/<uuid:conversation_id>/replies", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.QueueReplySchema)
@blp.write("queueReply", 202, s.ReplyQueuedSchema, description="queued; delivery is recorded later")
def queue_reply(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Queue an agent reply (acknowledgement, answer or follow_up) for delivery

    The text is `body`, or a canned response (`canned_response_id`) rendered for the
    case: `$customer_name`, `$case_link` and `$incident_links` are filled in, its other
    variables come from `variables`; one it uses that is not given, or one given that it
    does not use, is 422 naming `variables.<name>`.
    """
    if "canned_response_id" not in data:
        return _run("queue_reply", conversation_id, status=202, **data)
    return _run(
        "queue_canned_reply",
        conversation_id,
        status=202,
        case_link=case_link(conversation_id),
        **{"variables": {}, **data},
    )


def case_link(conversation_id: UUID) -> str:
    """A case's link, as canned responses give it (``PARLEY_CASE_LINK``, ``{id}`` the
    case's id; else the API's own URL of the case)."""
    settings = current_app.config["PARLEY_SETTINGS"]
    base = (settings.public_url or request.host_url).rstrip("/")
    template = settings.case_link or f"{base}/v1/conversations/{{id}}"
    return str(template).replace("{id}", str(conversation_id))


@blp.route("/<uuid:conversation_id>/channel-switches", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.SwitchChannelSchema)
@blp.write("switchChannel", 200, s.OutcomeSchema)
def switch_channel(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Move the case to another channel (DM, e-mail, phone), adding an identity if needed"""
    identity = to_identity(data.pop("identity"))
    principal = current_principal()
    return execute(
        lambda claim: application().switch_channel(
            conversation_id,
            identity=identity,
            may_add_identity=may(principal.role, MANAGE_IDENTITIES),
            actor=principal.actor,
            expected_version=expected_version(),
            claim=claim,
            **data,
        )
    )


@blp.route("/<uuid:conversation_id>/assignment", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.AssignmentSchema)
@blp.write("assignConversation", 200, s.OutcomeSchema)
def assign(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Assign or unassign an agent and/or a team (`null` unassigns, absent leaves it)"""
    return _run("assign", conversation_id, **data)


@blp.route("/<uuid:conversation_id>/notes", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.AddNoteSchema)
@blp.write("addNote", 201, s.NoteAddedSchema)
def add_note(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Add a private note: only agents and supervisors read its body"""
    return _run("add_note", conversation_id, status=201, **data)


@blp.route("/<uuid:conversation_id>/tags", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.TagsSchema)
@blp.write("changeTags", 200, s.OutcomeSchema)
def change_tags(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Add and remove tags"""
    return _run("change_tags", conversation_id, fields={"tags": "add"}, **data)


@blp.route("/<uuid:conversation_id>/priority", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.PrioritySchema)
@blp.write("setPriority", 200, s.OutcomeSchema)
def change_priority(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Set the priority"""
    return _run("change_priority", conversation_id, **data)


@blp.route("/<uuid:conversation_id>/snooze", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.SnoozeSchema)
@blp.write("snoozeConversation", 200, s.OutcomeSchema)
def snooze(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Snooze until a moment (a customer message wakes it); `until: null` wakes it now"""
    return _run("snooze", conversation_id, **data)


@blp.route("/<uuid:conversation_id>/resolve", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.ResolveSchema)
@blp.write("resolveConversation", 200, s.OutcomeSchema)
def resolve(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Resolve the conversation with a resolution code"""
    return _run("resolve", conversation_id, **data)


@blp.route("/<uuid:conversation_id>/reopen", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.ReopenSchema)
@blp.write("reopenConversation", 200, s.OutcomeSchema)
def reopen(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Reopen a resolved conversation"""
    return _run("reopen", conversation_id, **data)


@blp.route("/<uuid:conversation_id>/calls", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.LogCallSchema)
@blp.write("logCall", 201, s.CallLoggedSchema, description="logged")
def log_call(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Log a phone call (outbound answers the customer; inbound reopens a resolved case)"""
    return _run("log_call", conversation_id, status=201, **data)


@blp.route("/<uuid:conversation_id>/sla", methods=["POST"])
@requires(MANAGE_SLA)
@blp.arguments(sla.ReapplySlaSchema)
@blp.write("reapplySla", 200, s.OutcomeSchema)
def reapply_sla(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Apply an SLA policy to the case again (supervisors)

    `policy_id` (and `version`, default its latest; `default` is the built-in policy)
    names the policy; without them the rules choose, for the case as it is now (its
    priority, tags and team). The case is promised the policy's terms from now on: time
    already counted stays counted. The new pin (`sla.policy` on the conversation) has
    reason `reapplied`.
    """
    return _run("reapply_sla", conversation_id, fields={"policy": "policy_id"}, **data)


@blp.route("/<uuid:conversation_id>/replies/<uuid:reply_id>/receipt", methods=["POST"])
@requires(INGEST)
@blp.write("recordReceipt", 200, s.ReceiptSchema)
def record_receipt(conversation_id: UUID, reply_id: UUID) -> Any:
    """A chat widget or API integration showed this reply to the customer (chat, api only)"""
    try:
        return _run("record_receipt", conversation_id, reply_id=reply_id)
    except UnknownReplyError as error:  # in the path: no such resource
        raise NotFoundError(str(error), field="reply_id") from error
