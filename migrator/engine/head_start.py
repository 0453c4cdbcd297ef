"""PostgreSQL to PostgreSQL, a fresh run: the first tables' reads begun while the target is prepared.

Between the plan's checks and the first row a run prepares the target: the ledger's tables, the
source's schema restored from `pg_dump`, the target's tables reflected, the key ranges cut. That
is a few tenths of a second on one core, while the source, which the first tables' queries keep
busy for a second or more before their first row (the benchmark's comment threads: a recursion),
waits. So a run that starts from nothing begins the `COPY ... TO STDOUT` of the tables the workers
will take first (largest first, as engine/parallel.py hands them out), each on a connection of its
own in the run's exported snapshot, reading one chunk ahead as a worker's reader does.

A head start decides nothing. The worker that takes the table builds its statement as always (from
the ledger's progress and the table's ranges) and uses the head start only when the two are the
same SQL text, read in the same snapshot: the same rows in the same order. Anything else (a range
cut after all, rows already committed, a transform) leaves it untaken, and it is closed, unread,
at the end of the copy, as it is when the run fails. Only tables that stay one range are begun.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING

from migrator.engine.interrupt import StopFlag
from migrator.engine.prefetch import ReadAhead
from migrator.engine.ranges import range_size
from migrator.stores.sql.cancel import canceller
from migrator.stores.sql.literal import literal_sql
from migrator.stores.sql.pgcopy import CopyChunk
from migrator.stores.sql.snapshot import export_snapshot, joined, table_sizes

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import sqlalchemy as sa
    from sqlalchemy.engine import Connection

    from migrator.engine.prepare import Prepared


class HeadStarts:
    """The reads begun ahead, by table; each taken at most once, by the worker whose statement it is."""

    def __init__(self) -> None:
        self._reads: dict[str, tuple[str, ReadAhead[CopyChunk]]] = {}
        self._begun: list[ReadAhead[CopyChunk]] = []  # taken or not: all stopped at the end
        self._stack = ExitStack()

    def take(self, name: str, sql: str) -> Iterator[CopyChunk] | None:
        """The chunks of `name` read ahead, if they were read with this very statement `sql`."""
        begun = self._reads.pop(name, None)
        if begun is None:
            return None
        if begun[0] != sql:  # another statement (resumed, cut): the rows begun are not these
            begun[1].close()
            return None
        return begun[1]

    def close(self) -> None:
        """Every untaken read stopped (its COPY cancelled and drained), every connection closed."""
        try:
            for reads in self._begun:
                reads.close()  # a taken one has been read to its end, or closed, by its worker already
            self._reads.clear()
        finally:
            self._stack.close()

    def begin(
        self,
        prep: Prepared,
        stop: StopFlag,
        name: str,
        read: Callable[[Connection, Prepared, str, sa.Select], Iterator[CopyChunk]],  # type: ignore[type-arg]
        snapshot_id: str,
    ) -> None:
        conn = self._stack.enter_context(joined(prep.engine, snapshot_id))
        self._stack.enter_context(stop.cancellable(canceller(conn), writes=False))
        statement = prep.queries.rows(name).rows
        sql = literal_sql(statement, conn)  # before the reader compiles it too, in its thread
        reads = ReadAhead(read(conn, prep, name, statement))
        self._begun.append(reads)
        self._reads[name] = (sql, reads)


def head_starts(
    prep: Prepared,
    stop: StopFlag,
    workers: int,
    env: Mapping[str, str],
    read: Callable[[Connection, Prepared, str, sa.Select], Iterator[CopyChunk]],  # type: ignore[type-arg]
) -> HeadStarts:
    """The reads of the first `workers` tables the parallel copy will take, begun now. The caller
    has made sure the run starts from nothing, copies PostgreSQL to PostgreSQL in parallel, and
    closes the result when the copy is over."""
    heads = HeadStarts()
    try:
        names = first_tables(prep, workers, env)
        if names:
            snapshot_id = export_snapshot(prep.conn)
            assert snapshot_id is not None  # a PostgreSQL source
            for name in names:
                heads.begin(prep, stop, name, read, snapshot_id)
    except BaseException:
        heads.close()
        raise
    return heads


def first_tables(prep: Prepared, workers: int, env: Mapping[str, str]) -> list[str]:
    """The tables the workers take first (engine/parallel.py: the largest first, by the tables'
    estimated rows), among those copied as COPY text in key order and never cut in key ranges
    (engine/ranges.py cuts only what is bigger than a range, and reads each range with a statement
    of its own). A table that is not one of these is simply not begun."""
    sizes = table_sizes(prep.conn)
    names = prep.copied_tables
    per_range = range_size(env, sum(max(0.0, sizes.get(n, 0.0)) for n in names), workers)
    transformed = {n for n in names if prep.loaded.plan.data.rule(n).columns}
    whole = []
    for name in sorted(names, key=lambda n: -sizes.get(n, 0.0))[:workers]:
        query = prep.queries.rows(name)
        cut = query.range_local and sizes.get(name, 0.0) > per_range
        if query.order_by and not cut and name not in transformed:
            whole.append(name)
    return whole
