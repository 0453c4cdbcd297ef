"""The source against the type map (types.py): its columns read as the map says, and the copied
columns holding values their target type cannot hold, found before anything is written."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeEngine

from migrator.stores.sql import mariadb_stored
from migrator.stores.sql.carried import Stored
from migrator.stores.sql.types import mapping, sqlite_name


@dataclass(frozen=True)
class Refusal:
    table: str
    column: str
    type_name: str
    reason: str


def read_as_stored(conn: Connection, metadata: sa.MetaData, target: str) -> None:
    """Across dialects, each source column is read as `Stored`: as the driver hands the value over,
    or as the source's text of it where the map says so. Within one dialect, MariaDB's columns are
    read as MariaDB stores them (mariadb_stored.py); PostgreSQL's and SQLite's as they are (their
    copies take the stored form by their own paths: COPY text, SQLite inside SQLite)."""
    source = conn.dialect.name
    if source == target:
        if source == "mysql":
            mariadb_stored.read_as_stored(metadata)
        return
    json_columns = _mariadb_json_columns(conn) if source == "mysql" else set()
    for table in metadata.tables.values():
        for column in table.columns:
            declared = mysql.JSON() if (table.name, column.name) in json_columns else column.type
            column.type = Stored(declared, mapping(declared, source, target).read)


def refused_columns(
    conn: Connection, metadata: sa.MetaData, columns: dict[str, list[str]], target: str
) -> list[Refusal]:
    """The copied columns holding values their target type cannot hold (a NaN for MariaDB, a zero
    date for PostgreSQL, a text in SQLite's INTEGER column for any other dialect): read from the
    data, one query per table with such columns."""
    source = conn.dialect.name
    if source == target:
        return []
    preparer = conn.dialect.identifier_preparer
    refusals = []
    for name, names in columns.items():
        table = metadata.tables[name]
        declared = {c: _declared(table.c[c].type) for c in names}
        mappings = {c: mapping(declared[c], source, target) for c in names}
        probed = [c for c in names if mappings[c].unfit]
        if not probed:
            continue
        tests = ", ".join(
            f"max(CASE WHEN {mappings[c].unfit.format(c=preparer.quote(c))} THEN 1 ELSE 0 END)"  # type: ignore[union-attr]
            for c in probed
        )
        row = conn.exec_driver_sql(f"SELECT {tests} FROM {preparer.format_table(table)}").one()
        for column, found in zip(probed, row, strict=True):
            if found:
                type_name = _source_name(declared[column], source)
                into = _target_name(mappings[column].target, target)
                reason = (
                    f"{name}.{column} ({type_name}) holds {mappings[column].unfit_values}, "
                    f"which the target's {into} cannot hold"
                )
                refusals.append(Refusal(name, column, type_name, reason))
    return refusals


def _declared(type_: TypeEngine) -> TypeEngine:  # type: ignore[type-arg]
    return type_.declared if isinstance(type_, Stored) else type_


def _source_name(type_: TypeEngine, source: str) -> str:  # type: ignore[type-arg]
    if source == "sqlite":
        return sqlite_name(type_) or "no declared type"
    return _target_name(type_, source)


def _target_name(type_: TypeEngine, target: str) -> str:  # type: ignore[type-arg]
    dialect = {"postgresql": postgresql.dialect(), "mysql": mysql.dialect()}.get(target, sqlite.dialect())
    try:
        return type_.compile(dialect=dialect)
    except Exception:  # a type only its own dialect compiles
        return type(type_).__name__.upper()


def _mariadb_json_columns(conn: Connection) -> set[tuple[str, str]]:
    """MariaDB's JSON is a LONGTEXT with a json_valid check; SQLAlchemy reflects the LONGTEXT."""
    rows = conn.exec_driver_sql(
        "SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS"
        " WHERE CONSTRAINT_SCHEMA = DATABASE() AND CHECK_CLAUSE LIKE 'json\\_valid(%%'"
    ).all()
    found = set()
    for table, clause in rows:
        match = re.fullmatch(r"json_valid\(`(.+)`\)", str(clause))
        if match:
            found.add((str(table), match[1]))
    return found
