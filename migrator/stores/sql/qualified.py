"""How a plan names a table in a database with more than one schema (PostgreSQL's namespaces).

A table in the connection's current schema (`public`, as a rule) is named bare, `users`; a table in
any other schema is named `schema.table`, `billing.invoices`: the key SQLAlchemy's MetaData gives
it, so that `metadata.tables[name]` finds either. SQLite and MySQL have one schema per connection
here, and their names stay bare.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from migrator.stores.sql.inheritance import mark_parents

# Schemas of the server, never of the application: the catalog, temporary and TOAST namespaces.
_SYSTEM = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'"


def split(name: str) -> tuple[str | None, str]:
    """(schema, table) of a plan's table name; schema None for the current schema."""
    schema, dot, table = name.partition(".")
    return (schema, table) if dot else (None, name)


def plan_name(schema: str, table: str, current: str) -> str:
    return table if schema == current else f"{schema}.{table}"


def sql_name(conn: Connection, name: str) -> str:
    """The table as SQL: each part quoted as the dialect needs."""
    preparer = conn.dialect.identifier_preparer
    schema, table = split(name)
    return preparer.quote(table) if schema is None else f"{preparer.quote_schema(schema)}.{preparer.quote(table)}"


def other_schemas(conn: Connection) -> list[str]:
    """PostgreSQL: the application's schemas besides the current one, whose tables a plan names
    `schema.table`. Schemas an extension made are its own (as its tables are), not the application's."""
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.exec_driver_sql(
        f"""
        SELECT n.nspname FROM pg_namespace n
        WHERE {_SYSTEM} AND n.nspname <> current_schema()
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                          AND d.objid = n.oid AND d.deptype = 'e')
        ORDER BY 1
        """
    )
    return [str(name) for (name,) in rows]


def reflect_all(conn: Connection, metadata: sa.MetaData, hidden: Callable[[str], bool]) -> None:
    """Every table of every application schema into `metadata`, but those `hidden(plan name)` says;
    the parents of inheriting tables marked to be read with ONLY (inheritance.py)."""
    metadata.reflect(bind=conn, only=lambda name, _meta: not hidden(name))
    for schema in other_schemas(conn):
        metadata.reflect(bind=conn, schema=schema, only=_shown(schema, hidden))
    mark_parents(conn, metadata.tables.values())


def _shown(schema: str, hidden: Callable[[str], bool]) -> Callable[[str, sa.MetaData], bool]:
    return lambda name, _meta: not hidden(f"{schema}.{name}")


def table_names(conn: Connection) -> set[str]:
    """The database's tables, as a plan names them."""
    inspector = sa.inspect(conn)
    names = set(inspector.get_table_names())
    for schema in other_schemas(conn):
        names |= {f"{schema}.{name}" for name in inspector.get_table_names(schema=schema)}
    return names


def table(
    name: str, metadata: sa.MetaData, autoload_with: Connection, include_columns: list[str] | None = None
) -> sa.Table:
    """The named table, reflected into `metadata` (marked as reflect_all marks them)."""
    schema, bare = split(name)
    found = sa.Table(bare, metadata, schema=schema, autoload_with=autoload_with, include_columns=include_columns)
    mark_parents(autoload_with, [found])
    return found


def columns(conn: Connection, name: str) -> list[str]:
    schema, bare = split(name)
    return [c["name"] for c in sa.inspect(conn).get_columns(bare, schema=schema)]
