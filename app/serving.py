"""The gunicorn worker ``parley serve`` runs: threaded, and stopping its streams first.

gunicorn's threaded worker waits for in-flight requests when told to stop, and an open
``/v1/stream`` is a request that lasts minutes: without this, Ctrl-C waited ~30 s and
gunicorn then killed the worker. Told to stop, this worker first ends its streams (they
notice within a poll interval), then stops as usual.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

PROBLEM = "application/problem+json"


def write_problem(sock: Any, status: int, reason: str, message: str) -> None:
    """gunicorn's own refusals (a request line too long, a malformed header) as RFC 9457
    problem documents, like every other error of the API, instead of an HTML page."""
    body = json.dumps(
        {
            "type": f"https://parley.invalid/problems/{status}",
            "title": reason,
            "status": status,
            "detail": message or reason,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: {PROBLEM}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin1")
    util.write_nonblock(sock, head + body)


class StreamingWorker(ThreadWorker):  # type: ignore[misc]
    def init_process(self) -> None:
        util.write_error = write_problem  # gunicorn's error pages, in this worker process
        super().init_process()

    def _end_streams(self) -> None:
        streams = getattr(getattr(self, "wsgi", None), "extensions", {}).get("parley.streams")
        if streams is not None:
            streams.shut_down()

    def handle_exit(self, sig: int, frame: Any) -> None:
        self._end_streams()
        super().handle_exit(sig, frame)

    def handle_quit(self, sig: int, frame: Any) -> None:
        self._end_streams()
        super().handle_quit(sig, frame)
