"""Tables cut into key ranges [lo, hi) (issue 17, engine/ranges.py), PostgreSQL to PostgreSQL.

The source: users (a root condition on their region), posts scoped by users, comments that reply to
comments (a recursive kept set). MIGRATOR_RANGE_ROWS lowers the rows per range so that small tables
make several ranges:

* a run cuts posts, likes (a key of two columns) and users in ranges, records their bounds in the
  ledger, and gives the target a run with --workers 1 gives, digest for digest; comments
  (recursive) stay one range;
* a run killed inside a middle range, run again with another --workers: the same bounds, exact
  rows, no chunk committed twice;
* one narrow range's query of posts (and of likes) examines a fraction of the rows the whole table's
  does, reading no table whole (EXPLAIN ANALYZE);
* a wide range's query, where the table's own lookups hash a parent's whole kept set, reads of each
  parent only the rows its own rows reference (bounded, or probed), and every range of a cut gives
  the table's rows exactly;
* ranges on Dask (a LocalCluster) give the local run's target;
* a ledger made before ranges gains the bounds column.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from migrator.engine.fault_point import PAUSE_VARIABLE, READY_VARIABLE
from migrator.engine.ranges import CHUNK_STRIDE, RANGE_ROWS_VARIABLE, KeyRange
from migrator.stores.sql import ledger
from tests.plan_files import write_plan

ROOT = Path(__file__).resolve().parent.parent
USERS, POSTS, COMMENTS, LIKES = 8_000, 40_000, 4_000, 12_000
RANGE_ROWS = "5000"  # posts: 8 ranges, likes: 3, users: 2; comments would be 1 on size alone

SOURCE_SQL = f"""
CREATE TABLE users (id integer PRIMARY KEY, region integer NOT NULL, name text NOT NULL);
CREATE INDEX users_region ON users (region);
CREATE TABLE posts (id integer PRIMARY KEY, author_id integer NOT NULL REFERENCES users, body text NOT NULL);
CREATE INDEX posts_author ON posts (author_id);
CREATE TABLE comments (
    id integer PRIMARY KEY, post_id integer NOT NULL REFERENCES posts,
    parent_id integer REFERENCES comments, body text NOT NULL
);
CREATE INDEX comments_post ON comments (post_id);
CREATE INDEX comments_parent ON comments (parent_id);
CREATE TABLE likes (
    user_id integer NOT NULL REFERENCES users, post_id integer NOT NULL REFERENCES posts, PRIMARY KEY (user_id, post_id)
);
CREATE INDEX likes_post ON likes (post_id);
INSERT INTO users SELECT i, i % 4, 'user ' || i FROM generate_series(1, {USERS}) i;
INSERT INTO posts SELECT i, 1 + (i * 7919) % {USERS}, repeat('post ' || i || ' ', 3) FROM generate_series(1, {POSTS}) i;
INSERT INTO comments SELECT i, 1 + (i * 31) % {POSTS}, CASE WHEN i % 3 = 0 THEN i - 1 END, 'comment ' || i
    FROM generate_series(1, {COMMENTS}) i;
