"""`--workers N`: several tables copied at once, every worker reading the run's one snapshot.

Parallel copying needs two things: a source that can share its snapshot (PostgreSQL exports it;
MySQL and SQLite cannot, so they copy one table at a time) and a target whose tables take rows in
any order (bare tables of `schema: create`, where keys come after the load; not SQLite, which has
one writer). The units are the tables' key ranges (engine/ranges.py: a big table is several, so that
the workers share it): each worker takes the next from a shared queue, largest first, with its own
source and target connections; the first failure or Ctrl-C stops the others after their current unit.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from migrator.engine.copy import CopyContext, RangeCopy, begin_table, copy_table, range_unit, staging_ahead, table_copy
from migrator.engine.ranges import KeyRange, parallel_target
from migrator.engine.results import TableCopy
from migrator.engine.transforms import RowTransform
from migrator.errors import Interrupted
from migrator.stores.sql.cancel import canceller
from migrator.stores.sql.snapshot import export_snapshot, joined

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine


def copy_tables(
    ctx: CopyContext,
    target_engine: Engine,
    names: list[str],
    transforms: dict[str, RowTransform | None],
    workers: int,
    ranges: dict[str, list[KeyRange]],
    *,
    workers_asked: bool = True,
    loaded: Callable[[Connection, str], None] | None = None,
) -> list[TableCopy]:
    """`ranges`: each table's key ranges (engine/ranges.py), as recorded in the ledger. `workers_asked`:
    --workers was given, not its default (the machine's cores), so a run that cannot copy in parallel
    says why only to whoever asked for it. `loaded(target connection, table)`: run by the worker
    that copied a table's last range, before it takes its next unit (the table's indexes, built
    while the other workers still copy: engine/target.py's table_indexes); parallel copies only."""
    snapshot_id = export_snapshot(ctx.source) if workers > 1 and parallel_target(ctx) else None
    if snapshot_id is None:
        if workers > 1 and workers_asked:
            ctx.observer.step(
                "--workers: one table at a time here (parallel copies need a PostgreSQL source, whose snapshot "
                "workers can share, and a non-SQLite target with data.schema: create)"
            )
        with staging_ahead(ctx, names, transforms) as serial:
            return [copy_table(serial, name, transforms[name]) for name in names]
    # The tables' keys come after the load, so any order will do: the largest units first pack best,
    # a range being its table's share.
    sizes = ctx.sizes
    units = [(name, key_range) for name in names for key_range in ranges[name]]
    todo: queue.Queue[tuple[str, KeyRange]] = queue.Queue()
    for unit in sorted(units, key=lambda u: -sizes.get(u[0], 0.0) / u[1].of):
        todo.put(unit)
    tables = {name: _Table(len(ranges[name])) for name in names}
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
                        name, key_range = todo.get_nowait()
                    except queue.Empty:
                        return
                    table = tables[name]
                    try:
                        with lock:  # the table's progress bar before any of its ranges' rows
                            if table.started is None:
                                table.started = time.monotonic()
                                begin_table(worker, name)
                        copied = range_unit(worker, name, transforms[name], key_range)
                    except BaseException:
                        shared.halt()  # the others finish their unit and stop
                        raise
                    with lock:
                        table.copies.append(copied)
                        last = len(table.copies) == table.ranges
                    if last:  # the table's last range: its totals, as the ledger has them
                        ctx.observer.table_finished(name)
                        copy = table_copy(worker, name, table.copies, time.monotonic() - (table.started or 0.0))
                        with lock:
                            results[name] = copy
                        if loaded is not None:
                            try:
                                loaded(target_conn, name)
                            except BaseException:
                                shared.halt()
                                raise

    errors: list[BaseException] = []
    count = min(workers, len(units))
    with ThreadPoolExecutor(max_workers=max(1, count), thread_name_prefix="migrator-copy") as pool:
        for future in [pool.submit(work) for _ in range(count)]:
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


@dataclass
class _Table:
    """A table whose ranges the workers copy: how many, when the first began, what each copied."""

    ranges: int
    started: float | None = None
    copies: list[RangeCopy] = field(default_factory=list)
