"""``GET /v1/audit/export`` over HTTP: NDJSON an auditor verifies offline; a private note
reaches roles that may not read it without its body or its bytes, and still verifies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.app.helpers import open_conversation

VERIFIER = Path(__file__).resolve().parents[2] / "docs" / "verify_export.py"
SECRET = "the customer threatened to sue"


def _verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(VERIFIER), str(path)], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def test_an_auditors_export_verifies_and_withholds_the_note(client, auth, tmp_path) -> None:  # type: ignore[no-untyped-def]
    case = open_conversation(client, auth())["id"]
    client.post(f"/v1/conversations/{case}/notes", json={"body": SECRET}, headers=auth())

    for role, shows in (("auditor", False), ("supervisor", True)):
        response = client.get("/v1/audit/export", headers=auth(role))
        assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
        path = tmp_path / f"{role}.ndjson"
        path.write_bytes(response.get_data())
        checked = _verify(path)
        assert checked.returncode == 0, checked.stdout
        assert (SECRET in path.read_text()) is shows
        assert ("withheld" in checked.stdout) is not shows


def test_an_export_of_one_case_and_an_unknown_case(client, auth) -> None:  # type: ignore[no-untyped-def]
    one = open_conversation(client, auth())["id"]
    open_conversation(client, auth())
    response = client.get("/v1/audit/export", query_string={"conversation_id": one},
                          headers=auth("auditor"))  # fmt: skip
    assert response.status_code == 200
    assert f'"originator_id": "{one}"' in response.get_data(as_text=True)
    unknown = client.get(
        "/v1/audit/export", query_string={"conversation_id": "00000000-0000-0000-0000-000000000001"},
        headers=auth("auditor"),
    )  # fmt: skip
    assert unknown.status_code == 404
