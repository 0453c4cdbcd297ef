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
from migrator.stores.sql.types import Mapping, mapping, sqlite_name


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
    checks = TypeChecks(conn, metadata, columns, target)
    preparer = conn.dialect.identifier_preparer
    found: dict[str, list[object]] = {}
    for name in checks.tables:
        statement = f"SELECT {', '.join(checks.tests(name))} FROM {preparer.format_table(metadata.tables[name])}"
        found[name] = list(conn.exec_driver_sql(statement).one())
    return checks.refusals(found)


class TypeChecks:
    """Per copied table, its columns whose values the target type may not hold, each with the test
    (`max(CASE WHEN unfit THEN 1 ELSE 0 END)`) that finds such a value in a scan of every row of the
    table: in a query of their own (`refused_columns`), or among the counts of the dry run's one scan
    of the table (engine/dry_run.py), which then needs no scan of its own for them."""

    def __init__(self, conn: Connection, metadata: sa.MetaData, columns: dict[str, list[str]], target: str):
        self._source, self._target = conn.dialect.name, target
        self._dialect = conn.dialect
        self._metadata = metadata
        self._probed: dict[str, list[tuple[str, TypeEngine, Mapping]]] = {}  # type: ignore[type-arg]
        if self._source == target:
            return
        for name, names in columns.items():
            table = metadata.tables[name]
            declared = {c: _declared(table.c[c].type) for c in names}
            mappings = {c: mapping(declared[c], self._source, target) for c in names}
            probed = [(c, declared[c], mappings[c]) for c in names if mappings[c].unfit]
            if probed:
                self._probed[name] = probed

    @property
    def tables(self) -> list[str]:
        """The tables with a column to test, in the order of `columns`."""
        return list(self._probed)

    def tests(self, name: str, *, qualified: bool = False) -> list[str]:
        """The table's tests, as SQL. `qualified`: each column named with its table, for a scan that
        joins other relations to it."""
        preparer = self._dialect.identifier_preparer
        table = self._metadata.tables[name]
        prefix = f"{preparer.format_table(table)}." if qualified else ""
        return [
            f"max(CASE WHEN {m.unfit.format(c=prefix + preparer.quote(c))} THEN 1 ELSE 0 END)"  # type: ignore[union-attr]
            for c, _, m in self._probed.get(name, [])
        ]

    def refusals(self, found: dict[str, list[object]]) -> list[Refusal]:
        """The refusals, given each tested table's test values (in the order of `tests`)."""
        refusals = []
        for name, probed in self._probed.items():
            for (column, declared, mapped), value in zip(probed, found[name], strict=True):
                if value:
                    type_name = _source_name(declared, self._source)
                    into = _target_name(mapped.target, self._target)
                    reason = (
                        f"{name}.{column} ({type_name}) holds {mapped.unfit_values}, "
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
