"""A source of many small units for measuring Dask's cost per unit, and the plan that copies it.

    make_source(url, tables=2000, rows=3)   # t0001 .. t2000, each (id, name) with 3 rows
    write_plan(path, tables=2000)           # every table `all`: one small unit each

With a few rows per table, each table is one unit, whatever the engine does with big tables, so a
run of this plan has as many units as tables: the run's time beyond the copy is per-unit overhead.
With fewer, larger tables and a small `chunk_rows`, most of a run is chunks committed one after the
other inside units, each a few round trips to the databases: what units in parallel can overlap.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from run import recreate_pg


def table_names(tables: int) -> list[str]:
    return [f"t{i:04d}" for i in range(1, tables + 1)]


def make_source(url: str, tables: int, rows: int) -> None:
    """(Re)create the database at `url` with `tables` tables of `rows` rows each, analyzed."""
    recreate_pg(url)
    with psycopg.connect(url, autocommit=True) as conn:
        # One DO block: 2,000 CREATE + INSERT round trips would take longer than the tables themselves.
        conn.execute(
            f"""
            DO $$
            BEGIN
              FOR i IN 1..{int(tables)} LOOP
                EXECUTE format('CREATE TABLE t%s (id integer PRIMARY KEY, name text NOT NULL)', lpad(i::text, 4, '0'));
                EXECUTE format('INSERT INTO t%s SELECT g, ''row '' || g FROM generate_series(1, {int(rows)}) g',
                               lpad(i::text, 4, '0'));
              END LOOP;
            END $$
            """  # type: ignore[arg-type]
        )
        conn.execute("ANALYZE")


def write_plan(path: Path, tables: int, chunk_rows: int | None = None) -> None:
    """A plan copying every table whole, committed every `chunk_rows` rows (the default if None); the
    URLs and the state folder are the benchmark's variables."""
    lines = [
        "version: 1",
        "name: bench-dask-units",
        "description: many small tables, one unit each, to measure the executor's cost per unit",
        "source:",
        "  database: ${BENCH_SOURCE_URL}",
        "target:",
        "  database: ${BENCH_TARGET_URL}",
        "  existing: fail",
        "state: ${BENCH_STATE_DIR}",
        "data:",
        "  tables:",
        *[f"    {name}: all" for name in table_names(tables)],
        "  unlisted: fail",
        "  schema: create",
        *([f"  chunk_rows: {chunk_rows}"] if chunk_rows else []),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
