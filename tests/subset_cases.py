"""Machinery for tests/test_subset_rules.py: build a tiny source, write a plan, run the CLI, read the
target back with plain SQL.

Nothing here imports migrator: the expected rows live in the tests as literal sets, and the target is
read with hand-written queries (exact row sets per table, and invariant I1 with LEFT JOINs), so that
a bug in the engine cannot hide behind code shared with the check.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

SQLITE = pytest.param("sqlite", id="sqlite")
PG = pytest.param("pg", id="pg", marks=pytest.mark.server)
PG_TO_MARIADB = pytest.param("pg-mariadb", id="pg-mariadb", marks=pytest.mark.server)
# PostgreSQL with every table cut in key ranges of about one row (MIGRATOR_RANGE_ROWS, the source
# analyzed so that its statistics show the rows): each range's own query, its parents' kept sets
# bounded or probed (stores/sql/range_lookups.py), must keep exactly the rows the rules keep.
PG_RANGES = pytest.param("pg-ranges", id="pg-ranges", marks=pytest.mark.server)
RANGES_ENV = {"MIGRATOR_RANGE_ROWS": "1"}
MARIADB = pytest.param("mariadb", id="mariadb", marks=pytest.mark.server)

LEDGER_PREFIX = "_migrator_"  # the checkpoint tables migrator keeps in the target


@dataclass(frozen=True)
class Rows:
    """Expected rows of a table as tuples of `columns`. `bag`: compared with multiplicity (a table
    without a key may hold the same row twice, and must hold it exactly as many times)."""

    columns: tuple[str, ...]
    rows: Collection[tuple[Any, ...]]
    bag: bool = False


# A set of keys (ints, or tuples for a composite key) or Rows; an empty set: the table gets nothing.
Expected = Collection[Any] | Rows


@dataclass(frozen=True)
class Variant:
    """One plan over a case's source, and what it must do."""

    name: str
    data: dict[str, Any]  # the plan's data section (chunk_rows is added: 2, so tables span chunks)
    kinds: dict[str, str] = field(default_factory=dict)  # table -> class shown by `migrator plan`
    expected: dict[str, Expected] = field(default_factory=dict)
    rejected: tuple[str, ...] = ()  # plan and run exit 2, stderr naming each of these
    fails: tuple[str, ...] = ()  # run exits 1, stderr naming each of these, target untouched
    dangling: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)  # see dangling_counts


@dataclass(frozen=True)
class Case:
    statements: list[str]  # schema and rows, valid in SQLite and PostgreSQL
    keys: dict[str, tuple[str, ...]]  # table -> the columns that identify a row
    foreign_keys: list[str]  # "child.(a, b) -> parent.(x, y)", declared and virtual: checked as I1
    pg_statements: list[str] | None = None  # where PostgreSQL needs other DDL (a cycle of keys)


def create_source(url: str, statements: list[str]) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def databases(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Callable[[], str]]:
    """The source URL for `backend`, and a factory of fresh, empty target URLs."""
    if backend == "sqlite":
        counter = iter(range(1000))
        return f"sqlite:///{tmp_path / 'source.db'}", lambda: f"sqlite:///{tmp_path / f'target{next(counter)}.db'}"
    if backend == "mariadb":
        mariadb = request.getfixturevalue("mariadb_url_factory")
        return mariadb(), mariadb
    pg = request.getfixturevalue("pg_url_factory")
    if backend in ("pg", "pg-ranges"):
        return pg(), pg
    assert backend == "pg-mariadb"
    return pg(), request.getfixturevalue("mariadb_url_factory")


def run_case(
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    case: Case,
    variants: list[Variant],
) -> None:
    source, new_target = databases(backend, request, tmp_path)
    pg_source = backend != "sqlite"
    statements = case.pg_statements if pg_source and case.pg_statements else case.statements
    run = run_cli
    if backend == "pg-ranges":
        statements = [*statements, "ANALYZE"]

        def run(*args: Any, **options: Any) -> subprocess.CompletedProcess[str]:
            return run_cli(*args, env=RANGES_ENV, **options)

    create_source(source, statements)
    for variant in variants:
        check_variant(run, case, variant, source, new_target(), tmp_path / variant.name)


def check_variant(
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    case: Case,
    variant: Variant,
    source: str,
    target: str,
    folder: Path,
) -> None:
    folder.mkdir()
    plan = folder / "plan.yaml"
    document = {
        "version": 1,
        "name": f"subset-{variant.name}",
        "source": {"database": source},
        "target": {"database": target},
        "state": str(folder / "state"),
        "data": {"chunk_rows": 2, **variant.data},
    }
    plan.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    label = f"variant {variant.name}"

    shown = run_cli("plan", plan, "--format", "json")
    if variant.rejected:
        done = run_cli("run", plan, "--format", "json")
        for result in (shown, done):
            assert result.returncode == 2, f"{label}: {result.stdout}{result.stderr}"
            for word in variant.rejected:
                assert word in result.stderr, f"{label}: {word!r} not in {result.stderr}"
        assert_target_empty(target, label)
        return
    assert shown.returncode == 0, f"{label}: {shown.stderr}"
    tables = {t["table"]: t for t in json.loads(shown.stdout)["tables"]}
    assert {name: t["kind"] for name, t in tables.items()} == variant.kinds, label
    assert {name: t["source_rows"] for name, t in tables.items()} == source_rows(source, list(tables)), label
    shown_dangling = dangling_counts(shown.stdout)
    for relation, count in variant.dangling.items():
        assert shown_dangling.get(relation) == count, f"{label}: dangling {relation}: {shown_dangling}"
    if not variant.fails:
        counts = {name: t["rows"] for name, t in tables.items() if name in variant.expected}
        assert counts == {name: len(_rows_of(e)) for name, e in variant.expected.items()}, label

    done = run_cli("run", plan, "--format", "json")
    if variant.fails:
        assert done.returncode == 1, f"{label}: {done.stdout}{done.stderr}"
        for word in variant.fails:
            assert word in done.stderr, f"{label}: {word!r} not in {done.stderr}"
        assert_target_empty(target, label)
        return
    assert done.returncode == 0, f"{label}: {done.stdout}{done.stderr}"
    assert json.loads(done.stdout)["status"] == "finished", label
    assert_target(target, case, variant.expected, label)


