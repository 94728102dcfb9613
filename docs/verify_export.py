#!/usr/bin/env python3
"""Verify a Parley audit export offline, with nothing but Python's standard library.

    python3 verify_export.py export.ndjson [--key OPERATOR_KEY]

Recomputes, line by line: each event's content digest from its stored bytes, and each
chain digest from the one before it (from the genesis), up to the head; checks that each
event's readable form (``event``) says what its stored bytes say, and that the heads the
chain's follower recorded are on the chain (and, with ``--key``, that their signatures
verify). Personal fields are stored sealed (AES-GCM, which the standard library cannot
open): the chain proves their ciphertext, and with ``--key`` the export's ``vouched``
HMAC proves what its readable form says they hold. Exit status 0 when everything holds;
1 with the first problem.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
import uuid
from datetime import datetime

# Events a reader may get without their stored bytes (a private note's body is withheld):
# their digests link the chain, but what they say cannot be checked.
WITHHELD_TOPICS = {"parley.Conversation.NoteAdded"}


def content_digest(line: dict) -> str:
    header = json.dumps(
        [int(line["position"]), str(line["originator_id"]), int(line["version"]), line["topic"]]
    )
    state = base64.b64decode(line["state"], validate=True)
    salt = str(line.get("salt") or "")
    return hashlib.sha256(salt.encode() + header.encode() + b"\n" + state).hexdigest()


def plain(value: object) -> object:
    """A stored value as the readable form writes it: the store's typed values
    ({"_type_": "uuid_hex", "_data_": ...}) as strings, times in ISO 8601."""
    if isinstance(value, dict):
        if set(value) == {"_type_", "_data_"}:
            kind, data = value["_type_"], value["_data_"]
            if kind == "uuid_hex":
                return str(uuid.UUID(str(data)))
            if kind == "datetime_iso":
                return datetime.fromisoformat(str(data)).isoformat()
            return plain(data)
        return {k: plain(x) for k, x in value.items()}
    if isinstance(value, list):
        return [plain(x) for x in value]
    return value


SEALED = "\x00sealed"  # a sealed personal field's place in the stored bytes


def says(stored: object, shown: object) -> bool:
    """Whether the readable value is what the stored one says. A sealed personal field
    (its value is in ``_sealed_fields_``: ciphertext under its customer's key) cannot be
    opened offline: its bytes are covered by the chain, its readable value is taken as
    shown (and vouched for with ``--key``)."""
    if stored == SEALED:
        return True
    if isinstance(stored, dict) and set(stored) != {"_type_", "_data_"}:
        return (
            isinstance(shown, dict)
            and set(stored) == set(shown)
            and all(says(x, shown[k]) for k, x in stored.items())
        )
    if isinstance(stored, list):
        return (
            isinstance(shown, list)
            and len(stored) == len(shown)
            and all(says(x, y) for x, y in zip(stored, shown, strict=True))
        )
    return plain(stored) == shown


def is_sealed(line: dict) -> bool:
    """Whether the event's stored bytes hold sealed personal fields."""
    return b'"_sealed_fields_"' in base64.b64decode(line["state"])


def readable_differs(line: dict) -> str | None:
    """The first field of the readable event that its stored bytes do not say."""
    state = json.loads(base64.b64decode(line["state"]))
    event = line.get("event") or {}
    said = {"topic": line["topic"], "type": line["topic"].rsplit(".", 1)[-1],
            "aggregate_id": line["originator_id"], "version": line["version"],
            "position": line["position"]}  # fmt: skip
    for name, expected in said.items():
        if name in event and str(event[name]) != str(expected):
            return name
    if set(said) - {"position"} - set(event):
        return "the event's type, topic, id or version (absent)"
    withheld = set(event.get("redacted") or [])
    for name, shown in (event.get("data") or {}).items():
        if name in withheld and shown is None:
            continue
        if not says(state.get(name), shown):
            return name
    for name in ("timestamp", "actor"):
        if name in event and plain(state.get(name)) != event[name]:
            return name
    return None


def verify(lines: list[dict], key: str | None) -> str | None:
    """The first problem, or None."""
    if not lines or lines[0].get("kind") != "header":
        return "line 1 is not an export header"
    previous, position, digests = lines[0]["genesis"], 0, {}
    for number, line in enumerate(lines[1:], start=2):
        kind = line.get("kind")
        if kind == "missing":
            return f"position {line['position']} was chained and is gone from the log"
        if kind == "head":
            if (line["position"], line["digest"]) != (position, previous):
                return f"line {number}: the head is not where the chain ends"
            heads = line.get("recorded_heads") or []
            if key is not None and not heads:
                return "no signed head: the chain's end cannot be authenticated"
            for head in heads:
                if digests.get(int(head["position"])) != head["digest"]:
                    return f"recorded head at position {head['position']} is not on the chain"
                if key is not None:
                    expected = hmac.new(
                        key.encode(), f"{head['position']}:{head['digest']}".encode(),
                        hashlib.sha256,
                    ).hexdigest()  # fmt: skip
                    if not hmac.compare_digest(expected, head.get("signature") or ""):
                        return f"recorded head at position {head['position']}: bad signature"
            return None
        if kind not in ("event", "link"):
            return f"line {number}: unknown kind {kind!r}"
        if kind == "event" and line.get("state") is None and line["topic"] not in WITHHELD_TOPICS:
            return (
                f"line {number}: the event at position {line['position']} comes without its bytes"
            )
        if int(line["position"]) <= position:
            return f"line {number}: position {line['position']} is out of order"
        whole = kind == "event" and line.get("state") is not None  # else withheld: a link
        if whole and content_digest(line) != line["content"]:
            return f"line {number}: the event at position {line['position']} was altered"
        if whole and (field := readable_differs(line)) is not None:
            return (
                f"line {number}: the readable event at position {line['position']} "
                f"does not say what its stored bytes say ({field})"
            )
        if whole and key is not None and is_sealed(line):
            canonical = json.dumps(line["event"], sort_keys=True, separators=(",", ":"),
                                   ensure_ascii=False)  # fmt: skip
            expected = hmac.new(key.encode(), f"{line['position']}:{canonical}".encode(),
                                hashlib.sha256).hexdigest()  # fmt: skip
            if not hmac.compare_digest(expected, line.get("vouched") or ""):
                return (
                    f"line {number}: the readable personal fields at position "
                    f"{line['position']} are not what the operator key vouched for"
                )
        digest = hashlib.sha256((previous + line["content"]).encode()).hexdigest()
        if digest != line["digest"]:
            return f"line {number}: the chain breaks at position {line['position']}"
        previous, position = digest, int(line["position"])
        digests[position] = digest
    return "the export has no head line: it was cut short"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export")
    parser.add_argument("--key", help="the operator key that signed the recorded heads")
    args = parser.parse_args()
    try:
        with open(args.export, encoding="utf-8") as file:
            lines = [json.loads(text) for text in file if text.strip()]
        problem = verify(lines, args.key)
    except (OSError, ValueError, KeyError, TypeError) as error:
        problem = f"unreadable export: {error}"
    if problem is not None:
        print(f"FAILED: {problem}")
        return 1
    events = sum(1 for line in lines if line.get("kind") == "event" and line.get("state"))
    withheld = sum(1 for line in lines if line.get("kind") == "event" and not line.get("state"))
    head = lines[-1]
    signed = max((int(h["position"]) for h in head.get("recorded_heads") or []), default=0)
    after = sum(1 for line in lines[1:-1] if int(line["position"]) > signed)
    sealed = sum(1 for line in lines if line.get("kind") == "event" and line.get("state")
                 and is_sealed(line))  # fmt: skip
    print(f"OK: {events} events, chain intact up to position {head['position']}"
          + (f"; {withheld} withheld (digests only)" if withheld else "")
          + (f"; {sealed} with sealed personal fields, their readable form"
             + (" vouched for by the key" if args.key else " unchecked (give --key)")
             if sealed else "")
          + (f"; heads signed up to position {signed} ({after} positions after it)"
             if args.key else ""))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
