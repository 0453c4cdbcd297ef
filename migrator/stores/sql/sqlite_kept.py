"""Kept sets evaluated once, into TEMP tables of a SQLite connection (the dry run's counts).

A kept set is a CTE (subset_sql.py), and a CTE is evaluated by every statement that reads it,
along with every CTE it is defined from: counting comments re-ran kept_users, kept_posts and the
recursion of kept_comments, for the subset and again for each relation's dangling rows. Stored in
a TEMP table as soon as it is defined, a kept set is computed once, and the kept sets after it
(its children's) are defined from the table. A TEMP table lives in the connection's own temporary
database, which is writable when the main one is opened read-only, and goes away with the
connection.

Each column is declared with its source column's declared type, so that it has the affinity the
CTE's column had and every comparison with it converts values as before: the counts are the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from migrator.plan.model import DataSection
from migrator.stores.sql.reflect import ReflectedSource
from migrator.stores.sql.subset_sql import SubsetSQL
from migrator.subset.classify import Classification

TEMP_PREFIX = "m__"


class TempKeptSets:
    """A `KeptStore` (subset_sql.py) on one SQLite connection; `drop()` removes what it made."""

    def __init__(self, conn: Connection):
        self._conn = conn
        self._quote = conn.dialect.identifier_preparer.quote
        self._made: list[str] = []

    def __call__(self, table: str, name: str, kept: sa.CTE, indexed: list[tuple[str, ...]]) -> sa.Table:
        temp_name = TEMP_PREFIX + name
        declared = self._declared_types(table)
        columns = [c.name for c in kept.c]
        q = self._quote
        definitions = ", ".join(f"{q(c)} {declared.get(c[len(TEMP_PREFIX) :], '')}".rstrip() for c in columns)
        self._conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{q(temp_name)}")
        self._conn.exec_driver_sql(f"CREATE TEMP TABLE {q(temp_name)} ({definitions})")
        self._made.append(temp_name)
        stored = sa.Table(temp_name, sa.MetaData(), *[sa.Column(c, kept.c[c].type) for c in columns], schema="temp")
        self._conn.execute(sa.insert(stored).from_select(columns, sa.select(*kept.c)))
        for number, names in enumerate(indexed):
            index = q(f"{temp_name}_{number}")
            listed = ", ".join(q(TEMP_PREFIX + n) for n in names)
            self._conn.exec_driver_sql(f"CREATE INDEX temp.{index} ON {q(temp_name)} ({listed})")
        return stored

    def drop(self) -> None:
        for temp_name in reversed(self._made):
            self._conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{self._quote(temp_name)}")
        self._made.clear()

    def _declared_types(self, table: str) -> dict[str, str]:
        """The source columns' declared types, as written in the schema (not SQLAlchemy's reading
        of them, which may name another affinity)."""
        rows = self._conn.exec_driver_sql(f"PRAGMA main.table_info({self._quote(table)})").all()
        return {str(row[1]): str(row[2] or "") for row in rows}


@contextmanager
def evaluated_once(
    source: ReflectedSource, classes: Classification, data: DataSection, conn: Connection
) -> Iterator[SubsetSQL]:
    """The subset's queries with every kept set stored once in a TEMP table of `conn` (SQLite),
    for as long as the block runs on that connection. The sets and rows are those of the CTEs."""
    store = TempKeptSets(conn)
    try:
        yield SubsetSQL(source, classes, data, conn, store=store)
    finally:
        store.drop()
