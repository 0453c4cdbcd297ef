"""README command 1, as a test: the demo's US split, checked with SQL of its own."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import sqlite3
from pathlib import Path

from migrator.demo.generate import generate_demo

REPO = Path(__file__).resolve().parent.parent
HASH_KEY = "test-hash-key"

# What the US split must hold, written from the rules (SPEC §3), not from migrator's code.
EXPECTED = {
    "regions": "SELECT id FROM regions",
    "users": "SELECT id FROM users WHERE region_id = (SELECT id FROM regions WHERE code = 'US')",
    "devices": "SELECT id FROM devices WHERE user_id IN (SELECT id FROM us_users)",
    "posts": "SELECT id FROM posts WHERE author_id IN (SELECT id FROM us_users) AND deleted_at IS NULL",
    "follows": "SELECT follower_id, followee_id FROM follows "
    "WHERE follower_id IN (SELECT id FROM us_users) AND followee_id IN (SELECT id FROM us_users)",
    "likes": "SELECT user_id, post_id FROM likes "
    "WHERE user_id IN (SELECT id FROM us_users) AND post_id IN (SELECT id FROM us_posts)",
    # A comment needs its post, its author and (recursively) its parent comment in the subset.
    "comments": """
        WITH RECURSIVE kept(id) AS (
            SELECT id FROM comments WHERE parent_id IS NULL
              AND post_id IN (SELECT id FROM us_posts) AND author_id IN (SELECT id FROM us_users)
            UNION
            SELECT c.id FROM comments c JOIN kept k ON c.parent_id = k.id
             WHERE c.post_id IN (SELECT id FROM us_posts) AND c.author_id IN (SELECT id FROM us_users))
        SELECT id FROM kept""",
}


def _expected(source: Path) -> dict[str, set[tuple]]:
    conn = sqlite3.connect(source)
    conn.execute(f"CREATE TEMP VIEW us_users AS {EXPECTED['users']}")
    conn.execute(f"CREATE TEMP VIEW us_posts AS {EXPECTED['posts']}")
    result = {table: set(conn.execute(sql).fetchall()) for table, sql in EXPECTED.items()}
    conn.close()
    return result


def _keys(conn: sqlite3.Connection, table: str) -> set[tuple]:
    columns = "follower_id, followee_id" if table == "follows" else "user_id, post_id" if table == "likes" else "id"
    return set(conn.execute(f"SELECT {columns} FROM {table}").fetchall())


def test_demo_us_split_end_to_end(run_cli, tmp_path: Path) -> None:
    (tmp_path / "plans").mkdir()
    shutil.copy(REPO / "plans" / "demo.yaml", tmp_path / "plans" / "demo.yaml")
    paths = generate_demo(tmp_path / "demo")
    plan = tmp_path / "plans" / "demo.yaml"

    done = run_cli("run", plan, env={"MIGRATOR_HASH_KEY": HASH_KEY})
    assert done.returncode == 0, done.stderr
    assert "copied" in done.stdout

    target = sqlite3.connect(tmp_path / "demo" / "us" / "us.db")
    expected = _expected(paths.database)
    for table, keys in expected.items():
        assert _keys(target, table) == keys, table  # I2 and I3 on keys
    tables = {r[0] for r in target.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "audit_events" not in tables
    # I1: every declared key resolves.
    assert target.execute("PRAGMA foreign_key_check").fetchall() == []
    # I3 on content, with the transforms: email hashed with the key, phone nulled, the rest as is.
    source = sqlite3.connect(paths.database)
    for user_id, handle, email, phone in target.execute("SELECT id, handle, email, phone FROM users"):
        original_handle, original_email = source.execute(
            "SELECT handle, email FROM users WHERE id = ?", (user_id,)
        ).fetchone()
        assert handle == original_handle
        assert email == hmac.new(HASH_KEY.encode(), original_email.encode(), hashlib.sha256).hexdigest()
        assert phone is None
    for table in ("posts", "comments", "devices"):
        rows = set(target.execute(f"SELECT * FROM {table}").fetchall())
        assert rows <= set(source.execute(f"SELECT * FROM {table}").fetchall()), table

    again = run_cli("run", plan, env={"MIGRATOR_HASH_KEY": HASH_KEY})
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_demo_plan_is_a_dry_run(run_cli, tmp_path: Path) -> None:
    (tmp_path / "plans").mkdir()
    shutil.copy(REPO / "plans" / "demo.yaml", tmp_path / "plans" / "demo.yaml")
    generate_demo(tmp_path / "demo")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    shown = run_cli("plan", tmp_path / "plans" / "demo.yaml", env={"COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert "users (root)" in shown.stdout and "WITH RECURSIVE" in shown.stdout
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
