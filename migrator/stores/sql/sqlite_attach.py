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
by U+001F; reals and blobs through `canonical` itself), hands a chunk's rows to Python as one JSON
array, and Python hashes them. So verification, receipts and resume see the same units either way.

Only where that is exactly what the row path writes (see `attach_copy_applies`): no transform, no
upsert, a key, and no column whose type converts values on the way (DATETIME, NUMERIC, BOOLEAN...).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from migrator.stores.sql import ledger
from migrator.verify.digest import MASK, canonical

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
    # rows. In WAL mode a writer may commit meanwhile, and only that one transaction would not see it.
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
            raise RuntimeError(f"SQLite did not open the source read-only by its URI: {files.get(SOURCE)}")
        raw.create_function("m__canonical", 1, canonical, deterministic=True)
        raw.create_function("m__digest", 1, _chunk_digest, deterministic=True)
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
) -> Generator[Unit, None, None]:
    """Copy the rows of `statement` into `table` of the target, `chunk_rows` at a time, each chunk
    committed with `mark(conn, rows, last_key, checksum)` (the ledger's mark) in its transaction."""
    quoted = conn.dialect.identifier_preparer.quote
    names = ", ".join(quoted(c) for c in written)
    wanted = statement.with_only_columns(*[c for c in statement.selected_columns if c.name in written])
    sql = str(wanted.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    run = conn.exec_driver_sql  # errors then come as SQLAlchemy's, which the caller classifies
    run(f"DROP TABLE IF EXISTS temp.{ROWS}")
    # No declared types: the values are kept exactly as the source holds them, in key order by rowid.
    run(f"CREATE TEMP TABLE {ROWS} ({names})")
    try:
        run("BEGIN")
        run(f"INSERT INTO temp.{ROWS} ({', '.join(quoted(c.name) for c in wanted.selected_columns)}) {sql}")
        run("COMMIT")
        total = run(f"SELECT max(rowid) FROM temp.{ROWS}").scalar() or 0
        spelled = " || char(31) || ".join(_spelled(quoted(c)) for c in written)
        keys = ", ".join(quoted(k) for k in key)
        target = f"{TARGET}.{quoted(table.name)}"
        for start in range(0, total, chunk_rows):
            end = min(start + chunk_rows, total)
            within = f"rowid > {start} AND rowid <= {end}"
            rows, checksum = run(
                f"SELECT count(*), m__digest(json_group_array({spelled})) FROM temp.{ROWS} WHERE {within}"
            ).one()
            last_key = tuple(run(f"SELECT {keys} FROM temp.{ROWS} WHERE rowid = {end}").one())
            run("BEGIN IMMEDIATE")
            try:
                run(f"INSERT INTO {target} ({names}) SELECT {names} FROM temp.{ROWS} WHERE {within}")
                mark(conn, rows, last_key, f"python:{checksum}")
                run("COMMIT")
            except BaseException:
                run("ROLLBACK")
                raise
            yield Unit(rows, last_key, f"python:{checksum}")
    finally:
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


def _spelled(column: str) -> str:
    """A value as `canonical` spells it; SQLite's own text of an integer or a text is the same."""
    special = f"typeof({column}) IN ('real', 'blob')"
    return f"CASE WHEN {special} THEN m__canonical({column}) ELSE coalesce({column}, char(0)) END"


def _chunk_digest(rows_json: str) -> str:
    """The sum of the rows' hashes (`row_hash`, of their text already joined), as 16 hex digits."""
    blake2b, from_bytes = hashlib.blake2b, int.from_bytes
    total = sum(from_bytes(blake2b(text.encode(), digest_size=8).digest(), "big") for text in json.loads(rows_json))
    return f"{total & MASK:016x}"
