"""The gunicorn worker ``parley serve`` runs: threaded, and stopping its streams first.

gunicorn's threaded worker waits for in-flight requests when told to stop, and an open
``/v1/stream`` is a request that lasts minutes: without this, Ctrl-C waited ~30 s and
gunicorn then killed the worker. Told to stop, this worker first ends its streams (they
notice within a poll interval), then stops as usual.
"""

from __future__ import annotations

from typing import Any

from gunicorn.workers.gthread import ThreadWorker


class StreamingWorker(ThreadWorker):  # type: ignore[misc]
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
