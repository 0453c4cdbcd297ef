"""The dry run on SQLite evaluates each kept set once (migrator/stores/sql/sqlite_kept.py).

SQLite evaluates a CTE in every statement that reads it: counted from CTEs, each table's counts
re-ran the kept sets of all its ancestors (kept_users in the counts of posts, comments, likes,
follows and devices; the recursion of kept_comments in each of its dangling counts). The statements
SQLite runs are read with sqlite3's trace callback; the counts are compared with the ones the CTEs give."""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrator.demo.generate import generate_demo
from migrator.engine.dry_run import dry_run
from migrator.engine.prepare import prepared
from migrator.plan.load import load_plan
from migrator.stores.sql.sqlite_kept import evaluated_once

REPO = Path(__file__).resolve().parent.parent
KEPT_SETS = ("kept_users", "kept_posts", "kept_comments")


@pytest.fixture
def demo_plan(tmp_path: Path) -> Path:
    (tmp_path / "plans").mkdir()
    shutil.copy(REPO / "plans" / "demo.yaml", tmp_path / "plans" / "demo.yaml")
    generate_demo(tmp_path / "demo", users=300)
    return tmp_path / "plans" / "demo.yaml"


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every statement SQLite runs on the connections opened meanwhile."""
    seen: list[str] = []

    def trace(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.set_trace_callback(seen.append)

    sa.event.listen(sa.pool.Pool, "connect", trace)
    try:
        yield seen
    finally:
        sa.event.remove(sa.pool.Pool, "connect", trace)


def _defines(statement: str, kept: str) -> bool:
    """The statement defines the CTE `kept` (`kept_users AS (`, `kept_comments(m__id, ...) AS (`)."""
    return re.search(rf"\b{kept}(\([^)]*\))?\s+AS\s*\(", statement) is not None


def test_each_kept_set_is_evaluated_once(demo_plan: Path, statements: list[str]) -> None:
    result = dry_run(load_plan(demo_plan))
    assert {t.table for t in result.tables if t.rows} >= {"users", "posts", "comments", "likes"}
    for kept in KEPT_SETS:
        defining = [s for s in statements if _defines(s, kept)]
        assert len(defining) == 1, f"{kept} evaluated {len(defining)} times:\n" + "\n\n".join(defining)


def test_counts_are_those_of_the_ctes(demo_plan: Path) -> None:
    """The stored kept sets give every count exactly as the CTEs of the row queries do."""
    loaded = load_plan(demo_plan)
    result = {t.table: t for t in dry_run(loaded).tables}
    with prepared(loaded) as prep:
        for name in prep.copied_tables:
            expected = prep.queries.counts(name, with_source_rows=True).read(prep.conn)
            table = result[name]
            assert (table.source_rows, table.rows) == (expected.source_rows, expected.rows), name
            assert [d.rows for d in table.dangling] == [rows for _, rows in expected.dangling], name
    assert sum(d.rows for t in result.values() for d in t.dangling) > 0  # the dangling counts are put to the test


def test_a_count_left_with_one_lookup_searches_its_index(demo_plan: Path) -> None:
    """likes' dangling count for its user_id relation keeps only `post_id IN (kept posts)`, which
    the row query wraps in likely(); alone, it searches the post_id index instead of reading likes
    (the demo has no such index; the benchmark's schema has)."""
    with sqlite3.connect(demo_plan.parent.parent / "demo" / "source" / "global.db") as conn:
        conn.execute("CREATE INDEX likes_post_id_idx ON likes (post_id)")
    loaded = load_plan(demo_plan)
    with prepared(loaded) as prep, evaluated_once(prep.source, prep.classes, loaded.plan.data, prep.conn) as counting:
        statement = counting.counts("likes").statement
        sql = str(statement.compile(prep.conn, compile_kwargs={"literal_binds": True}))
        plan = [row[3] for row in prep.conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    searched = r"SEARCH likes USING (COVERING )?INDEX \w+ \(post_id=\?\)$"
    assert any(re.match(searched, line) for line in plan), "\n".join(plan)
