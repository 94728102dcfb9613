"""The faults the soak injects, on a schedule fixed (and printed) before the load starts."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import requests

from soak.deployment import SMTP_TIMEOUT, Deployment
from soak.processes import Supervised

PROBES: Counter[str] = Counter()  # statuses of the follower fault's non-200 probes


@dataclass
class Fault:
    name: str
    at: float  # seconds after the load starts
    started: float = 0.0  # time.monotonic()
    ended: float = 0.0  # when the system was whole again (the process back, the burst over)
    detail: str = ""


def _back(proc: Supervised, timeout: float = 60) -> str:
    """Wait for the supervisor to start ``proc`` again (and for it to be ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.alive() and proc.wait_ready(max(0.1, deadline - time.monotonic())):
            return f"started again (start {proc.starts})"
        time.sleep(0.1)
    return "NOT started again"


def _kill(
    proc: Supervised, wait_for: Callable[[], bool] | None = None, busy: str = "mid-job"
) -> str:
    mid = ""
    if wait_for is not None:
        deadline = time.monotonic() + 10
        busy_now = wait_for()
        while time.monotonic() < deadline and not busy_now:
            time.sleep(0.02)
            busy_now = wait_for()
        mid = f" {busy}" if busy_now else " (no work in hand for 10 s)"
    with proc.lock:
        pid = proc.kill9()
    return f"kill -9 {proc.name} (pid {pid}){mid}; " + _back(proc)


def _lagging(d: Deployment) -> bool:
    """A projection has events to apply: a follower killed now dies with a batch to do."""
    headers = {"Authorization": f"Bearer {d.tokens['ops']}"}
    try:
        answer = requests.get(d.bases[-1] + "/v1/ops/projections", headers=headers, timeout=2)
    except requests.RequestException:
        return False
    if answer.status_code != 200:  # e.g. a 503 while PostgreSQL comes back
        PROBES[
            f"{answer.status_code}{' + Retry-After' if 'Retry-After' in answer.headers else ''}"
        ] += 1
        return False
    return any(int(r.get("lag") or 0) > 0 for r in answer.json()["items"])


def _kill_follower(d: Deployment) -> str:
    PROBES.clear()
    done = _kill(d.followers[0], lambda: _lagging(d), "with events to apply")
    return done + (f" (ops probes answered {dict(PROBES)})" if PROBES else "")


def schedule(deployment: Deployment, seconds: float) -> list[tuple[Fault, Callable[[], str]]]:
    d = deployment
    x = d.x_base

    def x_burst() -> str:
        for kind in ("429", "503"):
            requests.post(x + "/_standin/faults",
                          json={"kind": kind, "count": 4, "reset_in": 3}, timeout=5)  # fmt: skip
        time.sleep(8)
        return "4 x 429 (reset in 3 s) and 4 x 503 queued on every X route"

    def slow_smtp() -> str:
        assert d.sink is not None
        delay = SMTP_TIMEOUT - 2
        d.sink.delay_data(delay, times=6)
        time.sleep(10)
        return f"the next 6 messages answered after {delay} s (timeout {SMTP_TIMEOUT} s)"

    def redis_restart() -> str:
        assert d.redis is not None
        d.redis.restart(down_for=2.0)
        return "redis-server killed, down 2 s, started again empty (no persistence)"

    def pg(mode: str) -> Callable[[], str]:
        def restart() -> str:
            assert d.postgres is not None
            d.postgres.restart(mode)
            return f"pg_ctl -m {mode} restart"

        return restart

    plan: list[tuple[str, Callable[[], str]]] = [
        ("kill a web process", lambda: _kill(d.web[0])),
        (
            "kill a worker mid-job",
            lambda: _kill(d.workers[0], lambda: bool(d.workers[0].children())),
        ),
        ("X: a burst of 429s and 503s", x_burst),
        ("kill a follower mid-batch", lambda: _kill_follower(d)),
        ("Redis restart", redis_restart),
        ("kill the outbox", lambda: _kill(d.outbox)),  # type: ignore[arg-type]
        ("kill the audit chain's follower", lambda: _kill(d.audit)),  # type: ignore[arg-type]
        ("a slow SMTP server", slow_smtp),
    ]
    if d.postgres is not None:
        plan.insert(3, ("PostgreSQL fast restart", pg("fast")))
        plan.append(("PostgreSQL immediate restart", pg("immediate")))
    plan.append(("kill the other web process", lambda: _kill(d.web[1])))
    # Spread over the run, leaving its first and last tenth quiet (the "before" and "after").
    first, last = seconds * 0.1, seconds * 0.85
    step = (last - first) / max(1, len(plan) - 1)
    return [(Fault(name, first + i * step), run) for i, (name, run) in enumerate(plan)]
