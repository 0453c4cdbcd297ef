"""`--executor dask`: the tables' units run on a Dask cluster; the CLI process is the client.

The one module of migrator that imports distributed (import-linter holds it to that), imported only
when a run asks for it, so that a plain run never loads Dask. The client:

* holds the source's exported snapshot for the whole run (its session never times out idle) and has
  every worker import it once before any unit runs: a worker that reaches another server, or none,
  fails there and the run is refused;
* takes the run over (a new attempt in the ledger's fences, after the units in flight of a client
  killed before it have committed: theirs after that are refused);
* submits one task per key range of a table (engine/ranges.py: the ranges were cut and recorded in
  the ledger before), keyed `migrator-RUN-TABLE-RANGE-ATTEMPT`, a bounded window of them in flight,
  largest first, releasing each future as its result is recorded; a table's result is assembled
  from the ledger once all its ranges are back;
* writes the audit trail alone, from the events the units send back, and at the end reconciles it
  with the target's ledger: a unit committed by a worker that was lost before its result came back
  is logged from its mark;
* on Ctrl-C sets a distributed.Event that the units check between chunks;
* fails the run at once when its scheduler is lost (killed, unreachable), with an error that names
  it, rather than wait out the client's reconnection: the units committed stay committed, and the
  same command on a scheduler that answers continues from them.

Dask may run a task twice (a lost worker's tasks are run again, finished or not) and its locks can
be granted twice: exactly-once is the target ledger's (engine/unit_commit.py), never Dask's. What a
task carries is executors/unit_task.py's TableTask: no secret. The objects, flags and codebase
parts run in the client process as with --executor local.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import CancelledError
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import Any

from distributed import Client, Event, Future, LocalCluster, wait
from distributed.security import Security

from migrator.engine.copy import CopyContext, RangeCopy, expected_rows, table_copy
from migrator.engine.executors.options import DaskOptions
from migrator.engine.executors.unit_task import TableTask, join_snapshot, run_table
from migrator.engine.interrupt import INTERRUPTED, StopFlag
from migrator.engine.ranges import KeyRange
from migrator.engine.results import TableCopy
from migrator.errors import Interrupted, MigratorError, RunError, UsageError
from migrator.stores.sql import ledger
from migrator.stores.sql.snapshot import export_snapshot, keep_snapshot_open
from migrator.version import __version__

WINDOW_PER_WORKER = 2  # tasks in flight per worker: one running, one queued behind it
POLL_SECONDS = 0.5  # how often the client looks at Ctrl-C while it waits for results
EVENT_POLL_SECONDS = 0.5  # how often a unit asks the scheduler whether the run must stop
CLOSE_SECONDS = 10  # the most the client waits to close once its scheduler is gone


class EventStop(StopFlag):
    """A worker's stop flag: the run's distributed.Event, looked at between chunks."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._event = Event(name)
        self._seen = False
        self._asked = 0.0

    @property
    def requested(self) -> bool:
        if not self._seen and time.monotonic() - self._asked >= EVENT_POLL_SECONDS:
            self._asked = time.monotonic()
            self._seen = self._event.is_set()
        return self._seen


def unit(task: TableTask, stop_event: str) -> dict[str, Any]:
    """The task: one key range of a table, on a worker."""
    return run_table(task, EventStop(stop_event))


def copy_tables_on_dask(
    ctx: CopyContext,
    names: list[str],
    options: DaskOptions,
    workers: int,
    plan_bytes: bytes,
    ranges: dict[str, list[KeyRange]],
) -> list[TableCopy]:
    plan = ctx.prep.loaded
    snapshot_id = export_snapshot(ctx.source)
    if snapshot_id is None:  # refused before the run started (options.refuse_stores); never here
        raise UsageError("--executor dask needs a PostgreSQL source")
    keep_snapshot_open(ctx.source)
    attempt = _take_over(ctx)
    base = TableTask(plan_bytes, plan.sha256, ctx.run_id, snapshot_id, "", __version__, attempt)
    with _client(options, workers) as client:
        _join_everywhere(client, base)
        results = _run_units(ctx, client, base, names, ranges)
    return [results[name] for name in names if name in results]


@contextmanager
def _client(options: DaskOptions, workers: int) -> Iterator[Client]:
    if options.scheduler is None:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        with cluster, Client(cluster) as client:
            yield client
        return
    security = None
    if options.tls:
        security = Security(
            tls_ca_file=options.tls_ca_file,
            tls_client_cert=options.tls_cert,
            tls_client_key=options.tls_key,
            require_encryption=True,
        )
    # distributed logs its connections at INFO to stderr (a lost scheduler as "Batched Comm Closed"
    # with a traceback); the CLI's stderr is its own progress and error document. Its warnings, such
    # as versions that differ between client and scheduler, still show.
    with _quiet(("distributed",), logging.WARNING):
        try:
            client = Client(options.scheduler, security=security, timeout=30)
        except (OSError, TimeoutError) as error:
            raise UsageError(f"the Dask scheduler {options.scheduler} did not answer: {error}") from None
        try:
            yield client
        except (CancelledError, OSError, TimeoutError):
            # A scheduler lost mid-call: the futures cancelled, a request to it refused or timed out.
            _check_scheduler(client)
            raise
        finally:
            _close(client)


