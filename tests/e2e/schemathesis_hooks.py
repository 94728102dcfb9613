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
422 or 412 still fails the run. Nothing else is filtered: every other check, and every
other refusal of valid data, fails the run as schemathesis reports it.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

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
    ("GET /v1/sla/report", 422, "422", "start"): "start before end: a rule across two query "
    "parameters, which OpenAPI describes one at a time",
    ("GET /v1/customers/lookup", 422, "422", "value"): "the value's syntax depends on "
    "`kind` (a phone number needs 3 digits, an e-mail address an @): a rule across two "
    "query parameters",
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
        if kind == expected_kind and (field is None or field in named):
            return reason
    return None


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a refusal of valid data that :data:`UNEXPRESSIBLE` explains."""
    if "positive_data_acceptance" not in getattr(failure, "checks", ()):
        return True
    return why_refused(case.operation.label, response) is None
