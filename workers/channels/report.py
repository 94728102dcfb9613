"""What ``parley channels status`` and ``GET /v1/ops/channels`` show of each channel."""

from __future__ import annotations

from typing import Any

from redis import Redis

from app.config import Settings
from workers.channels.x import Usage
from workers.polling import Cursors


def channel_report(settings: Settings, redis: Redis, cursors: Cursors) -> dict[str, Any]:
    """What ``parley channels status`` and ``GET /v1/ops/channels`` show."""
    usage = Usage(redis).snapshot()
    polls = {k: v for k, v in cursors.all().items() if k.startswith("x-")}
    return {
        "channels": {
            "x": {
                "configured": settings.x_configured(),
                "brand_user_id": settings.x_brand_user_id or None,
                "cursors": polls,
                **usage,
            },
            "email": {
                "configured": settings.smtp_configured(),
                "smtp_host": settings.smtp_host or None,
                "smtp_port": settings.smtp_port,
                "starttls": settings.smtp_starttls,
                "mail_from": settings.mail_from,
            },
        }
    }
