"""`migrator run`: copy the subset into the target, unit by checkpointed unit (SPEC §4, §5)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from migrator.engine.observer import Observer, Silent
from migrator.engine.prepare import Prepared, prepared
from migrator.engine.results import RunResult, TableCopy
from migrator.engine.state import write_run_record
from migrator.engine.transforms import RowTransform, hash_key_from, row_transform
from migrator.errors import DanglingRowsError, PermanentError, SafetyError
from migrator.plan.load import LoadedPlan
from migrator.stores.sql import connect, ledger
from migrator.stores.sql.identity import same_database
from migrator.stores.sql.snapshot import stream
from migrator.stores.sql.target_schema import (
    TargetSchema,
    counter_columns,
    create_tables,
    cyclic_foreign_key_columns,
    design,
    finalize,
)
from migrator.stores.sql.writer import count_rows, delete_all, update_rows, write_rows


@dataclass
class _Target:
    """The target as this run writes it."""

    conn: Connection
    schema: TargetSchema | None  # None when the plan loads into an existing schema
    merge: bool
    tables: dict[str, sa.Table] = field(default_factory=dict)
    deferred: dict[str, list[str]] = field(default_factory=dict)  # columns filled in after the load


def run_plan(
    loaded: LoadedPlan, *, observer: Observer | None = None, environ: Mapping[str, str] | None = None
) -> RunResult:
    observer = observer or Silent()
    env = dict(os.environ if environ is None else environ)
    started = time.monotonic()
    with prepared(loaded) as prep:
        if same_database(prep.source_url, prep.target_url):
            raise SafetyError(
                f"the target is the source ({connect.redact(prep.target_url)}): "
                "point target.database at another database"
            )
        transforms = _transforms(prep, env)
        _refuse_failing_dangling(prep)
        engine = connect.open_target(prep.target_url, create=True)
        try:
            with engine.connect() as conn:
                result = _run(prep, conn, transforms, observer)
        finally:
            engine.dispose()
    result.seconds = round(time.monotonic() - started, 3)
    write_run_record(loaded.state_dir, result, loaded.sha256)
    return result


def _run(prep: Prepared, conn: Connection, transforms: dict[str, RowTransform | None], observer: Observer) -> RunResult:
    plan = prep.loaded.plan
    run = ledger.current_run(conn, plan.name)
    conn.commit()
    if run is not None and run.plan_sha256 != prep.loaded.sha256:
        raise SafetyError(
            f"the target holds a {run.status} run of plan {plan.name} made from a different version of the "
            "plan file: resuming would mix two plans; restore the plan file, or empty the target and run again"
        )
    target_url = connect.redact(prep.target_url)
    if run is not None and run.status == "finished":
        message = "this plan already ran to the end against this target: nothing to do"
        return RunResult(plan.name, run.run_id, "already-finished", [], 0.0, target_url, message)
    run_id = run.run_id if run else uuid.uuid4().hex[:16]
    target = _prepare_target(prep, conn)
    with conn.begin():
        ledger.ensure(conn)
    with conn.begin():
        created = create_tables(conn, target.schema) if target.schema else []
        if run is None:
            ledger.start_run(conn, plan.name, run_id, prep.loaded.sha256, created)
        else:
            ledger.add_created_tables(conn, plan.name, created)
    _bind_target_tables(prep, target)
    copies = [_copy_table(prep, target, name, transforms[name], run_id, observer) for name in prep.copied_tables]
    for name, columns in target.deferred.items():
        _fill_deferred(prep, target, name, columns, run_id)
    if target.schema is not None:
        observer.step("adding keys, indexes and counters")
        with conn.begin():
            finalize(conn, target.schema, counter_columns(target.schema))
    with conn.begin():
        ledger.finish_run(conn, plan.name)
    return RunResult(plan.name, run_id, "finished", copies, 0.0, target_url)


def _transforms(prep: Prepared, env: dict[str, str]) -> dict[str, RowTransform | None]:
    key = hash_key_from(env)
    data = prep.loaded.plan.data
    result = {}
    for name in prep.copied_tables:
        columns = {c.name: c for c in prep.source.schema.tables[name].columns}
        result[name] = row_transform(dict(data.rule(name).columns), columns, key)
    return result


def _refuse_failing_dangling(prep: Prepared) -> None:
    """`dangling: fail` is checked on the source before anything is written."""
    found = []
    for name in prep.copied_tables:
        for edge, query in prep.queries.dangling(name):
            if edge.policy == "fail":
                count = prep.conn.execute(query).scalar_one()
                if count:
                    found.append(f"{count} rows of {name} through {edge.fk}")
    if found:
        raise DanglingRowsError(
            "rows point at rows outside the subset and the plan says dangling: fail: "
            + "; ".join(found)
            + " (run `migrator plan` to see them, or choose drop or nullify)"
        )


def _prepare_target(prep: Prepared, conn: Connection) -> _Target:
    """Look at the target before the first write: which tables exist, and whose rows they hold."""
    plan = prep.loaded.plan
    present = set(sa.inspect(conn).get_table_names())
    ours = ledger.tables_written(conn, plan.name)
    foreign = {n: count_rows(conn, n) for n in prep.copied_tables if n in present and n not in ours}
    foreign = {n: rows for n, rows in foreign.items() if rows}
    conn.commit()
    schema = None
    if plan.data.schema_ == "existing":
        missing = [n for n in prep.copied_tables if n not in present]
        if missing:
            raise SafetyError(
                f"data.schema is existing, but the target has no table {', '.join(missing)}: "
                "create them first, or set data.schema: create"
            )
    else:
        dropped = {
            n: {c for c, rule in plan.data.rule(n).columns.items() if rule.action == "drop"} for n in prep.copied_tables
        }
        schema = design(
            prep.source.metadata,
            prep.copied_tables,
            connect.backend(prep.source_url),
            connect.backend(prep.target_url),
            dropped,
        )
    if foreign and plan.target.existing == "fail":
        listing = ", ".join(f"{name} ({rows} rows)" for name, rows in sorted(foreign.items()))
        raise SafetyError(
            f"target tables hold rows this plan did not write: {listing}; set target.existing "
            "to truncate (empty them first) or merge (upsert by primary key)"
        )
    target = _Target(conn, schema, merge=plan.target.existing == "merge")
    if foreign and plan.target.existing == "truncate":
        with conn.begin():
            metadata = sa.MetaData()
            delete_all(conn, [sa.Table(n, metadata, autoload_with=conn) for n in prep.copied_tables if n in foreign])
    return target


def _bind_target_tables(prep: Prepared, target: _Target) -> None:
    conn = target.conn
    if target.schema is not None:
        target.tables = {name: target.schema.table(name) for name in prep.copied_tables}
        return
    metadata = sa.MetaData()
    with conn.begin():
        target.tables = {name: sa.Table(name, metadata, autoload_with=conn) for name in prep.copied_tables}
        _check_columns(prep, target.tables)
        backend = conn.dialect.name
        if backend == "postgresql":
            target.deferred = cyclic_foreign_key_columns(conn, prep.copied_tables)
    if backend == "mysql":
        # Foreign keys are checked row by row in MySQL; for this session the load order is free,
        # as in mysqldump. The keys still hold at the end: verification checks every one (I1).
        conn.exec_driver_sql("SET SESSION FOREIGN_KEY_CHECKS = 0")
        conn.commit()


def _check_columns(prep: Prepared, tables: dict[str, sa.Table]) -> None:
    problems = []
    for name, table in tables.items():
        rules = prep.loaded.plan.data.rule(name).columns
        wanted = [c for c in prep.source.table(name).columns.keys() if rules.get(c) is None or rules[c].keeps_column]
        missing = [c for c in wanted if c not in table.c]
        if missing:
            problems.append(f"{name} has no column {', '.join(missing)}")
    if problems:
        raise SafetyError(
            "the existing target tables do not fit the source: "
            + "; ".join(problems)
            + " (add the columns, drop them in the plan with `drop`, or use data.schema: create)"
        )


def _copy_table(
    prep: Prepared, target: _Target, name: str, transform: RowTransform | None, run_id: str, observer: Observer
) -> TableCopy:
    plan = prep.loaded.plan
    started = time.monotonic()
    conn = target.conn
    done = ledger.progress(conn, plan.name, "table", name)
    complete = ledger.progress(conn, plan.name, "complete", name).chunks > 0
    conn.commit()
    if complete:
        observer.table_started(name, done.rows, done.rows)
        observer.table_finished(name)
        return TableCopy(name, done.rows, done.chunks, done.chunks, 0.0)
    query = prep.queries.rows(name)
    total = prep.conn.execute(prep.queries.count(name)).scalar_one()
    observer.table_started(name, total, done.rows)
    target_table = target.tables[name]
    columns = set(target_table.c.keys())
    deferred = set(target.deferred.get(name, ()))
    chunk, rows_copied = done.chunks, done.rows

    def write(batch: list[sa.Row]) -> tuple[int, tuple[Any, ...] | None]:  # type: ignore[type-arg]
        rows = [dict(r._mapping) for r in batch]
        last_key = tuple(rows[-1][c] for c in query.order_by) if query.order_by else None
        if transform is not None:
            rows = [transform(r) for r in rows]
        rows = [{k: (None if k in deferred else v) for k, v in r.items() if k in columns} for r in rows]
        _guarded(lambda: write_rows(conn, target_table, rows, merge=target.merge), name, chunk, prep)
        observer.rows_copied(name, len(rows))
        return len(rows), last_key

    batches = _source_batches(prep, query.rows, name, query.order_by, done.last_key)
    if not query.order_by:
        # No key to continue after: the whole table is one unit, committed once.
        with conn.begin():
            for batch in batches:
                rows_copied += write(batch)[0]
            ledger.mark_done(conn, plan.name, run_id, f"table:{name}:0", rows_copied, None)
            ledger.mark_done(conn, plan.name, run_id, f"complete:{name}:0", 0, None)
        chunk = 1
    else:
        for batch in batches:
            with conn.begin():
                count, last_key = write(batch)
                ledger.mark_done(conn, plan.name, run_id, f"table:{name}:{chunk}", count, last_key)
            chunk += 1
            rows_copied += count
        with conn.begin():
            ledger.mark_done(conn, plan.name, run_id, f"complete:{name}:0", 0, None)
    observer.table_finished(name)
    return TableCopy(name, rows_copied, chunk, done.chunks, round(time.monotonic() - started, 3))


def _source_batches(
    prep: Prepared,
    statement: sa.Select,
    name: str,
    order_by: tuple[str, ...],
    after: tuple[Any, ...] | None,  # type: ignore[type-arg]
) -> Iterator[list[sa.Row]]:  # type: ignore[type-arg]
    """The subset rows in key order, from just after the last committed key when resuming."""
    if after is not None:
        table = prep.source.table(name)
        keys = [table.c[c] for c in order_by]
        statement = statement.where(sa.tuple_(*keys) > sa.tuple_(*after) if len(keys) > 1 else keys[0] > after[0])
    return stream(prep.conn, statement, prep.loaded.plan.data.chunk_rows)


def _fill_deferred(prep: Prepared, target: _Target, name: str, columns: list[str], run_id: str) -> None:
    """Set the cycle-closing keys that were loaded as NULL, now that every row they point at is there."""
    plan = prep.loaded.plan
    conn = target.conn
    done = ledger.progress(conn, plan.name, "fixup", name)
    complete = ledger.progress(conn, plan.name, "fixup-complete", name).chunks > 0
    conn.commit()
    if complete:
        return
    query = prep.queries.rows(name)
    if not query.order_by:
        raise PermanentError(f"{name} has no primary key, so its cycle-closing columns cannot be filled in")
    key_columns = list(query.order_by)
    chunk = done.chunks
    for batch in _source_batches(prep, query.rows, name, query.order_by, done.last_key):
        rows = [dict(r._mapping) for r in batch]
        updates = [{k: r[k] for k in key_columns + columns} for r in rows if any(r[c] is not None for c in columns)]
        with conn.begin():
            _guarded(lambda: update_rows(conn, target.tables[name], key_columns, columns, updates), name, chunk, prep)
            last_key = tuple(rows[-1][c] for c in key_columns)
            ledger.mark_done(conn, plan.name, run_id, f"fixup:{name}:{chunk}", len(updates), last_key)
        chunk += 1
    with conn.begin():
        ledger.mark_done(conn, plan.name, run_id, f"fixup-complete:{name}:0", 0, None)


def _guarded(write: Any, table: str, chunk: int, prep: Prepared) -> None:
    """A database refusal while writing becomes one clear message naming the table and chunk."""
    try:
        write()
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise PermanentError(
            f"writing chunk {chunk} of table {table} into {connect.redact(prep.target_url)} failed: {reason}; "
            "the chunks before it are kept: fix the cause and run the same command to continue"
        ) from None
