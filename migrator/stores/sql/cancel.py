"""Cancelling a connection's query in flight from another thread, for Ctrl-C (engine/interrupt.py)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Connection


def canceller(conn: Connection) -> Callable[[], None]:
    """A function that stops the statement `conn` is running, if any; the statement then fails in
    the thread that runs it. Taken in that thread, called from any: sqlite3's `interrupt()` and
    psycopg's `cancel_safe()` are made for that. MySQL has no such call (it needs a second
    connection for `KILL QUERY`): there the statement runs to its end."""
    raw = conn.connection.driver_connection
    backend = conn.dialect.name
    if backend == "sqlite":
        interrupt: Callable[[], None] = raw.interrupt  # type: ignore[union-attr]
        return interrupt
    if backend == "postgresql":
        cancel_safe = getattr(raw, "cancel_safe", None)
        if cancel_safe is not None:
            return lambda: cancel_safe(timeout=2.0)
        cancel: Callable[[], None] = raw.cancel  # type: ignore[union-attr]
        return cancel
    return lambda: None
