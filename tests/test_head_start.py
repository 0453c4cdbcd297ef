"""The first tables' reads begun while the target is prepared (engine/head_start.py), PostgreSQL to
PostgreSQL.

* the tables begun are the ones the parallel copy takes first (the largest), but none that is cut
  in key ranges or has column rules;
* a head start is taken only with the very statement it read, and gives exactly the chunks a read
  of that statement gives then; another statement (a resumed or cut table) gets nothing, and the
  read begun is stopped;
* closing stops every read, taken or not, and ends its session on the source;
* a run with --workers 2 (which begins its first tables early) gives the target a run with
  --workers 1 gives, digest for digest, and verifies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from migrator.engine.copy import copy_text_chunks
from migrator.engine.head_start import first_tables, head_starts
from migrator.engine.interrupt import StopFlag
from migrator.engine.prepare import prepared
from migrator.engine.ranges import RANGE_ROWS_VARIABLE
from migrator.plan.load import load_plan
from migrator.stores.sql.literal import literal_sql
from tests.plan_files import write_plan

ROOT = Path(__file__).resolve().parent.parent

SOURCE_SQL = """
CREATE TABLE users (id integer PRIMARY KEY, region integer NOT NULL, name text NOT NULL);
CREATE TABLE posts (id integer PRIMARY KEY, author_id integer NOT NULL REFERENCES users, body text NOT NULL);
CREATE TABLE comments (
    id integer PRIMARY KEY, post_id integer NOT NULL REFERENCES posts,
    parent_id integer REFERENCES comments, body text NOT NULL
);
CREATE TABLE likes (
    user_id integer NOT NULL REFERENCES users, post_id integer NOT NULL REFERENCES posts, PRIMARY KEY (user_id, post_id)
);
INSERT INTO users SELECT i, i % 4, 'user ' || i FROM generate_series(1, 2000) i;
INSERT INTO posts SELECT i, 1 + (i * 7919) % 2000, 'post ' || i FROM generate_series(1, 6000) i;
INSERT INTO comments SELECT i, 1 + (i * 31) % 6000, CASE WHEN i % 3 = 0 THEN i - 1 END, 'comment ' || i
    FROM generate_series(1, 9000) i;