@contextmanager
def _quiet(names: tuple[str, ...], level: int) -> Iterator[None]:
    """distributed's loggers named at `level` at least while the block runs, as they were after it."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(level, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        for logger, was in zip(loggers, levels, strict=True):
            logger.setLevel(was)


def _check_scheduler(client: Client) -> None:
    """The run's error when the client lost its scheduler. distributed's client would try to
    reconnect for its whole timeout (it cancels every future at once), and a reconnected client would
    find none of the run's tasks: the run fails now, safe to run again."""
    if client.status == "running":
        return
    address = client.scheduler.address if client.scheduler is not None else "of the run"
    raise RunError(
        f"lost the Dask scheduler {address} mid-run (its connection closed): the units "
        "committed are kept in the target; run the same command again once a scheduler and its workers answer"
    ) from None


def _close(client: Client) -> None:
    if client.status == "running":
        client.close()
        return
    # The scheduler is gone: closing cuts the client's reconnection short, which distributed logs
    # as an error with a traceback. The run's own error says what happened.
    # OSError, TimeoutError: nothing to close on the scheduler's side.
    with _quiet(("distributed.client", "distributed.utils"), logging.CRITICAL), suppress(OSError, TimeoutError):
        client.close(timeout=CLOSE_SECONDS)


def _join_everywhere(client: Client, base: TableTask) -> None:
    """Every worker imports the run's snapshot once before any unit runs."""
    if not client.scheduler_info()["workers"]:
        client.wait_for_workers(1, timeout=60)
    try:
        client.run(join_snapshot, base)
    except MigratorError:
        raise
    except Exception as error:
        _check_scheduler(client)
        raise UsageError(
            f"a Dask worker cannot read the run's snapshot ({type(error).__name__}: {error}); every worker "
            "must reach the very source server the client reads, with the plan's variables set"
        ) from None


def _run_units(
    ctx: CopyContext, client: Client, base: TableTask, names: list[str], ranges: dict[str, list[KeyRange]]
) -> dict[str, TableCopy]:
    sizes = ctx.sizes
    units = [(name, key_range) for name in names for key_range in ranges[name]]
    todo = sorted(units, key=lambda u: -sizes.get(u[0], 0.0) / u[1].of)  # a range is its table's share
    tables = {name: _Table(len(ranges[name])) for name in names}
    stop_name = f"migrator-stop-{ctx.run_id}-{base.attempt}"  # an attempt's own: a set Event outlives it
    stop = Event(stop_name, client=client)
    window = WINDOW_PER_WORKER * max(1, len(client.scheduler_info()["workers"]))
    running: dict[Future, tuple[str, KeyRange]] = {}
    results: dict[str, TableCopy] = {}
    errors: list[BaseException] = []
    stopping = False
    while todo or running:
        _check_scheduler(client)  # lost: a task submitted now would wait out the client's reconnection
        while todo and not stopping and len(running) < window:
            name, key_range = todo.pop(0)
            task = replace(base, table=name, range_index=key_range.index)
            # The client's attempt in the key too: a killed client's task may still be running on a
            # worker (Dask cannot stop a thread), and a task of the same key would take its result.
            key = f"migrator-{ctx.run_id}-{name}-{key_range.index}-{base.attempt[:8]}"
            if tables[name].started is None:
                tables[name].started = time.monotonic()
            running[client.submit(unit, task, stop_name, key=key, pure=False, retries=0)] = (name, key_range)
        try:
            done = wait(list(running), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED").done
        except TimeoutError:  # none finished yet: look at Ctrl-C, then wait again
            done = set()
        for future in done:
            name, _ = running.pop(future)
            try:
                outcome = future.result()
            except BaseException as error:
                _check_scheduler(client)  # lost: its futures are cancelled, not failed
                errors.append(error)
                stopping = True
            else:
                table = tables[name]
                table.copies.append(_record(ctx, name, outcome, first=not table.copies))
                if len(table.copies) == table.ranges:  # its last range: the table's totals, from the ledger
                    ctx.observer.table_finished(name)
                    results[name] = table_copy(ctx, name, table.copies, time.monotonic() - (table.started or 0.0))
            future.release()  # its result is recorded: the cluster may forget it
        if (ctx.stop.requested or errors) and not stopping:
            stopping = True
        if stopping:
            stop.set()
            todo.clear()
    real = [e for e in errors if not isinstance(e, Interrupted)]
    if real:
        raise real[0]
    if errors or ctx.stop.requested:
        raise Interrupted(INTERRUPTED)
    return results


@dataclass
class _Table:
    """A table whose ranges run on the cluster: how many, when the first was sent, what each copied."""

    ranges: int
    started: float | None = None
    copies: list[RangeCopy] = field(default_factory=list)


def _record(ctx: CopyContext, name: str, outcome: dict[str, Any], *, first: bool) -> RangeCopy:
    """A range's result, into the client's audit trail and progress display."""
    copied = RangeCopy(**outcome["range"])
    for event, fields in outcome["events"]:
        ctx.trail.event(event, **fields)
    if first:
        ctx.observer.table_started(name, lambda: expected_rows(ctx, name), 0)
    ctx.observer.rows_copied(name, copied.rows)
    return copied


def _take_over(ctx: CopyContext) -> str:
    """This client takes the run over before it reads the ledger: the units in flight of a client
    killed before it (stragglers on the workers) commit first, and the ones after are fenced off."""
    conn = ctx.target.conn
    conn.commit()
    with conn.begin():
        return ledger.take_over(conn, ctx.prep.loaded.plan.name)
