"""Read a database's schema into our plain `Schema`, keeping SQLAlchemy's Table objects for queries."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection

from migrator.plan.model import Relation
from migrator.stores.sql.ledger import LEDGER_TABLES
from migrator.stores.sql.mysql_lost_characters import held_members
from migrator.stores.sql.qualified import plan_name, reflect_all
from migrator.subset.schema import Column, ForeignKey, Schema, Table


@dataclass
class ReflectedSource:
    schema: Schema
    metadata: sa.MetaData

    def table(self, name: str) -> sa.Table:
        return self.metadata.tables[name]


def reflect(connection: Connection, relations: list[Relation] | None = None) -> ReflectedSource:
    metadata = sa.MetaData()
    # A database migrator wrote into may be the source of the next split: its ledger is ours, not data.
    # Every schema's tables, named as qualified.py says: `billing.invoices` beside `users`.
    hidden = set(LEDGER_TABLES) | _partitions(connection)
    reflect_all(connection, metadata, hidden.__contains__)
    if connection.dialect.name == "mysql":
        _members_as_held(connection, metadata)
    tables: dict[str, Table] = {}
    foreign_keys: list[ForeignKey] = []
    for key, sa_table in sorted(metadata.tables.items()):
        tables[key] = Table(
            name=key,
            columns=tuple(_column(c) for c in sa_table.columns),
            primary_key=tuple(c.name for c in sa_table.primary_key.columns),
            unique_keys=tuple(
                tuple(c.name for c in constraint.columns)
                for constraint in sa_table.constraints
                if isinstance(constraint, sa.UniqueConstraint)
            ),
        )
        for constraint in sa_table.foreign_key_constraints:
            if constraint.referred_table.key not in metadata.tables:
                continue
            foreign_keys.append(
                ForeignKey(
                    child=key,
                    child_columns=tuple(c.name for c in constraint.columns),
                    parent=constraint.referred_table.key,
                    parent_columns=tuple(e.column.name for e in constraint.elements),
                )
            )
    schema = Schema(tables, sorted(foreign_keys, key=str))
    return ReflectedSource(schema, metadata)


def _partitions(connection: Connection) -> set[str]:
    """PostgreSQL's partitions: a partitioned table is read and written as a whole, its rows routed
    to their partitions by the target, so a partition is not a table of its own to copy (copied as
    well, each of its rows would arrive twice)."""
    if connection.dialect.name != "postgresql":
        return set()
    current = connection.exec_driver_sql("SELECT current_schema()").scalar_one()
    rows = connection.exec_driver_sql(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relispartition"
    )
    return {plan_name(str(schema), str(name), current) for schema, name in rows}


def _members_as_held(connection: Connection, metadata: sa.MetaData) -> None:
    """MariaDB's catalog prints an ENUM or SET member's character beyond the BMP (an emoji) as '?',
    and SQLAlchemy reflects the members from it: each such column's members are asked of the server
    (mysql_lost_characters.py), so that the type map's CHECK across dialects lists the real ones."""
    for table in metadata.tables.values():
        for column in table.columns:
            type_ = column.type
            if isinstance(type_, mysql.SET) and any("?" in v for v in type_.values):
                members = held_members(connection, table.name, table.schema, column.name, "set", len(type_.values))
                column.type = mysql.SET(*members)
            elif isinstance(type_, mysql.ENUM) and any("?" in v for v in type_.enums):
                members = held_members(connection, table.name, table.schema, column.name, "enum", len(type_.enums))
                column.type = mysql.ENUM(*members)


def with_relations(schema: Schema, relations: list[Relation]) -> Schema:
    """The schema plus the plan's virtual foreign keys; a per-relation `dangling` overrides a
    declared key between the same columns instead of adding a second one."""
    virtual = {(r.from_.table, r.from_.columns, r.to.table, r.to.columns): r.dangling for r in relations}
    merged: list[ForeignKey] = []
    for fk in schema.foreign_keys:
        key = (fk.child, fk.child_columns, fk.parent, fk.parent_columns)
        if key in virtual:
            merged.append(ForeignKey(*key, declared=True, dangling=virtual.pop(key)))
        else:
            merged.append(fk)
    for (child, child_cols, parent, parent_cols), dangling in virtual.items():
        merged.append(ForeignKey(child, child_cols, parent, parent_cols, declared=False, dangling=dangling))
    return Schema(schema.tables, sorted(merged, key=str))


def _column(column: sa.Column) -> Column:  # type: ignore[type-arg]
    try:
        type_name = column.type.compile()
    except Exception:
        type_name = type(column.type).__name__.upper()
    length: int | None = None
    if isinstance(column.type, sa.Integer):
        kind = "integer"
        length = (
            64 if isinstance(column.type, sa.BigInteger) else 16 if isinstance(column.type, sa.SmallInteger) else 32
        )
    elif isinstance(column.type, sa.String):
        kind, length = "text", column.type.length
    else:
        kind = "other"
    return Column(column.name, type_name, bool(column.nullable), kind, length)
