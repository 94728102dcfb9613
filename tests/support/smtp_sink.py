"""A real SMTP server on loopback that keeps what it accepts: for tests and ``scripts/run``.

aiosmtpd's ``Controller`` runs it in a thread. It can offer STARTTLS (a self-signed
certificate made on the spot: clients must skip verification) and AUTH (one username
and password), and tests queue faults: a refused recipient, a failing or slow DATA, a
connection dropped after RCPT. A slow DATA stores the message first and then waits:
the server has it, the client may time out before hearing so (RFC 1047).

Run it alone (what ``scripts/run`` starts when no SMTP server is configured):
``python -m tests.support.smtp_sink --port 8025 --dir var/mail`` writes each message to
``var/mail/<n>.eml``; it stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as Server
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

__all__ = ["Received", "SmtpSink", "free_port"]

HOSTNAME = "sink.parley.localhost"  # what it says in its greeting (no getfqdn lookups)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (aiosmtpd's Controller cannot take port 0)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Received:
    """One accepted message, as the server saw it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes  # the DATA as it arrived (dot-unstuffed), CRLF line endings
    tls: bool  # whether it came after STARTTLS
    login: str | None  # the AUTH username, if any

    @property
    def message(self) -> EmailMessage:
        """The message parsed (encoded headers, quoted-printable and base64 decoded), its
        CRLF line endings read as newlines, as a mail client stores a message."""
        lines = self.raw.replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(lines, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def headers(self) -> dict[str, str]:
        """Every header, decoded; the last of a name if it repeats."""
        return {name: str(value) for name, value in self.message.items()}


def self_signed(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate and key for ``host``, valid a day: made by ``cryptography`` when it is
    installed, else by ``openssl req``."""
    cert, key = directory / "sink-cert.pem", directory / "sink-key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "1", "-subj", f"/CN={host}", "-keyout", str(key),
             "-out", str(cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        return cert, key
    import ipaddress

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))])
                       if _is_ip(host) else x509.SubjectAlternativeName([x509.DNSName(host)]),
                       critical=False)
        .sign(private, hashes.SHA256())
    )  # fmt: skip
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


class _Handler:
    """aiosmtpd's hooks: faults first, then the message kept (and written out)."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: Server, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        fault = self.sink._take("rcpt")
        if fault is not None and fault[0] == "delay":
            self.sink._note_waiting()
            await asyncio.sleep(fault[1])
            fault = None
        if fault is not None and fault[0] == "close":
            await server.push("250 OK")
            assert server.transport is not None
            server.transport.close()  # the client's next command finds the line dead
            return "250 OK"  # written to a closed transport: dropped
        if fault is not None:
            return f"{fault[1]} {fault[2]}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Server, session: Session, envelope: Envelope) -> str:
        fault = self.sink._take("data")
        if fault is not None and fault[0] == "fail":
            return f"{fault[1]} {fault[2]}"
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        raw = envelope.original_content or b""
        self.sink._keep(
            Received(
                mail_from=str(envelope.mail_from), rcpt_tos=tuple(envelope.rcpt_tos), raw=raw,
                tls=session.ssl is not None, login=login.decode() if login else None,
            )
        )  # fmt: skip
        if fault is not None:  # "delay": it is kept; the client may give up waiting
            await asyncio.sleep(fault[1])
        return "250 2.0.0 OK: queued"


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message it accepts."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        starttls: bool = False,
        require_starttls: bool = False,
        auth: tuple[str, str] | None = None,
        auth_require_tls: bool = True,
        directory: str | Path | None = None,
    ) -> None:
        self.host, self.port = host, port or free_port(host)
        self.starttls, self.require_starttls = starttls, require_starttls
        self.auth, self.auth_require_tls = auth, auth_require_tls
        self.directory = Path(directory) if directory is not None else None
        self._lock = threading.Condition()
        self._received: list[Received] = []
        self._faults: dict[str, deque[tuple[Any, ...]]] = {"rcpt": deque(), "data": deque()}
        self._written = 0
        self.waiting = 0  # recipients held back by delay_rcpt so far
        self._temp: tempfile.TemporaryDirectory[str] | None = None
        self._controller: Controller | None = None

    # ------------------------------------------------------------------ life
    def start(self) -> str:
        """Start serving; "listening on HOST:PORT"."""
        kwargs: dict[str, Any] = {"server_hostname": HOSTNAME}
        if self.starttls:
            self._temp = tempfile.TemporaryDirectory(prefix="parley-sink-")
            cert, key = self_signed(Path(self._temp.name), self.host)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            kwargs |= {"tls_context": context, "require_starttls": self.require_starttls}
        if self.auth is not None:
            kwargs |= {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": self.auth_require_tls,
            }
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            numbers = [int(p.stem) for p in self.directory.glob("*.eml") if p.stem.isdigit()]
            self._written = max(numbers, default=0)  # a restart never overwrites a message
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port, **kwargs)
        self._controller.start()
        return f"listening on {self.host}:{self.port}"

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._temp is not None:
            self._temp.cleanup()
            self._temp = None

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ faults
    def refuse_rcpt(
        self, code: int = 550, message: str = "5.1.1 No such user", times: int = 1
    ) -> None:
        """The next ``times`` recipients are answered ``code message`` (550 5.1.1, 450 4.2.0)."""
        self._queue("rcpt", ("refuse", code, message), times)

    def close_after_rcpt(self, times: int = 1) -> None:
        """The next recipient is accepted, then the connection dropped (before DATA)."""
        self._queue("rcpt", ("close",), times)

    def fail_data(
        self, code: int = 554, message: str = "5.6.0 Message refused", times: int = 1
    ) -> None:
        """The next message is answered ``code message`` after its final "." (not kept)."""
        self._queue("data", ("fail", code, message), times)

    def delay_rcpt(self, seconds: float, times: int = 1) -> None:
        """The next recipient is answered only after ``seconds``: a client killed meanwhile
        has sent no message (``waiting`` counts the recipients held so)."""
        self._queue("rcpt", ("delay", seconds), times)

    def _note_waiting(self) -> None:
        with self._lock:
            self.waiting += 1

    def delay_data(self, seconds: float, times: int = 1) -> None:
        """The next message is kept, then its 250 sent only after ``seconds``."""
        self._queue("data", ("delay", seconds), times)

    def _queue(self, stage: str, fault: tuple[Any, ...], times: int) -> None:
        with self._lock:
            self._faults[stage].extend([fault] * times)

    def _take(self, stage: str) -> tuple[Any, ...] | None:
        with self._lock:
            return self._faults[stage].popleft() if self._faults[stage] else None

    # ------------------------------------------------------------------ what arrived
    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The messages, once there are at least ``count`` (AssertionError after timeout)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._received) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self._received)} messages arrived, not {count}"
                self._lock.wait(left)
            return list(self._received)

    def _keep(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)
            if self.directory is not None:
                self._written += 1
                (self.directory / f"{self._written}.eml").write_bytes(received.raw)
            self._lock.notify_all()

    def _authenticate(
        self, server: Server, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.auth is not None
        user, password = self.auth
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(), password.encode(),
        )  # fmt: skip
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="An SMTP server on loopback that keeps mail.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025, help="0 picks a free port")
    parser.add_argument("--dir", default=None, help="write each message to DIR/<n>.eml")
    args = parser.parse_args(argv)
    sink = SmtpSink(host=args.host, port=args.port or None, directory=args.dir)
    for stop in (signal.SIGTERM, signal.SIGINT):  # SIGINT too when started in the background
        signal.signal(stop, lambda *_: sys.exit(0))
    print(sink.start(), flush=True)
    try:
        threading.Event().wait()
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
