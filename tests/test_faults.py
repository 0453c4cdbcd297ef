"""Transient failures are retried and recorded; permanent ones stop with a clear message; the
source is never written to; the target is never the source, whatever the URL's spelling."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrator.demo.generate import generate_demo
from migrator.stores.sql.connect import SQLITE_SOURCE_MMAP, open_source, parse_url
from tests.prerequisites import missing_prerequisite
from tests.test_resume import _pg_copy_of_demo, _plan, _snapshot, _start, _units

REPO = Path(__file__).resolve().parent.parent


def _wait_for_units(process: subprocess.Popen[str], target: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while _units(target) < count and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert process.poll() is None, "the run ended before the fault could be injected"


def _pg_terminate(url: str, application: str) -> int:
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :app AND datname = current_database()"
            ),
            {"app": application},
        ).scalar_one()
    admin.dispose()
    return int(killed)


@pytest.mark.parametrize("side", ["source", "target"])
def test_postgresql_connection_terminated_mid_copy_is_retried(
    run_cli, tmp_path: Path, pg_url_factory, side: str
) -> None:
    source = _pg_copy_of_demo(run_cli, tmp_path, pg_url_factory())
    target = pg_url_factory()
    process = _start(_plan(tmp_path, source, target, "dropped"))
    _wait_for_units(process, target, 15)
    assert _pg_terminate(source if side == "source" else target, f"migrator-{side}") >= 1
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    result = json.loads(out)
    assert result["retries"], "the dropped connection must be retried and recorded"
    assert any(word in result["retries"][0] for word in ("terminat", "closed", "lost")), result["retries"]
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    done = _start(_plan(tmp_path, source, clean, "clean"))
    done.communicate(timeout=120)
    assert _snapshot(target) == _snapshot(clean)


def test_mariadb_connection_killed_mid_copy_is_retried(tmp_path: Path, mariadb_url_factory) -> None:
    source = f"sqlite:///{generate_demo(tmp_path / 'demo', users=900, seed=3).database}"
    target = mariadb_url_factory()
    process = _start(_plan(tmp_path, source, target, "killed"))
    _wait_for_units(process, target, 15)
    database = sa.engine.make_url(target).database
    admin = sa.create_engine(target, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        ids = (
            conn.execute(
                sa.text("SELECT id FROM information_schema.processlist WHERE db = :db AND id <> CONNECTION_ID()"),
                {"db": database},
            )
            .scalars()
            .all()
        )
        for connection_id in ids:
            conn.execute(sa.text(f"KILL {int(connection_id)}"))
    admin.dispose()
    assert ids
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert json.loads(out)["retries"]
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    done = _start(_plan(tmp_path, source, clean, "clean"))
    done.communicate(timeout=120)
    assert _snapshot(target) == _snapshot(clean)


def test_permanent_failure_names_table_and_chunk(run_cli, tmp_path: Path) -> None:
    source = f"sqlite:///{generate_demo(tmp_path / 'demo', users=200).database}"
    target_file = tmp_path / "us.db"
    # A target schema that rejects some rows: posts bodies must be short.
    first = run_cli("run", _plan(tmp_path, source, f"sqlite:///{target_file}", "first"), env={"MIGRATOR_HASH_KEY": "k"})
    assert first.returncode == 0, first.stderr
    engine = sa.create_engine(f"sqlite:///{target_file}")
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE _migrator_units"))
        conn.execute(sa.text("DROP TABLE _migrator_runs"))
        for table in ("likes", "comments", "posts"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
        conn.execute(
            sa.text(
                "CREATE TRIGGER short BEFORE INSERT ON posts WHEN length(NEW.body) > 40 "
                "BEGIN SELECT RAISE(ABORT, 'body too long'); END"
            )
        )
    engine.dispose()
    plan = _plan(tmp_path, source, f"sqlite:///{target_file}", "second")
    plan.write_text(
        plan.read_text()
        .replace('"chunk_rows": 40', '"chunk_rows": 40, "schema": "existing"')
        .replace('"target": {', '"target": {"existing": "truncate", ')
    )
    failed = run_cli("run", plan, env={"MIGRATOR_HASH_KEY": "k"})
    assert failed.returncode == 1, failed.stderr
    assert "chunk 0 of posts" in failed.stderr and "body too long" in failed.stderr
    assert "Traceback" not in failed.stderr
    last = json.loads((tmp_path / "state" / "second" / "audit.jsonl").read_text().splitlines()[-1])
    assert last["event"] == "run stopped" and last["reason"] == "failed" and "body too long" in last["error"]


def test_source_connections_are_read_only(tmp_path: Path, pg_database: str, mariadb_database: str) -> None:
    sqlite_file = generate_demo(tmp_path / "demo", users=20).database
    for url in (f"sqlite:///{sqlite_file}", pg_database, mariadb_database):
        engine = open_source(parse_url(url, tmp_path))
        with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as refused:
            conn.execute(sa.text("CREATE TABLE written (id INTEGER)"))
        assert "read" in str(refused.value).lower(), url
        engine.dispose()


def test_a_sqlite_source_is_read_through_a_memory_map_and_only_read(tmp_path: Path) -> None:
    """The dry run's scans read a SQLite source through a map of its first GiB (connect.py), and the
    map is only ever read: the connection stays read-only."""
    sqlite_file = generate_demo(tmp_path / "demo", users=20).database
    engine = open_source(parse_url(f"sqlite:///{sqlite_file}", tmp_path))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == SQLITE_SOURCE_MMAP
            assert conn.exec_driver_sql("SELECT count(*) FROM users").scalar() == 20
            with pytest.raises(sa.exc.DBAPIError, match=r"(?i)read"):
                conn.exec_driver_sql("UPDATE users SET email = NULL")
    finally:
        engine.dispose()


def _refused(run_cli, tmp_path: Path, source: str, target: str) -> str:  # type: ignore[no-untyped-def]
    result = run_cli("run", _plan(tmp_path, source, target, "same"), env={"MIGRATOR_HASH_KEY": "k"})
    assert result.returncode == 2, result.stdout + result.stderr
    return result.stderr


def test_target_that_is_the_source_file_is_refused(run_cli, tmp_path: Path) -> None:
    database = generate_demo(tmp_path / "demo", users=20).database
    before = database.read_bytes()
    link = tmp_path / "link.db"
    link.symlink_to(database)
    other_spelling = tmp_path / "demo" / "source" / ".." / "source" / "global.db"
    for target in (f"sqlite:///{database}", f"sqlite:///{link}", f"sqlite:///{other_spelling}"):
        assert "the target is the source" in _refused(run_cli, tmp_path, f"sqlite:///{database}", target)
    assert database.read_bytes() == before


def test_target_that_is_the_source_server_database_is_refused(run_cli, tmp_path: Path, pg_database: str) -> None:
    source = _pg_copy_of_demo(run_cli, tmp_path, pg_database)
    name = sa.engine.make_url(source).database
    for alias in (
        f"postgresql+psycopg://postgres@localhost/{name}",  # host alias, default port
        f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}?connect_timeout=5",  # query parameters
        f"postgresql://postgres@[::1]:5432/{name}",  # another address, another driver
    ):
        assert "the target is the source" in _refused(run_cli, tmp_path, source, alias), alias


def test_mariadb_target_that_is_the_source_is_refused(run_cli, tmp_path: Path, mariadb_database: str) -> None:
    source = _pg_copy_of_demo(run_cli, tmp_path, mariadb_database)
    name = sa.engine.make_url(source).database
    alias = f"mysql+pymysql://root@localhost:3306/{name}?charset=utf8mb4"
    assert "the target is the source" in _refused(run_cli, tmp_path, source, alias)


def test_writer_during_the_run_leaves_no_orphan(run_cli, tmp_path: Path, pg_url_factory) -> None:
    """New US users with posts and comments arrive while the run copies: the snapshot hides them
    all, so no post arrives without its user and no comment without its post."""
    source = _pg_copy_of_demo(run_cli, tmp_path, pg_url_factory())
    target = pg_url_factory()
    process = _start(_plan(tmp_path, source, target, "busy"))
    _wait_for_units(process, target, 3)
    writer = sa.create_engine(source)
    written = 0
    with writer.connect() as conn:
        while process.poll() is None and written < 200:
            with conn.begin():
                user = conn.execute(
                    sa.text(
                        "INSERT INTO users (id, region_id, handle, email, created_at) "
                        "SELECT max(id) + 1, 1, 'new' || (max(id) + 1), 'n@x', '2026-01-01' FROM users RETURNING id"
                    )
                ).scalar_one()
                post = conn.execute(
                    sa.text(
                        "INSERT INTO posts (id, author_id, body, created_at) "
                        "SELECT max(id) + 1, :u, 'hello', '2026-01-01' FROM posts RETURNING id"
                    ),
                    {"u": user},
                ).scalar_one()
                conn.execute(
                    sa.text(
                        "INSERT INTO comments (id, post_id, author_id, body, created_at) "
                        "SELECT max(id) + 1, :p, :u, 'hi', '2026-01-01' FROM comments"
                    ),
                    {"p": post, "u": user},
                )
            written += 1
    writer.dispose()
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert written > 0
    engine = sa.create_engine(target)
    with engine.connect() as conn:
        for child, column, parent in (
            ("posts", "author_id", "users"),
            ("comments", "post_id", "posts"),
            ("comments", "author_id", "users"),
            ("likes", "post_id", "posts"),
        ):
            orphans = conn.execute(
                sa.text(f"SELECT count(*) FROM {child} c LEFT JOIN {parent} p ON c.{column} = p.id WHERE p.id IS NULL")
            ).scalar_one()
            assert orphans == 0, (child, column)
        assert conn.execute(sa.text("SELECT count(*) FROM users WHERE handle LIKE 'new%'")).scalar_one() == 0
    engine.dispose()


def test_cli_is_installed_as_a_console_script() -> None:
    """`migrator` on PATH after `pip install .` is the same program as `python -m migrator`."""
    script = shutil.which("migrator")
    if script is None:
        missing_prerequisite("the migrator command is not on PATH", "install the package: python3 -m pip install .")
    shown = subprocess.run([script, "--version"], capture_output=True, text=True, env={**os.environ}, check=False)
    assert shown.returncode == 0 and "migrator" in shown.stdout
    assert sys.executable


def test_lock_timeout_on_the_target_is_retried(run_cli, tmp_path: Path, pg_database: str) -> None:
    """Another session holds a lock on a target table for a while: the write times out (55P03),
    the run retries with backoff and finishes once the lock is gone."""
    source = f"sqlite:///{generate_demo(tmp_path / 'demo', users=200).database}"
    plan = _plan(tmp_path, source, pg_database, "locked")
    first = run_cli("run", plan, env={"MIGRATOR_HASH_KEY": "resume-test"})
    assert first.returncode == 0, first.stderr
    admin = sa.create_engine(pg_database)
    with admin.begin() as conn:
        conn.execute(sa.text("DELETE FROM _migrator_units WHERE unit LIKE '%likes%'"))
        conn.execute(sa.text("UPDATE _migrator_runs SET status = 'running'"))
        conn.execute(sa.text("DELETE FROM likes"))
    locker = admin.connect()
    transaction = locker.begin()
    locker.execute(sa.text("LOCK TABLE likes IN ACCESS EXCLUSIVE MODE"))
    process = subprocess.Popen(
        [sys.executable, "-m", "migrator", "run", str(plan), "--format", "json"],
        env={**os.environ, "PYTHONPATH": str(REPO), "MIGRATOR_HASH_KEY": "resume-test", "MIGRATOR_LOCK_TIMEOUT": "0.5"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.5)
    transaction.rollback()
    locker.close()
    out, err = process.communicate(timeout=120)
    admin.dispose()
    assert process.returncode == 0, err
    result = json.loads(out)
    assert result["retries"] and "lock" in result["retries"][0]
