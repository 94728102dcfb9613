"""The role-by-route matrix in docs/api.md ("Who may do what"), read from the page and tried
cell by cell: each `no` is a 403 naming exactly the roles whose cell is `yes`, each `yes` gets
past the role check; and the table has one row for every route the app serves."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from domain.access import ROLES
from tests.app.helpers import assert_problem, head_position, new_external_id, tweet
from tests.readside.support import parse_sse

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
SECTION = "## Who may do what"
NOTES_WITHHELD = "²"  # the page's footnote: this role sees private notes without their body
MARKS = "¹²³⁴⁵⁶⁷⁸⁹"
NOTE_BODY = "private: the customer was rude on the phone"
ROUTE = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`")


@dataclass(frozen=True)
class Cell:
    allowed: bool
    marks: str


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    cells: dict[str, Cell]

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"

    def allowed_roles(self) -> list[str]:
        return [role for role, cell in self.cells.items() if cell.allowed]

    @property
    def shows_notes(self) -> bool:
        return any(NOTES_WITHHELD in cell.marks for cell in self.cells.values())


def _section() -> str:
    text = DOC.read_text(encoding="utf-8")
    assert SECTION in text, f"{DOC} has no {SECTION!r} section"
    body = text.split(SECTION, 1)[1]
    return re.split(r"^## ", body, maxsplit=1, flags=re.M)[0]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def read_matrix() -> tuple[list[str], list[Row]]:
    """The table's role columns, and its rows."""
    lines = [ln for ln in _section().splitlines() if ln.lstrip().startswith("|")]
    assert len(lines) > 2, "the section has no table"
    header = _cells(lines[0])
    assert header[0] == "route", header
    roles = header[1:]
    rows = []
    for line in lines[2:]:
        route, *values = _cells(line)
        match = ROUTE.fullmatch(route)
        assert match, f"not a `METHOD /path` route: {route!r}"
        assert len(values) == len(roles), f"{route}: {len(values)} cells for {len(roles)} roles"
        cells = {}
        for role, value in zip(roles, values, strict=True):
            cell = re.fullmatch(rf"(yes|no)([{MARKS}]*)", value)
            assert cell, f"{route}, {role}: {value!r} is neither yes nor no (plus footnotes)"
            cells[role] = Cell(cell.group(1) == "yes", cell.group(2))
        rows.append(Row(match.group(1), match.group(2), cells))
    return roles, rows


def no_token_routes() -> set[str]:
    """The routes the section's "No token is needed for ..." paragraph names."""
    paragraphs = re.split(r"\n\s*\n", _section())
    found = [p for p in paragraphs if p.strip().startswith("No token")]
    assert len(found) == 1, "the section names the routes that need no token in one paragraph"
    return {f"{m} {p}" for m, p in ROUTE.findall(found[0])}


ROLE_COLUMNS, ROWS = read_matrix()


def openapi_path(rule: str) -> str:
    """A Flask rule's path as OpenAPI writes it: ``/x/<uuid:id>`` as ``/x/{id}``."""
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def spec_operations(client) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    spec = client.get("/openapi.json").get_json()
    return {
        f"{method.upper()} {path}": operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    }


# ------------------------------------------------------------------ the table itself
def test_the_matrix_has_a_column_per_role_in_the_order_of_the_roles():
    assert tuple(ROLE_COLUMNS) == ROLES


def test_the_matrix_has_one_row_per_route():
    routes = [row.route for row in ROWS]
    assert len(routes) == len(set(routes)), sorted(r for r in routes if routes.count(r) > 1)


def test_the_matrix_covers_exactly_the_routes_of_the_openapi_document(client):
    operations = spec_operations(client)
    needs_token = {r for r, op in operations.items() if op.get("security") != []}
    open_to_all = {r for r, op in operations.items() if op.get("security") == []}
    in_table = {row.route for row in ROWS}

    assert needs_token - in_table == set(), "routes in /openapi.json without a row"
    assert in_table - needs_token == set(), (
        "rows for routes /openapi.json does not have (or has without a token)"
    )
    assert open_to_all - no_token_routes() == set(), "token-free routes the page does not name"


def test_every_route_the_app_serves_is_in_the_matrix_or_named_as_needing_no_token(flask_app):
    documented = {row.route for row in ROWS} | no_token_routes()
    served = {
        f"{method} {openapi_path(rule.rule)}"
        for rule in flask_app.url_map.iter_rules()
        if rule.endpoint != "static"  # Flask's own; the app has no static folder
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }

    assert served - documented == set()
    assert documented - served == set()


