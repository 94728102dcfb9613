"""Loading a long conversation against a short one: what a conversation's length costs.

    python -m bench.loading [--store sqlite|postgres|both] [--loads 200] [--writes 20]

For each store, on a fresh store: one conversation of 10 events and one of 200 (opened
from a tweet, then customer messages through ``Conversations.receive_message``). Then,
in one process, two ``Conversations`` on that store: one as configured by default (it
keeps loaded conversations, ``domain.load_cache``), one with ``PARLEY_LOAD_CACHE_SIZE=0``
(every load reads and replays every event). Reads: ``get_conversation`` of each
conversation in turn, ``--loads`` times after a warm-up, on each. Writes: then
``--writes`` more messages to each conversation in turn (a load, a decision, an append:
what a command costs), on each; they lengthen both by ``--writes`` events.
The figure is the median of the long one over the median of the short one (goal: at most
2x), the ceiling the same process's short-conversation figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from uuid import UUID

from app.config import Settings, event_store_env
from bench.stores import KINDS, describe_machine, fresh_store
from domain.application import Conversations
from domain.values import Identity

SHORT, LONG = 10, 200  # events per conversation
LOADS, WRITES, WARM_UP = 200, 20, 10
ACTOR = "integration:bench"


@dataclasses.dataclass
class Pair:
    """Seconds per operation on the short and on the long conversation."""

    short: list[float] = dataclasses.field(default_factory=list)
    long: list[float] = dataclasses.field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.long) / statistics.median(self.short)

    def medians_ms(self) -> tuple[float, float]:
        return statistics.median(self.short) * 1000, statistics.median(self.long) * 1000


@dataclasses.dataclass
class Loads:
    store: str
    reads: Pair  # get_conversation, load cache on (the default)
    reads_uncached: Pair  # PARLEY_LOAD_CACHE_SIZE=0
    writes: Pair  # receive_message, load cache on
    writes_uncached: Pair

    @property
    def ratio(self) -> float:
        return self.reads.ratio


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


def bench_store(kind: str, directory: Path, loads: int = LOADS, writes: int = WRITES) -> Loads:
    with fresh_store(kind, directory, "loading") as store:
        settings = Settings.from_env(store)
        cached = Conversations(env=event_store_env(settings, create_tables=True))
        uncached = Conversations(
            env=event_store_env(dataclasses.replace(settings, load_cache_size=0))
        )
        try:
            short, long = conversation_of(cached, SHORT), conversation_of(cached, LONG)
            result = Loads(kind, Pair(), Pair(), Pair(), Pair())
            for app, pair in ((cached, result.reads), (uncached, result.reads_uncached)):
                for _ in range(WARM_UP):
                    app.get_conversation(short)
                    app.get_conversation(long)
                for _ in range(loads):
                    for cid, samples in ((short, pair.short), (long, pair.long)):
                        start = time.perf_counter()
                        app.get_conversation(cid)
                        samples.append(time.perf_counter() - start)
            for app, pair in ((cached, result.writes), (uncached, result.writes_uncached)):
                for _ in range(writes):
                    for cid, samples in ((short, pair.short), (long, pair.long)):
                        start = time.perf_counter()
                        app.receive_message(
                            cid, channel="x_public", body="hello?", actor=ACTOR,
                            external_id=uuid.uuid4().hex,
                        )  # fmt: skip
                        samples.append(time.perf_counter() - start)
            return result
        finally:
            uncached.close()
            cached.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.loading", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--store", choices=[*KINDS, "both"], default="both")
    parser.add_argument("--loads", type=int, default=LOADS)
    parser.add_argument("--writes", type=int, default=WRITES)
    args = parser.parse_args(argv)
    kinds = list(KINDS) if args.store == "both" else [args.store]
    print(f"# bench.loading  {describe_machine(kinds)}")
    print(f"{'store':<9}{'what':<24}{'10 events ms':>14}{'200 events ms':>15}{'ratio':>8}")
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
        for kind in kinds:
            r = bench_store(kind, Path(tmp), args.loads, args.writes)
            for what, pair in (
                ("read, cache on", r.reads), ("read, cache off", r.reads_uncached),
                ("write, cache on", r.writes), ("write, cache off", r.writes_uncached),
            ):  # fmt: skip
                short, long = pair.medians_ms()
                print(f"{kind:<9}{what:<24}{short:>14.2f}{long:>15.2f}{pair.ratio:>8.1f}")
    print("(medians; writes lengthen each conversation by --writes events)")


if __name__ == "__main__":
    main()
