"""The database's own limit for each benchmark path: the fastest plain way to move the same rows.

    python bench/limits.py pg-pg         --source URL --target URL  --queries FILE.json [--parallel 2] [--format binary]
    python bench/limits.py pg-sqlite     --source URL --target FILE --queries FILE.json
    python bench/limits.py sqlite-sqlite --source FILE --target FILE --queries FILE.json
    python bench/limits.py pg-count      --source URL               --queries FILE.json [--parallel 2]
    python bench/limits.py sqlite-count  --source FILE              --queries FILE.json

FILE.json maps each copied table to the SQL that selects its subset (the `sql` of `migrator plan
--format json`, used as it is). The target must be empty. Prints one JSON object: seconds of the
copy and of the constraints phase, rows per table.

- pg-pg: per table, `psql -c "COPY (sql) TO STDOUT" | psql -c "COPY t FROM STDIN"` into tables that
  have no constraint, `--parallel` tables at a time (largest first); then primary keys, unique keys and
  foreign-key indexes (also `--parallel` tables at a time), then the foreign keys. `--format binary`
  pipes COPY's binary format instead of its text (both ends: `... (FORMAT binary)`).
- pg-sqlite: `COPY (sql) TO STDOUT` read through psycopg's `cursor.copy()`, its text format split
  into fields in Python (`\\N` is NULL, backslash escapes undone; values stay text, and SQLite's
  column affinity stores the integers as integers), `executemany` into SQLite, one transaction per
  50,000 rows; tables created with their keys (SQLite cannot add them later), indexes after.
- sqlite-sqlite: the source opened as `main`, the target ATTACHed, `INSERT INTO target.T <sql>` per
  table in one transaction; indexes after.
- pg-count: no copy, the floor of a dry run with exact counts: `SELECT count(*) FROM (sql)` per
  table, the copy's ORDER BY left out, `--parallel` tables at a time (largest first), and nothing
  else (no dangling counts, no total rows per table, no Python start). `--workdir` of
  bench/run.py keeps FILE.json.
- sqlite-count: the same floor for a SQLite source: `SELECT count(*) FROM (sql)` per table, one
  table after the other on one read-only connection.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import social_schema as schema

BATCH = 50_000
# The session settings migrator's source connections use (migrator/stores/sql/connect.py): the limit
# runs the same queries under the same settings, so that the comparison is of the copying alone.
SOURCE_SETTINGS = {"jit": "off", "work_mem": "128MB"}
PGOPTIONS = " ".join(f"-c {name}={value}" for name, value in SOURCE_SETTINGS.items())


def _ordered(queries: dict[str, str], sizes: dict[str, int] | None) -> list[str]:
    """Largest first when the sizes are known (better packing of parallel pipes), else as given."""
    names = list(queries)
    if sizes:
        names.sort(key=lambda n: -sizes.get(n, 0))
    return names


def _per_table(
    work: Callable[[str], tuple[int, float]], queries: dict[str, str], sizes: dict[str, int], parallel: int
) -> dict[str, dict[str, float]]:
    """`work(table)` -> (rows, seconds) for every table, `parallel` at a time, largest first."""
    with ThreadPoolExecutor(parallel) as pool:
        futures = {name: pool.submit(work, name) for name in _ordered(queries, sizes)}
        return {name: {"rows": f.result()[0], "seconds": round(f.result()[1], 3)} for name, f in futures.items()}


# --- PostgreSQL -> PostgreSQL -----------------------------------------------------------------------


def _pipe(source: str, target: str, table: str, query: str, copy_format: str) -> tuple[int, float]:
    """One COPY pipe between two psql processes, in COPY's text or binary format; returns (rows, seconds)."""
    started = time.monotonic()
    options = " (FORMAT binary)" if copy_format == "binary" else ""
    reader = subprocess.Popen(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", source, "-c", f"COPY ({query}) TO STDOUT{options}"],
        stdout=subprocess.PIPE,
        env={**os.environ, "PGOPTIONS": PGOPTIONS},
    )
    writer = subprocess.run(
        ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", target, "-c", f"COPY {table} FROM STDIN{options}"],
        stdin=reader.stdout,
        capture_output=True,
        text=True,
        check=False,
    )
    assert reader.stdout is not None
    reader.stdout.close()
    if reader.wait() != 0 or writer.returncode != 0:
        raise RuntimeError(f"COPY pipe of {table} failed: {writer.stderr.strip()}")
    tag = writer.stdout.strip().split()
    rows = int(tag[-1]) if len(tag) == 2 and tag[0] == "COPY" else -1
    return rows, time.monotonic() - started


