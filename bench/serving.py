"""``parley serve`` as a child process on a free loopback port, for benchmarks and the
end-to-end tests (here rather than in ``tests/`` so benchmarks never import tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]  # the checkout: the server runs its code
PARLEY = Path(sys.executable).parent / "parley"
STARTUP_SECONDS = 20


@dataclass
class Server:
    base: str  # http://127.0.0.1:<port>
    process: subprocess.Popen[bytes]
    log: Path  # the server's stdout and stderr

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def environment(store: dict[str, str]) -> dict[str, str]:
    """This process's environment without any PARLEY_* of its own, plus the store's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    # The checkout first on the path: a console script does not put the working directory
    # there, and an editable install made before app/__init__.py existed maps ``app`` as a
    # namespace package (then ``from app import create_app`` fails in the workers).
    path = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return (
        env | store | {"PARLEY_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(env: dict[str, str], log: Path, *, workers: int) -> Iterator[Server]:
    """``parley serve`` until the block ends, then SIGTERM and wait (killed after 15 s).

    RuntimeError, with the log's tail, if it exits or gives no /healthz within 20 s.
    """
    port = free_port()
    command = [str(PARLEY), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            env=env,
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_healthy(server)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"parley serve exited ({server.process.returncode}):\n{server.log_tail()}"
            )
        try:
            if requests.get(server.base + "/healthz", timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or a busy machine
            pass
        time.sleep(0.1)
    raise RuntimeError(f"no /healthz within {STARTUP_SECONDS} s:\n{server.log_tail()}")
