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
from domain.exceptions import CustomerErasedError, InvalidTransitionError
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
    phone = Identity("phone", f"+44 20 7946 {uuid4().int % 10**6:06d}")
    app.add_identity(customer, identity=phone, actor=AGENT)
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
            assert getattr(event, OWNER) == str(customer)
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
    application: Conversations, store: dict[str, str], clock: Clock
) -> None:
    """A ciphertext is bound to its event: pasting one into another event (by someone
    with the database but no key) does not open. (Read by a process that has not loaded
    the case: one that has keeps what it decoded, ``domain.load_cache``.)"""
    app = application
    case, _, _ = a_case(app)
    events = list(app.recorder.select_notifications(start=1, limit=999))
    note = next(n for n in events if n.topic.endswith("NoteAdded"))
    reply = next(n for n in events if n.topic.endswith("ReplyQueued"))
    reply_state = json.loads(reply.state)
    reply_state["_sealed_fields_"] = json.loads(note.state)["_sealed_fields_"]
    Tamper(store, app.recorder.events_table_name).alter(
        reply.id, reply.state, json.dumps(reply_state).encode()
    )

    reader = other_process(store, clock)
    try:
        with pytest.raises(PersonalDataError, match="do not open"):
            reader.get_conversation(case)
    finally:
        reader.close()


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


def test_a_merged_record_is_erased_with_the_customer_it_joined_not_alone(
    application: Conversations,
) -> None:
    app = application
    _, absorbed, _ = a_case(app)
    _, survivor, _ = a_case(app)
    app.merge_customers(absorbed, survivor, actor=SUPERVISOR)

    with pytest.raises(InvalidTransitionError, match=f"merged into {survivor}"):
        app.erase_customer(absorbed, actor=SUPERVISOR)
    assert app.get_customer(absorbed).erased_at is None


def test_a_returning_address_gets_an_index_entry_nothing_links_to_the_erased_one(
    application: Conversations,
) -> None:
    app = application
    _, first, mail = a_case(app)
    old = IdentityIndex.keyed_id(app.index_secret, mail.key)
    app.erase_customer(first, actor=SUPERVISOR)

    again = app.open_conversation(
        channel="email", body="hello again", actor=INTEGRATION, identity=mail,
        external_id=f"<{uuid4()}@m>",
    )  # fmt: skip

    second = again.extra["customer_id"]
    new = IdentityIndex.keyed_id(app.index_secret, mail.key, generation=1)
    assert app.repository.get(new).customer_id == second
    old_events = [vars(e) for e in app.events.get(old)]
    assert [type(e).__name__ for e in app.events.get(old)] == ["Claimed", "Released"]
    assert not any(second in (x for x in e.values()) for e in old_events)


def test_a_customer_stored_before_sealing_gets_a_key_on_their_first_sealed_write(
    store: dict[str, str], clock: Clock
) -> None:
    env = event_store_env(Settings.from_env(store), create_tables=True)
    before = Conversations(env=env, clock=clock, seal_personal_data=False)  # as an older version
    case, customer, _ = a_case(before)
    before.close()
    one, two = other_process(store, clock), other_process(store, clock)
    try:
        assert one.keys.lookup(customer) == (False, None)
        one.add_note(case, body=f"sealed {SECRET}", actor=AGENT)  # makes and stores the key
        two.add_note(case, body="and another", actor=AGENT)  # finds the one stored
        notes = two.get_conversation(case).notes
        assert [n["body"] for n in notes][-2:] == [f"sealed {SECRET}", "and another"]
        assert notes[0]["body"] == f"customer lives at {SECRET}"  # plain, as it was stored
    finally:
        one.close()
        two.close()


def test_a_pulled_reply_of_an_erased_customer_is_never_shown(application: Conversations) -> None:
    app = application
    opened = app.open_conversation(
        channel="api", body=f"my address is {SECRET}", actor=INTEGRATION,
        identity=Identity("email", f"{uuid4().hex[:8]}@example.com"),
    )  # fmt: skip
    reply = app.queue_reply(opened.id, kind="answer", body="on its way", actor=AGENT)
    app.erase_customer(opened.extra["customer_id"], actor=SUPERVISOR)

    with pytest.raises(CustomerErasedError):
        app.record_receipt(opened.id, reply_id=reply.extra["reply_id"], actor=INTEGRATION)


