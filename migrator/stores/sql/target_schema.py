"""The target's tables: created bare, loaded, then given their constraints, indexes and counters.

Loading into tables without foreign keys and secondary indexes, then adding them, is several times
faster than loading into a constrained schema (PRIOR_ART: ~4x) and makes the load order free, so
cycles need no tricks. SQLite cannot add constraints to an existing table, but it checks foreign
keys only when asked to (PRAGMA foreign_keys), so there they are declared at creation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import ReflectedForeignKeyConstraint

from migrator.stores.sql.qualified import split
from migrator.stores.sql.types import translate
from migrator.subset.cycles import cyclic_tables, strongly_connected


@dataclass
class TargetSchema:
    """`full` is the complete definition; `bare` the same tables with their primary keys only
    (for SQLite, where no constraint can be added later, bare is full, and only the indexes are
    left for after the load: see `create_tables`)."""

    full: sa.MetaData
    bare: sa.MetaData
    backend: str

    def table(self, name: str) -> sa.Table:
        return self.bare.tables[name]


def design(
    source: sa.MetaData, tables: list[str], source_backend: str, target_backend: str, dropped: dict[str, set[str]]
) -> TargetSchema:
    """Target tables mirroring the source's copied tables, less the dropped columns."""
    full, bare = sa.MetaData(), sa.MetaData()
    copied = set(tables)
    named = _unique_names(source, tables, source_backend, target_backend)
    for name in tables:
        src = source.tables[name]
        gone = dropped.get(name, set())
        key_columns = _key_columns(src)

        def columns(src: sa.Table = src, gone: set[str] = gone, key_columns: set[str] = key_columns) -> list[sa.Column]:  # type: ignore[type-arg]
            return [
                sa.Column(
                    c.name,
                    translate(c.type, source_backend, target_backend, is_key=c.name in key_columns),
                    nullable=c.nullable,
                    primary_key=c.primary_key,
                    autoincrement=False,
                    server_default=_server_default(c, source_backend, target_backend),
                )
                for c in src.columns
                if c.name not in gone
            ]

        table = sa.Table(name, full, *columns())
        sa.Table(name, bare, *columns())
        for fk in src.foreign_key_constraints:
            parent = fk.referred_table.name
            fk_cols = [c.name for c in fk.columns]
            if parent in copied and not gone.intersection(fk_cols):
                refs = [f"{parent}.{e.column.name}" for e in fk.elements]
                table.append_constraint(sa.ForeignKeyConstraint(fk_cols, refs, name=fk.name))
        unique_sets: set[tuple[str, ...]] = set()
        for constraint in src.constraints:
            if isinstance(constraint, sa.UniqueConstraint):
                cols = tuple(c.name for c in constraint.columns)
                if cols not in unique_sets and not gone.intersection(cols):
                    unique_sets.add(cols)
                    table.append_constraint(sa.UniqueConstraint(*cols, name=named(name, _name_of(constraint))))
        for index in src.indexes:
            index_cols = tuple(c.name for c in index.columns if isinstance(c, sa.Column))
            if not index_cols or len(index_cols) != len(index.expressions) or gone.intersection(index_cols):
                continue
            if index.unique and index_cols in unique_sets:
                continue  # MySQL reports a unique constraint as a unique index as well
            lengths = _prefix_lengths(table, index_cols) if target_backend == "mysql" and not index.unique else {}
            options: dict[str, Any] = {"mysql_length": lengths} if lengths else {}
            sa.Index(named(name, index.name), *[table.c[c] for c in index_cols], unique=bool(index.unique), **options)
    if target_backend == "sqlite":
        bare = full
    return TargetSchema(full, bare, target_backend)


def _unique_names(
    source: sa.MetaData, tables: list[str], source_backend: str, target_backend: str
) -> Callable[[str, str | None], str | None]:
    """Index and unique constraint names for the target. MySQL's are per table; PostgreSQL's and
    SQLite's per schema, shared with the tables: a name two tables use (idx_fk_address_id), or a
    table's name, becomes `table_name` there (within PostgreSQL's 63 bytes)."""
    if source_backend != "mysql" or target_backend == "mysql":
        return lambda _table, name: name
    seen: dict[str, int] = {}
    for name in tables:
        table = source.tables[name]
        names = {i.name for i in table.indexes} | {
            c.name for c in table.constraints if isinstance(c, sa.UniqueConstraint)
        }
        for index_name in names - {None}:
            seen[str(index_name)] = seen.get(str(index_name), 0) + 1
    clashing = {n for n, count in seen.items() if count > 1} | (set(seen) & set(tables))

    def named(table: str, name: str | None) -> str | None:
        if name is None or name not in clashing:
            return name
        return f"{table}_{name}".encode()[:63].decode(errors="ignore")

    return named


