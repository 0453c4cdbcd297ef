"""Cancelling a connection's query in flight from another thread, for Ctrl-C (engine/interrupt.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection


def canceller(conn: Connection, *, writes: bool = False) -> Callable[[], None]:
    """A function that stops the statement `conn` is running, if any; the statement then fails in
    the thread that runs it. Taken in that thread, called from any: sqlite3's `interrupt()` and
    psycopg's `cancel_safe()` are made for that. MySQL has no such call on the connection: a second
    connection of the same engine sends `KILL QUERY` for it (which ends the statement, not the
    connection or its transaction). `writes`: the connection writes (SQLite needs more, below)."""
    raw = conn.connection.driver_connection
    backend = conn.dialect.name
    if backend == "sqlite":
        return _sqlite_canceller(raw, writes)
    if backend == "postgresql":
        cancel_safe = getattr(raw, "cancel_safe", None)
        if cancel_safe is not None:
            return lambda: cancel_safe(timeout=2.0)
        cancel: Callable[[], None] = raw.cancel  # type: ignore[union-attr]
        return cancel
    if backend == "mysql":
        thread_id = int(raw.thread_id())  # type: ignore[union-attr]  # pymysql's; no query, no transaction begun
        engine = conn.engine

        def kill_query() -> None:
            with engine.connect() as other:
                other.exec_driver_sql(f"KILL QUERY {thread_id}")

        return kill_query
    return lambda: None


# SQLite forgets an interrupt when no statement is running, and a chunk's executemany runs one short
# statement per row: between two rows the interrupt is lost, and within one it is checked only at
# a loop. A progress handler runs inside every statement, every this many virtual machine steps (a
# row's insert is a few dozen; the cost is a Python call per thousand steps, under 1% of a copy).
SQLITE_PROGRESS_STEPS = 1000


def _sqlite_canceller(raw: Any, writes: bool) -> Callable[[], None]:
    if not writes:
        interrupt: Callable[[], None] = raw.interrupt  # a read is one long statement: enough
        return interrupt
    armed = threading.Event()

    def stop_statement() -> int:
        # Once per cancel: a statement that starts after this one (the rollback) runs.
        if armed.is_set():
            armed.clear()
            return 1
        return 0

    raw.set_progress_handler(stop_statement, SQLITE_PROGRESS_STEPS)

    def cancel() -> None:
        armed.set()
        raw.interrupt()

    return cancel
