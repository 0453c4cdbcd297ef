"""Writing rows into target tables: plain bulk inserts, or upserts for `existing: merge`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection

from migrator.stores.sql.qualified import split


def write_rows(conn: Connection, table: sa.Table, rows: list[dict[str, Any]], *, merge: bool) -> None:
    if not rows:
        return
    if not merge:
        conn.execute(table.insert(), rows)  # executemany; SQLAlchemy batches it as multi-row VALUES
        return
    conn.execute(_upsert(conn.dialect.name, table, list(rows[0])), rows)


def insert_tuples(conn: Connection, table: sa.Table, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """A plain bulk insert of value tuples through the driver's executemany, each value passed
    through its column type's bind processing for this dialect (a datetime becomes SQLite's text),
    as SQLAlchemy would, but once per column rather than once per row and parameter."""
    if not rows:
        return
    processors = [table.c[c].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for c in columns]
    if any(processors):
        rows = [tuple(_bound(processors, row)) for row in rows]
    insert_bound(conn, table, columns, rows)


def insert_bound(conn: Connection, table: sa.Table, columns: list[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain bulk insert of rows whose values are already what the driver takes (bind processing
    done), through the driver's executemany: one prepared INSERT for the whole batch."""
    if not rows:
        return
    preparer = conn.dialect.identifier_preparer
    names = ", ".join(preparer.quote(c) for c in columns)
    marks = ", ".join("?" for _ in columns) if conn.dialect.paramstyle == "qmark" else ", ".join("%s" for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {preparer.format_table(table)} ({names}) VALUES ({marks})", rows)


def insert_json(
    conn: Connection,
    table: sa.Table,
    columns: list[str],
    rows_json: str,
    values: list[str],
    functions: dict[str, Callable[[Any], Any]],
) -> None:
    """SQLite: rows given as one JSON array of arrays of text or null, unpacked by SQLite itself
    (json_each); `values` is the SQL taking each column's value out of a row (`value`), `functions`
    the Python functions it calls. Each value is stored as a bound text would be (the column's
    affinity applies to it). One statement, one step: Python's sqlite3 gives up the GIL once for the
    whole chunk, where executemany takes it back after every row, so that another thread can parse
    the next chunk meanwhile."""
    raw = conn.connection.driver_connection
    for name, function in functions.items():
        raw.create_function(name, 1, function, deterministic=True)  # type: ignore[union-attr]
    preparer = conn.dialect.identifier_preparer
    names = ", ".join(preparer.quote(c) for c in columns)
    sql = f"INSERT INTO {preparer.format_table(table)} ({names}) SELECT {', '.join(values)} FROM json_each(?)"
    conn.exec_driver_sql(sql, (rows_json,))


def _bound(processors: list[Any], row: tuple[Any, ...]) -> Iterator[Any]:
    for process, value in zip(processors, row, strict=True):
        yield value if process is None or value is None else process(value)


def _upsert(dialect: str, table: sa.Table, columns: list[str]) -> Any:
    keys = [c.name for c in table.primary_key.columns]
    if not keys:
        raise ValueError(f"table {table.name} has no primary key to merge on")
    others = [c for c in columns if c not in keys]
    if dialect == "mysql":
        statement = mysql.insert(table)
        if not others:
            return statement.prefix_with("IGNORE")
        return statement.on_duplicate_key_update({c: statement.inserted[c] for c in others})
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table)
    if not others:
        return statement.on_conflict_do_nothing(index_elements=keys)
    return statement.on_conflict_do_update(index_elements=keys, set_={c: statement.excluded[c] for c in others})


def delete_all(conn: Connection, tables: list[sa.Table]) -> None:
    """Empty tables, children first, for `existing: truncate`. MySQL checks a self-reference row by
    row even within one DELETE, so there the checks are off for the statements."""
    if conn.dialect.name == "mysql":
        conn.exec_driver_sql("SET SESSION FOREIGN_KEY_CHECKS = 0")
    for table in reversed(tables):
        conn.execute(sa.delete(table))
    if conn.dialect.name == "mysql":
        conn.exec_driver_sql("SET SESSION FOREIGN_KEY_CHECKS = 1")


def count_rows(conn: Connection, name: str) -> int:
    schema, bare = split(name)
    return int(conn.execute(sa.select(sa.func.count()).select_from(sa.table(bare, schema=schema))).scalar_one())


def update_rows(
    conn: Connection, table: sa.Table, keys: list[str], columns: list[str], rows: list[dict[str, Any]]
) -> None:
    """Set `columns` of the rows identified by `keys`: one executemany UPDATE."""
    if not rows:
        return
    statement = (
        sa.update(table)
        .where(*[table.c[k] == sa.bindparam(f"k_{k}") for k in keys])
        .values({c: sa.bindparam(f"v_{c}") for c in columns})
    )
    params = [{**{f"k_{k}": r[k] for k in keys}, **{f"v_{c}": r[c] for c in columns}} for r in rows]
    conn.execute(statement, params)
