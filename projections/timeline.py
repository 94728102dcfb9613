"""A case's story for an auditor: each event as a line (when, who, on which channel,
what), with the SLA clock as it stood right after it (``parley audit replay``).

Replayed from the case's own events, version by version: the clock at each step is what
the conversation said then, not what a read model says now.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.sla_clock import SlaClock
from projections.base import preview


@dataclass(frozen=True)
class Step:
    version: int
    at: datetime
    actor: str
    kind: str
    channel: str
    what: str
    clock: str  # awaiting what, since when, due when (as of this step)


def _what(event: Any) -> str:
    kind = type(event).__name__
    say = {
        "Opened": lambda e: f"opened: {preview(e.body, 80)}",
        "MessageReceived": lambda e: f"customer wrote: {preview(e.body, 80)}",
        "ReplyQueued": lambda e: f"{e.kind} queued: {preview(e.body, 80)}",
        "ReplyDispatched": lambda e: f"delivery attempt {e.attempt}",
        "ReplyDelivered": lambda e: (
            f"delivered as {e.external_id}" + (" (found)" if e.found else "")
        ),
        "ReplyDeliveryFailed": lambda e: f"delivery failed ({e.code}): {preview(e.reason, 60)}",
        "ReplyBounced": lambda e: f"bounced: {preview(e.reason, 60)}",
        "RedeliveryRequested": lambda e: "retry requested",
        "ChannelSwitched": lambda e: (
            f"moved {e.from_channel} -> {e.to_channel}" + (f" ({e.reason})" if e.reason else "")
        ),
        "Assigned": lambda e: (
            "assigned "
            + ", ".join(
                x for x in (e.agent and f"agent {e.agent}", e.team and f"team {e.team}") if x
            )
        ),
        "Unassigned": lambda e: "unassigned",
        "NoteAdded": lambda e: "private note added",
        "Tagged": lambda e: f"tagged {e.tag}",
        "Untagged": lambda e: f"untagged {e.tag}",
        "PriorityChanged": lambda e: f"priority {e.priority}",
        "Snoozed": lambda e: f"snoozed until {e.until.isoformat()}",
        "Unsnoozed": lambda e: "woken",
        "Resolved": lambda e: f"resolved ({e.resolution})",
        "Reopened": lambda e: f"reopened ({e.reason})",
        "CallLogged": lambda e: (
            f"{e.direction} call, {e.duration_seconds // 60} min: " + preview(e.summary, 60)
        ),
        "AutomatedMessageReceived": lambda e: f"{e.kind.replace('_', ' ')} received",
        "ChatEnded": lambda e: "the visitor left the chat",
        "MessageClassified": lambda e: (
            f"classified {e.label} ("
            + (f"rule {e.rule}" if e.rule else "default")
            + f", care policy v{e.policy_version})"
        ),
        "Routed": lambda e: f"routed by rule {e.rule} (care policy v{e.policy_version})",
        "DmReachRecorded": _dm_reach,
    }.get(kind)
    return say(event) if say is not None else kind


def _dm_reach(event: Any) -> str:
    known = {True: "a DM reaches the customer", False: "a DM does not reach the customer"}
    said = known.get(event.receives_dms, "a DM needs the customer to follow the brand")
    return f"{said} (from {event.source})"


def _clock(conversation: Any, sla: SlaClock, at: datetime) -> str:
    """Awaiting what since when, and when a response is due by the case's SLA clock."""
    awaiting = conversation.awaiting
    if awaiting == "nothing":
        return f"{conversation.status}; awaiting nothing"
    due = sla.response_due()
    since = conversation.waiting_since
    text = f"awaiting {awaiting} since {since:%H:%M:%S}" if since else f"awaiting {awaiting}"
    if due is not None:
        left = (due - at).total_seconds()
        text += f", due in {_span(left)}" if left >= 0 else f", overdue by {_span(-left)}"
    return text


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def timeline(app: Any, conversation_id: Any) -> Iterator[Step]:
    """The case's events in order, each with the clock right after it."""
    events = list(app.events.get(conversation_id))
    if not events:
        from domain.exceptions import ConversationNotFoundError

        raise ConversationNotFoundError(f"no conversation {conversation_id}")
    sla = SlaClock()
    for event in events:
        sla.observe(event)
        state = app.get_conversation_at_version(conversation_id, event.originator_version)
        channel = getattr(event, "channel", None) or state.current_channel
        yield Step(
            event.originator_version, event.timestamp, getattr(event, "actor", "") or "",
            type(event).__name__, channel, _what(event), _clock(state, sla, event.timestamp),
        )  # fmt: skip
