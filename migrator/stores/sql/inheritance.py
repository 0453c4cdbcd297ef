"""PostgreSQL's table inheritance (`CREATE TABLE child (...) INHERITS (parent)`, not partitions).

A query of a parent reads its children's rows as well; each table is copied on its own (pg_dump
creates the parent and each child), so a parent is read with `FROM ONLY parent`, its own rows:
otherwise every child's row would arrive twice, once in the parent and once in the child. The same
holds when the target is read back to be verified.

Declarative partitions are not this: a partitioned table is one table in the plan, read whole and
routed by the target (reflect.py hides its partitions).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

ONLY = "migrator_only"  # a Table's info key: read it with ONLY in PostgreSQL


@compiles(sa.Table, "postgresql")
def _from_only(element: sa.Table, compiler: SQLCompiler, **kw: Any) -> str:
    """A marked table in a FROM list (a SELECT, a join, a subquery) as `ONLY table`, and so in
    `DELETE FROM ONLY` and `UPDATE ONLY`: emptying a parent for `existing: truncate` leaves a child's
    rows alone, those of a child the plan skips included. An INSERT names its table without this
    hook (and has no ONLY: it writes into the table it names)."""
    text = compiler.visit_table(element, **kw)
    if element.info.get(ONLY) and kw.get("asfrom"):
        return "ONLY " + text
    return text


_PARENTS = """
SELECT DISTINCT n.nspname, c.relname, current_schema() AS current
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhparent JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class child ON child.oid = i.inhrelid
WHERE NOT child.relispartition
"""


def mark_parents(conn: Connection, tables: Iterable[sa.Table]) -> None:
    """Mark the tables that other tables inherit from, to be read with ONLY."""
    if conn.dialect.name != "postgresql":
        return
    rows = conn.exec_driver_sql(_PARENTS).all()
    parents = {(None if r.nspname == r.current else r.nspname, r.relname) for r in rows}
    for table in tables:
        if (table.schema, table.name) in parents:
            table.info[ONLY] = True