INSERT INTO likes SELECT DISTINCT 1 + (i * 13) % {USERS}, 1 + (i * 7) % {POSTS} FROM generate_series(1, {LIKES}) i;
ANALYZE;
"""


@pytest.fixture
def source(pg_url_factory) -> str:  # type: ignore[no-untyped-def]
    url = pg_url_factory()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(SOURCE_SQL)  # type: ignore[arg-type]
    return str(url)


def _plan(tmp_path: Path, source: str, target: str, name: str) -> Path:
    data = {
        "roots": {"users": "region = 1"},
        "tables": {"posts": {"where": "id % 10 <> 4"}},
        "dangling": "drop",
        "unlisted": "fail",
        "schema": "create",
        "chunk_rows": 400,
    }
    return write_plan(tmp_path, name, source, target, data)


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), RANGE_ROWS_VARIABLE: RANGE_ROWS, **extra}


def _run(plan: Path, *options: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    command = [sys.executable, "-m", "migrator", "run", str(plan), "--format", "json", *options]
    done = subprocess.run(command, env=env or _env(), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _digests(result: dict[str, Any]) -> dict[str, tuple[int, str]]:
    return {t["table"]: (t["rows"], t["checksum"]) for t in result["tables"]}


def _ledger(target: str, plan: str) -> dict[str, tuple[int, str | None]]:
    engine = sa.create_engine(target, poolclass=sa.pool.NullPool)
    units = ledger.units
    with engine.connect() as conn:
        rows = conn.execute(sa.select(units.c.unit, units.c.rows, units.c.bounds).where(units.c.plan == plan)).all()
    return {unit: (count, bounds) for unit, count, bounds in rows}


def _ranges(ledger: dict[str, tuple[int, str | None]], table: str) -> list[str | None]:
    found = {int(u.rsplit(":", 1)[1]): b for u, (_, b) in ledger.items() if u.startswith(f"range:{table}:")}
    return [found[i] for i in sorted(found)]


def _trail(tmp_path: Path, name: str) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted((tmp_path / "state" / name).rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_big_tables_are_copied_as_recorded_ranges_and_equal_a_serial_run(
    source: str, pg_url_factory, tmp_path: Path
) -> None:
    ranged_target, serial_target = pg_url_factory(), pg_url_factory()
    ranged = _run(_plan(tmp_path, source, ranged_target, "ranged"), "--workers", "2")
    serial = _run(_plan(tmp_path, source, serial_target, "serial"), "--workers", "1")
    assert ranged["status"] == serial["status"] == "finished"
    assert ranged["verification"]["ok"] is True
    assert _digests(ranged) == _digests(serial)
    # posts of region 1's users: the ids divisible by 4 (1 + 3i = 1 mod 4), less those ending in 4
    assert _digests(ranged)["posts"][0] == POSTS // 4 - POSTS // 20

    ledger = _ledger(ranged_target, "ranged")
    posts = _ranges(ledger, "posts")
    assert len(posts) == POSTS // int(RANGE_ROWS)
    bounds = [json.loads(b or "null") for b in posts]
    assert bounds[0][0] is None and bounds[-1][1] is None  # open at both ends: every key in one range
    assert all(bounds[i][1] == bounds[i + 1][0] for i in range(len(bounds) - 1))  # [lo, hi) back to back
    assert len(_ranges(ledger, "users")) == 2
    # likes' key is (user_id, post_id): its cuts bound user_id alone, from that column's histogram
    assert [len(json.loads(b or "null")[1]) for b in _ranges(ledger, "likes")[:-1]] == [1, 1]
    assert _ranges(ledger, "comments") == []  # recursive: one range, as before
    assert all(f"range-done:posts:{i}" in ledger for i in range(len(posts)))
    # each chunk mark holds its range's bounds, its number R * CHUNK_STRIDE + C
    for unit, (_, mark_bounds) in ledger.items():
        if unit.startswith("table:posts:"):
            assert mark_bounds == posts[int(unit.rsplit(":", 1)[1]) // CHUNK_STRIDE]
    assert (
        sum(rows for unit, (rows, _) in ledger.items() if unit.startswith("table:posts:"))
        == _digests(ranged)["posts"][0]
    )
    done = [(e["table"], e["chunk"]) for e in _trail(tmp_path, "ranged") if e.get("event") == "unit done"]
    assert len(done) == len(set(done)) == sum(t["chunks"] for t in ranged["tables"])
    assert {e.get("range") for e in _trail(tmp_path, "ranged") if e.get("table") == "posts"} >= {0, 7}

    verify = subprocess.run(
        [sys.executable, "-m", "migrator", "verify", str(tmp_path / "ranged.yaml"), "--format", "json"],
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_run_killed_inside_a_middle_range_resumes_with_the_same_bounds(
    source: str, pg_url_factory, tmp_path: Path
) -> None:
    reference_target, target = pg_url_factory(), pg_url_factory()
    reference = _run(_plan(tmp_path, source, reference_target, "reference"), "--workers", "1")
    plan = _plan(tmp_path, source, target, "killed")
    # Paused with the second chunk of posts' range 3 written but not committed, then SIGKILLed.
    unit = f"table:posts:{3 * CHUNK_STRIDE + 1}"
    env = _env(**{PAUSE_VARIABLE: f"killed/{unit}", READY_VARIABLE: str(tmp_path)})
    command = [sys.executable, "-m", "migrator", "run", str(plan), "--format", "json", "--workers", "2"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    paused = tmp_path / "killed.paused"
    deadline = time.monotonic() + 120
    while not paused.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert paused.exists(), process.communicate()
    process.send_signal(signal.SIGKILL)
    process.communicate()
    before = _ledger(target, "killed")
    assert f"table:posts:{3 * CHUNK_STRIDE}" in before and unit not in before
    assert "complete:posts:0" not in before

    resumed = _run(plan, "--workers", "3", env=_env(**{RANGE_ROWS_VARIABLE: "1000"}))  # other cuts would differ
    after = _ledger(target, "killed")
    assert resumed["status"] == "resumed-and-finished" and resumed["verification"]["ok"] is True
    assert _digests(resumed) == _digests(reference)
    for table in ("posts", "users"):
        assert _ranges(after, table) == _ranges(before, table)  # the recorded bounds, reused
    for name, mark in before.items():
        assert after[name] == mark  # what the killed run committed is kept as it was
    trail = [e for e in _trail(tmp_path, "killed") if e.get("event") == "unit done"]
    done = [(e["table"], e["chunk"]) for e in trail]
    assert len(done) == len(set(done))  # no chunk committed twice
    assert sum(e["rows"] for e in trail if e["table"] == "posts") == _digests(reference)["posts"][0]


def test_one_range_of_a_scoped_table_costs_its_range_not_the_table(source: str, tmp_path: Path) -> None:
    from migrator.engine.copy import range_rows
    from migrator.engine.prepare import prepared
    from migrator.plan.load import load_plan
    from migrator.stores.sql.snapshot import table_sizes

    plan = _plan(tmp_path, source, f"sqlite:///{tmp_path / 'unused.db'}", "explain")
    with prepared(load_plan(plan)) as prep:
        sizes = table_sizes(prep.conn)
        posts = prep.queries.rows("posts")
        assert posts.range_local
        assert not prep.queries.rows("comments").range_local  # recursive: re-evaluated whole per range
        narrow = range_rows(posts, KeyRange(3, (20_000,), (20_200,), 8), None, sizes)
        whole, ranged = _scans(prep.conn, posts.rows), _scans(prep.conn, narrow)
        for table in ("users", "posts"):  # the rows examined, a fifth of the table's query's at most
            assert ranged[table].examined < whole[table].examined / 5, (table, ranged, whole)
            assert not ranged[table].whole, (table, ranged)
        # likes, two levels down (users' kept set in posts' in likes' rule): no parent read whole either
        likes = prep.queries.rows("likes")
        assert likes.range_local
        narrow = range_rows(likes, KeyRange(1, (4_000,), (4_020,), 3), None, sizes)
        whole, ranged = _scans(prep.conn, likes.rows), _scans(prep.conn, narrow)
        for table in ("users", "posts", "likes"):
            assert ranged[table].examined < whole[table].examined / 5, (table, ranged, whole)
            assert not ranged[table].whole, (table, ranged)


@dataclass
class _Scanned:
    """What a query's scans of one table did, over all their loops (EXPLAIN ANALYZE)."""

    given: float = 0.0  # rows they gave
    examined: float = 0.0  # rows they read, with those their filters removed
    whole: bool = False  # one was a sequential scan


