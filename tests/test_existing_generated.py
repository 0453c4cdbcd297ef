"""`schema: existing` into tables with a generated column: the target computes it, the run writes the
other columns, and verification compares what the target computed with the source's values."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import DatabaseFactory
from tests.plan_files import write_plan

DDL = {
    "postgresql": "CREATE TABLE items (id integer PRIMARY KEY, price integer, "
    "doubled integer GENERATED ALWAYS AS (price * 2) STORED)",
    "mysql": "CREATE TABLE items (id integer PRIMARY KEY, price integer, "
    "doubled integer AS (price * 2) STORED, halved integer AS (price DIV 2) VIRTUAL)",
    "sqlite": "CREATE TABLE items (id integer PRIMARY KEY, price integer, "
    "doubled integer GENERATED ALWAYS AS (price * 2) STORED, halved integer AS (price / 2) VIRTUAL)",
}


def _url(dialect: str, tmp_path: Path, name: str, pg: DatabaseFactory, mariadb: DatabaseFactory) -> str:
    if dialect == "postgresql":
        return pg()
    if dialect == "mysql":
        return mariadb()
    path = tmp_path / f"{name}.db"
    sqlite3.connect(path).close()
    return f"sqlite:///{path}"


def _rows(url: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM items ORDER BY id")]
    finally:
        engine.dispose()


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_a_generated_column_of_an_existing_table_is_left_to_the_target(
    run_cli, tmp_path: Path, pg_url_factory: DatabaseFactory, mariadb_url_factory: DatabaseFactory, dialect: str
) -> None:  # type: ignore[no-untyped-def]
    source = _url(dialect, tmp_path, "source", pg_url_factory, mariadb_url_factory)
    target = _url(dialect, tmp_path, "target", pg_url_factory, mariadb_url_factory)
    for url in (source, target):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(DDL[dialect])
        engine.dispose()
    engine = sa.create_engine(source)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO items (id, price) VALUES (1, 10), (2, 7), (3, NULL)")
    engine.dispose()
    plan = write_plan(tmp_path, "existing", source, target, {"tables": {"items": "all"}, "schema": "existing"})
    done = run_cli("run", plan)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _rows(target) == _rows(source)
    assert _rows(target)[0][2] == 20  # computed by the target
    checked = run_cli("verify", plan, "--against-source")
    assert checked.returncode == 0, checked.stdout + checked.stderr