# MariaDB's longest index key (InnoDB), in bytes; utf8mb4 takes up to 4 bytes a character.
_MYSQL_KEY_BYTES, _UTF8MB4_BYTES = 3072, 4


def _prefix_lengths(table: sa.Table, columns: tuple[str, ...]) -> dict[str, int]:
    """For an index longer than MariaDB allows: each string column indexed by a prefix, the
    columns sharing the limit (an index, not a unique key: a prefix narrows what it finds only)."""
    lengths = {c: _characters(table.c[c].type) for c in columns}
    strings = {c: n for c, n in lengths.items() if n is not None}
    if sum(strings.values()) * _UTF8MB4_BYTES <= _MYSQL_KEY_BYTES - 8 * (len(columns) - len(strings)):
        return {}
    share = max(1, (_MYSQL_KEY_BYTES - 8 * (len(columns) - len(strings))) // _UTF8MB4_BYTES // len(strings))
    return {c: min(n, share) for c, n in strings.items()}


def _characters(type_: sa.types.TypeEngine) -> int | None:  # type: ignore[type-arg]
    """A string type's length in characters (a text without one: its longest indexable prefix)."""
    inner = getattr(type_, "impl_instance", type_)
    if not isinstance(inner, sa.String):
        return None
    return inner.length or _MYSQL_KEY_BYTES // _UTF8MB4_BYTES


def create_tables(conn: Connection, schema: TargetSchema) -> list[str]:
    """Create the tables that are missing; returns their names."""
    existing = set(sa.inspect(conn).get_table_names())
    created = [t for t in schema.bare.tables.values() if t.name not in existing]
    for table in created:
        if schema.backend == "sqlite":
            # The table with its keys, but without its indexes (Table.create would add them): they
            # are built after the load, by `finalize`. Loaded in key order, a table's rows are
            # appended; an index on another column takes them in random order, which costs more
            # as it grows past SQLite's page cache (at 3 million rows, four times the load).
            conn.execute(sa.schema.CreateTable(table))
        else:
            table.create(conn)
    return [t.name for t in created]


def finalize(conn: Connection, schema: TargetSchema, counters: dict[str, str]) -> None:
    """Add what was left out for the load: unique keys, foreign keys, indexes; then move each
    integer key's counter past the copied keys, so the new deployment's inserts do not collide.
    Each step checks what exists first, so finalizing twice changes nothing."""
    inspector = sa.inspect(conn)
    if schema.backend != "sqlite":
        for table in schema.full.tables.values():
            add_keys(conn, schema, table.name)
        for table in schema.full.tables.values():
            _add_foreign_keys(conn, inspector, table)
    else:
        for table in schema.full.tables.values():
            _add_indexes(conn, inspector, table)
    for name, column in counters.items():
        _set_counter(conn, schema.backend, schema.table(name), column)


def add_keys(conn: Connection, schema: TargetSchema, name: str) -> None:
    """One table's unique keys and indexes: work that touches that table alone, so the tables can
    be done at once on several connections before `finalize` adds the foreign keys between them."""
    inspector = sa.inspect(conn)
    table = schema.full.tables[name]
    _add_uniques(conn, inspector, table)
    _add_indexes(conn, inspector, table)


def counter_columns(schema: TargetSchema) -> dict[str, str]:
    """Tables whose key is one integer column: the ones an application inserts into by counter."""
    result = {}
    for table in schema.bare.tables.values():
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and isinstance(pk[0].type, sa.Integer):
            result[table.name] = pk[0].name
    return result


def _add_uniques(conn: Connection, inspector: sa.Inspector, table: sa.Table) -> None:
    have = {tuple(map(str, u["column_names"])) for u in inspector.get_unique_constraints(table.name)}
    have |= {tuple(map(str, i["column_names"])) for i in inspector.get_indexes(table.name) if i.get("unique")}
    for constraint in table.constraints:
        if not isinstance(constraint, sa.UniqueConstraint) or isinstance(constraint, sa.PrimaryKeyConstraint):
            continue
        if tuple(c.name for c in constraint.columns) not in have:
            conn.execute(sa.schema.AddConstraint(constraint))


def _add_indexes(conn: Connection, inspector: sa.Inspector, table: sa.Table) -> None:
    have = {i["name"] for i in inspector.get_indexes(table.name)}
    for index in table.indexes:
        if index.name not in have:
            index.create(conn)


def _add_foreign_keys(conn: Connection, inspector: sa.Inspector, table: sa.Table) -> None:
    have = {(tuple(f["constrained_columns"]), f["referred_table"]) for f in inspector.get_foreign_keys(table.name)}
    have = {(tuple(str(c) for c in cols), parent) for cols, parent in have}
    for fk in table.foreign_key_constraints:
        if (tuple(c.name for c in fk.columns), fk.referred_table.name) not in have:
            conn.execute(sa.schema.AddConstraint(fk))


def _set_counter(conn: Connection, backend: str, table: sa.Table, column: str) -> None:
    preparer = conn.dialect.identifier_preparer
    qt, qc = preparer.format_table(table), preparer.quote(column)
    top = conn.execute(sa.select(sa.func.max(table.c[column]))).scalar()
    if backend == "postgresql":
        sequence = preparer.quote(f"{table.name}_{column}_seq")
        conn.execute(sa.text(f"CREATE SEQUENCE IF NOT EXISTS {sequence} OWNED BY {qt}.{qc}"))
        conn.execute(sa.text(f"ALTER TABLE {qt} ALTER COLUMN {qc} SET DEFAULT nextval('{sequence}')"))
        conn.execute(sa.text(f"SELECT setval('{sequence}', :value, false)"), {"value": (top or 0) + 1})
    elif backend == "mysql":
        column_type = table.c[column].type.compile(dialect=conn.dialect)
        conn.execute(sa.text(f"ALTER TABLE {qt} MODIFY {qc} {column_type} NOT NULL AUTO_INCREMENT"))
        conn.execute(sa.text(f"ALTER TABLE {qt} AUTO_INCREMENT = {int(top or 0) + 1}"))
    # SQLite: an INTEGER PRIMARY KEY already takes max(rowid) + 1.


def _key_columns(table: sa.Table) -> set[str]:
    names = {c.name for c in table.primary_key.columns}
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint | sa.ForeignKeyConstraint):
            names |= {c.name for c in constraint.columns}
    for index in table.indexes:
        names |= {c.name for c in index.columns}
    return names


