"""Merging two records of one person, following the merge, and undoing it."""

from __future__ import annotations

import pytest

from domain.application import Conversations
from domain.exceptions import CustomerNotFoundError, MergeError
from tests.application.conftest import (
    INTEGRATION,
    SUPERVISOR,
    an_email_identity,
    an_x_identity,
    open_from_tweet,
)


def test_a_merge_is_followed_by_every_lookup_and_undone_by_an_unmerge(
    application: Conversations,
) -> None:
    x, email = an_x_identity(), an_email_identity()
    source = open_from_tweet(application, x).extra["customer_id"]
    target = application.register_customer(name="Ann", identities=[email], actor=SUPERVISOR).id

    merged = application.merge_customers(source, target, actor=SUPERVISOR)

    assert merged.id == target
    assert merged.position == application.head_position()
    found = application.find_customer(x)
    assert found is not None and found.id == target
    assert application.customer_of(source).id == target
    kept = application.get_customer(target)
    assert application.identities_of(kept) == [email.as_dict(), x.as_dict()]
    assert application.get_customer(source).merged_into == target

    unmerged = application.unmerge_customer(source, actor=SUPERVISOR)

    assert unmerged.id == source
    found = application.find_customer(x)
    assert found is not None and found.id == source
    assert application.customer_of(source).id == source
    assert application.identities_of(application.get_customer(target)) == [email.as_dict()]
    restored = application.get_customer(source)
    assert (restored.merged_into, restored.absorbed) == (None, [])
    assert restored.identities == [x.as_dict()]


def test_a_new_contact_from_a_merged_identity_lands_with_the_target(
    application: Conversations,
) -> None:
    x = an_x_identity()
    source = open_from_tweet(application, x).extra["customer_id"]
    target = application.register_customer(
        name="Ann", identities=[an_email_identity()], actor=SUPERVISOR
    ).id
    application.merge_customers(source, target, actor=SUPERVISOR)

    opened = open_from_tweet(application, x)

    assert opened.extra["customer_id"] == target


def test_a_merged_customer_can_be_reached_on_the_absorbed_identity(
    application: Conversations,
) -> None:
    x = an_x_identity()
    source = open_from_tweet(application, x).extra["customer_id"]
    target = application.register_customer(
        name="Ann", identities=[an_email_identity()], actor=SUPERVISOR
    ).id
    application.merge_customers(source, target, actor=SUPERVISOR)

    opened = application.open_conversation(
        channel="x_dm", body="hi", actor=INTEGRATION, customer_id=target
    )

    assert opened.extra["customer_id"] == target


def test_refused_merges_write_nothing(application: Conversations) -> None:
    a = open_from_tweet(application).extra["customer_id"]
    b = open_from_tweet(application).extra["customer_id"]
    c = open_from_tweet(application).extra["customer_id"]
    application.merge_customers(b, c, actor=SUPERVISOR)
    head = application.head_position()

    with pytest.raises(MergeError):
        application.merge_customers(a, a, actor=SUPERVISOR)
    with pytest.raises(MergeError):
        application.merge_customers(a, b, actor=SUPERVISOR)  # b is merged into c
    with pytest.raises(MergeError):
        application.unmerge_customer(a, actor=SUPERVISOR)  # a is merged into nobody

    assert application.head_position() == head


def test_merging_a_customer_that_does_not_exist_is_refused(application: Conversations) -> None:
    a = open_from_tweet(application)

    with pytest.raises(CustomerNotFoundError):
        application.merge_customers(a.extra["customer_id"], a.id, actor=SUPERVISOR)
