"""Static checks before any write (issue 11): every table and column a plan names is checked against
the live source before anything is written, and `validate --connect` and `plan` report what `run`
would refuse about the target, in run's own words.

tests/invalid_plans/44-49 hold the exact messages of the name checks on SQLite; this file checks
what they cannot: that nothing at all was written (no target tables, no state folder), the
refusals about the target, PostgreSQL and MariaDB, and that no valid expression is doubted.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from migrator.demo.generate import generate_demo
from migrator.stores.sql.reflect import reflect
from migrator.subset.expression_names import unknown_names

REPO = Path(__file__).resolve().parent.parent
HASH_KEY = {"MIGRATOR_HASH_KEY": "preflight-test-key"}

DEMO_DATA = """
data:
  roots:
    users: "region_id = (SELECT id FROM regions WHERE code = 'US')"
  tables:
    regions: all
    audit_events: skip
    posts: {where: "deleted_at IS NULL"}
  dangling: drop
"""


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo source, generated once; every test here only reads it (the file is compared after)."""
    return generate_demo(tmp_path_factory.mktemp("demo"), users=60).database.resolve()


def _plan(folder: Path, source: str, target: str, data: str = DEMO_DATA, *, existing: str = "fail") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    plan = folder / "plan.yaml"
    plan.write_text(
        f"version: 1\nname: preflight\nsource:\n  database: {source}\n"
        f"target:\n  database: {target}\n  existing: {existing}\nstate: {folder / 'state'}\n{data}",
        encoding="utf-8",
    )
    return plan


