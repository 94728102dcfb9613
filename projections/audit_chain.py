"""The audit chain: a hash chain over the event log, kept in its own table, and checked.

Each stored event (its position, aggregate, version, topic and the bytes the store holds)
has a content digest ``c = sha256(header + "\\n" + state)``; the chain links them in log
order, ``d(n) = sha256(d(n-1) + c(n))`` from :data:`GENESIS`. The digests cover the stored
bytes, so a value erased later by destroying its key (ciphertext left in place) keeps the
chain intact, while any change to a stored row, a row deleted, inserted or moved, shows.

A follower (:meth:`AuditChain.advance`) appends to the chain as the log grows, and every
so often records the head (position, digest; signed with ``PARLEY_AUDIT_SIGNING_KEY``
when one is set) in ``audit_heads``: a chain table rewritten to hide an edit no longer
matches the heads recorded before. :func:`verify` recomputes everything from the log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from projections.db import ReadStore

log = logging.getLogger("parley.audit")

GENESIS = "0" * 64
CHAIN = "audit_chain"
HEADS = "audit_heads"
PAGE = 1000


def content_digest(
    position: int, originator_id: Any, version: int, topic: str, state: bytes, salt: str = ""
) -> str:
    """The digest of one stored event: what the store holds for it, and where. The salt
    (random, per event, kept in the chain) makes the digest of an event withheld from a
    reader (a private note) impossible to test guesses against."""
    header = json.dumps([int(position), str(originator_id), int(version), topic])
    return hashlib.sha256(salt.encode() + header.encode() + b"\n" + bytes(state)).hexdigest()


def link(previous: str, content: str) -> str:
    return hashlib.sha256((previous + content).encode()).hexdigest()


def sign(key: str, position: int, digest: str) -> str:
    return hmac.new(key.encode(), f"{position}:{digest}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Stored:
    """A stored event as the recorder returns it (a notification)."""

    position: int
    originator_id: str
    version: int
    topic: str
    state: bytes
    notification: Any = None  # the recorder's own record, to decode

    def content(self, salt: str) -> str:
        return content_digest(
            self.position, self.originator_id, self.version, self.topic, self.state, salt
        )


def stored_events(recorder: Any, after: int = 0, page: int = PAGE) -> Iterator[Stored]:
    """Every stored event after ``after``, in log order, as the store holds it."""
    while True:
        notifications = recorder.select_notifications(
            start=after, limit=page, inclusive_of_start=False
        )
        for n in notifications:
            yield Stored(
                n.id, str(n.originator_id), n.originator_version, n.topic, bytes(n.state), n
            )
        if len(notifications) < page:
            return
        after = notifications[-1].id


@dataclass(frozen=True)
class Finding:
    kind: str  # altered, missing, inserted, reordered, chain_altered, head_mismatch
    position: int
    detail: str


class AuditChain:
    """The chain's tables in the read store, and the follower step that extends them."""

    def __init__(self, store: ReadStore, signing_key: str = "") -> None:
        self.store = store
        self.signing_key = signing_key
        with store.transaction(lock_key=CHAIN) as tx:
            tx.run(
                f"CREATE TABLE IF NOT EXISTS {CHAIN} (position BIGINT NOT NULL PRIMARY KEY,"
                " originator_id TEXT NOT NULL, version INTEGER NOT NULL, salt TEXT NOT NULL,"
                " content TEXT NOT NULL, digest TEXT NOT NULL)"
            )
            tx.run(
                f"CREATE TABLE IF NOT EXISTS {HEADS} (position BIGINT NOT NULL PRIMARY KEY,"
                " digest TEXT NOT NULL, recorded_at TEXT NOT NULL, signature TEXT)"
            )

    def head(self) -> tuple[int, str]:
        rows = self.store.query(
            f"SELECT position, digest FROM {CHAIN} ORDER BY position DESC LIMIT 1"
        )
        return (int(rows[0]["position"]), rows[0]["digest"]) if rows else (0, GENESIS)

    def advance(self, recorder: Any, limit: int = PAGE) -> int:
        """Chain the next events of the log (at most ``limit``); how many were chained."""
        with self.store.transaction(lock_key=CHAIN) as tx:
            rows = tx.all(f"SELECT position, digest FROM {CHAIN} ORDER BY position DESC LIMIT 1")
            position, digest = (
                (int(rows[0]["position"]), rows[0]["digest"]) if rows else (0, GENESIS)
            )
            chained = []
            for stored in stored_events(recorder, position, page=limit):
                salt = secrets.token_hex(16)
                content = stored.content(salt)
                digest = link(digest, content)
                chained.append(
                    [stored.position, stored.originator_id, stored.version, salt, content,
                     digest]
                )  # fmt: skip
                if len(chained) >= limit:
                    break
            tx.insert_many(
                f"INSERT INTO {CHAIN} (position, originator_id, version, salt, content, digest)",
                chained,
            )
        return len(chained)

    def catch_up(self, recorder: Any) -> int:
        """Chain everything the log holds now (an export covers the whole log)."""
        chained = 0
        while moved := self.advance(recorder):
            chained += moved
        return chained

    def record_head(self) -> tuple[int, str] | None:
        """Keep the chain's head (signed, with a key) unless it is recorded already."""
        position, digest = self.head()
        if position == 0:
            return None
        signature = sign(self.signing_key, position, digest) if self.signing_key else None
        now = datetime.now(UTC).isoformat()
        with self.store.transaction(lock_key=CHAIN) as tx:
            tx.run(
                f"INSERT INTO {HEADS} (position, digest, recorded_at, signature)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (position) DO NOTHING",
                [position, digest, now, signature],
            )
        # The same head in the log stream, which is shipped off this database: someone
        # able to rewrite the chain and its table of heads cannot rewrite those lines.
        log.info(json.dumps({"audit_head": {"position": position, "digest": digest,
                                            "recorded_at": now, "signature": signature}}))  # fmt: skip
        return position, digest

    def rows(self) -> Iterator[dict[str, Any]]:
        after = 0
        while True:
            page = self.store.query(
                f"SELECT * FROM {CHAIN} WHERE position > ? ORDER BY position LIMIT ?",
                [after, PAGE],
            )
            yield from page
            if len(page) < PAGE:
                return
            after = int(page[-1]["position"])

    def heads(self) -> list[dict[str, Any]]:
        return self.store.query(f"SELECT * FROM {HEADS} ORDER BY position")