INSERT INTO likes SELECT DISTINCT 1 + (i * 13) % 2000, 1 + (i * 7) % 6000 FROM generate_series(1, 4000) i;
ANALYZE;
"""


@pytest.fixture
def source(pg_url_factory) -> str:  # type: ignore[no-untyped-def]
    url = str(pg_url_factory())
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute(SOURCE_SQL)  # type: ignore[arg-type]
    return url


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _plan(tmp_path: Path, source: str, target: str, name: str, **extra: Any) -> Path:
    data = {
        "roots": {"users": "region = 1"},
        "dangling": "drop",
        "unlisted": "fail",
        "schema": "create",
        "chunk_rows": 500,
        **extra,
    }
    return write_plan(tmp_path, name, source, target, data)


def _copy_sessions(url: str) -> int:
    """Sessions on the source database still running a COPY."""
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND query LIKE 'COPY%%' AND state = 'active'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _sessions(url: str) -> int:
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_the_largest_uncut_tables_without_column_rules_are_begun(tmp_path: Path, source: str, pg_url_factory) -> None:  # type: ignore[no-untyped-def]
    target = str(pg_url_factory())
    plan = _plan(tmp_path, source, target, "heads", tables={"users": {"columns": {"name": "mask"}}})
    with prepared(load_plan(plan, environ={})) as prep:
        # By size: comments, posts, likes, users. Two workers take comments and posts first.
        assert first_tables(prep, 2, {}) == ["comments", "posts"]
        # Posts cut in ranges (more rows than a range holds, and read with its rule): not begun.
        assert first_tables(prep, 2, {RANGE_ROWS_VARIABLE: "1000"}) == ["comments"]
        # Users has a column rule (a transform): its rows go through Python, never as COPY text.
        assert first_tables(prep, 4, {}) == ["comments", "posts", "likes"]


def test_a_head_start_is_taken_only_with_its_own_statement(tmp_path: Path, source: str, pg_url_factory) -> None:  # type: ignore[no-untyped-def]
    target = str(pg_url_factory())
    plan = _plan(tmp_path, source, target, "heads")
    with prepared(load_plan(plan, environ={})) as prep:
        before = _sessions(source)
        heads = head_starts(prep, StopFlag(), 2, {}, copy_text_chunks)
        try:
            assert _sessions(source) == before + 2  # comments and posts, each on a connection of its own
            statement = prep.queries.rows("comments").rows
            sql = literal_sql(statement, prep.conn)
            begun = heads.take("comments", sql)
            assert begun is not None
            assert heads.take("comments", sql) is None  # taken once
            chunks = list(begun)
            expected = list(copy_text_chunks(prep.conn, prep, "comments", statement))
            assert [(c.data, c.rows, c.last_key) for c in chunks] == [(c.data, c.rows, c.last_key) for c in expected]
            assert len(chunks) > 1 and sum(c.rows for c in chunks) > 1000
            # Posts asked for with another statement (as a resumed table is): the read begun is not it.
            resumed = prep.queries.rows("posts").rows.where(prep.queries.rows("posts").key_columns[0] > 100)
            assert heads.take("posts", literal_sql(resumed, prep.conn)) is None
        finally:
            heads.close()
        deadline = time.monotonic() + 5
        while _sessions(source) > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _sessions(source) == before
        assert _copy_sessions(source) == 0


def test_closing_stops_reads_nobody_took(tmp_path: Path, source: str, pg_url_factory) -> None:  # type: ignore[no-untyped-def]
    target = str(pg_url_factory())
    plan = _plan(tmp_path, source, target, "heads", chunk_rows=10)  # many chunks: the reads stay under way
    with prepared(load_plan(plan, environ={})) as prep:
        before = _sessions(source)
        heads = head_starts(prep, StopFlag(), 2, {}, copy_text_chunks)
        time.sleep(0.2)
        heads.close()
        deadline = time.monotonic() + 5
        while _sessions(source) > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _sessions(source) == before
        assert _copy_sessions(source) == 0


def _run(plan: Path, *options: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "migrator", "run", str(plan), "--format", "json", *options]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_run_with_head_starts_gives_what_one_worker_gives(tmp_path: Path, source: str, pg_url_factory) -> None:  # type: ignore[no-untyped-def]
    one = _run(_plan(tmp_path, source, str(pg_url_factory()), "one"), "--workers", "1")
    two = _run(_plan(tmp_path, source, str(pg_url_factory()), "two"), "--workers", "2")
    digests = {t["table"]: (t["rows"], t["checksum"]) for t in one["tables"]}
    assert {t["table"]: (t["rows"], t["checksum"]) for t in two["tables"]} == digests
    assert digests["comments"][0] > 1000
    assert two["verification"]["ok"] is True


def test_a_fresh_run_takes_its_head_starts_and_a_resumed_one_begins_none(
    tmp_path: Path, source: str, pg_url_factory, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from migrator.engine import head_start
    from migrator.engine.run import run_plan

    taken: list[tuple[str, bool]] = []
    begun: list[str] = []
    take, begin = head_start.HeadStarts.take, head_start.HeadStarts.begin

    def spied_take(self, name, sql):  # type: ignore[no-untyped-def]
        result = take(self, name, sql)
        taken.append((name, result is not None))
        return result

    def spied_begin(self, prep, stop, name, read, snapshot_id):  # type: ignore[no-untyped-def]
        begun.append(name)
        begin(self, prep, stop, name, read, snapshot_id)

    monkeypatch.setattr(head_start.HeadStarts, "take", spied_take)
    monkeypatch.setattr(head_start.HeadStarts, "begin", spied_begin)
    target = str(pg_url_factory())
    loaded = load_plan(_plan(tmp_path, source, target, "spied"), environ={})
    result = run_plan(loaded, workers=2, environ=dict(os.environ))
    assert result.status == "finished"
    assert begun == ["comments", "posts"]
    assert ("comments", True) in taken and ("posts", True) in taken  # read ahead, and used
    assert _copy_sessions(source) == 0
    # Resumed (the run not finished, comments to copy again): the workers read for themselves.
    with psycopg.connect(_libpq(target), autocommit=True) as conn:
        conn.execute("UPDATE _migrator_runs SET status = 'running' WHERE plan = 'spied'")
        conn.execute("DELETE FROM _migrator_units WHERE plan = 'spied' AND unit LIKE '%:comments:%'")
        conn.execute("TRUNCATE comments")
    begun.clear()
    taken.clear()
    resumed = run_plan(loaded, workers=2, environ=dict(os.environ))
    assert resumed.status == "resumed-and-finished"
    assert begun == [] and all(not used for _, used in taken)
    assert {t.table: (t.rows, t.checksum) for t in resumed.tables} == {
        t.table: (t.rows, t.checksum) for t in result.tables
    }
    assert resumed.verification is not None and resumed.verification["ok"] is True
