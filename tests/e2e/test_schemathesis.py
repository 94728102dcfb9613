"""Schemathesis against the served API: does the server do what its OpenAPI document says?

A short run of every phase (examples, coverage, fuzzing, stateful) with ``--checks all``
against ``parley serve`` on each store, with a projections follower running so the read
models answer. Schemathesis lives in a venv of its own (``.venv-schemathesis`` in the
checkout, made here on first use: its dependencies conflict with Parley's); the run must
exit 0.

What the run is told beyond the document:

- a supervisor's token (``Authorization`` on every request);
- ids of customers, conversations, an SLA policy, a canned response and a team with a
  roster, seeded before the run, as
  dictionaries for the path parameters, so most requests reach a real aggregate instead
  of a 404;
- ``timeout=0.2`` for ``/v1/stream``, so each stream ends at once instead of after the
  default 300 s (``--request-timeout`` bounds every request besides);
- ``schemathesis_hooks.py`` beside this file, which drops the refusals of schema-valid
  requests that no schema can prevent (state, clock and cross-parameter rules), and the
  reads of an SLA policy after its DELETE (which retires it, keeping it readable), each
  named there with its reason. Nothing else is filtered.

``PARLEY_SCHEMATHESIS_SEED`` picks another seed (default: a fixed one, so a run can be
replayed); ``PARLEY_SCHEMATHESIS_MAX_EXAMPLES`` and ``PARLEY_SCHEMATHESIS_MAX_TIME``
make a longer run.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from bench.serving import PARLEY, ROOT, Server, environment, serving
from tests.support.stores import store_settings

pytestmark = pytest.mark.e2e

SCHEMATHESIS_VERSION = "4.32.5"
VENV = ROOT / ".venv-schemathesis"
SCHEMATHESIS = VENV / "bin" / "schemathesis"
STAMP = VENV / f".parley-schemathesis-{SCHEMATHESIS_VERSION}"
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")

SEED = os.environ.get("PARLEY_SCHEMATHESIS_SEED", "7")
MAX_EXAMPLES = os.environ.get("PARLEY_SCHEMATHESIS_MAX_EXAMPLES", "15")
MAX_TIME = os.environ.get("PARLEY_SCHEMATHESIS_MAX_TIME", "70")  # seconds, all phases
TIMEOUT = 10  # per HTTP request, here and in schemathesis


def _run(command: list[str], *, timeout: float, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


def ensure_schemathesis() -> Path:
    """``.venv-schemathesis`` with schemathesis ``SCHEMATHESIS_VERSION``, made once.

    The stamp file is written only after the install and a ``--version`` check passed,
    so an interrupted install is redone; a lock keeps two test runs from racing.
    """
    VENV.mkdir(exist_ok=True)
    with (VENV / ".parley-lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if STAMP.exists() and SCHEMATHESIS.exists():
            return SCHEMATHESIS
        python = VENV / "bin" / "python"
        if not python.exists():
            _run([sys.executable, "-m", "venv", str(VENV)], timeout=300)
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
        _run([*pip, f"schemathesis=={SCHEMATHESIS_VERSION}"], timeout=900)
        version = _run([str(SCHEMATHESIS), "--version"], timeout=60)
        assert SCHEMATHESIS_VERSION in version, version
        for old in VENV.glob(".parley-schemathesis-*"):
            old.unlink()
        STAMP.write_text(version)
    return SCHEMATHESIS


@pytest.fixture(scope="session")
def schemathesis() -> Path:
    return ensure_schemathesis()


@dataclass
class Served(Server):
    token: str  # a supervisor's
    follower: subprocess.Popen[bytes]


def _parley(env: dict[str, str], *args: str) -> str:
    return _run([str(PARLEY), *args], timeout=60, env=env)


@pytest.fixture(params=["sqlite", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """``parley db init``, a supervisor's token, ``parley serve`` and the projections
    follower, on a fresh store."""
    with store_settings(request.param, tmp_path) as store:
        env = environment(store)
        _parley(env, "db", "init")
        token = _parley(env, "tokens", "create", "--role", "supervisor", "--name", "st").strip()
        assert token.startswith("prl_"), token
        with (tmp_path / "projections.log").open("wb") as sink:
            follower = subprocess.Popen(
                [str(PARLEY), "projections", "run", "--poll-interval", "0.2"],
                env=env,
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            with serving(env, tmp_path / "server.log", workers=2) as server:
                yield Served(server.base, server.process, server.log, token, follower)
        finally:
            follower.terminate()
            try:
                follower.wait(timeout=15)
            except subprocess.TimeoutExpired:
                follower.kill()
                follower.wait(timeout=5)


def _seed(served: Served) -> tuple[list[str], list[str], list[str], list[str]]:
    """Customers with an identity of each kind, a conversation on every channel, an SLA
    policy, the care policy's rules, a team's roster and a canned response."""
    headers = {"Authorization": f"Bearer {served.token}"}

    def post(path: str, body: dict[str, object]) -> str:
        response = requests.post(served.base + path, json=body, headers=headers, timeout=TIMEOUT)
        assert response.status_code == 201, f"{path}: {response.status_code} {response.text}"
        return str(response.json()["id"])

    def unique() -> str:
        return str(uuid.uuid4().int)[:15]

    customers = [
        post(
            "/v1/customers",
            {
                "name": f"customer {i}",
                "identities": [
                    {"kind": "x", "value": unique(), "handle": f"c{i}"},
                    {"kind": "email", "value": f"c{unique()}@example.org"},
                    {"kind": "phone", "value": f"+44{unique()[:10]}"},
                ],
            },
        )
        for i in range(3)
    ]
    channels = ["x_public", "x_dm", "email", "chat", "phone", "api"]
    conversations = [
        post(
            "/v1/conversations",
            {"channel": channel, "body": "hello", "customer_id": customers[i % len(customers)]},
        )
        for i, channel in enumerate(channels)
    ]
    policy = {
        "name": "Chat",
        "conditions": {"channels": ["chat"]},
        "targets": [{"metric": "first_response", "seconds": 120}],
    }
    policies = [post("/v1/sla/policies", policy)]
    rules = {"routing": [{"name": "complaints", "classifications": ["complaint"], "team": "care"}]}
    saved = requests.put(served.base + "/v1/care-policy/rules", json=rules, headers=headers,
                         timeout=TIMEOUT)  # fmt: skip
    assert saved.status_code == 200, saved.text
    rostered = requests.put(
        served.base + "/v1/teams/care/agents/ann", json={"capacity": 5, "shift": {}},
        headers=headers, timeout=TIMEOUT,
    )  # fmt: skip
    assert rostered.status_code == 200, rostered.text
    canned = {"name": "Thanks", "team": "care", "body": "Thanks, $customer_name!"}
    return customers, conversations, policies, [post("/v1/canned-responses", canned)]


def _config(
    customers: list[str], conversations: list[str], policies: list[str], canned: list[str]
) -> str:
    """schemathesis.toml: top-level keys first (after a table header a key is the table's)."""
    return f"""\
hooks = {json.dumps(str(HOOKS))}

[dictionaries.customers]
values = {json.dumps(customers)}

[dictionaries.conversations]
values = {json.dumps(conversations)}

[dictionaries.policies]
values = {json.dumps(policies)}

[dictionaries.canned]
values = {json.dumps(canned)}

[dictionaries.teams]
values = ["care"]

[dictionaries.agents]
values = ["ann"]

[parameters]
"path.customer_id" = {{ dictionary = "customers", probability = 0.9 }}
"path.conversation_id" = {{ dictionary = "conversations", probability = 0.9 }}
"query.conversation_id" = {{ dictionary = "conversations", probability = 0.5 }}
"body.customer_id" = {{ dictionary = "customers", probability = 0.6 }}
"body.into" = {{ dictionary = "customers", probability = 0.8 }}
"path.policy_id" = {{ dictionary = "policies", probability = 0.9 }}
"body.policy_id" = {{ dictionary = "policies", probability = 0.5 }}
"query.policy" = {{ dictionary = "policies", probability = 0.5 }}
"path.canned_response_id" = {{ dictionary = "canned", probability = 0.9 }}
"body.canned_response_id" = {{ dictionary = "canned", probability = 0.5 }}
"path.team" = {{ dictionary = "teams", probability = 0.8 }}
"path.agent" = {{ dictionary = "agents", probability = 0.6 }}
# /v1/stream holds the connection until `timeout` seconds (default 300): end it at once.
"query.timeout" = 0.2
"""


def test_served_api_matches_its_openapi_document(
    schemathesis: Path, served: Served, tmp_path: Path
) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(*_seed(served)))
    command = [
        str(schemathesis),
        "--config-file",
        str(config),
        "run",
        f"{served.base}/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {served.token}",
        "--max-examples",
        MAX_EXAMPLES,
        "--max-time",
        MAX_TIME,
        "--continue-on-failure",
        "--request-timeout",
        str(TIMEOUT),
        # One worker: with several, hypothesis' lambda-source cache races now and then
        # ("AST constructor recursion depth mismatch"), an error of the tool, not the API.
        "--workers",
        "1",
        "--seed",
        SEED,
        "--generation-database",
        "none",
        "--no-color",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "PYTHON"))}
    done = subprocess.run(
        command,
        cwd=tmp_path,  # nothing of schemathesis' lands in the checkout
        env=env,
        capture_output=True,
        text=True,
        timeout=float(MAX_TIME) + 120,
        check=False,
    )
    output = done.stdout + done.stderr
    (tmp_path / "schemathesis.txt").write_text(output)
    print(output)  # shown by pytest when the test fails
    assert served.process.poll() is None, f"the server died:\n{served.log_tail()}"
    assert done.returncode == 0, (
        f"schemathesis exited {done.returncode} (seed {SEED}); its whole output is under "
        f"'Captured stdout call' and in {tmp_path / 'schemathesis.txt'}. "
        f"Summary:\n{_summary(output)}"
    )


def _summary(output: str) -> str:
    """The run's closing part: failures by kind, warnings, counts."""
    start = output.rfind("=== SUMMARY ===")
    return output[start:] if start >= 0 else output[-3000:]
