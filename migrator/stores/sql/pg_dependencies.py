"""What in a PostgreSQL database touches the tables a plan does not copy, from the catalog.

`pg_depend` records which indexes, constraints, triggers, sequences, defaults and views depend on
which table or column; whatever depends on a table left behind (or a dropped column) is left out,
and so, transitively, is everything depending on that. Function bodies are the one thing the
catalog does not track: a function whose body names a table left behind is left out too. Each
object left out that a reader would miss gets one line saying why (`migrator plan` shows them).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from migrator.errors import PermanentError
from migrator.stores.sql.ledger import LEDGER_TABLES
from migrator.stores.sql.qualified import plan_name

PG_CLASS, PG_PROC, PG_REWRITE, PG_ATTRDEF = 1259, 1255, 2618, 2604
FIRST_USER_OID = 16384  # below: objects made by initdb, never dumped

Obj = tuple[int, int, int]  # (catalog, oid, column number or 0)


@dataclass
class Analysis:
    """What the catalog says about the copied tables and what touches the others."""

    schema: str  # the schema whose tables the plan names bare (current_schema()); others are `schema.table`
    copied: set[int]  # pg_class oids: the copied tables and their partitions
    left_out: set[Obj] = field(default_factory=set)  # objects not recreated (the skipped tables included)
    lines: list[str] = field(default_factory=list)  # why, for each object worth telling about
    views: set[Obj] = field(default_factory=set)  # views and what depends on them: made after the load
    generated: dict[str, list[str]] = field(default_factory=dict)
    dropped: dict[str, list[str]] = field(default_factory=dict)  # columns to drop after creating the tables


def analyse(conn: Connection, tables: list[str], dropped: dict[str, set[str]]) -> Analysis:
    """Which objects touch a table that is not copied (or a dropped column): those and everything
    depending on them, transitively; and which depend on a view."""
    schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
    relations = conn.exec_driver_sql(
        """
        SELECT c.oid::int, n.nspname, c.relname, c.relkind::text, c.relispartition,
               coalesce(pg_partition_root(c.oid), c.oid)::int AS root
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm') AND c.oid >= %(first)s
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
        """,
        {"first": FIRST_USER_OID},
    ).all()
    wanted = set(tables)
    by_name = {plan_name(r.nspname, r.relname, schema): r.oid for r in relations}  # as the plan names them
    top = {by_name[t] for t in wanted if t in by_name}
    copied = {r.oid for r in relations if r.oid in top or (r.relispartition and r.root in top)}
    _refuse_inheritance(conn, copied)
    analysis = Analysis(schema, copied)
    names = {r.oid: plan_name(r.nspname, r.relname, schema) for r in relations}
    relnames = {r.oid: r.relname for r in relations}
    skipped = {r.oid for r in relations if r.relkind in ("r", "p", "f") and r.oid not in copied}
    ledger = {r.oid for r in relations if r.relname in LEDGER_TABLES}

    depends: dict[tuple[int, int], list[tuple[Obj, int, str]]] = defaultdict(list)  # referenced -> dependents
    for row in conn.exec_driver_sql(
        """
        SELECT classid::int, objid::int, objsubid, refclassid::int, refobjid::int, refobjsubid, deptype::text
        FROM pg_depend WHERE deptype IN ('n', 'a', 'i') AND objid >= %(first)s
        """,
        {"first": FIRST_USER_OID},
    ):
        depends[(row.refclassid, row.refobjid)].append(
            ((row.classid, row.objid, row.objsubid), row.refobjsubid, row.deptype)
        )
    rule_of_view = {
        r.oid: r.ev_class
        for r in conn.exec_driver_sql(
            "SELECT oid::int, ev_class::int FROM pg_rewrite WHERE oid >= %(first)s", {"first": FIRST_USER_OID}
        )
    }

    generated_by = {  # a generated column's expression (pg_attrdef) -> the column
        r.oid: (PG_CLASS, r.adrelid, r.adnum)
        for r in conn.exec_driver_sql(
            "SELECT d.oid::int, d.adrelid::int, d.adnum FROM pg_attrdef d JOIN pg_attribute a "
            "ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE a.attgenerated = 's'"
        )
    }
    cause: dict[Obj, tuple[Obj, str]] = {}  # left-out object -> (what it touches, how: n a i text)
    queue: list[Obj] = []

    def leave_out(obj: Obj, because: Obj | None, how: str) -> None:
        if obj in analysis.left_out or (obj[0] == PG_CLASS and obj[1] in copied and obj[2] == 0):
            return
        analysis.left_out.add(obj)
        if because is not None:
            cause[obj] = (because, how)
        queue.append(obj)

    for oid in sorted(skipped):
        leave_out((PG_CLASS, oid, 0), None, "")
    columns: dict[tuple[int, int], str] = {}
    for table, gone in sorted(dropped.items()):
        oid = by_name.get(table)
        if oid is None or not gone:
            continue
        kept_gone = sorted(gone)
        analysis.dropped[table] = kept_gone
        for row in conn.exec_driver_sql(
            "SELECT attnum, attname FROM pg_attribute WHERE attrelid = %(oid)s AND attname = ANY(%(names)s)",
            {"oid": oid, "names": kept_gone},
        ):
            columns[(oid, row.attnum)] = f"{table}.{row.attname}"
            analysis.left_out.add((PG_CLASS, oid, row.attnum))
            queue.append((PG_CLASS, oid, row.attnum))

    # Function bodies are not in pg_depend: a function naming a table left behind stays behind.
    skipped_names = {relnames[oid]: oid for oid in skipped if oid not in ledger}
    if skipped_names:
        pattern = re.compile(
            r"\b(" + "|".join(re.escape(n) for n in sorted(skipped_names, key=len, reverse=True)) + r")\b"
        )
        for row in conn.exec_driver_sql(
            """
            SELECT p.oid::int, p.prosrc FROM pg_proc p
            WHERE p.oid >= %(first)s AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                                     AND d.objid = p.oid AND d.deptype = 'e')
            """,
            {"first": FIRST_USER_OID},
        ):
            found = pattern.search(row.prosrc or "")
            if found:
                leave_out((PG_PROC, row.oid, 0), (PG_CLASS, skipped_names[found.group(1)], 0), "text")

    columns_dropped = {(PG_CLASS, oid, number) for oid, number in columns}
    attnames = {
        (r.attrelid, r.attnum): r.attname
        for r in conn.exec_driver_sql(
            "SELECT attrelid::int, attnum, attname FROM pg_attribute WHERE attgenerated = 's'",
        )
    }
    orphans: list[str] = []
    while queue:
        obj = queue.pop(0)
        for dependent, ref_column, deptype in depends.get((obj[0], obj[1]), []):
            if obj[2] and ref_column != obj[2]:
                continue  # a dropped column: only what depends on that column
            leave_out(dependent, obj, deptype)
            if dependent[0] == PG_ATTRDEF and dependent[1] in generated_by and obj in columns_dropped:
                # A generated column computed from a dropped column would go with it (DROP ... CASCADE)
                # while the run still expected it: the plan must say so.
                table_oid, number = generated_by[dependent[1]][1:]
                if (table_oid, number) not in columns:
                    orphans.append(f"{names[table_oid]}.{attnames[(table_oid, number)]} from {columns[obj[1:]]}")
            if dependent[0] == PG_REWRITE and dependent[1] in rule_of_view:
                # A view is its rewrite rule: the rule reading a table left out takes the view along.
                leave_out((PG_CLASS, rule_of_view[dependent[1]], 0), dependent, "view")

    if orphans:
        raise PermanentError(
            "generated columns are computed from columns the plan drops ("
            + "; ".join(sorted(orphans))
            + "): drop them as well in the plan's columns"
        )
    analysis.views = _view_dependents(relations, depends, rule_of_view)
    analysis.lines = _explained(conn, cause, skipped, columns, ledger, set(generated_by))
    lost: dict[str, set[int]] = defaultdict(set)  # columns dropped, by the plan or along with one it drops
    for catalog, oid, column in analysis.left_out:
        if catalog == PG_CLASS and column and oid in names:
            lost[names[oid]].add(column)
    analysis.generated = _generated(conn, schema, wanted, lost)
    return analysis


def _refuse_inheritance(conn: Connection, copied: set[int]) -> None:
    """Table inheritance (INHERITS, not partitions): each table is copied by itself, a parent read
    with ONLY (inheritance.py). A child copied without its parent could not be created (its DDL says
    INHERITS parent): refused, naming both."""
    pairs = [
        f"{row.child} inherits from {row.parent}"
        for row in conn.exec_driver_sql(
            """
            SELECT i.inhrelid::int AS child_oid, i.inhparent::int AS parent_oid,
                   i.inhrelid::regclass::text AS child, i.inhparent::regclass::text AS parent
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE NOT c.relispartition AND c.relkind IN ('r', 'p', 'f')
            """
        )
        if row.child_oid in copied and row.parent_oid not in copied
    ]
    if pairs:
        raise PermanentError(
            "a table is copied without the table it inherits from (" + "; ".join(sorted(pairs)) + "), which the "
            "target needs to create it: copy the parent as well (its own rows only are read), or skip the child"
        )


def _view_dependents(
    relations: Sequence[Any], depends: dict[tuple[int, int], list[tuple[Obj, int, str]]], rule_of_view: dict[int, int]
) -> set[Obj]:
    """Views, materialized views and what depends on them (another view, an index on a
    materialized view): made after the load, as they read the loaded tables."""
    views = {(PG_CLASS, r.oid, 0) for r in relations if r.relkind in ("v", "m")}
    queue = list(views)
    while queue:
        obj = queue.pop(0)
        for dependent, _column, _deptype in depends.get((obj[0], obj[1]), []):
            found = [dependent]
            if dependent[0] == PG_REWRITE and dependent[1] in rule_of_view:
                found.append((PG_CLASS, rule_of_view[dependent[1]], 0))
            for item in found:
                key = (item[0], item[1], 0)
                if key not in views:
                    views.add(key)
                    queue.append(key)
    return views


def _explained(
    conn: Connection,
    cause: dict[Obj, tuple[Obj, str]],
    skipped: set[int],
    columns: dict[tuple[int, int], str],
    ledger: set[int],
    expressions: set[int],
) -> list[str]:
    """One line per object left out that a reader would miss: not the skipped tables themselves nor
    their own parts (their indexes, keys, triggers, sequences), but a view, a function, a trigger or
    a foreign key of a copied table that touches them."""
    shown = [
        obj
        for obj, (because, how) in cause.items()
        if how in ("n", "text", "view") or (because[0] == PG_CLASS and because[2] != 0)
    ]
    shown = [
        obj
        for obj in shown
        if obj[0] != PG_REWRITE
        and (obj[2] == 0 or obj[0] == PG_CLASS)
        and not (obj[0] == PG_ATTRDEF and obj[1] in expressions)  # told as its column
    ]
    if not shown:
        return []
    identities = _identities(conn, list(cause) + [c for c, _ in cause.values()] + [(PG_CLASS, o, 0) for o in skipped])
    owners = _owner_tables(conn, [o for o in shown])
    lines = []
    for obj in shown:
        owner = owners.get(obj)
        if owner is not None and owner in skipped:
            continue  # a part of a table left behind, such as its trigger
        kind, name = identities.get(obj, ("object", str(obj)))
        origin = _origin(obj, cause)
        if origin[0] == PG_CLASS and origin[1] in ledger:
            continue
        if origin[2] != 0:
            reason = f"column {columns[(origin[1], origin[2])]}, which the plan drops"
        else:
            what = identities.get(origin, ("", str(origin)))[1]
            reason = f"{what}, which is not copied"
        direct = cause[obj][0]
        while direct[0] == PG_REWRITE and direct in cause:
            direct = cause[direct][0]  # a view's rule: the view reads what its rule reads
        if direct != origin and direct[0] != PG_REWRITE:
            via = identities.get(direct, ("", str(direct)))[1]
            reason = f"{via}, which is left out because it needs {reason}"
        lines.append(f"{kind} {name} {_verb(kind, cause[obj][1])} {reason}")
    return sorted(set(lines))


def _origin(obj: Obj, cause: dict[Obj, tuple[Obj, str]]) -> Obj:
    while obj in cause:
        obj = cause[obj][0]
    return obj


def _verb(kind: str, how: str) -> str:
    if how == "text":
        return "names"
    return {"view": "reads", "materialized view": "reads", "trigger": "runs", "table constraint": "refers to"}.get(
        kind, "uses"
    )


def _identities(conn: Connection, objs: list[Obj]) -> dict[Obj, tuple[str, str]]:
    unique = sorted(set(objs))
    if not unique:
        return {}
    rows = conn.exec_driver_sql(
        """
        SELECT c, o, s, i.type, i.identity
        FROM unnest(%(c)s::oid[], %(o)s::oid[], %(s)s::int[]) AS x(c, o, s),
             LATERAL pg_identify_object(x.c, x.o, x.s) AS i
        """,
        {"c": [u[0] for u in unique], "o": [u[1] for u in unique], "s": [u[2] for u in unique]},
    ).all()
    return {(int(r.c), int(r.o), int(r.s)): (str(r.type), str(r.identity)) for r in rows}


def _owner_tables(conn: Connection, objs: list[Obj]) -> dict[Obj, int]:
    """The table an index, constraint, trigger, default, rule or policy belongs to."""
    rows = conn.exec_driver_sql(
        """
        SELECT 'pg_class'::regclass::int AS cat, indexrelid::int AS obj, indrelid::int AS tab FROM pg_index
        UNION ALL SELECT 'pg_constraint'::regclass::int, oid::int, conrelid::int FROM pg_constraint WHERE conrelid <> 0
        UNION ALL SELECT 'pg_trigger'::regclass::int, oid::int, tgrelid::int FROM pg_trigger
        UNION ALL SELECT 'pg_attrdef'::regclass::int, oid::int, adrelid::int FROM pg_attrdef
        UNION ALL SELECT 'pg_policy'::regclass::int, oid::int, polrelid::int FROM pg_policy
        """
    ).all()
    owners: dict[Obj, int] = {(int(r.cat), int(r.obj), 0): int(r.tab) for r in rows}
    return {obj: owners[obj] for obj in objs if obj in owners}


def _generated(conn: Connection, schema: str, tables: set[str], gone: dict[str, set[int]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for row in conn.exec_driver_sql(
        """
        SELECT n.nspname, c.relname, a.attname, a.attnum FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE a.attgenerated = 's' AND NOT a.attisdropped AND a.attnum > 0
        ORDER BY n.nspname, c.relname, a.attnum
        """
    ):
        name = plan_name(row.nspname, row.relname, schema)
        if name in tables and row.attnum not in gone.get(name, set()):
            result.setdefault(name, []).append(row.attname)
    return result
