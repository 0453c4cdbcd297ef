"""PostgreSQL to SQLite reads the subset as COPY text (stores/sql/pgtext.py). What it writes and the
digest it records must be exactly those of the SELECT path it replaces, value for value, for every
type: the SELECT path is run here beside it, into a second SQLite file, and both are compared."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from migrator.engine.run import run_plan
from migrator.plan.load import load_plan
from migrator.stores.sql import pgtext
from migrator.stores.sql.pgcopy import copy_out_text, key_parser
from migrator.stores.sql.snapshot import stream
from migrator.stores.sql.target_schema import create_tables, design
from migrator.stores.sql.type_checks import read_as_stored
from migrator.stores.sql.writer import insert_bound, insert_json, insert_tuples
from migrator.verify.digest import EMPTY, Digest

PLANS = Path(__file__).parent / "plans"

# Every text-format corner COPY has: escapes, a literal \N, control characters, quotes, empty
# strings, NULL in every column, fractions of a second, numbers that print oddly.
_ODD = """
CREATE TABLE odd (
    id bigint PRIMARY KEY, small smallint, num numeric(12, 3), flt double precision, real4 real,
    flag boolean, note text, label varchar(20), code char(4), at timestamptz, local_at timestamp,
    day date, blob bytea, uid uuid, doc jsonb, big bigint
);
INSERT INTO odd VALUES
 (1, 1, 1.5, 0.1, 0.1, true, E'tab\\there\\nnew line\\\\back', 'x', 'ab', '2023-01-31 13:35:06+00',
  '2023-01-31 13:35:06', '2023-01-31', '\\x00ff', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '{"b": 1, "a": [1, 2]}', 9223372036854775807),
 (2, -3, -0.500, -2.5e10, 3.25, false, E'\\\\N', '"quoted"', 'c', '2023-01-31 13:35:06.5+00',
  '2023-01-31 13:35:06.123456', '1999-12-31', '\\x', '00000000-0000-0000-0000-000000000000', '[]',
  -9223372036854775808),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, 0, 0, 1e-300, 0, true, E'\\x01 bell \\x07 and \\r return \\b\\f\\v', '', '', '2024-02-29 23:59:59.000001+00',
  '2024-02-29 00:00:00.1', '2024-02-29', '\\x5c4e', NULL, '"text"', 0),
 (5, 7, 12345678.901, 3, 1, false, 'emoji 😀 and ünïcödé', 'plain', 'dddd', '1970-01-01 00:00:00+00',
  '1970-01-01 00:00:00', '1970-01-01', NULL, NULL, 'null', 1),
 (6, 8, 1, 2, 3, true, '+00', E'\\\\', 'N', '2023-06-15 12:00:00+02', '2023-06-15 12:00:00', '2023-06-15',
  '\\x0a09', NULL, '{}', 2);
-- Text, integers and timestamps only: SQLite is handed JSON text (writer.insert_json).
CREATE TABLE odd_text AS SELECT id, small, note, label, code, at, local_at FROM odd;
ALTER TABLE odd_text ADD PRIMARY KEY (id);
INSERT INTO odd_text VALUES
 (7, 1, E'"\\"\\\\u0041\\n', E'\\\\N', '[', '2023-01-31 13:35:06.999999+00', '2023-01-31 13:35:06.5'),
 (8, 0, 'plain', 'plain', 'p', '2023-01-31 13:35:06+00', '2023-01-31 13:35:06'),
 -- a chunk of its own (4 rows) with quotes and NULLs but no backslash: the JSON is made by replacing
 (9, NULL, '"', 'N"', '"N', '2023-01-31 13:35:06.25+00', NULL),
 (10, 2, '","', '"],["', '\"', NULL, '2023-01-31 13:35:06'),
 (11, 3, '', '""', NULL, '2023-01-31 13:35:06+00', '2023-01-31 13:35:06'),
 (12, 4, 'null', '[]', 'N', '2023-01-31 13:35:06+00', '2023-01-31 13:35:06'),
 (13, 5, E'raw \\x01 control', NULL, 'x', '2023-01-31 13:35:06+00', '2023-01-31 13:35:06');
