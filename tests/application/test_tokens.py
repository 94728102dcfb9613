"""API tokens: issued by role, found by hash, revoked for good."""

from __future__ import annotations

import secrets

import pytest

from domain.access import ApiToken, hash_token
from domain.application import Conversations
from domain.exceptions import InvalidValueError

OPS = "ops:olga"


def test_an_issued_token_authenticates_as_role_and_name(application: Conversations) -> None:
    token = secrets.token_urlsafe(32)

    issued = application.issue_token(name="ann", role="agent", token=token, actor=OPS)

    found = application.authenticate(token)
    assert isinstance(found, ApiToken)
    assert found.id == issued.id
    assert found.principal == "agent:ann"
    assert found.role == "agent"
    assert found.issued_by == OPS


def test_only_the_hash_of_a_token_is_stored(application: Conversations) -> None:
    token = secrets.token_urlsafe(32)
    application.issue_token(name="ann", role="agent", token=token, actor=OPS)

    [(_, issued)] = list(application.global_events())

    assert issued.token_hash == hash_token(token)  # type: ignore[attr-defined]
    assert token not in repr(vars(issued))


def test_an_unknown_token_does_not_authenticate(application: Conversations) -> None:
    application.issue_token(name="ann", role="agent", token=secrets.token_urlsafe(32), actor=OPS)

    assert application.authenticate(secrets.token_urlsafe(32)) is None


def test_a_revoked_token_no_longer_authenticates(application: Conversations) -> None:
    token, other = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    application.issue_token(name="ann", role="agent", token=token, actor=OPS)
    application.issue_token(name="sue", role="supervisor", token=other, actor=OPS)

    assert application.revoke_token(token, actor=OPS) is True

    assert application.authenticate(token) is None
    found = application.authenticate(other)
    assert found is not None and found.principal == "supervisor:sue"
    head = application.head_position()
    assert application.revoke_token(token, actor=OPS) is False
    assert application.head_position() == head


def test_a_token_for_an_unknown_role_is_refused(application: Conversations) -> None:
    with pytest.raises(InvalidValueError) as refused:
        application.issue_token(name="eve", role="root", token=secrets.token_urlsafe(32), actor=OPS)

    assert refused.value.field == "role"
    assert application.head_position() == 0
