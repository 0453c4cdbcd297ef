"""One row of a target's ledger, read with the database's own driver, without SQLAlchemy.

For engine/finished.py, which answers "this plan already ran to the end" before anything heavy is
imported (its docstring says why). Importing this module imports nothing but the standard library's
typing: sqlite3 and psycopg are imported by the function that needs one, when it is called.
"""

from __future__ import annotations

from typing import Any

_QUESTION = "SELECT run_id, status, plan_sha256 FROM _migrator_runs WHERE plan = {}"
_CONNECT_SECONDS = 10


def postgresql_run_row(
    plan: str,
    database: str,
    *,
    user: str | None = None,
    password: str | None = None,
    host: str | None = None,
    port: int | None = None,
) -> tuple[Any, ...] | None:
    """(run_id, status, plan_sha256) of `plan`'s run in a PostgreSQL target's ledger, or None;
    connection settings left None are libpq's defaults."""
    import psycopg

    options: dict[str, Any] = {"dbname": database, "connect_timeout": _CONNECT_SECONDS}
    given = {"user": user, "password": password, "host": host, "port": port}
    options.update({name: value for name, value in given.items() if value is not None})
    with psycopg.connect(**options) as conn:
        return conn.execute(_QUESTION.format("%s"), (plan,)).fetchone()


def sqlite_run_row(file: str, plan: str) -> tuple[Any, ...] | None:
    """(run_id, status, plan_sha256) of `plan`'s run in a SQLite target's ledger, or None; the file
    is opened read-only, so that a missing one is an error rather than a new empty database."""
    import sqlite3

    conn = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    try:
        found: tuple[Any, ...] | None = conn.execute(_QUESTION.format("?"), (plan,)).fetchone()
    finally:
        conn.close()
    return found
