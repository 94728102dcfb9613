"""``/webhooks/x``: X's CRC challenge, and signed Account Activity deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest
from flask import Flask

from tests.app.helpers import another_app, assert_problem, head_position
from tests.conftest import Clock

SECRET = "consumer-secret"
BRAND = "1700000000000000001"


@pytest.fixture
def x_app(store: dict[str, str], clock: Clock) -> Iterator[Flask]:
    x = {
        "PARLEY_X_CONSUMER_KEY": "k", "PARLEY_X_CONSUMER_SECRET": SECRET,
        "PARLEY_X_ACCESS_TOKEN": f"{BRAND}-t", "PARLEY_X_ACCESS_TOKEN_SECRET": "s",
        "PARLEY_X_BRAND_USER_ID": BRAND,
    }  # fmt: skip
    with another_app(store, clock, **x) as app:
        yield app


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "x-twitter-webhooks-signature": "sha256=" + base64.b64encode(digest).decode(),
        "Content-Type": "application/json",
    }


def tweet_event(tweet_id: str, user_id: str = "2244994945", **extra: object) -> bytes:
    tweet = {
        "id_str": tweet_id, "text": "@brand my parcel", "created_at": "Mon Nov 02 08:59:00 +0000 2026",
        "user": {"id_str": user_id, "screen_name": "ann", "name": "Ann"}, **extra,
    }  # fmt: skip
    return json.dumps({"for_user_id": BRAND, "tweet_create_events": [tweet]}).encode()


def test_the_crc_challenge_is_answered_with_the_signed_token(x_app: Flask) -> None:
    response = x_app.test_client().get("/webhooks/x", query_string={"crc_token": "abc123"})

    expected = base64.b64encode(hmac.new(SECRET.encode(), b"abc123", hashlib.sha256).digest())
    assert response.status_code == 200
    assert response.get_json() == {"response_token": "sha256=" + expected.decode()}


def test_a_signed_tweet_is_recorded_once_however_often_it_is_delivered(x_app: Flask) -> None:
    client = x_app.test_client()
    body = tweet_event("1800000000000000042")

    first = client.post("/webhooks/x", data=body, headers=signed(body))
    again = client.post("/webhooks/x", data=body, headers=signed(body))

    assert first.get_json() == {"recorded": 1, "seen": 0, "ignored": 0}
    assert again.get_json() == {"recorded": 0, "seen": 1, "ignored": 0}
    app = x_app.extensions["parley.application"]
    found = app._find_inbound("x_public", "1800000000000000042")
    conversation = app.get_conversation(found.id)
    message = conversation.messages[0]
    assert (message["sender"]["value"], message["brand_account"]) == ("2244994945", BRAND)
    assert message["published_at"].isoformat() == "2026-11-02T08:59:00+00:00"


def test_a_bad_or_missing_signature_is_a_401_and_records_nothing(x_app: Flask) -> None:
    client = x_app.test_client()
    body = tweet_event("1800000000000000043")
    head = head_position(x_app)

    wrong = client.post("/webhooks/x", data=body, headers=signed(body, "another secret"))
    missing = client.post("/webhooks/x", data=body, headers={"Content-Type": "application/json"})
    tampered = client.post("/webhooks/x", data=body.replace(b"parcel", b"refund"),
                           headers=signed(body))  # fmt: skip

    for response in (wrong, missing, tampered):
        assert_problem(response, 401)
    assert head_position(x_app) == head


def test_the_brands_own_tweets_echoed_back_are_ignored(x_app: Flask) -> None:
    client = x_app.test_client()
    body = tweet_event("1800000000000000044", user_id=BRAND)
    head = head_position(x_app)

    response = client.post("/webhooks/x", data=body, headers=signed(body))

    assert response.get_json() == {"recorded": 0, "seen": 0, "ignored": 1}
    assert head_position(x_app) == head


def test_a_dm_delivery_opens_a_private_case(x_app: Flask) -> None:
    client = x_app.test_client()
    event = {
        "type": "message_create", "id": "1800000000000000050", "created_timestamp": "1793609940000",
        "message_create": {"target": {"recipient_id": BRAND}, "sender_id": "55501",
                           "message_data": {"text": "hi, a refund question"}},
    }  # fmt: skip
    body = json.dumps({"for_user_id": BRAND, "direct_message_events": [event]}).encode()

    response = client.post("/webhooks/x", data=body, headers=signed(body))

    assert response.get_json()["recorded"] == 1
    app = x_app.extensions["parley.application"]
    conversation = app.get_conversation(app._find_inbound("x_dm", "1800000000000000050").id)
    assert (conversation.origin_channel, conversation.origin_public) == ("x_dm", False)
    assert conversation.messages[0]["thread_id"] == f"55501-{BRAND}"


def test_webhooks_answer_404_when_x_is_not_configured(client) -> None:
    body = tweet_event("1800000000000000045")

    assert_problem(client.post("/webhooks/x", data=body, headers=signed(body)), 404)
    assert_problem(client.get("/webhooks/x", query_string={"crc_token": "x"}), 404)


def test_a_refused_delivery_is_logged_by_its_kind_not_its_message(
    x_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """A refusal's message can quote the sender's identity: only its kind reaches the log."""
    body = tweet_event("1800000000000000045", created_at="Mon Nov 02 08:59:00 +0000 2020")

    with caplog.at_level("WARNING"):
        response = x_app.test_client().post("/webhooks/x", data=body, headers=signed(body))

    assert response.get_json() == {"recorded": 0, "seen": 0, "ignored": 1}
    [line] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert line == "X webhook 1800000000000000045 refused: InvalidValueError (published_at)"
    assert "2244994945" not in caplog.text
