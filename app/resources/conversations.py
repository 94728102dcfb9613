"""``/v1/conversations``: open a case, read it (now or as of a moment), and act on it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from app.auth import current_principal, requires
from app.errors import ProblemSchema
from app.parsing import Blueprint
from app.schemas import conversations as s
from app.schemas.common import EventPageSchema, PageArgsSchema, to_identity
from app.schemas.events import describe_event
from app.state import application
from app.writes import execute, expected_version
from domain.access import HANDLE, OPEN, READ
from domain.application import IdempotencyClaim, Outcome

blp = Blueprint(
    "conversations",
    __name__,
    url_prefix="/v1/conversations",
    description="Customer cases across every channel.",
)

PROBLEMS = {404: "not found", 409: "conflict", 412: "precondition failed", 422: "invalid"}


def _document_problems(view: Any) -> Any:
    for code, description in PROBLEMS.items():
        view = blp.alt_response(code, schema=ProblemSchema, description=description)(view)
    return view


def _run(use_case: str, conversation_id: UUID, *, status: int = 200, **arguments: Any) -> Any:
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
    )


@blp.route("", methods=["POST"])
@requires(OPEN)
@blp.arguments(s.OpenConversationSchema)
@blp.response(201, s.OpenedSchema, description="opened (200 if this contact was seen before)")
@_document_problems
def open_conversation(data: dict[str, Any]) -> Any:
    """Open a conversation from a customer's first contact (API, web chat, phone, ...)"""
    identity = to_identity(data.pop("identity", None))

    def command(claim: IdempotencyClaim | None) -> Outcome:
        return application().open_conversation(
            identity=identity, actor=current_principal().actor, claim=claim, **data
        )

    return execute(
        command,
        status=201,
        status_of=lambda o: 201 if o.extra["created"] else 200,
        location=lambda o: f"/v1/conversations/{o.id}",
    )


@blp.route("/<uuid:conversation_id>", methods=["GET"])
@requires(READ)
@blp.arguments(s.ConversationQueryArgsSchema, location="query")
@blp.response(200, s.ConversationSchema, headers={"ETag": {"description": "the version"}})
@_document_problems
def get_conversation(args: dict[str, Any], conversation_id: UUID) -> Any:
    """A conversation's current state, or its state at `as_of`"""
    conversation = application().get_conversation(conversation_id, as_of=args.get("as_of"))
    return conversation, 200, {"ETag": f'"{conversation.version}"'}


@blp.route("/<uuid:conversation_id>/events", methods=["GET"])
@requires(READ)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, EventPageSchema)
@_document_problems
def conversation_events(args: dict[str, Any], conversation_id: UUID) -> Any:
    """The conversation's event history, oldest first; `after` is a version cursor"""
    events = application().conversation_events(conversation_id, args["after"], args["limit"])
    items = [describe_event(e) for e in events]
    more = len(items) == args["limit"]
    return {"items": items, "next_cursor": items[-1]["version"] if more else None}


@blp.route("/<uuid:conversation_id>/messages", methods=["POST"])
@requires(OPEN)
@blp.arguments(s.ReceiveMessageSchema)
@blp.response(201, s.MessageRecordedSchema, description="recorded (200 if seen before)")
@_document_problems
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
@blp.response(202, s.ReplyQueuedSchema, description="queued; delivery is recorded later")
@_document_problems
def queue_reply(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Queue an agent reply (acknowledgement, answer or follow_up) for delivery"""
    return _run("queue_reply", conversation_id, status=202, **data)


@blp.route("/<uuid:conversation_id>/channel-switches", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.SwitchChannelSchema)
@blp.response(200, s.OutcomeSchema)
@_document_problems
def switch_channel(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Move the case to another channel (DM, e-mail, phone), adding an identity if needed"""
    identity = to_identity(data.pop("identity"))
    return execute(
        lambda claim: application().switch_channel(
            conversation_id,
            identity=identity,
            actor=current_principal().actor,
            expected_version=expected_version(),
            claim=claim,
            **data,
        )
    )


@blp.route("/<uuid:conversation_id>/assignment", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.AssignmentSchema)
@blp.response(200, s.OutcomeSchema)
@_document_problems
def assign(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Assign or unassign an agent and/or a team (`null` unassigns, absent leaves it)"""
    return _run("assign", conversation_id, **data)


@blp.route("/<uuid:conversation_id>/notes", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.AddNoteSchema)
@blp.response(201, s.NoteAddedSchema)
@_document_problems
def add_note(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Add a private note, visible to agents only"""
    return _run("add_note", conversation_id, status=201, **data)


@blp.route("/<uuid:conversation_id>/tags", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.TagsSchema)
@blp.response(200, s.OutcomeSchema)
@_document_problems
def change_tags(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Add and remove tags"""
    return _run("change_tags", conversation_id, **data)


@blp.route("/<uuid:conversation_id>/priority", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.PrioritySchema)
@blp.response(200, s.OutcomeSchema)
@_document_problems
def change_priority(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Set the priority"""
    return _run("change_priority", conversation_id, **data)


@blp.route("/<uuid:conversation_id>/snooze", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.SnoozeSchema)
@blp.response(200, s.OutcomeSchema)
@_document_problems
def snooze(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Snooze until a moment (a customer message wakes it); `until: null` wakes it now"""
    return _run("snooze", conversation_id, **data)


@blp.route("/<uuid:conversation_id>/resolve", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.ResolveSchema)
@blp.response(200, s.OutcomeSchema)
@_document_problems
def resolve(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Resolve the conversation with a resolution code"""
    return _run("resolve", conversation_id, **data)


@blp.route("/<uuid:conversation_id>/reopen", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.ReopenSchema)
@blp.response(200, s.OutcomeSchema)
@_document_problems
def reopen(data: dict[str, Any], conversation_id: UUID) -> Any:
    """Reopen a resolved conversation"""
    return _run("reopen", conversation_id, **data)
