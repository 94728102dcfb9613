"""A breach reaches the supervisors its policy names: one e-mail each, through the
outbox and a real SMTP server, never twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain import values as v
from domain.values import Identity
from tests.support.smtp_sink import SmtpSink
from tests.workers.conftest import Rig
from tests.workers.test_email_channel import mail_rig, sink  # noqa: F401 - fixtures
from workers import queues
from workers.sla_notify import notify_sla_breach

WATCHERS = ["lead@brand.example", "ops-desk@brand.example"]


def breached_case(rig: Rig, notify: list[str]) -> str:
    rig.app.create_sla_policy(
        {"name": "API in a minute", "conditions": {"channels": ["api"]}, "notify": notify,
         "targets": [{"metric": "first_response", "seconds": 60}]},
        actor="supervisor:sue",
    )  # fmt: skip
    opened = rig.app.open_conversation(
        channel=v.API, body="my order is late", actor="integration:shop",
        identity=Identity(v.IDENTITY_EMAIL, "bo@example.com"),
    )  # fmt: skip
    rig.app.clock = lambda: datetime.now(UTC) + timedelta(minutes=2)  # past the deadline
    assert rig.app.record_sla_alarms(opened.id) == (1, 0)
    return str(opened.id)


def test_each_supervisor_the_policy_names_is_mailed_once(mail_rig: Rig, sink: SmtpSink) -> None:  # noqa: F811
    case = breached_case(mail_rig, WATCHERS)

    mail_rig.run(until=lambda: len(sink.messages) == len(WATCHERS))
    queues.enqueue(mail_rig.ctx.redis, queues.DEFAULT, notify_sla_breach, case,
                   "first_response", 1, job_id="sla-alert-again")  # fmt: skip
    mail_rig.run()  # a second run of the job (a retry, a Redis loss): nobody mailed again

    assert sorted(m.rcpt_tos[0] for m in sink.messages) == WATCHERS
    first = sink.messages[0].message
    assert " ".join(str(first["Subject"]).split()) == f"SLA breach: first response on case {case}"
    assert "API in a minute (version 1)" in first.get_content()
    assert len({m.message["Message-ID"] for m in sink.messages}) == len(WATCHERS)


def test_a_policy_that_names_no_one_sends_nothing(mail_rig: Rig, sink: SmtpSink) -> None:  # noqa: F811
    case = breached_case(mail_rig, [])

    mail_rig.run()

    assert sink.messages == []
    assert (
        notify_sla_breach(case, "first_response", 1) == "policy 'API in a minute' notifies no one"
    )
