"""A store that refuses us is said plainly, at once, on either side, and leaves nothing behind.

Refused connection, unknown host, authentication failure, unknown database and missing privilege
are permanent: exit 2 before anything is written, no retry, no state folder, and the driver's own
reason with the password hidden, from `run` and `validate --connect` alike. A store that answered
earlier and refuses a reconnection is a server restarting: that is retried.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from pathlib import Path

import pymysql
import pytest
import sqlalchemy as sa

from migrator.audit import read_lines
from migrator.demo.generate import generate_demo
from migrator.engine.trail import RunTrail
from migrator.errors import PermanentError, StoreUnavailable, TransientError
from migrator.stores.sql.connect import open_target, parse_url, redact
from migrator.stores.sql.errors import classify
from tests.conftest import MARIADB_ADMIN
from tests.tcp_listener import Listener
from tests.test_resume import _plan

HASH_KEY = {"MIGRATOR_HASH_KEY": "store-errors-test"}


def _demo(tmp_path: Path) -> str:
    return f"sqlite:///{generate_demo(tmp_path / 'demo', users=20).database}"


def _refused(run_cli, tmp_path: Path, source: str, target: str, kind: str, reason: str):  # type: ignore[no-untyped-def]
    """Both commands refuse with exit 2, naming the kind and the driver's reason; nothing is left."""
    plan = _plan(tmp_path, source, target, "refused")
    started = time.monotonic()
    run = run_cli("run", plan, env=HASH_KEY)
    seconds = time.monotonic() - started
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"({kind})" in run.stderr and reason in run.stderr, run.stderr
    assert "retrying" not in run.stderr and "unexpected" not in run.stderr
    assert seconds < 6, f"a permanent refusal must not be retried ({seconds:.1f} s)"
    assert not (tmp_path / "state").exists(), "a refused run must leave no state folder"
    checked = run_cli("validate", "--connect", plan, env=HASH_KEY)
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert f"({kind})" in checked.stderr and reason in checked.stderr, checked.stderr
    assert not (tmp_path / "state").exists()
    return run.stderr


SQLITE_TARGET = "sqlite:///{}"


@pytest.mark.parametrize("side", ["source", "target"])
@pytest.mark.parametrize(
    ("url", "kind", "reason"),
    [
        ("postgresql+psycopg://postgres@127.0.0.1:1/x", "connection refused", "Connection refused"),
        ("mysql+pymysql://root@127.0.0.1:1/x", "connection refused", "Connection refused"),
        ("postgresql+psycopg://postgres@nonexistent.invalid/x", "unknown host", "nonexistent.invalid"),
        ("mysql+pymysql://root@nonexistent.invalid/x", "unknown host", "nonexistent.invalid"),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/migrator_no_such_db", "unknown database", "does not exist"),
        ("mysql+pymysql://root@127.0.0.1:3306/migrator_no_such_db", "unknown database", "Unknown database"),
    ],
    ids=["pg-port", "mariadb-port", "pg-host", "mariadb-host", "pg-database", "mariadb-database"],
)
def test_a_store_that_refuses_us_is_exit_2_at_once_on_either_side(
    run_cli, tmp_path: Path, side: str, url: str, kind: str, reason: str
) -> None:
    target_file = tmp_path / "target.db"
    if side == "target":
        _refused(run_cli, tmp_path, _demo(tmp_path), url, kind, reason)
    else:
        _refused(run_cli, tmp_path, url, SQLITE_TARGET.format(target_file), kind, reason)
        assert not target_file.exists(), "the target must not be touched when the source refuses us"


@pytest.fixture
def mariadb_user(mariadb_database: str):  # type: ignore[no-untyped-def]
    """`make(password, grant)`: a MariaDB user of its own, dropped after the test."""
    names: list[str] = []
    admin = pymysql.connect(**MARIADB_ADMIN, autocommit=True)

    def make(password: str, grant: bool) -> str:
        name = f"mig_{uuid.uuid4().hex[:10]}"
        names.append(name)
        with admin.cursor() as cursor:
            for host in ("%%", "localhost"):  # %% is pymysql's escape of the host wildcard
                cursor.execute(f"CREATE USER '{name}'@'{host}' IDENTIFIED BY %s", (password,))
            if grant:
                database = sa.engine.make_url(mariadb_database).database
                for host in ("%", "localhost"):
                    cursor.execute(f"GRANT ALL ON `{database}`.* TO '{name}'@'{host}'")
        return name

    yield make
    with admin.cursor() as cursor:
        for name in names:
            for host in ("%", "localhost"):
                cursor.execute(f"DROP USER IF EXISTS '{name}'@'{host}'")
    admin.close()


