"""Every filter the inbox offers is read off its own index, in the inbox's order.

The plans are asked of empty tables, so the planner's statistics cannot decide them:
SQLite plans without statistics (it never gathers any here), and PostgreSQL is told to
avoid sequential scans and sorts (``enable_seqscan``, ``enable_sort`` and
``enable_bitmapscan`` off), so a plan without a Sort node shows that an index gives the
page in order, and the index named shows which one.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from projections.base import LIVE, TableNames
from projections.db import ReadStore, SQLiteReadStore
from projections.inbox import Inbox
from projections.inbox_filters import given, page_sql

# filter -> (its values in a query, the index that serves it). Where two indexes both give
# the page in order with the filter in their condition, an empty table's costs can tie:
# then either is named (PostgreSQL took the partial "assigned" index for one assignee, and
# the awaiting index for channel + awaiting; SQLite the assignee index for "unassigned").
FILTERS: dict[str, tuple[dict[str, Any], str | tuple[str, ...]]] = {
    "none": ({}, "status"),
    "assignee": ({"assignee": "agent:ann"}, ("assignee", "assigned")),
    "assigned": ({"assigned": True}, "assigned"),
    "unassigned": ({"assigned": False}, ("unassigned", "assignee")),
    "team": ({"team": "billing"}, "team"),
    "channel": ({"channel": "email"}, "channel"),
    "channel+awaiting": ({"channel": "email", "awaiting": "reply"}, ("chawait", "awaiting")),
    "awaiting": ({"awaiting": "acknowledgement"}, "awaiting"),
    "priority": ({"priority": "high"}, "priority"),
    "sla breached": ({"sla": "breached"}, "breached"),
    "sla at_risk": ({"sla": "at_risk"}, "sla"),
    "sla ok": ({"sla": "ok"}, "sla"),
    "follow_up_owed": ({"follow_up_owed": True}, "owed"),
    "classification": ({"classification": "complaint"}, "class"),
    "tag": ({"tag": "vip"}, "inbox_tags_order"),
}
CURSOR = ["2026-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z", "some-id"]


@pytest.fixture
def inbox_tables(read_store: ReadStore) -> ReadStore:
    with read_store.transaction(lock_key="inbox") as tx:
        Inbox().create_tables(tx, TableNames.of(Inbox(), LIVE), "plan")
    return read_store


def plan(read_store: ReadStore, sql: str, params: list[Any]) -> str:
    with read_store.transaction() as tx:
        if isinstance(read_store, SQLiteReadStore):
            return "\n".join(r["detail"] for r in tx.all("EXPLAIN QUERY PLAN " + sql, params))
        for setting in ("enable_seqscan", "enable_sort", "enable_bitmapscan"):
            tx.run(f"SET LOCAL {setting} = off")
        return "\n".join(str(next(iter(r.values()))) for r in tx.all("EXPLAIN " + sql, params))


@pytest.mark.parametrize("status", ["open", "resolved"])
@pytest.mark.parametrize("paged", [False, True], ids=["first page", "next page"])
@pytest.mark.parametrize("name", list(FILTERS))
def test_each_filter_reads_its_own_index_in_the_inbox_order(
    inbox_tables: ReadStore, name: str, status: str, paged: bool
) -> None:
    filters, indexes = FILTERS[name]
    sql, params = page_sql(given(filters), status, CURSOR if paged else None, 51)
    shown = plan(inbox_tables, sql, params)
    used = re.findall(r"proj_(inbox(?:_tags)?_[a-z_]+?)_plan\b", shown)
    names = (indexes,) if isinstance(indexes, str) else indexes
    expected = [n if n.startswith("inbox_tags") else f"inbox_{n}" for n in names]
    assert used[:1] and used[0] in expected, shown  # the page comes off the filter's index...
    assert "TEMP B-TREE" not in shown and "Sort" not in shown, shown  # ...already in order
    assert not re.search(r"^SCAN|Seq Scan", shown, re.MULTILINE), shown  # a range, not all


def test_the_inbox_benchmark_seeds_the_indexes_the_projection_makes(read_store: ReadStore) -> None:
    """``bench.inbox`` writes the inbox's tables itself, in bulk: without the read indexes a
    rebuild makes (``Inbox.read_indexes``), every page it times would be a full scan."""
    from bench.inbox import seed

    seed(read_store, 30, 10)
    with read_store.transaction() as tx:
        if isinstance(read_store, SQLiteReadStore):
            rows = tx.all(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                " AND tbl_name LIKE ?",
                ["proj_inbox%"],
            )
        else:
            rows = tx.all(
                "SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema()"
                " AND tablename LIKE ? AND indexname NOT LIKE ?",
                ["proj_inbox%", "%_pk_%"],
            )
    seeded = {re.sub(r"_[0-9a-f]{8}$", "", r["name"]) for r in rows}
    made = {
        ddl.format(t=f"proj_{logical}", g="TOKEN").split()[2].removesuffix("_TOKEN")
        for declared in (Inbox.tables, Inbox.read_indexes)
        for logical, statements in declared.items()
        for ddl in statements
        if ddl.startswith("CREATE INDEX")
    }
    assert seeded == made


def test_a_built_table_is_analyzed_and_a_large_one_vacuumed(read_store: ReadStore) -> None:
    """``ReadStore.analyze`` after a build: statistics for every table; on PostgreSQL a
    VACUUM too for a table of ``VACUUM_ROWS`` or more (all-visible pages for index-only
    scans), and none for a small one (its fixed cost is not worth it)."""
    from projections.db import VACUUM_ROWS

    with read_store.transaction(lock_key="t") as tx:
        tx.run("CREATE TABLE t_small (id INTEGER PRIMARY KEY)")
        tx.run("CREATE TABLE t_large (id INTEGER PRIMARY KEY)")
        tx.run_many("INSERT INTO t_small (id) VALUES (?)", [[i] for i in range(10)])
        tx.run_many("INSERT INTO t_large (id) VALUES (?)", [[i] for i in range(VACUUM_ROWS)])
    read_store.analyze(["t_small", "t_large"])
    if isinstance(read_store, SQLiteReadStore):
        assert read_store.query("SELECT COUNT(*) AS n FROM t_large") == [{"n": VACUUM_ROWS}]
        return  # nothing to gather there (SQLiteReadStore.analyze)
    rows = read_store.query(
        "SELECT relname, last_vacuum IS NOT NULL AS vacuumed, last_analyze IS NOT NULL AS"
        " analyzed FROM pg_stat_user_tables WHERE schemaname = current_schema()"
        " AND relname IN ('t_small', 't_large') ORDER BY relname"
    )
    assert rows == [
        {"relname": "t_large", "vacuumed": True, "analyzed": True},
        {"relname": "t_small", "vacuumed": False, "analyzed": True},
    ]
