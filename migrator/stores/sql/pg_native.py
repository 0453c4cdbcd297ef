"""PostgreSQL to PostgreSQL: the target's schema is pg_dump's, filtered to the copied tables.

As pgcopydb does: `pg_dump -Fc --schema-only` in the run's snapshot, `pg_restore -l` for its table of
contents, the entries that touch a table we do not copy taken out, and `pg_restore -L` for the SQL of
the rest. What touches what comes from the catalog (pg_depend), so each entry is judged by the
object's id, not by its text; only function bodies, which PostgreSQL does not track, are searched
for the names of the tables left behind.

Pre-data entries run before the load (less the views, which read the loaded tables, and plus the
primary keys, which an upsert needs); post-data entries, the views, the materialized views' refresh
and the sequences' values run after it, so no trigger fires during the load.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from migrator.errors import PermanentError
from migrator.stores.sql.ledger import LEDGER_TABLES

if TYPE_CHECKING:
    from migrator.stores.sql.native_schema import NativeSchema

PG_CLASS, PG_PROC, PG_REWRITE, PG_ATTRDEF = 1259, 1255, 2618, 2604
FIRST_USER_OID = 16384  # below: objects made by initdb, never dumped

Obj = tuple[int, int, int]  # (catalog, oid, column number or 0)

# Entries of the table of contents whose description has more than one word.
_DESCRIPTIONS = sorted(
    [
        "FK CONSTRAINT",
        "CHECK CONSTRAINT",
        "SEQUENCE OWNED BY",
        "SEQUENCE SET",
        "MATERIALIZED VIEW DATA",
        "MATERIALIZED VIEW",
        "TABLE ATTACH",
        "INDEX ATTACH",
        "TABLE DATA",
        "DEFAULT ACL",
        "FOREIGN TABLE",
        "EVENT TRIGGER",
        "ROW SECURITY",
        "SECURITY LABEL",
        "SHELL TYPE",
        "ACCESS METHOD",
        "PUBLICATION TABLE",
        "PUBLICATION TABLES IN SCHEMA",
        "OPERATOR CLASS",
        "OPERATOR FAMILY",
        "TEXT SEARCH CONFIGURATION",
        "TEXT SEARCH DICTIONARY",
        "TEXT SEARCH PARSER",
        "TEXT SEARCH TEMPLATE",
        "FOREIGN DATA WRAPPER",
        "USER MAPPING",
        "PROCEDURAL LANGUAGE",
        "LARGE OBJECT",
    ],
    key=len,
    reverse=True,
)
# Not the schema but the source deployment's: roles that may not exist in the target, tablespaces
# of the source's disks, and subscriptions, which in the target would start replicating from the
# source's publisher.
_DEPLOYMENT_SPECIFIC = ("--no-owner", "--no-privileges", "--no-tablespaces", "--no-subscriptions")
_TOC_LINE = re.compile(r"^(\d+); (\d+) (\d+) (.*)$")


@dataclass
class Entry:
    """One line of `pg_restore -l`."""

    line: str
    dump_id: int
    catalog: int
    oid: int
    desc: str
    schema: str
    tag: str


@dataclass
class Analysis:
    """What the catalog says about the copied tables and what touches the others."""

    schema: str  # the schema the plan's table names are in (current_schema())
    copied: set[int]  # pg_class oids: the copied tables and their partitions
    left_out: set[Obj] = field(default_factory=set)  # objects not recreated (the skipped tables included)
    lines: list[str] = field(default_factory=list)  # why, for each object worth telling about
    views: set[Obj] = field(default_factory=set)  # views and what depends on them: made after the load
    generated: dict[str, list[str]] = field(default_factory=dict)
    dropped: dict[str, list[str]] = field(default_factory=dict)  # columns to drop after creating the tables


def native_schema(source: Connection, tables: list[str], dropped: dict[str, set[str]]) -> NativeSchema:
    from migrator.stores.sql.native_schema import NativeSchema

    analysis = analyse(source, tables, dropped)
    pg_dump, pg_restore = _client_programs(source)
    with tempfile.TemporaryDirectory(prefix="migrator-pgdump-") as work:
        archive = Path(work) / "schema.dump"
        _run(
            [pg_dump, "-Fc", "--schema-only", *_DEPLOYMENT_SPECIFIC, *_snapshot(source), "-f", str(archive)],
            source,
        )
        entries = _toc(pg_restore, archive, [])
        pre = {e.dump_id for e in _toc(pg_restore, archive, ["--section=pre-data"])}
        catalog = _catalog_facts(source)
        before, views, after = _groups(entries, pre, analysis, catalog)
        before_sql = _restore(pg_restore, archive, before, Path(work) / "before.list")
        views_sql = _restore(pg_restore, archive, views, Path(work) / "views.list")
        after_sql = _restore(pg_restore, archive, after, Path(work) / "after.list")
    drops = [
        f"ALTER TABLE {_qualified(analysis.schema, table)} DROP COLUMN {_quote(column)} CASCADE"
        for table, columns in analysis.dropped.items()
        for column in columns
    ]
    refresh = [
        f"REFRESH MATERIALIZED VIEW {_qualified(e.schema, e.tag)}"
        for e in entries
        if e.desc == "MATERIALIZED VIEW" and e in views and e.oid in catalog.populated
    ]
    counters = _sequence_values(source, [e for e in before if e.desc == "SEQUENCE"])
    # The copy writes the source's values into identity columns; INSERT (the row path: transforms,
    # merge) refuses that for GENERATED ALWAYS, so such columns take BY DEFAULT until the load is done.
    always = [
        f"ALTER TABLE {_qualified(analysis.schema, table)} ALTER COLUMN {_quote(column)}"
        for table, column in _identity_always(source, analysis.schema, tables, dropped)
    ]
    return NativeSchema(
        before_load=_local(before_sql + drops + [f"{a} SET GENERATED BY DEFAULT" for a in always]),
        after_load=_local([f"{a} SET GENERATED ALWAYS" for a in always] + views_sql + after_sql + refresh + counters),
        left_out=analysis.lines,
        generated=analysis.generated,
    )


def left_out(source: Connection, tables: list[str], dropped: dict[str, set[str]]) -> list[str]:
    """The objects a run would leave out, from the catalog alone (no pg_dump): for `migrator plan`."""
    return analyse(source, tables, dropped).lines


# -- the catalog ---------------------------------------------------------------------------------


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
    by_name = {(r.nspname, r.relname): r.oid for r in relations}
    top = {by_name[(schema, t)] for t in wanted if (schema, t) in by_name}
    copied = {r.oid for r in relations if r.oid in top or (r.relispartition and r.root in top)}
    _refuse_inheritance(conn, copied)
    analysis = Analysis(schema, copied)
    names = {r.oid: r.relname for r in relations}
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
        oid = by_name.get((schema, table))
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
    skipped_names = {names[oid]: oid for oid in skipped if oid not in ledger}
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
    """Table inheritance (INHERITS, not partitions): a parent's rows, as read, include its children's,
    so copying both would put the children's rows in the parent as well. Refused until the copy reads
    such a parent with ONLY."""
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
        if row.child_oid in copied or row.parent_oid in copied
    ]
    if pairs:
        raise PermanentError(
            "table inheritance is not copied yet (" + "; ".join(sorted(pairs)) + "): a parent's rows include its "
            "children's, so they would arrive twice; skip these tables in the plan, or make them partitions"
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
        SELECT c.relname, a.attname, a.attnum FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s AND a.attgenerated = 's' AND NOT a.attisdropped AND a.attnum > 0
        ORDER BY c.relname, a.attnum
        """,
        {"schema": schema},
    ):
        if row.relname in tables and row.attnum not in gone.get(row.relname, set()):
            result.setdefault(row.relname, []).append(row.attname)
    return result


