"""An export of the log with its chain, as NDJSON, that an auditor verifies offline.

Line by line: a ``header``; then, for every chained position in order, either an
``event`` (the stored bytes, base64, with their content digest and chain digest, and the
event as the API describes it; without the bytes when fields of it are withheld from the
reader, such as a private note's body) or a ``link`` (only the two digests: a position outside
the filter, or an event withheld from the reader); last, the ``head`` with the heads
recorded (and signed) by the chain's follower. Every digest can be recomputed from the
lines alone (``docs/verify_export.py``, standard library only): an event's content
from its bytes, each chain digest from the one before, up to the head.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from domain.values import plain
from projections.audit_chain import GENESIS, AuditChain, Stored, stored_events

FORMAT = "parley-audit-export/1"


@dataclass(frozen=True)
class ExportFilter:
    """Which events an export carries whole; the others are links. Empty: all of them."""

    aggregates: frozenset[str] | None = None  # originator ids (a case, a customer and theirs)
    start: datetime | None = None
    end: datetime | None = None
    described: dict[str, Any] = field(default_factory=dict)  # the filter as asked for

    def takes(self, stored: Stored, timestamp: datetime | None) -> bool:
        if self.aggregates is not None and stored.originator_id not in self.aggregates:
            return False
        if timestamp is not None and self.start is not None and timestamp < self.start:
            return False
        return not (timestamp is not None and self.end is not None and timestamp >= self.end)


def export_lines(
    chain: AuditChain,
    recorder: Any,
    decode: Callable[[Any], Any],
    describe: Callable[[Any, int], dict[str, Any]],
    selected: ExportFilter,
    progress: Callable[[int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """The export's lines. ``describe(event, position)`` is the event as the reader may
    see it; one with fields ``redacted`` comes without its stored bytes (``state``:
    null), which would show them: its digests still link the chain."""
    yield {
        "kind": "header", "format": FORMAT, "genesis": GENESIS, "filter": selected.described,
        "exported_at": datetime.now(UTC).isoformat(),
    }  # fmt: skip
    chained = chain.rows()
    row = next(chained, None)
    head: dict[str, Any] = {"position": 0, "digest": GENESIS}
    for stored in stored_events(recorder):
        while row is not None and int(row["position"]) < stored.position:
            yield _link(row, "missing")  # chained, and gone from the log: the verifier fails
            row = next(chained, None)
        if row is None:
            break  # the rest of the log is not chained yet
        if int(row["position"]) > stored.position:
            continue  # not chained (inserted later?): `parley audit verify` names it
        head = {"position": stored.position, "digest": row["digest"]}
        event = decode(stored.notification)
        if selected.takes(stored, getattr(event, "timestamp", None)):
            described = describe(event, stored.position)
            withheld = bool(described.get("redacted"))
            line = {
                "kind": "event", "position": stored.position,
                "originator_id": stored.originator_id, "version": stored.version,
                "topic": stored.topic,
                "state": None if withheld else base64.b64encode(stored.state).decode(),
                "salt": None if withheld else row["salt"],
                "content": row["content"], "digest": row["digest"], "event": described,
            }  # fmt: skip
            if chain.signing_key and not withheld and SEALED_MARK in stored.state:
                line["vouched"] = vouch(chain.signing_key, stored.position, described)
            yield line
        else:
            yield _link(row)
        row = next(chained, None)
        if progress is not None:
            progress(stored.position)
    heads = [h for h in chain.heads() if int(h["position"]) <= head["position"]]
    yield {"kind": "head", **head, "recorded_heads": heads}


SEALED_MARK = b'"_sealed_fields_"'  # in the stored bytes of an event with sealed fields


def vouch(key: str, position: int, described: dict[str, Any]) -> str:
    """The operator key's word for an event's readable form. Its sealed personal fields
    cannot be opened offline (the standard library has no AES), so the chain proves
    their ciphertext and this proves what the export says they hold."""
    canonical = json.dumps(plain(described), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)  # fmt: skip
    return hmac.new(key.encode(), f"{position}:{canonical}".encode(), hashlib.sha256).hexdigest()


def _link(row: dict[str, Any], kind: str = "link") -> dict[str, Any]:
    return {"kind": kind, "position": int(row["position"]), "content": row["content"],
            "digest": row["digest"]}  # fmt: skip


def aggregates_of_customer(app: Any, customer_id: UUID) -> frozenset[str]:
    """A customer's own records (and those merged into it) and their conversations."""
    customer = app.customer_of(customer_id)
    ids = {str(customer.id), *(str(a) for a in customer.absorbed)}
    ids |= {str(c) for c in app.cases_of(customer)}
    return frozenset(ids)
