"""Personal data sealed per customer, erasable by destroying that customer's keys.

The stored events hold no message, name or address in the clear; every event with
personal data names whose key seals it; an erasure makes every personal field read as
erased on every decode, in this process and any other, while the rest of the story
stays, and the addresses become free for a new customer.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.utils import get_topic

from app.config import Settings, event_store_env
from domain.application import Clock, Conversations
from domain.exceptions import CustomerErasedError
from domain.indexes import IdentityIndex
from domain.privacy import ERASED, OWNER, SEALINGS, PersonalDataError, is_erased, new_master_key
from domain.values import Identity
from tests.application.conftest import AGENT, INTEGRATION, SUPERVISOR, a_tweet_id
from tests.support.tamper import Tamper

SECRET = "Flat 3, 12 Quarry Lane"  # what a customer tells us, and must be erasable


def other_process(store: dict[str, str], clock: Clock, **settings: str) -> Conversations:
    return Conversations(
        env=event_store_env(Settings.from_env({**store, **settings}), create_tables=True),
        clock=clock,
    )


def a_case(app: Conversations) -> tuple[UUID, UUID, Identity]:
    """A customer who mailed, tweeted, was replied to, noted about and called."""
    mail = Identity("email", f"{uuid4().hex[:8]}@example.com")
    opened = app.open_conversation(
        channel="email", body=f"my address is {SECRET}", actor=INTEGRATION, identity=mail,
        customer_name="Ann Example", subject=f"Re: {SECRET}", external_id=f"<{uuid4()}@m>",
    )  # fmt: skip
    case, customer = opened.id, opened.extra["customer_id"]
    app.queue_reply(case, kind="answer", body=f"we will send it to {SECRET}", actor=AGENT)
    app.add_note(case, body=f"customer lives at {SECRET}", actor=AGENT)
    app.add_identity(customer, identity=Identity("phone", "+44 20 7946 0958"), actor=AGENT)
    return case, customer, mail


def stored_states(app: Conversations) -> list[tuple[str, bytes]]:
    return [(n.topic, n.state) for n in app.recorder.select_notifications(start=1, limit=10_000)]


def test_the_store_holds_no_personal_field_in_the_clear(application: Conversations) -> None:
    case, customer, mail = a_case(application)

    for topic, state in stored_states(application):
        for plain in (SECRET, "Ann Example", mail.value, "7946"):
            assert plain.encode() not in state, (topic, plain)
    # ... and every event that carries personal data names whose key seals it.
    for event in application.conversation_events(case):
        if get_topic(type(event)) in SEALINGS and type(event).__name__ != "Opened":
            assert getattr(event, OWNER) == customer
    # It all reads back as written.
    conversation = application.get_conversation(case)
    assert conversation.messages[0]["body"] == f"my address is {SECRET}"
    assert application.get_customer(customer).name == "Ann Example"


def test_an_identity_index_id_is_a_keyed_hash_not_a_uuid5_of_the_address(
    application: Conversations,
) -> None:
    _, customer, mail = a_case(application)

    assert application.find_customer(mail).id == customer  # type: ignore[union-attr]
    ids = {n.originator_id for n in application.recorder.select_notifications(start=1, limit=999)}
    assert IdentityIndex.create_id(mail.key) not in ids  # anyone could compute that one
    assert IdentityIndex.keyed_id(application.index_secret, mail.key) in ids


def test_another_master_key_opens_nothing(
    application: Conversations, store: dict[str, str], clock: Clock
) -> None:
    case, _, _ = a_case(application)

    intruder = other_process(store, clock, PARLEY_MASTER_KEY=new_master_key())
    try:
        with pytest.raises(PersonalDataError, match="does not open with this master key"):
            intruder.get_conversation(case)
    finally:
        intruder.close()


def test_erasure_makes_every_personal_field_read_as_erased_and_keeps_the_story(
    application: Conversations, store: dict[str, str], clock: Clock
) -> None:
    app = application
    case, customer, mail = a_case(app)
    before = [
        (type(e).__name__, e.originator_version, e.timestamp) for e in app.conversation_events(case)
    ]
    other = other_process(store, clock)  # another process, which read the case before
    assert other.get_conversation(case).messages[0]["body"].endswith(SECRET)

    erased = app.erase_customer(customer, actor=SUPERVISOR, reference="DSR-1")

    assert erased.extra == {"already": False, "conversations": 1}
    # The other process had the key cached: reading the erasure in the log (as a
    # follower does) drops it; an API process's cache lapses within seconds.
    assert any(type(e).__name__ == "Erased" for _, e in other.global_events(0, limit=1000))
    for reader in (app, other):
        conversation = reader.get_conversation(case)
        assert conversation.messages[0]["body"] == ERASED
        assert conversation.subject == ERASED
        assert conversation.notes[0]["body"] == ERASED
        assert next(iter(conversation.replies.values()))["body"] == ERASED
        events = reader.conversation_events(case)
        assert [(type(e).__name__, e.originator_version, e.timestamp) for e in events] == before
        assert all(is_erased(e) for e in events if get_topic(type(e)) in SEALINGS)
        person = reader.get_customer(customer)
        assert person.name == ERASED and person.erased_at == clock.now
        assert {i["kind"] for i in person.identities} == {"email", "phone"}  # kinds stay
        assert {i["value"] for i in person.identities} == {ERASED}
    other.close()
    # Who did what, when, on which channel stays: the case is still the customer's case.
    assert app.get_conversation(case).customer_id == customer
    assert app.get_conversation(case).current_channel == "email"

    # A second erasure changes nothing; nothing more is written about them.
    assert app.erase_customer(customer, actor=SUPERVISOR).extra["already"] is True
    with pytest.raises(CustomerErasedError):
        app.queue_reply(case, kind="answer", body="hello?", actor=AGENT)
    with pytest.raises(CustomerErasedError):
        app.add_note(case, body="more", actor=AGENT)
    with pytest.raises(CustomerErasedError):
        app.add_identity(customer, identity=Identity("x", "12345"), actor=AGENT)

    # Their address is free: a new mail from it is a new customer, readable as ever.
    again = app.open_conversation(
        channel="email", body="hello again", actor=INTEGRATION, identity=mail,
        external_id=f"<{uuid4()}@m>",
    )  # fmt: skip
    assert again.extra["customer_id"] != customer
    assert app.find_customer(mail).id == again.extra["customer_id"]  # type: ignore[union-attr]
    assert app.get_conversation(again.id).messages[0]["body"] == "hello again"


def test_erasing_a_customer_erases_those_merged_into_it(application: Conversations) -> None:
    app = application
    x = Identity("x", str(uuid4().int)[:15])
    tweet = app.open_conversation(
        channel="x_public", body=f"@brand {SECRET}", actor=INTEGRATION, identity=x,
        external_id=a_tweet_id(),
    )  # fmt: skip
    case, absorbed = tweet.id, tweet.extra["customer_id"]
    _, survivor, _ = a_case(app)
    app.merge_customers(absorbed, survivor, actor=SUPERVISOR)

    app.erase_customer(survivor, actor=SUPERVISOR)

    assert app.get_conversation(case).messages[0]["body"] == ERASED
    assert app.get_customer(absorbed).erased_at is not None
    assert app.find_customer(x) is None


def test_sealed_fields_cannot_be_moved_between_events(
    application: Conversations, store: dict[str, str]
) -> None:
    """A ciphertext is bound to its event and field: pasting one into another event (by
    someone with the database but no key) does not open."""
    app = application
    case, _, _ = a_case(app)
    events = list(app.recorder.select_notifications(start=1, limit=999))
    note = next(n for n in events if n.topic.endswith("NoteAdded"))
    reply = next(n for n in events if n.topic.endswith("ReplyQueued"))
    note_body = json.loads(note.state)["body"]
    reply_state = json.loads(reply.state)
    reply_state["body"] = note_body
    Tamper(store, app.recorder.events_table_name).alter(
        reply.id, reply.state, json.dumps(reply_state).encode()
    )

    with pytest.raises(PersonalDataError, match="does not open"):
        app.get_conversation(case)


def test_an_erased_customers_key_leaves_the_sqlite_files(tmp_path: Path, clock: Clock) -> None:
    store = {"PARLEY_STORE": "sqlite", "PARLEY_SQLITE_PATH": str(tmp_path / "parley.sqlite")}
    app = other_process(store, clock)
    try:
        _, customer, _ = a_case(app)
        with app.recorder.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
            c.execute("SELECT wrapped FROM parley_data_keys WHERE owner_id = ?", (customer.hex,))
            wrapped = bytes(c.fetchone()[0])
        assert any(wrapped in f.read_bytes() for f in tmp_path.glob("parley.sqlite*"))

        app.erase_customer(customer, actor=SUPERVISOR)

        for path in tmp_path.glob("parley.sqlite*"):
            content = path.read_bytes()
            assert wrapped not in content, path.name
            assert base64.b64encode(wrapped) not in content
    finally:
        app.close()
