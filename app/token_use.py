"""When each API token was last used: operational metadata, kept in Redis, not in the log.

Recording every request as an event would fill the audit log with noise, so the time a
token was last seen is written to a Redis hash, at most once a minute per token and
process. If Redis is down, the note is skipped: it never slows or fails a request.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from uuid import UUID

import redis
from flask import current_app

log = logging.getLogger(__name__)

KEY = "parley:tokens:last-used"
EVERY_SECONDS = 60.0


class TokenUse:
    def __init__(self, redis_url: str, every: float = EVERY_SECONDS) -> None:
        self.redis_url = redis_url
        self.every = every
        self._noted: dict[UUID, float] = {}
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None

    def _redis(self) -> redis.Redis:
        if self._client is None:  # opened on first use: after a server forks its workers
            self._client = redis.Redis.from_url(
                self.redis_url, socket_timeout=0.2, socket_connect_timeout=0.2
            )
        return self._client

    def note(self, token_id: UUID) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._noted.get(token_id, -self.every) < self.every:
                return
            self._noted[token_id] = now
        try:
            self._redis().hset(KEY, str(token_id), datetime.now(UTC).isoformat())
        except redis.RedisError as error:
            log.debug("could not note a token's use: %s", error)

    def last_used(self) -> dict[str, datetime]:
        """Token id -> when it was last seen (within a minute), for ``parley tokens list``."""
        raw = self._redis().hgetall(KEY)
        return {
            k.decode(): datetime.fromisoformat(x.decode())
            for k, x in raw.items()  # type: ignore[union-attr]
        }


def note_token_use(token_id: UUID) -> None:
    use: TokenUse | None = current_app.extensions.get("parley.token_use")
    if use is not None:
        use.note(token_id)
