"""`migrator init`'s questions to a source database: its schema, as plans read it (reflect.py), and
small samples of its values, read in one snapshot of a read-only connection. Every query is
bounded (LIMIT), so a survey of a large database costs a few index or sequential reads per column
asked about, never a scan of the whole table beyond what the database needs for a LIMIT."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from migrator.stores.sql import connect
from migrator.stores.sql.errors import translated
from migrator.stores.sql.reflect import ReflectedSource, reflect
from migrator.stores.sql.snapshot import snapshot, table_sizes
from migrator.subset.schema import Schema

# A DISTINCT over a whole table reads all of it before its LIMIT applies (a hash aggregate cannot
# stop early): the distinct values are taken from the first rows only, this many per value wanted.
ROWS_PER_VALUE = 10
ESTIMATE_ABOVE = 1_000_000  # rows from which a table's size is PostgreSQL's estimate, not a count


@dataclass
class Survey:
    """One open, read-only look at the source."""

    conn: Connection
    source: ReflectedSource
    database: str  # the database's name (a SQLite file's stem)
    dialect: str  # sqlite | postgresql | mysql
    _sizes: dict[str, float] | None = None

    @property
    def schema(self) -> Schema:
        return self.source.schema

    def row_count(self, table: str) -> tuple[int, bool]:
        """(rows, estimated): PostgreSQL's planner estimate for a table it puts over a million rows
        (counting one of a billion would take minutes), an exact count otherwise."""
        if self._sizes is None:
            self._sizes = table_sizes(self.conn)
        estimate = self._sizes.get(table, 0.0)
        if estimate >= ESTIMATE_ABOVE:
            return int(estimate), True
        query = sa.select(sa.func.count()).select_from(self.source.table(table))
        return int(self._guarded(lambda: self.conn.execute(query).scalar_one()) or 0), False

    def frequent_values(self, table: str, column: str, sample: int) -> list[tuple[Any, int]]:
        """The commonest non-null values among the first `sample` rows, commonest first."""
        col = self.source.table(table).c[column]
        rows = sa.select(col.label("v")).where(col.is_not(None)).limit(sample).subquery()
        query = sa.select(rows.c.v, sa.func.count()).group_by(rows.c.v).order_by(sa.func.count().desc(), rows.c.v)
        return [(value, int(n)) for value, n in self._guarded(lambda: list(self.conn.execute(query))) or []]

    def text_sample(self, table: str, column: str, sample: int) -> list[str]:
        """Up to `sample` distinct non-null values of the column, as text, from its first rows."""
        rows = _first_rows(self.source.table(table).c[column], sample * ROWS_PER_VALUE)
        query = sa.select(rows.c.v).distinct().limit(sample)
        return [str(value) for (value,) in self._guarded(lambda: list(self.conn.execute(query))) or []]

    def unresolved(self, child: str, column: str, parent: str, key: str, sample: int) -> tuple[int, int] | None:
        """(distinct values sampled, how many of them no `parent.key` holds): up to `sample` distinct
        non-null values of `child.column`, from its first rows, anti-joined with the parent's key.
        None when the database cannot compare the two columns (their types differ)."""
        keys = self.source.table(parent).c[key]
        rows = _first_rows(self.source.table(child).c[column], sample * ROWS_PER_VALUE)
        sampled = sa.select(rows.c.v).distinct().limit(sample).subquery()
        query = sa.select(
            sa.func.count(),
            sa.func.count(sa.case((~sa.exists().where(keys == sampled.c.v), 1))),
        ).select_from(sampled)
        counted = self._guarded(lambda: self.conn.execute(query).one())
        return None if counted is None else (int(counted[0]), int(counted[1]))

    def _guarded(self, read: Any) -> Any:
        """One read inside a savepoint: a query the database rejects (types it cannot compare) leaves
        the snapshot usable for the next one, and answers None. SQLite compares any two values, and
        its snapshot is a bare BEGIN that SQLAlchemy's savepoints do not know of: read directly."""
        if self.dialect == "sqlite":
            try:
                return read()
            except sa.exc.DBAPIError:
                return None
        savepoint = self.conn.begin_nested()
        try:
            result = read()
        except sa.exc.DBAPIError:
            savepoint.rollback()
            return None
        savepoint.commit()
        return result


def _first_rows(column: sa.Column, rows: int) -> sa.Subquery:  # type: ignore[type-arg]
    """The column's first `rows` non-null values, in whatever order the database reads them, as `v`."""
    return sa.select(column.label("v")).where(column.is_not(None)).limit(rows).subquery()


@contextmanager
def surveyed(url: str) -> Iterator[Survey]:
    """The source at `url` (a relative SQLite path taken from the current folder), opened read-only."""
    parsed = connect.parse_url(url, Path.cwd())
    engine = connect.open_source(parsed)
    try:
        with translated("reading the source"), snapshot(engine) as conn:
            name = Path(parsed.database or "").stem if connect.backend(parsed) == "sqlite" else parsed.database
            yield Survey(conn, reflect(conn), name or "database", connect.backend(parsed))
    finally:
        engine.dispose()


def has_password(url: str) -> bool:
    """Whether the URL carries a password (in its userinfo or as a `password=` parameter)."""
    try:
        parsed = sa.engine.make_url(url)
    except Exception:
        return False
    return parsed.password is not None or "password" in parsed.query
