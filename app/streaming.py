"""The open Server-Sent Event streams of one server process.

Each open stream holds a server thread, so they are capped per process, and each must
let go of its thread as soon as it has no reader: when the client disconnects (seen by
polling the socket, not only when a write fails), when a write cannot proceed for
``send_timeout`` seconds (a client that stopped reading), when its token is revoked, and
at once when the server is asked to stop (:meth:`Streams.shut_down`, called by the
serving worker's signal handlers).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cursor:
    """Where a console is in both feeds: the event log, and the inbox's row changes.

    Sent as every message's SSE ``id`` (``<events>-<inbox>``), so ``Last-Event-ID``
    resumes both exactly; a plain ``<position>`` (older consoles) stands for both.
    """

    events: int
    inbox: int

    def __str__(self) -> str:
        return f"{self.events}-{self.inbox}"

    @classmethod
    def parse(cls, text: str, maximum: int) -> Cursor | None:
        """The cursor an id names, or None if it names none (bounded: no huge ints)."""
        parts = text.strip().split("-")
        if len(parts) > 2 or not all(p.isascii() and p.isdigit() and len(p) <= 19 for p in parts):
            return None
        numbers = [int(p) for p in parts]
        if any(n > maximum for n in numbers):
            return None
        return cls(numbers[0], numbers[-1])


class Streams:
    """A cap on open streams, and the signal that ends them all."""

    def __init__(self, cap: int, send_timeout: float, token_check: float = 30.0) -> None:
        self._slots = threading.BoundedSemaphore(cap)
        self.cap = cap
        self.send_timeout = send_timeout
        self.token_check = token_check  # seconds between checks that the token still lives
        self.stopping = threading.Event()
        self._open = 0
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        if self.stopping.is_set() or not self._slots.acquire(blocking=False):
            return False
        with self._lock:
            self._open += 1
        return True

    def release(self) -> None:
        with self._lock:
            self._open -= 1
        self._slots.release()

    @property
    def open(self) -> int:
        return self._open

    def shut_down(self) -> None:
        """End every open stream within a poll interval, and open no new one."""
        self.stopping.set()


def client_socket(environ: dict[str, Any]) -> socket.socket | None:
    """The connection's socket, where the server exposes it (gunicorn, werkzeug)."""
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    return sock if isinstance(sock, socket.socket) else None


def prepare(sock: socket.socket | None, send_timeout: float) -> None:
    """A write that cannot proceed for ``send_timeout`` fails, and frees the thread."""
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(send_timeout)


def client_gone(sock: socket.socket | None) -> bool:
    """Whether the client closed its end: the socket reads as end-of-file.

    A stream's client sends nothing after its request, so a readable socket is a hang-up
    (or a reset); data waiting (a pipelined request) is not.
    """
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except (OSError, ValueError):
        return True
