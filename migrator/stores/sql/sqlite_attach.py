"""SQLite to SQLite inside SQLite: the subset moves by `INSERT ... SELECT`, never through Python rows.

A connection of its own, on an empty in-memory database, ATTACHes the source read-only (a
`file:...?mode=ro` URI) and then the target. Unqualified names resolve to the database attached
first, so the subset SQL and the plan's own fragments (`region_id = (SELECT id FROM regions ...)`)
read the source, as they do on the source connection; everything written names the target.

Per table: the subset's rows, in key order, are put once into a TEMP table (the subset query, with
its kept sets, runs once, not once per chunk); then each chunk of `chunk_rows` rows is copied from
it into the target in one transaction together with its ledger mark, as the row path does. The
chunk's digest is the row path's (`Digest.of` of the rows as read): SQLite spells each row as the
digest's canonical text (an integer's decimal digits, text as it is, NULL as NUL, the values joined
by U+001F; reals and blobs through `canonical` itself: see sqlite_digest.py), hands a chunk's rows
to Python as one JSON array, and Python hashes them while the chunk before is written. So
verification, receipts and resume see the same units either way.

Only where that is exactly what the row path writes (see `attach_copy_applies`): no transform, no
upsert, a key, and no column whose type converts values on the way (DATETIME, NUMERIC, BOOLEAN...).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from migrator.errors import PermanentError
from migrator.stores.sql import ledger
from migrator.stores.sql.literal import literal_sql
from migrator.stores.sql.sqlite_digest import hash_sum, register, spelled

SOURCE, TARGET = "m__src", "m__dst"  # the attachments' names: the source first, see the docstring
ROWS = "m__rows"


def attach_copy_applies(
    source: Connection,
    target: Connection,
    statement: sa.Select,  # type: ignore[type-arg]
    table: sa.Table,
    written: list[str],
    key: tuple[str, ...],
) -> bool:
    """Both sides are SQLite files, the source holds still, and the rows go in as they come out."""
    if source.dialect.name != "sqlite" or target.dialect.name != "sqlite":
        return False
    if _file(source) is None or _file(target) is None or not key or not set(key) <= set(written):
        return False
    # The run's snapshot is the source connection's read transaction: in rollback-journal mode its
    # shared lock keeps every writer out until the run ends, so another connection reads the same
    # rows. In WAL mode a writer may commit meanwhile, and the copying connection, whose reads end
    # with each table, could read rows that the run's snapshot does not hold.
    raw: Any = source.connection.driver_connection
    if str(raw.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return False
    selected = {c.name: c for c in statement.selected_columns}
    if any(c not in selected or c not in table.c for c in written):
        return False
    return all(_passes_through(source, selected[c].type) and _passes_through(target, table.c[c].type) for c in written)


def _passes_through(conn: Connection, type_: Any) -> bool:
    """A type whose values SQLAlchemy hands over as the driver gives them, both ways. A REAL's
    float() on the way in changes nothing that the column's REAL affinity would not, nor does a
    BLOB's memoryview of the bytes."""
    impl = type_.dialect_impl(conn.dialect)
    if impl.result_processor(conn.dialect, None) is not None:
        return False
    return impl.bind_processor(conn.dialect) is None or isinstance(impl, sa.Float | sa.LargeBinary)


def _file(conn: Connection) -> str | None:
    """The file of the connection's main database (none for an in-memory or temporary one)."""
    raw: Any = conn.connection.driver_connection  # no SQLAlchemy transaction begins for a look
    files = {name: path for _, name, path in raw.execute("PRAGMA database_list")}
    return files.get("main") or None


@dataclass
class Unit:
    """A chunk committed in the target with its ledger mark."""

    rows: int
    last_key: tuple[Any, ...]
    checksum: str


@contextmanager
def attached(source: Connection, target: Connection, lock_timeout: float = 60.0) -> Iterator[Connection]:
    """The copying connection: memory as main, the source (read-only) and the target attached.
    Statements SQLAlchemy compiles for tables without a schema (the ledger's) go to the target."""
    source_path, target_path = _file(source), _file(target)
    assert source_path and target_path
    raw = sqlite3.connect(":memory:", timeout=lock_timeout, isolation_level=None, check_same_thread=False)
    try:
        raw.execute(f"ATTACH DATABASE ? AS {SOURCE}", (f"file:{quote(source_path)}?mode=ro",))
        raw.execute(f"ATTACH DATABASE ? AS {TARGET}", (target_path,))
        files = {name: path for _, name, path in raw.execute("PRAGMA database_list")}
        if files.get(SOURCE) != source_path:  # a build without URI names would open a file named "file:..."
            raise PermanentError(f"SQLite did not open the source read-only by its URI: {files.get(SOURCE)}")
        register(raw)
        engine = sa.create_engine("sqlite://", creator=lambda: raw, poolclass=sa.pool.StaticPool)
        try:
            with engine.connect() as conn:
                yield conn.execution_options(schema_translate_map={None: TARGET})
        finally:
            engine.dispose()
    finally:
        raw.close()


