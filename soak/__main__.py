"""``python -m soak``: a deployment of its own, a mixed load with faults, then checks."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from soak.checks import Check, drain, global_log, run_checks
from soak.deployment import Deployment
from soak.faults import PROBES, Fault, schedule
from soak.load import Agent, Record
from soak.report import checks_table, latency_table, say

AGENTS = 6
# The drain waits at most this, or twice as long as the load ran if longer: on 2 busy
# cores two workers fall behind the load's replies (quick: up to 118 s of backlog; 3 min:
# 173 s); it stops sooner when replies stop getting outcomes (checks.STALL_SECONDS).
DRAIN_SECONDS = 180.0


def soak(store: str, seconds: float, seed: int, keep: bool) -> bool:
    root = Path(tempfile.mkdtemp(prefix=f"soak-{store}-"))
    deployment = Deployment(store, root)
    began = time.monotonic()
    say(f"[{store}] scratch dir {root}")
    try:
        deployment.up()
        say(f"[{store}] deployment up in {time.monotonic() - began:.0f} s: web {deployment.bases},"
            f" X stand-in {deployment.x_base}, SMTP sink :{deployment.sink.port if deployment.sink else '?'}")  # fmt: skip
        start_position = max((e["position"] for e in global_log(deployment)), default=0)
        plan = schedule(deployment, seconds)
        if store == "sqlite":
            say(f"[{store}] no PostgreSQL on sqlite: the PostgreSQL restarts are skipped")
        say(f"[{store}] fault schedule ({seconds:.0f} s of load):")
        for fault, _ in plan:
            say(f"    +{fault.at:5.1f} s  {fault.name}")
        record, stop = Record(), threading.Event()
        agents = [
            Agent(n, deployment.bases, deployment.x_base, deployment.tokens, record, stop, seed)
            for n in range(AGENTS)
        ]
        for agent in agents:
            agent.start()
        faults: list[Fault] = []
        for fault, inject in plan:
            wait = record.started + fault.at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            fault.started = time.monotonic()
            say(f"[{store}] fault: {fault.name}")
            fault.detail = inject()
            fault.ended = time.monotonic()
            faults.append(fault)
            say(f"[{store}]   {fault.detail} ({fault.ended - fault.started:.1f} s)")
        left = record.started + seconds - time.monotonic()
        if left > 0:
            time.sleep(left)
        stop.set()
        for agent in agents:
            agent.join(timeout=200)
        say(f"[{store}] load stopped: {len(record.answers)} writes answered,"
            f" {len(record.attempts)} requests; draining")  # fmt: skip
        took = drain(deployment, record, start_position, max(DRAIN_SECONDS, 2 * seconds))
        say(f"[{store}] drained in {took:.0f} s; checking")
        checks = run_checks(deployment, record, start_position)
        errors = [e for a in agents for e in a.errors]
        checks.append(Check("the load ran without client errors", not errors,
                            f"{len(errors)} errors", errors[:10]))  # fmt: skip
        bad = {s: n for s, n in PROBES.items() if s.startswith("5") and "Retry-After" not in s}
        checks.append(Check("ops reads (follower fault): no 5xx but 503",
                            not bad, f"probes answered {dict(PROBES) or 'only 200'}", []))  # fmt: skip
        restarts = ", ".join(sorted({n for _, n in deployment.supervisor.restarts}))
        say(f"[{store}] supervisor restarted: {restarts or 'nothing'}")
        checks_table(store, checks)
        latency_table(store, record, faults)
        ok = all(c.ok for c in checks)
        say(f"[{store}] {'PASS' if ok else 'FAIL'} in {time.monotonic() - began:.0f} s wall time")
        return ok
    finally:
        deployment.down()
        if keep:
            say(f"[{store}] kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="90 seconds of load")
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir and logs")
    args = parser.parse_args(argv)
    seconds = 90.0 if args.quick else args.minutes * 60
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    results = {}
    for store in stores:
        results[store] = soak(store, seconds, args.seed, args.keep)
    say("result: " + ", ".join(f"{s} {'PASS' if ok else 'FAIL'}" for s, ok in results.items()))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