def _tables(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _all_three(run_cli, plan: Path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """`validate --connect`, `plan` and `run` on the plan: each result by command."""
    commands = {"validate": ("validate", "--connect"), "plan": ("plan", "--no-sql"), "run": ("run",)}
    return {name: run_cli(*args, plan, env=HASH_KEY) for name, args in commands.items()}


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def _all_three_refuse(run_cli, plan: Path, errors: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Each of `validate --connect`, `plan` and `run` exits 2 with exactly these error lines."""
    for name, result in _all_three(run_cli, plan).items():
        assert result.returncode == 2, (name, result.stderr)
        assert _error_lines(result.stderr) == errors, name


# --- names in expressions: no write before they are checked ------------------------------------------


def test_where_typo_stops_run_before_the_target_or_state_exists(run_cli, tmp_path: Path, demo_db: Path) -> None:
    """The defect: `run` created the target, copied users, then died on posts with exit 1; with the
    typo fixed, it refused because the plan had changed."""
    target = tmp_path / "out" / "target.db"
    plan = _plan(tmp_path, f"sqlite:///{demo_db}", f"sqlite:///{target}", DEMO_DATA.replace("deleted_at", "delted_at"))
    line = next(i for i, text in enumerate(plan.read_text().splitlines(), 1) if "delted_at" in text)
    _all_three_refuse(
        run_cli,
        plan,
        [
            f"error: {plan}:{line}: data.tables.posts.where: table posts has no column 'delted_at' "
            "(did you mean 'deleted_at'?)"
        ],
    )
    assert not target.exists() and not target.parent.exists(), "the target was created"
    assert not (tmp_path / "state").exists(), "the state folder was created"
    plan.write_text(plan.read_text().replace("delted_at", "deleted_at"))
    fixed = run_cli("run", plan, env=HASH_KEY)
    assert fixed.returncode == 0, fixed.stderr


def test_database_judges_what_parsing_cannot(run_cli, tmp_path: Path, demo_db: Path) -> None:
    target = tmp_path / "target.db"
    data = DEMO_DATA.replace("deleted_at IS NULL", "deleted_at IS NULL AND no_such_function(id) = 1")
    plan = _plan(tmp_path, f"sqlite:///{demo_db}", f"sqlite:///{target}", data)
    result = run_cli("run", plan, env=HASH_KEY)
    assert result.returncode == 2
    assert "data.tables.posts.where: the source database rejects it: no such function: no_such_function" in (
        result.stderr
    )
    assert not target.exists() and not (tmp_path / "state").exists()


# Every root and where of the shipped plans, with the tables they name: none may be doubted.
SHIPPED_PLANS = [
    REPO / "plans" / "demo.yaml",
    REPO / "bench" / "plan.yaml",
    *sorted((REPO / "docs" / "examples").glob("*.yaml")),
    *sorted((REPO / "tests" / "plans").glob("*.yaml")),
]


def _expressions(plan: Path) -> list[tuple[str, str]]:
    data = yaml.safe_load(plan.read_text(encoding="utf-8")).get("data", {})
    found = list(data.get("roots", {}).items())
    found += [(t, r["where"]) for t, r in data.get("tables", {}).items() if isinstance(r, dict) and r.get("where")]
    return found


def _columns_of(url: str) -> dict[str, tuple[str, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            schema = reflect(conn).schema
    finally:
        engine.dispose()
    return {name: table.column_names for name, table in schema.tables.items()}


def test_no_expression_of_a_shipped_plan_is_doubted(tmp_path: Path, demo_db: Path) -> None:
    saas = tmp_path / "saas.db"
    with sqlite3.connect(saas) as conn:
        conn.executescript((REPO / "docs" / "examples" / "tenant-saas.sql").read_text(encoding="utf-8"))
    chinook = _columns_of(f"sqlite:///{REPO / 'tests' / 'data' / 'chinook.sqlite'}")
    schemas = {
        "tenant-extraction": _columns_of(f"sqlite:///{saas}"),
        "chinook_us_sqlite": chinook,
        # The PostgreSQL script names the same tables and columns in snake_case.
        "chinook_us_pg": {_snake(t): tuple(_snake(c) for c in cols) for t, cols in chinook.items()},
    }
    demo = _columns_of(f"sqlite:///{demo_db}")
    checked = 0
    for plan in SHIPPED_PLANS:
        for table, expression in _expressions(plan):
            columns = schemas.get(plan.stem, demo)
            for dialect in ("sqlite", "postgres", "mysql"):
                assert unknown_names(expression, dialect, table, columns) == [], (plan.name, expression, dialect)
            checked += 1
    assert checked >= 6


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


DEMO_COLUMNS = {
    "users": ("id", "region_id", "email", "phone", "handle"),
    "regions": ("id", "code", "name"),
    "posts": ("id", "user_id", "deleted_at", "body"),
}


@pytest.mark.parametrize(
    ("dialect", "table", "expression"),
    [
        ("sqlite", "users", "region_id = (SELECT id FROM regions WHERE code = 'US')"),
        ("sqlite", "users", "Region_ID IN (SELECT r.id FROM regions AS r WHERE r.code IN ('US', 'CA'))"),
        ("sqlite", "posts", 'posts.deleted_at IS NULL AND body <> ""'),  # SQLite reads "" as a string
        ("postgres", "posts", "deleted_at > now() - interval '30 days' AND extract(year from deleted_at) > 2000"),
        ("postgres", "posts", "deleted_at::date > current_date - 1 AND current_user = 'app'"),
        ("postgres", "users", "EXISTS (SELECT 1 FROM posts p WHERE p.user_id = users.id AND p.deleted_at IS NULL)"),
        ("postgres", "users", "id IN (SELECT user_id FROM posts UNION SELECT id FROM users ORDER BY 1)"),
        ("postgres", "users", "id IN (WITH c AS (SELECT user_id AS u FROM posts) SELECT u FROM c WHERE u > 0)"),
        ("postgres", "users", "id IN (SELECT d.u FROM (SELECT user_id AS u FROM posts) d)"),
        ("postgres", "users", "id IN (SELECT value::int FROM json_array_elements_text('[1]'))"),
        ("postgres", "users", "region_id IN (SELECT oid FROM pg_class) OR id IN (SELECT id FROM public.users)"),
        ("postgres", "users", "id IN (SELECT user_id AS k FROM posts ORDER BY k)"),
        ("mysql", "posts", 'deleted_at > DATE_SUB(NOW(), INTERVAL 1 DAY) AND body LIKE "%x%"'),
    ],
)
def test_valid_expressions_are_not_doubted(dialect: str, table: str, expression: str) -> None:
    assert unknown_names(expression, dialect, table, DEMO_COLUMNS) == []


@pytest.mark.parametrize(
    ("table", "expression", "message"),
    [
        ("posts", "delted_at IS NULL", "table posts has no column 'delted_at'"),
        ("posts", "posts.delted_at IS NULL", "table posts has no column 'delted_at'"),
        (
            "users",
            "region_id = (SELECT id FROM regions WHERE cod = 'US')",
            "tables regions and users have no column 'cod'",
        ),
        ("users", "region_id = (SELECT id FROM regoins)", "the source has no table 'regoins'"),
        ("users", "region_id IN (SELECT r.id FROM regions r WHERE r.cod = 1)", "table regions has no column 'cod'"),
        ("users", "EXISTS (SELECT 1 FROM posts p WHERE p.user_id = users.idd)", "table users has no column 'idd'"),
        ("users", "u.id > 0", "u.id: there is no table u in this expression (tables here: users)"),
    ],
)
def test_unknown_names_are_found_where_they_are(table: str, expression: str, message: str) -> None:
    assert [n.message for n in unknown_names(expression, "postgres", table, DEMO_COLUMNS)] == [message]


# --- what run would refuse, said by validate --connect and plan too -----------------------------------


def test_target_that_is_the_source(run_cli, tmp_path: Path, demo_db: Path) -> None:
    before = demo_db.read_bytes()
    plan = _plan(tmp_path, f"sqlite:///{demo_db}", f"sqlite:///{demo_db}")
    results = _all_three(run_cli, plan)
    expected = [f"error: the target is the source (sqlite:///{demo_db}): point target.database at another database"]
    for name, result in results.items():
        assert result.returncode == 2, (name, result.stderr)
        assert _error_lines(result.stderr) == expected, name
    assert demo_db.read_bytes() == before
    assert not (tmp_path / "state").exists()


def test_target_holding_rows_under_existing_fail(run_cli, tmp_path: Path, demo_db: Path) -> None:
    target = tmp_path / "target.db"
    with sqlite3.connect(target) as conn:
        conn.execute("CREATE TABLE regions (id INTEGER PRIMARY KEY, code TEXT, name TEXT)")
        conn.execute("INSERT INTO regions VALUES (99, 'XX', 'somebody else''s row')")
    plan = _plan(tmp_path, f"sqlite:///{demo_db}", f"sqlite:///{target}")
    results = _all_three(run_cli, plan)
    expected = [
        "error: target tables hold rows this plan did not write: regions (1 rows); set target.existing "
        "to truncate (empty them first) or merge (upsert by primary key)"
    ]
    for name, result in results.items():
        assert result.returncode == 2, (name, result.stderr)
        assert _error_lines(result.stderr) == expected, name
    assert _tables(f"sqlite:///{target}") == ["regions"], "the run wrote into the target"
    assert not (tmp_path / "state").exists()
    # The dry run still shows its report, and its JSON carries the refusal for machines.
    assert "would be copied" in results["plan"].stdout
    as_json = run_cli("plan", "--format", "json", plan)
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["refusals"] == [expected[0].removeprefix("error: ")]
    assert json.loads(as_json.stderr)["error"] == "SafetyError"


@pytest.mark.parametrize("status", ["finished", "running"])
def test_run_of_another_version_of_the_plan(run_cli, tmp_path: Path, demo_db: Path, status: str) -> None:
    target = tmp_path / "target.db"
    plan = _plan(tmp_path, f"sqlite:///{demo_db}", f"sqlite:///{target}")
    first = run_cli("run", plan, env=HASH_KEY)
    assert first.returncode == 0, first.stderr
    if status == "running":  # as an interrupted run leaves it
        with sqlite3.connect(target) as conn:
            conn.execute("UPDATE _migrator_runs SET status = 'running'")
    plan.write_text(plan.read_text() + "# edited after the run\n")
    results = _all_three(run_cli, plan)
    expected = [
        f"error: the target holds a {status} run of plan preflight made from another version of the plan file: "
        "continuing would mix two plans; restore the plan file to continue, or run with --restart to remove "
        "what that run wrote and start over"
    ]
    for name, result in results.items():
        assert result.returncode == 2, (name, result.stderr)
        assert _error_lines(result.stderr) == expected, name
    restarted = run_cli("run", "--restart", plan, env=HASH_KEY)
    assert restarted.returncode == 0, restarted.stderr


def test_several_refusals_are_all_reported(run_cli, tmp_path: Path, demo_db: Path) -> None:
    target = tmp_path / "target.db"
    with sqlite3.connect(target) as conn:
        conn.execute("CREATE TABLE regions (id INTEGER PRIMARY KEY, code TEXT, name TEXT)")
        conn.execute("INSERT INTO regions VALUES (99, 'XX', 'x')")
    plan = _plan(tmp_path, f"sqlite:///{demo_db}", f"sqlite:///{target}", DEMO_DATA + "  schema: existing\n")
    for name, result in _all_three(run_cli, plan).items():
        assert result.returncode == 2, (name, result.stderr)
        lines = _error_lines(result.stderr)
        assert len(lines) == 2, (name, lines)
        assert lines[0].startswith("error: data.schema is existing, but the target has no table users, ")
        assert lines[1].startswith("error: target tables hold rows this plan did not write: regions (1 rows)")


# --- PostgreSQL and MariaDB ---------------------------------------------------------------------------


def test_postgresql_names_checked_before_any_write(run_cli, tmp_path: Path, chinook_pg: str, pg_url_factory) -> None:
    target = pg_url_factory()
    data = """
data:
  roots:
    customer: "countyr = 'USA'"
  tables:
    invoice: {where: "\\"Total\\" > 0"}
    track: all
    album: all
    artist: all
    genre: all
    media_type: all
    playlist: all
    playlist_track: all
"""
    plan = _plan(tmp_path, chinook_pg, target, data)
    lines = plan.read_text().splitlines()
    root = next(i for i, text in enumerate(lines, 1) if "countyr" in text)
    where = next(i for i, text in enumerate(lines, 1) if "Total" in text)
    _all_three_refuse(
        run_cli,
        plan,
        [
            f"error: {plan}:{root}: data.roots.customer: table customer has no column 'countyr' "
            "(did you mean 'country'?)",
            # PostgreSQL folds unquoted names only: the quoted "Total" is not total. Only it can say so.
            f"error: {plan}:{where}: data.tables.invoice.where: the source database rejects it: "
            'column "Total" does not exist',
        ],
    )
    assert _tables(target) == [], "the run wrote into the target"
    assert not (tmp_path / "state").exists()


def test_postgresql_target_that_is_the_source_under_another_name(run_cli, tmp_path: Path, chinook_pg: str) -> None:
    name = sa.engine.make_url(chinook_pg).database
    alias = f"postgresql+psycopg://postgres@localhost:5432/{name}"
    data = "data:\n  tables:\n    customer: all\n  unlisted: skip\n"
    plan = _plan(tmp_path, chinook_pg, alias, data)
    _all_three_refuse(
        run_cli, plan, [f"error: the target is the source ({alias}): point target.database at another database"]
    )


def test_mariadb_names_checked_before_any_write(run_cli, tmp_path: Path, mariadb_url_factory) -> None:
    source, target = mariadb_url_factory(), mariadb_url_factory()
    engine = sa.create_engine(source)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE regions (id INT PRIMARY KEY, code VARCHAR(8) NOT NULL)")
        conn.exec_driver_sql(
            "CREATE TABLE users (id INT PRIMARY KEY, region_id INT NOT NULL REFERENCES regions (id),"
            " deleted_at DATETIME NULL)"
        )
        conn.exec_driver_sql("INSERT INTO regions VALUES (1, 'US')")
        conn.exec_driver_sql("INSERT INTO users VALUES (1, 1, NULL)")
    engine.dispose()
    data = """
data:
  roots:
    users: "region_id = (SELECT id FROM regions WHERE cod = 'US') AND no_such_function(id) = 1"
  tables:
    regions: all
"""
    plan = _plan(tmp_path, source, target, data)
    line = next(i for i, text in enumerate(plan.read_text().splitlines(), 1) if "cod =" in text)
    _all_three_refuse(
        run_cli,
        plan,
        [
            f"error: {plan}:{line}: data.roots.users: tables regions and users have no column 'cod' "
            "(did you mean 'code'?)"
        ],
    )
    assert _tables(target) == []
    assert not (tmp_path / "state").exists()
    plan.write_text(plan.read_text().replace("cod =", "code ="))
    rejected = run_cli("run", plan)
    assert rejected.returncode == 2
    assert "data.roots.users: the source database rejects it: FUNCTION" in rejected.stderr
    assert "no_such_function does not exist" in rejected.stderr
    assert _tables(target) == []
