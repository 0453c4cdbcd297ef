"""Copy the generated PostgreSQL source into a SQLite file, row for row: the SQLite-source benchmark.

    python bench/export_sqlite.py --url postgresql://postgres@127.0.0.1/bench_src --out /tmp/bench_src.db

Exporting (rather than generating SQLite separately) guarantees that both sources hold the same rows,
so the three paths copy the same subset. The SQLite tables are those of the demo app: INTEGER and
TEXT columns, keys and foreign keys declared, timestamps as ISO-8601 UTC text ("2023-01-01T00:00:00Z",
the demo's format). Every table is written in key order in one transaction, then indexed and analysed.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import psycopg
import social_schema as schema

BATCH = 50_000
ISO_UTC = """to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


def _select(table: schema.Table) -> str:
    columns = [ISO_UTC.format(c.name) if c.pg == "timestamptz" else c.name for c in table.columns]
    return f"SELECT {', '.join(columns)} FROM {table.name} ORDER BY {', '.join(table.primary_key)}"


def export(url: str, out: Path, *, log=print) -> dict[str, int]:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    for leftover in (out, out.with_name(out.name + "-journal")):
        leftover.unlink(missing_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows: dict[str, int] = {}
    with psycopg.connect(url) as source, closing(sqlite3.connect(out, isolation_level=None)) as target:
        target.execute("PRAGMA journal_mode = OFF")  # a file made from scratch: nothing to roll back to
        target.execute("PRAGMA synchronous = OFF")
        for table in schema.TABLES:
            target.execute(schema.sqlite_table(table))
            insert = f"INSERT INTO {table.name} VALUES ({', '.join('?' * len(table.columns))})"
            count = 0
            target.execute("BEGIN")
            with source.cursor(name=f"export_{table.name}") as cursor:
                cursor.itersize = BATCH
                cursor.execute(_select(table))  # type: ignore[arg-type]
                while batch := cursor.fetchmany(BATCH):
                    target.executemany(insert, batch)
                    count += len(batch)
            for statement in schema.sqlite_indexes(table):
                target.execute(statement)
            target.execute("COMMIT")
            rows[table.name] = count
        target.execute("ANALYZE")
    log(f"  exported {sum(rows.values()):,} rows to {out} in {time.monotonic() - started:.1f} s")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1/bench_src", help="the PostgreSQL source")
    parser.add_argument("--out", type=Path, required=True, help="the SQLite file to (re)create")
    args = parser.parse_args(argv)
    for name, count in export(args.url, args.out).items():
        print(f"  {name:<12}  {count:>10,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
