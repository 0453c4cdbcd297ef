"""The dry run takes the type map's checks of the data (stores/sql/type_checks.py) in the scan that
counts each copied table, not in a scan of their own: what it refuses, and how it says so, stays
what a run refuses before it writes anything."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from migrator.engine.dry_run import dry_run
from migrator.errors import PlanError
from migrator.plan.load import load_plan
from tests.conftest import DatabaseFactory
from tests.plan_files import write_plan

_SOURCE = """
CREATE TABLE parents (id integer PRIMARY KEY, ratio double precision, born date);
CREATE TABLE children (id integer PRIMARY KEY, parent_id integer REFERENCES parents (id), score real);
INSERT INTO parents VALUES (1, 0.5, '2020-01-01'), (2, 1.5, '2021-06-30'), (3, 2.5, NULL);
INSERT INTO children VALUES (1, 1, 1.0), (2, 2, 2.0), (3, NULL, 3.0), (4, 3, NULL);
"""


def _source(pg_url_factory: DatabaseFactory, extra: str = "") -> str:
    url = pg_url_factory()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(_SOURCE + extra)  # type: ignore[arg-type]
    return url


def _plan(tmp_path: Path, source: str) -> Path:
    target = f"sqlite:///{tmp_path / 'target.db'}"
    return write_plan(tmp_path, "typed", source, target, {"tables": {"parents": "all", "children": "all"}})


@contextmanager
def _statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(" ".join(statement.split()))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)


def test_the_checks_are_taken_in_the_count_scans(pg_url_factory: DatabaseFactory, tmp_path: Path) -> None:
    plan = load_plan(_plan(tmp_path, _source(pg_url_factory)))
    with _statements() as seen:
        result = dry_run(plan)
    assert {t.table: (t.source_rows, t.rows) for t in result.tables} == {"parents": (3, 3), "children": (4, 4)}
    checks = [s for s in seen if "max(CASE WHEN" in s]
    # One statement per table counts it and checks its columns: no check reads a table by itself.
    assert len(checks) == 2 and all("count(" in s for s in checks), checks
    assert not [s for s in seen if s.startswith("SELECT max(CASE WHEN")]


@pytest.mark.parametrize("value", ["'NaN'", "'Infinity'"])
def test_a_value_the_target_cannot_hold_is_refused_as_a_run_refuses_it(
    pg_url_factory: DatabaseFactory, tmp_path: Path, run_cli, value: str
) -> None:  # type: ignore[no-untyped-def]
    """A NaN in a double precision column: SQLite would store NULL. Refused by the dry run after its
    counts, in the words and with the exit code of the run's check before any write."""
    extra = f"INSERT INTO children VALUES (5, 1, {value}); INSERT INTO parents VALUES (4, 'NaN', 'infinity');"
    plan = _plan(tmp_path, _source(pg_url_factory, extra))
    with pytest.raises(PlanError) as refused:
        dry_run(load_plan(plan))
    text = str(refused.value)
    assert "parents.ratio (DOUBLE PRECISION) holds NaN" in text and "parents.born (DATE) holds infinite dates" in text
    assert ("children.score (REAL) holds NaN" in text) is (value == "'NaN'")
    dry, run = run_cli("plan", plan), run_cli("run", plan)
    assert dry.returncode == run.returncode == 2
    assert dry.stderr == run.stderr
    assert not (tmp_path / "target.db").exists() or sqlite_tables(tmp_path / "target.db") == []


def sqlite_tables(path: Path) -> list[str]:
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
    engine.dispose()
    return [n for n in names if not n.startswith("_migrator")]
