"""The type zoo (issue 12, items 4 and 5): a table per dialect with every type it offers, filled with
edge values (tests/data/zoo/), copied by `migrator run` into each target dialect, all 9 pairs.

Every value is compared by this test's own SQL on both sides, never through migrator's code: each
value arrives exactly, or converted as docs/reference/types.md says, or its column is refused before
anything is written (exit 2, a plan error naming `table.column`), after which the zoo is copied with
those columns dropped and the rest must match. The run's own verification must hold as well: across
dialects its digests are taken in the type map's canonical form (stores/sql/typemap_digest.py), and
a value changed in the target afterwards is found and named by `migrator verify`.
"""

from __future__ import annotations

import json
import sqlite3
import struct
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
import sqlalchemy as sa
from pymysql.constants import CLIENT

from tests.conftest import DATA_DIR, DatabaseFactory
from tests.plan_files import write_plan

ZOO = DATA_DIR / "zoo"
TABLES = {
    "postgresql": ["zoo", "zoo_float_special"],
    "mysql": ["zoo", "zoo_unsigned_max", "zoo_zero_dates"],
    "sqlite": ["zoo", "zoo_mixed"],
}
# The columns each cross-dialect pair refuses, by the values the zoo puts in them.
REFUSED = {
    ("postgresql", "mysql"): {"zoo_float_special": ["r", "d"]},
    ("postgresql", "sqlite"): {"zoo_float_special": ["r", "d"]},
    ("mysql", "postgresql"): {"zoo_zero_dates": ["da", "dt"]},
    ("mysql", "sqlite"): {"zoo_unsigned_max": ["biu", "b64"]},
    ("sqlite", "postgresql"): {"zoo_mixed": ["i", "t", "n", "dt", "bo", "anything"]},
    ("sqlite", "mysql"): {"zoo_mixed": ["i", "t", "n", "dt", "bo", "anything"]},
}

Rows = dict[Any, dict[str, Any]]


# --- the databases: loading a zoo, reading a table by the database's own SQL ------------------------


def _pg_dsn(url: str) -> str:
    parsed = sa.make_url(url)
    return f"host={parsed.host} port={parsed.port} user={parsed.username} dbname={parsed.database}"


def _mariadb_connection(url: str, **options: Any) -> pymysql.connections.Connection:
    parsed = sa.make_url(url)
    return pymysql.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, password="", database=parsed.database,
        charset="utf8mb4", **options,
    )  # fmt: skip


def _load(dialect: str, url: str) -> None:
    script = (ZOO / f"{dialect}.sql").read_text(encoding="utf-8")
    if dialect == "postgresql":
        with psycopg.connect(_pg_dsn(url), autocommit=True) as conn:
            conn.execute(script)  # type: ignore[arg-type] # no parameters: one simple query, many statements
    elif dialect == "mysql":
        conn = _mariadb_connection(url, client_flag=CLIENT.MULTI_STATEMENTS, autocommit=True)
        with conn.cursor() as cursor:
            cursor.execute(script)
            while cursor.nextset():
                pass
        conn.close()
    else:
        with sqlite3.connect(sa.make_url(url).database or "") as conn:
            conn.executescript(script)
        conn.close()


def _read(dialect: str, url: str, table: str) -> Rows:
    """Each row by its id: every column as the database spells it (PostgreSQL's text output, in UTC
    and with intervals in ISO 8601; MariaDB's CAST AS CHAR, HEX of bytes, BIN of bits, a FLOAT as
    the double it is; SQLite's storage class and value)."""
    if dialect == "postgresql":
        return _read_pg(url, table)
    if dialect == "mysql":
        return _read_mariadb(url, table)
    return _read_sqlite(url, table)