def verify(chain: AuditChain, recorder: Any, limit: int = 20) -> tuple[list[Finding], int, int]:
    """Recompute the chain from the log and compare: the findings (first first, at most
    ``limit``), how many events were checked, and how many are not chained yet."""
    chained = {int(r["position"]): r for r in chain.rows()}
    by_key = {(r["originator_id"], int(r["version"])): p for p, r in chained.items()}
    head = max(chained, default=0)
    findings: list[Finding] = []
    checked = unchained = 0
    seen: set[int] = set()
    digest = GENESIS
    for position, entry in sorted(chained.items()):  # the chain table is itself a chain
        digest = link(digest, entry["content"])
        if digest != entry["digest"]:
            findings.append(Finding("chain_altered", position, "the chain's own digest does "
                                    "not follow from the one before: the chain table was edited"))  # fmt: skip
            break
    for stored in stored_events(recorder):
        if stored.position > head:
            unchained += 1
            continue
        seen.add(stored.position)
        checked += 1
        row = chained.get(stored.position)
        where = f"{stored.originator_id} v{stored.version} ({stored.topic})"
        if row is None:
            findings.append(Finding("inserted", stored.position, f"{where} is not in the chain"))
        elif stored.content(row["salt"]) != row["content"]:
            other = by_key.get((stored.originator_id, stored.version))
            if other is not None and other != stored.position:
                findings.append(Finding("reordered", stored.position,
                                        f"{where} was chained at position {other}"))  # fmt: skip
            elif other is None:
                findings.append(Finding("altered", stored.position, f"{where} stands where "
                                        f"{row['originator_id']} v{row['version']} was chained"))  # fmt: skip
            else:
                findings.append(Finding("altered", stored.position,
                                        f"{where}: its stored bytes differ from those chained"))  # fmt: skip
    for position in sorted(set(chained) - seen):
        row = chained[position]
        findings.append(Finding("missing", position, f"{row['originator_id']} v{row['version']} "
                                "was chained here and is gone from the log"))  # fmt: skip
    for recorded in chain.heads():
        position = int(recorded["position"])
        if position > head:
            continue  # recorded after the chain was read: a later verify checks it
        at = chained.get(position)
        if at is None or at["digest"] != recorded["digest"]:
            findings.append(Finding("head_mismatch", position, "the chain no longer has the "
                                    "head recorded at " + str(recorded["recorded_at"])))  # fmt: skip
        elif chain.signing_key and recorded["signature"] != sign(
            chain.signing_key, position, recorded["digest"]
        ):
            findings.append(Finding("head_mismatch", position, "the recorded head's signature "
                                    "does not verify with PARLEY_AUDIT_SIGNING_KEY"))  # fmt: skip
    if head and not any(int(r["position"]) <= head for r in chain.heads()):
        findings.append(Finding("unanchored", head, "no head of the chain was ever recorded: "
                                "a rewritten chain, or a cut tail, could not be told"))  # fmt: skip
    findings.sort(key=lambda f: f.position)
    return findings[:limit], checked, unchained