def _identity_always(
    conn: Connection, schema: str, tables: list[str], dropped: dict[str, set[str]]
) -> list[tuple[str, str]]:
    rows = conn.exec_driver_sql(
        """
        SELECT c.relname, a.attname FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s AND a.attidentity = 'a' AND NOT a.attisdropped AND NOT c.relispartition
        ORDER BY c.relname, a.attnum
        """,
        {"schema": schema},
    )
    wanted = set(tables)
    return [(r.relname, r.attname) for r in rows if r.relname in wanted and r.attname not in dropped.get(r.relname, ())]


@dataclass
class _Catalog:
    primary_keys: set[int]  # pg_constraint oids of primary keys
    populated: set[int]  # materialized views holding rows in the source


def _catalog_facts(conn: Connection) -> _Catalog:
    keys = {r[0] for r in conn.exec_driver_sql("SELECT oid::int FROM pg_constraint WHERE contype = 'p'")}
    populated = {
        r[0] for r in conn.exec_driver_sql("SELECT oid::int FROM pg_class WHERE relkind = 'm' AND relispopulated")
    }
    return _Catalog(keys, populated)


# -- the table of contents -----------------------------------------------------------------------


def _groups(
    entries: list[Entry], pre: set[int], analysis: Analysis, catalog: _Catalog
) -> tuple[list[Entry], list[Entry], list[Entry]]:
    """The kept entries in dump order: before the load, views after it, the rest of post-data."""
    anchors = _anchors(entries)
    before, views, after, keys = [], [], [], []
    for entry in entries:
        anchor = anchors.get(entry.dump_id)
        if anchor is None or _object(anchor) in analysis.left_out:
            continue  # left out, or a part of something left out (its comment)
        if (
            anchor.catalog == PG_CLASS
            and anchor.oid not in analysis.copied
            and anchor.desc in ("TABLE", "FOREIGN TABLE")
        ):
            continue
        if anchor.desc == "CONSTRAINT" and anchor.oid in catalog.primary_keys:
            keys.append(entry)  # loaded into with its primary key, as the SQLAlchemy path does
        elif _object(anchor) in analysis.views:
            views.append(entry)
        elif anchor.dump_id in pre:
            before.append(entry)
        else:
            after.append(entry)
    return before + keys, views, after


