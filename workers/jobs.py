"""RQ jobs: verb phrases taking ids, reloading what they need, safe to run twice."""

from __future__ import annotations

from uuid import UUID

import tweepy

from workers import context
from workers.channels.base import DeliveryError
from workers.delivery import Delivery


def deliver_reply(conversation_id: str, reply_id: str) -> str:
    """Deliver one reply (or find that it was delivered); the outcome is in the log."""
    ctx = context.current()
    result = Delivery(
        ctx.application,
        ctx.channels,
        ctx.redis,
        attempt_seconds=ctx.settings.delivery_attempt_seconds,
    ).run(UUID(conversation_id), UUID(reply_id))
    return f"{result.outcome} {result.detail}".strip()


def deliver_incident_update(incident_id: str, update_id: str) -> str:
    """Post an incident's general update once (or find it posted); the outcome is in the log."""
    from workers.incident_updates import UpdateDelivery

    ctx = context.current()
    result = UpdateDelivery(
        ctx.application,
        ctx.channels,
        ctx.redis,
        attempt_seconds=ctx.settings.delivery_attempt_seconds,
    ).run(UUID(incident_id), UUID(update_id))
    return f"{result.outcome} {result.detail}".strip()


def check_dm_reach(conversation_id: str) -> str:
    """Ask X whether the brand's DM reaches the customer of a case that moved to DM, and
    record the answer on the case (the agent sees it before the DM fails)."""
    ctx = context.current()
    channel = ctx.channels.get("x_dm")
    if channel is None or not hasattr(channel, "dm_reach"):
        return "X is not configured"
    case = UUID(conversation_id)
    user_id = ctx.application.dm_recipient(case)
    if user_id is None:
        return "the customer has no X account"
    try:
        receives, follows = channel.dm_reach(user_id)
    except DeliveryError as error:  # the DM's own attempt will tell
        return f"X did not say: {error}"
    ctx.application.record_dm_reach(
        case, receives_dms=receives, follows_brand=follows, actor="system:x"
    )
    return f"receives_dms={receives} follows_brand={follows}"


def poll_x(kind: str) -> str:
    """One poll of X: ``mentions``, ``search`` (brand keywords) or ``dms``."""
    ctx = context.current()
    if not ctx.settings.x_configured():
        return "X is not configured"
    from workers.polling import Cursors, XPoller

    poller = XPoller(
        ctx.application, ctx.x_client, Cursors(ctx.read_store), ctx.settings.x_brand_user_id,
        ctx.settings.x_keywords.split(","),
    )  # fmt: skip
    try:
        new = {"mentions": poller.mentions, "search": poller.search, "dms": poller.dms}[kind]()
    except tweepy.TooManyRequests:
        return f"{kind}: rate limited; the next poll tries again"
    return f"{kind}: {new} new"


def poll_maildir() -> str:
    """One poll of the Maildir at ``PARLEY_MAILDIR``: new mail recorded, moved to cur/."""
    ctx = context.current()
    if not ctx.settings.maildir:
        return "no PARLEY_MAILDIR configured"
    from workers.maildir import describe
    from workers.maildir import poll_maildir as poll

    return describe(poll(ctx.application, ctx.settings.maildir))


def sweep_sla() -> str:
    """Record the SLA breaches and warnings that have come due (``workers.sla_sweep``)."""
    from workers.sla_sweep import sweep_sla as sweep

    ctx = context.current()
    return sweep(ctx.application, ctx.read_store).describe()
