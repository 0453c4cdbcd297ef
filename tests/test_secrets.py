"""No secret in any output, log, receipt or state file, whatever the password looks like.

The password is found where it stands (a URL's userinfo), never by its text: a password equal to
the user name (`postgres:postgres`, the commonest development setup), to the database name or to a
common word must neither crash a run nor show anywhere.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pymysql
import pytest
import sqlalchemy as sa

from migrator.audit import AuditLog, read_lines
from migrator.redaction import redact_text
from migrator.stores.sql.connect import parse_url, redact
from tests.conftest import MARIADB_ADMIN
from tests.test_resume import _pg_copy_of_demo

HASH_KEY = "a-hash-key-for-the-secrets-test-0123456789"
USERINFO = re.compile(r"://[^:/@\s\"']*:([^@\s\"']*)@")


def _plan(tmp_path: Path, source: str, target: str) -> Path:
    plan = {
        "version": 1,
        "name": "secrets",
        "source": {"database": source},
        "target": {"database": target},
        "state": str(tmp_path / "state"),
        "data": {
            "roots": {"users": "region_id = (SELECT id FROM regions WHERE code = 'US')"},
            "tables": {"regions": "all", "audit_events": "skip", "users": {"columns": {"email": "hash"}}},
        },
    }
    path = tmp_path / "secrets.yaml"
    path.write_text(json.dumps(plan))
    return path


def _with_password(url: str, user: str, password: str) -> str:
    return sa.engine.make_url(url).set(username=user, password=password).render_as_string(hide_password=False)


def _every_command(run_cli, plan: Path) -> str:  # type: ignore[no-untyped-def]
    """All a user sees from validate, plan, run (twice: the second is the no-op), verify; all succeed."""
    env = {"MIGRATOR_HASH_KEY": HASH_KEY}
    shown = []
    for command in (
        ("validate", "--connect", plan),
        ("plan", plan),
        ("run", plan),
        ("run", plan, "--format", "json"),
        ("verify", plan),
        ("verify", plan, "--format", "json"),
    ):
        result = run_cli(*command, env=env)
        assert result.returncode == 0, f"{command[0]}: {result.stdout}{result.stderr}"
        shown.append(result.stdout + result.stderr)
    return "\n".join(shown)


def _assert_no_secret(texts: dict[str, str], password: str) -> None:
    for where, text in texts.items():
        assert f":{password}@" not in text, f"the password is in {where}"
        assert HASH_KEY not in text, f"the hash key is in {where}"
        leaked = [found for found in USERINFO.findall(text) if found != "***"]
        assert not leaked, f"a URL in {where} shows a password"


def _state_files(state: Path) -> dict[str, str]:
    files = {str(path): path.read_bytes().decode("utf-8", "replace") for path in state.rglob("*") if path.is_file()}
    assert any("receipts" in name for name in files), "the run must have written its receipt"
    assert any(name.endswith("audit.jsonl") for name in files)
    return files


@pytest.mark.parametrize("which", ["user name", "database name", "common word"])
def test_postgresql_password_like_the_user_the_database_or_a_word(
    run_cli, tmp_path: Path, pg_url_factory, which: str
) -> None:
    """PostgreSQL trusts local connections, so any password is accepted: the password is given,
    used in the URL, and must show nowhere."""
    source_db = _pg_copy_of_demo(run_cli, tmp_path, pg_url_factory())
    target_db = pg_url_factory()
    password = {
        "user name": "postgres",
        "database name": sa.engine.make_url(source_db).database,
        "common word": "finished",  # the status every audit line of a run ends with
    }[which]
    source = _with_password(source_db, "postgres", password)
    target = _with_password(target_db, "postgres", password)
    assert f"postgres:{password}@127.0.0.1" in source
    plan = _plan(tmp_path, source, target)

    shown = _every_command(run_cli, plan)

    assert "postgres:***@127.0.0.1" in shown
    _assert_no_secret({"the commands' output": shown, **_state_files(tmp_path / "state")}, password)


@pytest.fixture
def mariadb_user_named_as_password(mariadb_url_factory):  # type: ignore[no-untyped-def]
    """Two MariaDB databases and a user of their own whose password is its name; dropped afterwards."""
    source, target = mariadb_url_factory(), mariadb_url_factory()
    name = f"mig_{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(**MARIADB_ADMIN, autocommit=True)
    try:
        with admin.cursor() as cursor:
            for host in ("%%", "localhost"):  # %% is pymysql's escape of the host wildcard
                cursor.execute(f"CREATE USER IF NOT EXISTS '{name}'@'{host}' IDENTIFIED BY %s", (name,))
            for url in (source, target):
                for host in ("%", "localhost"):
                    cursor.execute(f"GRANT ALL ON `{sa.engine.make_url(url).database}`.* TO '{name}'@'{host}'")
        yield name, source, target
    finally:
        with admin.cursor() as cursor:
            for host in ("%", "localhost"):
                cursor.execute(f"DROP USER IF EXISTS '{name}'@'{host}'")
        admin.close()


def test_mariadb_password_equal_to_the_user_name(run_cli, tmp_path: Path, mariadb_user_named_as_password) -> None:
    user, source_db, target_db = mariadb_user_named_as_password
    _pg_copy_of_demo(run_cli, tmp_path, source_db)
    source, target = _with_password(source_db, user, user), _with_password(target_db, user, user)
    plan = _plan(tmp_path, source, target)

    shown = _every_command(run_cli, plan)

    assert f"{user}:***@127.0.0.1" in shown
    _assert_no_secret({"the commands' output": shown, **_state_files(tmp_path / "state")}, user)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://postgres:postgres@127.0.0.1/postgres", "postgresql://postgres:***@127.0.0.1/postgres"),
        ("mysql+pymysql://root:root@127.0.0.1:3306/root", "mysql+pymysql://root:***@127.0.0.1:3306/root"),
        ("postgresql://app:p%40ss%2Fw@db/shop", "postgresql://app:***@db/shop"),
        (
            "postgresql://app@db/shop?password=hunter2&sslmode=require",
            "postgresql://app@db/shop?password=***&sslmode=require",
        ),
    ],
)
def test_urls_are_shown_with_the_password_replaced_where_it_stands(tmp_path: Path, url: str, shown: str) -> None:
    assert redact(parse_url(url, tmp_path)) == shown
    assert redact(url) == shown
    assert redact_text(f"failed on {url} twice: {url}") == f"failed on {shown} twice: {shown}"


def test_an_unparseable_url_is_named_without_its_password(run_cli, tmp_path: Path) -> None:
    plan = _plan(tmp_path, "postgresql://app:hunter2@db:notaport/shop", "sqlite:///t.db")
    result = run_cli("validate", "--connect", plan, env={"MIGRATOR_HASH_KEY": HASH_KEY})
    assert result.returncode == 2, result.stderr
    assert "hunter2" not in result.stdout + result.stderr and "app:***@db" in result.stderr


def test_the_audit_log_never_refuses_a_line_whose_words_equal_the_password(tmp_path: Path) -> None:
    """It used to refuse any field holding the password's text: with `postgres:postgres` the redacted
    URL still held the word, and every run died with an unexpected ValueError."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append("run", "run started", target="postgresql://postgres:***@127.0.0.1/postgres", user="postgres")
    log.append("run", "retry", error="connecting to postgresql://postgres:postgres@127.0.0.1/postgres failed")
    lines = [json.loads(line) for line in read_lines(path)]
    assert lines[0]["target"] == "postgresql://postgres:***@127.0.0.1/postgres" and lines[0]["user"] == "postgres"
    assert lines[1]["error"] == "connecting to postgresql://postgres:***@127.0.0.1/postgres failed"
