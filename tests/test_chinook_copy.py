"""The Chinook US split copied across dialects, checked with independent SQL (tests/chinook_expected.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.chinook_expected import assert_us_split

PLANS = Path(__file__).parent / "plans"


def _run(run_cli, plan: str, source: str, target: str, state: Path, *args: str):  # type: ignore[no-untyped-def]
    env = {"SOURCE_URL": source, "TARGET_URL": target, "STATE_DIR": str(state)}
    return run_cli(*args, PLANS / plan, env=env)


def _copy_and_check(run_cli, plan: str, source: str, target: str, style: str, tmp_path: Path) -> dict:  # type: ignore[no-untyped-def]
    done = _run(run_cli, plan, source, target, tmp_path / "state", "run", "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "finished"
    assert_us_split(source, target, style)
    return result


def test_sqlite_to_sqlite(run_cli, chinook_sqlite: Path, tmp_path: Path) -> None:
    source, target = f"sqlite:///{chinook_sqlite}", f"sqlite:///{tmp_path / 'us.db'}"
    result = _copy_and_check(run_cli, "chinook_us_sqlite.yaml", source, target, "pascal", tmp_path)
    copied = {t["table"]: t["rows"] for t in result["tables"]}
    assert copied["Customer"] == 13 and copied["Invoice"] == 91 and copied["InvoiceLine"] == 494
    assert copied["Employee"] == 5
    # 494 invoice lines in chunks of 100: the table spans five checkpointed units.
    assert {t["table"]: t["chunks"] for t in result["tables"]}["InvoiceLine"] == 5


def test_sqlite_to_sqlite_rerun_is_a_no_op(run_cli, chinook_sqlite: Path, tmp_path: Path) -> None:
    source, target = f"sqlite:///{chinook_sqlite}", f"sqlite:///{tmp_path / 'us.db'}"
    _copy_and_check(run_cli, "chinook_us_sqlite.yaml", source, target, "pascal", tmp_path)
    again = _run(run_cli, "chinook_us_sqlite.yaml", source, target, tmp_path / "state", "run", "--format", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "already-finished"
    assert_us_split(source, target, "pascal")


def test_pg_to_pg(run_cli, chinook_pg: str, pg_database: str, tmp_path: Path) -> None:
    _copy_and_check(run_cli, "chinook_us_pg.yaml", chinook_pg, pg_database, "snake", tmp_path)


def test_pg_to_sqlite(run_cli, chinook_pg: str, tmp_path: Path) -> None:
    _copy_and_check(run_cli, "chinook_us_pg.yaml", chinook_pg, f"sqlite:///{tmp_path / 'us.db'}", "snake", tmp_path)


def test_pg_to_mariadb(run_cli, chinook_pg: str, mariadb_database: str, tmp_path: Path) -> None:
    _copy_and_check(run_cli, "chinook_us_pg.yaml", chinook_pg, mariadb_database, "snake", tmp_path)


def test_sqlite_to_pg(run_cli, chinook_sqlite: Path, pg_database: str, tmp_path: Path) -> None:
    _copy_and_check(run_cli, "chinook_us_sqlite.yaml", f"sqlite:///{chinook_sqlite}", pg_database, "pascal", tmp_path)


def test_plan_classifies_all_eleven_tables(run_cli, chinook_sqlite: Path, tmp_path: Path) -> None:
    source, target = f"sqlite:///{chinook_sqlite}", f"sqlite:///{tmp_path / 'us.db'}"
    shown = _run(run_cli, "chinook_us_sqlite.yaml", source, target, tmp_path / "state", "plan", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    tables = {t["table"]: t for t in json.loads(shown.stdout)["tables"]}
    assert len(tables) == 11
    assert {n: t["kind"] for n, t in tables.items() if t["kind"] != "all"} == {
        "Customer": "root",
        "Invoice": "scoped",
        "InvoiceLine": "scoped",
        "Employee": "referenced",
    }
    assert all(t["reason"] for t in tables.values())
    assert "Country = 'USA'" in tables["Customer"]["sql"]
    assert tables["Employee"]["rows"] == 5
    assert not (tmp_path / "us.db").exists(), "the dry run must not create the target"
    assert not (tmp_path / "state").exists(), "the dry run must not write state"


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_target_gets_keys_indexes_and_counters(
    run_cli, chinook_pg: str, tmp_path: Path, backend: str, pg_url_factory, mariadb_url_factory
) -> None:
    import sqlalchemy as sa

    target = pg_url_factory() if backend == "postgresql" else mariadb_url_factory()
    _copy_and_check(run_cli, "chinook_us_pg.yaml", chinook_pg, target, "snake", tmp_path)
    engine = sa.create_engine(target)
    with engine.begin() as conn:
        inspector = sa.inspect(conn)
        fks = {(t, fk["referred_table"]) for t in inspector.get_table_names() for fk in inspector.get_foreign_keys(t)}
        assert fks >= {
            ("invoice", "customer"),
            ("invoice_line", "invoice"),
            ("customer", "employee"),
            ("employee", "employee"),
            ("playlist_track", "track"),
            ("track", "album"),
        }
        indexed = {tuple(i["column_names"]) for i in inspector.get_indexes("invoice")}
        assert ("customer_id",) in indexed  # the source's index on the foreign key came along
        if backend == "postgresql":
            # Same dialect: the target's schema is the source's own (tests/test_pg_schema_fidelity.py
            # checks the counters of serial and identity columns); Chinook's customer_id has none, and
            # none is invented.
            default = conn.execute(
                sa.text(
                    "SELECT column_default FROM information_schema.columns "
                    "WHERE table_name = 'customer' AND column_name = 'customer_id'"
                )
            ).scalar_one()
            assert default is None
        else:
            # The counter is past the copied keys: the new deployment's next customer gets a fresh id.
            top = conn.execute(sa.text("SELECT max(customer_id) FROM customer")).scalar_one()
            conn.execute(sa.text("INSERT INTO customer (first_name, last_name, email) VALUES ('New', 'User', 'n@x')"))
            new_id = conn.execute(sa.text("SELECT customer_id FROM customer WHERE email = 'n@x'")).scalar_one()
            assert new_id > top
    engine.dispose()
