"""Being told that the log or a projection moved, instead of asking again and again.

On PostgreSQL every save of events sends ``NOTIFY`` on the schema's *events* channel, and
every projection's position update on its *positions* channel, each inside the
transaction that writes them: PostgreSQL delivers a notification only when that
transaction commits, never for one rolled back. A :class:`Listener` thread per process
holds one dedicated connection that ``LISTEN``s on both and bumps a :class:`Wakeup`;
the follower, the ``?min_position`` wait and the SSE stream wait on that instead of
sleeping out a poll interval.

The poll stays, as the upper bound of every wait: a notification lost (the listener's
connection dropped, the database restarted) delays an update to the next poll, never
loses it. On SQLite, or with ``PARLEY_LISTEN_NOTIFY=no``, a :class:`Wakeup` is never
bumped and every wait is the timed poll it was before.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier

log = logging.getLogger(__name__)

EVENTS = "events"  # a save of events committed (payload: its last notification id)
POSITIONS = "positions"  # a projection's position moved (payload: name and position)
KINDS = (EVENTS, POSITIONS)
RECONNECT_PAUSE = 0.1  # the first pause before reconnecting; it doubles up to max_backoff
STOP_CHECK_SECONDS = 0.1  # how soon a wait given a ``stop`` event notices it is set
_PLAIN = re.compile(r"[a-z0-9_]+")
_MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1 (bytes)


def channel(kind: str, schema: str | None) -> str:
    """The channel of ``kind`` for a schema (``parley_events_public``): tenants and tests,
    each in its own schema, never wake each other. A schema name that would not make a
    plain identifier of at most 63 bytes is replaced by a hash of it."""
    name = schema or "public"
    plain = f"parley_{kind}_{name}"
    if _PLAIN.fullmatch(name) and len(plain.encode()) <= _MAX_IDENTIFIER:
        return plain
    return f"parley_{kind}_h{hashlib.sha256(name.encode()).hexdigest()[:24]}"


class Wakeup:
    """A generation counter per kind, under one condition.

    Take a :meth:`mark` *before* looking (reading the log, a position), then :meth:`wait`
    with it: a bump between the look and the wait is not missed, the wait returns at once.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generations = dict.fromkeys(KINDS, 0)

    def mark(self, *kinds: str) -> dict[str, int]:
        with self._condition:
            return {kind: self._generations[kind] for kind in kinds or KINDS}

    def bump(self, *kinds: str) -> None:
        with self._condition:
            for kind in kinds or KINDS:
                self._generations[kind] += 1
            self._condition.notify_all()

    def _moved(self, mark: Mapping[str, int]) -> bool:
        return any(self._generations[kind] != seen for kind, seen in mark.items())

    def wait(
        self, mark: Mapping[str, int], timeout: float, stop: threading.Event | None = None
    ) -> bool:
        """Wait until a kind in ``mark`` moved past it (True), ``timeout`` passed or
        ``stop`` was set (False). ``stop`` is looked at every 0.1 s: a ``threading.Event``
        cannot wake a condition, and looking at it costs no query."""
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._condition:
            while not self._moved(mark):
                if stop is not None and stop.is_set():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._condition.wait(min(left, STOP_CHECK_SECONDS) if stop else left)
            return True


class Listener:
    """One dedicated autocommit connection ``LISTEN``ing on a schema's channels, in a
    daemon thread, bumping ``wakeup`` on every notification.

    A dropped connection (a database restart, ``pg_terminate_backend``) is reconnected
    with a growing pause; meanwhile waits fall back to their poll. Every (re)connection
    bumps all kinds once, so a waiter looks again at what it may have missed.
    """

    def __init__(
        self,
        conninfo: Mapping[str, Any],
        schema: str | None,
        wakeup: Wakeup | None = None,
        *,
        max_backoff: float = 30.0,
        health_check_seconds: float = 30.0,
    ) -> None:
        self.conninfo = dict(conninfo)
        self.wakeup = wakeup or Wakeup()
        self.channels = {channel(kind, schema): kind for kind in KINDS}
        self.max_backoff = max_backoff
        self.health_check_seconds = health_check_seconds
        self.connected = threading.Event()
        self.backend_pid: int | None = None  # the listening connection's server process
        self.connections = 0  # how many times it (re)connected
        self.pid = os.getpid()  # the process whose thread it is (none survives a fork)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="parley-listener", daemon=True)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        pause = RECONNECT_PAUSE
        while not self._stopping.is_set():
            try:
                self._listen()
                pause = RECONNECT_PAUSE
            except (psycopg.Error, OSError) as error:
                if self._stopping.is_set():
                    break
                log.warning(
                    "listening for notifications failed (%s: %s); polling until it is back,"
                    " retrying in %.1f s", type(error).__name__, error, pause,
                )  # fmt: skip
                self._stopping.wait(pause)
                pause = min(pause * 2, self.max_backoff)
            finally:
                self.connected.clear()
                self.backend_pid = None

    def _listen(self) -> None:
        with psycopg.connect(**self.conninfo, autocommit=True) as conn:
            for name in self.channels:
                conn.execute(SQL("LISTEN {}").format(Identifier(name)))
            self.backend_pid = conn.info.backend_pid
            self.connections += 1
            self.wakeup.bump()  # whatever was sent while not listening: look again
            self.connected.set()
            checked = time.monotonic()
            while not self._stopping.is_set():
                for notification in conn.notifies(timeout=STOP_CHECK_SECONDS):
                    kind = self.channels.get(notification.channel)
                    if kind:
                        self.wakeup.bump(kind)
                if time.monotonic() - checked > self.health_check_seconds:
                    conn.execute("SELECT 1")  # a connection lost silently raises here
                    checked = time.monotonic()
