"""A table unit as a worker of another process (a Dask worker) runs it, without importing Dask.

What travels is `TableTask`: the plan's bytes with its ${VAR}s unresolved, their SHA-256, the run id,
the exported snapshot's id, the table, its key range's number and migrator's version (the range's
bounds are read from the target's ledger, where the client recorded them). No secret: the worker resolves the
plan's variables and MIGRATOR_HASH_KEY from its own environment, and refuses a task of another
migrator version or whose bytes do not hash to the SHA-256 sent with them.

A worker keeps, per thread, what it opened for a run (the plan checked against the source, a source
connection reading the run's snapshot, a target connection and its tables), so that the units after
the first reuse them. Exactly-once is the target ledger's (engine/unit_commit.py), not the worker's.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from migrator.engine.copy import CopyContext, range_unit
from migrator.engine.fault_point import committed_fault_point
from migrator.engine.interrupt import StopFlag
from migrator.engine.observer import Silent
from migrator.engine.prepare import Prepared, prepared, urls
from migrator.engine.ranges import ranges_of
from migrator.engine.target import bind_target_tables, designed_target
from migrator.engine.trail import RunTrail
from migrator.engine.transforms import RowTransform, hash_key_from, row_transform
from migrator.errors import UsageError
from migrator.plan.load import load_plan
from migrator.stores.sql import connect
from migrator.stores.sql.snapshot import joined
from migrator.version import __version__


@dataclass(frozen=True)
class TableTask:
    plan_bytes: bytes  # the plan file as it is, ${VAR}s unresolved
    plan_sha256: str
    run_id: str
    snapshot_id: str
    table: str
    version: str
    attempt: str  # this client's, fencing off the units of the clients before it
    range_index: int = 0  # the table's key range (engine/ranges.py), whose bounds the ledger holds


class CollectedTrail(RunTrail):
    """A worker writes no audit trail: its units' events go back to the client, which writes them."""

    def __init__(self) -> None:
        self.collected: list[tuple[str, dict[str, Any]]] = []

    def event(self, event: str, **fields: Any) -> None:
        self.collected.append((event, fields))

    def events(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        self.collected.extend(events)


@dataclass
class _Opened:
    ctx: CopyContext
    transforms: dict[str, RowTransform | None]
    stack: ExitStack


_opened: dict[tuple[int, str, str], _Opened] = {}
_lock = threading.Lock()


def checked(task: TableTask) -> None:
    """Refuse a task this worker must not run: another migrator, or bytes that are not the plan's."""
    if task.version != __version__:
        raise UsageError(
            f"this worker runs migrator {__version__} and the client {task.version}: "
            "one image for client, scheduler and workers"
        )
    if hashlib.sha256(task.plan_bytes).hexdigest() != task.plan_sha256:
        raise UsageError("the plan's bytes do not match their SHA-256: refused")


def join_snapshot(task: TableTask) -> str:
    """Before any unit: the plan loaded here (variables from this worker's environment) and the run's
    snapshot imported from the source it names, which fails on any other server than the client's."""
    checked(task)
    with tempfile.TemporaryDirectory(prefix="migrator-plan-") as folder:
        loaded = load_plan(_plan_file(Path(folder), task), os.environ)
        engine = connect.open_source(urls(loaded)[0])
        try:
            with joined(engine, task.snapshot_id) as conn:
                conn.exec_driver_sql("SELECT 1").all()
        finally:
            engine.dispose()
    return f"pid {os.getpid()}"


def run_table(task: TableTask, stop: StopFlag) -> dict[str, Any]:
    """Copy one key range of a table (its chunks committed exactly once), with what this thread
    opened for the run: the RangeCopy as a dict and the events for the client's audit trail."""
    opened = _open(task)
    trail = CollectedTrail()
    ctx = opened.ctx
    ctx.trail, ctx.stop, ctx.attempt = trail, stop, task.attempt
    ranges = ranges_of(ctx.target.conn, ctx.prep.loaded.plan.name, task.table)
    if task.range_index >= len(ranges):
        raise UsageError(f"{task.table} has no key range {task.range_index} in the target's ledger")
    copied = range_unit(ctx, task.table, opened.transforms[task.table], ranges[task.range_index])
    # Test-only: a worker lost here has committed its units, and Dask runs the task again elsewhere.
    committed_fault_point(ctx.prep.loaded.plan.name, f"table:{task.table}:{task.range_index}")
    return {"range": asdict(copied), "events": trail.collected}


def _open(task: TableTask) -> _Opened:
    checked(task)
    key = (threading.get_ident(), task.run_id, task.snapshot_id)
    with _lock:
        found = _opened.get(key)
        if found is not None:
            return found
        for other in [k for k in _opened if k[0] == key[0]]:  # an earlier run's, on this thread
            _opened.pop(other).stack.close()
    stack = ExitStack()
    try:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="migrator-plan-")))
        loaded = load_plan(_plan_file(folder, task), os.environ)
        prep = stack.enter_context(prepared(loaded))
        source = stack.enter_context(joined(prep.engine, task.snapshot_id))
        target_engine = connect.open_target(prep.target_url, create=False)
        stack.callback(target_engine.dispose)
        conn = stack.enter_context(target_engine.connect())
        target = designed_target(prep, conn)
        bind_target_tables(prep, target)
        ctx = CopyContext(prep, source, target, task.run_id, Silent(), StopFlag(), CollectedTrail())
        opened = _Opened(ctx, _transforms(prep), stack)
    except BaseException:
        stack.close()
        raise
    with _lock:
        _opened[key] = opened
    return opened


def _plan_file(folder: Path, task: TableTask) -> Path:
    path = folder / "plan.yaml"
    path.write_bytes(task.plan_bytes)
    return path


def _transforms(prep: Prepared) -> dict[str, RowTransform | None]:
    key = hash_key_from(dict(os.environ))
    result = {}
    for name in prep.copied_tables:
        columns = {c.name: c for c in prep.source.schema.tables[name].columns}
        result[name] = row_transform(dict(prep.loaded.plan.data.rule(name).columns), columns, key)
    return result
