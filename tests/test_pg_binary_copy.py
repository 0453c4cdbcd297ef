"""PostgreSQL to PostgreSQL in COPY's binary format (stores/sql/pgbinary.py): which tables travel in
it, the reader that cuts its stream into chunks of whole tuples, and whole runs that must leave every
value as the source stores it, resume after their last chunk, catch a changed value, and keep a
table begun in text in text."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from migrator.stores.sql.pgbinary import binary_types
from migrator.stores.sql.pgstream import BINARY_HEADER, BINARY_TRAILER, copy_out_binary
from tests.plan_files import write_plan

REPO_ROOT = Path(__file__).resolve().parent.parent
# Every value kind whose binary form could go wrong: arrays (which name their element type), json
# kept as written, numerics whose scale is part of the value, floats' special values, bytes, text
# with COPY text's special characters, intervals, NULLs; and a key of four columns of four types.
MEASURES = """
CREATE TABLE measures (
    region text, day date, seq numeric, ref uuid,
    exact numeric, amount numeric(10, 2), ratio float8, tags text[], counts int4[], doc json, body jsonb,
    raw bytea, note text, span interval, at timestamptz, flag boolean, small int2,
    PRIMARY KEY (region, day, seq, ref)
);
INSERT INTO measures
SELECT CASE WHEN i % 3 = 0 THEN 'eu' ELSE 'us' END, DATE '2026-01-01' + (i % 17), i / 7.0,
       md5(i::text)::uuid,
       CASE WHEN i % 5 = 0 THEN NULL ELSE (i || '.50')::numeric END, i * 1.25,
       CASE i % 4 WHEN 0 THEN 'NaN'::float8 WHEN 1 THEN '-Infinity'::float8 ELSE i / 3.0 END,
       ARRAY['a' || i, NULL, E'tab\\there'], ARRAY[i, -i], ('{"b": ' || i || ', "a": [1, 2]}')::json,
       ('{"z": ' || i || ', "a": null}')::jsonb, decode(lpad(to_hex(i), 8, '0'), 'hex'),
       E'line\\nbreak\\\\ and \\ttab ' || i, make_interval(days => i, secs => i / 3.0),
       TIMESTAMPTZ '2026-03-01 10:00:00.123456+02' + i * INTERVAL '1 minute 1 microsecond', i % 2 = 0, i % 300
