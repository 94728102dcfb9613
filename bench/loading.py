"""Loading a long conversation against a short one: what a conversation's length costs.

    python -m bench.loading [--store sqlite|postgres|both] [--loads 200]

For each store, on a fresh store: one conversation of 10 events and one of 200 (opened
from a tweet, then customer messages through ``Conversations.receive_message``), then
``Conversations.get_conversation`` of each, in turn, ``--loads`` times after a warm-up.
The figure is the median load of the long one over the median load of the short one
(goal: at most 2x; without snapshots every event is read and replayed).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from app.config import Settings, event_store_env
from bench.stores import KINDS, describe_machine, fresh_store
from domain.application import Conversations
from domain.values import Identity

SHORT, LONG = 10, 200  # events per conversation
LOADS, WARM_UP = 200, 10
ACTOR = "integration:bench"


@dataclass
class Loads:
    store: str
    short: list[float]  # seconds per load
    long: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.long) / statistics.median(self.short)


def conversation_of(app: Conversations, events: int) -> UUID:
    """A conversation of exactly ``events`` events: opened, then customer messages."""
    opened = app.open_conversation(
        channel="x_public", body="@brand where is my order?", actor=ACTOR,
        identity=Identity("x", str(uuid.uuid4().int)[:18]), external_id=uuid.uuid4().hex,
    )  # fmt: skip
    have = app.get_conversation(opened.id).version
    for i in range(events - have):
        app.receive_message(
            opened.id, channel="x_public", body=f"any news? ({i})", external_id=uuid.uuid4().hex,
            actor=ACTOR,
        )  # fmt: skip
    if app.get_conversation(opened.id).version != events:
        raise RuntimeError(f"expected {events} events, got {app.get_conversation(opened.id)}")
    return opened.id


def bench_store(kind: str, directory: Path, loads: int = LOADS) -> Loads:
    with fresh_store(kind, directory, "loading") as store:
        app = Conversations(env=event_store_env(Settings.from_env(store), create_tables=True))
        try:
            short, long = conversation_of(app, SHORT), conversation_of(app, LONG)
            for _ in range(WARM_UP):
                app.get_conversation(short)
                app.get_conversation(long)
            result = Loads(kind, [], [])
            for _ in range(loads):
                for cid, samples in ((short, result.short), (long, result.long)):
                    start = time.perf_counter()
                    app.get_conversation(cid)
                    samples.append(time.perf_counter() - start)
            return result
        finally:
            app.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.loading", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--store", choices=[*KINDS, "both"], default="both")
    parser.add_argument("--loads", type=int, default=LOADS)
    args = parser.parse_args(argv)
    kinds = list(KINDS) if args.store == "both" else [args.store]
    print(f"# bench.loading  {describe_machine(kinds)}")
    print(f"{'store':<9}{'10 events ms':>14}{'200 events ms':>15}{'ratio':>8}  (medians)")
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
        for kind in kinds:
            r = bench_store(kind, Path(tmp), args.loads)
            short, long = statistics.median(r.short) * 1000, statistics.median(r.long) * 1000
            print(f"{kind:<9}{short:>14.2f}{long:>15.2f}{r.ratio:>8.1f}")


if __name__ == "__main__":
    main()
