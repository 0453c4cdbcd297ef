"""The target before the first write: guards, existing rows, the schema to create or to load into,
and `--restart`, which removes what this plan wrote and nothing else."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from migrator.engine.preflight import foreign_rows, table_refusals
from migrator.engine.prepare import Prepared
from migrator.errors import SafetyError
from migrator.stores.sql import connect, ledger
from migrator.stores.sql.native_schema import (
    NativeBuilder,
    NativeSchema,
    builder_for,
    drop_created,
    execute_all,
    foreign_keys_of,
    indexes_per_table,
)
from migrator.stores.sql.qualified import split
from migrator.stores.sql.target_schema import TargetSchema, cyclic_foreign_key_columns, design
from migrator.stores.sql.target_tables import drop_tables, empty_tables, reflected, reflected_without, table_names

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection, Engine

AFTER_LOAD_UNIT = "schema:after-load:0"  # the ledger's mark of a native schema's after-load statements


@dataclass
class Target:
    """The target as this run writes it."""

    conn: Connection
    schema: TargetSchema | None  # None when the plan loads into an existing schema, or a native one
    merge: bool
    tables: dict[str, sa.Table] = field(default_factory=dict)
    deferred: dict[str, list[str]] = field(default_factory=dict)  # columns filled in after the load
    native: NativeSchema | None = None  # the source's own DDL (same dialect on both sides)


def open_target_tables(prep: Prepared, conn: Connection) -> Target:
    """Look at the target before the first write: which tables exist, and whose rows they hold."""
    plan = prep.loaded.plan
    present = table_names(conn)
    foreign = foreign_rows(prep, conn, present)
    conn.commit()
    refused = table_refusals(prep, present, foreign)  # found by the preflight already, unless it changed since
    if refused:
        raise SafetyError("\n".join(refused))
    target = designed_target(prep, conn)
    if foreign and plan.target.existing == "truncate":
        with conn.begin():
            empty_tables(conn, [n for n in prep.copied_tables if n in foreign])
    return target


def designed_target(prep: Prepared, conn: Connection) -> Target:
    """The target's tables as the run designs them (its own schema, the source's native one, or the
    existing one), without looking at the target: what a worker of a run already started needs."""
    plan = prep.loaded.plan
    schema, native = None, None
    builder = native_builder(prep)
    if builder is not None:
        native = builder(prep.conn, prep.copied_tables, dropped_columns(prep))
    elif plan.data.schema_ != "existing":
        schema = design(
            prep.source.metadata,
            prep.copied_tables,
            connect.backend(prep.source_url),
            connect.backend(prep.target_url),
            dropped_columns(prep),
        )
    return Target(conn, schema, merge=plan.target.existing == "merge", native=native)


def native_builder(prep: Prepared) -> NativeBuilder | None:
    """The builder of the target's schema from the source's own DDL: for `schema: create` when both
    sides are one dialect that has one; else the SQLAlchemy path (design/finalize) makes the schema."""
    if prep.loaded.plan.data.schema_ == "existing":
        return None
    return builder_for(connect.backend(prep.source_url), connect.backend(prep.target_url), prep.conn)


def dropped_columns(prep: Prepared) -> dict[str, set[str]]:
    data = prep.loaded.plan.data
    return {n: {c for c, rule in data.rule(n).columns.items() if rule.action == "drop"} for n in prep.copied_tables}


def create_native(prep: Prepared, target: Target) -> list[str]:
    """Run the native schema's before-load statements, in the caller's transaction, when none of the
    copied tables exists yet; returns the tables created. When all exist (a run continuing after a
    crash, or loading into tables kept by `existing: truncate`), nothing is made."""
    assert target.native is not None
    conn = target.conn
    present = table_names(conn)
    there = [n for n in prep.copied_tables if n in present]
    if len(there) == len(prep.copied_tables):
        return []
    if there and conn.dialect.name == "mysql" and not _holding_rows(conn, there):
        # MariaDB commits each CREATE by itself: a run stopped part-way left some tables, empty.
        # Its statements are CREATE ... IF NOT EXISTS: running them all again makes the rest.
        execute_all(conn, _before_load(target))
        return [n for n in prep.copied_tables if n not in there]
    if there:
        raise SafetyError(
            f"the target has some of the tables to copy ({', '.join(there)}) but not the others: the source's "
            "schema is created as a whole; drop those tables, or use data.schema: existing"
        )
    execute_all(conn, _before_load(target), together=True)  # none of the tables exists: a first run
    return list(prep.copied_tables)


def _holding_rows(conn: Connection, tables: list[str]) -> bool:
    preparer = conn.dialect.identifier_preparer
    return any(conn.exec_driver_sql(f"SELECT 1 FROM {preparer.quote(t)} LIMIT 1").first() for t in tables)


def finish_native(
    prep: Prepared,
    target: Target,
    run_id: str,
    engine: Engine | None = None,
    workers: int = 1,
    built: set[str] | frozenset[str] = frozenset(),
) -> None:
    """The native schema's after-load statements and the ledger's mark of them, in one transaction:
    a run that stops in between runs them again, one that stops after does not. With `workers`, on
    PostgreSQL, the tables' indexes and keys are built first, that many tables at once, each in a
    transaction of its own (as the copy loaded them, and as pg_restore -j does), but those of the
    tables in `built` (built by the copy's workers as each table's copy ended: `table_indexes`); the
    one transaction then finds them there and skips them (execute_all), so a run stopped in between
    still ends with the whole list run once and marked."""
    assert target.native is not None
    conn, plan = target.conn, prep.loaded.plan.name
    done = ledger.progress(conn, plan, "schema", "after-load").chunks > 0
    conn.commit()
    if done:
        return
    statements = _after_load(target)
    if engine is not None and workers > 1 and conn.dialect.name == "postgresql":
        pending = {t: s for t, s in table_indexes(target).items() if t not in built}
        _build_at_once(engine, list(pending.values()), workers)
    with conn.begin():
        execute_all(conn, statements)
        ledger.mark_done(conn, plan, run_id, AFTER_LOAD_UNIT, 0, None)


def table_indexes(target: Target) -> dict[str, list[str]]:
    """Per copied table, the after-load statements that build its indexes, unique keys and primary
    key (PostgreSQL's native schema): they need nothing but the table's rows, so each can run as soon
    as its table is loaded, on a connection of its own. Empty for any other target."""
    names = _dumped_names(target)
    if not names:
        return {}
    return {names[dumped]: s for dumped, s in indexes_per_table(_after_load(target), set(names)).items()}


def table_foreign_keys(target: Target) -> list[tuple[str, str, str]]:
    """(table, the table it references, statement) of each after-load foreign key between copied
    tables (PostgreSQL's native schema): each can be added once both tables are loaded and indexed."""
    names = _dumped_names(target)
    if not names:
        return []
    return [(names[c], names[p], s) for c, p, s in foreign_keys_of(_after_load(target)) if c in names and p in names]


def _dumped_names(target: Target) -> dict[str, str]:
    """The copied tables as pg_dump names them, to their plan names; empty but for a native
    PostgreSQL schema."""
    conn = target.conn
    if target.native is None or conn.dialect.name != "postgresql":
        return {}
    current = str(conn.exec_driver_sql("SELECT current_schema()").scalar_one())
    conn.commit()
    return {_dumped_name(conn, t, current): t for t in target.tables}


def build_indexes(conn: Connection, statements: list[str]) -> None:
    """One table's indexes and keys (`table_indexes`), in a transaction of their own."""
    with conn.begin():
        execute_all(conn, statements)


def _after_load(target: Target) -> list[str]:
    """What runs after the last row: the primary keys too, unless they came before it (NativeSchema.keys)."""
    assert target.native is not None
    return target.native.after_load if target.merge else target.native.keys + target.native.after_load


def _before_load(target: Target) -> list[str]:
    """What runs before the first row: the primary keys too when rows are upserted (NativeSchema.keys)."""
    assert target.native is not None
    return target.native.before_load + (target.native.keys if target.merge else [])


def _dumped_name(conn: Connection, name: str, current: str) -> str:
    """A table as pg_dump names it: always with its schema, each part quoted where needed."""
    schema, table = split(name)
    preparer = conn.dialect.identifier_preparer
    return f"{preparer.quote_schema(schema or current)}.{preparer.quote(table)}"


def _build_at_once(engine: Engine, statements: list[list[str]], workers: int) -> None:
    def build(table_statements: list[str]) -> None:
        with engine.connect() as own:
            build_indexes(own, table_statements)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="migrator-keys") as pool:
        for future in [pool.submit(build, s) for s in statements]:
            future.result()


def bind_target_tables(prep: Prepared, target: Target) -> None:
    conn = target.conn
    if target.schema is not None:
        target.tables = {name: target.schema.table(name) for name in prep.copied_tables}
        return
    backend = conn.dialect.name
    with conn.begin():
        if target.native is not None:
            # The writers see every column but the generated ones, which the target computes itself.
            target.tables = reflected_without(conn, prep.copied_tables, target.native.generated)
        else:
            target.tables = reflected(conn, prep.copied_tables)
            _check_columns(prep, target.tables)
            # A column the existing table computes (GENERATED ... AS) takes no value: it is left to
            # the target, as with a schema migrator made, and verification compares what it computed.
            generated = {n: [c.name for c in t.columns if c.computed is not None] for n, t in target.tables.items()}
            if any(generated.values()):
                target.tables = reflected_without(conn, prep.copied_tables, generated)
            if backend == "postgresql":
                target.deferred = cyclic_foreign_key_columns(conn, prep.copied_tables)
    if backend == "mysql":
        # Foreign keys are checked row by row in MySQL; for this session the load order is free,
        # as in mysqldump. The keys still hold at the end: the subset is closed under them.
        conn.exec_driver_sql("SET SESSION FOREIGN_KEY_CHECKS = 0")
        conn.commit()


@dataclass
class Restarted:
    """What `--restart` removed, for the report and the audit trail."""

    previous_run: str | None  # the run whose writes were removed; None if there was none
    removed: list[str] = field(default_factory=list)  # e.g. "dropped users, posts"


def restart(prep: Prepared, conn: Connection) -> Restarted:
    """Remove what this plan wrote: drop the tables it created, empty the ones it filled, and forget
    its checkpoints."""
    plan = prep.loaded.plan
    run = ledger.current_run(conn, plan.name)
    conn.commit()
    if run is None:
        return Restarted(None)
    if run.existing == "merge":
        raise SafetyError(
            "--restart cannot tell this plan's rows from the rows that were there before a merge: "
            "restore the plan file and run again to continue, or clean the target yourself"
        )
    written = ledger.tables_written(conn, plan.name) | set(run.created_tables)
    conn.commit()
    present = table_names(conn)
    conn.commit()
    done = Restarted(run.run_id)
    with conn.begin():
        created = [n for n in run.created_tables if n in present]
        filled = [n for n in written if n in present and n not in created]
        if filled:
            empty_tables(conn, sorted(filled))
            done.removed.append(f"emptied {', '.join(sorted(filled))}")
        if created:
            if native_builder(prep) is not None:
                # What the source's DDL made with them goes too (views, triggers, keys, owned sequences);
                # types and functions stay, and the next run's before-load skips them.
                drop_created(conn, created)
            else:
                drop_tables(conn, created)
            done.removed.append(f"dropped {', '.join(created)}")
        ledger.forget(conn, plan.name)
    return done


def _check_columns(prep: Prepared, tables: dict[str, sa.Table]) -> None:
    problems = []
    for name, table in tables.items():
        rules = prep.loaded.plan.data.rule(name).columns
        kept = [c.name for c in prep.source.table(name).columns]
        wanted = [c for c in kept if rules.get(c) is None or rules[c].keeps_column]
        missing = [c for c in wanted if c not in table.c]
        if missing:
            problems.append(f"{name} has no column {', '.join(missing)}")
    if problems:
        raise SafetyError(
            "the existing target tables do not fit the source: "
            + "; ".join(problems)
            + " (add the columns, drop them in the plan with `drop`, or use data.schema: create)"
        )