def _server_default(column: sa.Column, source: str, target: str):  # type: ignore[no-untyped-def,type-arg]
    """Keep a default only within one dialect, and never one that names a source sequence."""
    default = column.server_default
    if default is None or source != target:
        return None
    text = str(getattr(default, "arg", ""))
    return None if "nextval" in text.lower() else default


def cyclic_foreign_key_columns(conn: Connection, tables: list[str]) -> dict[str, list[str]]:
    """For an existing PostgreSQL schema, whose foreign keys are checked row by row: the columns
    of the keys that close a cycle (a table pointing at itself, or tables pointing at each other).
    Loading them as NULL and filling them in once every row is there makes any load order valid."""
    inspector = sa.inspect(conn)
    keys = {t: inspector.get_foreign_keys(split(t)[1], schema=split(t)[0]) for t in tables}
    referred = {t: [_referred(fk) for fk in fks] for t, fks in keys.items()}
    parents = {t: {p for p in referred[t] if p in keys} for t in keys}
    cyclic = cyclic_tables(tables, parents)
    component_of = {t: i for i, c in enumerate(strongly_connected(tables, parents)) for t in c}
    result: dict[str, list[str]] = {}
    for table, fks in keys.items():
        for fk, parent in zip(fks, referred[table], strict=True):
            if table in cyclic and parent in cyclic and component_of[table] == component_of[parent]:
                result.setdefault(table, []).extend(str(c) for c in fk["constrained_columns"])
    return result


def _referred(fk: ReflectedForeignKeyConstraint) -> str:
    """The table a reflected foreign key refers to, as a plan names it (qualified.py)."""
    schema = fk.get("referred_schema")
    return f"{schema}.{fk['referred_table']}" if schema else str(fk["referred_table"])


def _name_of(constraint: sa.Constraint) -> str | None:
    return constraint.name if isinstance(constraint.name, str) else None