# Every field of every event type that is not sealed, and why it is not personal. A new
# field (or event type) fails the test below until it is sealed or listed here.
NOT_PERSONAL: dict[str, tuple[str, ...]] = {
    # ids, times, channels, codes and flags: the story an auditor replays
    "parley.Conversation.Opened": (
        "customer_id",
        "channel",
        "public",
        "message_id",
        "published_at",
        "observed_at",
        # channel ids: threading and de-duplication need them in the clear
        "external_id",
        "brand_account",
        "thread_id",
        "in_reply_to",
        "sla",  # the policy pinned and the terms it promised
    ),
    "parley.Conversation.MessageReceived": (
        "message_id",
        "channel",
        "external_id",
        "public",
        "published_at",
        "observed_at",
        "brand_account",
        "thread_id",
        "in_reply_to",
    ),
    "parley.Conversation.ReplyQueued": (
        "reply_id",
        "author",
        "channel",
        "public",
        "kind",
        "in_reply_to",
        "from_account",
        "references",  # Message-IDs of the case's mails
    ),
    "parley.Conversation.ReplyDelivered": ("reply_id", "external_id", "attempt", "found"),
    "parley.Conversation.ReplyDeliveryFailed": (
        "reply_id",
        "attempt",
        "retryable",
        "code",
        "retry_at",
    ),
    "parley.Conversation.ReplyBounced": ("reply_id", "status", "bounce_id"),
    "parley.Conversation.AutomatedMessageReceived": (
        "message_id",
        "channel",
        "kind",
        "external_id",
        "published_at",
    ),
    "parley.Conversation.CallLogged": (
        "call_id",
        "direction",
        "started_at",
        "duration_seconds",
        "agent",
    ),
    "parley.Conversation.ChatEnded": ("session_id",),
    # Whether X lets the brand DM the customer: facts about reach, no content or identity.
    "parley.Conversation.DmReachRecorded": (
        "requirement",
        "receives_dms",
        "follows_brand",
        "source",
    ),
    "parley.Conversation.ReplyDispatched": ("reply_id", "attempt"),
    "parley.Conversation.RedeliveryRequested": ("reply_id",),
    "parley.Conversation.ChannelSwitched": ("from_channel", "to_channel"),
    "parley.Conversation.Assigned": ("agent", "team"),  # the brand's people, not customers
    "parley.Conversation.Unassigned": ("agent", "team"),
    "parley.Conversation.NoteAdded": ("note_id",),
    "parley.Conversation.Tagged": ("tag",),  # the team's labels
    "parley.Conversation.Untagged": ("tag",),
    "parley.Conversation.PriorityChanged": ("priority",),
    "parley.Conversation.Snoozed": ("until",),
    "parley.Conversation.Unsnoozed": (),
    "parley.Conversation.Resolved": ("resolution",),  # a code
    "parley.Conversation.Reopened": (),
    "parley.Conversation.SlaApplied": (
        "policy_id",
        "policy_version",
        "policy_name",
        "terms",
        "reason",
    ),
    "parley.Conversation.SlaBreached": (
        "metric",
        "seq",
        "deadline",
        "detected_at",
        "policy_id",
        "policy_version",
    ),
    "parley.Conversation.SlaAtRisk": ("metric", "seq", "at", "deadline"),
    # the care policy's word on a message: its own rule names and labels, no customer text
    "parley.Conversation.MessageClassified": (
        "message_id",
        "label",
        "rule",
        "position",
        "policy_version",
    ),
    "parley.Conversation.Routed": (
        "message_id",
        "rule",
        "position",
        "policy_version",
        "team",
        "priority",
    ),
    # the care policy: the brand's rules (keywords, teams), written by its supervisors
    "parley.CarePolicy.Adopted": ("rules",),
    "parley.CarePolicy.Revised": ("rules",),
    # canned responses: the brand's stock texts (variables stay placeholders in them)
    "parley.CannedResponse.Written": ("spec",),
    "parley.CannedResponse.Revised": ("spec",),
    "parley.CannedResponse.Deleted": (),
    "parley.CannedResponseBook.Opened": (),
    "parley.CannedResponseBook.Entered": ("canned_response_id", "team"),
    "parley.CannedResponseBook.Removed": ("canned_response_id",),
    # rosters: the brand's agents, their shifts and the cases handed to them
    "parley.TeamRoster.Started": ("team",),
    "parley.TeamRoster.AgentRostered": ("agent", "capacity", "shift"),
    "parley.TeamRoster.AgentRemoved": ("agent",),
    "parley.TeamRoster.CaseHandedOut": ("agent", "conversation_id"),
    "parley.TeamRoster.CaseReleased": ("agent", "conversation_id", "reason"),
    # SLA policies: the brand's promises; ``notify`` holds its own supervisors' addresses
    "parley.SlaPolicy.Defined": ("spec",),
    "parley.SlaPolicy.Revised": ("spec",),
    "parley.SlaPolicy.Retired": (),
    "parley.SlaPolicyBook.Opened": (),
    "parley.SlaPolicyBook.Entered": ("policy_id", "version", "spec"),
    "parley.SlaPolicyBook.Removed": ("policy_id",),
    "parley.Customer.Registered": (),
    "parley.Customer.IdentityAdded": (),
    "parley.Customer.Merged": ("target_id",),
    "parley.Customer.Absorbed": ("source_id",),
    "parley.Customer.Unmerged": ("target_id",),
    "parley.Customer.Released": ("source_id",),
    "parley.Customer.Erased": ("owners", "conversation_ids", "reference"),
    "parley.Customer.Tagged": ("tag",),  # the team's labels
    "parley.Customer.Untagged": ("tag",),
    "parley.IdentityIndex.Claimed": ("customer_id",),
    "parley.IdentityIndex.Released": (),
    "parley.InboundIndex.Recorded": ("channel", "external_id", "conversation_id", "message_id"),
    "parley.ThreadIndex.Recorded": ("channel", "thread_id", "conversation_id"),
    "parley.OutboundIndex.Recorded": ("channel", "external_id", "conversation_id", "reply_id"),
    "parley.CaseIndex.Started": ("customer_id",),
    "parley.CaseIndex.CaseAdded": ("conversation_id",),
    "parley.CaseIndex.Closed": (),
    # the caller's key, a keyed hash of the request, and the answer (ids and flags)
    "parley.IdempotencyKey.Claimed": ("principal", "key", "fingerprint", "response", "changed"),
    "parley.IdempotencyKey.Reclaimed": ("fingerprint", "response", "changed"),
    # API tokens: the brand's people and systems; the token itself only as a hash
    "parley.ApiToken.Issued": ("token_hash", "name", "role", "expires_at"),
    "parley.ApiToken.Revoked": (),
    "parley.TokenRegistry.Started": (),
    "parley.TokenRegistry.Listed": ("token_id",),
}
ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic", "actor"}


