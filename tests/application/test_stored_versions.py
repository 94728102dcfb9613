"""Events stored by earlier versions still load, upcast to what the code reads now.

``fixtures/events_v1.json`` holds a conversation's events exactly as the version before
replies were delivered stored them (class version 1 of Opened, MessageReceived,
ReplyQueued, ReplyDelivered, ReplyDeliveryFailed); ``fixtures/events_v2.json`` as the
version before e-mail, chat and phone stored them (class version 2 of Opened,
MessageReceived, ReplyQueued, ReplyDeliveryFailed), written by that version's code.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from app.config import Settings, event_store_env
from domain import values as v
from domain.application import Clock, Conversations
from domain.privacy import ERASED, ERASURE_TOPIC, SEALINGS
from domain.values import Identity

FIXTURE = Path(__file__).parent / "fixtures" / "events_v1.json"


def insert_stored(app: Conversations, events: list[dict[str, Any]]) -> None:
    """Write a fixture's events as the store held them, bytes and all."""
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=UUID(e["originator_id"]), originator_version=e["originator_version"],
                topic=e["topic"], state=e["state"].encode(),
            )
            for e in events
        ]
    )  # fmt: skip


def load_fixture(app: Conversations) -> UUID:
    fixture = json.loads(FIXTURE.read_text())
    insert_stored(app, fixture["events"])
    return UUID(fixture["conversation_id"])


def test_a_conversation_stored_by_the_first_version_loads_with_its_new_fields(
    application: Conversations,
) -> None:
    cid = load_fixture(application)

    conversation = application.get_conversation(cid)

    first, second = conversation.messages
    assert first["external_id"] == "1800000000000000001"
    assert first["observed_at"].isoformat() == "2026-11-20T09:01:00+00:00"
    assert first["published_at"].isoformat() == "2026-11-20T08:59:00+00:00"
    assert (first["sender"], first["brand_account"], first["thread_id"]) == (None, None, None)
    assert second["in_reply_to"] is None
    delivered, failed = sorted(conversation.replies.values(), key=lambda r: r["queued_at"])
    assert (delivered["status"], delivered["external_id"]) == (v.DELIVERED, "1800000000000000009")
    assert (delivered["in_reply_to"], delivered["recipient"], delivered["from_account"]) == (
        None, None, None,
    )  # fmt: skip
    assert (failed["status"], failed["failure_code"], failed["last_error"]) == (
        v.QUEUED, "unknown", "503 from X",
    )  # fmt: skip
    assert conversation.version == 6


def test_old_events_read_in_the_log_as_the_new_versions(application: Conversations) -> None:
    cid = load_fixture(application)

    events = {type(e).__name__: e for _, e in application.global_events(limit=100)}

    assert events["Opened"].sender is None  # type: ignore[attr-defined]
    assert events["Opened"].observed_at == events["Opened"].timestamp  # type: ignore[attr-defined]
    assert events["ReplyQueued"].in_reply_to is None  # type: ignore[attr-defined]
    assert events["ReplyDelivered"].found is False  # type: ignore[attr-defined]
    assert events["ReplyDeliveryFailed"].code == "unknown"  # type: ignore[attr-defined]
    assert application.get_conversation(cid).awaiting == "nothing"


def test_a_conversation_continues_after_its_old_events(application: Conversations) -> None:
    cid = load_fixture(application)

    replied = application.queue_reply(cid, kind="answer", body="Shipped!", actor="agent:alice")

    conversation = application.get_conversation(cid)
    reply = conversation.replies[str(replied.extra["reply_id"])]
    assert reply["in_reply_to"] == "1800000000000000005"  # the customer's latest tweet
    assert reply["recipient"] == {"kind": "x", "value": "2244994945", "handle": "ann"}


FIXTURE_V2 = Path(__file__).parent / "fixtures" / "events_v2.json"


def test_a_conversation_stored_before_email_chat_and_phone_loads(
    application: Conversations,
) -> None:
    """Written by the code of commit 55de07a (class version 2 of Opened, MessageReceived
    and ReplyQueued): they gain ``details``, and the reply its e-mail thread."""
    fixture = json.loads(FIXTURE_V2.read_text())
    insert_stored(application, fixture["events"])

    conversation = application.get_conversation(UUID(fixture["conversation_id"]))

    tweet, mail = conversation.messages
    assert (tweet["details"], mail["details"]) == (None, None)
    assert mail["thread_id"] == "ann-1@example.com"
    assert conversation.mail_ids == ["ann-1@example.com"]
    reply = conversation.replies[fixture["reply_id"]]
    assert (reply["subject"], reply["references"]) == (None, [])
    assert reply["recipient"]["value"] == "ann@example.com"  # version 2's own fields kept
    assert (reply["status"], reply["failure_code"]) == (v.FAILED, "no_channel")
    assert (conversation.calls, conversation.automated, conversation.chat_session) == ([], [], None)
    assert conversation.current_channel == "email" and conversation.version == 6