def _read_pg(url: str, table: str, *, iso_intervals: bool = True) -> Rows:
    with psycopg.connect(_pg_dsn(url)) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        if iso_intervals:  # an interval of the source: the type map carries its ISO 8601 text
            conn.execute("SET intervalstyle = 'iso_8601'")
        columns = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s"
            " ORDER BY ordinal_position",
            (table,),
        ).fetchall()
        expressions = [_pg_expression(name, kind) for name, kind in columns]
        rows = conn.execute(f"SELECT {', '.join(expressions)} FROM {table}").fetchall()  # type: ignore[arg-type]
    names = [name for name, _ in columns]
    return {int(row[0]): dict(zip(names, row, strict=True)) for row in rows}


def _pg_expression(name: str, kind: str) -> str:
    if kind == "ARRAY":
        return f"array_to_json({name})::text"
    if kind == "inet":
        return f"abbrev({name})"  # the inet output function's text; ::text would add the /32
    return f"{name}::text"


def _read_mariadb(url: str, table: str) -> Rows:
    conn = _mariadb_connection(url)
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (table,),
        )
        columns = [(str(name), str(kind)) for name, kind in cursor.fetchall()]
        cursor.execute(f"SELECT {', '.join(_mariadb_expression(n, k) for n, k in columns)} FROM {table}")
        rows = cursor.fetchall()
    conn.close()
    names = [name for name, _ in columns]
    return {int(row[0]): dict(zip(names, row, strict=True)) for row in rows}


def _mariadb_expression(name: str, kind: str) -> str:
    if kind in ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"):
        return f"HEX(`{name}`)"
    if kind == "bit":
        return f"BIN(`{name}`)"
    if kind == "float":
        return f"CAST(`{name}` AS DOUBLE)"
    if kind == "double":
        return f"`{name}`"
    return f"CAST(`{name}` AS CHAR)"


def _read_sqlite(url: str, table: str) -> Rows:
    with sqlite3.connect(sa.make_url(url).database or "") as conn:
        names = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        selected = ", ".join(f"typeof({n}), {n}" for n in names)
        rows = conn.execute(f"SELECT {selected} FROM {table}").fetchall()
    conn.close()
    return {row[1]: {n: (row[2 * i], row[2 * i + 1]) for i, n in enumerate(names)} for row in rows}


# --- what each value becomes: docs/reference/types.md, one function per source and target type -----


def _micro(text: str) -> str:
    """A date-time or time with its microseconds always written: how DATETIME(6), TIME(6) and
    SQLite's date-time texts spell it."""
    head, _, fraction = text.partition(".")
    return f"{head}.{fraction.ljust(6, '0')}"


def _trimmed(text: str) -> str:
    """A time or timestamp as PostgreSQL writes it: microseconds without trailing zeros."""
    head, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0")
    return f"{head}.{fraction}" if fraction else head


def _float32(value: Any) -> float:
    return float(struct.unpack("f", struct.pack("f", float(value)))[0])


def _decimal_text(value: int | float) -> str:
    return str(value) if isinstance(value, int) else format(Decimal(repr(value)), "f")


def _set_json(text: str) -> str:
    return json.dumps(text.split(",") if text else [], ensure_ascii=False, separators=(",", ":"))


Expect = Callable[[Any], Any]
SAME: Expect = lambda value: value  # noqa: E731


def _integer(value: Any) -> Any:
    return ("integer", int(value))


def _text(value: Any) -> Any:
    return ("text", value)


def _real(value: Any) -> Any:
    return ("real", float(value))


def _pg_to_sqlite(column: str) -> Expect:
    by_column: dict[str, Expect] = {
        **dict.fromkeys(["id", "i2", "i4", "i8", "dm"], _integer),
        **dict.fromkeys(["r", "d"], _real),
        "b": lambda v: ("blob", bytes.fromhex(v[2:])),
        "bo": lambda v: ("integer", 1 if v == "true" else 0),
        "c": lambda v: ("text", v.ljust(5)),  # char(5) as PostgreSQL stores it, padded
        **dict.fromkeys(["ti", "ts"], lambda v: ("text", _micro(v))),
        "tstz": lambda v: ("text", _micro(v.removesuffix("+00"))),
    }
    return by_column.get(column, _text)


