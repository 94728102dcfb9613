"""Rows appended in one go (COPY on PostgreSQL) read back exactly as given."""

from __future__ import annotations

from projections.db import ReadStore

AWKWARD = [
    ["tab\there", 1, 0.5, None],
    ["new\nline and back\\slash", -2, 1e-9, "ünïcödé ✓"],
    ["", 3, 0.0, "\\N"],  # COPY's own spelling of NULL, as text
    ["quote ' and \" and ,comma", 2**40, 12345.678, "\r\n"],
]


def test_appended_rows_read_back_as_given(read_store: ReadStore) -> None:
    with read_store.transaction(lock_key="append-test") as tx:
        tx.run("DROP TABLE IF EXISTS append_probe")
        tx.run(
            "CREATE TABLE append_probe (s TEXT NOT NULL, n BIGINT NOT NULL,"
            " f DOUBLE PRECISION NOT NULL, t TEXT)"
        )
        tx.append("append_probe", ("s", "n", "f", "t"), AWKWARD)
        tx.append("append_probe", ("s", "n", "f", "t"), [])  # nothing: no statement at all
    try:
        rows = read_store.query("SELECT s, n, f, t FROM append_probe ORDER BY n")
        assert [[r["s"], r["n"], r["f"], r["t"]] for r in rows] == sorted(
            AWKWARD, key=lambda r: r[1]
        )
    finally:
        with read_store.transaction(lock_key="append-test") as tx:
            tx.run("DROP TABLE append_probe")
