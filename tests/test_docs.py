"""The documentation is tested: its example plans load and run, its reference covers every command,
option and plan key, and its links lead somewhere."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from migrator.demo.generate import generate_demo
from migrator.plan.load import load_plan

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
EXAMPLES = DOCS / "examples"
HASH_KEY = "docs-test-key"

# Every variable an example plan reads; the values only have to be well-formed URLs.
EXAMPLE_ENV = {
    "SOURCE_URL": "postgresql+psycopg://readonly@db.internal:5432/app",
    "TARGET_URL": "postgresql+psycopg://migrator@new-db.internal:5432/app",
    "PROD_URL": "postgresql+psycopg://readonly@db.internal:5432/app",
    "STAGING_URL": "postgresql+psycopg://migrator@staging-db.internal:5432/app",
}


def _copy_example(name: str, folder: Path) -> Path:
    """The example plan next to the test's files, so that its state folder lands there too."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(EXAMPLES / name, folder / name))


def _rows(database: Path, sql: str) -> set[tuple[object, ...]]:
    with closing(sqlite3.connect(database)) as conn:
        return set(conn.execute(sql).fetchall())


# --- the example plans ----------------------------------------------------------------------------


@pytest.mark.parametrize("plan", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_plan_loads(plan: Path) -> None:
    loaded = load_plan(plan, environ=EXAMPLE_ENV)
    assert loaded.plan.name


def test_residency_split_runs_on_the_demo(run_cli, tmp_path: Path) -> None:
    demo = generate_demo(tmp_path / "demo")
    plan = _copy_example("residency-split.yaml", tmp_path / "plans")
    target = tmp_path / "us" / "us.db"
    env = {"SOURCE_URL": f"sqlite:///{demo.database}", "TARGET_URL": f"sqlite:///{target}"}

    done = run_cli("run", plan, env=env)
    assert done.returncode == 0, done.stderr
    again = run_cli("run", plan, "--format", "json", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "already-finished"

    us_users = _rows(demo.database, "SELECT id FROM users WHERE region_id = (SELECT id FROM regions WHERE code = 'US')")
    assert _rows(target, "SELECT id FROM users") == us_users
    assert _rows(target, "SELECT name FROM sqlite_master WHERE name = 'audit_events'") == set()
    assert _rows(target, "SELECT id FROM posts WHERE deleted_at IS NOT NULL") == set()
    # The replies to comments that stayed behind are kept, as top-level comments.
    with closing(sqlite3.connect(target)) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        orphans = conn.execute(
            "SELECT count(*) FROM comments WHERE parent_id IS NOT NULL AND parent_id NOT IN (SELECT id FROM comments)"
        ).fetchone()
    assert orphans == (0,)
    source_replies = _rows(demo.database, "SELECT id FROM comments WHERE parent_id IS NOT NULL")
    target_top_level = _rows(target, "SELECT id FROM comments WHERE parent_id IS NULL")
    assert source_replies & target_top_level, "no reply was kept with its parent nulled"


def test_tenant_extraction_copies_only_tenant_42(run_cli, tmp_path: Path) -> None:
    source = tmp_path / "saas.db"
    with closing(sqlite3.connect(source)) as conn:
        conn.executescript((EXAMPLES / "tenant-saas.sql").read_text(encoding="utf-8"))
    assert _rows(source, "SELECT id FROM tenants") == {(7,), (42,)}
    plan = _copy_example("tenant-extraction.yaml", tmp_path / "plans")
    target = tmp_path / "acme.db"
    env = {"SOURCE_URL": f"sqlite:///{source}", "TARGET_URL": f"sqlite:///{target}"}

    done = run_cli("run", plan, env=env)
    assert done.returncode == 0, done.stderr

    expected = {
        "tenants": "SELECT id FROM tenants WHERE id = 42",
        "users": "SELECT id FROM users WHERE tenant_id = 42",
        "projects": "SELECT id FROM projects WHERE tenant_id = 42",
        "tasks": "SELECT id FROM tasks WHERE project_id IN (SELECT id FROM projects WHERE tenant_id = 42)",
        "comments": """SELECT id FROM comments
                        WHERE task_id IN (SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id
                                           WHERE p.tenant_id = 42)
                          AND author_id IN (SELECT id FROM users WHERE tenant_id = 42)""",
        "plans": "SELECT id FROM plans",
    }
    for table, sql in expected.items():
        assert _rows(target, f"SELECT id FROM {table}") == _rows(source, sql), table
    assert _rows(target, "SELECT DISTINCT tenant_id FROM users UNION SELECT DISTINCT tenant_id FROM projects") == {
        (42,)
    }
    # A tenant-42 task assigned to a user of tenant 7 arrives without its assignee.
    outside = _rows(source, "SELECT id FROM users WHERE tenant_id <> 42")
    assert outside
    assert _rows(target, "SELECT assignee_id FROM tasks") & outside == set()
    assert (None,) in _rows(target, "SELECT assignee_id FROM tasks WHERE id = 121")


def test_masked_staging_transforms_the_columns(run_cli, tmp_path: Path) -> None:
    demo = generate_demo(tmp_path / "demo", users=60)
    plan = _copy_example("masked-staging.yaml", tmp_path / "plans")
    target = tmp_path / "staging.db"
    env = {"PROD_URL": f"sqlite:///{demo.database}", "STAGING_URL": f"sqlite:///{target}"}

    refused = run_cli("run", plan, env={**env, "MIGRATOR_HASH_KEY": ""})  # empty counts as unset
    assert refused.returncode == 2, refused.stderr
    assert "MIGRATOR_HASH_KEY" in refused.stderr
    done = run_cli("run", plan, env={**env, "MIGRATOR_HASH_KEY": HASH_KEY})
    assert done.returncode == 0, done.stderr

    with closing(sqlite3.connect(demo.database)) as src, closing(sqlite3.connect(target)) as dst:
        for table in ("regions", "users", "follows", "posts", "comments", "likes", "devices", "audit_events"):
            assert (
                dst.execute(f"SELECT count(*) FROM {table}").fetchone()
                == src.execute(f"SELECT count(*) FROM {table}").fetchone()
            ), table
        before = {r[0]: r[1:] for r in src.execute("SELECT id, email, handle, display_name, phone FROM users")}
        for user_id, email, handle, display_name, phone in dst.execute(
            "SELECT id, email, handle, display_name, phone FROM users"
        ):
            old_email, old_handle, old_name, _ = before[user_id]
            assert email == hmac.new(HASH_KEY.encode(), old_email.encode(), hashlib.sha256).hexdigest()
            assert handle == hmac.new(HASH_KEY.encode(), old_handle.encode(), hashlib.sha256).hexdigest()
            if old_name is None:
                assert display_name is None
            else:
                assert display_name != old_name
                assert re.sub("[a-z]", "x", re.sub("[A-Z]", "X", old_name)) == display_name
            assert phone is None
        bodies = dict(src.execute("SELECT id, body FROM posts").fetchall())
        for post_id, body in dst.execute("SELECT id, body FROM posts"):
            assert body != bodies[post_id]
            assert len(body) == len(bodies[post_id])
        assert {r[0] for r in dst.execute("SELECT body FROM comments")} == {"[comment text removed]"}
        device_columns = {r[1] for r in dst.execute("PRAGMA table_info(devices)")}
        assert "push_token" not in device_columns
        assert "platform" in device_columns


def test_ci_rehearsal_script_parses() -> None:
    script = EXAMPLES / "ci-rehearsal.sh"
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr


# --- the reference --------------------------------------------------------------------------------


def _help(run_cli, *command: str) -> str:
    shown = run_cli(*command, "--help", env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def _commands(run_cli) -> list[str]:
    text = _help(run_cli)
    panel = text.split("Commands", 1)[1]
    return re.findall(r"^│ ([a-z][a-z-]*)\s{2,}", panel, flags=re.MULTILINE)


def test_every_command_and_option_is_in_the_commands_reference(run_cli) -> None:
    reference = (DOCS / "reference" / "commands.md").read_text(encoding="utf-8")
    commands = _commands(run_cli)
    assert {"validate", "plan", "run", "schema"} <= set(commands)
    for option in set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", _help(run_cli))):
        assert f"`{option}`" in reference, option
    for command in commands:
        assert f"migrator {command}" in reference, command
        for option in set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", _help(run_cli, command))):
            assert option in reference, f"{command} {option}"


def _schema_keys(node: object) -> set[str]:
    keys: set[str] = set()
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "properties" and isinstance(value, dict):
                keys |= set(value)
            keys |= _schema_keys(value)
    elif isinstance(node, list):
        for item in node:
            keys |= _schema_keys(item)
    return keys


def test_every_plan_key_is_in_the_plan_reference(run_cli) -> None:
    printed = run_cli("schema")
    assert printed.returncode == 0, printed.stderr
    keys = _schema_keys(json.loads(printed.stdout))
    assert {"version", "roots", "chunk_rows", "existing", "const"} <= keys
    reference = (DOCS / "reference" / "plan.md").read_text(encoding="utf-8")
    missing = sorted(key for key in keys if f"`{key}`" not in reference)
    assert not missing, f"plan keys not in docs/reference/plan.md: {missing}"


_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """The anchors GitHub makes of a page's headings: lower case, punctuation gone, spaces to '-'."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


@pytest.mark.parametrize("page", sorted(DOCS.rglob("*.md")), ids=lambda p: str(p.relative_to(DOCS)))
def test_relative_links_point_at_files(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    broken = []
    for target in _LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = page.parent / path if path else page
        missing_anchor = bool(anchor) and linked.suffix == ".md" and linked.exists() and anchor not in _anchors(linked)
        if not linked.exists() or missing_anchor:
            broken.append(target)
    assert not broken, f"{page.relative_to(REPO)}: broken links {broken}"
