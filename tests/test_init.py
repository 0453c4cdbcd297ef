"""`migrator init`: the plan it writes loads back as the YAML it means, validates, and, with the
proposed root's condition filled in, runs into a SQLite target and verifies; on Chinook (SQLite and
PostgreSQL), on public schemas (pagila and northwind on PostgreSQL, sakila on MariaDB) and on a small
database made here with an undeclared relation and personal values that only their content betrays."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from migrator.engine.dry_run import plan_tables
from migrator.engine.run import run_plan
from migrator.plan.load import load_plan
from migrator.scaffold.model import Proposal
from migrator.scaffold.render import scalar
from migrator.scaffold.scaffold import scaffold
from migrator.stores.sql.survey import has_password
from tests.conftest import CHINOOK_SQLITE
from tests.public_datasets import DATASETS, PublicSources, public_sources_fixture

HASH_KEY = {"MIGRATOR_HASH_KEY": "init-test-key"}


@pytest.fixture(scope="module")
def public_sources() -> Iterator[PublicSources]:
    yield from public_sources_fixture()


def _written(url: str, folder: Path) -> tuple[Proposal, Path]:
    """init's plan for `url`, written into `folder`, checked to read back as the plan it means."""
    result = scaffold(url, folder)
    assert yaml.safe_load(result.yaml) == result.proposal.plan()
    plan = folder / "plan.yaml"
    plan.write_text(result.yaml, encoding="utf-8")
    load_plan(plan)  # validates, or raises PlanError with every problem
    return result.proposal, plan


def _classes_of_the_dry_run(plan: Path) -> dict[str, str]:
    """What `migrator plan` makes of the written plan: the classes init says, computed again."""
    return {table.table: table.kind for table in plan_tables(load_plan(plan)).tables}


def _run_with(plan: Path, root: str, condition: str, folder: Path) -> None:
    """The plan with the root's condition filled in and a target in `folder`: it runs and verifies."""
    text = yaml.safe_load(plan.read_text(encoding="utf-8"))
    text["data"]["roots"] = {root: condition}
    text["target"]["database"] = f"sqlite:///{folder / 'target.db'}"
    filled = folder / "filled.yaml"
    filled.write_text(yaml.safe_dump(text), encoding="utf-8")
    result = run_plan(load_plan(filled), environ=HASH_KEY)
    assert result.verified_ok, result.to_dict()


def test_chinook_sqlite_from_the_command_line(run_cli, tmp_path: Path) -> None:
    shown = run_cli("init", f"sqlite:///{CHINOOK_SQLITE}")
    assert shown.returncode == 0, shown.stderr
    plan = tmp_path / "plan.yaml"
    written = run_cli("init", f"sqlite:///{CHINOOK_SQLITE}", "--output", plan)
    assert written.returncode == 0, written.stderr
    assert plan.read_text(encoding="utf-8") == shown.stdout
    assert run_cli("validate", plan).returncode == 0
    again = run_cli("init", f"sqlite:///{CHINOOK_SQLITE}", "--output", plan)
    assert again.returncode == 2 and "exists already" in again.stderr  # never overwrites
    data = json.loads(run_cli("init", f"sqlite:///{CHINOOK_SQLITE}", "--format", "json").stdout)
    assert data["format"] == "migrator.init/1"
    assert data["plan"] == yaml.safe_load(shown.stdout)
    assert set(data) == {"format", "plan", "source", "tables", "roots", "relations", "personal", "notes"}


