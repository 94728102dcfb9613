"""Ingest throughput: how fast customer messages get into the event store, and how far that
is from what the eventsourcing library itself can append on the same database.

    python -m bench.ingest [--store sqlite|postgres|both] [--n 2000]

For each store, in one run, each path on a fresh, empty store (a new SQLite file; a new
PostgreSQL schema):

* raw      the library alone (``bench.raw``): create-and-save a one-event aggregate; and
           one more event on an existing aggregate (held in memory, round-robin over M)
* plain    ``service`` with personal fields stored in the clear (``seal_personal_data=False``):
           what sealing them per customer costs is service against plain
* service  ``Conversations.open_conversation`` for new tweets (M of them), then
           ``receive_message`` round-robin over those M, each with a unique external_id
           (one save = MessageReceived + an InboundIndex record, as real ingest writes)
* http     the same through the Flask app in-process (``create_app`` + its test client:
           routing, auth, schemas, JSON, no network), integration token
* threads16  ``service`` messages from 16 threads of one process, each on its own
           conversations (group commit on; ``threads16-solo``: off, each save its own commit)
* served   the same over loopback HTTP against ``parley serve --workers 2`` (gunicorn),
           4 client threads with a ``requests.Session`` each, a bounded request count;
           ``served16``: 16 clients (``served16-solo``: group commit off)

Ratios are against the raw ceiling of the same store in the same run: an open against raw
create, a message against raw append. See bench/README.md for how to read the figures.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import requests

from app import create_app
from app.config import Settings, event_store_env
from app.state import application
from bench.raw import Counter, RawLibrary
from bench.serving import environment, serving
from bench.stores import KINDS, describe_machine, fresh_store
from domain.application import Conversations
from domain.values import Identity

ACTOR = "integration:bench"
CLIENTS = 4  # threads against the served API
MANY = 16  # concurrent writers of the threads and served16 paths (the issue's 16 clients)
WORKERS = 2  # gunicorn workers
SERVED_MAX = 1000  # at most this many messages over real HTTP, per store
WARM_UP = 5  # untimed operations before each timed path


@dataclass
class Row:
    store: str
    path: str
    op: str  # open | message | create | append
    ops: int
    seconds: float
    errors: int = 0

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0


def timed(count: int, operation: Callable[[int], Any]) -> float:
    start = time.perf_counter()
    for i in range(count):
        operation(i)
    return time.perf_counter() - start


def tweet_id() -> str:
    return str(uuid.uuid4().int)[:19]


def tweet(i: int) -> dict[str, Any]:
    """A new customer's first tweet, as the API takes it."""
    return {
        "channel": "x_public",
        "body": f"@brand my order #{i} never arrived",
        "identity": {"kind": "x", "value": tweet_id(), "handle": f"customer{i}"},
        "external_id": tweet_id(),
    }


def follow_up(i: int) -> dict[str, Any]:
    """A further message on an existing conversation, with its own external id."""
    return {"channel": "x_public", "body": f"any news? ({i})", "external_id": tweet_id()}


# ---------------------------------------------------------------------------- raw ceiling
def bench_raw(kind: str, store: dict[str, str], n: int, m: int, name: str) -> list[Row]:
    env = event_store_env(Settings.from_env(store), create_tables=True)
    library = RawLibrary(env=env)
    try:
        if name == "create":
            for _ in range(WARM_UP):
                library.save(Counter())
            seconds = timed(n, lambda i: library.save(Counter()))
            return [Row(kind, "raw", "create", n, seconds)]
        counters = [Counter() for _ in range(m)]
        library.save(*counters)

        def append(i: int) -> None:
            counter = counters[i % m]
            counter.bump()
            library.save(counter)

        for i in range(WARM_UP):
            append(i)
        return [Row(kind, "raw", "append", n, timed(n, append))]
    finally:
        library.close()


# ---------------------------------------------------------------------------- service
def bench_service(
    kind: str, store: dict[str, str], n: int, m: int, *, seal: bool = True
) -> list[Row]:
    """``seal=False``: the same with personal fields stored in the clear (``plain``), to
    measure what sealing them per customer costs."""
    service = Conversations(
        env=event_store_env(Settings.from_env(store), create_tables=True),
        seal_personal_data=seal,
    )
    path = "service" if seal else "plain"
    try:

        def open_one(i: int) -> UUID:
            data = tweet(i)
            identity = Identity(**data.pop("identity"))
            return service.open_conversation(identity=identity, actor=ACTOR, **data).id

        for i in range(WARM_UP):
            open_one(-1 - i)
        ids: list[UUID] = []
        opened = timed(m, lambda i: ids.append(open_one(i)))
        received = timed(
            n, lambda i: service.receive_message(ids[i % m], actor=ACTOR, **follow_up(i))
        )
        return [
            Row(kind, path, "open", m, opened),
            Row(kind, path, "message", n, received),
        ]
    finally:
        service.close()


