"""Driver errors -> our TransientError or PermanentError, decided once, here at the store's edge.

Transient means the same statement may well succeed if tried again: the connection dropped (a
failover, `pg_terminate_backend`, MariaDB's `KILL`), a lock or statement timed out, a deadlock or
serialization failure chose us as the victim, SQLite's file was busy. Everything else (a constraint,
a missing table, a type mismatch) is permanent: retrying would only fail again, later.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from migrator.errors import PermanentError, RunError, TransientError

# PostgreSQL SQLSTATEs: connection exceptions (class 08), operator intervention (57P01-57P03:
# terminated by an administrator, crash shutdown, cannot connect now), query cancelled (57014: a
# statement_timeout), lock not available (55P03), serialization failure and deadlock (40001, 40P01).
_PG_TRANSIENT = {"57P01", "57P02", "57P03", "57014", "55P03", "40001", "40P01", "53300"}
# MySQL/MariaDB error numbers: server gone away / lost connection (2006, 2013, 2055), query or
# connection killed (1317, 1927), server shutdown (1053), lock wait timeout and deadlock (1205,
# 1213), too many connections (1040), statement timeout (3024 MySQL, 1969 MariaDB).
_MYSQL_TRANSIENT = {2003, 2006, 2013, 2055, 1317, 1927, 1053, 1205, 1213, 1040, 3024, 1969}


def classify(exc: sa.exc.DBAPIError, what: str) -> RunError:
    """Our error for a driver error met while doing `what` (e.g. "reading users")."""
    reason = _reason(exc)
    message = f"{what} failed: {reason}"
    if is_transient(exc):
        return TransientError(message)
    return PermanentError(message)


def is_transient(exc: sa.exc.DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _PG_TRANSIENT):
        return True
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _MYSQL_TRANSIENT:
        return True
    text = str(orig).lower()
    if "database is locked" in text or "database table is locked" in text:
        return True  # SQLite's SQLITE_BUSY
    # psycopg reports a connection closed under it without a SQLSTATE.
    lost = ("server closed the connection", "connection is closed", "connection already closed", "connection is lost")
    return any(words in text for words in lost)


def _reason(exc: sa.exc.DBAPIError) -> str:
    text = str(exc.orig).strip() if exc.orig is not None else type(exc).__name__
    return text.splitlines()[0] if text else type(exc.orig).__name__


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Any driver error that no narrower guard named becomes ours here, e.g. a target database that
    does not exist, met while connecting: one clear line instead of a driver's traceback."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        raise classify(exc, what) from None