def test_a_relative_sqlite_path_stays_the_same_file(run_cli, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "chinook.sqlite").write_bytes(CHINOOK_SQLITE.read_bytes())
    done = run_cli(
        "init", "sqlite:///data/chinook.sqlite", "--output", "plans/chinook.yaml", "--format", "json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["plan"]["source"]["database"] == "sqlite:///../data/chinook.sqlite"
    checked = run_cli("validate", "plans/chinook.yaml", "--connect", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "source sqlite:///" + str(tmp_path / "data" / "chinook.sqlite") in checked.stdout


def test_chinook_proposals(tmp_path: Path) -> None:
    proposal, plan = _written(f"sqlite:///{CHINOOK_SQLITE}", tmp_path)
    ranked = [(r.table, r.column) for r in proposal.roots]
    # Customer above Invoice (its subset holds the invoices); Employee last: every employee is in Canada.
    assert ranked == [("Customer", "Country"), ("Invoice", "BillingCountry"), ("Employee", "Country")]
    assert proposal.roots[-1].distinct_values == 1
    assert proposal.plan()["data"]["roots"] == {"Customer": "Country = 'USA'"}
    classes = {t.table: t.table_class for t in proposal.tables}
    assert classes == {
        "Customer": "root",
        "Invoice": "scoped",
        "InvoiceLine": "scoped",
        "Employee": "referenced",
        "Track": "referenced",
        "Album": "referenced",
        "Artist": "referenced",
        "Genre": "referenced",
        "MediaType": "referenced",
        "Playlist": "all",
        "PlaylistTrack": "all",
    }
    actions = {(p.table, p.column): p.action for p in proposal.personal}
    assert actions[("Customer", "Email")] == "hash"
    assert actions[("Customer", "LastName")] == "mask"
    assert actions[("Employee", "BirthDate")] == "nullify"
    assert not any(column.endswith("Id") for _, column in actions)  # keys are never transformed
    email = next(p for p in proposal.personal if (p.table, p.column) == ("Customer", "Email"))
    assert email.evidence[0] == "name" and "look like e-mail addresses" in email.evidence[1]
    assert _classes_of_the_dry_run(plan) == classes
    text = plan.read_text(encoding="utf-8")
    assert "# Customer: root, 59 rows: in scope where Country = 'USA'" in text
    assert "# Invoice: \"BillingCountry = 'USA'\"" in text  # the other candidates, commented
    _run_with(plan, "Customer", "Country = 'Canada'", tmp_path)


def test_chinook_postgresql(chinook_pg: str, tmp_path: Path) -> None:
    proposal, plan = _written(chinook_pg, tmp_path)
    assert proposal.root is not None and (proposal.root.table, proposal.root.column) == ("customer", "country")
    assert proposal.source_url == chinook_pg and not proposal.password_in_url
    _run_with(plan, "customer", "country = 'USA'", tmp_path)


def test_a_password_in_the_url_is_never_written(chinook_pg: str, tmp_path: Path) -> None:
    """The local server trusts its clients, so a password in the URL is ignored there, and init reads
    the database all the same: what matters is what it writes."""
    with_password = chinook_pg.replace("postgres@", "postgres:s3cret-Pass@")
    result = scaffold(with_password, tmp_path)
    assert "s3cret" not in result.yaml and "s3cret" not in json.dumps(result.proposal.to_dict())
    assert 'database: "${SOURCE_URL}"' in result.yaml and "set SOURCE_URL" in result.yaml
    plan = tmp_path / "plan.yaml"
    plan.write_text(result.yaml, encoding="utf-8")
    loaded = load_plan(plan, environ={"SOURCE_URL": chinook_pg})
    assert loaded.plan.source.database == chinook_pg


@pytest.mark.parametrize(
    ("dataset", "condition"),
    [
        ("pagila", None),  # the proposed root and its placeholder condition, run as proposed
        ("northwind", "country = 'Germany'"),
        ("sakila", None),
    ],
)
def test_public_schemas(public_sources: PublicSources, dataset: str, condition: str | None, tmp_path: Path) -> None:
    proposal, plan = _written(public_sources.url(DATASETS[dataset]), tmp_path)
    assert proposal.root is not None
    assert _classes_of_the_dry_run(plan) == {t.table: t.table_class for t in proposal.tables}
    personal = {(p.table, p.column) for p in proposal.personal}
    if dataset in ("pagila", "sakila"):
        assert ("customer", "email") in personal and ("address", "phone") in personal
        assert ("city", "city") not in personal  # a table of cities is a catalogue
        assert proposal.root.condition.startswith("country = ")  # the country's name, not its key
    _run_with(plan, proposal.root.table, condition or proposal.root.condition, tmp_path)


def test_the_tenant_example_of_the_docs(tmp_path: Path) -> None:
    source = tmp_path / "saas.db"
    with sqlite3.connect(source) as conn:
        conn.executescript((Path(__file__).parent.parent / "docs/examples/tenant-saas.sql").read_text(encoding="utf-8"))
    conn.close()
    proposal, plan = _written(f"sqlite:///{source}", tmp_path)
    # The table named for a tenant, by the column people name a tenant by.
    assert proposal.plan()["data"]["roots"] == {"tenants": "name = 'Acme'"}
    assert {t.table: t.table_class for t in proposal.tables}["plans"] == "referenced"
    _run_with(plan, "tenants", "id = 42", tmp_path)


def _small_database(path: Path) -> str:
    """accounts with a region; orders pointing at them without a foreign key; contacts whose column
    names say nothing but whose values are e-mail and IP addresses; an audit log."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE accounts (id INTEGER PRIMARY KEY, region TEXT NOT NULL, email TEXT UNIQUE);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, account_id INTEGER, note TEXT);
        CREATE TABLE contacts (id INTEGER PRIMARY KEY, account_id INTEGER REFERENCES accounts(id),
                               reach TEXT, seen_from TEXT);
        CREATE TABLE audit_log (id INTEGER PRIMARY KEY, account_id INTEGER, what TEXT);
        CREATE TABLE shipments (id INTEGER PRIMARY KEY, order_ref_id INTEGER, orders_id INTEGER);
        """
    )
    for i in range(1, 21):
        region = "EU" if i % 3 else "US"
        conn.execute("INSERT INTO accounts VALUES (?, ?, ?)", (i, region, f"user{i}@example.com"))
        conn.execute("INSERT INTO orders VALUES (?, ?, ?)", (i, i, "n"))
        conn.execute("INSERT INTO contacts VALUES (?, ?, ?, ?)", (i, i, f"c{i}@mail.example.org", f"10.0.0.{i}"))
        conn.execute("INSERT INTO audit_log VALUES (?, ?, ?)", (i, i, "login"))
        conn.execute("INSERT INTO shipments VALUES (?, ?, ?)", (i, i, i + 100))
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def test_relations_personal_values_and_logs(tmp_path: Path) -> None:
    proposal, plan = _written(_small_database(tmp_path / "shop.db"), tmp_path)
    assert proposal.root is not None and proposal.root.condition == "region = 'EU'"
    relations = {(r.child, r.column): (r.parent, r.key, r.sampled, r.unresolved) for r in proposal.relations}
    assert relations[("orders", "account_id")] == ("accounts", "id", 20, 0)
    assert relations[("shipments", "orders_id")] == ("orders", "id", 20, 20)  # checked, none resolve
    rules = {t.table: t.rule for t in proposal.tables}
    assert rules["audit_log"] == "skip"  # a log
    assert rules["orders"] == "skip"  # reaches the subset only through the proposed relation
    personal = {(p.table, p.column): p for p in proposal.personal}
    assert personal[("contacts", "reach")].category == "email" and personal[("contacts", "reach")].evidence == (
        "values: 20 of 20 sampled look like e-mail addresses",
    )
    assert personal[("contacts", "seen_from")].category == "ip"
    assert personal[("accounts", "email")].action == "hash"  # unique: masked values would collide
    text = plan.read_text(encoding="utf-8")
    assert "  #   - {from: orders.account_id, to: accounts.id}  # sampled 20 distinct values, all resolve" in text
    assert "Not proposed: shipments.orders_id -> orders.id: 20 of 20 sampled values resolve to nothing." in text
    # Uncommented as the comment says, the relation scopes orders under accounts.
    edited = text.replace("  # relations:", "  relations:").replace(
        "  #   - {from: orders.account_id", "    - {from: orders.account_id"
    )
    edited = edited.replace("    orders: skip\n", "")
    plan.write_text(edited, encoding="utf-8")
    _run_with(plan, "accounts", "region = 'US'", tmp_path)


def test_what_init_refuses(run_cli, tmp_path: Path) -> None:
    missing = run_cli("init", f"sqlite:///{tmp_path / 'nothing.db'}")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    sqlite3.connect(tmp_path / "empty.db").close()
    empty = run_cli("init", f"sqlite:///{tmp_path / 'empty.db'}", "--format", "json")
    assert empty.returncode == 2 and json.loads(empty.stderr)["message"].startswith("the source database has no tables")


def test_passwords_are_found_in_either_place() -> None:
    assert has_password("postgresql://app:s3cret@db/prod")
    assert has_password("postgresql://app@db/prod?password=s3cret")
    assert not has_password("postgresql://app@db/prod")


@pytest.mark.parametrize("value", ["yes", "null", "a: b", "x #y", "${V}", "sqlite:///a b.db", "'q'", "1", "Ünïcode"])
def test_scalars_read_back(value: str) -> None:
    assert yaml.safe_load(f"k: {scalar(value)}") == {"k": value}
