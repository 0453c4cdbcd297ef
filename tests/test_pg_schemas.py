"""A PostgreSQL source whose tables live in more than one schema (issue 12, must-have 3): a plan
names a table outside the current schema `schema.table`, subsets follow foreign keys across
schemas, a table no rule reaches is reported by that name (never silently left behind), and a
target without schemas refuses such tables before writing anything.

Checked with the test's own SQL, not with migrator's code."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from tests.plan_files import write_plan

SOURCE = """
CREATE SCHEMA app;
CREATE SCHEMA billing;
CREATE TABLE app.users (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE billing.invoices (
    id serial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES app.users (id),
    amount numeric(10, 2) NOT NULL
);
-- The same name in two schemas: two tables.
CREATE TABLE public.invoices (id integer PRIMARY KEY, note text);
CREATE TABLE billing.payments (invoice_id integer REFERENCES billing.invoices (id), paid numeric(10, 2));
INSERT INTO app.users (name) VALUES ('ana'), ('bo'), ('cy');
INSERT INTO billing.invoices (user_id, amount) VALUES (1, 1.50), (2, 2.00), (1, 3.25);
INSERT INTO public.invoices VALUES (1, 'not billing''s');
INSERT INTO billing.payments VALUES (1, 1.50), (2, 0.50), (3, 3.25);
"""


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _source(pg_url_factory) -> str:  # type: ignore[no-untyped-def]
    url = pg_url_factory()
    with psycopg.connect(_dsn(url), autocommit=True) as conn:
        conn.execute(SOURCE)
    return url


def _query(url: str, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with psycopg.connect(_dsn(url)) as conn:
        return conn.execute(sql).fetchall()


def test_a_table_in_another_schema_that_no_rule_reaches_is_named(run_cli, pg_url_factory, tmp_path: Path) -> None:
    source, target = _source(pg_url_factory), pg_url_factory()
    plan = write_plan(tmp_path, "named", source, target, {"tables": {"invoices": "all"}})
    for command in ("plan", "run"):
        done = run_cli(command, plan)
        assert done.returncode == 2, command
        said = " ".join(done.stderr.split())
        assert "no rule reaches these tables: app.users, billing.invoices, billing.payments" in said, said
    assert _query(target, "SELECT count(*) FROM pg_class WHERE relname = 'invoices'") == [(0,)]


def test_a_subset_follows_foreign_keys_across_schemas(run_cli, pg_url_factory, tmp_path: Path) -> None:
    source, target = _source(pg_url_factory), pg_url_factory()
    data = {
        "roots": {"app.users": "name = 'ana'"},
        "tables": {"invoices": "all", "billing.payments": {"where": "paid > 1"}},
        "relations": [{"from": "billing.payments.invoice_id", "to": "billing.invoices.id", "dangling": "drop"}],
        "schema": "create",
    }
    plan = write_plan(tmp_path, "subset", source, target, data)
    done = run_cli("run", plan, "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "finished" and result["verification"]["ok"], result
    assert _query(target, "SELECT id, name FROM app.users") == [(1, "ana")]
    assert _query(target, "SELECT id, user_id, amount::text FROM billing.invoices ORDER BY id") == [
        (1, 1, "1.50"),
        (3, 1, "3.25"),
    ]
    assert _query(target, "SELECT invoice_id, paid::text FROM billing.payments ORDER BY 1") == [
        (1, "1.50"),
        (3, "3.25"),
    ]
    assert _query(target, "SELECT id, note FROM public.invoices") == [(1, "not billing's")]
    # Each table in its own schema, with its keys: a new invoice takes the next id.
    with psycopg.connect(_dsn(target)) as conn:
        assert conn.execute("INSERT INTO billing.invoices (user_id, amount) VALUES (1, 9) RETURNING id").fetchone() == (
            4,
        )
        foreign_keys = conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'billing.invoices'::regclass"
        ).fetchone()
    assert foreign_keys == (1,)  # to app.users


def test_a_target_without_schemas_refuses_them_before_writing(run_cli, pg_url_factory, tmp_path: Path) -> None:
    source = _source(pg_url_factory)
    target = tmp_path / "target.db"
    data = {"tables": {"invoices": "all", "app.users": "all", "billing.invoices": "all", "billing.payments": "skip"}}
    plan = write_plan(tmp_path, "flat", source, f"sqlite:///{target}", data)
    for command in ("plan", "run"):
        done = run_cli(command, plan)
        assert done.returncode == 2, command
        said = " ".join(done.stderr.split())
        assert (
            "app.users, billing.invoices are outside the source's current schema, and a sqlite target has no "
            "schemas to put them in" in said
        ), said
    assert not target.exists() or target.stat().st_size == 0


def test_into_existing_tables_of_the_same_schemas(run_cli, pg_url_factory, tmp_path: Path) -> None:
    """`schema: existing`: the target's own billing.invoices is found and loaded, then emptied and
    loaded again by `existing: truncate`."""
    source, target = _source(pg_url_factory), pg_url_factory()
    with psycopg.connect(_dsn(target), autocommit=True) as conn:
        conn.execute(SOURCE.split("INSERT", 1)[0])
    data = {"tables": {"invoices": "all", "app.users": "all", "billing.invoices": "all", "billing.payments": "skip"}}
    plan = write_plan(tmp_path, "existing", source, target, {**data, "schema": "existing"})
    done = run_cli("run", plan, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verification"]["ok"]
    sql = "SELECT i::text FROM billing.invoices i ORDER BY 1"
    assert _query(target, sql) == _query(source, sql) != []
    plan = write_plan(tmp_path, "again", source, target, {**data, "schema": "existing"})
    plan.write_text(plan.read_text().replace('"target": {', '"target": {"existing": "truncate", '))
    again = run_cli("run", plan, "--format", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["verification"]["ok"]
    assert _query(target, sql) == _query(source, sql)