"""


def _sqlite_target(path: Path, source: sa.MetaData, names: list[str]) -> tuple[sa.Engine, dict[str, sa.Table]]:
    engine = sa.create_engine(f"sqlite:///{path}")
    schema = design(source, names, "postgresql", "sqlite", {})
    with engine.begin() as conn:
        create_tables(conn, schema)
    return engine, {name: schema.table(name) for name in names}


def _contents(path: Path, table: sa.Table) -> list[tuple[Any, ...]]:
    """Every stored value exactly: SQL-quoted, with its storage class."""
    columns = ", ".join(f'quote("{c.name}"), typeof("{c.name}")' for c in table.columns)
    keys = ", ".join(f'"{c.name}"' for c in table.primary_key.columns)
    with sqlite3.connect(path) as conn:
        return conn.execute(f'SELECT {columns} FROM "{table.name}" ORDER BY {keys}').fetchall()


def _both_ways(source_url: str, tmp_path: Path, names: list[str], chunk: int) -> dict[str, tuple[Any, ...]]:
    """Each table copied by the SELECT path and by the COPY path into two SQLite files; per table the
    two contents, the two digests and which readers the COPY path took."""
    source = sa.create_engine(source_url, poolclass=sa.pool.NullPool)
    metadata = sa.MetaData()
    metadata.reflect(source, only=names)
    with source.connect() as conn:
        read_as_stored(conn, metadata, "sqlite")  # as a run reads a source for another dialect (prepare)
    old, old_tables = _sqlite_target(tmp_path / "select.db", metadata, names)
    new, new_tables = _sqlite_target(tmp_path / "copy.db", metadata, names)
    found = {}
    with source.connect() as src, old.connect() as by_select, new.connect() as by_copy:
        for name in names:
            table = metadata.tables[name]
            columns = [c.name for c in table.columns]
            keys = [c.name for c in table.primary_key.columns]
            query = sa.select(table).order_by(*table.primary_key.columns)
            select_digest = EMPTY
            with by_select.begin():
                for batch in stream(src, query, chunk):
                    rows = [tuple(row) for row in batch]
                    select_digest = select_digest.plus(Digest.of(rows))
                    insert_tuples(by_select, old_tables[name], columns, rows)
            readers = pgtext.readers_for(src, table, columns, by_copy, new_tables[name])
            assert readers is not None
            parser = pgtext.ChunkParser(
                readers,
                list(range(len(columns))),
                [columns.index(k) for k in keys],
                [key_parser(table.c[k].type) for k in keys],
            )
            copy_digest, last_key, usual = EMPTY, None, []
            with by_copy.begin():
                for data in copy_out_text(src, query, chunk):
                    piece = parser.parse(data)
                    copy_digest, last_key = copy_digest.plus(piece.digest), piece.last_key
                    if piece.as_json is not None:
                        values = parser.json_usual_values if piece.usual else parser.json_values  # as copy.py
                        insert_json(by_copy, new_tables[name], columns, piece.as_json, values, parser.json_functions)
                        usual.append(piece.usual)
                    else:
                        insert_bound(by_copy, new_tables[name], columns, piece.rows or [])
            expected_last = src.execute(query.with_only_columns(*[table.c[k] for k in keys])).all()[-1]
            assert last_key == tuple(expected_last), name
            found[name] = (
                _contents(tmp_path / "select.db", old_tables[name]),
                _contents(tmp_path / "copy.db", new_tables[name]),
                select_digest,
                copy_digest,
                readers,
                parser.text_only,
                usual,
            )
    for engine in (source, old, new):
        engine.dispose()
    return found


def test_every_chinook_table_is_written_and_digested_as_the_select_path_does(chinook_pg: str, tmp_path: Path) -> None:
    names = sa.inspect(sa.create_engine(chinook_pg, poolclass=sa.pool.NullPool)).get_table_names()
    found = _both_ways(chinook_pg, tmp_path, names, chunk=97)
    for name, (by_select, by_copy, select_digest, copy_digest, *_) in found.items():
        assert by_copy == by_select, name  # INTEGER, VARCHAR, NUMERIC(10,2), TIMESTAMP, NULLs
        assert copy_digest == select_digest, name
    assert sum(len(contents[0]) for contents in found.values()) > 15_000


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata"])
def test_the_corners_of_copy_text_are_read_as_the_select_path_reads_them(
    pg_database: str, tmp_path: Path, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    replaced: list[bool] = []
    by_replacing = pgtext._json_of_fields

    def spied(data: bytes) -> str:
        replaced.append(b'"' in data)
        return by_replacing(data)

    monkeypatch.setattr(pgtext, "_json_of_fields", spied)
    with psycopg.connect(pg_database.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(_ODD)  # type: ignore[arg-type]
    # Outside UTC PostgreSQL prints timestamptz with another zone, which takes the exact way value
    # by value (psycopg's loader, SQLAlchemy's DATETIME text).
    url = sa.engine.make_url(pg_database).set(query={"options": f"-c TimeZone={zone}"})
    found = _both_ways(url.render_as_string(hide_password=False), tmp_path, ["odd", "odd_text"], chunk=4)
    for name, (by_select, by_copy, select_digest, copy_digest, *_) in found.items():
        assert by_copy == by_select, name
        assert copy_digest == select_digest, name
    assert len(found["odd"][0]) == 6 and len(found["odd_text"][0]) == 13
    assert replaced == [True]  # rows 9 to 12: quotes and NULLs, no escape
    readers, as_json = found["odd"][4], found["odd_text"][5]
    assert as_json and not found["odd"][5]  # bytea, numeric, ... are bound as values
    # Chunks whose timestamps are all whole seconds in UTC (or NULL) are re-spelt without a test.
    assert found["odd_text"][6] == ([False, False, False, True] if zone == "UTC" else [False] * 4)
    # The short ways were taken where they apply: text and integers as they are, the timestamps inline.
    plain = [r.stored is None for r in readers]
    assert plain[:3] == [True, True, False] and plain[6:9] == [True, True, True]
    assert readers[9].utc_timestamp and readers[10].utc_timestamp


def test_a_run_from_postgresql_into_sqlite_reads_copy_text_and_verifies(
    chinook_pg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli
) -> None:
    chunks: list[int] = []
    parse = pgtext.ChunkParser.parse

    def counted(self: pgtext.ChunkParser, data: bytes) -> pgtext.ParsedChunk:
        piece = parse(self, data)
        chunks.append(piece.count)
        return piece

    monkeypatch.setattr(pgtext.ChunkParser, "parse", counted)
    target = f"sqlite:///{tmp_path / 'us.db'}"
    env = {"SOURCE_URL": chinook_pg, "TARGET_URL": target, "STATE_DIR": str(tmp_path / "state")}
    result = run_plan(load_plan(PLANS / "chinook_us_pg.yaml", env), environ=env)
    assert result.status == "finished"
    copied = sum(t.rows for t in result.tables)
    assert sum(chunks) == copied > 10_000  # every row came through COPY text (no table has a transform)
    verify = run_cli("verify", PLANS / "chinook_us_pg.yaml", "--format", "json", env=env)
    assert verify.returncode == 0, verify.stderr
    assert json.loads(verify.stdout)["ok"] is True
