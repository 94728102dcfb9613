"""Tell a policy's supervisors of a breach: one e-mail each, through the outbox.

The outbox, following the log, enqueues :func:`notify_sla_breach` for every
``Conversation.SlaBreached``; the job reads the breach and the policy version it broke
(the case's own events, and the policy's), and mails each address in the policy's
``notify`` over the e-mail channel. The Message-ID is made from the breach and the
address, and the e-mail ledger keeps those the server accepted, so a job run twice
(a crash, the outbox re-enqueueing after a Redis loss) mails no one twice.

A supervisor's alert is no reply to a customer: it writes nothing to the event log.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from uuid import UUID

from domain.conversation import Conversation
from domain.sla_terms import DEFAULT_POLICY_ID
from workers import context
from workers.channels.base import Outgoing

log = logging.getLogger(__name__)

METRIC_NAMES = {
    "first_response": "first response",
    "next_response": "next response",
    "resolution": "resolution",
}


def alert_id(conversation_id: str, metric: str, seq: int, address: str) -> str:
    """The alert's stable id (its Message-ID is made from it): one per breach and address."""
    digest = hashlib.sha256(f"{conversation_id}/{metric}/{seq}/{address.lower()}".encode())
    return f"sla-{digest.hexdigest()[:32]}"


def alert_text(conversation: Conversation, breach: dict[str, object], policy: str) -> str:
    metric = METRIC_NAMES.get(str(breach["metric"]), str(breach["metric"]))
    return (
        f"The {metric} target of case {conversation.id} was missed.\n\n"
        f"Deadline:  {_when(breach['deadline'])}\n"
        f"Detected:  {_when(breach['detected_at'])}\n"
        f"Policy:    {policy}\n"
        f"Channel:   {conversation.current_channel} (began on {conversation.origin_channel})\n"
        f"Priority:  {conversation.priority}\n"
        f"Assignee:  {conversation.assignee or '-'}  Team: {conversation.team or '-'}\n"
    )


def _when(value: object) -> str:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else str(value)


def notify_sla_breach(conversation_id: str, metric: str, seq: int) -> str:
    """Mail the breach to the supervisors its policy names; what was done."""
    ctx = context.current()
    app = ctx.application
    conversation = app.get_conversation(UUID(conversation_id))
    breach = next(
        (b for b in conversation.sla_breaches if (b["metric"], b["seq"]) == (metric, seq)),
        None,
    )
    if breach is None:
        return f"no breach {metric} #{seq} on {conversation_id}"
    pinned = conversation.sla_policy_or_default
    if pinned["id"] == DEFAULT_POLICY_ID:
        return "the built-in policy notifies no one"
    _, spec = app.sla_policy_spec(pinned["id"], pinned["version"])
    if not spec.notify:
        return f"policy {spec.name!r} notifies no one"
    channel = ctx.channels.get("email")
    if channel is None:
        log.warning(
            "SLA breach on %s: e-mail is not configured, no supervisor told", conversation_id
        )
        return "e-mail is not configured (PARLEY_SMTP_HOST)"
    policy = f"{spec.name} (version {pinned['version']})"
    sent = 0
    for address in spec.notify:
        outgoing = Outgoing(
            reply_id=alert_id(conversation_id, metric, seq, address), channel="email",
            body=alert_text(conversation, breach, policy), in_reply_to=None,
            recipient={"kind": "email", "value": address, "handle": None}, from_account=None,
            queued_at=breach["detected_at"],
            subject=f"SLA breach: {METRIC_NAMES.get(metric, metric)} on case {conversation_id}",
        )  # fmt: skip
        if channel.find(outgoing, lambda _: False) is not None:
            continue  # accepted on an earlier run
        channel.send(outgoing)
        sent += 1
    return f"told {sent} of {len(spec.notify)} supervisor(s)"
