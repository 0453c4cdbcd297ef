"""The tables a target database holds, read as they are: their names, and their SQLAlchemy tables
reflected for the engine to write into, empty, drop or check. (The schema a run designs for the
target is target_schema.py's; the source's reflection is reflect.py's.)"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from migrator.stores.sql import qualified
from migrator.stores.sql.inheritance import mark_parents
from migrator.stores.sql.writer import delete_all


def table_names(conn: Connection) -> set[str]:
    """The target's tables, named as a plan names them (qualified.py)."""
    return qualified.table_names(conn)


def reflected(conn: Connection, names: Iterable[str]) -> dict[str, sa.Table]:
    """The named tables, in one MetaData: a table that another references is reflected once."""
    metadata = sa.MetaData()
    return {name: qualified.table(name, metadata, autoload_with=conn) for name in names}


def reflected_without(conn: Connection, names: Iterable[str], generated: dict[str, list[str]]) -> dict[str, sa.Table]:
    """The named tables, in one MetaData, without the columns `generated` lists per table (the ones
    the target computes itself, which the writers must not name), and with the database's ENUM
    columns read as plain strings. The tables without such columns are reflected together, a
    schema's at once (SQLAlchemy reads the catalog for all of them in one pass of queries, where a
    table at a time is a pass each: 0.1 s of a run's start on the benchmark's seven tables)."""
    metadata = sa.MetaData()
    names = list(names)
    whole: dict[str | None, list[str]] = {}
    for name in names:
        if not generated.get(name):
            schema, bare = qualified.split(name)
            whole.setdefault(schema, []).append(bare)
    for schema, bare_names in whole.items():
        metadata.reflect(bind=conn, schema=schema, only=bare_names)
    # A table the batch left out is reflected alone, as before: MetaData.reflect skips a name that
    # a table of another schema already has in the MetaData (billing.invoices after public's invoices).
    found = {name: metadata.tables[name] for name in names if not generated.get(name) and name in metadata.tables}
    mark_parents(conn, found.values())
    for table in found.values():
        _enums_as_strings(table)
    return {
        name: found[name] if name in found else _without(conn, metadata, name, generated.get(name, []))
        for name in names
    }


def all_but(conn: Connection, hidden: Collection[str]) -> dict[str, sa.Table]:
    """Every table of the target but the `hidden` ones (the ledger's), reflected."""
    metadata = sa.MetaData()
    qualified.reflect_all(conn, metadata, hidden.__contains__)
    return dict(metadata.tables)


def empty_tables(conn: Connection, names: list[str]) -> None:
    """Delete every row of the named tables, the last named first (writer.delete_all)."""
    delete_all(conn, list(reflected(conn, names).values()))


def drop_tables(conn: Connection, names: list[str]) -> None:
    """Drop the named tables, in the order their foreign keys between them allow."""
    metadata = sa.MetaData()
    tables = [qualified.table(name, metadata, autoload_with=conn) for name in names]
    metadata.drop_all(conn, tables=tables)


def _without(conn: Connection, metadata: sa.MetaData, name: str, generated: list[str]) -> sa.Table:
    columns = [c for c in qualified.columns(conn, name) if c not in generated]
    table = qualified.table(name, metadata, autoload_with=conn, include_columns=columns)
    _enums_as_strings(table)
    return table


def _enums_as_strings(table: sa.Table) -> None:
    for column in table.columns:
        if isinstance(column.type, sa.Enum):
            # The database holds the list and checks it; SQLAlchemy's copy of it may be wrong
            # (MariaDB's catalog is utf8mb3: a value with an emoji reads back with a "?").
            column.type = sa.String()
