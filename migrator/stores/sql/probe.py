"""Ask the source database whether it accepts a plan's expression, without reading a row.

`SELECT 1 FROM t WHERE (<expression>) LIMIT 0` is parsed, its names resolved and its types checked by
the database itself, as in the run, and then returns at once: a constant LIMIT 0 stops PostgreSQL's,
SQLite's and MySQL's executors before the first row is read. This catches what parsing the
expression ourselves cannot: a function the database lacks, a quoted name in the wrong case, an
operator on the wrong types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from migrator.stores.sql.errors import MISSING_PRIVILEGE, classify, driver_reason, is_transient, kind_of
from migrator.stores.sql.reflect import ReflectedSource
from migrator.stores.sql.subset_sql import user_sql

Rejects = Callable[[str, str], str | None]


@contextmanager
def expression_probe(engine: Engine, source: ReflectedSource) -> Iterator[Rejects]:
    """A function (table, expression) -> None if the database accepts the expression as a condition
    on that table, else its reason. One connection of its own, so that a rejected statement cannot
    abort the snapshot the run reads in (PostgreSQL ends a transaction at its first error)."""
    with engine.connect() as conn:

        def rejects(table: str, expression: str) -> str | None:
            condition = user_sql(expression)
            query: sa.Select[tuple[int]] = sa.select(sa.literal_column("1")).select_from(source.table(table))
            query = query.where(condition)
            try:
                conn.execute(query.limit(0)).all()
            except sa.exc.DBAPIError as exc:
                if is_transient(exc):
                    raise classify(exc, "checking the plan's expressions on the source") from None
                return _reason(exc)
            finally:
                conn.rollback()
            return None

        yield rejects


def unreadable_tables(engine: Engine, source: ReflectedSource, columns: dict[str, list[str]]) -> list[str]:
    """The tables of `columns` whose columns the source's user may not read, each with the database's
    reason. Asked before anything is written: a grant missing on one table otherwise surfaced only
    when the run reached it, with the target half written. A LIMIT 0 reads no row, but PostgreSQL and
    MySQL check privileges (table and column) before they execute."""
    refused = []
    with engine.connect() as conn:
        for table, names in columns.items():
            query = sa.select(*[source.table(table).c[name] for name in names]).limit(0)
            try:
                conn.execute(query).all()
            except sa.exc.DBAPIError as exc:
                if kind_of(exc) != MISSING_PRIVILEGE:
                    raise classify(exc, f"checking that {table} can be read") from None
                refused.append(f"{table} ({_reason(exc)})")
            finally:
                conn.rollback()
    return refused


def _reason(exc: sa.exc.DBAPIError) -> str:
    """The database's own words: MySQL's drivers give (number, text), and the text alone is shown."""
    args: tuple[object, ...] = tuple(getattr(exc.orig, "args", ()))
    if len(args) >= 2 and isinstance(args[0], int):
        return str(args[1])
    return driver_reason(exc)