def _scans(conn: Any, query: sa.Select) -> dict[str, _Scanned]:  # type: ignore[type-arg]
    from migrator.stores.sql.literal import execute_literal, literal_sql

    found: dict[str, _Scanned] = defaultdict(_Scanned)

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node:
            scanned, loops = found[node["Relation Name"]], node["Actual Loops"]
            removed = node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Index Recheck", 0)
            scanned.given += node["Actual Rows"] * loops
            scanned.examined += (node["Actual Rows"] + removed) * loops
            scanned.whole = scanned.whole or node["Node Type"] == "Seq Scan"
        for child in node.get("Plans", []):
            walk(child)

    walk(execute_literal(conn, f"EXPLAIN (ANALYZE, FORMAT JSON) {literal_sql(query, conn)}").scalar_one()[0]["Plan"])
    return found


def test_a_wide_range_reads_its_parents_for_its_own_rows_not_their_whole_kept_sets(source: str, tmp_path: Path) -> None:
    """A third of likes (key user_id, post_id) and an eighth of posts: where the planner, given the
    table's own lookups, hashes a parent's whole kept set for one range, the range's query reads of
    each parent only the rows its own rows reference (users bounded by the range's user ids, posts
    and the posts' authors probed), and keeps the same rows (range_lookups.py)."""
    from migrator.engine.copy import range_rows
    from migrator.engine.prepare import prepared
    from migrator.plan.load import load_plan
    from migrator.stores.sql.pgcopy import key_from
    from migrator.stores.sql.snapshot import table_sizes

    plan = _plan(tmp_path, source, f"sqlite:///{tmp_path / 'unused.db'}", "wide")
    with prepared(load_plan(plan)) as prep:
        conn = prep.conn
        sizes = table_sizes(conn)
        kept_users = conn.exec_driver_sql("SELECT count(*) FROM users WHERE region = 1").scalar_one()
        kept_posts = _count(conn, prep.queries.rows("posts").rows)
        for table, wide, parents in (
            ("likes", KeyRange(1, (2_667,), (5_334,), 3), {"users": kept_users, "posts": kept_posts}),
            ("posts", KeyRange(3, (15_000,), (20_000,), 8), {"users": kept_users}),
        ):
            query = prep.queries.rows(table)
            assert query.range_local and query.in_range is not None
            own_lookups = query.rows.where(*key_from(query.key_columns, wide.lower, None, wide.upper))
            ranged = range_rows(query, wide, None, sizes)
            # the data is big enough for the planner to read a parent's whole kept set for the range
            before = _scans(conn, own_lookups)
            assert any(before[p].given >= whole for p, whole in parents.items()), (table, before, parents)
            after = _scans(conn, ranged)
            for parent, whole in parents.items():
                assert after[parent].given <= whole / 2 and not after[parent].whole, (table, parent, after)
            assert conn.execute(ranged).all() == conn.execute(own_lookups).all()  # the same rows, in order
        # every range of a cut, bounded and probed, gives the table's rows exactly, in order
        for table, cuts in (("likes", [(2_000,), (2_001,), (6_000,)]), ("posts", [(10_000,), (30_000,)])):
            query = prep.queries.rows(table)
            bounds = list(zip([None, *cuts], [*cuts, None], strict=True))
            ranges = [KeyRange(i, lower, upper, len(bounds)) for i, (lower, upper) in enumerate(bounds)]
            pieces = [row for r in ranges for row in conn.execute(range_rows(query, r, None, sizes)).all()]
            assert pieces == conn.execute(query.rows).all()


