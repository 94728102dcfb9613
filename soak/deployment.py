"""A whole deployment on loopback in a scratch dir: the store (SQLite, or a PostgreSQL
cluster of its own), Redis, the X stand-in, an SMTP sink, two ``parley serve``, two
``parley worker``, two ``parley projections run``, ``parley outbox run`` and
``parley audit chain``, each supervised (started again when it dies)."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.serving import PARLEY, ROOT, environment, free_port
from domain.privacy import new_master_key
from soak.processes import Supervised, Supervisor
from soak.servers import Postgres, Redis
from tests.support.smtp_sink import SmtpSink
from tests.support.x_standin import API_ROUTES

X_SECRET, X_TOKEN_SECRET = "soak-secret", "soak-token"
BRAND = "1700000000000000001"
SMTP_TIMEOUT = 5  # PARLEY_SMTP_TIMEOUT_SECONDS: the slow-SMTP fault stays below it
X_QUOTA = 1_000_000  # calls per route per 15 minutes on the X stand-in
ROLES = ("agent", "integration", "supervisor", "ops")


def _healthy(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@dataclass
class Deployment:
    store: str  # sqlite | postgres
    root: Path
    postgres: Postgres | None = None
    redis: Redis | None = None
    sink: SmtpSink | None = None
    x_base: str = ""
    env: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    supervisor: Supervisor = field(default_factory=Supervisor)
    web: list[Supervised] = field(default_factory=list)
    workers: list[Supervised] = field(default_factory=list)
    followers: list[Supervised] = field(default_factory=list)
    outbox: Supervised | None = None
    audit: Supervised | None = None  # `parley audit chain`: the hash chain's follower
    _x: subprocess.Popen[bytes] | None = None

    @property
    def bases(self) -> list[str]:
        return [p.env["SOAK_BASE"] for p in self.web]

    def parley(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PARLEY), *args], env=self.env, cwd=ROOT, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip

    def up(self) -> None:
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        store: dict[str, str]
        if self.store == "postgres":
            pg_root = self.root / "pg"
            pg_root.mkdir()
            self.postgres = Postgres(pg_root)
            self.postgres.init()
            store = self.postgres.settings()
        else:
            store = {
                "PARLEY_STORE": "sqlite",
                "PARLEY_SQLITE_PATH": str(self.root / "parley.sqlite"),
                "PARLEY_READ_STORE_PATH": str(self.root / "parley-projections.sqlite"),
            }
        self.redis = Redis(self.root)
        self.redis.start()
        self._start_x(logs)
        self.sink = SmtpSink(port=free_port(), directory=self.root / "mail")
        self.sink.start()
        self.env = environment(store) | {
            "PARLEY_MASTER_KEY": new_master_key(),  # every process of the deployment seals alike
            "PARLEY_REDIS_URL": self.redis.url,
            "PARLEY_X_API_BASE_URL": self.x_base,
            "PARLEY_X_CONSUMER_KEY": "soak-key",
            "PARLEY_X_CONSUMER_SECRET": X_SECRET,
            "PARLEY_X_ACCESS_TOKEN": f"{BRAND}-soak",
            "PARLEY_X_ACCESS_TOKEN_SECRET": X_TOKEN_SECRET,
            "PARLEY_X_BRAND_USER_ID": BRAND,
            "PARLEY_SMTP_HOST": self.sink.host,
            "PARLEY_SMTP_PORT": str(self.sink.port),
            "PARLEY_SMTP_TIMEOUT_SECONDS": str(SMTP_TIMEOUT),
            "PARLEY_MAIL_FROM": "care@parley.localhost",
            "PARLEY_LOG_LEVEL": "WARNING",
        }
        done = self.parley("db", "init")
        if done.returncode != 0:
            raise RuntimeError(f"parley db init: {done.stderr}")
        for role in ROLES:
            made = self.parley("tokens", "create", "--role", role, "--name", f"soak-{role}")
            if made.returncode != 0:
                raise RuntimeError(f"parley tokens create: {made.stderr}")
            self.tokens[role] = made.stdout.strip()
        self._start_parley(logs)

    def _start_x(self, logs: Path) -> None:
        log = (logs / "x-standin.log").open("wb")
        self._x = subprocess.Popen(
            [sys.executable, "-m", "tests.support.x_standin", "--port", "0",
             "--consumer-secret", X_SECRET, "--access-token-secret", X_TOKEN_SECRET,
             "--brand-user-id", BRAND],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=log, start_new_session=True,
        )  # fmt: skip
        assert self._x.stdout is not None
        self.x_base = self._x.stdout.readline().decode().strip().rstrip("/")
        if not self.x_base.startswith("http"):
            raise RuntimeError("the X stand-in did not start (see logs/x-standin.log)")
        # The load packs hours of a brand's traffic into minutes: X's 15-minute quotas
        # (200 DMs) would hold its replies for the rest of the window. The soak lifts them;
        # its 429 burst (reset in seconds) tests the rate-limit path instead.
        for route in API_ROUTES:
            requests.post(self.x_base + "/_standin/rate_limits",
                          json={"route": route, "limit": X_QUOTA}, timeout=5).raise_for_status()  # fmt: skip

    def _proc(self, name: str, logs: Path, *args: str, **extra: str) -> Supervised:
        env = self.env | extra
        return self.supervisor.add(
            Supervised(name, [str(PARLEY), *args], env, logs / f"{name}.log", ROOT)
        )

    def _start_parley(self, logs: Path) -> None:
        for n in (1, 2):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            proc = self._proc(
                f"web{n}", logs, "serve", "--host", "127.0.0.1", "--port", str(port),
                "--workers", "2", "--threads", "16", SOAK_BASE=base,
            )  # fmt: skip
            proc.ready = lambda base=base: _healthy(base)  # type: ignore[misc]
            self.web.append(proc)
        for n in (1, 2):
            self.workers.append(self._proc(f"worker{n}", logs, "worker"))
            self.followers.append(self._proc(f"follower{n}", logs, "projections", "run"))
        self.outbox = self._proc("outbox", logs, "outbox", "run")
        self.audit = self._proc("audit-chain", logs, "audit", "chain")
        for proc in self.supervisor.processes:
            proc.start()
        for proc in self.web:
            if not proc.wait_ready(60):
                raise RuntimeError(f"{proc.name} did not become healthy: see {proc.log}")
        time.sleep(1.0)
        for proc in self.supervisor.processes:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited at start: see {proc.log}")
        self.supervisor.begin()

    def down(self) -> None:
        self.supervisor.end()
        if self._x is not None and self._x.poll() is None:
            self._x.kill()
            self._x.wait(timeout=5)
        if self.sink is not None:
            self.sink.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()