FROM generate_series(1, 600) i;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE moods (id int PRIMARY KEY, mood mood);
INSERT INTO moods SELECT i, (ARRAY['sad', 'ok', 'happy']::mood[])[1 + i % 3] FROM generate_series(1, 90) i;
"""
KEY = "region, day, seq, ref"


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _execute(url: str, sql: str) -> None:
    with psycopg.connect(_dsn(url), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def _texts(url: str, table: str, key: str) -> list[str]:
    """Every row as the database writes it as text (`row::text`), in key order."""
    with psycopg.connect(_dsn(url)) as conn:
        return [r[0] for r in conn.execute(f"SELECT t::text FROM {table} t ORDER BY {key}")]  # type: ignore[arg-type]


def _plan(tmp_path: Path, source: str, target: str, name: str = "binary") -> Path:
    data = {"tables": {"measures": "all", "moods": "all"}, "schema": "create", "chunk_rows": 37}
    return write_plan(tmp_path, name, source, target, data)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def _checksums(url: str, table: str) -> list[str]:
    with psycopg.connect(_dsn(url)) as conn:
        rows = conn.execute("SELECT checksum FROM _migrator_units WHERE unit LIKE %s", (f"table:{table}:%",))
        return [r[0] for r in rows]


# -- the reader ---------------------------------------------------------------------------------------


def _tuples(conn: psycopg.Connection, sql: str) -> list[bytes]:  # type: ignore[type-arg]
    """The query's tuples as psycopg's own binary COPY hands them over, header and trailer removed."""
    with conn.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)") as copy:  # type: ignore[arg-type]
        data = b"".join(bytes(block) for block in copy)
    assert data.startswith(BINARY_HEADER) and data.endswith(BINARY_TRAILER)
    return [data[len(BINARY_HEADER) : -len(BINARY_TRAILER)]]


def test_binary_pieces_are_whole_tuples_with_their_last(pg_database: str) -> None:
    sql = "SELECT i, repeat('x', i % 7), NULL::text FROM generate_series(1, 2500) i"
    with psycopg.connect(_dsn(pg_database)) as conn:
        pieces = list(copy_out_binary(conn, f"COPY ({sql}) TO STDOUT (FORMAT binary)", 1000))
        assert [rows for _, rows, _ in pieces] == [1000, 1000, 500]
        # Together the pieces are the format's body, byte for byte; each piece ends with its last tuple.
        assert [b"".join(data for data, _, _ in pieces)] == _tuples(conn, sql)
        assert all(data.endswith(last) for data, _, last in pieces)
        assert (
            pieces[-1][2]
            == b"\x00\x03"
            + (4).to_bytes(4, "big")
            + (2500).to_bytes(4, "big")
            + bytes([0, 0, 0, 1])
            + b"x"
            + b"\xff\xff\xff\xff"
        )
        # No rows: no piece; rows filling the last piece exactly: no empty piece after it.
        assert list(copy_out_binary(conn, "COPY (SELECT 1 WHERE false) TO STDOUT (FORMAT binary)", 10)) == []
        exact = list(copy_out_binary(conn, "COPY (SELECT generate_series(1, 20)) TO STDOUT (FORMAT binary)", 10))
        assert [rows for _, rows, _ in exact] == [10, 10]
        assert conn.execute("SELECT 1").fetchone() == (1,), "the connection is usable after the COPY"


def test_binary_pieces_raise_the_servers_error_and_leave_the_connection_usable(pg_database: str) -> None:
    with psycopg.connect(_dsn(pg_database)) as conn:
        failing = "COPY (SELECT 1 / (i - 5000) FROM generate_series(1, 10000) i) TO STDOUT (FORMAT binary)"
        with pytest.raises(psycopg.errors.DivisionByZero):
            list(copy_out_binary(conn, failing, 100))
        conn.rollback()
        endless = copy_out_binary(conn, "COPY (SELECT generate_series(1, 2000000)) TO STDOUT (FORMAT binary)", 1000)
        assert next(endless)[1] == 1000
        endless.close()  # as a failed unit or Ctrl-C leaves it: the rest is cancelled and drained
        conn.rollback()
        assert conn.execute("SELECT 3").fetchone() == (3,)


# -- which tables travel in binary ----------------------------------------------------------------------


def test_binary_applies_only_where_both_sides_hold_the_same_built_in_types(pg_url_factory) -> None:  # type: ignore[no-untyped-def]
    source, target = pg_url_factory(), pg_url_factory()
    both = MEASURES + "CREATE TABLE by_ip (ip inet PRIMARY KEY);"
    both += "CREATE TABLE grants (id int PRIMARY KEY, acl aclitem[]);"
    _execute(source, both + "CREATE TABLE widened (id int PRIMARY KEY, n int);")
    _execute(target, both + "CREATE TABLE widened (id int PRIMARY KEY, n bigint);")
    engines = sa.create_engine(source), sa.create_engine(target)
    try:
        with engines[0].connect() as theirs, engines[1].connect() as ours:

            def types(table: str, columns: list[str], key: list[str]) -> dict[str, int] | None:
                named = sa.Table(table, sa.MetaData())
                return binary_types(theirs, named, ours, named, columns, key)

            found = types("measures", ["region", "day", "seq", "ref", "tags", "doc", "raw"], KEY.split(", "))
            assert found is not None and found["tags"] == 1009 and found["ref"] == 2950  # text[], uuid
            assert types("moods", ["id", "mood"], ["id"]) is None, "an enum is a user type: its OID differs"
            assert types("moods", ["id"], ["id"]) is not None
            assert types("widened", ["id", "n"], ["id"]) is None, "an int4 must not be read into an int8"
            assert types("by_ip", ["ip"], ["ip"]) is None, "a key type whose value is not read back exactly"
            assert types("grants", ["id", "acl"], ["id"]) is None, "aclitem has no binary form"
            assert types("grants", ["id"], ["id"]) is not None
    finally:
        for engine in engines:
            engine.dispose()


# -- whole runs -----------------------------------------------------------------------------------------


def test_a_binary_copy_keeps_every_value_and_catches_a_changed_one(run_cli, pg_url_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source, target = pg_url_factory(), pg_url_factory()
    _execute(source, MEASURES)
    plan = _plan(tmp_path, source, target)
    done = run_cli("run", plan, "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    methods = {t["table"]: (t["method"], t["chunks"]) for t in result["tables"]}
    # 600 rows in chunks of 37: 17 chunks, each resumed after a key of four types read from binary.
    assert methods == {"measures": ("binary-chunks", 17), "moods": ("chunks", 3)}
    assert result["verification"]["ok"], result["verification"]
    assert _texts(target, "measures", KEY) == _texts(source, "measures", KEY)
    assert _texts(target, "moods", "id") == _texts(source, "moods", "id")
    receipt = result["receipt"]
    assert run_cli("verify", plan, "--receipt", receipt).returncode == 0, "the receipt's digests hold"
    # 1.50 and 1.5 are equal numbers, and different values: the scale is part of it.
    _execute(target, "UPDATE measures SET exact = 1.5 WHERE exact = 1.50")
    assert run_cli("verify", plan, "--receipt", receipt).returncode == 1, "the receipt's digests see it"
    checked = run_cli("verify", plan, "--format", "json")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    failed = [c for c in json.loads(checked.stdout)["checks"] if not c["ok"]]
    assert [(c["check"], c["table"]) for c in failed] == [("I3", "measures")]
    # The one row whose value was 1.50 (i = 1), named by its key.
    assert failed[0]["examples"] == [
        "changed us, 2026-01-02, 0.14285714285714285714, c4ca4238-a0b9-2382-0dcc-509a6f75849b"
    ]


def _paused_run(plan: Path, unit: str, ready: Path, before: str = "") -> None:
    """A run stopped for good (SIGKILL) with unit `unit`'s rows written and not committed."""
    argv = ["migrator", "run", str(plan)]
    probe = f"{before}import sys\nsys.argv = {argv!r}\nfrom migrator.cli.entry import main\nmain()\n"
    env = {**_env(), "MIGRATOR_TEST_PAUSE_UNIT": f"{plan.stem}/{unit}", "MIGRATOR_TEST_PAUSE_READY": str(ready)}
    process = subprocess.Popen([sys.executable, "-c", probe], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (ready / f"{plan.stem}.paused").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never reached its fault point"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate()


def test_a_binary_copy_killed_mid_table_resumes_after_its_last_chunk(run_cli, pg_url_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source, target = pg_url_factory(), pg_url_factory()
    _execute(source, MEASURES)
    plan = _plan(tmp_path, source, target)
    _paused_run(plan, "table:measures:6", tmp_path)
    assert len(_checksums(target, "measures")) == 6
    done = run_cli("run", plan, "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "resumed-and-finished" and result["verification"]["ok"]
    measures = next(t for t in result["tables"] if t["table"] == "measures")
    assert (measures["method"], measures["chunks"], measures["skipped_chunks"]) == ("binary-chunks", 17, 6)
    assert _texts(target, "measures", KEY) == _texts(source, "measures", KEY)


def test_a_table_begun_in_text_is_finished_in_text(run_cli, pg_url_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A run of a version before the binary format, resumed by this one: one digest method per table."""
    source, target = pg_url_factory(), pg_url_factory()
    _execute(source, MEASURES)
    plan = _plan(tmp_path, source, target)
    older = "import migrator.engine.copy as copy\ncopy.binary_types = lambda *args: None\n"
    _paused_run(plan, "table:measures:6", tmp_path, before=older)
    assert len(_checksums(target, "measures")) == 6
    done = run_cli("run", plan, "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["verification"]["ok"], result["verification"]
    assert all(c.startswith("chunks:") for c in _checksums(target, "measures"))
    assert next(t["method"] for t in result["tables"] if t["table"] == "measures") == "chunks"
    assert _texts(target, "measures", KEY) == _texts(source, "measures", KEY)