FIXTURE_V3 = Path(__file__).parent / "fixtures" / "events_v3.json"


def _conversation_topics() -> set[str]:
    from eventsourcing.domain import Aggregate

    from domain.conversation import Conversation

    return {
        c.TOPIC for c in vars(Conversation).values()
        if isinstance(c, type) and issubclass(c, Aggregate.Event)
        and getattr(c, "TOPIC", "").startswith("parley.Conversation.")
        and c.TOPIC != "parley.Conversation.Created"  # the base of Opened, never stored
    }  # fmt: skip


def test_every_conversation_event_as_stored_today_loads(application: Conversations) -> None:
    """``fixtures/events_v3.json``: every Conversation event type at its current class
    version, as this version stores them; a later version must still load them."""
    fixture = json.loads(FIXTURE_V3.read_text())
    later = {e["topic"] for path in LATER_FIXTURES for e in json.loads(path.read_text())["events"]}
    assert {e["topic"] for e in fixture["events"]} | later >= _conversation_topics(), (
        "a Conversation event type is missing from fixtures/events_v3.json and later: add one"
    )
    insert_stored(application, fixture["events"])

    mail, chat = (application.get_conversation(UUID(c)) for c in fixture["conversation_ids"])

    assert (mail.status, mail.current_channel, mail.version) == ("open", "phone", 22)
    assert mail.mail_ids[0] == "bea-1@example.com" and len(mail.automated) == 1
    assert mail.replies[fixture["reply_id"]]["status"] == v.QUEUED  # bounced, then retried
    assert mail.calls[0]["duration_seconds"] == 120
    assert mail.messages[0]["details"]["attachments"][0]["filename"] == "r.pdf"
    assert (chat.chat_session, chat.chat_ended) == ("s-fixture-1", True)


FIXTURE_V4 = Path(__file__).parent / "fixtures" / "events_v4.json"


def test_every_sealed_event_as_stored_today_opens_with_its_keys(
    store: dict[str, str], clock: Clock
) -> None:
    """``fixtures/events_v4.json`` (``python -m tests.support.sealed_fixture``): every event
    type with personal data, sealed, with the data keys and master key that open them,
    and a customer erased; a later version must still read them."""
    fixture = json.loads(FIXTURE_V4.read_text())
    assert set(SEALINGS) | {ERASURE_TOPIC, "parley.IdentityIndex.Released"} <= {
        e["topic"] for e in fixture["events"]
    }, "an event type with personal data is missing from fixtures/events_v4.json"
    assert not [e["topic"] for e in fixture["events"] if "pii" in e["state"].lower()]
    settings = Settings.from_env({**store, "PARLEY_MASTER_KEY": fixture["master_key"]})
    app = Conversations(env=event_store_env(settings, create_tables=True), clock=clock)
    try:
        postgres = store.get("PARLEY_STORE") == "postgres"
        schema = app.recorder.datastore.schema if postgres else ""  # type: ignore[attr-defined]
        table = f'"{schema}".parley_data_keys' if postgres else "parley_data_keys"
        with app.recorder.datastore.transaction(commit=True) as c:  # type: ignore[attr-defined]
            for row in fixture["data_keys"]:
                owner = UUID(row["owner_id"])
                c.execute(
                    f"INSERT INTO {table} (owner_id, wrapped, created_at, destroyed_at)"
                    + (" VALUES (%s, %s, %s, %s)" if postgres else " VALUES (?, ?, ?, ?)"),
                    (owner if postgres else owner.hex,
                     None if row["wrapped"] is None else bytes.fromhex(row["wrapped"]),
                     row["created_at"], row["destroyed_at"]),
                )  # fmt: skip
        insert_stored(app, fixture["events"])

        case = app.get_conversation(UUID(fixture["case"]))
        assert case.subject == "PII order 17" and case.messages[1]["body"] == "PII: any news?"
        assert case.replies[fixture["reply_id"]]["body"] == "PII: refunded to 4242"
        assert case.notes[0]["body"] == "PII: called her bank"
        assert case.calls[0]["number"] == "+44 PII 7946 0958"
        bea = app.get_customer(UUID(fixture["customer"]))
        assert bea.name == "PII Bea Example" and len(bea.identities) == 2
        assert app.find_customer(Identity("email", "pii-bea@example.com")).id == bea.id  # type: ignore[union-attr]
        erased = app.get_conversation(UUID(fixture["erased_case"]))
        assert erased.messages[0]["body"] == ERASED
        assert app.get_customer(UUID(fixture["erased"])).erased_at is not None
        assert app.find_customer(Identity("x", "9990001")).id == UUID(fixture["new_customer"])  # type: ignore[union-attr]
    finally:
        app.close()


