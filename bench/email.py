"""E-mail throughput, end to end: replies out through a real SMTP server, raw mail in.

    python -m bench.email [--store sqlite|postgres|both] [--n 300]

For each store, in one run, on a fresh store and a Redis database of its own:

* rq no-op       RQ's own ceiling (``bench.channels.rq_noop``): N jobs that do nothing,
                 run by one ``SimpleWorker``, the worker class the delivery figure uses
* deliver email  N cases opened by inbound e-mail (each a raw message, parsed by
                 ``parse_mail`` and recorded by ``receive_contact``, as the webhook does),
                 N replies queued through the API (Flask app in-process, agent token),
                 then the outbox and one ``SimpleWorker`` until every reply is
                 ``ReplyDelivered`` through the SMTP sink (aiosmtpd, a real SMTP server on
                 loopback, reached by smtplib): e-mails per second, and the latency from
                 ``ReplyQueued`` to ``ReplyDelivered`` (p50/p99, the events' timestamps);
                 against the rq no-op row
* sink check     what the sink wrote: .eml files and distinct Message-IDs (both N if all
                 is well)
* parse alone    ``workers.email_inbound.parse_mail`` over N raw messages (plain text,
                 multipart/alternative with HTML, and multipart/mixed with a small PDF
                 attachment, in turn): the webhook row's ceiling
* webhook email  the same N messages posted one by one to ``POST /webhooks/email``
                 (Flask test client, integration token, ``message/rfc822``), each a new
                 case: messages parsed and recorded per second, against parse alone

The sink runs as its own process (``python -m tests.support.smtp_sink``), so this module
imports nothing from the tests. Figures print as a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path

from bench.channels import free_port, latency_figure, percentile, redis_url, rig, rq_noop
from bench.stores import KINDS, describe_machine, fresh_store
from workers.email_inbound import mail_contact, parse_mail

ROOT = Path(__file__).resolve().parents[1]
REDIS_DB = 11
BRAND = "care@parley.example"
MAIL_FROM = f"Parley Care <{BRAND}>"
KINDS_OF_MAIL = ("plain", "alternative", "attachment")
ATTACHMENT = bytes(range(256)) * 8  # 2 kB, base64 in the message


@contextmanager
def sink(directory: Path) -> Iterator[int]:
    """The SMTP sink as its own process, writing each message to ``directory``; its port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.smtp_sink", "--port", str(port),
         "--dir", str(directory)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        said = process.stdout.readline().strip()  # "listening on 127.0.0.1:PORT"
        if not said.startswith("listening on"):
            raise RuntimeError(f"the SMTP sink did not start: {said!r}")
        yield port
    finally:
        process.terminate()
        process.wait(10)


def settings_for(store: dict[str, str], port: int) -> dict[str, str]:
    return {
        **store, "PARLEY_CREATE_TABLES": "y", "PARLEY_REDIS_URL": redis_url(REDIS_DB),
        "PARLEY_SMTP_HOST": "127.0.0.1", "PARLEY_SMTP_PORT": str(port),
        "PARLEY_MAIL_FROM": MAIL_FROM,
    }  # fmt: skip


def raw_mail(i: int, who: str, kind: str = "plain") -> bytes:
    """A customer's message as a mail client sends it (CRLF, RFC 5322, MIME)."""
    msg = EmailMessage()
    msg["From"] = f"Customer {who}{i} <{who}{i}@example.com>"
    msg["To"] = BRAND
    msg["Subject"] = f"Order {i}: where is my parcel?"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = f"<{who}-{i}-{uuid.uuid4().hex[:12]}@mail.example.com>"
    text = f"Hello,\n\nmy order {i} has not arrived yet. Can you check?\n\nThanks,\n{who}{i}\n"
    msg.set_content(text)
    if kind == "alternative":
        msg.add_alternative(
            f"<html><body><p>Hello,</p><p>my order <b>{i}</b> has not arrived yet."
            f" Can you check?</p><p>Thanks,<br>{who}{i}</p></body></html>",
            subtype="html",
        )
    elif kind == "attachment":
        msg.add_attachment(
            ATTACHMENT, maintype="application", subtype="pdf", filename=f"receipt-{i}.pdf"
        )
    return msg.as_bytes(policy=SMTP)


def sink_check(directory: Path) -> tuple[int, int]:
    """The .eml files the sink wrote, and the distinct Message-IDs among them."""
    files = list(directory.glob("*.eml"))
    parser = BytesHeaderParser()
    ids = {parser.parsebytes(path.read_bytes()).get("Message-ID") for path in files}
    return len(files), len(ids - {None})