# ---------------------------------------------------------------------------- http (in-process)
def bench_http(kind: str, store: dict[str, str], n: int, m: int) -> list[Row]:
    flask_app = create_app(environ={**store, "PARLEY_CREATE_TABLES": "yes"})
    token = "prl_" + secrets.token_urlsafe(32)
    with flask_app.app_context():
        application().issue_token(name="bench", role="integration", token=token, actor="ops:bench")
    client = flask_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    errors = {"open": 0, "message": 0}
    ids: list[str] = []
    try:

        def open_one(i: int) -> None:
            response = client.post("/v1/conversations", json=tweet(i), headers=headers)
            if response.status_code != 201:
                errors["open"] += 1
                return
            ids.append(response.get_json()["id"])

        def message(i: int) -> None:
            url = f"/v1/conversations/{ids[i % len(ids)]}/messages"
            response = client.post(url, json=follow_up(i), headers=headers)
            errors["message"] += response.status_code != 201

        for i in range(WARM_UP):
            open_one(-1 - i)
        warm = list(ids)
        ids.clear()
        opened = timed(m, open_one)
        ids[:] = ids or warm
        received = timed(n, message)
        return [
            Row(kind, "http", "open", m, opened, errors["open"]),
            Row(kind, "http", "message", n, received, errors["message"]),
        ]
    finally:
        flask_app.extensions["parley.application"].close()


# ---------------------------------------------------------------------------- threads (one process)
def bench_threads(
    kind: str, store: dict[str, str], n: int, m: int, threads: int, *, group_commit: bool = True
) -> list[Row]:
    """``service`` from ``threads`` threads of one process at once, each on its own
    conversations: what group commit (``app.group_commit``, PostgreSQL) makes of
    concurrent writers. ``group_commit=False``: each save commits on its own."""
    settings = Settings.from_env({**store, "PARLEY_GROUP_COMMIT": "yes" if group_commit else "no",
                                  "PARLEY_POSTGRES_POOL_SIZE": str(threads)})  # fmt: skip
    service = Conversations(env=event_store_env(settings, create_tables=True))
    path = f"threads{threads}" + ("" if group_commit else "-solo")
    try:
        ids: list[UUID] = []
        for i in range(max(m, threads)):
            data = tweet(i)
            identity = Identity(**data.pop("identity"))
            ids.append(service.open_conversation(identity=identity, actor=ACTOR, **data).id)
        share = [ids[k::threads] for k in range(threads)]

        def messages(k: int) -> None:
            mine = share[k]
            for j, i in enumerate(range(k, n, threads)):
                service.receive_message(mine[j % len(mine)], actor=ACTOR, **follow_up(i))

        with ThreadPoolExecutor(threads) as pool:
            start = time.perf_counter()
            list(pool.map(messages, range(threads)))
            received = time.perf_counter() - start
        return [Row(kind, path, "message", n, received)]
    finally:
        service.close()


# ---------------------------------------------------------------------------- served (gunicorn)
def bench_served(
    kind: str,
    store: dict[str, str],
    n: int,
    m: int,
    log: Path,
    clients: int = CLIENTS,
    *,
    group_commit: bool = True,
) -> list[Row]:
    """``clients`` threads, each with its own session and its own conversations."""
    path = ("served" if clients == CLIENTS else f"served{clients}") + (
        "" if group_commit else "-solo"
    )
    store = {**store, "PARLEY_GROUP_COMMIT": "yes" if group_commit else "no"}
    settings = Settings.from_env(store)
    token = "prl_" + secrets.token_urlsafe(32)
    setup = Conversations(env=event_store_env(settings, create_tables=True))  # parley db init
    setup.issue_token(name="bench", role="integration", token=token, actor="ops:bench")
    setup.close()
    headers = {"Authorization": f"Bearer {token}"}
    n = min(n, SERVED_MAX)
    with serving(environment(store), log, workers=WORKERS) as server:
        base = server.base
        sessions = [requests.Session() for _ in range(clients)]
        for session in sessions:
            session.headers.update(headers)
            session.get(base + "/healthz", timeout=10)  # connect before the clock starts
        ids: list[list[str]] = [[] for _ in range(clients)]

        def open_some(k: int) -> int:
            """Client k opens its share of the M conversations; answers its error count."""
            failed = 0
            for i in range(k, m, clients):
                response = sessions[k].post(base + "/v1/conversations", json=tweet(i), timeout=30)
                if response.status_code == 201:
                    ids[k].append(response.json()["id"])
                else:
                    failed += 1
            return failed

        def messages(k: int) -> int:
            """Client k sends its share of the N messages, to its own conversations only
            (so clients never race on one conversation)."""
            failed = 0
            mine = ids[k]
            for j, i in enumerate(range(k, n, clients)):
                url = f"{base}/v1/conversations/{mine[j % len(mine)]}/messages"
                response = sessions[k].post(url, json=follow_up(i), timeout=30)
                failed += response.status_code != 201
            return failed

        with ThreadPoolExecutor(clients) as pool:
            start = time.perf_counter()
            open_errors = sum(pool.map(open_some, range(clients)))
            opened = time.perf_counter() - start
            start = time.perf_counter()
            message_errors = sum(pool.map(messages, range(clients)))
            received = time.perf_counter() - start
        for session in sessions:
            session.close()
    return [
        Row(kind, path, "open", m, opened, open_errors),
        Row(kind, path, "message", n, received, message_errors),
    ]


