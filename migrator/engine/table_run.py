"""The tables part of a run: the subset copied into the target database, unit by checkpointed unit.

One attempt opens the source (read-only, one snapshot) and the target, reads the ledger in the target
and carries on from the last committed unit; a transient failure (a dropped connection, a timeout)
ends the attempt, and the run loop (engine/run.py) starts the next after a backoff. Because every
unit commits with its mark, an attempt can stop anywhere without loss.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from migrator.engine import preflight
from migrator.engine.copy import CopyContext, fill_deferred
from migrator.engine.early_schema import EarlySchema
from migrator.engine.executors.options import DaskOptions, refuse_stores
from migrator.engine.finished import nothing_to_do
from migrator.engine.parallel import copy_tables
from migrator.engine.parts.base import RunContext
from migrator.engine.prepare import Prepared, prepared, urls
from migrator.engine.ranges import KeyRange, plan_ranges
from migrator.engine.results import RunResult, TableCopy
from migrator.engine.target import (
    bind_target_tables,
    create_native,
    finish_native,
    open_target_tables,
    restart,
)
from migrator.engine.trail_reconcile import log_unlogged_units
from migrator.engine.transforms import RowTransform, hash_key_from, row_transform
from migrator.engine.verify import verification_manifest, verify_recorded
from migrator.errors import DanglingRowsError, SafetyError, UsageError
from migrator.plan.load import LoadedPlan
from migrator.startup_gc import start_up_done
from migrator.stores.sql import connect, ledger
from migrator.stores.sql.cancel import canceller
from migrator.stores.sql.errors import refused_before_writing, translated
from migrator.stores.sql.identity import same_database
from migrator.stores.sql.pg_native import SchemaDumps
from migrator.stores.sql.snapshot import map_in_snapshot
from migrator.stores.sql.target_schema import TargetSchema, add_keys, counter_columns, create_tables, finalize
from migrator.subset.classify import Edge
from migrator.variables import LOCK_TIMEOUT_VARIABLE
from migrator.verify.digest import Digest

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine


def _finished_already(loaded: LoadedPlan) -> RunResult | None:
    """A finished run of this very plan file in the target: nothing to do, said without opening the
    source (reading its schema and building the subset SQL is most of a no-op run's time)."""
    source_url, target_url = urls(loaded)
    if same_database(source_url, target_url) or not connect.target_exists(target_url):
        return None  # the full path refuses or creates, with its own messages
    run = ledger.finished_run_at(target_url, loaded.plan.name, loaded.sha256)
    return None if run is None else nothing_to_do(loaded.plan.name, run.run_id, connect.redact(target_url))


def run_tables(ctx: RunContext) -> RunResult:
    """One attempt at the tables: carries on from the last unit the target committed."""
    loaded, options, start_over = ctx.loaded, ctx, ctx.start_over
    if options.dask is not None:  # before the source is opened: a refusal costs nothing
        refuse_stores(*(connect.backend(url) for url in urls(loaded)))
    options.stop.check()
    finished = None if start_over else _finished_already(loaded)
    if finished is not None:
        ctx.run_id = finished.run_id
        return finished
    stop = options.stop
    # the plan checked against the source schema; reads in flight are cancelled at the first Ctrl-C
    with (
        translated("the run"),
        SchemaDumps() as dumps,
        prepared(loaded, _schema_dump(loaded, dumps)) as prep,
        stop.cancellable(canceller(prep.conn), writes=False),
    ):
        lock_timeout = _seconds(options.env, LOCK_TIMEOUT_VARIABLE, 60.0)
        preflight.refuse(prep, restarting=start_over, lock_timeout=lock_timeout)  # the target, before any write
        transforms = _transforms(prep, options.env)
        engine = connect.open_target(prep.target_url, create=True, lock_timeout=lock_timeout)
        try:
            with engine.connect() as conn, stop.cancellable(canceller(conn, writes=True), writes=True):
                if start_over:
                    restarted = restart(prep, conn)
                    # Under the run whose writes it removed: the event closes that run.
                    options.trail.log.append(restarted.previous_run or "", "run restarted", removed=restarted.removed)
                    for note in restarted.removed:
                        options.observer.step(f"--restart: {note}")
                result = _copy_all(prep, engine, conn, transforms, options)
        finally:
            engine.dispose()
    return result


def _copy_all(
    prep: Prepared,
    engine: Engine,
    conn: Connection,
    transforms: dict[str, RowTransform | None],
    options: RunContext,
) -> RunResult:
    plan = prep.loaded.plan
    # The run row taken before the ledger is read: units in flight (holding it FOR SHARE) commit first.
    run = ledger.current_run(conn, plan.name, take=True)
    conn.commit()
    if run is not None and run.plan_sha256 != prep.loaded.sha256:
        raise SafetyError(preflight.another_version(run, plan.name))
    target_url = connect.redact(prep.target_url)
    if run is not None and run.status == "finished":
        options.run_id = run.run_id
        return nothing_to_do(plan.name, run.run_id, target_url)
    run_id = run.run_id if run else uuid.uuid4().hex[:16]
    dangling = _dangling(prep, options, first=run is None)
    target = open_target_tables(prep, conn)
    with refused_before_writing("target", target_url):  # a missing grant here: exit 2, nothing written
        with conn.begin():
            ledger.ensure(conn)
        with conn.begin():
            if target.native is not None:
                created = create_native(prep, target)
            else:
                created = create_tables(conn, target.schema) if target.schema else []
            if run is None:
                ledger.start_run(conn, plan.name, run_id, prep.loaded.sha256, created, plan.target.existing)
            else:
                ledger.add_created_tables(conn, plan.name, created)
    trail = options.trail
    options.run_id = run_id
    trail.started(
        run_id,
        plan.name,
        prep.loaded.sha256,
        connect.redact(prep.source_url),
        connect.redact(prep.target_url),
        resumed=run is not None,
    )
    for count in dangling:
        trail.event("dangling rows", **count)
    if target.native is not None and target.native.left_out:
        trail.event("left out of the schema", objects=target.native.left_out)  # as `migrator plan` lists them
    bind_target_tables(prep, target)
    early = EarlySchema(target, enabled=options.workers > 1 and options.dask is None)
    ctx = CopyContext(prep, prep.conn, target, run_id, options.observer, options.stop, trail)
    # Cut once, in the run's snapshot, and recorded before any unit runs: a resume reuses them.
    ranges = plan_ranges(ctx, prep.copied_tables, options.env, options.workers)
    start_up_done()  # the copy's loop from here: garbage collected as usual (startup_gc.py)
    if options.dask is not None:
        copies = _copy_on_dask(ctx, options.dask, options.workers, ranges)
    else:
        copies = copy_tables(
            ctx,
            engine,
            prep.copied_tables,
            transforms,
            options.workers,
            ranges,
            workers_asked=options.workers_asked,
            loaded=early.loaded,
        )
    # Units committed by a process killed before it logged them (a resume's predecessor, a lost worker).
    log_unlogged_units(ctx, prep.copied_tables, ranges)
    for name, columns in target.deferred.items():
        fill_deferred(ctx, name, columns)
    options.stop.check()  # a Ctrl-C during the last unit stops before the steps after the copy
    if target.native is not None:
        options.observer.step("adding keys, indexes and counters")  # and the views and triggers
        with translated("adding keys, indexes and counters to the target"):
            finish_native(prep, target, run_id, engine, options.workers, early.built)
    elif target.schema is not None:
        options.observer.step("adding keys, indexes and counters")
        with translated("adding keys, indexes and counters to the target"):
            _add_keys_at_once(engine, target.schema, options.workers)
            with conn.begin():
                finalize(conn, target.schema, counter_columns(target.schema))
    verification = None
    options.stop.check()
    if options.verify:
        options.observer.step("verifying the target against the source")
        recorded = {c.table: (c.method, Digest(c.rows, c.checksum)) for c in copies}
        verification = verify_recorded(prep, options.env, recorded, options.workers)
        trail.event(
            "verification",
            ok=verification.ok,
            checks=len(verification.checks),
            failures=[asdict(c) for c in verification.failures],
            seconds=verification.seconds,
        )
    if verification is None or verification.ok:
        # A run whose verification failed is not finished: running it again verifies again.
        with conn.begin():
            manifest = verification_manifest(prep, verified=verification is not None)
            ledger.finish_run(conn, plan.name, run_id, manifest)
    status = "finished" if run is None else "resumed-and-finished"
    if verification is not None and not verification.ok:
        status = "copied-but-not-verified"
    skipped = sorted(t for t, kind in prep.classes.classes.items() if kind in ("skip", "unlisted"))
    return RunResult(
        plan.name,
        run_id,
        status,
        copies,
        0.0,
        target_url,
        verification=verification.to_dict() if verification else None,
        dangling=dangling,
        skipped_tables=skipped,
    )


def _schema_dump(loaded: LoadedPlan, dumps: SchemaDumps) -> Callable[[Connection], None] | None:
    """PostgreSQL to PostgreSQL with the source's own schema: pg_dump begun with the run's snapshot."""
    source, target = (connect.backend(url) for url in urls(loaded))
    native = loaded.plan.data.schema_ != "existing" and source == target == "postgresql"
    return dumps.start if native else None


def _copy_on_dask(
    ctx: CopyContext, dask: DaskOptions, workers: int, ranges: dict[str, list[KeyRange]]
) -> list[TableCopy]:
    """The tables' units on a Dask cluster; Dask is imported here, by the runs that ask for it."""
    from migrator.engine.executors.dask import copy_tables_on_dask

    loaded = ctx.prep.loaded
    plan_bytes = loaded.file.read_bytes()
    if hashlib.sha256(plan_bytes).hexdigest() != loaded.sha256:
        raise SafetyError(f"{loaded.file} changed since the run read it: run it again")
    return copy_tables_on_dask(ctx, ctx.prep.copied_tables, dask, workers, plan_bytes, ranges)


def _dangling(prep: Prepared, options: RunContext, *, first: bool) -> list[dict[str, Any]]:
    """Rows left out (or nulled) because they point outside the subset, per relation, counted on the
    source before the first write. `dangling: fail` relations are always counted: they stop the run
    there. The others only with --count-dangling, by the run that starts the copy: `migrator plan`
    shows them, and counting them took 40% of a run at scale 1 (docs/design-decisions.md)."""
    policies = ("drop", "nullify", "fail") if options.count_dangling and first else ("fail",)
    names = [
        name
        for name in prep.copied_tables
        if any(e.policy in policies for e in prep.classes.edges_from(name, "scope", "constraint"))
    ]

    def count(conn: Connection, name: str) -> list[tuple[Edge, int]]:
        return prep.queries.counts(name, policies, with_rows=False).read(conn).dangling

    counts, failing = [], []
    for name, counted in zip(
        names, map_in_snapshot(prep.engine, prep.conn, names, count, options.workers), strict=True
    ):
        for edge, rows in counted:
            if rows:
                counts.append({"table": name, "relation": str(edge.fk), "policy": edge.policy, "rows": rows})
                if edge.policy == "fail":
                    failing.append(f"{rows} {'row' if rows == 1 else 'rows'} of {name} through {edge.fk}")
    if failing:
        raise DanglingRowsError(
            "rows point at rows outside the subset and the plan says dangling: fail: "
            + "; ".join(failing)
            + " (run `migrator plan` to see them, or choose drop or nullify)"
        )
    return counts


def _add_keys_at_once(engine: Engine, schema: TargetSchema, workers: int) -> None:
    """With --workers, the tables' unique keys and indexes are built on that many connections at
    once, as the parallel copy wrote them; `finalize` then finds them there and adds the rest."""
    if workers < 2 or schema.backend == "sqlite":
        return

    def build(name: str) -> None:
        with engine.begin() as conn:
            add_keys(conn, schema, name)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="migrator-keys") as pool:
        for future in [pool.submit(build, name) for name in schema.full.tables]:
            future.result()


def _transforms(prep: Prepared, env: dict[str, str]) -> dict[str, RowTransform | None]:
    key = hash_key_from(env)
    data = prep.loaded.plan.data
    result = {}
    for name in prep.copied_tables:
        columns = {c.name: c for c in prep.source.schema.tables[name].columns}
        result[name] = row_transform(dict(data.rule(name).columns), columns, key)
    return result


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{name} must be a number of seconds, got {text!r}") from None
    if value <= 0:
        raise UsageError(f"{name} must be more than 0 seconds, got {text!r}")
    return value