FIXTURE_V5 = Path(__file__).parent / "fixtures" / "events_v5.json"


def test_sla_events_as_stored_today_load(application: Conversations) -> None:
    """``fixtures/events_v5.json`` (``python -m tests.support.sla_fixture``): a policy's
    versions, the book, and a case's SLA events; a later version must still read them."""
    fixture = json.loads(FIXTURE_V5.read_text())
    insert_stored(application, fixture["events"])

    case = application.get_conversation(UUID(fixture["case"]))
    policy = application.get_sla_policy(UUID(fixture["policy"]))

    assert [v["spec"]["name"] for v in policy.versions] == [
        "X within 30 minutes", "X within 20 minutes", "X within 20 minutes",
    ]  # fmt: skip
    assert policy.retired and policy.version == 3
    assert application.list_sla_policies() == []
    assert (case.sla_policy["id"], case.sla_policy["reason"]) == ("default", "reapplied")
    assert [(b["metric"], b["seq"]) for b in case.sla_breaches] == [("first_response", 1)]
    breach = case.sla_breaches[0]
    assert breach["deadline"] == case.opened_at + timedelta(seconds=1200)
    assert breach["detected_at"] > breach["deadline"]
    clock = application.sla_clock(case.id)
    assert clock.breached and clock.policy_id == "default"
    assert application.get_customer(UUID(fixture["customer"])).tags == ["vip"]


FIXTURE_V6 = Path(__file__).parent / "fixtures" / "events_v6.json"
FIXTURE_V7 = Path(__file__).parent / "fixtures" / "events_v7.json"
LATER_FIXTURES = (FIXTURE_V5, FIXTURE_V6, FIXTURE_V7)  # event types added after v3, each in its own


def test_care_playbook_events_as_stored_today_load(application: Conversations) -> None:
    """``fixtures/events_v6.json`` (``python -m tests.support.playbook_fixture``): a case
    moved to DM, X's answer on whether the DM reaches the customer, a DM refused."""
    fixture = json.loads(FIXTURE_V6.read_text())
    insert_stored(application, fixture["events"])

    case = application.get_conversation(UUID(fixture["case"]))

    assert case.current_channel == "x_dm" and case.status == "open"
    assert case.replies[fixture["reply"]]["failure_code"] == "recipient_not_following"
    assert case.dm_reach is not None
    assert (case.dm_reach["receives_dms"], case.dm_reach["source"]) == (False, "delivery")
    assert case.dm_reach["requirement"] == "follows_brand_or_open_dms"


def test_care_policy_events_as_stored_today_load(application: Conversations) -> None:
    """``fixtures/events_v7.json`` (``python -m tests.support.care_fixture``): the care
    policy's versions, a case classified, routed and handed out round-robin, canned
    responses and a roster; a later version must read them."""
    fixture = json.loads(FIXTURE_V7.read_text())
    insert_stored(application, fixture["events"])

    case = application.get_conversation(UUID(fixture["case"]))

    assert [v["version"] for v in application.care_rule_versions()] == [1, 2]
    assert application.care_rules_at()["rules"]["routing"][0]["team"] == "care"
    labels = [case.classifications[str(m["id"])]["label"] for m in case.messages]
    assert labels == ["complaint", "other"]
    assert (case.team, case.priority) == ("care", "medium")
    assert case.routed is not None and case.routed["rule"] == "complaints"
    canned = application.get_canned_response(UUID(fixture["canned"]))
    assert [v["spec"]["body"] for v in canned.versions] == [
        "Sorry $customer_name, see $case_link", "Sorry, $customer_name.",
    ]  # fmt: skip
    assert application.get_canned_response(UUID(fixture["deleted"])).deleted
    assert [c.id for c in application.list_canned_responses()] == [canned.id]
    roster = application.get_roster("care")
    assert list(roster.agents) == ["ann", "bob"] and roster.last_assigned == case.assignee
    assert roster.agents["ann"]["shift"]["time_zone"] == "Europe/London"
    assert all(not a["open"] for a in roster.agents.values())  # the case was resolved