def dangling_counts(plan_stdout: str) -> dict[tuple[str, str], tuple[str, int]]:
    """(table, relation) -> (policy, rows) from `migrator plan --format json`."""
    return {
        (t["table"], d["relation"]): (d["policy"], d["rows"])
        for t in json.loads(plan_stdout)["tables"]
        for d in t["dangling"]
    }


def _rows_of(expected: Expected) -> list[Any]:
    return list(expected.rows if isinstance(expected, Rows) else expected)


# -- reading the target ---------------------------------------------------------------------------------


def _user_tables(conn: sa.Connection) -> set[str]:
    return {t for t in sa.inspect(conn).get_table_names() if not t.startswith(LEDGER_PREFIX)}


def _count(conn: sa.Connection, sql: str) -> int:
    return int(conn.execute(sa.text(sql)).scalar_one())


def source_rows(url: str, tables: list[str]) -> dict[str, int]:
    """Every row of each table, counted with plain SQL."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {name: _count(conn, f"SELECT count(*) FROM {name}") for name in tables}
    finally:
        engine.dispose()


def assert_target_empty(url: str, label: str) -> None:
    """Nothing written: no database file at all, or no table holding a row."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            holding = {t: n for t in _user_tables(conn) if (n := _count(conn, f"SELECT count(*) FROM {t}"))}
    finally:
        engine.dispose()
    assert holding == {}, f"{label}: the target got rows: {holding}"


def assert_target(url: str, case: Case, expected: Mapping[str, Expected], label: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            present = _user_tables(conn)
            extra = present - set(expected)
            assert not extra, f"{label}: tables in the target that the case does not expect: {extra}"
            for table, rows in expected.items():
                _assert_table(conn, present, table, rows, case.keys.get(table, ()), label)
            for fk in case.foreign_keys:
                _assert_resolves(conn, present, fk, label)
    finally:
        engine.dispose()


def _assert_table(
    conn: sa.Connection, present: set[str], table: str, expected: Expected, key: tuple[str, ...], label: str
) -> None:
    wanted = _rows_of(expected)
    if not wanted:
        if table in present:
            assert _count(conn, f"SELECT count(*) FROM {table}") == 0, f"{label}: {table} got rows"
        return
    assert table in present, f"{label}: the target has no table {table}"
    columns = expected.columns if isinstance(expected, Rows) else key
    found = [tuple(r) for r in conn.execute(sa.text(f"SELECT {', '.join(columns)} FROM {table}"))]
    if not isinstance(expected, Rows) and len(columns) == 1:
        found = [r[0] for r in found]  # type: ignore[misc]
    if isinstance(expected, Rows) and expected.bag:
        assert sorted(found, key=repr) == sorted(wanted, key=repr), f"{label}: rows of {table}"
        return
    assert len(found) == len(set(found)), f"{label}: {table} holds a row twice: {sorted(found, key=repr)}"
    assert set(found) == set(wanted), (
        f"{label}: {table}: missing {set(wanted) - set(found)}, unexpected {set(found) - set(wanted)}"
    )


def _parse_fk(text: str) -> tuple[str, list[str], str, list[str]]:
    def side(part: str) -> tuple[str, list[str]]:
        table, _, columns = part.strip().partition(".")
        return table, [c.strip() for c in columns.strip("()").split(",")]

    child, parent = (side(p) for p in text.split("->"))
    return child[0], child[1], parent[0], parent[1]


def _assert_resolves(conn: sa.Connection, present: set[str], fk: str, label: str) -> None:
    """I1: every non-null reference of a target row lands on a target row."""
    child, child_cols, parent, parent_cols = _parse_fk(fk)
    if child not in present:
        return
    not_null = " AND ".join(f"c.{c} IS NOT NULL" for c in child_cols)
    if parent not in present:
        orphans = _count(conn, f"SELECT count(*) FROM {child} c WHERE {not_null}")
    else:
        on = " AND ".join(f"c.{c} = p.{p}" for c, p in zip(child_cols, parent_cols, strict=True))
        joined = f"{child} c LEFT JOIN {parent} p ON {on}"
        orphans = _count(conn, f"SELECT count(*) FROM {joined} WHERE {not_null} AND p.{parent_cols[0]} IS NULL")
    assert orphans == 0, f"{label}: I1: {orphans} rows of {child} do not resolve through {fk}"