def _pg_to_mariadb(column: str) -> Expect:
    by_column: dict[str, Expect] = {
        "r": lambda v: _float32(v),  # a FLOAT, read back as the double it is
        "d": float,
        "b": lambda v: v[2:].upper(),
        "bo": lambda v: "1" if v == "true" else "0",
        **dict.fromkeys(["ti", "ts"], _micro),
        "tstz": lambda v: _micro(v.removesuffix("+00")),
    }
    return by_column.get(column, SAME)


def _mariadb_to_pg(column: str) -> Expect:
    binaries = ["bn", "vb", "tb", "bl", "mb", "lb"]
    by_column: dict[str, Expect] = {
        "f": _float32,
        "dbl": float,
        "b1": lambda v: v.zfill(1),
        "b8": lambda v: v.zfill(8),
        "b64": lambda v: v.zfill(64),
        **dict.fromkeys(binaries, lambda v: "\\x" + v.lower()),
        "s": _set_json,  # read back as array_to_json(s)
        **dict.fromkeys(["tm", "dt", "ts"], _trimmed),
    }
    return by_column.get(column, SAME)


def _mariadb_to_sqlite(column: str) -> Expect:
    integers = ["id", "ti", "tiu", "si", "siu", "mi", "miu", "i", "iu", "bi", "biu", "y", "g"]
    binaries = ["bn", "vb", "tb", "bl", "mb", "lb"]
    by_column: dict[str, Expect] = {
        **dict.fromkeys(integers, _integer),
        **dict.fromkeys(["b1", "b8", "b64"], lambda v: ("integer", int(v, 2))),
        **dict.fromkeys(["f", "dbl"], _real),
        **dict.fromkeys(binaries, lambda v: ("blob", bytes.fromhex(v))),
        "s": lambda v: ("text", _set_json(v)),
    }
    return by_column.get(column, _text)


def _sqlite_to_pg(column: str) -> Expect:
    by_column: dict[str, Expect] = {
        **dict.fromkeys(["id", "i"], lambda v: str(v[1])),
        "r": lambda v: float(v[1]),
        "b": lambda v: "\\x" + v[1].hex(),
        **dict.fromkeys(["n", "d"], lambda v: _decimal_text(v[1])),
        "bo": lambda v: "true" if v[1] else "false",
        "dt": lambda v: _trimmed(v[1]),
    }
    return by_column.get(column, lambda v: v[1])


def _sqlite_to_mariadb(column: str) -> Expect:
    by_column: dict[str, Expect] = {
        **dict.fromkeys(["id", "i"], lambda v: str(v[1])),
        "r": lambda v: float(v[1]),
        "b": lambda v: v[1].hex().upper(),
        **dict.fromkeys(["n", "d"], lambda v: _decimal_text(v[1])),
        "bo": lambda v: str(v[1]),
        "dt": lambda v: _micro(v[1]),
    }
    return by_column.get(column, lambda v: v[1])


EXPECTED: dict[tuple[str, str], Callable[[str], Expect]] = {
    ("postgresql", "sqlite"): _pg_to_sqlite,
    ("postgresql", "mysql"): _pg_to_mariadb,
    ("mysql", "postgresql"): _mariadb_to_pg,
    ("mysql", "sqlite"): _mariadb_to_sqlite,
    ("sqlite", "postgresql"): _sqlite_to_pg,
    ("sqlite", "mysql"): _sqlite_to_mariadb,
}
# A target's reading of NULL: SQLite's is its storage class with the value.
NULL_IN = {"postgresql": None, "mysql": None, "sqlite": ("null", None)}


def _is_null(value: Any) -> bool:
    return value is None or value == ("null", None)


# --- running migrator ------------------------------------------------------------------------------


def _url(dialect: str, pg: DatabaseFactory, mariadb: DatabaseFactory, path: Path) -> str:
    if dialect == "postgresql":
        return pg()
    if dialect == "mysql":
        return mariadb()
    return f"sqlite:///{path}"


