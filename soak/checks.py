"""After the load: drain, then check the log, the channels and the read models."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import requests

from soak.deployment import Deployment
from soak.load import Record

LOAD_AGGREGATES = {"Conversation", "Customer"}  # what the load's writes are about
OUTCOMES = {"ReplyDelivered", "ReplyDeliveryFailed", "ReplyBounced"}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    notes: list[str]


def _get(deployment: Deployment, path: str, role: str = "supervisor") -> Any:
    headers = {"Authorization": f"Bearer {deployment.tokens[role]}"}
    for _ in range(60):
        for base in deployment.bases:
            try:
                response = requests.get(base + path, headers=headers, timeout=30)
            except requests.RequestException:
                continue
            if response.status_code == 200:
                return response.json()
        time.sleep(0.5)
    raise RuntimeError(f"GET {path}: no answer")


def global_log(deployment: Deployment, after: int = 0) -> list[dict[str, Any]]:
    return log_since(deployment, after)[0]


def log_since(deployment: Deployment, after: int) -> tuple[list[dict[str, Any]], int]:
    """The log's events after ``after``, and the position to read on from next time."""
    events: list[dict[str, Any]] = []
    while True:
        page = _get(deployment, f"/v1/events?after={after}&limit=500")
        events += page["items"]
        if events:
            after = max(after, int(events[-1]["position"]))
        if page["next_cursor"] is None:
            return events, after
        after = page["next_cursor"]


