"""The audit chain over the log: an intruder's edit of the store is named by verify, and an
export checks out offline (docs/verify_export.py, standard library only) until a byte of it
changes. Both stores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import pytest

from app.config import Settings, event_store_env
from app.schemas.events import describe_event
from domain.application import Conversations
from domain.values import Identity, plain
from projections.audit_chain import AuditChain, verify
from projections.audit_export import ExportFilter, export_lines
from projections.db import open_read_store
from tests.conftest import Clock
from tests.support.tamper import Tamper

VERIFIER = Path(__file__).resolve().parents[2] / "docs" / "verify_export.py"
AGENT = "agent:ann"


@pytest.fixture
def chained(store: dict[str, str], tmp_path: Path, clock: Clock):  # type: ignore[no-untyped-def]
    """Three cases with a note each, chained; the application, chain and tamper tools."""
    settings = Settings.from_env({**store, "PARLEY_READ_STORE_PATH": str(tmp_path / "r.sqlite")})
    app = Conversations(env=event_store_env(settings, create_tables=True), clock=clock)
    read_store = open_read_store(settings)
    cases = []
    for i in range(3):
        opened = app.open_conversation(
            channel="x_public", body=f"parcel {i} is late", actor="integration:x",
            identity=Identity("x", str(9000 + i)),
        )  # fmt: skip
        app.add_note(opened.id, body=f"note {i}", actor=AGENT)
        cases.append(opened.id)
    chain = AuditChain(read_store, signing_key="operator-key")
    while chain.advance(app.recorder):
        pass
    chain.record_head()
    yield app, chain, Tamper(store, app.recorder.events_table_name), cases
    read_store.close()
    app.close()


def findings(app: Conversations, chain: AuditChain) -> list[tuple[str, int]]:
    return [(f.kind, f.position) for f in verify(chain, app.recorder)[0]]


def head(app: Conversations) -> int:
    return int(app.recorder.max_notification_id() or 0)


def test_an_untouched_log_verifies(chained) -> None:  # type: ignore[no-untyped-def]
    app, chain, _, _ = chained
    found, checked, unchained = verify(chain, app.recorder)
    assert (found, checked, unchained) == ([], head(app), 0)


def test_an_altered_row_is_named(chained) -> None:  # type: ignore[no-untyped-def]
    app, chain, tamper, _ = chained
    # A note's body is sealed (ciphertext); its actor, like every non-personal field, is not.
    note = next(p for p in range(1, head(app) + 1) if b"NoteAdded" in tamper.row(p)[2].encode())
    tamper.alter(note, AGENT.encode(), b"agent:mallory")
    assert findings(app, chain) == [("altered", note)]


def test_a_deleted_row_is_named(chained) -> None:  # type: ignore[no-untyped-def]
    app, chain, tamper, _ = chained
    tamper.delete(4)
    assert findings(app, chain) == [("missing", 4)]


def test_an_inserted_row_is_named(chained) -> None:  # type: ignore[no-untyped-def]
    """A row slipped into a gap of the log (gaps are normal on PostgreSQL)."""
    app, chain, tamper, _ = chained
    # The chain made over a log with a gap at 3: that row gone before it was chained.
    gone = tamper.delete(3)
    with chain.store.transaction(lock_key="audit_chain") as tx:  # chained again, gap and all
        tx.run("DELETE FROM audit_chain")
        tx.run("DELETE FROM audit_heads")
    while chain.advance(app.recorder):
        pass
    chain.record_head()
    assert findings(app, chain) == []

    tamper.insert(3, gone)
    assert findings(app, chain) == [("inserted", 3)]


def test_two_swapped_rows_are_named(chained) -> None:  # type: ignore[no-untyped-def]
    app, chain, tamper, _ = chained
    tamper.swap(2, 5)
    assert findings(app, chain) == [("reordered", 2), ("reordered", 5)]


def test_a_rewritten_chain_no_longer_matches_its_recorded_head(chained) -> None:  # type: ignore[no-untyped-def]
    """The intruder edits a row and rebuilds the chain table to match: the head recorded
    (and signed) before says so."""
    app, chain, tamper, _ = chained
    tamper.alter(1, b"agent", b"agenT") if b"agent" in bytes(tamper.row(1)[3]) else tamper.alter(
        1, b"integration", b"integratioN"
    )
    with chain.store.transaction(lock_key="audit_chain") as tx:
        tx.run("DELETE FROM audit_chain")
    while chain.advance(app.recorder):
        pass
    assert ("head_mismatch", head(app)) in findings(app, chain)


def _export(app: Conversations, chain: AuditChain, selected: ExportFilter, path: Path) -> Path:
    lines = export_lines(chain, app.recorder, app.mapper.to_domain_event, describe_event, selected)
    path.write_text("".join(json.dumps(plain(line)) + "\n" for line in lines))
    return path


def _verifies(path: Path, *key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(VERIFIER), str(path), *key], capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


def test_an_export_verifies_offline_and_a_changed_byte_does_not(chained, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app, chain, _, _ = chained
    path = _export(app, chain, ExportFilter(), tmp_path / "all.ndjson")

    ok = _verifies(path, "--key", "operator-key")
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout.startswith(f"OK: {head(app)} events")

    text = path.read_text()
    # A message's text is sealed: its readable form is vouched for by the operator key.
    changed = text.replace("parcel 1 is late", "parcel 1 is fine")
    assert changed != text
    # An actor is in the clear: the stored bytes themselves say it.
    actor = text.replace(f'"actor": "{AGENT}"', '"actor": "agent:mallory"', 1)
    assert actor != text
    state_line = next(line for line in text.splitlines() if '"kind": "event"' in line)
    record = json.loads(state_line)
    record["state"] = record["state"][:-4] + ("AAAA" if record["state"][-4:] != "AAAA" else "BBBB")
    flipped = text.replace(state_line, json.dumps(record))
    for name, body, key in (("flipped", flipped, ()), ("actor", actor, ()),
                            ("changed", changed, ("--key", "operator-key"))):  # fmt: skip
        bad = tmp_path / f"{name}.ndjson"
        bad.write_text(body)
        refused = _verifies(bad, *key)
        assert refused.returncode == 1 and "FAILED" in refused.stdout, (name, refused.stdout)
    assert "readable event" in _verifies(tmp_path / "actor.ndjson").stdout
    assert "vouched for" in _verifies(tmp_path / "changed.ndjson", "--key", "operator-key").stdout
    unkeyed = _verifies(tmp_path / "changed.ndjson")  # without the key: said to be unchecked
    assert unkeyed.returncode == 0 and "unchecked (give --key)" in unkeyed.stdout
    assert _verifies(path, "--key", "another-key").returncode == 1  # the heads' signatures


def test_a_filtered_export_carries_one_case_and_still_verifies(chained, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app, chain, _, cases = chained
    one = ExportFilter(frozenset({str(cases[1])}))
    path = _export(app, chain, one, tmp_path / "one.ndjson")

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    events = [line for line in lines if line["kind"] == "event"]
    assert {UUID(e["originator_id"]) for e in events} == {cases[1]}
    assert [e["event"]["type"] for e in events] == ["Opened", "NoteAdded"]
    assert _verifies(path).returncode == 0


def test_parley_audit_verify_exits_1_naming_the_finding_and_2_without_a_store(
    store: dict[str, str], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from app.cli import main

    env = {**store, "PARLEY_READ_STORE_PATH": str(tmp_path / "r.sqlite"),
           "PARLEY_CREATE_TABLES": "yes"}  # fmt: skip
    settings = Settings.from_env(env)
    app = Conversations(env=event_store_env(settings, create_tables=True))
    app.open_conversation(channel="x_public", body="late parcel", actor="integration:x",
                          identity=Identity("x", "777"))  # fmt: skip
    app.close()
    runner = CliRunner()
    assert runner.invoke(main, ["audit", "chain", "--once"], env=env).exit_code == 0
    clean = runner.invoke(main, ["audit", "verify"], env=env)
    assert (clean.exit_code, "the chain verifies" in clean.output) == (0, True)

    Tamper(store, "stored_events" if store["PARLEY_STORE"] == "sqlite" else
           app.recorder.events_table_name).delete(2)  # fmt: skip
    found = runner.invoke(main, ["audit", "verify", "--json"], env=env)
    assert found.exit_code == 1, found.output
    assert json.loads(found.output)["findings"][0] | {"detail": ""} == {
        "kind": "missing", "position": 2, "detail": "",
    }  # fmt: skip

    unreachable = runner.invoke(
        main, ["audit", "verify"], env=env | {"PARLEY_STORE": "postgres",
                                             "PARLEY_POSTGRES_PORT": "1"},
    )  # fmt: skip
    assert unreachable.exit_code == 2
    assert "could not verify" in unreachable.output and "Traceback" not in unreachable.output


def test_a_chain_no_head_was_ever_recorded_for_is_unanchored(chained) -> None:  # type: ignore[no-untyped-def]
    """Without a head kept, a cut tail or a rewritten chain could not be told."""
    app, chain, _, _ = chained
    with chain.store.transaction(lock_key="audit_chain") as tx:
        tx.run("DELETE FROM audit_heads")
    assert findings(app, chain) == [("unanchored", head(app))]


def test_a_head_recorded_while_verify_reads_is_no_finding(chained) -> None:  # type: ignore[no-untyped-def]
    app, chain, _, cases = chained
    app.add_note(cases[0], body="later", actor=AGENT)
    chain.catch_up(app.recorder)
    chain.record_head()  # a head past what a verify that read the chain earlier saw
    with chain.store.transaction(lock_key="audit_chain") as tx:
        tx.run("DELETE FROM audit_chain WHERE position = ?", [head(app)])
    found, _, unchained = verify(chain, app.recorder)
    assert (found, unchained) == ([], 1)


def test_an_export_of_a_log_with_a_row_gone_fails_offline(chained, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app, chain, tamper, _ = chained
    tamper.delete(2)
    refused = _verifies(_export(app, chain, ExportFilter(), tmp_path / "gone.ndjson"))
    assert refused.returncode == 1 and "position 2" in refused.stdout, refused.stdout


def test_the_verifier_checks_what_the_readable_event_claims_to_be(chained, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app, chain, _, _ = chained
    path = _export(app, chain, ExportFilter(), tmp_path / "all.ndjson")
    lines = path.read_text().splitlines()
    number = next(i for i, line in enumerate(lines) if '"type": "Opened"' in line)
    for forge in (
        lambda record: record["event"].update(type="Resolved"),
        lambda record: record["event"].update(version=99),
        lambda record: record.update(state=None, salt=None),  # not a withheld kind
    ):
        record = json.loads(lines[number])
        forge(record)
        forged = tmp_path / "forged.ndjson"
        forged.write_text("\n".join([*lines[:number], json.dumps(record), *lines[number + 1 :]]))
        refused = _verifies(forged)
        assert refused.returncode == 1, (record["event"], refused.stdout)