def _count(conn: Any, query: sa.Select) -> int:  # type: ignore[type-arg]
    return int(conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one())


def test_ranges_on_dask_give_the_local_target(source: str, pg_url_factory, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    local_target, dask_target = pg_url_factory(), pg_url_factory()
    local = _run(_plan(tmp_path, source, local_target, "local"), "--workers", "2")
    dask = _run(_plan(tmp_path, source, dask_target, "dask"), "--executor", "dask", "--workers", "2")
    assert dask["status"] == "finished" and dask["verification"]["ok"] is True
    assert _digests(dask) == _digests(local)
    assert len(_ranges(_ledger(dask_target, "dask"), "posts")) == POSTS // int(RANGE_ROWS)
    done = [(e["table"], e["chunk"]) for e in _trail(tmp_path, "dask") if e.get("event") == "unit done"]
    assert len(done) == len(set(done)) == sum(t["chunks"] for t in dask["tables"])


def test_a_ledger_made_before_ranges_gains_the_bounds_column(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        ledger.ensure(conn)
        conn.exec_driver_sql("ALTER TABLE _migrator_units DROP COLUMN bounds")
        ledger.mark_done(conn, "p", "r", "table:t:0", 5, (7,))  # a mark of the older version
    with engine.begin() as conn:
        ledger.ensure(conn)
        assert ledger.recorded_ranges(conn, "p", "t") == []
        ledger.record_ranges(conn, "p", "r", "t", [(None, (10,)), ((10,), None)])
        assert ledger.recorded_ranges(conn, "p", "t") == [(None, (10,)), ((10,), None)]
        assert ledger.progress(conn, "p", "table", "t").rows == 5


def test_the_range_ledger_is_read_for_every_table_at_once(tmp_path: Path) -> None:
    """What planning the ranges needs of each table (its recorded ranges; whether it has chunks or
    is complete), as the per-table reads give it, from one read of the plan's units."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    with engine.begin() as conn:
        ledger.ensure(conn)
        ledger.record_ranges(conn, "p", "r", "sales.orders", [(None, (10,)), ((10,), (20,)), ((20,), None)])
        ledger.mark_done(conn, "p", "r", "table:users:4", 5, (7,))
        ledger.mark_done(conn, "p", "r", "complete:regions:0", 0, None)
        ledger.mark_done(conn, "other plan", "r", "table:likes:0", 5, (7,))
        ledger.record_ranges(conn, "other plan", "r", "posts", [(None, (3,)), ((3,), None)])
        known = ledger.range_ledger(conn, "p")
        assert known.ranges == {"sales.orders": ledger.recorded_ranges(conn, "p", "sales.orders")}
        assert known.ranges["sales.orders"] == [(None, (10,)), ((10,), (20,)), ((20,), None)]
        assert known.started == {"users", "regions"}
        for table in ("users", "regions", "likes", "posts"):
            started = (
                ledger.progress(conn, "p", "table", table).chunks + ledger.progress(conn, "p", "complete", table).chunks
            )
            assert (table in known.started) == (started > 0)


def test_ranges_into_mariadb_give_the_serial_run(source: str, mariadb_url_factory, tmp_path: Path) -> None:
    """A MariaDB target takes ranges too (its ledger's claims are INSERT IGNORE): the same rows and
    digests as one range at a time, and the ranges in its ledger."""
    ranged_target, serial_target = mariadb_url_factory(), mariadb_url_factory()
    ranged = _run(_plan(tmp_path, source, ranged_target, "ranged"), "--workers", "2")
    serial = _run(
        _plan(tmp_path, source, serial_target, "serial"), "--workers", "1", env=_env(**{RANGE_ROWS_VARIABLE: "1000000"})
    )
    assert ranged["verification"]["ok"] is True and serial["verification"]["ok"] is True
    assert _digests(ranged) == _digests(serial)
    assert len(_ranges(_ledger(ranged_target, "ranged"), "posts")) == POSTS // int(RANGE_ROWS)
    assert _ranges(_ledger(serial_target, "serial"), "posts") == []


def test_a_table_is_cut_only_as_far_as_the_workers_share_it() -> None:
    from migrator.engine.ranges import RANGE_ROWS, range_size

    # the benchmark at scale 1: 4.25M rows on 2 workers, none of its tables above a worker's share
    assert range_size({}, 4_250_000, 2) == 2_125_000
    assert range_size({}, 4_250_000, 64) == RANGE_ROWS  # never below RANGE_ROWS
    assert range_size({RANGE_ROWS_VARIABLE: "5000"}, 4_250_000, 2) == 5000  # the tuning knob, whatever the workers


def test_a_table_never_analyzed_is_cut_at_every_kth_key(pg_database: str) -> None:
    from migrator.stores.sql.key_ranges import every_kth_key, histogram_cuts

    engine = sa.create_engine(pg_database, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE pairs (a integer, b integer, PRIMARY KEY (a, b))")
        conn.exec_driver_sql("INSERT INTO pairs SELECT i / 10, mod(i, 10) FROM generate_series(0, 99) i")
        table = sa.Table("pairs", sa.MetaData(), autoload_with=conn)
        assert histogram_cuts(conn, table, ["a", "b"], 4) is None  # no statistics yet
        assert every_kth_key(conn, table, ["a", "b"], 25) == [(2, 5), (5, 0), (7, 5)]
    engine.dispose()
