"""Configuration from the environment: every ``PARLEY_*`` variable is read here.

The README's configuration table lists them; the event-store ones are translated into
the eventsourcing library's own variables by :func:`event_store_env`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

from domain.privacy import decode_master_key, new_master_key
from domain.service import GROUP_COMMIT_SETTING, LOAD_CACHE_SETTING, MASTER_KEY_SETTING

TRUE = {"1", "y", "yes", "true", "on"}
FALSE = {"0", "n", "no", "false", "off"}


@dataclass(frozen=True)
class Settings:
    """Every ``PARLEY_<NAME>`` variable; numbers are checked once, at start-up."""

    store: str = "sqlite"  # sqlite | postgres
    sqlite_path: str = "var/parley.sqlite"
    read_store_path: str = ""  # PARLEY_READ_STORE_PATH; default: beside the SQLite store
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_db: str = "parley"
    postgres_user: str = "postgres"
    postgres_password: str = ""
    postgres_schema: str = ""
    postgres_pool_size: int = 5
    postgres_lock_timeout: int = 5
    # PostgreSQL: wait for LISTEN/NOTIFY (one extra connection per process) rather than
    # only the poll; the poll stays as the fallback. Ignored on SQLite (it polls).
    listen_notify: bool = True
    load_cache_size: int = 1000  # conversations each process keeps loaded; 0 turns it off
    group_commit: bool = True  # PostgreSQL: a process's concurrent saves commit together
    create_tables: str = "auto"  # auto: yes on SQLite, no on PostgreSQL (run `parley db init`)
    redis_url: str = "redis://127.0.0.1:6379/0"
    max_body_bytes: int = 1024 * 1024
    mail_max_bytes: int = 25 * 1024 * 1024  # a whole inbound e-mail, attachments and all
    # Seals customers' personal data (32 bytes, base64); or a file holding it. On the
    # embedded default (SQLite) one is made beside the store when neither is set.
    master_key: str = ""
    master_key_file: str = ""
    audit_signing_key: str = ""  # signs the audit chain's recorded heads (HMAC-SHA256)
    audit_head_seconds: float = 60.0  # how often `parley audit chain` records the head
    maildir: str = ""  # a Maildir the scheduler polls for inbound e-mail (optional)
    mail_poll_seconds: int = 30  # how often that Maildir is polled
    ready_max_lag: int | None = None  # /readyz fails when a projection lags more than this
    read_wait_seconds: float = 2.0  # how long a read with min_position waits for a projection
    max_streams: int = 32  # open /v1/stream connections per process (each holds a thread)
    stream_send_timeout: float = 10.0  # a stream whose client stops reading ends after this
    stream_token_check_seconds: float = 30.0  # a revoked token's streams end within this
    idempotency_ttl_hours: float = 24.0  # how long an Idempotency-Key's answer is kept
    public_url: str = ""  # the API's base URL as clients reach it (the spec's `servers`)
    # A case's link as canned responses give it ($case_link), ``{id}`` standing for the
    # case's id (a help centre's page); empty: the API's own URL of the case.
    case_link: str = ""
    # X (Twitter): credentials of the brand's app and account; empty base URL = the real API
    x_api_base_url: str = ""
    x_consumer_key: str = ""
    x_consumer_secret: str = ""
    x_access_token: str = ""
    x_access_token_secret: str = ""
    x_brand_user_id: str = ""
    x_keywords: str = ""  # comma-separated brand and product words searched besides @mentions
    x_poll_seconds: int = 60  # how often mentions, searches and DMs are polled
    outbox_batch: int = 200  # events the outbox reads per step
    sla_sweep_seconds: int = 1  # how often the scheduler enqueues the SLA sweep (>= 1)
    delivery_attempt_seconds: float = 45.0  # the longest one delivery attempt may take
    # How often a worker checks its scheduler (which dies with a Redis restart, and with
    # it every delayed retry) and restarts it; RQ's own default is 10 minutes.
    worker_maintenance_seconds: int = 30
    # E-mail out (SMTP): off until a host is set. The port is 25 unless set (a submission
    # server usually wants 587 with STARTTLS); AUTH is used when a username is set.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_tls_verify: bool = True  # off only for a test server's self-signed certificate
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout_seconds: float = 10.0  # per connect, command or reply
    mail_from: str = "care@parley.localhost"  # an address, or "Name <address>"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name, spec in cls.__dataclass_fields__.items():
            key = f"PARLEY_{name.upper()}"
            raw = environ.get(key)
            if raw is None or (raw == "" and spec.type != "str"):
                continue
            if spec.type == "bool":
                if raw.strip().lower() not in TRUE | FALSE:
                    raise ValueError(f"{key} must be yes or no (1/0, true/false), not {raw!r}")
                values[name] = raw.strip().lower() in TRUE
                continue
            number = (
                float if "float" in str(spec.type) else int if "int" in str(spec.type) else None
            )
            try:
                values[name] = number(raw) if number else raw
            except ValueError:
                raise ValueError(f"{key} must be a number, not {raw!r}") from None
            if number and values[name] < 0:  # type: ignore[operator]
                raise ValueError(f"{key} must not be negative")
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.store not in ("sqlite", "postgres"):
            raise ValueError(f"PARLEY_STORE must be sqlite or postgres, not {settings.store!r}")
        if not 0 < settings.smtp_port < 65536:
            raise ValueError(f"PARLEY_SMTP_PORT must be a port (1-65535), not {settings.smtp_port}")
        if settings.sla_sweep_seconds < 1:
            raise ValueError("PARLEY_SLA_SWEEP_SECONDS must be 1 or more")
        if settings.smtp_timeout_seconds <= 0:
            raise ValueError("PARLEY_SMTP_TIMEOUT_SECONDS must be more than 0")
        if settings.smtp_configured() and not mail_domain(settings.mail_from):
            raise ValueError(
                f"PARLEY_MAIL_FROM must be an address (care@example.com, or"
                f" Care <care@example.com>), not {settings.mail_from!r}"
            )
        return settings

    def read_store_sqlite_path(self) -> str:
        """Read models get their own SQLite file (the library's tables are not namespaced)."""
        if self.read_store_path:
            return self.read_store_path
        if self.sqlite_path == ":memory:":
            return ":memory:"
        path = Path(self.sqlite_path)
        return str(path.with_name(f"{path.stem}-projections{path.suffix or '.sqlite'}"))

    def x_configured(self) -> bool:
        return all((self.x_consumer_key, self.x_consumer_secret, self.x_access_token,
                    self.x_access_token_secret, self.x_brand_user_id))  # fmt: skip

    def smtp_configured(self) -> bool:
        return bool(self.smtp_host)

    def accounts(self) -> dict[str, str]:
        """The brand's own account on each channel, as replies and messages record it."""
        accounts = {"email": parseaddr(self.mail_from)[1] or self.mail_from}
        if self.x_brand_user_id:
            accounts |= {"x_public": self.x_brand_user_id, "x_dm": self.x_brand_user_id}
        return accounts

    def creates_tables(self) -> bool:
        if self.create_tables == "auto":
            return self.store == "sqlite"
        return self.create_tables.lower() in TRUE


def mail_domain(address: str) -> str | None:
    """The domain of an address ("Name <care@example.com>" -> "example.com"), or None."""
    parsed = parseaddr(address)[1]
    local, at, domain = parsed.rpartition("@")
    clean = not any(c.isspace() or c < " " for c in parsed)
    return domain if at and local and domain and "@" not in local and clean else None


def event_store_env(settings: Settings, *, create_tables: bool | None = None) -> dict[str, str]:
    """The eventsourcing library's environment for the configured store."""
    create = settings.creates_tables() if create_tables is None else create_tables
    env = {
        "CREATE_TABLE": "y" if create else "n",
        MASTER_KEY_SETTING: master_key(settings),
        LOAD_CACHE_SETTING: str(settings.load_cache_size),
        GROUP_COMMIT_SETTING: "y" if settings.group_commit else "n",
    }
    if settings.store == "sqlite":
        path = settings.sqlite_path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        env |= {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "10",
            "APPLICATION_RECORDER_TOPIC": "app.keystore:SQLiteKeyRecorder",
        }
    else:
        env |= {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_HOST": settings.postgres_host,
            "POSTGRES_PORT": str(settings.postgres_port),
            "POSTGRES_DBNAME": settings.postgres_db,
            "POSTGRES_USER": settings.postgres_user,
            "POSTGRES_PASSWORD": settings.postgres_password,
            "POSTGRES_POOL_SIZE": str(settings.postgres_pool_size),
            "POSTGRES_LOCK_TIMEOUT": str(settings.postgres_lock_timeout),
            "POSTGRES_CONNECT_TIMEOUT": "5",
            "APPLICATION_RECORDER_TOPIC": "app.keystore:PostgresKeyRecorder",
        }
        if settings.postgres_schema:
            env["POSTGRES_SCHEMA"] = settings.postgres_schema
    return env


_MEMORY_KEY: list[str] = []  # one key per process for an in-memory store


def master_key(settings: Settings) -> str:
    """The master key: set, read from its file, or (embedded SQLite only) made once in a
    file beside the store, readable by its owner only."""
    if settings.master_key:
        try:
            decode_master_key(settings.master_key)
        except ValueError as error:
            raise ValueError(f"PARLEY_MASTER_KEY: {error}") from None
        return settings.master_key.strip()
    if settings.master_key_file:
        path = Path(settings.master_key_file)
        try:
            text = path.read_text().strip()
        except OSError as error:
            raise ValueError(f"PARLEY_MASTER_KEY_FILE {path}: {error.strerror}") from None
        try:
            decode_master_key(text)
        except ValueError as error:
            raise ValueError(f"PARLEY_MASTER_KEY_FILE {path}: {error}") from None
        return text
    if settings.store != "sqlite":
        raise ValueError(
            "PARLEY_MASTER_KEY or PARLEY_MASTER_KEY_FILE must be set on PostgreSQL: the key"
            " that seals customers' personal data is not made up on a shared store"
        )
    if settings.sqlite_path == ":memory:":
        if not _MEMORY_KEY:
            _MEMORY_KEY.append(new_master_key())
        return _MEMORY_KEY[0]
    path = Path(settings.sqlite_path).with_name("parley-master.key")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(new_master_key() + "\n")
        try:
            os.link(draft, path)  # whole or not at all; a process racing this one loses
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    text = path.read_text().strip()
    try:
        decode_master_key(text)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return text