def _final_reply_states(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """reply id -> {channel, queued, outcome event type, data}; from the log alone."""
    replies: dict[str, dict[str, Any]] = {}
    for e in events:
        data, kind = e.get("data") or {}, e["type"]
        if kind == "ReplyQueued":
            replies[data["reply_id"]] = {"channel": data["channel"], "outcome": None, "data": {}}
        elif kind in OUTCOMES and data.get("reply_id") in replies:
            state = replies[data["reply_id"]]
            if kind == "ReplyDeliveryFailed" and data.get("retryable"):
                state["pending_retry"] = data
                continue
            state.update(outcome=kind, data=data)
            state.pop("pending_retry", None)
        elif kind == "RedeliveryRequested" and data.get("reply_id") in replies:
            replies[data["reply_id"]].update(outcome=None)
    return replies


STALL_SECONDS = 120.0  # the drain gives up when no reply got an outcome for this long


def drain(deployment: Deployment, record: Record, after: int, timeout: float) -> float:
    """Wait until every reply has an outcome and the read models caught up; seconds taken.

    It reads the log once, then only what is new (re-reading it whole each time would
    compete with the workers it waits for), and stops early when the replies without an
    outcome stop getting fewer for :data:`STALL_SECONDS`: stuck, not slow.
    """
    began = time.monotonic()
    worker_channels = {"x_public", "x_dm", "email"}
    events: list[dict[str, Any]] = []
    cursor, fewest, moved = after, None, began
    while time.monotonic() - began < timeout:
        new, cursor = log_since(deployment, cursor)
        events += new
        states = _final_reply_states(events)
        open_ = [r for r in states.values() if r["channel"] in worker_channels and not r["outcome"]]
        if not open_:
            break
        if fewest is None or len(open_) < fewest:
            fewest, moved = len(open_), time.monotonic()
        elif time.monotonic() - moved > STALL_SECONDS:
            break
        time.sleep(5)
    while time.monotonic() - began < timeout:
        rows = _get(deployment, "/v1/ops/projections", role="ops")
        items = rows.get("items", rows) if isinstance(rows, dict) else rows
        if all(int(r.get("lag") or 0) == 0 for r in items):
            break
        time.sleep(1)
    return time.monotonic() - began


def _writes(record: Record, events: list[dict[str, Any]]) -> list[Check]:
    at = {(e["aggregate_id"], e["version"]): e for e in events}
    by_position = {e["position"]: e for e in events}
    answered, missing = set(), []
    for a in record.answers:
        body = a.body
        if "version" not in body or body.get("id") is None:
            continue
        if a.op.startswith("open") and body.get("created") is False:
            continue
        if not a.replayed and body.get("position") is None:
            continue  # changed nothing
        key = (str(body["id"]), int(body["version"]))
        if key not in at:
            missing.append(f"{a.op} {key} (key {a.key})")
        answered.add(key)
    contacts = {c.external_id for c in record.contacts}

    def contact(e: dict[str, Any]) -> bool:
        ext = (e.get("data") or {}).get("external_id")
        return ext is not None and (ext in contacts or f"<{ext}>" in contacts)

    accounted: set[int] = set()
    for key in answered:
        if key in at:
            accounted.add(at[key]["position"])
    # An inbound contact's events (the load delivered it: a webhook's answer names no
    # version) are accounted for, and so is the rest of their save (the customer made).
    accounted |= {e["position"] for e in events if contact(e)}
    for p in sorted(accounted):  # the other events of one save: consecutive, one actor
        actor = by_position[p]["actor"]
        for step in (-1, 1):
            q = p + step
            while q in by_position and q not in accounted and by_position[q]["actor"] == actor:
                accounted.add(q)
                q += step
    strays = []
    for e in events:
        if e["actor"].startswith("system:") or e["position"] in accounted:
            continue
        if e.get("aggregate") not in LOAD_AGGREGATES:
            continue  # bookkeeping beside a write (idempotency claims, natural-key indexes)
        strays.append(
            f"{e['position']} {e['type']} {e['aggregate_id']} v{e['version']} {e['actor']}"
        )
    lost_commits = [
        f"{a.op} {a.body.get('id')} v{a.body.get('version')} after {a.lost_before} unanswered"
        for a in record.answers
        if a.replayed and a.lost_before > 0
    ]
    bad_replays = [
        f"{first.op}: {first.body} then {again.body} (replayed header {again.replayed})"
        for first, again in record.replays
        if not _same_answer(first.body, again.body, again.replayed)
    ]
    unanswered = [f"{op} (key {key})" for op, key in record.lost]
    refused = [f"{op}: {status} {text}" for op, status, text in record.refused]
    return [
        Check("writes answered 2xx are in the log", not missing,
              f"{len(answered)} writes; {len(missing)} missing", missing[:10]),
        Check("no event the load was not answered for", not strays,
              f"{len(strays)} strays; {len(lost_commits)} committed while their answer was lost",
              strays[:10] + lost_commits[:10]),
        Check("Idempotency-Key retries add nothing", not bad_replays,
              f"{len(record.replays)} deliberate retries replayed", bad_replays[:10]),
        Check("every write answered in the end", not unanswered and not refused,
              f"{len(unanswered)} never answered; {len(refused)} refused unexpectedly",
              (unanswered + refused)[:10]),
    ]  # fmt: skip


def _same_answer(first: dict[str, Any], again: dict[str, Any], replayed: bool) -> bool:
    if "conversation_id" in first:  # POST /webhooks/email: deduplicated by Message-ID
        return again.get("conversation_id") == first.get("conversation_id") and (
            replayed or again.get("result") == "seen"
        )
    return replayed and (again.get("id"), again.get("version")) == (
        first.get("id"), first.get("version"),
    )  # fmt: skip


def _replies(deployment: Deployment, events: list[dict[str, Any]]) -> Check:
    state = requests.get(deployment.x_base + "/_standin/state", timeout=10).json()
    queued = {e["data"]["reply_id"]: e["data"] for e in events if e["type"] == "ReplyQueued"}
    tweets = Counter(t["text"] for t in state["tweets"])
    dms = Counter(d["text"] for d in state["dms"])
    assert deployment.sink is not None
    mails = Counter(str(m.headers.get("Message-ID", "")) for m in deployment.sink.messages)
    notes, delivered, failed, resent = [], 0, Counter[str](), 0
    ok = True
    for reply_id, r in _final_reply_states(events).items():
        channel, body = r["channel"], queued[reply_id]["body"]
        if channel == "x_public":
            seen = sum(n for text, n in tweets.items() if text.endswith(body))
        elif channel == "x_dm":
            seen = dms[body]
        elif channel == "email":
            seen = sum(n for mid, n in mails.items() if f"reply-{reply_id}@" in mid)
        else:
            continue  # chat, phone, api: delivered by the integration, not by a worker
        if r["outcome"] == "ReplyDelivered":
            delivered += 1
            if channel == "email" and seen > 1:
                resent += 1  # documented: the same Message-ID again (docs/operations.md)
                notes.append(f"{reply_id} e-mail sent {seen} times, one Message-ID")
            elif seen != 1:
                ok = False
                notes.append(f"{reply_id} {channel} delivered, on the channel {seen} times")
        elif r["outcome"] in ("ReplyDeliveryFailed", "ReplyBounced"):
            failed[str(r["data"].get("code") or r["data"].get("failure_code"))] += 1
            if seen > 0 and channel != "email":
                ok = False
                notes.append(f"{reply_id} {channel} recorded failed but posted {seen} times")
        else:
            ok = False
            why = "queued"
            if "pending_retry" in r:
                due = r["pending_retry"]
                why = f"retry due {due.get('retry_at')} after {due.get('code')}"
            notes.append(f"{reply_id} {channel} stuck ({why})")
    detail = f"{delivered} delivered once, failed {dict(failed) or 0}, {resent} mails resent"
    return Check("every reply reached its channel once (or failed)", ok, detail, notes[:15])


def _inbound(record: Record, events: list[dict[str, Any]]) -> Check:
    seen = Counter(
        str((e.get("data") or {}).get("external_id"))
        for e in events
        if e["type"] in ("Opened", "MessageReceived", "CustomerMessageReceived")
    )
    notes = []
    for c in record.contacts:
        n = seen[c.external_id] + (seen[c.external_id.strip("<>")] if c.channel == "email" else 0)
        if n != 1:
            notes.append(f"{c.channel} {c.external_id} delivered {c.deliveries}x, recorded {n}x")
    twice = sum(1 for c in record.contacts if c.deliveries > 1)
    return Check("every inbound contact recorded once", not notes,
                 f"{len(record.contacts)} contacts ({twice} delivered twice)", notes[:10])  # fmt: skip


def _projections(deployment: Deployment) -> Check:
    notes, ok = [], True
    for name in ("inbox", "sla", "history", "deliveries"):
        done = deployment.parley("projections", "verify", name)
        if done.returncode != 0:
            ok = False
            notes.append(f"{name}: {(done.stderr or done.stdout).strip()[-400:]}")
    return Check("every read model equals a rebuild", ok, "inbox, sla, history, deliveries", notes)


def _audit(deployment: Deployment) -> Check:
    """`parley audit chain --once` (beside the running follower), then `parley audit verify`."""
    chained = deployment.parley("audit", "chain", "--once")
    if chained.returncode != 0:
        return Check("audit hash chain verifies", False, "parley audit chain --once failed",
                     [(chained.stderr or chained.stdout).strip()[-400:]])  # fmt: skip
    done = deployment.parley("audit", "verify", "--json")
    try:
        found = json.loads(done.stdout)
    except ValueError:
        return Check("audit hash chain verifies", False, f"parley audit verify: exit"
                     f" {done.returncode}", [(done.stderr or done.stdout).strip()[-400:]])  # fmt: skip
    notes = [f"{f['position']} {f['kind']}: {f['detail']}" for f in found["findings"]]
    ok = done.returncode == 0 and not notes
    return Check(
        "audit hash chain verifies", ok,
        f"{found['checked']} events checked, {found['unchained']} not chained yet,"
        f" {len(found['findings'])} findings (exit {done.returncode})", notes[:10],
    )  # fmt: skip


def _errors(record: Record) -> Check:
    bad = Counter(a.status for a in record.attempts if a.status >= 500 and not
                  (a.status == 503 and a.retry_after))  # fmt: skip
    fine = sum(1 for a in record.attempts if a.status == 503 and a.retry_after)
    no_answer = sum(1 for a in record.attempts if a.status == 0)
    longest = max((a.seconds for a in record.answers if a.lost_before), default=0.0)
    return Check(
        "no 5xx but 503 + Retry-After", not bad,
        f"{fine} x 503 with Retry-After, {no_answer} unanswered attempts; longest"
        f" unavailability {longest:.1f} s", [f"{n} x {s}" for s, n in bad.items()],
    )  # fmt: skip


def run_checks(deployment: Deployment, record: Record, after: int) -> list[Check]:
    events = global_log(deployment, after)
    checks = _writes(record, events)
    checks += [_replies(deployment, events), _inbound(record, events), _projections(deployment)]
    checks.append(_audit(deployment))
    checks.append(_errors(record))
    return checks


def dump(record: Record, path: str) -> None:
    with open(path, "w") as out:
        json.dump([a.__dict__ for a in record.answers], out, default=str)