def _anchors(entries: list[Entry]) -> dict[int, Entry]:
    """The entry each entry stands or falls with: itself; for a comment or an OWNED BY (no object
    id of its own), the object entry pg_dump wrote just before it; for an ATTACH, the partition or
    the partition's index it names."""
    by_name: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        if entry.desc in ("TABLE", "INDEX"):
            by_name[(entry.schema, entry.tag)] = entry
        elif entry.desc == "CONSTRAINT":
            by_name[(entry.schema, entry.tag.split(" ")[-1])] = entry
    anchors: dict[int, Entry] = {}
    previous: Entry | None = None
    for entry in entries:
        if entry.desc in ("TABLE ATTACH", "INDEX ATTACH"):
            found = by_name.get((entry.schema, entry.tag))
            if found is not None:
                anchors[entry.dump_id] = found
        elif entry.oid or previous is None:
            anchors[entry.dump_id] = entry
            previous = entry
        else:
            anchors[entry.dump_id] = previous
    return anchors


def _object(entry: Entry) -> Obj:
    return (entry.catalog, entry.oid, 0)


def _parse_toc(text: str) -> list[Entry]:
    entries = []
    for line in text.splitlines():
        match = _TOC_LINE.match(line)
        if not match:
            continue
        rest = match.group(4)
        desc = next((d for d in _DESCRIPTIONS if rest.startswith(d + " ")), rest.split(" ", 1)[0])
        schema, _, tail = rest[len(desc) + 1 :].partition(" ")
        tag = tail[:-1] if tail.endswith(" ") else tail.rsplit(" ", 1)[0]  # the owner ends the line
        entries.append(Entry(line, int(match.group(1)), int(match.group(2)), int(match.group(3)), desc, schema, tag))
    return entries


def _toc(pg_restore: str, archive: Path, options: list[str]) -> list[Entry]:
    return _parse_toc(_run([pg_restore, "-l", *options, str(archive)], None))


def _restore(pg_restore: str, archive: Path, entries: list[Entry], listing: Path) -> list[str]:
    """The SQL of these entries, in this order (pg_restore -L follows the list's order)."""
    if not entries:
        return []
    listing.write_text("".join(e.line + "\n" for e in entries))
    script = _run([pg_restore, "--no-owner", "--no-privileges", "-L", str(listing), "-f", "-", str(archive)], None)
    # psql meta-commands (pg_dump writes \restrict around its output) are not SQL.
    return split_statements("\n".join(line for line in script.splitlines() if not line.startswith("\\")))


# -- SQL text ------------------------------------------------------------------------------------

_SETTINGS = re.compile(r"^SET (\w+) = (.*)$", re.IGNORECASE)


def _local(statements: list[str]) -> list[str]:
    """pg_restore's session settings, made to last the transaction only (the run's connection goes
    on to write the ledger, with its usual search_path); its empty search_path kept, as every name
    in pg_dump's SQL is qualified and the function bodies and views are read as the source had them."""
    result = ["SELECT pg_catalog.set_config('search_path', '', true)", "SET LOCAL check_function_bodies = false"]
    for statement in statements:
        if statement.startswith("SELECT pg_catalog.set_config('search_path', '', false)"):
            continue
        match = _SETTINGS.match(statement)
        if match:
            name = match.group(1).lower()
            if name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"):
                continue  # the run's own timeouts hold
            statement = f"SET LOCAL {match.group(1)} = {match.group(2)}"
        result.append(statement)
    result.append("RESET search_path")
    return result


