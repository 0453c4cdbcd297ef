"""Where to cut a PostgreSQL table into key ranges, read in the run's snapshot (issue 17).

Two ways: the histogram of the key's first column in `pg_stats` (ANALYZE's equal-population
buckets, free to read) when it has one, its cuts bounding that column alone (all the rows of one
value in one range, key order kept); else a pass over the key in key order (an index-only scan of
the primary key) that takes every k-th key, a second or more for millions of rows. The bounds come
back as Python values of the key's type, so that they compare in a range query as the keys do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from migrator.stores.sql.pgcopy import key_parser

_HISTOGRAM = (
    "SELECT histogram_bounds::text::text[] FROM pg_stats "
    "WHERE schemaname = COALESCE(:schema, current_schema()) AND tablename = :table AND attname = :column "
    "AND NOT inherited"
)


def histogram_cuts(conn: Connection, table: sa.Table, key: list[str], ranges: int) -> list[tuple[Any, ...]] | None:
    """`ranges - 1` cuts, evenly spaced through the histogram of the key's first column, as 1-tuples
    (a bound on that column), in order and distinct; None without a histogram (never analyzed)."""
    if ranges < 2:
        return None
    found = conn.execute(
        sa.text(_HISTOGRAM), {"schema": table.schema, "table": table.name, "column": key[0]}
    ).scalar_one_or_none()
    if not found or len(found) < 3:
        return None
    parse: Callable[[str], Any] = key_parser(table.c[key[0]].type)
    last = len(found) - 1
    picked = sorted({round(i * last / ranges) for i in range(1, ranges)} - {0, last})
    cuts: list[tuple[Any, ...]] = []
    for i in picked:
        value = (parse(found[i]),)
        if not cuts or value != cuts[-1]:  # in the database's order already
            cuts.append(value)
    return cuts


def every_kth_key(conn: Connection, table: sa.Table, key: list[str], step: int) -> list[tuple[Any, ...]]:
    """The keys of rows step+1, 2·step+1, … of `table` in key order: cuts with `step` rows below
    each. One pass over the key columns alone (the primary key's index, read index-only)."""
    columns = [table.c[k] for k in key]
    numbered = sa.select(*columns, sa.func.row_number().over(order_by=columns).label("m__row")).subquery("numbered")
    row = numbered.c["m__row"]
    query = (
        sa.select(*[numbered.c[k] for k in key])
        .where(row > 1, (row - 1) % step == 0)
        .order_by(*[numbered.c[k] for k in key])
    )
    return [tuple(r) for r in conn.execute(query)]
