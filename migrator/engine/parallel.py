"""`--workers N`: several tables copied at once, every worker reading the run's one snapshot.

Parallel copying needs two things: a source that can share its snapshot (PostgreSQL exports it;
MySQL and SQLite cannot, so they copy one table at a time) and a target whose tables take rows in
any order (bare tables of `schema: create`, where keys come after the load; not SQLite, which has
one writer). Each worker takes the next table from a shared queue, in load order, with its own
source and target connections; the first failure or Ctrl-C stops the others after their current unit.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from migrator.engine.copy import CopyContext, copy_table, staging_ahead
from migrator.engine.results import TableCopy
from migrator.engine.transforms import RowTransform
from migrator.errors import Interrupted
from migrator.stores.sql.cancel import canceller
from migrator.stores.sql.snapshot import export_snapshot, joined, table_sizes

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def copy_tables(
    ctx: CopyContext, target_engine: Engine, names: list[str], transforms: dict[str, RowTransform | None], workers: int
) -> list[TableCopy]:
    snapshot_id = export_snapshot(ctx.source) if workers > 1 and _parallel_target(ctx) else None
    if snapshot_id is None:
        if workers > 1:
            ctx.observer.step(
                "--workers: one table at a time here (parallel copies need a PostgreSQL source, whose snapshot "
                "workers can share, and a non-SQLite target with data.schema: create)"
            )
        with staging_ahead(ctx, names, transforms) as serial:
            return [copy_table(serial, name, transforms[name]) for name in names]
    todo: queue.Queue[str] = queue.Queue()
    # The tables' keys come after the load, so any order will do: the largest first packs best.
    sizes = table_sizes(ctx.source)
    for name in sorted(names, key=lambda n: -sizes.get(n, 0.0)):
        todo.put(name)
    results: dict[str, TableCopy] = {}
    # Stops every worker after its current unit: on Ctrl-C (it reads the run's flag) and on the
    # first failure of any of them (its own, so that a retry starts afresh).
    shared = ctx.stop.child()
    lock = threading.Lock()

    def work() -> None:
        with joined(ctx.prep.engine, snapshot_id) as source, target_engine.connect() as target_conn:
            worker = replace(ctx, source=source, target=replace(ctx.target, conn=target_conn), stop=shared)
            with (
                shared.cancellable(canceller(source), writes=False),
                shared.cancellable(canceller(target_conn, writes=True), writes=True),
            ):
                while not shared.requested:
                    try:
                        name = todo.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        copied = copy_table(worker, name, transforms[name])
                    except BaseException:
                        shared.halt()  # the others finish their unit and stop
                        raise
                    with lock:
                        results[name] = copied

    errors: list[BaseException] = []
    with ThreadPoolExecutor(max_workers=min(workers, len(names)), thread_name_prefix="migrator-copy") as pool:
        for future in [pool.submit(work) for _ in range(min(workers, len(names)))]:
            error = future.exception()
            if error is not None:
                errors.append(error)
    # The first real failure, not the "stopped" of the workers it stopped.
    real = [e for e in errors if not isinstance(e, Interrupted)]
    if real:
        raise real[0]
    if errors:
        raise errors[0]
    ctx.stop.check()
    return [results[name] for name in names if name in results]


def _parallel_target(ctx: CopyContext) -> bool:
    """A target whose foreign keys come after the load, so that tables may load in any order: the
    SQLAlchemy-made schema but SQLite's, and PostgreSQL's own (its foreign keys are post-data)."""
    dialect = ctx.target.conn.dialect.name
    if ctx.target.native is not None:
        return dialect == "postgresql"
    return ctx.target.schema is not None and dialect != "sqlite"
