"""Incidents, their book and their cases, as aggregates: no store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain import values as v
from domain.exceptions import InvalidTransitionError, InvalidValueError
from domain.incident import (
    Incident,
    IncidentBook,
    IncidentCases,
    check_keywords,
    keyword_pattern,
    matching_keyword,
    update_body,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SUE = "supervisor:sue"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def matches(keywords: list[str], text: str) -> str | None:
    words = check_keywords(keywords)
    return matching_keyword(keyword_pattern(words), words, text)


def an_incident() -> Incident:
    return Incident(
        title="App down", public_summary="We are down", links=["https://status.example.com"],
        keywords=["down"], shards=16, actor=SUE, timestamp=T0,
    )  # fmt: skip


# ---------------------------------------------------------------------- keywords
@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("is the app DOWN?", "down"),
        ("#down again", "down"),
        ("Down.", "down"),
        ("I cannot download my invoice", None),  # inside a longer word: no
        ("sundown", None),
        ("i can't log in", "can't log in"),
        ("I CAN'T\n  LOG   in!!", "can't log in"),  # any whitespace between a phrase's words
        ("I can\u2019t log in", "can't log in"),  # a typographic apostrophe
        ("cant log in", None),
        ("total outage here", "outage"),
        ("outages everywhere", None),  # whole words: list plurals as keywords of their own
    ],
)
def test_a_keyword_matches_as_a_whole_word_or_phrase_whatever_the_case(
    text: str, found: str | None
) -> None:
    assert matches(["down", "Can't   log in", "OUTAGE"], text) == found


def test_the_longest_keyword_is_reported_when_several_match_at_one_place() -> None:
    assert matches(["app", "app down"], "my app down?") == "app down"


def test_keywords_are_normalised_and_refused_when_unusable() -> None:
    assert check_keywords([" Down ", "down", "Log  In"]) == ["down", "log in"]
    with pytest.raises(InvalidValueError) as error:
        check_keywords(["!!!"])
    assert error.value.field == "keywords"
    with pytest.raises(InvalidValueError):
        check_keywords(["   "])
    with pytest.raises(InvalidValueError):
        check_keywords([f"k{n}" for n in range(21)])
    assert keyword_pattern([]) is None
    assert matching_keyword(None, [], "down") is None


def test_the_book_matches_every_live_incident_and_forgets_a_removed_one() -> None:
    book = IncidentBook(actor=SUE, timestamp=T0)
    first, second = str(uuid4()), str(uuid4())
    book.enter(incident_id=first, keywords=["down"], acknowledgement=None, shards=16,
               actor=SUE, timestamp=T0)  # fmt: skip
    book.enter(incident_id=second, keywords=["payment"], acknowledgement="sorry", shards=16,
               actor=SUE, timestamp=T0)  # fmt: skip

    assert book.matches("app down, payment failed") == [(first, "down"), (second, "payment")]
    assert book.matches("hello") == []

    book.remove(incident_id=first, actor=SUE, timestamp=at(1))
    assert book.matches("app down, payment failed") == [(second, "payment")]


# ---------------------------------------------------------------------- the incident
def test_the_standing_acknowledgement_is_recorded_once_per_text_and_never_after_resolution() -> (
    None
):
    incident = an_incident()

    assert incident.request_acknowledgements(body="sorry", actor=SUE, timestamp=at(1))
    assert not incident.request_acknowledgements(body="sorry", actor=SUE, timestamp=at(2))
    assert incident.request_acknowledgements(body="sorry!", actor=SUE, timestamp=at(3))
    assert (incident.acknowledgement, incident.acknowledgement_at) == ("sorry!", at(3))

    incident.resolve(summary="fixed", follow_up="all good", actor=SUE, timestamp=at(4))
    with pytest.raises(InvalidTransitionError):
        incident.request_acknowledgements(body="late", actor=SUE, timestamp=at(5))
    with pytest.raises(InvalidTransitionError):
        incident.resolve(summary="fixed", follow_up="x", actor=SUE, timestamp=at(6))
    assert (incident.status, incident.summary, incident.follow_up) == (
        "resolved",
        "fixed",
        "all good",
    )


def test_an_update_is_posted_like_a_reply_attempt_then_outcome_and_never_its_text_twice() -> None:
    incident = an_incident()
    update_id = uuid4()
    body = update_body(incident.public_summary, incident.links)
    assert body == "We are down\nhttps://status.example.com"
    incident.queue_update(update_id=update_id, body=body, channel=v.X_PUBLIC,
                          from_account="1", actor=SUE, timestamp=at(1))  # fmt: skip
    with pytest.raises(InvalidTransitionError) as error:
        incident.queue_update(update_id=uuid4(), body=body, channel=v.X_PUBLIC,
                              from_account="1", actor=SUE, timestamp=at(1))  # fmt: skip
    assert error.value.field == "body"

    with pytest.raises(InvalidTransitionError):  # attempts are numbered from 1
        incident.dispatch_update(update_id=update_id, attempt=2, actor="w", timestamp=at(2))
    incident.dispatch_update(update_id=update_id, attempt=1, actor="w", timestamp=at(2))
    assert incident.update(update_id)["uncertain"] is True
    incident.record_update_failure(update_id=update_id, reason="503", attempt=1, retryable=True,
                                   code="uncertain", retry_at=at(3), actor="w", timestamp=at(2))  # fmt: skip
    assert incident.update(update_id)["status"] == v.QUEUED
    assert incident.record_update_delivery(update_id=update_id, external_id="99", attempt=1,
                                           found=True, actor="w", timestamp=at(3))  # fmt: skip
    assert not incident.record_update_delivery(update_id=update_id, external_id="99", attempt=1,
                                               found=True, actor="w", timestamp=at(4))  # fmt: skip
    with pytest.raises(InvalidTransitionError):
        incident.record_update_delivery(update_id=update_id, external_id="98", attempt=2,
                                        found=False, actor="w", timestamp=at(4))  # fmt: skip
    with pytest.raises(InvalidTransitionError):
        incident.record_update_failure(update_id=update_id, reason="x", attempt=2,
                                       retryable=False, code="rejected", retry_at=None,
                                       actor="w", timestamp=at(4))  # fmt: skip
    view = incident.update(update_id)
    assert (view["status"], view["external_id"], view["delivered_at"]) == (v.DELIVERED, "99", at(3))
    with pytest.raises(InvalidValueError):
        incident.update(uuid4())


def test_a_failed_updates_text_may_be_posted_again_as_a_new_update() -> None:
    incident = an_incident()
    first = uuid4()
    incident.queue_update(update_id=first, body="down", channel=v.X_PUBLIC, from_account=None,
                          actor=SUE, timestamp=at(1))  # fmt: skip
    incident.record_update_failure(update_id=first, reason="no", attempt=0, retryable=False,
                                   code="no_channel", retry_at=None, actor="w", timestamp=at(1))  # fmt: skip

    incident.queue_update(update_id=uuid4(), body="down", channel=v.X_PUBLIC, from_account=None,
                          actor=SUE, timestamp=at(2))  # fmt: skip

    assert len(incident.updates) == 2


# ---------------------------------------------------------------------- its cases
def test_a_shard_links_a_case_once_and_records_its_acknowledgement_and_follow_up_once() -> None:
    incident_id, case, customer = uuid4(), uuid4(), uuid4()
    shard = IncidentCases(incident_id=incident_id, shard=3, actor=SUE, timestamp=T0)
    assert shard.id == IncidentCases.create_id(incident_id, 3)

    assert shard.link(conversation_id=case, customer_id=customer, how="keyword", keyword="down",
                      actor="system:incidents", timestamp=at(1))  # fmt: skip
    assert not shard.link(conversation_id=case, customer_id=customer, how="hand", keyword=None,
                          actor=SUE, timestamp=at(2))  # fmt: skip
    with pytest.raises(InvalidValueError):
        shard.link(conversation_id=uuid4(), customer_id=customer, how="magic", keyword=None,
                   actor=SUE, timestamp=at(2))  # fmt: skip

    reply = uuid4()
    shard.acknowledge(conversation_id=case, reply_id=reply, skipped=None, actor=SUE,
                      timestamp=at(3))  # fmt: skip
    with pytest.raises(InvalidTransitionError):
        shard.acknowledge(conversation_id=case, reply_id=uuid4(), skipped=None, actor=SUE,
                          timestamp=at(4))  # fmt: skip
    shard.follow_up(conversation_id=case, reply_id=None, skipped="customer_erased",
                    resolved_case=True, actor=SUE, timestamp=at(5))  # fmt: skip
    with pytest.raises(InvalidTransitionError):
        shard.follow_up(conversation_id=case, reply_id=uuid4(), skipped=None,
                        resolved_case=False, actor=SUE, timestamp=at(6))  # fmt: skip
    recorded = shard.cases[str(case)]
    assert (recorded["how"], recorded["keyword"], recorded["acknowledgement"]["reply_id"]) == (
        "keyword", "down", reply,
    )  # fmt: skip
    assert recorded["follow_up"]["skipped"] == "customer_erased"

    with pytest.raises(InvalidTransitionError):  # not linked
        shard.acknowledge(conversation_id=uuid4(), reply_id=None, skipped=None, actor=SUE,
                          timestamp=at(7))  # fmt: skip
    assert shard.unlink(conversation_id=case, actor=SUE, timestamp=at(8))
    assert not shard.unlink(conversation_id=case, actor=SUE, timestamp=at(9))
    assert shard.cases == {}
