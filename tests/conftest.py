"""Shared fixtures: throwaway databases on the local servers, Chinook sources, and the CLI runner.

Every database a test gets has a unique name (uuid suffix) and is dropped afterwards, even when the
test fails, so tests never see each other's data and can run in parallel.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pymysql
import pytest

from tests.git_servers import bare_target, git_daemon, git_http
from tests.object_servers import moto_s3, moto_server, seaweedfs, seaweedfs_server
from tests.prerequisites import missing_prerequisite

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"
CHINOOK_SQLITE = DATA_DIR / "chinook.sqlite"
CHINOOK_PG_SCRIPT = DATA_DIR / "chinook_postgresql.sql"

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
MARIADB_ADMIN = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "connect_timeout": 3}
MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/{name}?charset=utf8mb4"

SERVER_MARKER = "server"
SERVER_FIXTURES = {"pg_url_factory", "pg_database", "chinook_pg", "mariadb_url_factory", "mariadb_database"}

DatabaseFactory = Callable[[], str]

# The S3 servers' fixtures (tests/object_servers.py) and the git servers' (tests/git_servers.py): the
# tests start those servers themselves.
__all__ = ["bare_target", "git_daemon", "git_http", "moto_s3", "moto_server", "seaweedfs", "seaweedfs_server"]


def pytest_configure(config: pytest.Config) -> None:
    # --strict-markers is on: the one marker the suite uses is registered here.
    config.addinivalue_line(
        "markers",
        f"{SERVER_MARKER}: needs the local PostgreSQL or MariaDB server (deselect with -m 'not server')",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Marked from the fixtures a test uses, so nobody has to remember to mark by hand.
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(SERVER_MARKER)


def unique_database_name(prefix: str = "migrator_test") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


# --- PostgreSQL ---------------------------------------------------------------------------------------


def _pg_admin() -> psycopg.Connection:
    """An autocommit connection to the admin database (CREATE/DROP DATABASE cannot run in a transaction)."""
    try:
        return psycopg.connect(PG_ADMIN_DSN, autocommit=True)
    except psycopg.OperationalError as error:
        missing_prerequisite(
            f"PostgreSQL is not reachable at 127.0.0.1:5432, user postgres, database test ({error})",
            "start it with that user and an empty database named test, or leave these tests out with -m 'not server'",
        )


def _pg_create(name: str, template: str | None = None) -> None:
    clause = f" TEMPLATE {template}" if template else ""
    with _pg_admin() as admin:
        admin.execute(f"CREATE DATABASE {name}{clause}")


def _pg_drop(name: str) -> None:
    with _pg_admin() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_url_factory() -> Iterator[DatabaseFactory]:
    """Call it to get the URL of a new, empty PostgreSQL database; all are dropped after the test."""
    created: list[str] = []

    def create() -> str:
        name = unique_database_name()
        _pg_create(name)
        created.append(name)
        return PG_URL.format(name=name)

    yield create
    for name in created:
        _pg_drop(name)


@pytest.fixture
def pg_database(pg_url_factory: DatabaseFactory) -> str:
    """The SQLAlchemy URL of a fresh, empty PostgreSQL database."""
    return pg_url_factory()


# --- MariaDB ------------------------------------------------------------------------------------------


def _mariadb_admin() -> pymysql.connections.Connection:
    try:
        return pymysql.connect(**MARIADB_ADMIN, autocommit=True)
    except pymysql.err.OperationalError as error:
        missing_prerequisite(
            f"MariaDB is not reachable at 127.0.0.1:3306, user root with an empty password ({error})",
            "start it, or leave these tests out with -m 'not server'",
        )


def _mariadb_execute(statement: str) -> None:
    admin = _mariadb_admin()
    try:
        with admin.cursor() as cursor:
            cursor.execute(statement)
    finally:
        admin.close()


@pytest.fixture
def mariadb_url_factory() -> Iterator[DatabaseFactory]:
    """Call it to get the URL of a new, empty MariaDB database; all are dropped after the test."""
    created: list[str] = []

    def create() -> str:
        name = unique_database_name()
        _mariadb_execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        created.append(name)
        return MARIADB_URL.format(name=name)

    yield create
    for name in created:
        _mariadb_execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def mariadb_database(mariadb_url_factory: DatabaseFactory) -> str:
    """The SQLAlchemy URL of a fresh, empty MariaDB database."""
    return mariadb_url_factory()


# --- Chinook sources ----------------------------------------------------------------------------------


@pytest.fixture
def chinook_sqlite(tmp_path: Path) -> Path:
    """A private, writable copy of the Chinook SQLite file (tests/data is read-only test data)."""
    copy = tmp_path / "chinook.sqlite"
    shutil.copyfile(CHINOOK_SQLITE, copy)
    copy.chmod(copy.stat().st_mode | stat.S_IWUSR)
    return copy


# The script's preamble drops and creates a database called `chinook` and switches to it with psql's
# `\c`: those lines would act on a shared name, so they are removed and the rest runs in our database.
_PREAMBLE_LINE = re.compile(r"^\s*(DROP DATABASE|CREATE DATABASE|\\)", re.IGNORECASE)


def chinook_pg_statements() -> str:
    lines = CHINOOK_PG_SCRIPT.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not _PREAMBLE_LINE.match(line))


def _count_foreign_keys(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.table_constraints"
        " WHERE constraint_type = 'FOREIGN KEY' AND table_schema = 'public'"
    ).fetchone()
    return int(row[0]) if row else 0


def _load_chinook_pg(name: str) -> None:
    # Without parameters psycopg sends the script as one simple query, multi-statement included.
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}", autocommit=True) as conn:
        conn.execute(chinook_pg_statements())
        foreign_keys = _count_foreign_keys(conn)
    # The US split is derived by following foreign keys: a script without them would test nothing.
    assert foreign_keys == 11, f"{CHINOOK_PG_SCRIPT.name} declared {foreign_keys} foreign keys, expected 11"


@pytest.fixture(scope="session")
def _chinook_pg_template() -> Iterator[str]:
    """Chinook loaded once per session; each test gets a clone (CREATE DATABASE ... TEMPLATE is fast)."""
    name = unique_database_name("migrator_chinook_template")
    _pg_create(name)
    try:
        _load_chinook_pg(name)
        yield name
    finally:
        _pg_drop(name)


@pytest.fixture
def chinook_pg(_chinook_pg_template: str) -> Iterator[str]:
    """The URL of a fresh PostgreSQL database holding Chinook (snake_case names), dropped afterwards."""
    name = unique_database_name("migrator_chinook")
    _pg_create(name, template=_chinook_pg_template)
    try:
        yield PG_URL.format(name=name)
    finally:
        _pg_drop(name)


# --- the CLI ------------------------------------------------------------------------------------------

CliRunner = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="session")
def run_cli() -> CliRunner:
    """`run_cli(*args, env=None, cwd=None)`: `python -m migrator ARGS` in a subprocess, output captured.

    The repository root is put on PYTHONPATH so the CLI runs from the working tree without installing.
    `env` adds to (and overrides) the current environment. The exit code is not checked: tests assert it.
    """

    def run(
        *args: str | os.PathLike[str],
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(
            part for part in (str(REPO_ROOT), full_env.get("PYTHONPATH", "")) if part
        )
        return subprocess.run(
            [sys.executable, "-m", "migrator", *map(str, args)],
            env=full_env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )

    return run
