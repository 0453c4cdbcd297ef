"""A table cut into key ranges [lower, upper): one range is one schedulable unit (issue 17).

The process that drives the run (a local run's, or the Dask client) cuts each table once, at the
start of its copy, in the run's snapshot, and records the ranges in the target's ledger
("range:TABLE:R", next to the chunks' marks), before any of the table's rows is copied. Whoever
copies a range afterwards (a thread, a Dask worker, a resumed run with another --workers or
executor) reads its bounds from there: a resume reuses the same boundaries, so a chunk committed in
a range is never copied again by a range cut differently. A table that has chunk marks but no
recorded ranges (a ledger of a version before ranges) is one range, as it was copied.

Only where a range costs its own rows is a table cut: a PostgreSQL source (whose snapshot other
connections share; MariaDB and SQLite sources copy one table at a time, each as one range), a
target that takes a table's rows in any order (as for --workers), a table with a key, big enough
(more rows than a range holds: `RANGE_ROWS`, or each worker's share of all the tables' rows when
that is more; estimated from the tables' statistics), and read with its rule as the WHERE with no
CTE evaluated whole (TableQuery.range_local): a recursive or materialized kept set would be
evaluated again, whole, by every range's query. A range's query reads its parents' kept sets for
its own rows (bounded by the range, or probed through an index; stores/sql/range_lookups.py).

A range's chunks are numbered N = R * CHUNK_STRIDE + C in the ledger ("table:TABLE:N"): in key
order over the whole table, as verification (ledger.chunk_ends) and the status read them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from migrator.errors import UsageError
from migrator.stores.sql import ledger
from migrator.stores.sql.errors import guarded
from migrator.stores.sql.key_ranges import every_kth_key, histogram_cuts

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from migrator.engine.copy import CopyContext

RANGE_ROWS = 250_000  # rows of the table per range, estimated
MAX_RANGES = 64
RANGE_ROWS_VARIABLE = "MIGRATOR_RANGE_ROWS"  # tuning and tests: another RANGE_ROWS
CHUNK_STRIDE = 10**9  # chunk numbers per range in the ledger


@dataclass(frozen=True)
class KeyRange:
    index: int
    lower: ledger.Bound  # None: open below
    upper: ledger.Bound  # None: open above; the range holds the keys below it
    of: int  # the table's ranges

    @property
    def ranged(self) -> bool:
        """The table has several ranges: its marks carry their bounds, and each range its own end."""
        return self.of > 1

    @property
    def first_chunk(self) -> int:
        return self.index * CHUNK_STRIDE

    @property
    def chunks(self) -> tuple[int, int]:
        """The chunk numbers of this range: first <= N < end."""
        return self.first_chunk, self.first_chunk + CHUNK_STRIDE

    @property
    def bounds(self) -> str | None:
        """Its bounds as its chunks' marks hold them; None for a table copied as one range."""
        return ledger.encode_bounds(self.lower, self.upper) if self.ranged else None


WHOLE = KeyRange(0, None, None, 1)


def ranges_of(conn: Connection, plan: str, table: str) -> list[KeyRange]:
    """The table's recorded ranges; one whole range when it has none."""
    recorded = ledger.recorded_ranges(conn, plan, table)
    conn.commit()
    return _key_ranges(recorded)


def _key_ranges(recorded: list[tuple[ledger.Bound, ledger.Bound]]) -> list[KeyRange]:
    if not recorded:
        return [WHOLE]
    return [KeyRange(i, lower, upper, len(recorded)) for i, (lower, upper) in enumerate(recorded)]


def plan_ranges(ctx: CopyContext, names: list[str], env: Mapping[str, str], workers: int) -> dict[str, list[KeyRange]]:
    """Every table's ranges, as recorded, or cut now and recorded, by the process that drives the run,
    before any unit runs."""
    conn, plan = ctx.target.conn, ctx.prep.loaded.plan.name
    splits = splittable(ctx)
    sizes = ctx.sizes if splits else {}
    per_range = range_size(env, sum(max(0.0, sizes.get(n, 0.0)) for n in names), workers)
    result = {}
    known = ledger.range_ledger(conn, plan)
    conn.commit()
    for name in names:
        ranges = _key_ranges(known.ranges.get(name, []))
        # A table with chunks in the ledger goes on as the one range it was; a complete one is done.
        if ranges == [WHOLE] and splits and name not in known.started:
            cuts = guarded(lambda: _cuts(ctx, name, sizes.get(name, 0.0), per_range), f"cutting {name} in key ranges")  # noqa: B023
            if cuts:
                bounds = list(zip([None, *cuts], [*cuts, None], strict=True))
                with conn.begin():
                    ledger.record_ranges(conn, plan, ctx.run_id, name, bounds)
                ranges = ranges_of(conn, plan, name)
        result[name] = ranges
    return result


def splittable(ctx: CopyContext) -> bool:
    """Ranges of one table can be copied at once: a PostgreSQL source and a target that takes rows
    in any order."""
    return ctx.source.dialect.name == "postgresql" and parallel_target(ctx)


def parallel_target(ctx: CopyContext) -> bool:
    """A target whose foreign keys come after the load, so that tables may load in any order: the
    SQLAlchemy-made schema but SQLite's, and PostgreSQL's own (its foreign keys are post-data)."""
    dialect = ctx.target.conn.dialect.name
    if ctx.target.native is not None:
        return dialect == "postgresql"
    return ctx.target.schema is not None and dialect != "sqlite"


def range_size(env: Mapping[str, str], total: float, workers: int) -> float:
    """The rows of a range: RANGE_ROWS, or each worker's share of all the tables' rows when that is
    more. A table is cut only as far as the workers need to share it: a range's query reads its
    parents for its own rows (stores/sql/range_lookups.py: probes where the table's query hashes a
    parent once), which costs more per row, so on two cores, where the tables alone keep both
    workers busy, cutting the benchmark's tables in 250,000-row ranges made its copy slower
    (docs/design-decisions.md). MIGRATOR_RANGE_ROWS, when set, is the size whatever the workers."""
    if env.get(RANGE_ROWS_VARIABLE):
        return float(_range_rows(env))
    return max(float(RANGE_ROWS), total / max(1, workers))


def _range_rows(env: Mapping[str, str]) -> int:
    text = env.get(RANGE_ROWS_VARIABLE, "")
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{RANGE_ROWS_VARIABLE} must be a whole number of rows, got {text!r}") from None
    if value < 1:
        raise UsageError(f"{RANGE_ROWS_VARIABLE} must be at least 1, got {text!r}")
    return value


def _cuts(ctx: CopyContext, name: str, estimated: float, per_range: float) -> list[tuple[object, ...]]:
    """Where to cut the table: its key's histogram, or every k-th key; none for a table that stays
    one range."""
    query = ctx.prep.queries.rows(name)
    if not query.order_by or not query.range_local or estimated <= per_range:
        return []
    count = min(MAX_RANGES, math.ceil(estimated / per_range))
    table = ctx.prep.source.table(name)
    key = list(query.order_by)
    cuts = histogram_cuts(ctx.source, table, key, count)
    if cuts is None:
        cuts = every_kth_key(ctx.source, table, key, math.ceil(estimated / count))
    return cuts
