"""API tokens: issued by role, found by hash, listed with an id, revoked by id, expiring."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest

from domain.access import ApiToken, hash_token
from domain.application import Conversations
from domain.exceptions import InvalidValueError, NotFoundError
from tests.application.conftest import store_old_event
from tests.conftest import Clock

OPS = "ops:olga"


def issue(app: Conversations, name: str = "ann", role: str = "agent", **kw: object) -> tuple:
    token = secrets.token_urlsafe(32)
    return token, app.issue_token(name=name, role=role, token=token, actor=OPS, **kw)  # type: ignore[arg-type]


def test_an_issued_token_authenticates_as_role_and_name(application: Conversations) -> None:
    token, issued = issue(application)

    found = application.authenticate(token)
    assert isinstance(found, ApiToken)
    assert found.id == issued.id
    assert found.principal == "agent:ann"
    assert found.role == "agent"
    assert found.issued_by == OPS
    assert found.issued_at == application.clock()


def test_only_the_hash_of_a_token_is_stored(application: Conversations) -> None:
    token, _ = issue(application)

    events = [e for _, e in application.global_events()]

    issued = next(e for e in events if type(e).__qualname__ == "ApiToken.Issued")
    assert issued.token_hash == hash_token(token)  # type: ignore[attr-defined]
    assert all(token not in repr(vars(e)) for e in events)


def test_an_unknown_token_does_not_authenticate(application: Conversations) -> None:
    issue(application)

    assert application.authenticate(secrets.token_urlsafe(32)) is None


def test_tokens_are_listed_oldest_first_with_their_ids(application: Conversations) -> None:
    _, ann = issue(application, "ann", "agent")
    _, sue = issue(application, "sue", "supervisor")

    listed = application.list_tokens()

    assert [(t.id, t.name, t.role) for t in listed] == [
        (ann.id, "ann", "agent"),
        (sue.id, "sue", "supervisor"),
    ]


def test_a_token_is_revoked_by_its_id_or_a_prefix_of_it(application: Conversations) -> None:
    token, ann = issue(application)
    other, _ = issue(application, "sue", "supervisor")

    assert application.revoke_token(str(ann.id)[:8], actor=OPS) is True

    assert application.authenticate(token) is None
    assert not application.token_is_live(ann.id)
    found = application.authenticate(other)
    assert found is not None and found.principal == "supervisor:sue"
    head = application.head_position()
    assert application.revoke_token(str(ann.id), actor=OPS) is False
    assert application.head_position() == head
    assert [t.revoked for t in application.list_tokens()] == [True, False]


def test_revoking_an_unknown_or_ambiguous_id_is_refused(application: Conversations) -> None:
    issue(application)

    with pytest.raises(NotFoundError):
        application.revoke_token("00000000-0000", actor=OPS)
    with pytest.raises(NotFoundError):
        application.revoke_token("", actor=OPS)


def test_a_token_with_an_expiry_stops_working_then(
    application: Conversations, clock: Clock
) -> None:
    token, issued = issue(application, expires_at=clock() + timedelta(hours=1))

    assert application.authenticate(token) is not None
    clock.advance(minutes=59)
    assert application.authenticate(token) is not None
    clock.advance(minutes=1)
    assert application.authenticate(token) is None
    assert not application.token_is_live(issued.id)


def test_an_expiry_in_the_past_is_refused(application: Conversations, clock: Clock) -> None:
    with pytest.raises(InvalidValueError) as refused:
        issue(application, expires_at=clock() - timedelta(seconds=1))

    assert refused.value.field == "expires_at"
    assert application.head_position() == 0


def test_a_token_for_an_unknown_role_is_refused(application: Conversations) -> None:
    with pytest.raises(InvalidValueError) as refused:
        issue(application, "eve", "root")

    assert refused.value.field == "role"
    assert application.head_position() == 0


def test_a_token_issued_by_the_first_version_still_loads_and_is_listed(
    application: Conversations,
) -> None:
    """Version 1 tokens had no expiry, and were issued before the registry existed."""
    token = secrets.token_urlsafe(32)
    token_id = ApiToken.create_id(hash_token(token))
    state = {
        "token_hash": hash_token(token),
        "name": "old",
        "role": "auditor",
        "actor": OPS,
        "timestamp": application.clock(),
        "originator_topic": "parley.ApiToken",
    }
    store_old_event(application, token_id, "parley.ApiToken.Issued", state)
    _, new = issue(application)

    found = application.authenticate(token)

    assert found is not None and found.expires_at is None and found.principal == "auditor:old"
    assert [t.id for t in application.list_tokens()] == [token_id, new.id]