def _execute_all(url: str, statements: list[str]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def pg_pg(
    source: str, target: str, queries: dict[str, str], sizes: dict[str, int], parallel: int, copy_format: str = "text"
) -> dict[str, Any]:
    tables = [schema.BY_NAME[name] for name in queries]
    _execute_all(target, [schema.pg_bare(t) for t in tables])
    started = time.monotonic()

    def pipe(name: str) -> tuple[int, float]:
        return _pipe(source, target, name, queries[name], copy_format)

    results = _per_table(pipe, queries, sizes, parallel)
    copied = time.monotonic()
    with ThreadPoolExecutor(parallel) as pool:
        for future in [pool.submit(_execute_all, target, schema.pg_keys(t)) for t in tables]:
            future.result()
    present = set(queries)
    _execute_all(target, [s for t in tables for s in schema.pg_foreign_keys(t, present)])
    done = time.monotonic()
    return _timings(started, copied, done, results)


def _count(source: str, query: str) -> tuple[int, float]:
    """The rows of one subset, counted without the copy's ORDER BY (the statement's last clause)."""
    unordered = query.rpartition(" ORDER BY ")[0] or query
    started = time.monotonic()
    with psycopg.connect(source, options=PGOPTIONS, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM ({unordered}) AS subset").fetchone()  # type: ignore[arg-type]
    return (row[0] if row else 0), time.monotonic() - started


def pg_count(source: str, queries: dict[str, str], sizes: dict[str, int], parallel: int) -> dict[str, Any]:
    started = time.monotonic()
    results = _per_table(lambda name: _count(source, queries[name]), queries, sizes, parallel)
    return {"seconds": round(time.monotonic() - started, 3), "tables": results}


def sqlite_count(source: Path, queries: dict[str, str]) -> dict[str, Any]:
    results: dict[str, dict[str, float]] = {}
    started = time.monotonic()
    with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True, isolation_level=None)) as conn:
        for name, query in queries.items():
            table_started = time.monotonic()
            unordered = query.rpartition(" ORDER BY ")[0] or query
            rows = conn.execute(f"SELECT count(*) FROM ({unordered}) AS subset").fetchone()[0]
            results[name] = {"rows": rows, "seconds": round(time.monotonic() - table_started, 3)}
    return {"seconds": round(time.monotonic() - started, 3), "tables": results}


# --- PostgreSQL -> SQLite ---------------------------------------------------------------------------


_COPY_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _copy_field(field: str) -> str | None:
    """One field of COPY's text format: \\N is NULL; a backslash escapes the next character."""
    if field == "\\N":
        return None
    if "\\" not in field:
        return field
    out, chars = [], iter(field)
    for char in chars:
        if char == "\\":
            char = next(chars)
            char = _COPY_ESCAPES.get(char, char)
        out.append(char)
    return "".join(out)


def _copy_rows(lines: list[Any]) -> list[list[str]] | list[list[str | None]]:
    """COPY text lines as rows of text (SQLite's column affinity makes the integers integers)."""
    text = b"".join(lines).decode()
    if "\\" not in text:
        return [line.split("\t") for line in text.split("\n")[:-1]]
    return [[_copy_field(field) for field in line.split("\t")] for line in text.split("\n")[:-1]]