def _plan(tmp_path: Path, name: str, source: str, target: str, tables: list[str], drops: dict[str, list[str]]) -> Path:
    rules: dict[str, Any] = {t: "all" for t in tables}
    for table, columns in drops.items():
        rules[table] = {"copy": "all", "columns": dict.fromkeys(columns, "drop")}
    return write_plan(tmp_path, name, source, target, {"tables": rules, "unlisted": "skip"})


def _zoo_pair(
    tmp_path: Path, pg: DatabaseFactory, mariadb: DatabaseFactory, source: str, target: str
) -> tuple[str, str]:
    source_url = _url(source, pg, mariadb, tmp_path / "zoo.sqlite")
    _load(source, source_url)
    return source_url, _url(target, pg, mariadb, tmp_path / "target.sqlite")


def _target_tables(dialect: str, url: str) -> list[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
    engine.dispose()
    return [n for n in names if not n.startswith("_migrator")]


# --- the six cross-dialect pairs --------------------------------------------------------------------

CROSS = list(EXPECTED)


@pytest.mark.parametrize(("source", "target"), CROSS, ids=[f"{s}-to-{t}" for s, t in CROSS])
def test_cross_dialect_values_follow_the_type_map(
    run_cli,
    tmp_path: Path,
    pg_url_factory: DatabaseFactory,
    mariadb_url_factory: DatabaseFactory,
    source: str,
    target: str,
) -> None:  # type: ignore[no-untyped-def]
    source_url, target_url = _zoo_pair(tmp_path, pg_url_factory, mariadb_url_factory, source, target)
    tables = TABLES[source]
    refused = REFUSED[(source, target)]

    # The whole zoo: the columns no target type can hold are refused, by the dry run as by the run,
    # and nothing is written.
    whole_plan = _plan(tmp_path, "whole", source_url, target_url, tables, {})
    dry = run_cli("plan", whole_plan)
    whole = run_cli("run", whole_plan)
    assert whole.returncode == dry.returncode == 2, whole.stderr
    assert dry.stderr == whole.stderr
    for table, columns in refused.items():
        for column in columns:
            assert f"data.tables.{table}.columns.{column}: {table}.{column} (" in whole.stderr, whole.stderr
    assert whole.stderr.count("cannot hold") == sum(map(len, refused.values())), whole.stderr
    assert "drop or transform it in the plan" in whole.stderr
    assert _target_tables(target, target_url) == []

    # Without them, every other value arrives as the type map says, and the run's verification holds.
    done = run_cli("run", _plan(tmp_path, "kept", source_url, target_url, tables, refused))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAIL" not in done.stdout, done.stdout
    # The digests themselves agree: no difference that only a walk of the rows explains away.
    assert "value for value" not in done.stdout + done.stderr, done.stdout
    expected_of = EXPECTED[(source, target)]
    for table in tables:
        source_rows = _read(source, source_url, table)
        target_rows = _read_target(target, target_url, table)
        assert sorted(target_rows) == sorted(source_rows), table
        gone = set(refused.get(table, []))
        for key, row in source_rows.items():
            arrived = target_rows[key]
            assert set(arrived) == set(row) - gone, (table, key)
            for column in arrived:
                value = row[column]
                want = NULL_IN[target] if _is_null(value) else expected_of(column)(value)
                got = arrived[column]
                if isinstance(want, float):
                    got = float(got)
                single = column in ("r", "f") and source != "sqlite"
                assert _comparable(got, single) == _comparable(want, single), (
                    f"{table}.{column} of row {key}: source {value!r}, target {got!r}, expected {want!r}"
                )


@pytest.mark.parametrize("target", ["postgresql", "sqlite"])
def test_a_mariadb_enum_with_an_emoji_member_keeps_its_check_across_dialects(
    run_cli, tmp_path: Path, pg_url_factory: DatabaseFactory, mariadb_url_factory: DatabaseFactory, target: str
) -> None:  # type: ignore[no-untyped-def]
    """MariaDB's catalog says 'ünï ?' for the member 'ünï 😀': the target's CHECK lists the real
    member (asked of the server), so it takes the source's value and refuses any other text."""
    source_url, target_url = _zoo_pair(tmp_path, pg_url_factory, mariadb_url_factory, "mysql", target)
    refused = REFUSED[("mysql", target)]
    done = run_cli("run", _plan(tmp_path, "kept", source_url, target_url, TABLES["mysql"], refused))
    assert done.returncode == 0, done.stdout + done.stderr
    _execute(target, target_url, "UPDATE zoo SET e = 'ünï 😀' WHERE id = 1")
    for other in ("ünï ?", "bored"):
        with pytest.raises(Exception, match=r"(?i)check"):
            _execute(target, target_url, f"UPDATE zoo SET e = '{other}' WHERE id = 1")


# One value changed in a correct target, by the target's own SQL: (table, key, statement). Each is a
# change of the value, not of the target type's spelling of it.
CHANGES = {
    # a numeric's scale: 1.50 is kept as the text '1.50' in SQLite
    ("postgresql", "sqlite"): ("zoo", 5, "UPDATE zoo SET n = '1.5' WHERE id = 5"),
    # a timestamptz moved by one microsecond (06:30:00.5 UTC in the source)
    ("postgresql", "mysql"): ("zoo", 5, "UPDATE zoo SET tstz = '2000-02-29 06:30:00.500001' WHERE id = 5"),
    # JSON key order, where the type (PostgreSQL's json) keeps it
    ("mysql", "postgresql"): (
        "zoo", 5, """UPDATE zoo SET j = '{"a": null, "b": "ünï 😀", "list": [[1, 2], [3]]}' WHERE id = 5""",
    ),
    # a DATETIME's text moved by one microsecond
    ("mysql", "sqlite"): ("zoo", 3, "UPDATE zoo SET dt = '9999-12-31 23:59:59.999998' WHERE id = 3"),
    # a numeric's scale: the REAL 1.5 arrives as numeric 1.5, not 1.50
    ("sqlite", "postgresql"): ("zoo", 3, "UPDATE zoo SET d = 1.50 WHERE id = 3"),
    # a trailing blank in a VARCHAR (not a CHAR's padding): another value
    ("sqlite", "mysql"): ("zoo", 5, "UPDATE zoo SET vc = CONCAT(vc, ' ') WHERE id = 5"),
}  # fmt: skip


@pytest.mark.parametrize(("source", "target"), CROSS, ids=[f"{s}-to-{t}" for s, t in CROSS])
def test_cross_dialect_verification_names_a_changed_value(
    run_cli,
    tmp_path: Path,
    pg_url_factory: DatabaseFactory,
    mariadb_url_factory: DatabaseFactory,
    source: str,
    target: str,
) -> None:  # type: ignore[no-untyped-def]
    source_url, target_url = _zoo_pair(tmp_path, pg_url_factory, mariadb_url_factory, source, target)
    plan = _plan(tmp_path, "kept", source_url, target_url, TABLES[source], REFUSED[(source, target)])
    done = run_cli("run", plan)
    assert done.returncode == 0, done.stdout + done.stderr
    # Against what the run recorded (the default), and against the source read again.
    for how in ((), ("--against-source",)):
        held = run_cli("verify", plan, *how)
        assert held.returncode == 0, held.stdout + held.stderr

    table, key, statement = CHANGES[(source, target)]
    _execute(target, target_url, statement)
    for how in ((), ("--against-source",)):
        changed = run_cli("verify", plan, *how)
        assert changed.returncode != 0, changed.stdout + changed.stderr
        failures = [line for line in changed.stdout.splitlines() if line.startswith("FAIL")]
        assert [line.split(":")[0] for line in failures] == [f"FAIL I3 {table}"], changed.stdout
        assert "rows with other content" in failures[0], changed.stdout
        assert f"changed {key}\n" in changed.stdout + "\n", changed.stdout
        assert changed.stdout.count("changed ") == 1, changed.stdout


def _execute(dialect: str, url: str, statement: str) -> None:
    if dialect == "postgresql":
        with psycopg.connect(_pg_dsn(url), autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]
    elif dialect == "mysql":
        conn = _mariadb_connection(url, autocommit=True)
        with conn.cursor() as cursor:
            cursor.execute(statement)
        conn.close()
    else:
        with sqlite3.connect(sa.make_url(url).database or "") as lite:
            lite.execute(statement)
        lite.close()


def _read_target(dialect: str, url: str, table: str) -> Rows:
    # In PostgreSQL, MariaDB's TIME arrives as an interval, compared in PostgreSQL's own style.
    return _read_pg(url, table, iso_intervals=False) if dialect == "postgresql" else _read(dialect, url, table)


def _comparable(value: Any, single: bool) -> Any:
    """A float of a 4-byte column (PostgreSQL's real, MariaDB's FLOAT) as the 4-byte float it is:
    each database prints it with as few digits as tell it apart from other 4-byte floats."""
    if isinstance(value, tuple) and value[0] == "real":
        return ("real", _comparable(value[1], single))
    if isinstance(value, float | str) and single:
        return _float32(value)
    return float(value) if isinstance(value, Decimal) else value


# --- the three same-dialect pairs: every value exactly as the source stores it ---------------------

SAME_DIALECT = ["postgresql", "mysql", "sqlite"]


@pytest.mark.parametrize("dialect", SAME_DIALECT)
def test_same_dialect_values_are_kept_as_stored(
    run_cli, tmp_path: Path, pg_url_factory: DatabaseFactory, mariadb_url_factory: DatabaseFactory, dialect: str
) -> None:  # type: ignore[no-untyped-def]
    source_url, target_url = _zoo_pair(tmp_path, pg_url_factory, mariadb_url_factory, dialect, dialect)
    tables = TABLES[dialect]
    # With its verification: over the values as stored, it must hold as well.
    done = run_cli("run", _plan(tmp_path, "same", source_url, target_url, tables, {}))
    assert done.returncode == 0, done.stdout + done.stderr
    for table in tables:
        assert _stored(dialect, target_url, table) == _stored(dialect, source_url, table), table


# A value changed in a correct MariaDB target, and changed back: (key, change, back). Each change is
# one that reading through SQLAlchemy's MySQL types would hide: a FLOAT beyond the six digits of its
# text, a DOUBLE beyond the ten places of the Decimal it would become, a TIME below zero, an ENUM
# member whose catalog text differs from the member.
MARIADB_CHANGES = [
    (5, "SET f = 1.5", "SET f = 1.5000001"),
    (5, "SET dbl = 0.10000000000000002", "SET dbl = 0.1"),
    (3, "SET tm = '-838:59:59'", "SET tm = '838:59:59'"),
    (5, "SET e = 'happy'", "SET e = 'ünï 😀'"),
]


def test_same_dialect_mariadb_verification_names_a_changed_value(
    run_cli, tmp_path: Path, pg_url_factory: DatabaseFactory, mariadb_url_factory: DatabaseFactory
) -> None:  # type: ignore[no-untyped-def]
    """MariaDB's digests are over the values as MariaDB stores them, on both sides."""
    source_url, target_url = _zoo_pair(tmp_path, pg_url_factory, mariadb_url_factory, "mysql", "mysql")
    plan = _plan(tmp_path, "same", source_url, target_url, TABLES["mysql"], {})
    done = run_cli("run", plan)
    assert done.returncode == 0, done.stdout + done.stderr
    for key, change, back in MARIADB_CHANGES:
        _execute("mysql", target_url, f"UPDATE zoo {change} WHERE id = {key}")
        for how in ((), ("--against-source",)):
            changed = run_cli("verify", plan, *how)
            assert changed.returncode != 0, (change, changed.stdout + changed.stderr)
            failures = [line for line in changed.stdout.splitlines() if line.startswith("FAIL")]
            assert [line.split(":")[0] for line in failures] == ["FAIL I3 zoo"], (change, changed.stdout)
            assert f"changed {key}\n" in changed.stdout + "\n", (change, changed.stdout)
        _execute("mysql", target_url, f"UPDATE zoo {back} WHERE id = {key}")
    held = run_cli("verify", plan)
    assert held.returncode == 0, held.stdout + held.stderr


def test_same_dialect_mariadb_into_an_existing_schema_is_kept_as_stored(
    run_cli, tmp_path: Path, pg_url_factory: DatabaseFactory, mariadb_url_factory: DatabaseFactory
) -> None:  # type: ignore[no-untyped-def]
    """`schema: existing`: the target's tables made beforehand, by the zoo's own DDL, its generated
    column included: the target computes it, the run does not write it."""
    source_url, target_url = _zoo_pair(tmp_path, pg_url_factory, mariadb_url_factory, "mysql", "mysql")
    _load("mysql", target_url)
    for table in TABLES["mysql"]:
        _execute("mysql", target_url, f"DELETE FROM {table}")
    rules: dict[str, Any] = dict.fromkeys(TABLES["mysql"], "all")
    plan = write_plan(
        tmp_path, "existing", source_url, target_url, {"tables": rules, "unlisted": "skip", "schema": "existing"}
    )
    done = run_cli("run", plan)
    assert done.returncode == 0, done.stdout + done.stderr
    for table in TABLES["mysql"]:
        assert _stored("mysql", target_url, table) == _stored("mysql", source_url, table), table
    assert run_cli("verify", plan, "--against-source").returncode == 0


def _stored(dialect: str, url: str, table: str) -> list[tuple[Any, ...]]:
    """The rows as the database stores them: PostgreSQL's col::text, MariaDB's SELECT *, SQLite's
    typeof and quote of every column."""
    if dialect == "postgresql":
        with psycopg.connect(_pg_dsn(url)) as conn:
            columns = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
                (table,),
            ).fetchall()]  # fmt: skip
            texts = ", ".join(f"{c}::text" for c in columns)
            return conn.execute(f"SELECT {texts} FROM {table} ORDER BY 1").fetchall()  # type: ignore[arg-type]
    if dialect == "mysql":
        conn = _mariadb_connection(url)
        with conn.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {table} ORDER BY 1")
            rows = list(cursor.fetchall())
        conn.close()
        return rows
    with sqlite3.connect(sa.make_url(url).database or "") as lite:
        names = [row[1] for row in lite.execute(f"PRAGMA table_info({table})")]
        selected = ", ".join(f"typeof({n}), quote({n})" for n in names)
        stored = lite.execute(f"SELECT {selected} FROM {table} ORDER BY rowid").fetchall()
    lite.close()
    return stored