# ---------------------------------------------------------------------------- report
CEILING_OF = {"open": "create", "message": "append", "create": "create", "append": "append"}
WHAT = {
    "create": "create + save a new one-event aggregate (library only)",
    "append": "one more event on an existing aggregate + save (library only)",
    "open": "a new tweet opens a conversation (customer + identity + conversation + index)",
    "message": "an inbound message on an existing conversation (MessageReceived + InboundIndex)",
}


def header(n: int, m: int, kinds: list[str]) -> str:
    lines = [
        f"# bench.ingest  {describe_machine(kinds)}",
        f"# N={n} messages per path (served: at most {SERVED_MAX}), M={m} conversations"
        f" (messages round-robin over them), one writer except threads{MANY} ({MANY} threads)"
        f" and served ({CLIENTS} clients; served{MANY}: {MANY}; {WORKERS} gunicorn workers);"
        " -solo: PARLEY_GROUP_COMMIT=no; each path on a fresh store; time.perf_counter",
    ]
    lines += [f"#   {op:<8} = {what}" for op, what in WHAT.items()]
    return "\n".join(lines)


def table(rows: list[Row]) -> str:
    ceiling = {(r.store, r.op): r.rate for r in rows if r.path == "raw"}
    out = [
        f"{'store':<9}{'path':<14}{'op':<9}{'ops':>6}{'seconds':>9}{'ops/s':>9}"
        f"{'x raw':>8}  {'errors':>6}"
    ]
    for r in rows:
        base = ceiling.get((r.store, CEILING_OF[r.op]))
        ratio = f"{r.rate / base:.2f}" if base else "-"
        out.append(
            f"{r.store:<9}{r.path:<14}{r.op:<9}{r.ops:>6}{r.seconds:>9.2f}{r.rate:>9.0f}"
            f"{ratio:>8}  {r.errors:>6}"
        )
    out += sealing_cost(rows)
    return "\n".join(out)


def sealing_cost(rows: list[Row]) -> list[str]:
    """What sealing personal fields costs the write path: service against plain, the
    median of each over the rounds (they alternate, so drift hits both alike)."""
    rates: dict[tuple[str, str, str], list[float]] = {}
    for r in rows:
        rates.setdefault((r.store, r.path, r.op), []).append(r.rate)
    rate = {k: statistics.median(v) for k, v in rates.items()}
    lines = []
    for store in dict.fromkeys(r.store for r in rows):
        costs = []
        for op in ("open", "message"):
            sealed, plain = rate.get((store, "service", op)), rate.get((store, "plain", op))
            if sealed and plain:
                costs.append(f"{op} {100 * (1 - sealed / plain):+.1f}%")
        if costs:
            lines.append(f"# {store}: sealing personal data costs (1 - service/plain) "
                         + ", ".join(costs) + " (goal: under 10%)")  # fmt: skip
    return lines


def run(kinds: list[str], n: int, m: int, rounds: int = 1) -> list[Row]:
    rows: list[Row] = []
    paths = ("raw-create", "raw-append", *("plain", "service") * rounds, "http",
             "threads", "threads-solo", "served", "served16", "served16-solo")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
        directory = Path(tmp)
        for kind in kinds:
            for round_, name in enumerate(paths):
                name_in_dir = f"{name}-{round_}"
                print(f"... {kind} {name}", file=sys.stderr, flush=True)
                with fresh_store(kind, directory, name_in_dir) as store:
                    if name.startswith("raw-"):
                        rows += bench_raw(kind, store, n, m, name.removeprefix("raw-"))
                    elif name in ("plain", "service"):
                        rows += bench_service(kind, store, n, m, seal=name == "service")
                    elif name == "http":
                        rows += bench_http(kind, store, n, m)
                    elif name.startswith("threads"):
                        rows += bench_threads(
                            kind, store, n, m, MANY, group_commit=name == "threads"
                        )
                    else:
                        log = directory / f"{kind}-{name}.log"
                        clients = MANY if name.startswith("served16") else CLIENTS
                        rows += bench_served(kind, store, n, m, log, clients,
                                             group_commit=not name.endswith("-solo"))  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--store", choices=[*KINDS, "both"], default="both")
    parser.add_argument("--n", type=int, default=2000, help="messages per path (default 2000)")
    parser.add_argument(
        "--conversations", type=int, default=None, help="M, pre-opened conversations (default N/10)"
    )
    parser.add_argument(
        "--rounds", type=int, default=1,
        help="plain and service paths this many times each, alternating (the sealing cost"
        " is the median's)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    kinds = list(KINDS) if args.store == "both" else [args.store]
    m = args.conversations or max(MANY, args.n // 10)
    started = time.perf_counter()
    rows = run(kinds, args.n, m, args.rounds)
    print(header(args.n, m, kinds))
    print(table(rows))
    print(f"# total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