def pg_sqlite(source: str, target: Path, queries: dict[str, str]) -> dict[str, Any]:
    results: dict[str, dict[str, float]] = {}
    with psycopg.connect(source) as src, closing(sqlite3.connect(target, isolation_level=None)) as dst:
        src.execute("SET default_transaction_read_only = on")
        for name, value in SOURCE_SETTINGS.items():
            src.execute(f"SET {name} = '{value}'")  # type: ignore[arg-type]
        started = time.monotonic()
        for name, query in queries.items():
            table = schema.BY_NAME[name]
            table_started = time.monotonic()
            dst.execute(schema.sqlite_table(table))
            insert = f"INSERT INTO {name} VALUES ({', '.join('?' * len(table.columns))})"
            rows = 0

            def load(lines: list[Any], insert: str = insert) -> int:
                batch = _copy_rows(lines)
                dst.execute("BEGIN")
                dst.executemany(insert, batch)
                dst.execute("COMMIT")
                return len(batch)

            with src.cursor() as cursor, cursor.copy(f"COPY ({query}) TO STDOUT") as copy:  # type: ignore[arg-type]
                lines: list[Any] = []
                for line in copy:  # one row of COPY text per item (a buffer of its own)
                    lines.append(line)
                    if len(lines) == BATCH:
                        rows += load(lines)
                        lines = []
                if lines:
                    rows += load(lines)
            results[name] = {"rows": rows, "seconds": round(time.monotonic() - table_started, 3)}
        copied = time.monotonic()
        dst.execute("BEGIN")
        for name in queries:
            for statement in schema.sqlite_indexes(schema.BY_NAME[name]):
                dst.execute(statement)
        dst.execute("COMMIT")
        done = time.monotonic()
    return _timings(started, copied, done, results)


# --- SQLite -> SQLite -------------------------------------------------------------------------------


def sqlite_sqlite(source: Path, target: Path, queries: dict[str, str]) -> dict[str, Any]:
    results: dict[str, dict[str, float]] = {}
    # The source is `main`, so that the subset SQL's unqualified table names resolve to it.
    with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True, isolation_level=None)) as conn:
        conn.execute("ATTACH DATABASE ? AS target", (str(target),))
        started = time.monotonic()
        for name, query in queries.items():
            table_started = time.monotonic()
            conn.execute("BEGIN")
            conn.execute(schema.sqlite_table(schema.BY_NAME[name], "target"))
            rows = conn.execute(f"INSERT INTO target.{name} {query}").rowcount
            conn.execute("COMMIT")
            results[name] = {"rows": rows, "seconds": round(time.monotonic() - table_started, 3)}
        copied = time.monotonic()
        conn.execute("BEGIN")
        for name in queries:
            for statement in schema.sqlite_indexes(schema.BY_NAME[name], "target"):
                conn.execute(statement)
        conn.execute("COMMIT")
        done = time.monotonic()
    return _timings(started, copied, done, results)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", choices=["pg-pg", "pg-sqlite", "sqlite-sqlite", "pg-count", "sqlite-count"])
    parser.add_argument("--source", required=True, help="PostgreSQL URL or SQLite file")
    parser.add_argument("--target", help="PostgreSQL URL (an empty database) or SQLite file; not for the counts")
    parser.add_argument("--queries", type=Path, required=True, help='JSON: {"tables": {T: sql}, "rows": {T: n}}')
    parser.add_argument("--parallel", type=int, default=2, help="pg-pg, pg-count: tables at once (default 2)")
    parser.add_argument("--format", choices=["text", "binary"], default="text", help="pg-pg: COPY's format (text)")
    args = parser.parse_args(argv)
    spec = json.loads(args.queries.read_text(encoding="utf-8"))
    queries, sizes = spec["tables"], spec.get("rows") or {}
    if not args.path.endswith("-count") and not args.target:
        parser.error(f"{args.path} needs --target")
    if args.path == "pg-count":
        result = pg_count(args.source, queries, sizes, args.parallel)
    elif args.path == "sqlite-count":
        result = sqlite_count(Path(args.source), queries)
    elif args.path == "pg-pg":
        result = pg_pg(args.source, args.target, queries, sizes, args.parallel, args.format)
    elif args.path == "pg-sqlite":
        result = pg_sqlite(args.source, Path(args.target), queries)
    else:
        result = sqlite_sqlite(Path(args.source), Path(args.target), queries)
    print(json.dumps(result))
    return 0


def _timings(started: float, copied: float, done: float, tables: dict[str, dict[str, float]]) -> dict[str, Any]:
    """A limit's result: its copy, then its keys and indexes, and each table's rows and seconds."""
    return {
        "copy_seconds": round(copied - started, 3),
        "constraints_seconds": round(done - copied, 3),
        "seconds": round(done - started, 3),
        "tables": tables,
    }


if __name__ == "__main__":
    sys.exit(main())
