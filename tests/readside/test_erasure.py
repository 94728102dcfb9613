"""``POST /v1/customers/{id}/erasure``: afterwards every view reads the customer's personal
fields as erased (the conversation, its events, the inbox, the history, exports, as-of
views), the read models equal a rebuild, the bytes are gone from the SQLite read store,
and the audit chain still verifies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from projections.audit_chain import AuditChain
from projections.audit_chain import verify as verify_chain
from projections.log import NotificationLog
from projections.rebuild import verify
from projections.registry import all_projections
from tests.app.helpers import assert_problem
from tests.readside.support import email_address, open_case, project, write

SECRET = "Flat 3, 12 Quarry Lane"
VERIFIER = Path(__file__).resolve().parents[2] / "docs" / "verify_export.py"


def _case(client, auth) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    agent = auth("agent")
    address = email_address()
    case = open_case(
        client, agent, "email", body=f"send it to {SECRET}", customer_name="Ann Example",
        identity={"kind": "email", "value": address},
    )  # fmt: skip
    cid = case["id"]
    write(client, agent, f"/v1/conversations/{cid}/replies",
          {"body": f"we will, to {SECRET}", "kind": "answer"}, 202)  # fmt: skip
    write(client, agent, f"/v1/conversations/{cid}/notes", {"body": f"lives at {SECRET}"}, 201)
    return {**case, "address": address}


def test_erasure_reads_erased_in_every_view_and_keeps_the_rest(  # type: ignore[no-untyped-def]
    client, auth, flask_app, store, tmp_path
) -> None:
    case = _case(client, auth)
    cid, customer = case["id"], case["customer_id"]
    project(flask_app)
    supervisor = auth("supervisor")
    inbox = client.get("/v1/inbox", headers=supervisor).get_json()["items"]
    assert SECRET in inbox[0]["last_message_preview"]

    # Only a supervisor erases; an unknown customer is 404; a stray field is 422.
    assert_problem(client.post(f"/v1/customers/{customer}/erasure", json={},
                               headers=auth("agent")), 403)  # fmt: skip
    missing = "00000000-0000-0000-0000-0000000000aa"
    assert_problem(
        client.post(f"/v1/customers/{missing}/erasure", json={}, headers=supervisor), 404
    )
    assert_problem(client.post(f"/v1/customers/{customer}/erasure", json={"why": 1},
                               headers=supervisor), 422)  # fmt: skip
    erased = write(client, supervisor, f"/v1/customers/{customer}/erasure", {"reference": "DSR-7"})
    assert erased["already"] is False and erased["conversations"] == 1
    again = write(client, supervisor, f"/v1/customers/{customer}/erasure", {})
    assert again["already"] is True and again["position"] is None
    project(flask_app)

    # The conversation, its events, the customer: erased, and the story intact.
    conversation = client.get(f"/v1/conversations/{cid}", headers=supervisor).get_json()
    text = str(conversation)
    assert SECRET not in text and case["address"] not in text and "[erased]" in text
    assert conversation["status"] == "open" and conversation["current_channel"] == "email"
    events = client.get(f"/v1/conversations/{cid}/events", headers=supervisor).get_json()["items"]
    assert SECRET not in str(events)
    assert [e["type"] for e in events][:2] == ["Opened", "ReplyQueued"]
    assert all(
        e.get("erased") for e in events if e["type"] in ("Opened", "ReplyQueued", "NoteAdded")
    )
    person = client.get(f"/v1/customers/{customer}", headers=supervisor).get_json()
    assert person["name"] == "[erased]" and person["erased_at"] is not None
    assert person["identities"] == [{"kind": "email", "value": "[erased]", "handle": None}]
    lookup = client.get("/v1/customers/lookup", query_string={"kind": "email", "value": case["address"]},
                        headers=supervisor)  # fmt: skip
    assert lookup.status_code == 404  # the address is no one's now

    # The read models: erased, and equal to a rebuild from the log.
    inbox = client.get("/v1/inbox", headers=supervisor).get_json()["items"]
    assert [i["last_message_preview"] for i in inbox] == ["[erased]"]
    history = client.get(f"/v1/customers/{customer}/history", headers=supervisor).get_json()
    assert SECRET not in str(history) and "Ann Example" not in str(history)
    assert history["items"][-1]["kind"] == "erased"
    application, read_store = (
        flask_app.extensions["parley.application"],
        flask_app.extensions["parley.read_store"],
    )
    for projection in all_projections():
        assert (
            verify(
                read_store, NotificationLog(application.recorder, application.mapper), projection
            )
            == []
        ), projection.name
    as_of = client.get(
        "/v1/inbox", query_string={"as_of": conversation["opened_at"]}, headers=supervisor
    )
    assert as_of.status_code == 200 and SECRET not in as_of.get_data(as_text=True)

    # The export: erased, and it still verifies offline; so does the chain.
    export = client.get("/v1/audit/export", headers=supervisor)
    assert SECRET.encode() not in export.get_data()
    path = tmp_path / "export.ndjson"
    path.write_bytes(export.get_data())
    checked = subprocess.run([sys.executable, str(VERIFIER), str(path)], capture_output=True,
                             text=True, timeout=60, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stdout
    chain = AuditChain(read_store)
    chain.catch_up(application.recorder)
    findings, checked_events, _ = verify_chain(chain, application.recorder)
    assert findings == [] and checked_events > 0

    # The bytes: in no file of the SQLite stores (events, keys, read models, their WALs).
    if store.get("PARLEY_STORE", "sqlite") == "sqlite":
        folder = Path(store["PARLEY_SQLITE_PATH"]).parent
        files = [p for p in folder.iterdir() if ".sqlite" in p.name]
        assert len(files) >= 2
        for file in files:
            assert SECRET.encode() not in file.read_bytes(), file.name
