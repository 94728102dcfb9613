"""Schemathesis hooks for Parley: drop the failures no OpenAPI document can prevent.

Loaded by schemathesis itself (its own venv, ``.venv-schemathesis``), never by pytest:
``SCHEMATHESIS_HOOKS=tests/e2e/schemathesis_hooks.py schemathesis run ...`` or ``hooks``
in a ``schemathesis.toml`` (tests/e2e/test_schemathesis.py writes one).

``positive_data_acceptance`` sends requests that match the schema and expects 2xx, 3xx,
401, 403, 404, 409, 429 or 5xx. Each rule below drops one refusal that is right although
the request matched the schema, because the rule it enforces is one that JSON Schema
cannot state: it depends on the aggregate's current state, on the clock, on another
request, or on another query parameter (parameters are described one by one). Each is
matched on the problem document's ``type`` and the field it names, so that any other
422 or 412 still fails the run.

``use_after_free`` expects every read under a path to be 404 once a DELETE of it
succeeded. :data:`KEPT_AFTER_DELETE` names the DELETEs that, by design, keep what they
delete readable. Nothing else is filtered: every other check, and every other refusal
of valid data, fails the run as schemathesis reports it.
"""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

import schemathesis
from hypothesis import strategies as st

PROBLEMS = "https://parley.invalid/problems/"

# (operation or None for any, status, problem type, field named in `errors` or None): why.
UNEXPRESSIBLE: dict[tuple[str | None, int, str, str | None], str] = {
    (None, 412, "precondition-failed", None): "If-Match names a version the aggregate is "
    "no longer at: the schema can say what a version looks like, not which one is current",
    (None, 422, "idempotency-key-reused", "Idempotency-Key"): "the same key came with "
    "another body earlier in the run (schemathesis reuses small values)",
    (None, 422, "channel-identity-missing", None): "the customer has no identity for that "
    "channel yet: the customer's state",
    (None, 422, "invalid-value", "published_at"): "a window around the server's clock "
    "(7 days before to 5 minutes after now)",
    ("POST /v1/conversations/{conversation_id}/calls", 422, "invalid-value", "started_at"): (
        "a call is logged after it started and within 7 days of it: the server's clock"
    ),
    ("POST /v1/conversations/{conversation_id}/snooze", 422, "invalid-value", "until"): (
        "`until` must be in the future: the server's clock"
    ),
    ("POST /v1/conversations/{conversation_id}/replies", 422, "invalid-value", "channel"): (
        "a reply goes out on the conversation's current or original channel: its state"
    ),
    ("POST /v1/conversations/{conversation_id}/tags", 422, "invalid-value", "add"): (
        "at most 50 tags per conversation: how many it has already"
    ),
    ("GET /v1/inbox", 422, "422", "cursor"): "the cursor is opaque: only one the server "
    "issued (a page's next_cursor) is valid",
    ("GET /v1/incidents", 422, "422", "cursor"): "the cursor is opaque: only one the "
    "server issued (a page's next_cursor) is valid",
    ("GET /v1/incidents/{incident_id}/ledger", 422, "422", "cursor"): "the cursor is "
    "opaque: only one the server issued (a page's next_cursor) is valid",
    ("POST /v1/conversations/{conversation_id}/replies", 422, "invalid-value", "invite_to_dm"): (
        "the DM invitation goes on a public acknowledgement on X only: the case's current "
        "channel is its state"
    ),
    ("POST /v1/conversations/{conversation_id}/replies", 422, "invalid-value", "body"): (
        "with the DM invitation appended the tweet must still fit 280 characters: a sum of "
        "two strings' lengths"
    ),
    ("GET /v1/sla/report", 422, "422", "from"): "from before to: a rule across two query "
    "parameters (or one and the server's clock, when to is left out), which OpenAPI "
    "describes one at a time",
    ("GET /v1/sla/report", 422, "422", "version"): "a version is given with a policy: a rule "
    "across two query parameters",
    ("GET /v1/sla/report", 422, "invalid-value", "version"): "a version the named policy "
    "has: how many versions it has, its state",
    ("GET /v1/customers/lookup", 422, "422", "value"): "the value's syntax depends on "
    "`kind` (a phone number needs 3 digits, an e-mail address an @): a rule across two "
    "query parameters",
    ("POST /webhooks/email", 422, "422", "from"): "a message/rfc822 body is bytes to the "
    "schema: whether it names a usable sender is RFC 5322's grammar, not JSON Schema's",
    ("POST /webhooks/email", 422, "422", "body"): "a message with no text and no "
    "attachment: RFC 5322's grammar, not JSON Schema's",
    ("POST /webhooks/email", 422, "422", "message"): "bytes that are not an RFC 5322 "
    "message at all",
    ("POST /v1/conversations/{conversation_id}/sla", 422, "invalid-value", "version"): (
        "a version the named policy has: how many versions it has, its state"
    ),
}
# An incident keyword needs a letter or digit of any script: Unicode categories, which the
# regex dialect JSON Schema shares with Python cannot name.
for _route in ("POST /v1/incidents", "PATCH /v1/incidents/{incident_id}"):
    UNEXPRESSIBLE[(_route, 422, "invalid-value", "keywords")] = (
        "a keyword needs a letter or digit (of any script): a Unicode category"
    )