def test_every_field_of_every_event_type_is_sealed_or_named_as_not_personal() -> None:
    import dataclasses

    from eventsourcing.domain import Aggregate

    from domain import (
        access,
        canned,
        care_policy,
        conversation,
        customer,
        idempotency,
        indexes,
        roster,
        sla_policy,
    )

    aggregates = [
        conversation.Conversation, customer.Customer, idempotency.IdempotencyKey,
        sla_policy.SlaPolicy, sla_policy.SlaPolicyBook, care_policy.CarePolicy,
        canned.CannedResponse, canned.CannedResponseBook, roster.TeamRoster,
        *(a for m in (indexes, access) for a in vars(m).values()
          if isinstance(a, type) and issubclass(a, Aggregate) and a is not Aggregate),
    ]  # fmt: skip
    seen = set()
    for aggregate in aggregates:
        for cls in vars(aggregate).values():
            if not (isinstance(cls, type) and issubclass(cls, Aggregate.Event)):
                continue
            topic = get_topic(cls)
            names = {f.name for f in dataclasses.fields(cls)} - ENVELOPE
            if not topic.startswith("parley.") or (not names and topic.endswith(".Created")):
                continue  # the library's bases, never stored as such
            seen.add(topic)
            sealed = {p.split(".")[0].removesuffix("[]") for p in SEALINGS[topic].paths} if (
                topic in SEALINGS) else set()  # fmt: skip
            assert topic in NOT_PERSONAL, f"{topic}: seal its personal fields or list them here"
            assert names - sealed == set(NOT_PERSONAL[topic]), topic
    assert set(SEALINGS) <= seen


def test_a_page_of_the_log_opens_as_its_events_do_one_by_one(
    application: Conversations, store: dict[str, str], clock: Clock
) -> None:
    """``to_domain_events`` reads a page's data keys together (``KeyRing.prefetch``); what
    it gives must be what decoding each event alone gives, erased customers included."""
    erased_case, erased_customer, _ = a_case(application)
    kept_case, _, _ = a_case(application)
    application.erase_customer(erased_customer, actor=SUPERVISOR, reference="DSR-2")
    application.add_note(kept_case, body=f"still at {SECRET}", actor=AGENT)
    page = application.recorder.select_notifications(start=1, limit=10_000)

    together, alone = other_process(store, clock), other_process(store, clock)  # cold caches
    try:
        opened = together.mapper.to_domain_events(page)  # type: ignore[attr-defined]
        expected = [alone.mapper.to_domain_event(n) for n in page]
    finally:
        together.close()
        alone.close()

    assert [vars(e) for e in opened] == [vars(e) for e in expected]
    sealed = [e for e in opened if get_topic(type(e)) in SEALINGS]
    of_erased = [e for e in sealed if e.originator_id == erased_case]
    of_kept = [e for e in sealed if e.originator_id == kept_case]
    assert of_erased and all(is_erased(e) for e in of_erased)
    assert of_kept and not any(is_erased(e) for e in of_kept)
    assert any(SECRET in json.dumps(vars(e), default=str) for e in of_kept)


def test_a_page_holding_an_erasure_makes_a_reader_forget_the_key_it_had_cached(
    application: Conversations, store: dict[str, str], clock: Clock
) -> None:
    """A reader that opened a customer's case (their key cached, fresh) and then reads the
    log page holding their erasure must not keep the key: later reads show them erased."""
    case, customer, _ = a_case(application)
    reader = other_process(store, clock)
    try:
        assert reader.get_conversation(case).messages[0]["body"].endswith(SECRET)
        assert reader.keys.lookup(customer)[1] is not None  # cached
        application.erase_customer(customer, actor=SUPERVISOR, reference="DSR-3")
        page = application.recorder.select_notifications(start=1, limit=10_000)
        reader.mapper.to_domain_events(page)  # type: ignore[attr-defined]
        assert reader.keys.lookup(customer) == (True, None)
    finally:
        reader.close()