def copy_chunks(
    conn: Connection,
    statement: sa.Select,  # type: ignore[type-arg]
    table: sa.Table,
    written: list[str],
    key: tuple[str, ...],
    chunk_rows: int,
    mark: Any,
    staged: Callable[[int], None] = lambda rows: None,
) -> Generator[Unit, None, None]:
    """Copy the rows of `statement` into `table` of the target, `chunk_rows` at a time, each chunk
    committed with `mark(conn, rows, last_key, checksum)` (the ledger's mark) in its transaction.
    `staged(rows)` is told how many rows there are once they are staged, before the first chunk.

    A chunk's hashing (Python) runs while the chunk before it is written (SQLite, which lets go of
    the GIL meanwhile): on two cores the digest then costs little more than its SQL half."""
    quoted = conn.dialect.identifier_preparer.quote
    names = ", ".join(quoted(c) for c in written)
    wanted = statement.with_only_columns(*[c for c in statement.selected_columns if c.name in written])
    sql = literal_sql(wanted, conn.dialect)
    run = conn.exec_driver_sql  # errors then come as SQLAlchemy's, which the caller classifies
    run(f"DROP TABLE IF EXISTS temp.{ROWS}")
    # No declared types: the values are kept exactly as the source holds them, in key order by rowid.
    run(f"CREATE TEMP TABLE {ROWS} ({names})")
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="migrator-attach")
    try:
        run("BEGIN")
        run(f"INSERT INTO temp.{ROWS} ({', '.join(quoted(c.name) for c in wanted.selected_columns)}) {sql}")
        run("COMMIT")
        total = run(f"SELECT max(rowid) FROM temp.{ROWS}").scalar() or 0
        staged(total)
        row_text = spelled(quoted(c) for c in written)
        keys = ", ".join(quoted(k) for k in key)
        target = f"{TARGET}.{quoted(table.name)}"

        def read(start: int, end: int) -> tuple[str, tuple[Any, ...], str]:
            within = f"rowid > {start} AND rowid <= {end}"
            rows_json = run(f"SELECT json_group_array({row_text}) FROM temp.{ROWS} WHERE {within}").scalar_one()
            last_key = tuple(run(f"SELECT {keys} FROM temp.{ROWS} WHERE rowid = {end}").one())
            return within, last_key, rows_json

        def write(within: str, rows: int, last_key: tuple[Any, ...], checksum: str) -> Unit:
            run("BEGIN IMMEDIATE")
            try:
                run(f"INSERT INTO {target} ({names}) SELECT {names} FROM temp.{ROWS} WHERE {within}")
                mark(conn, rows, last_key, checksum)
                run("COMMIT")
            except BaseException:
                run("ROLLBACK")
                raise
            return Unit(rows, last_key, checksum)

        bounds = [(start, min(start + chunk_rows, total)) for start in range(0, total, chunk_rows)]
        if not bounds:
            return
        within, last_key, rows_json = read(*bounds[0])
        checksum = f"python:{_chunk_digest(rows_json)}"
        for number, (start, end) in enumerate(bounds):
            after = read(*bounds[number + 1]) if number + 1 < len(bounds) else None
            writing = writer.submit(write, within, end - start, last_key, checksum)
            if after is not None:
                within, last_key, rows_json = after
                checksum = f"python:{_chunk_digest(rows_json)}"  # while the chunk before is written
            yield writing.result()
    finally:
        writer.shutdown(wait=True)
        if conn.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
            run("ROLLBACK")
        run(f"DROP TABLE IF EXISTS temp.{ROWS}")


def ledger_mark(plan: str, run_id: str, table: str, first_chunk: int) -> Any:
    """`mark` for `copy_chunks`: the ledger's unit "table:NAME:N", N counting on from `first_chunk`."""
    chunk = first_chunk

    def mark(conn: Connection, rows: int, last_key: tuple[Any, ...], checksum: str) -> None:
        nonlocal chunk
        ledger.mark_done(conn, plan, run_id, f"table:{table}:{chunk}", rows, last_key, checksum)
        chunk += 1

    return mark


def _chunk_digest(rows_json: str) -> str:
    """The sum of the rows' hashes, of their text already spelled (a JSON array), as 16 hex digits."""
    return f"{hash_sum(json.loads(rows_json)):016x}"