def split_statements(script: str) -> list[str]:
    """A SQL script cut into statements at the semicolons outside quotes, dollar quotes and comments
    (pg_dump's function bodies hold semicolons); comments dropped."""
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(script)
    while i < n:
        ch = script[i]
        if script.startswith("--", i):
            end = script.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if script.startswith("/*", i):
            end = script.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if ch in ("'", '"'):
            end = i + 1
            while end < n:
                if script[end] == ch:
                    if end + 1 < n and script[end + 1] == ch:
                        end += 2
                        continue
                    break
                end += 1
            current.append(script[i : end + 1])
            i = end + 1
            continue
        if ch == "$":
            tag = re.match(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$", script[i:])
            if tag:
                close = script.find(tag.group(0), i + len(tag.group(0)))
                end = n if close < 0 else close + len(tag.group(0))
                current.append(script[i:end])
                i = end
                continue
        if ch == ";":
            text = "".join(current).strip()
            if text:
                statements.append(text)
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    text = "".join(current).strip()
    if text:
        statements.append(text)
    return statements


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(schema: str, name: str) -> str:
    return f"{_quote(schema)}.{_quote(name)}"


def _sequence_values(source: Connection, sequences: list[Entry]) -> list[str]:
    """Each sequence where the source's is (pg_dump's SEQUENCE SET), and past the copied keys of the
    column it belongs to, should those be higher."""
    statements = []
    for entry in sequences:
        owners = source.exec_driver_sql(
            """
            SELECT c.relname AS owner, a.attname AS column_name, n2.nspname AS owner_schema
            FROM pg_class q JOIN pg_namespace n ON n.oid = q.relnamespace
            JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = q.oid
                 AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
            JOIN pg_class c ON c.oid = d.refobjid
            JOIN pg_namespace n2 ON n2.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
            WHERE n.nspname = %(schema)s AND q.relname = %(name)s
            """,
            {"schema": entry.schema, "name": entry.tag},
        ).all()
        sequence = _qualified(entry.schema, entry.tag)
        row = source.exec_driver_sql(f"SELECT last_value, is_called FROM {sequence}").one()
        regclass = "'" + sequence.replace("'", "''") + "'"
        called = "true" if row.is_called else "false"
        statements.append(f"SELECT pg_catalog.setval({regclass}, {int(row.last_value)}, {called})")
        for owner in owners:
            column, table = _quote(owner.column_name), _qualified(owner.owner_schema, owner.owner)
            statements.append(
                f"SELECT pg_catalog.setval({regclass}, top) FROM (SELECT max({column}) AS top FROM {table}) AS k "
                f"WHERE top > {int(row.last_value) - (0 if row.is_called else 1)}"
            )
    return statements


# -- the programs --------------------------------------------------------------------------------


def _client_programs(source: Connection) -> tuple[str, str]:
    """pg_dump and pg_restore, of a major version at least the server's (an older pg_dump refuses a
    newer server, or misses what it added)."""
    pg_dump, pg_restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    server = int(source.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10000
    if pg_dump is None or pg_restore is None:
        raise PermanentError(
            "copying a PostgreSQL schema into PostgreSQL uses pg_dump and pg_restore, and they are not on the "
            f"PATH: install the PostgreSQL {server} client programs, or use data.schema: existing"
        )
    version = subprocess.run([pg_dump, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"(\d+)(?:\.\d+)?", version)
    if found is None or int(found.group(1)) < server:
        raise PermanentError(
            f"pg_dump at {pg_dump} is {version.strip() or 'of unknown version'}, older than the source server "
            f"(PostgreSQL {server}): put the PostgreSQL {server} (or newer) client programs first on the PATH"
        )
    return pg_dump, pg_restore


def _snapshot(source: Connection) -> list[str]:
    """pg_dump reads in the run's own snapshot: the schema is the one the rows are read in."""
    snapshot_id = source.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
    url = source.engine.url
    options = [f"{k}={v}" for k, v in url.query.items() if isinstance(v, str)]
    conninfo = [
        f"host={url.host or ''}",
        f"port={url.port or 5432}",
        f"user={url.username or ''}",
        f"dbname={url.database or ''}",
        *options,
    ]
    conninfo = [c for c in conninfo if not c.endswith("=")]
    return [f"--snapshot={snapshot_id}", "--dbname=" + " ".join(_conninfo_value(c) for c in conninfo)]


def _conninfo_value(item: str) -> str:
    key, _, value = item.partition("=")
    return f"{key}='" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _run(command: list[str], source: Connection | None) -> str:
    env = dict(os.environ)
    if source is not None and source.engine.url.password:
        env["PGPASSWORD"] = str(source.engine.url.password)  # not on the command line, where ps shows it
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        program = Path(command[0]).name
        raise PermanentError(f"{program} failed while reading the source schema: {done.stderr.strip()}")
    return done.stdout
