"""Delivery and inbound throughput on X, end to end, against the X stand-in.

    python -m bench.deliveries [--store sqlite|postgres|both] [--n 300]

For each store, in one run, on a fresh store and a Redis database of its own:

* rq no-op     RQ's own ceiling: N jobs that do nothing, enqueued and run by one
               ``SimpleWorker`` (the worker class the delivery figures use)
* deliver      N replies queued through the API (Flask app in-process, agent token),
               then the outbox and one ``SimpleWorker`` until every reply is
               ``ReplyDelivered`` on the stand-in (a real HTTP server speaking X's API
               v2, signed with OAuth 1.0a, reached through tweepy): replies per second,
               and the latency from ``ReplyQueued`` to ``ReplyDelivered`` (p50/p99, from
               the events' own timestamps)
* webhook      one signed Account Activity delivery of N tweets to ``POST /webhooks/x``
* poll         one mentions poll of N tweets (pages of 100) by ``XPoller``

The stand-in runs as its own process (``python -m tests.support.x_standin``), so this
module imports nothing from the tests. Figures print as a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from bench.channels import free_port, latency_figure, percentile, redis_url, rig, rq_noop
from bench.stores import KINDS, describe_machine, fresh_store
from domain.values import Identity
from workers.polling import Cursors, XPoller

ROOT = Path(__file__).resolve().parents[1]
SECRET, TOKEN_SECRET, BRAND = "bench-secret", "bench-token", "1700000000000000001"
REDIS_DB = 14


@contextmanager
def standin() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.x_standin", "--port", str(port),
         "--consumer-secret", SECRET, "--access-token-secret", TOKEN_SECRET],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(url + "/_standin/state", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def settings_for(store: dict[str, str], x_url: str) -> dict[str, str]:
    return {
        **store, "PARLEY_CREATE_TABLES": "y", "PARLEY_REDIS_URL": redis_url(REDIS_DB),
        "PARLEY_X_API_BASE_URL": x_url, "PARLEY_X_CONSUMER_KEY": "k",
        "PARLEY_X_CONSUMER_SECRET": SECRET, "PARLEY_X_ACCESS_TOKEN": f"{BRAND}-t",
        "PARLEY_X_ACCESS_TOKEN_SECRET": TOKEN_SECRET, "PARLEY_X_BRAND_USER_ID": BRAND,
    }  # fmt: skip


def run_store(kind: str, n: int, directory: Path) -> list[tuple[str, str, str]]:
    return measure(kind, n, directory)[0]


def measure(
    kind: str, n: int, directory: Path
) -> tuple[list[tuple[str, str, str]], dict[str, float]]:
    """The rows as printed, and the same figures as numbers (for ``python -m bench``)."""
    rows: list[tuple[str, str, str]] = []
    figures: dict[str, float] = {}
    with (
        standin() as x_url,
        fresh_store(kind, directory, "deliveries") as store,
        rig(settings_for(store, x_url)) as bench,
    ):
        ctx, client = bench.ctx, bench.client
        figures["rq_noop"] = rq_noop(bench.connection, n)
        rows.append((kind, "rq no-op", f"{figures['rq_noop']:,.0f} jobs/s"))

        headers = bench.headers("agent")
        cases = []
        for i in range(n):
            tweet = requests.post(x_url + "/_standin/tweets", timeout=5, json={
                "author_id": str(3_000_000 + i), "username": f"c{i}", "text": f"@brand help {i}",
            }).json()  # fmt: skip
            opened = ctx.application.open_conversation(
                channel="x_public", body=tweet["text"], actor="integration:bench",
                identity=Identity("x", tweet["author_id"]), external_id=tweet["id"],
            )  # fmt: skip
            cases.append(opened.id)
        bench.box.run_once()

        started = time.perf_counter()
        for i, cid in enumerate(cases):
            answer = client.post(
                f"/v1/conversations/{cid}/replies", json={"body": f"On it ({i})"}, headers=headers
            )
            assert answer.status_code == 202, answer.get_json()
        bench.drain(
            lambda: len(requests.get(x_url + "/_standin/state", timeout=5).json()["tweets"]) >= n
        )
        elapsed = time.perf_counter() - started
        latencies = bench.latencies(cases)
        figures.update(deliver=n / elapsed, delivered=len(latencies))
        if latencies:
            figures.update(latency_p50=percentile(latencies, 0.5),
                           latency_p99=percentile(latencies, 0.99))  # fmt: skip
        rows.append((kind, "deliver", f"{n / elapsed:,.0f} replies/s, {latency_figure(latencies)}"))

        events = [
            {"id_str": str(9_000_000 + i), "text": f"@brand again {i}",
             "user": {"id_str": str(4_000_000 + i), "screen_name": f"w{i}"}}
            for i in range(n)
        ]  # fmt: skip
        body = json.dumps({"for_user_id": BRAND, "tweet_create_events": events}).encode()
        signature = (
            "sha256="
            + base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        )
        started = time.perf_counter()
        answer = client.post("/webhooks/x", data=body, headers={
            "Content-Type": "application/json", "x-twitter-webhooks-signature": signature})  # fmt: skip
        webhook = time.perf_counter() - started
        assert answer.get_json()["recorded"] == n, answer.get_json()
        figures["webhook"] = n / webhook
        rows.append((kind, "webhook", f"{n / webhook:,.0f} tweets/s (one delivery of {n})"))

        for i in range(n):
            requests.post(x_url + "/_standin/tweets", timeout=5, json={
                "author_id": str(5_000_000 + i), "username": f"p{i}", "text": f"@brand poll {i}",
            })  # fmt: skip
        poller = XPoller(ctx.application, ctx.x_client, Cursors(ctx.read_store), BRAND)
        started = time.perf_counter()
        recorded = poller.mentions()
        poll = time.perf_counter() - started
        figures["poll"] = recorded / poll
        rows.append(
            (kind, "poll", f"{recorded / poll:,.0f} tweets/s ({recorded} new, pages of 100)")
        )
    return rows, figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=[*KINDS, "both"], default="both")
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args(argv)
    kinds = KINDS if args.store == "both" else (args.store,)
    print(describe_machine(kinds), file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for kind in kinds:
            rows += run_store(kind, args.n, Path(directory) / uuid.uuid4().hex)
    for store, path, figure in rows:
        print(f"{store:9} {path:9} {figure}")


if __name__ == "__main__":
    main()