def test_the_routes_named_as_needing_no_token_answer_without_one(client):
    for route in sorted(no_token_routes()):
        method, path = route.split(" ", 1)
        path = path.replace("{name}", "swagger-ui.css")
        assert "{" not in path, f"{route}: give the test a value for its parameter"
        response = client.open(path, method=method)
        if path.startswith("/webhooks/"):
            # Signed by the channel instead of a token (and X is not configured here): never
            # a bearer-token challenge.
            assert response.status_code in (401, 404, 422), (route, response.status_code)
            assert "Bearer" not in response.headers.get("WWW-Authenticate", "")
            continue
        assert response.status_code == 200, (route, response.status_code)


# ------------------------------------------------------------------ every cell
def _setup(client, auth) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A case (opened by an agent, with a private note), its customer, and an SLA policy."""
    user_id = new_external_id()
    opened = client.post("/v1/conversations", json=tweet(user_id=user_id), headers=auth("agent"))
    assert opened.status_code == 201, opened.get_json()
    cid = opened.get_json()["id"]
    note = client.post(
        f"/v1/conversations/{cid}/notes", json={"body": NOTE_BODY}, headers=auth("agent")
    )
    assert note.status_code == 201, note.get_json()
    policy = client.post(
        "/v1/sla/policies",
        json={"name": "Chat", "targets": [{"metric": "first_response", "seconds": 120}]},
        headers=auth("supervisor"),
    )
    assert policy.status_code == 201, policy.get_json()
    return {
        "conversation_id": cid,
        "customer_id": opened.get_json()["customer_id"],
        "x_user_id": user_id,
        "policy_id": policy.get_json()["id"],
        "version": policy.get_json()["version"],
    }


def _request(client, row: Row, ids: dict[str, Any], headers: dict[str, str]):  # type: ignore[no-untyped-def]
    """A minimal request for the row: real ids, an empty JSON body for a POST."""
    path = re.sub(r"\{([^}]+)\}", lambda m: str(ids.get(m.group(1)) or uuid.uuid4()), row.path)
    query: dict[str, Any] = {
        "/v1/stream": {"timeout": 0.2, "after": 0, "conversation_id": ids["conversation_id"]},
        "/v1/customers/lookup": {"kind": "x", "value": ids["x_user_id"]},
        "/v1/sla/report": {"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"},
    }.get(row.path, {})
    if row.path == "/webhooks/email":  # a raw message, not JSON: an empty one
        return client.open(
            path, method=row.method, data=b"", content_type="message/rfc822", headers=headers
        )
    body: dict[str, Any] | None = {} if row.method in {"POST", "PUT", "PATCH"} else None
    return client.open(path, method=row.method, query_string=query, json=body, headers=headers)


def _note_views(response) -> list[tuple[str, Any, Any]]:  # type: ignore[no-untyped-def]
    """Each private note the response shows: ("event" or "note", its body, and the event's
    `redacted` list, or None)."""
    if response.mimetype == "text/event-stream":
        payloads = [
            m.data for m in parse_sse(response.get_data(as_text=True)) if m.event == "event"
        ]
    elif response.mimetype == "application/x-ndjson":  # the audit export's event lines
        lines = [json.loads(t) for t in response.get_data(as_text=True).splitlines() if t]
        payloads = [line["event"] for line in lines if line.get("kind") == "event"]
    else:
        payloads = [response.get_json()]
    views: list[tuple[str, Any, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("type") == "NoteAdded" and isinstance(value.get("data"), dict):
                views.append(("event", value["data"].get("body"), value.get("redacted")))
            for key, item in value.items():
                if key == "notes" and isinstance(item, list):
                    views.extend(("note", note.get("body"), None) for note in item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(payloads)
    return views


@pytest.mark.parametrize("row", ROWS, ids=[row.route for row in ROWS])
def test_each_role_may_use_the_route_exactly_as_the_matrix_says(client, auth, flask_app, row):
    ids = _setup(client, auth)
    wrong = []
    for role, cell in row.cells.items():
        head = head_position(flask_app)
        response = _request(client, row, ids, auth(role))
        status = response.status_code
        body = response.get_json(silent=True) or {}
        if not cell.allowed:
            expected = {"status": 403, "allowed_roles": row.allowed_roles()}
            seen = {"status": status, "allowed_roles": body.get("allowed_roles")}
            if (
                seen != expected
                or response.mimetype != "application/problem+json"
                or f"this one is {role}" not in body.get("detail", "")
                or head_position(flask_app) != head
            ):
                wrong.append((role, "no", status, body))
            continue
        routed = not (status == 404 and body.get("type", "").endswith("/404"))
        if status in {401, 403, 405} or status >= 500 or not routed:
            wrong.append((role, "yes", status, body or response.get_data(as_text=True)[:300]))
            continue
        if row.shows_notes:
            views = _note_views(response)
            withheld = NOTES_WITHHELD in cell.marks
            if not views:
                wrong.append((role, "yes: the note is not in the answer", status, body))
            elif withheld and any(b is not None for _, b, _ in views):
                wrong.append((role, "yes²: the note's body is shown", status, views))
            elif withheld and any(k == "event" and r != ["body"] for k, _, r in views):
                wrong.append((role, "yes²: the event is not marked redacted", status, views))
            elif not withheld and any(b != NOTE_BODY or r is not None for _, b, r in views):
                wrong.append((role, "yes: the note's body is withheld", status, views))

    assert wrong == [], f"{row.route}: cells the app disagrees with: {wrong}"


# ------------------------------------------------------------------ integrations
def _register(client, auth, **identity: str) -> str:  # type: ignore[no-untyped-def]
    response = client.post(
        "/v1/customers",
        json={"name": "Ann", "identities": [identity]},
        headers=auth("integration"),
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def _identities(client, auth, customer_id: str) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    customer = client.get(f"/v1/customers/{customer_id}", headers=auth("auditor")).get_json()
    return {(i["kind"], i["value"]) for i in customer["identities"]}


def test_an_integration_may_open_conversations_and_record_inbound_messages(client, auth):
    opened = client.post("/v1/conversations", json=tweet(), headers=auth("integration"))
    assert opened.status_code == 201, opened.get_json()
    cid = opened.get_json()["id"]

    message = client.post(
        f"/v1/conversations/{cid}/messages",
        json={"channel": "x_public", "body": "still waiting", "external_id": new_external_id()},
        headers=auth("integration"),
    )

    assert message.status_code == 201, message.get_json()
    assert message.get_json()["created"] is True


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/v1/customers/{customer_id}/identities", ["agent", "supervisor"]),
        ("GET", "/v1/events", ["supervisor", "auditor", "ops"]),
        ("GET", "/v1/stream?timeout=0.2", ["agent", "supervisor", "auditor", "ops"]),
    ],
)
def test_an_integration_may_not_add_identities_read_the_log_or_watch_the_stream(
    client, auth, flask_app, method, path, allowed
):
    customer_id = _register(client, auth, kind="email", value=f"{uuid.uuid4().hex}@example.com")
    head = head_position(flask_app)
    body = {"kind": "phone", "value": "+15555550123"} if method == "POST" else None

    response = client.open(
        path.format(customer_id=customer_id), method=method, json=body, headers=auth("integration")
    )

    problem = assert_problem(response, 403)
    assert problem["allowed_roles"] == allowed
    assert "this one is integration" in problem["detail"]
    assert head_position(flask_app) == head


def test_an_integration_may_not_give_an_existing_customer_a_new_identity_on_opening(
    client, auth, flask_app
):
    x_user = new_external_id()
    customer_id = _register(client, auth, kind="x", value=x_user)
    new_email = f"{uuid.uuid4().hex}@example.com"
    contact = {
        "channel": "email",
        "body": "my order never arrived",
        "customer_id": customer_id,
        "identity": {"kind": "email", "value": new_email},
        "external_id": f"<{uuid.uuid4().hex}@mail.example.com>",
    }
    head = head_position(flask_app)

    refused = client.post("/v1/conversations", json=contact, headers=auth("integration"))

    problem = assert_problem(refused, 403)
    assert problem["allowed_roles"] == ["agent", "supervisor"]
    assert "changes where replies go" in problem["detail"]
    assert [(e["field"], e["location"]) for e in problem["errors"]] == [("identity", "json")]
    assert head_position(flask_app) == head
    assert _identities(client, auth, customer_id) == {("x", x_user)}
    lookup = client.get(
        "/v1/customers/lookup", query_string={"kind": "email", "value": new_email},
        headers=auth("agent"),
    )  # fmt: skip
    assert_problem(lookup, 404)

    # An agent may: the same contact gives the customer the e-mail address.
    accepted = client.post("/v1/conversations", json=contact, headers=auth("agent"))
    assert accepted.status_code == 201, accepted.get_json()
    assert _identities(client, auth, customer_id) == {("x", x_user), ("email", new_email)}


@pytest.mark.parametrize("by", ["customer_id and identity", "customer_id", "identity"])
def test_an_integration_may_open_a_conversation_for_an_existing_customer(client, auth, by):
    x_user = new_external_id()
    customer_id = _register(client, auth, kind="x", value=x_user)
    contact: dict[str, Any] = {
        "channel": "x_public",
        "body": "@acme where is my parcel",
        "external_id": new_external_id(),
    }
    if "customer_id" in by:
        contact["customer_id"] = customer_id
    if "identity" in by:
        contact["identity"] = {"kind": "x", "value": x_user}

    opened = client.post("/v1/conversations", json=contact, headers=auth("integration"))

    assert opened.status_code == 201, opened.get_json()
    assert opened.get_json()["customer_id"] == customer_id
    assert _identities(client, auth, customer_id) == {("x", x_user)}