Row = tuple[str, str, str, str, str]  # store, path, figure, ceiling, ratio


def run_store(kind: str, n: int, directory: Path) -> list[Row]:
    return measure(kind, n, directory)[0]


def measure(kind: str, n: int, directory: Path) -> tuple[list[Row], dict[str, float]]:
    """The rows as printed, and the same figures as numbers (for ``python -m bench``)."""
    rows: list[Row] = []
    figures: dict[str, float] = {}
    mail_dir = directory / "mail"
    with (
        sink(mail_dir) as port,
        fresh_store(kind, directory, "email") as store,
        rig(settings_for(store, port)) as bench,
    ):
        app, client = bench.ctx.application, bench.client
        noop = rq_noop(bench.connection, n)
        rows.append((kind, "rq no-op", f"{noop:,.0f} jobs/s", "", ""))

        agent, integration = bench.headers("agent"), bench.headers("integration")
        cases = []
        for i in range(n):
            contact = mail_contact(parse_mail(raw_mail(i, "c")), "integration:bench")
            cases.append(app.receive_contact(contact).id)
        bench.box.run_once()

        started = time.perf_counter()
        refused = 0
        for i, cid in enumerate(cases):
            answer = client.post(
                f"/v1/conversations/{cid}/replies",
                json={"body": f"Hello,\n\nyour order {i} ships today.\n\nParley Care"},
                headers=agent,
            )
            refused += answer.status_code != 202
        done = bench.drain(lambda: len(list(mail_dir.glob("*.eml"))) >= n - refused, timeout=300)
        elapsed = time.perf_counter() - started
        latencies = bench.latencies(cases)
        rate = len(latencies) / elapsed
        figures.update(rq_noop=noop, deliver=rate, delivered=len(latencies), refused=refused)
        if latencies:
            figures.update(latency_p50=percentile(latencies, 0.5),
                           latency_p99=percentile(latencies, 0.99))  # fmt: skip
        note = "" if done and not refused else f", {refused} refused, gave up after {elapsed:.0f} s"
        rows.append((
            kind, "deliver email", f"{rate:,.1f} e-mails/s, {latency_figure(latencies)}{note}",
            f"{noop:,.0f} jobs/s (rq no-op)", f"{rate / noop:.2f}",
        ))  # fmt: skip
        files, ids = sink_check(mail_dir)
        figures.update(files=files, message_ids=ids)
        rows.append((kind, "sink check", f"{files} .eml files, {ids} distinct Message-IDs"
                     f" (of {n})", "", ""))  # fmt: skip

        mails = [raw_mail(i, "w", KINDS_OF_MAIL[i % len(KINDS_OF_MAIL)]) for i in range(n)]
        started = time.perf_counter()
        for raw in mails:
            parse_mail(raw)
        parse = n / (time.perf_counter() - started)
        figures["parse"] = parse
        size = sum(map(len, mails)) / n / 1024
        rows.append((kind, "parse alone", f"{parse:,.0f} msgs/s ({size:.1f} kB avg)", "", ""))

        headers = integration | {"Content-Type": "message/rfc822"}
        recorded = 0
        started = time.perf_counter()
        for raw in mails:
            answer = client.post("/webhooks/email", data=raw, headers=headers)
            recorded += answer.status_code == 200 and answer.get_json()["result"] == "recorded"
        webhook = n / (time.perf_counter() - started)
        figures.update(webhook=webhook, recorded=recorded)
        rows.append((
            kind, "webhook email", f"{webhook:,.0f} msgs/s ({recorded} of {n} recorded)",
            f"{parse:,.0f} msgs/s (parse alone)", f"{webhook / parse:.2f}",
        ))  # fmt: skip
    return rows, figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=[*KINDS, "both"], default="both")
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args(argv)
    kinds = list(KINDS) if args.store == "both" else [args.store]
    print(describe_machine(kinds), file=sys.stderr)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as directory:
        for kind in kinds:
            rows += run_store(kind, args.n, Path(directory) / uuid.uuid4().hex)
    print(f"{'store':9} {'path':14} {'figure':52} {'ceiling':28} ratio")
    for store, path, figure, ceiling, ratio in rows:
        print(f"{store:9} {path:14} {figure:52} {ceiling:28} {ratio}".rstrip())


if __name__ == "__main__":
    main()
