"""Streams and bodies against the real server (``parley serve``, gunicorn), over sockets.

What only a real server shows: a client that leaves or stops reading, a body sent
chunked, and stopping the server while streams are open.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from app.config import Settings, event_store_env
from bench.serving import PARLEY, ROOT, Server, environment, serving
from domain.application import Conversations
from domain.values import Identity
from tests.support.stores import store_settings

pytestmark = pytest.mark.e2e


@dataclass
class Served:
    server: Server
    token: str
    store: dict[str, str]

    @property
    def port(self) -> int:
        return int(self.server.base.rsplit(":", 1)[1])


def _parley(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(PARLEY), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """One worker, at most two streams, a 1 s send timeout, a 1000-byte body limit."""
    with store_settings("sqlite", tmp_path) as store:
        env = environment(store) | {
            "PARLEY_MAX_STREAMS": "2",
            "PARLEY_STREAM_SEND_TIMEOUT": "1",
            "PARLEY_MAX_BODY_BYTES": "100000",
        }
        _parley(env, "db", "init")
        token = _parley(env, "tokens", "create", "--role", "agent", "--name", "e2e")
        with serving(env, tmp_path / "server.log", workers=1) as server:
            yield Served(server, token, store)


def _raw(served: Served, request: bytes, *, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", served.port))
    sock.sendall(request)
    return sock


def _stream_request(served: Served, timeout: float = 60) -> bytes:
    return (
        f"GET /v1/stream?timeout={timeout} HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Bearer {served.token}\r\n\r\n"
    ).encode()


def _status(sock: socket.socket) -> int:
    head = b""
    while b"\r\n" not in head:
        head += sock.recv(1)
    return int(head.split()[1])


def _new_stream_status(served: Served) -> int:
    response = requests.get(
        served.server.base + "/v1/stream",
        params={"timeout": 0.2},
        headers={"Authorization": f"Bearer {served.token}"},
        timeout=10,
    )
    return response.status_code


def test_clients_that_hang_up_free_their_stream_slots_at_once(served: Served) -> None:
    """Ten consoles that connect and leave, each taking one of two slots: each slot is
    free again within a poll of the socket (0.25 s), not after a keep-alive (15 s)."""
    started = time.monotonic()
    for _ in range(10):
        deadline = time.monotonic() + 2
        while True:
            sock = _raw(served, _stream_request(served))
            status = _status(sock)
            sock.close()
            if status == 200:
                break
            assert time.monotonic() < deadline, "a slot stayed taken after its client left"
            time.sleep(0.05)

    assert time.monotonic() - started < 10


def test_a_client_that_stops_reading_loses_its_stream_after_the_send_timeout(
    served: Served,
) -> None:
    stalled = [_raw(served, _stream_request(served), rcvbuf=4096) for _ in range(2)]
    assert [_status(s) for s in stalled] == [200, 200]
    assert _new_stream_status(served) == 503  # both slots taken
    # Megabytes of events for streams whose clients read nothing: the sends block.
    app = Conversations(env=event_store_env(Settings.from_env(served.store)))
    try:
        for n in range(300):
            app.open_conversation(
                channel="chat", body="x" * 19_000, actor="integration:load",
                identity=Identity("email", f"stall{n}@example.com"),
            )  # fmt: skip
    finally:
        app.close()

    deadline = time.monotonic() + 15
    while _new_stream_status(served) != 200:
        assert time.monotonic() < deadline, "a stream blocked in send kept its slot"
        time.sleep(0.2)
    for sock in stalled:
        sock.close()


def test_a_chunked_body_over_the_limit_is_a_413_and_one_under_it_is_read(served: Served) -> None:
    def chunked(body: bytes) -> int:
        pieces = b"".join(
            f"{len(body[i : i + 4096]):x}\r\n".encode() + body[i : i + 4096] + b"\r\n"
            for i in range(0, len(body), 4096)
        )
        sock = _raw(
            served,
            b"POST /v1/conversations HTTP/1.1\r\nHost: localhost\r\n"
            + f"Authorization: Bearer {served.token}\r\n".encode()
            + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            + b"Connection: close\r\n\r\n"
            + pieces
            + b"0\r\n\r\n",
        )
        try:
            return _status(sock)
        finally:
            sock.close()

    small = (
        b'{"channel": "chat", "body": "hello", "identity": {"kind": "email", '
        b'"value": "chunked@example.com"}}'
    )
    big = b'{"channel": "chat", "body": "' + b"x" * 200_000 + b'"}'

    assert chunked(small) == 201
    assert chunked(big) == 413


def test_stopping_the_server_ends_open_streams_and_exits_at_once(served: Served) -> None:
    streams = [_raw(served, _stream_request(served, timeout=300)) for _ in range(2)]
    assert [_status(s) for s in streams] == [200, 200]

    started = time.monotonic()
    served.server.process.send_signal(signal.SIGTERM)
    served.server.process.wait(timeout=20)
    elapsed = time.monotonic() - started

    assert elapsed < 5, f"took {elapsed:.1f} s to stop:\n{served.server.log_tail()}"
    assert served.server.process.returncode == 0
    for sock in streams:
        sock.settimeout(5)
        while sock.recv(65536):  # the stream's end, then the connection's
            pass
        sock.close()
