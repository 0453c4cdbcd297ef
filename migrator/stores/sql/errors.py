"""Driver errors -> our errors, decided once, here at the store's edge.

Three outcomes:

* StoreUnavailable (exit 2, no retry): the store refused our first connection. The connection was
  refused (nothing listens on that port), the host is unknown, the credentials were rejected, the
  database does not exist, or the user lacks the privilege to use it. Nothing has been written yet,
  and trying again would fail the same way; the message names the side, the URL (password hidden)
  and the driver's own reason.
* TransientError (retried): the same statement may well succeed if tried again. The connection
  dropped mid-run (a failover, `pg_terminate_backend`, MariaDB's `KILL`), a lock or statement timed
  out, a deadlock or serialization failure chose us as the victim, SQLite's file was busy, the server
  is starting up or has no free connection slot. A reconnection refused *after* the same store has
  answered us in this process is transient too: that is a server restarting, not a wrong port.
* PermanentError (exit 1, no retry): everything else, met after the stores answered: a constraint,
  a missing table, a type mismatch, a privilege a statement lacks.

Whether a failure happened while connecting is known by structure, not guessed from the text:
connect.py's engines mark an error raised before a connection existed (SQLAlchemy's handle_error
with no connection yet). Which of the five kinds it is comes from the driver's code where it has
one (MySQL's error numbers, PostgreSQL's SQLSTATE) and otherwise from libpq's fixed wording, since
psycopg reports connection failures without a SQLSTATE.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from migrator.errors import MigratorError, PermanentError, StoreUnavailable, TransientError
from migrator.redaction import redact_text

# PostgreSQL SQLSTATEs: connection exceptions (class 08), operator intervention (57P01-57P03:
# terminated by an administrator, crash shutdown, cannot connect now), query cancelled (57014: a
# statement_timeout), lock not available (55P03), serialization failure and deadlock (40001, 40P01),
# too many connections (53300).
_PG_TRANSIENT = {"57P01", "57P02", "57P03", "57014", "55P03", "40001", "40P01", "53300"}
# MySQL/MariaDB error numbers: server gone away / lost connection (2006, 2013, 2055), query or
# connection killed (1317, 1927), server shutdown (1053), lock wait timeout and deadlock (1205,
# 1213), too many connections (1040), statement timeout (3024 MySQL, 1969 MariaDB). Not 2003
# ("Can't connect"): pymysql raises it for a refused connection and an unknown host alike, which are
# decided below by what the store did before.
_MYSQL_TRANSIENT = {2006, 2013, 2055, 1317, 1927, 1053, 1205, 1213, 1040, 3024, 1969}

CONNECTION_REFUSED = "connection refused"
UNKNOWN_HOST = "unknown host"
AUTHENTICATION_FAILED = "authentication failed"
UNKNOWN_DATABASE = "unknown database"
MISSING_PRIVILEGE = "missing privilege"
CANNOT_OPEN = "cannot open the database file"

# MySQL numbers and PostgreSQL SQLSTATEs of each kind.
_MYSQL_KINDS = {1045: AUTHENTICATION_FAILED, 1049: UNKNOWN_DATABASE, 2005: UNKNOWN_HOST}
_MYSQL_PRIVILEGE = {1044, 1142, 1143, 1227, 1370}  # database, table, column, global, routine
_PG_KINDS = {"28P01": AUTHENTICATION_FAILED, "28000": AUTHENTICATION_FAILED, "3D000": UNKNOWN_DATABASE}
_PG_PRIVILEGE = "42501"
# libpq's and the resolver's wording, for the errors psycopg raises with no SQLSTATE (and pymysql's
# 2003, which carries the socket's errno text).
_TEXT_KINDS = (
    ("permission denied", MISSING_PRIVILEGE),  # FATAL: permission denied for database "x"
    ("password authentication failed", AUTHENTICATION_FAILED),
    ("no pg_hba.conf entry", AUTHENTICATION_FAILED),
    ("authentication failed", AUTHENTICATION_FAILED),
    ('role "', AUTHENTICATION_FAILED),  # FATAL: role "x" does not exist
    ('database "', UNKNOWN_DATABASE),  # FATAL: database "x" does not exist
    ("connection refused", CONNECTION_REFUSED),
    ("no such file or directory", CONNECTION_REFUSED),  # a Unix socket nobody listens on
    ("failed to resolve host", UNKNOWN_HOST),
    ("could not translate host name", UNKNOWN_HOST),
    ("name or service not known", UNKNOWN_HOST),
    ("nodename nor servname", UNKNOWN_HOST),
    ("no address associated with hostname", UNKNOWN_HOST),
    ("temporary failure in name resolution", UNKNOWN_HOST),
    ("unable to open database file", CANNOT_OPEN),
)
# Connection failures that pass: a timeout, a server starting or stopping, no free slot.
_TRANSIENT_WHILE_CONNECTING = (
    "timeout expired",
    "timed out",
    "too many clients",
    "too many connections",
    "starting up",
    "shutting down",
    "in recovery mode",
    "server closed the connection",
)
# Kinds that, met on reconnecting to a store that answered earlier in this process, mean a server
# restarting or failing over rather than a wrong address.
_PASSING_WHEN_KNOWN = {CONNECTION_REFUSED, UNKNOWN_HOST}


@dataclass(frozen=True)
class Connecting:
    """Attached by connect.py to a driver error raised while connecting to one of our stores."""

    side: str  # "source" | "target"
    shown: str  # its URL, password hidden
    answered_before: bool  # the same store let us in earlier in this process


CONNECTING = "migrator_connecting"  # the attribute that holds it


def classify(exc: sa.exc.DBAPIError, what: str) -> MigratorError:
    """Our error for a driver error met while doing `what` (e.g. "reading users")."""
    reason = driver_reason(exc)
    connecting = getattr(exc, CONNECTING, None)
    if isinstance(connecting, Connecting):
        return _connection_failure(exc, connecting, reason)
    if is_transient(exc):
        return TransientError(f"{what} failed: {reason}")
    if kind_of(exc) == MISSING_PRIVILEGE:
        return PermanentError(f"{what} failed: {MISSING_PRIVILEGE}: {reason}")
    return PermanentError(f"{what} failed: {reason}")


def is_transient(exc: sa.exc.DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _PG_TRANSIENT):
        return True
    if _mysql_code(exc) in _MYSQL_TRANSIENT:
        return True
    text = str(orig).lower()
    if "database is locked" in text or "database table is locked" in text:
        return True  # SQLite's SQLITE_BUSY
    # psycopg reports a connection closed under it without a SQLSTATE.
    lost = ("server closed the connection", "connection is closed", "connection already closed", "connection is lost")
    return any(words in text for words in lost)


def kind_of(exc: sa.exc.DBAPIError) -> str | None:
    """Which of the ways a store refuses us this is, if any (see the module's docstring)."""
    code = _mysql_code(exc)
    if code in _MYSQL_KINDS:
        return _MYSQL_KINDS[code]
    if code in _MYSQL_PRIVILEGE:
        return MISSING_PRIVILEGE
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in _PG_KINDS:
        return _PG_KINDS[sqlstate]
    if sqlstate == _PG_PRIVILEGE:
        return MISSING_PRIVILEGE
    text = str(exc.orig).lower()
    return next((kind for words, kind in _TEXT_KINDS if words in text), None)


def _connection_failure(exc: sa.exc.DBAPIError, store: Connecting, reason: str) -> MigratorError:
    kind = kind_of(exc)
    text = str(exc.orig).lower()
    passing = is_transient(exc) or any(words in text for words in _TRANSIENT_WHILE_CONNECTING)
    message = f"the {store.side} does not answer{f' ({kind})' if kind else ''}: {store.shown}: {reason}"
    if store.answered_before:
        # The run has been talking to this store: what it wrote stays, and a refusal now is a
        # server restarting (retried) or credentials changed under us (not retried; exit 1).
        return TransientError(message) if passing or kind in _PASSING_WHEN_KNOWN else PermanentError(message)
    if passing and kind is None:
        return TransientError(message)
    return StoreUnavailable(message, kind)


def _mysql_code(exc: sa.exc.DBAPIError) -> int | None:
    args = getattr(exc.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def driver_reason(exc: sa.exc.DBAPIError) -> str:
    """The driver's own words, first line, passwords hidden."""
    text = str(exc.orig).strip() if exc.orig is not None else type(exc).__name__
    return redact_text(text.splitlines()[0]) if text else type(exc.orig).__name__


T = TypeVar("T")


def guarded(action: Callable[[], T], what: str) -> T:
    """Run `action`; a driver error becomes our transient or permanent error, naming `what`."""
    try:
        return action()
    except sa.exc.DBAPIError as exc:
        raise classify(exc, what) from None


def guarded_iter(items: Iterator[T], what: str | Callable[[], str]) -> Iterator[T]:
    """`items`, each driver error met while taking the next one classified as `guarded` does. `what`
    may be a function, asked when an error comes: the chunk it names is the one under way then."""
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except sa.exc.DBAPIError as exc:
            raise classify(exc, what if isinstance(what, str) else what()) from None
        yield item


def connection_or_refusal(engine: Engine, what: str) -> Connection | MigratorError:
    """A new connection of `engine`, or, where the driver refuses it, our error for that refusal,
    for a caller that reports the refusal rather than raising it (the dry run)."""
    try:
        return engine.connect()
    except sa.exc.DBAPIError as exc:
        return classify(exc, what)


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Any driver error that no narrower guard named becomes ours here, e.g. a target database that
    does not exist, met while connecting: one clear line instead of a driver's traceback."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        raise classify(exc, what) from None


@contextmanager
def refused_before_writing(side: str, shown: str) -> Iterator[None]:
    """Around a store's first writes: a privilege they lack (CREATE on PostgreSQL 15's `public`
    schema, a MySQL grant) means the store refuses us before anything of the run is written, which
    is StoreUnavailable (exit 2) like a refused connection, not a run that failed."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        if getattr(exc, CONNECTING, None) is None and kind_of(exc) == MISSING_PRIVILEGE:
            raise StoreUnavailable(
                f"the {side} refuses us ({MISSING_PRIVILEGE}): {shown}: {driver_reason(exc)}", MISSING_PRIVILEGE
            ) from None
        raise
