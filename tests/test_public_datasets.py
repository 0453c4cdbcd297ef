"""Public sample databases split end to end into every target dialect, checked by independent SQL.

Each data set of tests/data/public (pagila and northwind on PostgreSQL, sakila and employees on
MariaDB) is loaded once per session, split with its plan.yaml by `migrator run` into a fresh
PostgreSQL, MariaDB and SQLite target, and the target is checked by tests/public_expected.py: I1
(foreign keys resolve), I2 (no row outside the subset) and I3 (every row of the subset, with the
source's values). A pair that fails today is marked xfail(strict=True) with the exact reason, so
that it turns into a failure ("XPASS(strict)") as soon as a fix makes it pass: then remove the mark.
It is expected to fail for that reason only: a pair failing for another one fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.public_datasets import DATASETS, MARIADB, POSTGRESQL, PublicSources, mysql_statements, public_sources_fixture
from tests.public_expected import EXPECTATIONS, split_failures


@pytest.fixture(scope="session")
def public_sources() -> Iterator[PublicSources]:
    """`public_sources.url(DATASETS[NAME])`: a source database holding that data set, loaded once per
    session and shared: tests only read it."""
    yield from public_sources_fixture()


SQLITE = "sqlite"
TARGETS = (POSTGRESQL, MARIADB, SQLITE)


class KnownFailure(AssertionError):
    """The failure a KNOWN_FAILURES entry names: only this one is expected (xfail raises=KnownFailure)."""


@dataclass(frozen=True)
class Known:
    match: str  # a piece of the failure text, as migrator or the check prints it
    why: str  # what is wrong, for the reader

    @property
    def reason(self) -> str:
        return f"{self.match} -- {self.why}"


# (data set, target) -> why its split fails today (issue 12). The first problem of each pair is named;
# the test fails outright when the pair fails for any other reason (a fix that uncovers the next
# problem, or a new bug), and XPASS(strict) fails the run when the pair passes: update this table.
KNOWN_FAILURES: dict[tuple[str, str], Known] = {}


def _cases() -> list:
    cases = []
    for dataset in DATASETS:
        for target in TARGETS:
            known = KNOWN_FAILURES.get((dataset, target))
            marks = [pytest.mark.xfail(strict=True, raises=KnownFailure, reason=known.reason)] if known else []
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
    problems = _problems(done, dataset, source_url, target_url)
    known = KNOWN_FAILURES.get((dataset, target))
    report = f"the target is not the {dataset} split:\n" + "\n".join(problems)
    if problems and known and known.match in report:
        raise KnownFailure(report)
    assert not problems, report


def _problems(done, dataset: str, source_url: str, target_url: str) -> list[str]:  # type: ignore[no-untyped-def]
    if done.returncode != 0 and not done.stdout.strip():
        return [f"migrator run failed: {_error(done.stderr)}"]
    result = json.loads(done.stdout)
    # A run whose own verification fails still wrote the target: check it anyway, for the exact reason.
    problems = [f"migrator's verification: {line}" for line in _failed_checks(result)]
    if result["status"] != "finished" and not problems:
        problems.append(f"migrator run ended {result['status']}: {result.get('message')}")
    return problems + split_failures(dataset, source_url, target_url)


def _error(stderr: str) -> str:
    try:
        return str(json.loads(stderr)["message"])
    except (ValueError, KeyError):
        return stderr[-3000:]


def _failed_checks(result: dict) -> list[str]:
    checks = (result.get("verification") or {}).get("checks", [])
    return [f"{c['check']} {c['table']}: {c['detail']}" for c in checks if not c["ok"]]


@pytest.mark.server  # through public_sources, which conftest's automatic marking does not know
@pytest.mark.parametrize("dataset", list(DATASETS))
def test_plan_selects_a_real_subset(dataset: str, public_sources) -> None:  # type: ignore[no-untyped-def]
    """The expectations are worth checking: every copied table gets rows, and some rows stay behind."""
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


# What each loaded source must hold, counted in its own catalog: the features the data sets are here
# for. A loader that silently dropped an object (a trigger body cut at a delimiter, a view that
# failed) would make the splits above prove less than they seem to.
_PG_FEATURES = {
    "domains": "SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
    " WHERE n.nspname = 'public' AND t.typtype = 'd'",
    "enums": "SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
    " WHERE n.nspname = 'public' AND t.typtype = 'e'",
    "partitioned tables": "SELECT count(*) FROM pg_class WHERE relkind = 'p'",
    "materialized views": "SELECT count(*) FROM pg_class WHERE relkind = 'm'",
    "views": "SELECT count(*) FROM pg_views WHERE schemaname = 'public'",
    "triggers": "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal",
    "foreign keys": "SELECT count(*) FROM information_schema.table_constraints WHERE constraint_type = 'FOREIGN KEY'",
}
_MARIADB_FEATURES = {
    "triggers": "SELECT count(*) FROM information_schema.triggers WHERE trigger_schema = DATABASE()",
    "views": "SELECT count(*) FROM information_schema.views WHERE table_schema = DATABASE()",
    "routines": "SELECT count(*) FROM information_schema.routines WHERE routine_schema = DATABASE()",
    "fulltext indexes": "SELECT count(DISTINCT table_name, index_name) FROM information_schema.statistics"
    " WHERE table_schema = DATABASE() AND index_type = 'FULLTEXT'",
    "set columns": "SELECT count(*) FROM information_schema.columns"
    " WHERE table_schema = DATABASE() AND data_type = 'set'",
    "foreign keys": "SELECT count(*) FROM information_schema.referential_constraints"
    " WHERE constraint_schema = DATABASE()",
}
SCHEMA_FEATURES = {
    "pagila": {
        "domains": 2,
        "enums": 1,
        "partitioned tables": 1,
        "materialized views": 1,
        "views": 7,
        "triggers": 15,
        "foreign keys": 36,
    },
    "northwind": {
        "domains": 0,
        "enums": 0,
        "partitioned tables": 0,
        "materialized views": 0,
        "views": 0,
        "triggers": 0,
        "foreign keys": 13,
    },
    "sakila": {"triggers": 6, "views": 7, "routines": 6, "fulltext indexes": 1, "set columns": 1, "foreign keys": 22},
    "employees": {
        "triggers": 0,
        "views": 4,
        "routines": 7,
        "fulltext indexes": 0,
        "set columns": 0,
        "foreign keys": 6,
    },
}


@pytest.mark.server
@pytest.mark.parametrize("dataset", list(DATASETS))
def test_sources_hold_the_schema_features(dataset: str, public_sources) -> None:  # type: ignore[no-untyped-def]
    queries = _PG_FEATURES if DATASETS[dataset].dialect == POSTGRESQL else _MARIADB_FEATURES
    engine = sa.create_engine(public_sources.url(DATASETS[dataset]))
    try:
        with engine.connect() as conn:
            found = {feature: conn.execute(sa.text(sql)).scalar_one() for feature, sql in queries.items()}
    finally:
        engine.dispose()
    assert found == SCHEMA_FEATURES[dataset]


@pytest.mark.server
def test_the_check_sees_each_kind_of_wrong_target(  # type: ignore[no-untyped-def]
    public_sources, run_cli, tmp_path: Path
) -> None:
    """The independent check is not blind: a correct target, spoiled four ways, fails in four ways."""
    source_url = public_sources.url(DATASETS["northwind"])
    target_url = f"sqlite:///{tmp_path / 'target.db'}"
    env = {"SOURCE_URL": source_url, "TARGET_URL": target_url, "STATE_DIR": str(tmp_path / "state")}
    done = run_cli("run", "--format", "json", DATASETS["northwind"].plan, env=env)
    assert done.returncode == 0, done.stderr
    assert split_failures("northwind", source_url, target_url) == []
    engine = sa.create_engine(target_url)
    with engine.begin() as conn:
        conn.execute(sa.text("PRAGMA foreign_keys = OFF"))
        conn.execute(sa.text("UPDATE customers SET city = 'Nowhere' WHERE customer_id = 'ALFKI'"))
        conn.execute(
            sa.text("INSERT INTO customers (customer_id, company_name, country) VALUES ('ZZZZZ', 'Z', 'France')")
        )
        conn.execute(sa.text("DELETE FROM order_details WHERE order_id = 10643 AND product_id = 28"))
        conn.execute(sa.text("DELETE FROM shippers WHERE shipper_id = 1"))
    engine.dispose()
    failures = "\n".join(split_failures("northwind", source_url, target_url))
    assert "I1 integrity: orders.(ship_via) -> shippers" in failures
    assert "I2 residency: customers has 1 row(s) outside the expected subset" in failures
    assert "('ZZZZZ',)" in failures
    assert "I3 completeness: order_details lacks 1 expected row(s)" in failures
    assert "I3 content: customers has 1 value(s) unlike the source's, in column(s) ['city']" in failures


@pytest.mark.parametrize(
    ("dataset", "target", "change", "column"),
    [
        # Same values, other representation: what a same-dialect copy must not do.
        ("northwind", POSTGRESQL, "ALTER TABLE orders ALTER COLUMN freight TYPE numeric(10, 4)", "orders.freight"),
        ("employees", MARIADB, "ALTER TABLE titles MODIFY to_date DATETIME NULL", "titles.to_date"),
    ],
)
def test_the_check_sees_a_changed_representation(  # type: ignore[no-untyped-def]
    dataset: str,
    target: str,
    change: str,
    column: str,
    public_sources,
    pg_url_factory,
    mariadb_url_factory,
    run_cli,
    tmp_path: Path,
) -> None:
    source_url = public_sources.url(DATASETS[dataset])
    target_url = _target_url(target, pg_url_factory, mariadb_url_factory, tmp_path)
    env = {"SOURCE_URL": source_url, "TARGET_URL": target_url, "STATE_DIR": str(tmp_path / "state")}
    done = run_cli("run", "--format", "json", DATASETS[dataset].plan, env=env)
    assert done.returncode == 0, done.stderr
    assert split_failures(dataset, source_url, target_url) == []
    engine = sa.create_engine(target_url)
    with engine.begin() as conn:
        conn.execute(sa.text(change))
    engine.dispose()
    table, name = column.split(".")
    failures = split_failures(dataset, source_url, target_url)
    assert len(failures) == 1 and failures[0].startswith(f"I3 content: {table} has "), failures
    assert f"unlike the source's, in column(s) ['{name}']" in failures[0]


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
