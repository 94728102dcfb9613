"""The OpenAPI document is a contract clients can be generated from, and it is complete.

It validates; every route the server answers is in it, with a stable, readable
``operationId``; every header it reads or sets is declared with a schema; every problem
is ``application/problem+json``; ``/docs`` renders from this app's own files.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from openapi_spec_validator import validate

METHODS = {"get", "post", "put", "patch", "delete"}
UNDOCUMENTED = {"/openapi.json", "/docs", "/docs/assets/<path:name>", "/static/<path:filename>"}
PROBLEM = "application/problem+json"


@pytest.fixture
def spec(client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = spec["components"][kind][name]
    return node


def test_the_document_validates_as_openapi_3_1(spec) -> None:
    validate(spec)
    assert spec["openapi"].startswith("3.1")
    assert spec["servers"] and all("url" in s for s in spec["servers"])


def test_every_route_the_server_answers_is_documented(flask_app: Flask, spec) -> None:
    served = set()
    for rule in flask_app.url_map.iter_rules():
        if rule.rule in UNDOCUMENTED:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        served |= {(m.lower(), path) for m in rule.methods or () if m.lower() in METHODS}

    documented = {(m, p) for m, p, _ in operations(spec)}

    assert served == documented
    assert ("get", "/v1/stream") in documented
    assert {("get", "/healthz"), ("get", "/readyz")} <= documented


def test_every_operation_has_a_unique_readable_operation_id(spec) -> None:
    ids = [op.get("operationId") for _, _, op in operations(spec)]

    assert all(ids), [(m, p) for m, p, op in operations(spec) if not op.get("operationId")]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][a-zA-Z]+", i) for i in ids), ids
    assert {"openConversation", "queueReply", "listInbox", "streamUpdates"} <= set(ids)


def test_every_problem_is_documented_as_problem_json(spec) -> None:
    """All but /readyz's 503, which is its readiness report (the checks that failed)."""
    for method, path, op in operations(spec):
        for status, response in op["responses"].items():
            if (path, status) == ("/readyz", "503"):
                continue
            if status == "default" or int(status) >= 400:
                content = resolve(spec, response)["content"]
                assert list(content) == [PROBLEM], (method, path, status)


def test_writes_declare_the_headers_they_read_and_set(spec) -> None:
    for method, path, op in operations(spec):
        if method != "post" or not path.startswith("/v1/"):
            continue  # webhooks are signed deliveries, de-duplicated by their content's ids
        names = {resolve(spec, p)["name"] for p in op.get("parameters", [])}
        assert "Idempotency-Key" in names, path
        if path.startswith(("/v1/conversations/{", "/v1/customers/{")):
            assert "If-Match" in names, path
        success = [r for s, r in op["responses"].items() if s.startswith("2")]
        for response in success:
            headers = resolve(spec, response).get("headers", {})
            assert {"ETag", "Idempotent-Replayed"} <= set(headers), path
            assert all("schema" in resolve(spec, h) for h in headers.values()), path


def test_every_declared_header_has_a_schema(spec) -> None:
    for name, header in spec["components"]["headers"].items():
        assert "schema" in header, name
    for name, parameter in spec["components"]["parameters"].items():
        assert "schema" in parameter, name


def test_the_statuses_a_route_really_answers_are_listed(spec) -> None:
    by_id = {op["operationId"]: op["responses"] for _, _, op in operations(spec)}

    assert {"401", "403", "404", "503"} <= set(by_id["getCustomer"])
    assert {"200", "201", "409", "413", "415", "422"} <= set(by_id["openConversation"])
    assert {"409", "412", "422"} <= set(by_id["queueReply"])
    assert {"401", "403", "422", "503"} <= set(by_id["streamUpdates"])
    assert "text/event-stream" in by_id["streamUpdates"]["200"]["content"]
    assert "503" in by_id["checkReadiness"]


def test_naive_times_are_documented_as_utc(spec) -> None:
    assert "without an offset is read as UTC" in spec["info"]["description"]


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (
                (tag == "script" and name == "src") or (tag == "link" and name == "href")
            ):
                self.urls.append(value)


def test_the_docs_page_and_every_asset_it_loads_come_from_the_app(client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    parser = _Assets()
    parser.feed(html)

    assert len(parser.urls) >= 3  # the stylesheet and two scripts of Swagger UI
    assert not re.search(r"https?://", html), "the page must not load anything from outside"
    for url in parser.urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.data) > 1000, url
    assert '"/openapi.json"' in html


TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$")
LOOKS_LIKE_TIME = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")


def _times(value: Any, where: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [t for k, x in value.items() for t in _times(x, f"{where}.{k}")]
    if isinstance(value, list):
        return [t for i, x in enumerate(value) for t in _times(x, f"{where}[{i}]")]
    if isinstance(value, str) and LOOKS_LIKE_TIME.match(value):
        return [(where, value)]
    return []


def test_every_answer_writes_times_one_way(client, auth, flask_app, clock) -> None:
    """ISO 8601 in UTC with ``+00:00``, microseconds when there are any."""
    from tests.app.helpers import open_conversation
    from tests.readside.support import project

    agent, ops = auth("agent"), auth("ops")
    clock.advance(seconds=1.5)
    opened = open_conversation(client, agent)
    cid, customer = opened["id"], opened["customer_id"]
    client.post(f"/v1/conversations/{cid}/replies", json={"body": "hi"}, headers=agent)
    client.post(
        f"/v1/conversations/{cid}/snooze",
        json={"until": "2026-11-03T10:00:00-05:00"},
        headers=agent,
    )
    project(flask_app)
    answers = {
        path: client.get(path, headers=ops if "ops" in path or "events" in path else agent)
        for path in (
            f"/v1/conversations/{cid}",
            f"/v1/conversations/{cid}/events",
            f"/v1/conversations/{cid}/sla",
            f"/v1/customers/{customer}",
            f"/v1/customers/{customer}/history",
            "/v1/inbox",
            "/v1/events",
            "/v1/ops/projections",
            "/v1/sla/report?from=2026-11-01T00:00:00Z&to=2026-11-04T00:00:00Z",
        )
    }

    found = []
    for path, response in answers.items():
        assert response.status_code == 200, (path, response.get_json())
        found += [(path + where, value) for where, value in _times(response.get_json())]
    assert len(found) > 20
    assert [(w, v) for w, v in found if not TIME.match(v)] == []
