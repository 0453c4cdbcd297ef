"""The target's schema made from the source database's own DDL, when both sides are one dialect.

SQLAlchemy's reflection sees columns, keys and plain indexes; a production schema also has domains,
enums, partitions, exclusion constraints, views, triggers. Within one dialect the database can say
all of it in its own words (pg_dump, SHOW CREATE, sqlite_master), so a builder per dialect turns
that into SQL to run before the first row and after the last (issue 12, must-have 3).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from migrator.stores.sql import mysql_native, pg_native, sqlite_native
from migrator.stores.sql.qualified import sql_name


@dataclass
class NativeSchema:
    before_load: list[str]  # types, domains, sequences, schemas, tables (and primary keys, but PostgreSQL's)
    after_load: list[str]  # indexes, constraints, foreign keys, views, triggers, comments, counters
    left_out: list[str]  # one line per source object not recreated, and why
    generated: dict[str, list[str]] = field(default_factory=dict)  # per table: columns the copy must not write
    # PostgreSQL: the primary keys, run before the load when it upserts (`existing: merge` needs them)
    # and first after it otherwise: a table loads a third faster without its key's index, which is
    # then built once, from sorted rows (as pg_restore does).
    keys: list[str] = field(default_factory=list)


# (source connection in the run's snapshot, copied table names, dropped columns per table)
NativeBuilder = Callable[[Connection, list[str], dict[str, set[str]]], NativeSchema]
LeftOutLister = Callable[[Connection, list[str], dict[str, set[str]]], list[str]]

# One line per dialect. A builder module imports NativeSchema inside its function (this module
# imports the builders).
BUILDERS: dict[str, NativeBuilder] = {
    "postgresql": pg_native.native_schema,
    "mysql": mysql_native.native_schema,
    "sqlite": sqlite_native.native_schema,
}
# Where a builder is slow (PostgreSQL runs pg_dump), what `migrator plan` shows is found without it.
LISTERS: dict[str, LeftOutLister] = {
    "postgresql": pg_native.left_out,
}

# PostgreSQL's "already exists" (duplicate object, table, function, schema, alias): a statement
# that finds its object there, made by an earlier attempt, is skipped.
_ALREADY_THERE = {"42710", "42P07", "42723", "42P06", "42712"}


def builder_for(source_dialect: str, target_dialect: str, source: Connection | None = None) -> NativeBuilder | None:
    """The builder for a copy within one dialect. MySQL servers (not MariaDB) lack the IF NOT EXISTS
    and OR REPLACE forms the MariaDB builder's re-runnable statements need: they keep SQLAlchemy's."""
    if source_dialect != target_dialect:
        return None
    if source_dialect == "mysql" and source is not None and not mysql_native.is_mariadb(source):
        return None
    return BUILDERS.get(source_dialect)


def left_out(dialect: str, conn: Connection, tables: list[str], dropped: dict[str, set[str]]) -> list[str]:
    lister = LISTERS.get(dialect)
    if lister is not None:
        return lister(conn, tables, dropped)
    return BUILDERS[dialect](conn, tables, dropped).left_out


def execute_all(conn: Connection, statements: list[str], *, together: bool = False) -> None:
    """Run the statements in the caller's transaction. In PostgreSQL each runs under a savepoint, and
    one whose object exists already (a type kept by `--restart`, which drops only tables) is skipped.
    `together`: first tried all at once (`_all_at_once`); for cheap statements only (DDL that makes
    empty objects), as a failure runs again the ones before it."""
    if together and conn.dialect.name == "postgresql" and _all_at_once(conn, statements):
        return
    for statement in statements:
        if conn.dialect.name != "postgresql":
            # No parameters: PyMySQL would read a % in a comment or a trigger's body as one.
            conn.exec_driver_sql(statement, execution_options={"no_parameters": True})
            continue
        savepoint = conn.begin_nested()
        try:
            conn.exec_driver_sql(statement)
        except sa.exc.DBAPIError as error:
            savepoint.rollback()
            if not _already_there(statement, error):
                raise
        else:
            savepoint.commit()


def _all_at_once(conn: Connection, statements: list[str]) -> bool:
    """The statements sent together, under one savepoint: True when every one ran. Where none of
    their objects exists yet (a first run) they all do, in one round trip, where a savepoint per
    statement took three (the benchmark's schema: 54 round trips, 20 ms of a 0.3 s start). Else
    nothing of them is left, and `execute_all` runs them one by one, skipping what is there."""
    if len(statements) < 2:
        return False
    savepoint = conn.begin_nested()
    try:
        # Without parameters, psycopg sends the text as one simple query, which may hold many
        # statements; each `;` on a line of its own, where no statement's last-line comment hides it.
        conn.exec_driver_sql("\n;\n".join(statements), execution_options={"no_parameters": True})
    except sa.exc.DBAPIError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


_INDEX = re.compile(r"CREATE (?:UNIQUE )?INDEX \S+ ON (?:ONLY )?(\S+) ")
_KEY = re.compile(r"ALTER TABLE (?:ONLY )?(\S+)\s+ADD CONSTRAINT \S+ (?:PRIMARY KEY|UNIQUE) ")
_FOREIGN_KEY = re.compile(r"ALTER TABLE (?:ONLY )?(\S+)\s+ADD CONSTRAINT \S+ FOREIGN KEY \([^)]*\) REFERENCES (\S+?)\(")


def indexes_per_table(statements: list[str], tables: set[str]) -> dict[str, list[str]]:
    """PostgreSQL's after-load statements that build one of `tables`' indexes, unique keys or primary
    key (qualified names, as pg_dump writes them), per table: a table's need nothing but its rows,
    so different tables' can be built at once, each on a connection of its own."""
    found: dict[str, list[str]] = {}
    for statement in statements:
        match = _INDEX.match(statement) or _KEY.match(statement)
        if match and match.group(1) in tables:
            found.setdefault(match.group(1), []).append(statement)
    return found


def add_if_possible(conn: Connection, statement: str) -> bool:
    """Run one statement in a transaction of its own; on any database error roll it back and say so
    (False): whoever runs it again later reports the error, if it is one."""
    try:
        with conn.begin():
            conn.exec_driver_sql(statement)
    except sa.exc.DBAPIError:
        return False
    return True


def foreign_keys_of(statements: list[str]) -> list[tuple[str, str, str]]:
    """(table, referenced table, statement) of each PostgreSQL after-load statement that adds a
    foreign key (qualified names, as pg_dump writes them)."""
    found = []
    for statement in statements:
        match = _FOREIGN_KEY.match(statement)
        if match:
            found.append((match.group(1), match.group(2), statement))
    return found


def drop_created(conn: Connection, tables: list[str]) -> None:
    """`--restart`: drop the tables a native schema made, with what the source's DDL made on them
    (in PostgreSQL: CASCADE takes the views, triggers, foreign keys and owned sequences along)."""
    preparer = conn.dialect.identifier_preparer
    names = ", ".join(sql_name(conn, t) for t in tables)
    cascade = " CASCADE" if conn.dialect.name == "postgresql" else ""
    if conn.dialect.name == "sqlite":
        for table in reversed(tables):  # parents first in `tables`: children go first
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {preparer.quote(table)}")
        return
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {names}{cascade}")


def _already_there(statement: str, error: sa.exc.DBAPIError) -> bool:
    """The statement's object exists: made by an earlier attempt. A primary key added again fails
    as a second primary key (42P16, which other table definitions' errors share)."""
    state = _sqlstate(error)
    return state in _ALREADY_THERE or (state == "42P16" and " PRIMARY KEY " in statement)


def _sqlstate(error: sa.exc.DBAPIError) -> str | None:
    orig = error.orig
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
