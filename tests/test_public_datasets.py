"""Public sample databases split end to end into every target dialect, checked by independent SQL.

Each data set of tests/data/public (pagila and northwind on PostgreSQL, sakila and employees on
MariaDB) is loaded once per session, split with its plan.yaml by `migrator run` into a fresh
PostgreSQL, MariaDB and SQLite target, and the target is checked by tests/public_expected.py: I1
(foreign keys resolve), I2 (no row outside the subset) and I3 (every row of the subset, with the
source's values). A pair that fails today is marked xfail(strict=True) with the exact reason, so
that it turns into a failure ("XPASS(strict)") as soon as a fix makes it pass: then remove the mark.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.public_datasets import DATASETS, MARIADB, POSTGRESQL, PublicSources, mysql_statements, public_sources_fixture
from tests.public_expected import EXPECTATIONS, split_failures



@pytest.fixture(scope="session")
def public_sources() -> Iterator[PublicSources]:
    """`public_sources.url(DATASETS[NAME])`: a source database holding that data set, loaded once per
    session and shared: tests only read it."""
    yield from public_sources_fixture()

SQLITE = "sqlite"
TARGETS = (POSTGRESQL, MARIADB, SQLITE)

# (data set, target) -> why its split fails today. Each reason is what the run or the check reports.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


def _cases() -> list:
    cases = []
    for dataset in DATASETS:
        for target in TARGETS:
            reason = KNOWN_FAILURES.get((dataset, target))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(dataset, target, marks=marks, id=f"{dataset}-to-{target}"))
    return cases


def _target_url(target: str, pg_url_factory, mariadb_url_factory, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    if target == POSTGRESQL:
        return pg_url_factory()
    if target == MARIADB:
        return mariadb_url_factory()
    return f"sqlite:///{tmp_path / 'target.db'}"


@pytest.mark.parametrize(("dataset", "target"), _cases())
def test_split_into_each_dialect(  # type: ignore[no-untyped-def]
    dataset: str, target: str, public_sources, pg_url_factory, mariadb_url_factory, run_cli, tmp_path: Path
) -> None:
    source_url = public_sources.url(DATASETS[dataset])
    target_url = _target_url(target, pg_url_factory, mariadb_url_factory, tmp_path)
    env = {"SOURCE_URL": source_url, "TARGET_URL": target_url, "STATE_DIR": str(tmp_path / "state")}
    done = run_cli("run", "--format", "json", DATASETS[dataset].plan, env=env)
    assert done.returncode == 0, f"migrator run failed:\n{done.stderr[-3000:]}"
    assert json.loads(done.stdout)["status"] == "finished"
    failures = split_failures(dataset, source_url, target_url)
    assert not failures, f"the target is not the {dataset} split:\n" + "\n".join(failures)


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_plan_selects_a_real_subset(dataset: str, public_sources) -> None:  # type: ignore[no-untyped-def]
    """The expectations are worth checking: every copied table gets rows, and some rows stay behind."""
    import sqlalchemy as sa

    engine = sa.create_engine(public_sources.url(DATASETS[dataset]))
    try:
        with engine.connect() as conn:
            counts = {}
            for table, where in EXPECTATIONS[dataset].where.items():
                total = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                kept = conn.execute(sa.text(f"SELECT count(*) FROM {table} x WHERE {where or '1 = 1'}")).scalar_one()
                counts[table] = (kept, total)
    finally:
        engine.dispose()
    assert any(kept < total for kept, total in counts.values()), f"{dataset}: the plan copies everything: {counts}"
    assert all(kept > 0 for kept, total in counts.values() if total), f"{dataset}: a table gets no row: {counts}"


def test_mysql_statements_follow_delimiter_lines() -> None:
    script = (
        "-- a comment\nCREATE TABLE t (a INT);\nDELIMITER ;;\n"
        "CREATE TRIGGER x AFTER INSERT ON t FOR EACH ROW BEGIN\n  SET @n = 1;\nEND;;\n"
        "DELIMITER ;\nINSERT INTO t VALUES (1),\n(2);\n"
    )
    assert list(mysql_statements(script)) == [
        "CREATE TABLE t (a INT)",
        "CREATE TRIGGER x AFTER INSERT ON t FOR EACH ROW BEGIN\n  SET @n = 1;\nEND",
        "INSERT INTO t VALUES (1),\n(2)",
    ]
