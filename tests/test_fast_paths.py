"""The paths that make runs fast must not change what they produce: read-ahead, parallel dry runs,
dangling counts on request, and the re-run that answers from the target's ledger alone."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from migrator.cli.entry import run_arguments
from migrator.demo.generate import generate_demo
from migrator.engine.finished import _database, already_finished
from migrator.engine.prefetch import prefetched
from migrator.engine.run import run_plan
from migrator.plan.load import load_plan
from migrator.stores.sql.connect import parse_url, redact
from migrator.stores.sql.pgstream import copy_out_pieces
from migrator.stores.sql.snapshot import plain_batches, stream
from tests.entry_probe import run_entry

PLANS = Path(__file__).parent / "plans"
REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def _chinook(run_cli, source: str, target: str, tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    plan = "chinook_us_pg.yaml" if source.startswith("postgresql") else "chinook_us_sqlite.yaml"
    env = {"SOURCE_URL": source, "TARGET_URL": target, "STATE_DIR": str(tmp_path / "state")}
    return run_cli(*args, PLANS / plan, "--format", "json", env=env)


# -- read-ahead -------------------------------------------------------------------------------------


def test_prefetched_keeps_order_and_reads_at_most_depth_ahead() -> None:
    produced: list[int] = []
    taken = threading.Event()

    def items() -> Iterator[int]:
        for i in range(10):
            produced.append(i)
            yield i

    reader = prefetched(items(), depth=2)
    assert next(reader) == 0
    taken.wait(0.3)  # time for the reader to run ahead as far as it may
    # one item handed over, two waiting in the queue, one in the reader's hands: never more
    assert len(produced) <= 4
    assert list(reader) == list(range(1, 10))


def test_prefetched_raises_the_readers_error_where_its_item_would_come() -> None:
    def items() -> Iterator[int]:
        yield 1
        raise ValueError("the source went away")

    reader = prefetched(items())
    assert next(reader) == 1
    with pytest.raises(ValueError, match="the source went away"):
        next(reader)


def test_closing_prefetched_stops_the_reader_and_closes_the_source() -> None:
    closed = threading.Event()

    def items() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    reader = prefetched(items(), depth=1)
    assert next(reader) == 0
    reader.close()  # as copy_table does when a unit fails or Ctrl-C stops the run
    assert closed.is_set(), "the source iterator must be closed, in the reader's thread, before close returns"


# -- the dry run on several connections -------------------------------------------------------------


def test_dry_run_with_workers_counts_the_same(run_cli, chinook_pg: str, pg_database: str, tmp_path: Path) -> None:
    one = _chinook(run_cli, chinook_pg, pg_database, tmp_path, "plan")
    two = _chinook(run_cli, chinook_pg, pg_database, tmp_path, "plan", "--workers", "3")
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    tables_one, tables_two = json.loads(one.stdout)["tables"], json.loads(two.stdout)["tables"]
    assert tables_one == tables_two
    assert {t["table"]: t["rows"] for t in tables_one}["invoice_line"] == 494


def test_inlined_kept_sets_on_postgresql(run_cli, chinook_pg: str, pg_database: str, tmp_path: Path) -> None:
    """PostgreSQL plans a materialized CTE as if it held 200 keys: the plain kept sets are inlined."""
    shown = _chinook(run_cli, chinook_pg, pg_database, tmp_path, "plan")
    sql = {t["table"]: t["sql"] for t in json.loads(shown.stdout)["tables"] if t.get("sql")}
    assert "kept_customer AS NOT MATERIALIZED" in sql["invoice"]


# -- dangling counts in a run -----------------------------------------------------------------------


def _residency_split(run_cli, source: Path, folder: Path, *args: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """docs/examples/residency-split.yaml into its own folder (its state lands beside it)."""
    folder.mkdir(parents=True)
    plan = Path(shutil.copy(EXAMPLES / "residency-split.yaml", folder / "plan.yaml"))
    env = {"SOURCE_URL": f"sqlite:///{source}", "TARGET_URL": f"sqlite:///{folder / 'us.db'}"}
    done = run_cli(*args, plan, "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _events(folder: Path) -> list[dict]:  # type: ignore[type-arg]
    audit = next(folder.rglob("audit.jsonl"))
    return [json.loads(line) for line in audit.read_text().splitlines()]


def test_run_counts_dangling_rows_only_when_asked(run_cli, tmp_path: Path) -> None:
    source = generate_demo(tmp_path / "demo", users=80).database
    shown = _residency_split(run_cli, source, tmp_path / "dry", "plan")
    expected = {(t["table"], d["relation"]): d["rows"] for t in shown["tables"] for d in t["dangling"] if d["rows"]}
    assert expected, "the demo has likes and follows that cross the split"

    plain = _residency_split(run_cli, source, tmp_path / "plain", "run")
    assert plain["dangling"] == []
    assert "dangling rows" not in {e["event"] for e in _events(tmp_path / "plain")}

    counted = _residency_split(run_cli, source, tmp_path / "counted", "run", "--count-dangling")
    recorded = {(d["table"], d["relation"]): d["rows"] for d in counted["dangling"]}
    logged = {
        (e["table"], e["relation"]): e["rows"] for e in _events(tmp_path / "counted") if e["event"] == "dangling rows"
    }
    assert recorded == expected == logged, "the run counts what the dry run shows"
    receipt = json.loads(Path(counted["receipt"]).read_text())
    assert {(d["table"], d["relation"]): d["rows"] for d in receipt["dangling"]} == expected


# -- the re-run -------------------------------------------------------------------------------------


def test_rerun_of_a_finished_plan_does_not_open_the_source(run_cli, chinook_sqlite: Path, tmp_path: Path) -> None:
    source, target = f"sqlite:///{chinook_sqlite}", f"sqlite:///{tmp_path / 'us.db'}"
    done = _chinook(run_cli, source, target, tmp_path, "run")
    assert done.returncode == 0, done.stderr
    chinook_sqlite.unlink()  # the source is gone: a finished plan has nothing to read from it
    again = _chinook(run_cli, source, target, tmp_path, "run")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "already-finished"


# -- COPY straight from libpq -----------------------------------------------------------------------


def _psycopg(url: str):  # type: ignore[no-untyped-def]
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))


def test_copy_out_pieces_are_whole_rows_and_exact(pg_database: str) -> None:
    with _psycopg(pg_database) as conn:
        pieces = list(copy_out_pieces(conn, "COPY (SELECT i, 'a\tb' FROM generate_series(1, 2500) i) TO STDOUT", 1000))
        assert [p.count(b"\n") for p in pieces] == [1000, 1000, 500]
        assert all(p.endswith(b"\n") for p in pieces)
        assert pieces[0].startswith(b"1\ta\\tb\n") and pieces[-1].endswith(b"2500\ta\\tb\n")
        assert conn.execute("SELECT 1").fetchone() == (1,), "the connection is usable after the COPY"


def test_copy_out_pieces_raise_the_servers_error(pg_database: str) -> None:
    with _psycopg(pg_database) as conn:
        with pytest.raises(psycopg.errors.UndefinedTable):
            list(copy_out_pieces(conn, "COPY (SELECT * FROM no_such_table) TO STDOUT", 10))
        failing = "COPY (SELECT 1 / (i - 5000) FROM generate_series(1, 10000) i) TO STDOUT"
        with pytest.raises(psycopg.errors.DivisionByZero):
            list(copy_out_pieces(conn, failing, 100))
        conn.rollback()
        assert conn.execute("SELECT 2").fetchone() == (2,)


def test_copy_out_pieces_left_early_leave_the_connection_usable(pg_database: str) -> None:
    with _psycopg(pg_database) as conn:
        pieces = copy_out_pieces(conn, "COPY (SELECT i FROM generate_series(1, 2000000) i) TO STDOUT", 1000)
        assert next(pieces).count(b"\n") == 1000
        pieces.close()  # as a failed unit or Ctrl-C leaves it: the rest is cancelled and drained
        conn.rollback()
        assert conn.execute("SELECT 3").fetchone() == (3,)


# -- the dry run's look at the target ---------------------------------------------------------------


def test_dry_run_says_when_the_target_database_is_missing(run_cli, chinook_pg: str, tmp_path: Path) -> None:
    """A PostgreSQL target database that does not exist yet: the dry run still counts the source,
    then ends as `run` would, refused (exit 2), saying what the run needs."""
    missing = chinook_pg.rsplit("/", 1)[0] + "/migrator_no_such_database"
    shown = _chinook(run_cli, chinook_pg, missing, tmp_path, "plan")
    assert shown.returncode == 2, shown.stderr
    result = json.loads(shown.stdout)
    assert result["target_note"] == "the target does not answer"
    [refusal] = result["refusals"]
    assert "(unknown database)" in refusal and "create the database first" in refusal
    assert "create the database first" in json.loads(shown.stderr)["message"]
    assert {t["table"]: t["rows"] for t in result["tables"]}["invoice"] == 91


def test_dry_run_ends_refused_when_the_target_does_not_answer(run_cli, chinook_pg: str, tmp_path: Path) -> None:
    """`run` refuses a target nobody answers for (exit 2): its dry run reports, then says the same."""
    shown = _chinook(run_cli, chinook_pg, "postgresql+psycopg://postgres@127.0.0.1:1/x", tmp_path, "plan")
    assert shown.returncode == 2, shown.stderr
    assert {t["table"]: t["rows"] for t in json.loads(shown.stdout)["tables"]}["invoice"] == 91
    assert "the target does not answer (connection refused)" in json.loads(shown.stderr)["message"]
    assert "create the database first" not in shown.stderr


def test_a_finished_plan_is_answered_as_the_full_path_answers_it_without_sqlalchemy(
    run_cli, chinook_pg: str, pg_database: str, tmp_path: Path
) -> None:
    env = {"SOURCE_URL": chinook_pg, "TARGET_URL": pg_database, "STATE_DIR": str(tmp_path / "state")}
    done = _chinook(run_cli, chinook_pg, pg_database, tmp_path, "run")
    assert done.returncode == 0, done.stderr
    plan = PLANS / "chinook_us_pg.yaml"
    fast = already_finished(plan, env)
    full = run_plan(load_plan(plan, env), environ=env)  # asks the ledger through SQLAlchemy
    assert fast is not None and full.status == "already-finished"
    assert asdict(fast) == {**asdict(full), "seconds": 0.0}
    # Through the CLI, the answer comes before SQLAlchemy, sqlglot or the CLI framework is imported.
    again = run_entry(
        ["run", str(plan), "--format", "json", "--workers", "2"],
        env,
        report="'imported:', *(m in sys.modules for m in ('sqlalchemy', 'sqlglot', 'typer'))",
    )
    assert again.returncode == 0, again.stderr
    assert '"status": "already-finished"' in again.stdout
    assert again.stdout.strip().endswith("imported: False False False")


def test_verify_of_a_finished_run_leaves_the_plans_sql_unparsed_and_checks_it_otherwise(
    run_cli, chinook_sqlite: Path, tmp_path: Path
) -> None:
    """The ledger's digests of a finished run of this very plan file vouch for its SQL (that run
    checked it), and need no source: verify imports no sqlglot. A plan file changed since has no
    such run, and its broken SQL is the error, as before, also when the target does not answer."""
    env = {"SOURCE_URL": f"sqlite:///{chinook_sqlite}", "TARGET_URL": f"sqlite:///{tmp_path / 'us.db'}"}
    env["STATE_DIR"] = str(tmp_path / "state")
    plan = tmp_path / "plan.yaml"
    shutil.copy(PLANS / "chinook_us_sqlite.yaml", plan)
    assert run_cli("run", plan, "--format", "json", env=env).returncode == 0
    checked = run_entry(["verify", str(plan), "--format", "json"], env, report="'imported:', 'sqlglot' in sys.modules")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout.rpartition("imported:")[0])["ok"] is True
    assert checked.stdout.strip().endswith("imported: False")
    plan.write_text(plan.read_text().replace("Country = 'USA'", "Country = = 'USA'"))
    unreachable = {**env, "TARGET_URL": "postgresql://postgres@127.0.0.1:1/nowhere"}
    for environment in (env, unreachable):
        broken = run_cli("verify", plan, "--format", "json", env=environment)
        assert broken.returncode == 2, broken.stderr
        problem = json.loads(broken.stderr)["problems"][0]
        assert (problem["line"], problem["key"]) == (17, "data.roots.Customer")
        assert problem["message"].startswith("is not a valid SQL expression")


def test_the_quick_answer_steps_aside_whenever_the_full_path_might_answer_otherwise(
    run_cli, chinook_sqlite: Path, tmp_path: Path
) -> None:
    source, target = f"sqlite:///{chinook_sqlite}", f"sqlite:///{tmp_path / 'us.db'}"
    env = {"SOURCE_URL": source, "TARGET_URL": target, "STATE_DIR": str(tmp_path / "state")}
    plan = tmp_path / "plan.yaml"
    shutil.copy(PLANS / "chinook_us_sqlite.yaml", plan)
    assert already_finished(plan, env) is None, "no target yet"
    assert run_cli("run", plan, "--format", "json", env=env).returncode == 0
    assert already_finished(plan, env) is not None
    assert already_finished(plan, {**env, "MIGRATOR_SIGNING_KEY": "/no/such/key"}) is None, "the full path checks it"
    assert already_finished(plan, {**env, "TARGET_URL": target + "?timeout=5"}) is None, "a URL with a query"
    assert already_finished(plan, {**env, "SOURCE_URL": target}) is None, "the target is the source"
    with sqlite3.connect(tmp_path / "us.db") as conn:
        conn.execute("UPDATE _migrator_runs SET status = 'running'")
    conn.close()
    assert already_finished(plan, env) is None, "an unfinished run"
    with sqlite3.connect(tmp_path / "us.db") as conn:
        conn.execute("UPDATE _migrator_runs SET status = 'finished'")
    conn.close()
    plan.write_text(plan.read_text() + "# edited\n")
    assert already_finished(plan, env) is None, "another version of the plan file"


@pytest.mark.parametrize(
    ("argv", "recognised"),
    [
        (["run", "p.yaml"], ("p.yaml", "text")),
        (["run", "--format", "json", "p.yaml", "--workers", "4"], ("p.yaml", "json")),
        (["run", "p.yaml", "--format=text", "--workers=2", "--no-verify", "--count-dangling"], ("p.yaml", "text")),
        (["run", "p.yaml", "--restart"], None),  # starts over: never a no-op
        (["run", "p.yaml", "--debug"], None),
        (["run", "--help"], None),
        (["run", "p.yaml", "q.yaml"], None),
        (["run", "p.yaml", "--format", "yaml"], None),
        (["run", "p.yaml", "--workers", "0"], None),
        (["run", "p.yaml", "--workers"], None),
        (["plan", "p.yaml"], None),
        ([], None),
    ],
)
def test_only_plain_run_commands_are_answered_before_the_cli(argv: list[str], recognised: object) -> None:
    assert run_arguments(argv) == recognised


@pytest.mark.parametrize(
    ("url", "read"),
    [
        ("postgresql+psycopg://postgres@127.0.0.1/db", True),
        ("postgresql+psycopg://user:s%40cret@db.example:5433/app_us", True),
        ("postgresql+psycopg://user:@localhost/app", True),
        ("postgresql+psycopg:///app", True),
        ("sqlite:///relative/us.db", True),
        ("sqlite:////abs/us.db", True),
        ("postgresql+psycopg://user:pw@[::1]:5432/db", False),
        ("postgresql+psycopg://u@h/db?sslmode=require", False),
        ("postgresql://u@h/db", False),  # SQLAlchemy's psycopg2: the full path says what it makes of it
        ("mysql+pymysql://root@127.0.0.1/db", False),
        ("postgresql+psycopg://us%2Fer@h/db", False),
    ],
)
def test_the_quick_answer_shows_a_url_as_sqlalchemy_does_or_declines_it(url: str, read: bool, tmp_path: Path) -> None:
    database = _database(url, tmp_path)
    assert (database is not None) == read
    if database is not None:
        assert database.shown == redact(parse_url(url, tmp_path))


# -- rows from SQLite without Row objects ----------------------------------------------------------


def test_plain_batches_give_the_values_sqlalchemy_gives(chinook_sqlite: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{chinook_sqlite}")
    try:
        with engine.connect() as conn:
            metadata = sa.MetaData()
            metadata.reflect(bind=conn)
            for table in metadata.tables.values():  # DATETIME, NUMERIC(10,2), NVARCHAR, INTEGER, NULLs
                query = sa.select(table)
                plain = [tuple(row) for batch in plain_batches(conn, query, 100) or [] for row in batch]
                assert plain == [tuple(row) for batch in stream(conn, query, 100) for row in batch], table.name
            key = next(iter(table.primary_key.columns))
            assert plain_batches(conn, sa.select(table).where(key > 5), 10) is None, "a query with parameters"
    finally:
        engine.dispose()


def test_a_sqlite_target_is_digested_as_the_run_digested_it(run_cli, chinook_sqlite: Path, tmp_path: Path) -> None:
    source, target = f"sqlite:///{chinook_sqlite}", f"sqlite:///{tmp_path / 'us.db'}"
    done = _chinook(run_cli, source, target, tmp_path, "run")
    assert done.returncode == 0, done.stderr
    checks = json.loads(done.stdout)["verification"]["checks"]
    contents = [c for c in checks if c["check"] == "I3"]
    assert contents and all(c["ok"] and ", checksum " in c["detail"] for c in contents), contents
