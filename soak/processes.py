"""Child processes the soak starts, kills and (as a supervisor would) starts again."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Supervised:
    """One process: started in its own session (so a kill takes its children too), logged
    to ``log``, and started again by :class:`Supervisor` whenever it dies."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    cwd: Path
    ready: Callable[[], bool] | None = None  # e.g. its /healthz answers
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    held: bool = False  # True: the supervisor leaves it down (it is being stopped)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        with self.log.open("ab") as sink:
            sink.write(f"\n==== start {self.starts + 1} at {time.time():.3f}\n".encode())
            sink.flush()
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return False
            if self.ready is None or self.ready():
                return True
            time.sleep(0.1)
        return False

    def kill9(self) -> int | None:
        """SIGKILL to its whole process group; the pid killed."""
        if self.process is None or self.process.poll() is not None:
            return None
        pid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        return pid

    def children(self) -> list[int]:
        if self.process is None:
            return []
        found = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        return [int(p) for p in found.stdout.split()]

    def stop(self, timeout: float = 15.0) -> None:
        self.held = True
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        except ProcessLookupError:
            pass


class Supervisor:
    """Starts again every supervised process that died, after ``delay`` seconds."""

    def __init__(self, delay: float = 0.5) -> None:
        self.processes: list[Supervised] = []
        self.delay = delay
        self.restarts: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="supervisor", daemon=True)

    def add(self, process: Supervised) -> Supervised:
        self.processes.append(process)
        return process

    def begin(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            for proc in self.processes:
                with proc.lock:
                    if proc.held or proc.alive():
                        continue
                    time.sleep(self.delay)
                    proc.start()
                    self.restarts.append((time.monotonic(), proc.name))

    def end(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for proc in reversed(self.processes):
            proc.stop()
