"""The README's curl tour against the real server: ``parley serve`` with 2 gunicorn workers.

Each store gets its own server process (SQLite file in a temp dir; a fresh PostgreSQL
schema, initialised with ``parley db init`` first, as production does). Everything goes
over loopback HTTP with ``requests``; nothing in this process touches the store.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from bench.serving import PARLEY, ROOT, Server, environment, serving
from tests.support.stores import store_settings

pytestmark = pytest.mark.e2e

TIMEOUT = 10  # per HTTP request


@dataclass
class Served(Server):
    token: str  # an agent's

    def url(self, path: str) -> str:
        return self.base + path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _parley(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(PARLEY), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"parley {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """``parley db init``, ``parley tokens create``, then ``parley serve --workers 2``."""
    tmp_path = tmp_path_factory.mktemp(f"served-{request.param}")
    with store_settings(request.param, tmp_path) as store:
        env = environment(store)
        _parley(env, "db", "init")
        token = _parley(env, "tokens", "create", "--role", "agent", "--name", "alice").strip()
        assert token.startswith("prl_"), token
        with serving(env, tmp_path / "server.log", workers=2) as server:
            yield Served(server.base, server.process, server.log, token)
        assert server.process.returncode == 0, (
            f"unclean shutdown ({server.process.returncode}):\n{server.log_tail()}"
        )


def _open_from_tweet(served: Served, session: requests.Session | None = None) -> str:
    http = session or requests
    response = http.post(
        served.url("/v1/conversations"),
        json={
            "channel": "x_public",
            "body": "@brand my order never arrived",
            "identity": {"kind": "x", "value": str(uuid.uuid4().int)[:18], "handle": "ann"},
            "external_id": str(uuid.uuid4().int)[:19],
        },
        headers=served.headers,
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/v1/conversations/{response.json()['id']}"
    return str(response.json()["id"])


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the gunicorn workers of the master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_readme_tour(served: Served) -> None:
    """A tweet comes in, is acknowledged, assigned, moved to DM, answered and resolved."""
    conversation = _open_from_tweet(served)
    base = served.url(f"/v1/conversations/{conversation}")

    def post(path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        response = requests.post(base + path, json=body, headers=served.headers, timeout=TIMEOUT)
        assert response.status_code == status, f"{path}: {response.status_code} {response.text}"
        result = response.json()
        assert isinstance(result["position"], int), result
        return result  # type: ignore[no-any-return]

    ack = post("/replies", {"kind": "acknowledgement", "body": "Sorry to hear that!"}, 202)
    assert ack["channel"] == "x_public" and ack["public"] is True
    post("/assignment", {"agent": "alice", "team": "care"})
    post("/channel-switches", {"to": "x_dm", "reason": "order details"})
    answer = post("/replies", {"body": "Your parcel is at the depot; it arrives tomorrow."}, 202)
    assert answer["channel"] == "x_dm" and answer["public"] is False
    resolved = post("/resolve", {"resolution": "answered"})
    assert resolved["version"] == 7

    state = requests.get(base, headers=served.headers, timeout=TIMEOUT)
    assert state.status_code == 200
    assert state.headers["ETag"] == '"7"'

    history = requests.get(base + "/events", headers=served.headers, timeout=TIMEOUT)
    assert history.status_code == 200, history.text
    items = history.json()["items"]
    assert [e["type"] for e in items] == [
        "Opened",
        "ReplyQueued",
        "Assigned",
        "ChannelSwitched",
        "DmReachRecorded",  # what the DM needs of the customer, recorded with the move
        "ReplyQueued",
        "Resolved",
    ]
    assert [e["version"] for e in items] == [1, 2, 3, 4, 5, 6, 7]
    assert {e["actor"] for e in items} == {"agent:alice"}
    assert history.json()["next_cursor"] is None


def test_both_workers_serve(served: Served) -> None:
    """Two gunicorn workers are up and each one answers part of a concurrent load."""
    workers = _children(served.process.pid)
    assert len(workers) == 2, f"workers: {workers}\n{served.log_tail()}"
    before = {pid: _cpu_ticks(pid) for pid in workers}
    conversation = _open_from_tweet(served)

    def reads(count: int) -> list[int]:
        with requests.Session() as session:
            session.headers.update(served.headers)
            url = served.url(f"/v1/conversations/{conversation}")
            return [session.get(url, timeout=TIMEOUT).status_code for _ in range(count)]

    with ThreadPoolExecutor(4) as pool:
        statuses = [s for batch in pool.map(reads, [40] * 4) for s in batch]
    assert statuses == [200] * 160
    after = {pid: _cpu_ticks(pid) for pid in workers}
    busy = {pid: after[pid] - before[pid] for pid in workers}
    assert all(ticks > 0 for ticks in busy.values()), f"CPU ticks per worker: {busy}"


def test_concurrent_notes_are_each_recorded_or_refused_with_the_current_version(
    served: Served,
) -> None:
    """20 notes at once from threads: each wins (201) or gets 409 with the current version.

    DESIGN.md truth 4: one wins, the other gets a clear 409; no event is lost or overwritten.
    """
    conversation = _open_from_tweet(served)
    url = served.url(f"/v1/conversations/{conversation}/notes")

    def note(i: int) -> tuple[int, str]:
        with requests.Session() as session:
            response = session.post(
                url, json={"body": f"note {i}"}, headers=served.headers, timeout=TIMEOUT
            )
            return response.status_code, response.text

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(note, range(20)))
    won = [i for i, (status, _) in enumerate(results) if status == 201]
    for status, text in results:
        assert status in (201, 409), text
        if status == 409:
            problem = json.loads(text)
            assert problem["current_version"] >= 2
    assert won

    history = requests.get(
        served.url(f"/v1/conversations/{conversation}/events"),
        headers=served.headers,
        timeout=TIMEOUT,
    ).json()["items"]
    notes = [e for e in history if e["type"] == "NoteAdded"]
    assert len(history) == 1 + len(won)
    assert sorted(e["data"]["body"] for e in notes) == sorted(f"note {i}" for i in won)
    assert [e["version"] for e in history] == list(range(1, 2 + len(won)))