def test_a_key_of_another_type_in_the_target_still_names_the_row(
    run_cli, tmp_path: Path, pg_url_factory: DatabaseFactory, mariadb_url_factory: DatabaseFactory
) -> None:  # type: ignore[no-untyped-def]
    """A uuid key becomes a CHAR(36) in MariaDB: the walk compares the keys in the target's form."""
    source_url, target_url = pg_url_factory(), mariadb_url_factory()
    with psycopg.connect(_pg_dsn(source_url), autocommit=True) as conn:
        conn.execute("CREATE TABLE tagged (id uuid PRIMARY KEY, label char(4))")
        conn.execute(
            "INSERT INTO tagged VALUES ('123e4567-e89b-12d3-a456-426614174000', 'ab'),"
            " ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'cd'), ('ffffffff-ffff-ffff-ffff-ffffffffffff', NULL)"
        )
    plan = _plan(tmp_path, "uuid", source_url, target_url, ["tagged"], {})
    done = run_cli("run", plan)
    assert done.returncode == 0, done.stdout + done.stderr
    _execute("mysql", target_url, "UPDATE tagged SET label = 'ce' WHERE id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'")
    changed = run_cli("verify", plan)
    assert changed.returncode != 0, changed.stdout
    assert "FAIL I3 tagged:" in changed.stdout, changed.stdout
    assert "changed a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\n" in changed.stdout, changed.stdout