# A policy's rules that JSON Schema cannot state, on creating and on revising one. A field
# ending in "." stands for every field under it.
for _route in ("POST /v1/sla/policies", "PUT /v1/sla/policies/{policy_id}"):
    UNEXPRESSIBLE |= {
        (_route, 422, "invalid-value", "targets"): "two targets for one metric, channel "
        "and priority: uniqueness of some of the items' properties, not of whole items",
        (_route, 422, "invalid-value", "calendar.time_zone"): "whether a name is in the tz "
        "database is the server's tzdata, not a pattern",
        (_route, 422, "invalid-value", "calendar.hours."): "a day's periods overlap, or one "
        "ends before it starts: an order between two parts of a string, or of two strings",
    }
# The care policy's rules that JSON Schema cannot state (domain.care_rules).
UNEXPRESSIBLE |= {
    ("PUT /v1/care-policy/rules", 422, "invalid-value", "classifier.rules."): "a pattern "
    "must compile as a regular expression, a rule needs keywords or a pattern (one of two "
    "optional properties), rule names are unique, a keyword needs a letter or digit "
    "(Unicode's, which a pattern's \\w is not)",
    ("PUT /v1/care-policy/rules", 422, "invalid-value", "routing."): "a routing rule sets a "
    "team or a priority (one of two optional properties), names are unique, a keyword "
    "needs a letter or digit",
    ("POST /v1/conversations/{conversation_id}/replies", 422, "invalid-value", "variables."): (
        "the variables a canned response's text uses: its state"
    ),
    ("PUT /v1/teams/{team}/agents/{agent}", 422, "invalid-value", "shift.time_zone"): "whether "
    "a name is in the tz database is the server's tzdata, not a pattern",
    ("PUT /v1/teams/{team}/agents/{agent}", 422, "invalid-value", "shift.hours."): "a day's "
    "periods overlap, or one ends before it starts: an order between two parts of a string",
    ("POST /v1/canned-responses", 422, "invalid-value", "body"): "a lone `$` in the text: "
    "string.Template's grammar, not a pattern",
    ("PUT /v1/canned-responses/{canned_response_id}", 422, "invalid-value", "body"): (
        "a lone `$` in the text: string.Template's grammar, not a pattern"
    ),
}


def _problem(response: Any) -> dict[str, Any]:
    try:
        body = json.loads(response.content or b"")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def why_refused(operation: str, response: Any) -> str | None:
    """Why this refusal of schema-valid data is right, if it is one JSON Schema cannot
    prevent; None otherwise."""
    problem = _problem(response)
    kind = str(problem.get("type", "")).removeprefix(PROBLEMS)
    named = {e.get("field") for e in problem.get("errors") or [] if isinstance(e, dict)}
    for (route, status, expected_kind, field), reason in UNEXPRESSIBLE.items():
        if route not in (None, operation) or status != response.status_code:
            continue
        if kind == expected_kind and (field is None or _names(field, named)):
            return reason
    return None


# The deleting operation: why what it deleted is still there to read.
KEPT_AFTER_DELETE: dict[str, str] = {
    "DELETE /v1/canned-responses/{canned_response_id}": "a deleted canned response can no "
    "longer be used, but it and its versions stay readable (`deleted: true`): replies made "
    "from it are explained by it",
    "DELETE /v1/sla/policies/{policy_id}": "deleting a policy retires it: it applies to no "
    "new case, but it and its versions stay readable (`retired: true`), because cases keep "
    "the version they were promised and reports restate them",
}


def _names(field: str, named: set[Any]) -> bool:
    if field.endswith("."):
        return any(isinstance(n, str) and n.startswith(field) for n in named)
    return field in named


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a refusal of valid data that :data:`UNEXPRESSIBLE` explains,
    and a read of what a DELETE in :data:`KEPT_AFTER_DELETE` keeps."""
    checks = getattr(failure, "checks", ())
    if "use_after_free" in checks:
        return getattr(failure, "operation", None) not in KEPT_AFTER_DELETE
    if "positive_data_acceptance" not in checks:
        return True
    return why_refused(case.operation.label, response) is None


def _mail(sender: str, subject: str, body: str, message_id: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "care@brand.example"
    message["Subject"] = subject
    message["Message-ID"] = f"<{message_id}@schemathesis.example>"
    message.set_content(body)
    return message.as_bytes()


_WORD = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=40)

# Raw mail for ``POST /webhooks/email`` (``message/rfc822``, which schemathesis cannot
# make up itself): well-formed messages with arbitrary words, and arbitrary bytes.
schemathesis.openapi.media_type(
    "message/rfc822",
    st.one_of(
        st.builds(
            _mail,
            sender=st.from_regex(r"\A[a-z]{1,10}@[a-z]{1,10}\.example\Z"),
            subject=_WORD,
            body=_WORD.filter(lambda text: text.strip() != ""),
            message_id=st.uuids().map(str),
        ),
        st.binary(max_size=2000),
    ),
)
