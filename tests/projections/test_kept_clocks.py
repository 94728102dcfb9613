"""Case clocks kept in memory between batches give the views a fresh load would give."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from domain.application import Conversations
from domain.sla_clock import SlaClock
from domain.sla_terms import Terms
from projections import case_clocks
from projections.case_clocks import KeptClocks, clock_from_text, state_text
from projections.db import ReadStore
from projections.inbox import Inbox
from projections.log import NotificationLog
from projections.rebuild import verify
from projections.sla import SlaCases
from tests.conftest import Clock
from tests.projections.support import follower
from tests.projections.test_concurrency import write_commands


@pytest.fixture
def no_kept_clocks() -> Iterator[None]:
    """Every clock loaded from its row's JSON, as before clocks were kept."""
    size = case_clocks.KEPT.size
    case_clocks.KEPT.size = 0
    case_clocks.KEPT.clear()
    yield
    case_clocks.KEPT.size = size


def test_views_followed_one_event_per_batch_equal_a_build_that_keeps_no_clock(
    application: Conversations,
    clock: Clock,
    read_store: ReadStore,
    events: NotificationLog,
    request: pytest.FixtureRequest,
) -> None:
    opened: list = []
    for writer in range(3):
        write_commands(application, clock, f"w{writer}", 12, opened)
    live = follower(read_store, events, [Inbox(), SlaCases()], batch_size=1)
    live.run_once()  # every batch after a case's first reuses its kept clock
    assert live.failed == {}

    request.getfixturevalue("no_kept_clocks")
    for projection in (Inbox(), SlaCases()):
        assert verify(read_store, events, projection) == [], projection.name


def test_a_kept_clock_is_taken_once_and_only_for_the_text_it_was_written_as() -> None:
    kept = KeptClocks(size=2)
    clock = SlaClock(conversation_id="c1")
    kept.put(("proj_inbox", "sla_state", "c1"), '{"v":1}', clock)

    assert kept.take(("proj_inbox", "sla_state", "c1"), '{"v":2}') is None  # the row moved on
    kept.put(("proj_inbox", "sla_state", "c1"), '{"v":1}', clock)
    assert kept.take(("proj_inbox__shadow_1", "sla_state", "c1"), '{"v":1}') is None
    taken = kept.take(("proj_inbox", "sla_state", "c1"), '{"v":1}')
    assert taken is clock
    # Taken out: a batch that fails after folding it leaves nothing to be reused.
    assert kept.take(("proj_inbox", "sla_state", "c1"), '{"v":1}') is None

    for n in range(3):
        kept.put(("t", "s", f"c{n}"), "{}", SlaClock())
    assert kept.take(("t", "s", "c0"), "{}") is None  # the least recently kept went first
    assert kept.take(("t", "s", "c2"), "{}") is not None


def test_a_kept_state_is_the_clocks_own_json_with_its_terms_made_once(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    opened: list = []
    write_commands(application, clock, "w0", 12, opened)
    live = follower(read_store, events, [Inbox()], batch_size=50)
    live.run_once()
    states = [r["sla_state"] for r in read_store.query("SELECT sla_state FROM proj_inbox")]
    assert states
    for text in states:
        restored = SlaClock.from_state(json.loads(text))
        assert state_text(restored) == json.dumps(restored.to_state(), separators=(",", ":"))
        assert state_text(restored) == text
    assert state_text(SlaClock()) == json.dumps(SlaClock().to_state(), separators=(",", ":"))


def test_a_clock_read_back_from_its_text_is_the_clock_parsing_all_of_it_gives(
    application: Conversations, clock: Clock, read_store: ReadStore, events: NotificationLog
) -> None:
    """``clock_from_text`` skips parsing terms it knows; it must give what parsing does,
    for terms it knows, terms it does not, and text written some other way."""
    opened: list = []
    write_commands(application, clock, "w0", 12, opened)
    follower(read_store, events, [Inbox()], batch_size=50).run_once()
    texts = [r["sla_state"] for r in read_store.query("SELECT sla_state FROM proj_inbox")]
    parsed = SlaClock.from_state(json.loads(texts[0]))
    other = SlaClock.from_state(json.loads(texts[0]))
    other.terms = Terms.from_dict({**parsed.terms.to_dict(), "at_risk_share": 0.5})
    assert other.terms != parsed.terms
    texts += [state_text(other), json.dumps(json.loads(texts[0]))]  # spaces: not state_text's

    for known in (False, True):
        if not known:
            case_clocks._KNOWN_TERMS.clear()
        for text in texts:
            expected = SlaClock.from_state(json.loads(text))
            read = clock_from_text(text)
            assert read.to_state() == expected.to_state()
            assert read.terms == expected.terms
    assert case_clocks._KNOWN_TERMS  # both terms are known by now: the skipping was tried
