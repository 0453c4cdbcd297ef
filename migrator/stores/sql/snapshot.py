"""One consistent read of the source for the whole run (SPEC §5).

Every table's subset is read through one connection inside one transaction, so a writer changing
the source while we copy cannot make a child row arrive without its parent:
PostgreSQL and MySQL/MariaDB read in REPEATABLE READ (one snapshot for the transaction), SQLite
holds one read transaction (its shared lock keeps the file as it was when the first read ran).
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from migrator.stores.sql.literal import execute_literal, literal_sql

T = TypeVar("T")
R = TypeVar("R")


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    backend = engine.dialect.name
    if backend == "sqlite":
        with engine.connect() as conn:
            # pysqlite opens no transaction for SELECTs; an explicit BEGIN makes the reads one.
            raw = conn.connection.driver_connection
            raw.isolation_level = None  # type: ignore[union-attr]
            conn.exec_driver_sql("BEGIN")
            try:
                yield conn
            finally:
                conn.exec_driver_sql("ROLLBACK")
        return
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            if backend == "mysql":
                # Take the snapshot now rather than at the first read of each table.
                conn.exec_driver_sql("SELECT 1").all()
            yield conn
            conn.rollback()


def stream(conn: Connection, query: sa.Select, batch: int) -> Iterator[list[sa.Row]]:  # type: ignore[type-arg]
    """Rows in batches through a server-side cursor: memory holds one batch, whatever the table size."""
    # Options on the statement, not the connection: in SQLAlchemy 2 `Connection.execution_options`
    # changes the connection itself, which would turn every later query into a server-side cursor.
    result = conn.execute(query.execution_options(stream_results=True, yield_per=batch))
    try:
        yield from (list(part) for part in result.partitions(batch))
    finally:
        result.close()


def plain_batches(conn: Connection, query: sa.Select, batch: int) -> Iterator[list[list[Any]]] | None:  # type: ignore[type-arg]
    """SQLite, for a query without parameters: its rows in batches, as lists, with the column types'
    result processing applied (a DATETIME's text becomes a datetime): as SQLAlchemy gives them, but
    without a Row object per row, whose making was half the time of reading a table into Python.
    The driver's cursor streams by itself. None elsewhere, where `stream` is the way."""
    if conn.dialect.name != "sqlite":
        return None
    compiled = query.compile(conn)
    return None if compiled.params else _sqlite_batches(conn, query, str(compiled), batch)


def _sqlite_batches(conn: Connection, query: sa.Select, sql: str, batch: int) -> Iterator[list[list[Any]]]:  # type: ignore[type-arg]
    dialect = conn.dialect
    processors = [
        (i, process)
        for i, column in enumerate(query.selected_columns)
        if (process := column.type.dialect_impl(dialect).result_processor(dialect, None)) is not None
    ]
    raw = conn.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch):
            processed = [list(row) for row in rows]
            for i, process in processors:
                for values in processed:
                    values[i] = process(values[i])
            yield processed
    finally:
        cursor.close()


def estimate_rows(conn: Connection, count: sa.Select, rows: sa.Select) -> int:  # type: ignore[type-arg]
    """How many rows a query will give, for a progress bar: PostgreSQL's planner estimate (counting
    would run the whole subset query twice), an exact count elsewhere."""
    if conn.dialect.name == "postgresql":
        sql = literal_sql(rows, conn)
        plan = execute_literal(conn, f"EXPLAIN (FORMAT JSON) {sql}").scalar_one()
        document = plan if isinstance(plan, list) else json.loads(plan)
        return int(document[0]["Plan"]["Plan Rows"])
    return int(conn.execute(count).scalar_one())


def table_sizes(conn: Connection) -> dict[str, float]:
    """PostgreSQL's estimate of each table's rows (pg_class.reltuples, as of the last ANALYZE),
    free to read; empty elsewhere."""
    if conn.dialect.name != "postgresql":
        return {}
    query = (  # named as a plan names them (qualified.py)
        "SELECT CASE WHEN relnamespace = current_schema()::regnamespace THEN relname "
        "ELSE (SELECT nspname FROM pg_namespace n WHERE n.oid = relnamespace) || '.' || relname END, reltuples "
        "FROM pg_class WHERE relkind = 'r'"
    )
    return {str(name): float(rows) for name, rows in conn.exec_driver_sql(query)}


def export_snapshot(conn: Connection) -> str | None:
    """PostgreSQL can hand the run's snapshot to other connections (as pg_dump -j and Greenmask do),
    so that parallel workers read exactly what the main connection reads. Elsewhere: None."""
    if conn.dialect.name != "postgresql":
        return None
    return str(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())


def keep_snapshot_open(conn: Connection) -> None:
    """The exporting session is the snapshot's life: it must not be ended for being idle in its
    transaction while workers elsewhere still import the snapshot (PostgreSQL only)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET idle_in_transaction_session_timeout = 0")


@contextmanager
def joined(engine: Engine, snapshot_id: str) -> Iterator[Connection]:
    """A connection reading in the exported snapshot, for one worker."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'")
            yield conn
            conn.rollback()


def map_in_snapshot(
    engine: Engine,
    conn: Connection,
    items: list[T],
    work: Callable[[Connection, T], R],
    workers: int,
    *,
    largest_first: Mapping[T, float] | None = None,
) -> list[R]:
    """`work(connection, item)` for every item, on up to `workers` connections that all read the
    snapshot of `conn` (PostgreSQL); elsewhere, or with one worker, one after another on `conn`.
    Results come back in the order of `items`; the first failure is raised. `largest_first`: the
    items' sizes (table_sizes), to hand out the largest first, so that the workers end together."""
    snapshot_id = export_snapshot(conn) if workers > 1 and len(items) > 1 else None
    if snapshot_id is None:
        return [work(conn, item) for item in items]
    todo: queue.Queue[int] = queue.Queue()
    sizes = largest_first or {}
    for index in sorted(range(len(items)), key=lambda i: -sizes.get(items[i], 0.0)):
        todo.put(index)
    results: dict[int, R] = {}
    failed = threading.Event()

    def worker() -> None:
        with joined(engine, snapshot_id) as own:
            while not failed.is_set():
                try:
                    index = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    results[index] = work(own, items[index])
                except BaseException:
                    failed.set()
                    raise

    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="migrator-read") as pool:
        futures = [pool.submit(worker) for _ in range(min(workers, len(items)))]
    for future in futures:
        error = future.exception()
        if error is not None:
            raise error
    return [results[index] for index in range(len(items))]