@pytest.mark.parametrize("side", ["source", "target"])
def test_wrong_password_is_an_authentication_failure_without_the_password(
    run_cli, tmp_path: Path, mariadb_database: str, mariadb_user, side: str
) -> None:
    user = mariadb_user("right-password-x", grant=True)
    database = sa.engine.make_url(mariadb_database).database
    url = f"mysql+pymysql://{user}:wrong-password-y@127.0.0.1:3306/{database}"
    other = _demo(tmp_path) if side == "target" else SQLITE_TARGET.format(tmp_path / "t.db")
    source, target = (other, url) if side == "target" else (url, other)
    stderr = _refused(run_cli, tmp_path, source, target, "authentication failed", "Access denied")
    assert "wrong-password-y" not in stderr and f"{user}:***@" in stderr


def test_a_user_without_privilege_on_the_database_is_refused(
    run_cli, tmp_path: Path, mariadb_database: str, mariadb_user
) -> None:
    user = mariadb_user("no-grants-here", grant=False)
    database = sa.engine.make_url(mariadb_database).database
    url = f"mysql+pymysql://{user}:no-grants-here@127.0.0.1:3306/{database}"
    _refused(run_cli, tmp_path, _demo(tmp_path), url, "missing privilege", "Access denied")


def test_a_postgresql_role_without_connect_privilege_is_refused(run_cli, tmp_path: Path, pg_database: str) -> None:
    role = f"mig_{uuid.uuid4().hex[:10]}"
    database = sa.engine.make_url(pg_database).database
    admin = sa.create_engine(pg_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(sa.text(f"REVOKE CONNECT ON DATABASE {database} FROM PUBLIC"))
    try:
        url = f"postgresql+psycopg://{role}@127.0.0.1:5432/{database}"
        _refused(run_cli, tmp_path, _demo(tmp_path), url, "missing privilege", "permission denied")
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"GRANT CONNECT ON DATABASE {database} TO PUBLIC"))
            conn.execute(sa.text(f"DROP ROLE {role}"))
        admin.dispose()


