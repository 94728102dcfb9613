"""Customers: identities, and merges that can always be undone exactly."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.customer import Customer
from domain.exceptions import MergeError
from domain.values import Identity
from tests.domain.builders import AGENT, a_customer, at, event_names

SUPERVISOR = "supervisor:sue"


def merge(source: Customer, target: Customer, minutes: float = 1) -> None:
    source.merge_into(target=target, actor=SUPERVISOR, timestamp=at(minutes))


def test_identities_match_by_normalised_key() -> None:
    customer = a_customer(Identity("email", "Ann@Example.COM"))

    assert customer.has_identity(Identity("email", " ann@example.com"))
    assert not customer.has_identity(Identity("email", "bob@example.com"))
    assert not customer.has_identity(Identity("x", "12345"))


def test_adding_an_identity_the_customer_has_records_nothing() -> None:
    customer = a_customer(Identity("phone", "+44 20 7946 0000"))

    assert (
        customer.add_identity(
            identity=Identity("phone", "+442079460000"), actor=AGENT, timestamp=at(1)
        )
        is False
    )
    assert customer.pending_events == []

    email = Identity("email", f"{uuid4().hex}@example.com")
    assert customer.add_identity(identity=email, actor=AGENT, timestamp=at(2)) is True
    assert event_names(customer) == ["IdentityAdded"]
    assert customer.identities[-1] == email.as_dict()


def test_a_merge_records_both_sides() -> None:
    source, target = a_customer(), a_customer()

    merge(source, target)

    assert event_names(source) == ["Merged"]
    assert event_names(target) == ["Absorbed"]
    assert source.merged_into == target.id
    assert target.absorbed == [source.id]
    assert source.pending_events[0].actor == SUPERVISOR  # type: ignore[attr-defined]
    assert target.pending_events[0].timestamp == at(1)


def test_a_customer_cannot_be_merged_into_itself() -> None:
    customer = a_customer()

    with pytest.raises(MergeError) as refused:
        merge(customer, customer)

    assert refused.value.field == "target_id"
    assert customer.pending_events == []
    assert customer.merged_into is None


def test_a_customer_cannot_be_merged_into_a_merged_one() -> None:
    source, middle, target = a_customer(), a_customer(), a_customer()
    merge(middle, target)
    for customer in (middle, target):
        customer.collect_events()

    with pytest.raises(MergeError) as refused:
        merge(source, middle, minutes=2)

    assert refused.value.field == "target_id"
    assert source.pending_events == [] and middle.pending_events == []
    assert source.merged_into is None
    assert middle.absorbed == []


def test_a_merged_customer_cannot_be_merged_again() -> None:
    source, first, second = a_customer(), a_customer(), a_customer()
    merge(source, first)
    source.collect_events()

    with pytest.raises(MergeError):
        merge(source, second, minutes=2)

    assert source.pending_events == [] and second.pending_events == []
    assert source.merged_into == first.id


def test_a_customer_who_absorbed_others_cannot_be_merged_away() -> None:
    absorbed, source, target = a_customer(), a_customer(), a_customer()
    merge(absorbed, source)
    source.collect_events()

    with pytest.raises(MergeError):
        merge(source, target, minutes=2)

    assert source.pending_events == [] and target.pending_events == []


def test_unmerge_restores_both_customers() -> None:
    source, target = a_customer(), a_customer()
    other = a_customer()
    merge(other, target)
    before = (source.merged_into, source.absorbed, source.identities)
    merge(source, target, minutes=2)
    for customer in (source, target):
        customer.collect_events()

    source.unmerge_from(target=target, actor=SUPERVISOR, timestamp=at(3))

    assert event_names(source) == ["Unmerged"]
    assert event_names(target) == ["Released"]
    assert (source.merged_into, source.absorbed, source.identities) == before
    assert target.absorbed == [other.id]


def test_unmerge_from_a_customer_it_was_not_merged_into_is_refused() -> None:
    source, target, stranger = a_customer(), a_customer(), a_customer()
    merge(source, target)
    for customer in (source, target):
        customer.collect_events()

    with pytest.raises(MergeError):
        source.unmerge_from(target=stranger, actor=SUPERVISOR, timestamp=at(2))
    with pytest.raises(MergeError):
        stranger.unmerge_from(target=target, actor=SUPERVISOR, timestamp=at(2))

    assert source.pending_events == [] and target.pending_events == []
    assert source.merged_into == target.id


def test_a_customer_may_be_merged_again_after_an_unmerge() -> None:
    source, target = a_customer(), a_customer()
    merge(source, target)
    source.unmerge_from(target=target, actor=SUPERVISOR, timestamp=at(2))

    merge(source, target, minutes=3)

    assert event_names(source) == ["Merged", "Unmerged", "Merged"]
    assert source.merged_into == target.id
    assert target.absorbed == [source.id]


def test_customer_events_have_explicit_topics() -> None:
    source, target = a_customer(settled=False), a_customer()
    merge(source, target)

    assert [type(e).TOPIC for e in source.pending_events] == [  # type: ignore[attr-defined]
        "parley.Customer.Registered",
        "parley.Customer.Merged",
    ]


def test_an_identity_stored_before_a_rule_existed_still_compares() -> None:
    """X identities once held handles; reading them must not fail on today's rule."""
    customer = a_customer(Identity("email", "ann@example.com"))
    customer.identities.append({"kind": "x", "value": "@ann", "handle": None})

    assert not customer.has_identity(Identity("x", "12345"))
    assert customer.has_identity(Identity("email", "ANN@example.com"))
