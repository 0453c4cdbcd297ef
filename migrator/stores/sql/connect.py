"""Open database engines: the source read-only, the target writable; URLs shown without passwords.

Every engine opened here marks a driver error raised while connecting with which store it was and
whether that store answered earlier in this process (errors.Connecting): errors.classify needs both
to tell a store that refuses us (exit 2, before anything is written) from one restarting mid-run.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from migrator.errors import StoreUnavailable, UsageError
from migrator.redaction import redact_text
from migrator.stores.sql.errors import CONNECTING, Connecting

# The stores (by URL, password hidden) that let us in during this process. A run reconnects on every
# attempt and every worker: a refusal from a store that answered before is a restart, not a typo.
_ANSWERED: set[str] = set()


def parse_url(url: str, base_dir: Path) -> URL:
    """A SQLAlchemy URL, with a relative SQLite path taken relative to the plan's folder."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with the URL in it: keep it out
        raise UsageError(f"not a valid database URL: {redact_text(url)}") from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_absolute():
            parsed = parsed.set(database=str((base_dir / path).resolve()))
    return parsed


def redact(url: str | URL) -> str:
    """The URL to show: its password replaced in the userinfo field where it stands (SQLAlchemy
    renders the parsed URL with `***` there), and a `password=` query parameter hidden too. Never a
    search for the password's text, which would misfire on a password equal to the user name."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
        return redact_text(parsed.render_as_string(hide_password=True))
    except Exception:
        return "<unparseable URL>"


def backend(url: URL) -> str:
    """'postgresql' | 'mysql' | 'sqlite' (MariaDB speaks as mysql)."""
    name = url.get_backend_name()
    return "mysql" if name == "mariadb" else name


# A MariaDB TIMESTAMP is stored in UTC and read and written in the session's time zone, the server's
# by default: two servers in different zones would move every value by the difference, and in a zone
# with summer time the two instants of the hour repeated in autumn read as one text. In UTC, read and
# written on both sides, each value is the instant stored.
_MARIADB_UTC = "SET SESSION time_zone = '+00:00'"


# A SQLite source is read through a memory map of its first GiB rather than a read() per page: the
# dry run's counts scan whole tables, and a system call per 4 KiB page was a third of their time
# (0.8 s of 2.4 s of CPU at the benchmark's scale 1; 0.15 s mapped). Only reads go through the map
# (the source is opened read-only); the pages it maps are the kernel's page cache, shared and
# reclaimable, though they count in the process's resident size while it holds them.
SQLITE_SOURCE_MMAP = 1 << 30


def open_source(url: URL) -> Engine:
    """An engine whose every connection is read-only at the session level (SPEC §5): the source is
    often a replica or production itself, so even a bug in our SQL must not be able to write there."""
    kind = backend(url)
    if kind == "sqlite":
        if not url.database or not Path(url.database).exists():
            raise UsageError(f"the source database file does not exist: {url.database}")
        read_only = url.set(database=f"file:{url.database}", query={"mode": "ro", "uri": "true"})
        engine = _watched(sa.create_engine(read_only, poolclass=sa.pool.NullPool), "source", url)

        @sa.event.listens_for(engine, "connect")
        def _mapped(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.execute(f"PRAGMA mmap_size = {SQLITE_SOURCE_MMAP}")

        return engine
    if kind == "postgresql":
        # jit off: subset queries are planned with huge cost estimates, which make PostgreSQL spend
        # seconds compiling them; work_mem up: their hash joins and IN lookups stay in memory.
        settings = "-c default_transaction_read_only=on -c jit=off -c work_mem=128MB"
        options = {"options": settings, "application_name": "migrator-source"}
        return _watched(sa.create_engine(url, connect_args=options, poolclass=sa.pool.NullPool), "source", url)
    engine = _watched(sa.create_engine(url, poolclass=sa.pool.NullPool), "source", url)

    @sa.event.listens_for(engine, "connect")
    def _read_only(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
            cursor.execute(_MARIADB_UTC)

    return engine


def target_exists(url: URL) -> bool:
    """Whether looking at the target needs no write: connecting to a missing SQLite file creates it."""
    return backend(url) != "sqlite" or not url.database or Path(url.database).exists()


def open_target(url: URL, *, create: bool, lock_timeout: float = 60.0, side: str = "target") -> Engine:
    """A writable engine. Waiting on a lock is bounded (PostgreSQL waits forever by default; MySQL
    50 s, SQLite 5 s), so that a lock held elsewhere becomes a timeout the run retries and records."""
    kind = backend(url)
    if create and kind == "sqlite" and url.database and url.database != ":memory:":
        folder = Path(url.database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise StoreUnavailable(f"the {side} cannot be created: {redact(url)}: {folder}: {reason}") from None
    milliseconds = int(lock_timeout * 1000)
    connect_args: dict[str, object] = {}
    if kind == "postgresql":
        connect_args = {"application_name": "migrator-target", "options": f"-c lock_timeout={milliseconds}"}
    elif kind == "sqlite":
        connect_args = {"timeout": lock_timeout}
    engine = _watched(sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=connect_args), side, url)
    if kind == "mysql":

        @sa.event.listens_for(engine, "connect")
        def _lock_wait(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET SESSION innodb_lock_wait_timeout = {max(1, round(lock_timeout))}")
                cursor.execute(_MARIADB_UTC)

    return engine


def _watched(engine: Engine, side: str, url: URL) -> Engine:
    """`engine`, remembering when its store answers and marking an error raised while connecting."""
    shown = redact(url)

    @sa.event.listens_for(engine, "connect")
    def _answered(_dbapi_connection, _record):  # type: ignore[no-untyped-def]
        _ANSWERED.add(shown)

    @sa.event.listens_for(engine, "handle_error")
    def _connecting(context):  # type: ignore[no-untyped-def]
        # No connection yet: the error came from connecting, before any statement ran.
        if context.connection is None and context.sqlalchemy_exception is not None:
            setattr(context.sqlalchemy_exception, CONNECTING, Connecting(side, shown, shown in _ANSWERED))

    return engine
