"""The soak's own PostgreSQL cluster and Redis: scratch dirs, free ports, never the
machine's servers (PostgreSQL on 5432, Redis on 6379 are left alone)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
import redis

from bench.serving import free_port

PG_USER = "postgres"  # initdb and postgres refuse to run as root


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found: install postgresql")
    return path


class Postgres:
    """A cluster of its own: ``initdb`` in ``root``, trust on loopback, a free port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "pgdata"
        self.log = root / "postgres.log"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam(PG_USER)
            except KeyError as error:
                raise RuntimeError(f"running as root needs an OS user {PG_USER!r}") from error
            os.chown(root, entry.pw_uid, entry.pw_gid)
            for parent in root.parents:  # the scratch dir is 0700 (mkdtemp): let it through
                if parent == Path(parent.anchor) or not parent.name.startswith("soak-"):
                    break
                os.chmod(parent, parent.stat().st_mode | 0o711)
            self._as = ["runuser", "-u", PG_USER, "--"]

    def _run(self, *argv: str, timeout: float = 120) -> None:
        subprocess.run(
            [*self._as, *argv], check=True, capture_output=True, timeout=timeout, cwd=self.root
        )

    def init(self) -> None:
        self._run(
            _pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
            " -c fsync=off -c max_connections=200"
            # fsync=off survives a crash of PostgreSQL (not of the machine);
            # synchronous_commit=off would not: an immediate restart would lose commits.
        )
        self._options = options
        self.start()
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE parley TEMPLATE template0 ENCODING 'UTF8'")

    def dsn(self, db: str = "parley") -> str:
        return f"host=127.0.0.1 port={self.port} dbname={db} user=postgres connect_timeout=3"

    def _ctl(self, *args: str) -> None:
        self._run(
            _pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
            "-o", self._options, *args,
        )  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def restart(self, mode: str) -> None:
        """``pg_ctl -m fast|immediate restart``."""
        self._ctl("-m", mode, "restart")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError):
                self._ctl("-m", "immediate", "stop")

    def settings(self) -> dict[str, str]:
        return {
            "PARLEY_STORE": "postgres",
            "PARLEY_POSTGRES_HOST": "127.0.0.1",
            "PARLEY_POSTGRES_PORT": str(self.port),
            "PARLEY_POSTGRES_DB": "parley",
            "PARLEY_POSTGRES_USER": "postgres",
        }


class Redis:
    """``redis-server`` without persistence on a free port; a restart loses its data."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with (self.root / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
                    "--save", "", "--appendonly", "no", "--dir", str(self.root),
                    "--maxmemory-policy", "noeviction",
                ],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not answer in 20 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self, down_for: float = 2.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()