class _Forwarder:
    """A TCP port that forwards to PostgreSQL until stopped: a server that goes away mid-run."""

    def __init__(self) -> None:
        self.listener = Listener(self._forward)
        self.port = self.listener.port

    def _forward(self, client: socket.socket) -> None:
        server = socket.create_connection(("127.0.0.1", 5432))
        for a, b in ((client, server), (server, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()

    def stop(self) -> None:
        self.listener.close()


def test_a_refusal_after_the_store_answered_is_retried_not_final(tmp_path: Path, pg_database: str) -> None:
    """Refused at first contact: permanent. Refused by the same store after it let us in (a restart,
    a failover): transient, so the run's retries carry on."""
    name = sa.engine.make_url(pg_database).database
    forwarder = _Forwarder()
    url = parse_url(f"postgresql+psycopg://postgres@127.0.0.1:{forwarder.port}/{name}", tmp_path)
    engine = open_target(url, create=False)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    forwarder.stop()
    with pytest.raises(sa.exc.DBAPIError) as refused_later:
        engine.connect()
    engine.dispose()
    later = classify(refused_later.value, "reading users")
    assert isinstance(later, TransientError) and "connection refused" in str(later)

    never = open_target(parse_url("postgresql+psycopg://postgres@127.0.0.1:1/x", tmp_path), create=False)
    with pytest.raises(sa.exc.DBAPIError) as refused_first:
        never.connect()
    first = classify(refused_first.value, "reading users")
    assert isinstance(first, StoreUnavailable) and first.exit_code == 2 and first.kind == "connection refused"


def test_a_privilege_a_statement_lacks_is_permanent_and_named(tmp_path: Path, pg_database: str) -> None:
    role = f"mig_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("CREATE TABLE secret_table (id integer)"))
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
    try:
        name = sa.engine.make_url(pg_database).database
        engine = open_target(parse_url(f"postgresql+psycopg://{role}@127.0.0.1:5432/{name}", tmp_path), create=False)
        with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as denied:
            conn.execute(sa.text("SELECT * FROM secret_table"))
        engine.dispose()
        error = classify(denied.value, "reading secret_table")
        assert isinstance(error, PermanentError) and "missing privilege" in str(error)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP ROLE {role}"))
        admin.dispose()


def test_the_trail_writes_nothing_until_the_run_starts(tmp_path: Path) -> None:
    """Retries met before the stores answered are held: a run refused then leaves no folder; a run
    that starts writes them after its first line, under its run id, with the time they happened."""
    state = tmp_path / "state"
    trail = RunTrail(state, {})
    trail.event("retry", attempt=1, error="the target does not answer: timeout expired")
    assert not state.exists()

    url = redact(parse_url("postgresql://postgres:postgres@127.0.0.1/postgres", tmp_path))
    trail.started("run-1", "plan", "0" * 64, url, url, resumed=False)
    lines = [json.loads(line) for line in read_lines(state / "audit.jsonl")]
    assert [line["event"] for line in lines] == ["run started", "retry"]
    assert all(line["run"] == "run-1" for line in lines) and lines[1]["at"] <= lines[1]["time"]
    assert lines[0]["target"] == "postgresql://postgres:***@127.0.0.1/postgres"


def _refused_at_first_write(run_cli, tmp_path: Path, target: str) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("run", _plan(tmp_path, _demo(tmp_path), target, "refused"), env=HASH_KEY)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the target refuses us (missing privilege)" in result.stderr and ":***@" in result.stderr
    assert not (tmp_path / "state").exists()


def test_a_postgresql_target_where_the_user_may_not_create_tables_is_refused(
    run_cli, tmp_path: Path, pg_database: str
) -> None:
    """PostgreSQL 15 and later no longer let every user create tables in `public`."""
    role = f"mig_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(sa.text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    try:
        url = sa.engine.make_url(pg_database).set(username=role, password="unused-by-trust")
        _refused_at_first_write(run_cli, tmp_path, url.render_as_string(hide_password=False))
        with admin.connect() as conn:
            assert not sa.inspect(conn).get_table_names(), "nothing may be written"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP ROLE {role}"))
        admin.dispose()


def test_a_mariadb_target_where_the_user_may_only_read_is_refused(
    run_cli, tmp_path: Path, mariadb_database: str
) -> None:
    name = f"mig_{uuid.uuid4().hex[:10]}"
    database = sa.engine.make_url(mariadb_database).database
    admin = pymysql.connect(**MARIADB_ADMIN, autocommit=True)
    try:
        with admin.cursor() as cursor:
            for host in ("%", "localhost"):
                cursor.execute(f"CREATE USER '{name}'@'{host}' IDENTIFIED BY '{name}'")
                cursor.execute(f"GRANT SELECT ON `{database}`.* TO '{name}'@'{host}'")
        _refused_at_first_write(run_cli, tmp_path, f"mysql+pymysql://{name}:{name}@127.0.0.1:3306/{database}")
    finally:
        with admin.cursor() as cursor:
            for host in ("%", "localhost"):
                cursor.execute(f"DROP USER IF EXISTS '{name}'@'{host}'")
        admin.close()


def test_a_source_table_the_user_may_not_read_is_refused_before_anything_is_written(
    run_cli, tmp_path: Path, pg_url_factory
) -> None:
    """A grant missing on one table was met only when the run reached it: exit 1, the target half
    written. Now it is found with the other checks, before the first write, on every command."""
    from tests.test_resume import _pg_copy_of_demo

    source = _pg_copy_of_demo(run_cli, tmp_path, pg_url_factory())
    role = f"mig_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(source, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(sa.text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"))
        conn.execute(sa.text(f"REVOKE SELECT ON likes, devices FROM {role}"))
    try:
        url = sa.engine.make_url(source).set(username=role).render_as_string(hide_password=False)
        target = tmp_path / "out" / "us.db"
        plan = _plan(tmp_path, url, f"sqlite:///{target}", "unreadable")
        for command in (["run"], ["validate", "--connect"], ["plan"]):
            done = run_cli(*command, plan, env=HASH_KEY)
            assert done.returncode == 2, (command, done.stdout, done.stderr)
            assert "the source refuses us (missing privilege)" in done.stderr, done.stderr
            assert "may not read devices (permission denied for table devices), likes" in done.stderr
        assert not target.parent.exists(), "the target was created"
        assert not (tmp_path / "state" / "unreadable").exists(), "the state folder was created"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP OWNED BY {role}"))
            conn.execute(sa.text(f"DROP ROLE {role}"))
        admin.dispose()
