"""What a run does with the target: existing rows (fail, truncate, merge), existing schemas with
live foreign keys (cycles included), column transforms, and a source that refuses writes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrator.demo.generate import generate_demo

HASH = {"MIGRATOR_HASH_KEY": "k"}


def _plan(tmp_path: Path, source: str, target: str, *, name: str = "modes", **data: object) -> Path:
    plan = {
        "version": 1,
        "name": name,
        "source": {"database": source},
        "target": {"database": target, "existing": data.pop("existing", "fail")},
        "state": str(tmp_path / "state" / name),
        "data": {
            "roots": {"users": "region_id = (SELECT id FROM regions WHERE code = 'US')"},
            "tables": {"regions": "all", "audit_events": "skip", **data.pop("tables", {})},  # type: ignore[dict-item]
            "chunk_rows": 200,
            **data,
        },
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(plan))  # JSON is YAML
    return path


@pytest.fixture
def demo(tmp_path: Path) -> str:
    return f"sqlite:///{generate_demo(tmp_path / 'demo', users=120).database}"


def _count(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return int(count)


def _execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()


def _foreign_rows(run_cli, tmp_path: Path, demo: str, target: str) -> None:  # type: ignore[no-untyped-def]
    """Fill the target with a first copy, then make it look like someone else's rows."""
    first = run_cli("run", _plan(tmp_path, demo, target, name="first"))
    assert first.returncode == 0, first.stderr
    _execute(target, "DELETE FROM _migrator_units", "DELETE FROM _migrator_runs", "UPDATE regions SET name = 'old'")


def test_existing_rows_are_refused_and_nothing_is_written(run_cli, tmp_path: Path, demo: str) -> None:
    target = f"sqlite:///{tmp_path / 'us.db'}"
    _foreign_rows(run_cli, tmp_path, demo, target)
    digest = hashlib.sha256((tmp_path / "us.db").read_bytes()).hexdigest()
    refused = run_cli("run", _plan(tmp_path, demo, target))
    assert refused.returncode == 2
    assert "hold rows this plan did not write" in refused.stderr and "regions (4 rows)" in refused.stderr
    assert hashlib.sha256((tmp_path / "us.db").read_bytes()).hexdigest() == digest


def test_truncate_replaces_the_rows(run_cli, tmp_path: Path, demo: str) -> None:
    target = f"sqlite:///{tmp_path / 'us.db'}"
    _foreign_rows(run_cli, tmp_path, demo, target)
    done = run_cli("run", _plan(tmp_path, demo, target, existing="truncate"))
    assert done.returncode == 0, done.stderr
    assert _count(target, "regions WHERE name = 'old'") == 0
    assert _count(target, "users") == _count(demo, "users WHERE region_id = 1")


def test_merge_upserts_by_primary_key(run_cli, tmp_path: Path, demo: str) -> None:
    target = f"sqlite:///{tmp_path / 'us.db'}"
    _foreign_rows(run_cli, tmp_path, demo, target)
    _execute(target, "INSERT INTO regions (id, code, name) VALUES (99, 'XX', 'kept')")
    done = run_cli("run", _plan(tmp_path, demo, target, existing="merge"))
    assert done.returncode == 0, done.stderr
    assert _count(target, "regions WHERE name = 'old'") == 0  # updated from the source
    assert _count(target, "regions WHERE id = 99") == 1  # a row the plan does not own stays


def _create_schema_only(run_cli, tmp_path: Path, demo: str, target: str) -> None:  # type: ignore[no-untyped-def]
    """The demo's tables in the target with every key live, and no rows."""
    first = run_cli("run", _plan(tmp_path, demo, target, name="first"))
    assert first.returncode == 0, first.stderr
    tables = ["likes", "comments", "follows", "devices", "posts", "users", "regions"]
    no_checks = ["SET FOREIGN_KEY_CHECKS = 0"] if target.startswith("mysql") else []
    deletes = [f"DELETE FROM {t}" for t in tables]
    _execute(target, *no_checks, "DROP TABLE _migrator_units", "DROP TABLE _migrator_runs", *deletes)


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_existing_schema_with_live_keys_and_a_self_reference(
    run_cli, tmp_path: Path, demo: str, backend: str, pg_url_factory, mariadb_url_factory
) -> None:
    target = pg_url_factory() if backend == "postgresql" else mariadb_url_factory()
    _create_schema_only(run_cli, tmp_path, demo, target)
    done = run_cli("run", _plan(tmp_path, demo, target, schema="existing"))
    assert done.returncode == 0, done.stderr
    # comments.parent_id -> comments is live: replies were loaded with NULL, then filled in.
    assert _count(target, "comments WHERE parent_id IS NOT NULL") > 0
    assert (
        _count(
            target,
            "comments c LEFT JOIN comments p ON c.parent_id = p.id WHERE c.parent_id IS NOT NULL AND p.id IS NULL",
        )
        == 0
    )
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert run_cli("run", _plan(tmp_path, demo, fresh, name="fresh")).returncode == 0
    for table in ("users", "posts", "comments", "likes", "follows", "devices"):
        assert _count(target, table) == _count(fresh, table), table


def test_existing_schema_missing_table_is_refused(run_cli, tmp_path: Path, demo: str) -> None:
    target = f"sqlite:///{tmp_path / 'empty.db'}"
    _execute(target, "CREATE TABLE regions (id INTEGER PRIMARY KEY, code TEXT, name TEXT)")
    refused = run_cli("run", _plan(tmp_path, demo, target, schema="existing"))
    assert refused.returncode == 2
    assert "the target has no table" in refused.stderr and "users" in refused.stderr


def test_column_transforms(run_cli, tmp_path: Path, demo: str) -> None:
    target = f"sqlite:///{tmp_path / 'us.db'}"
    tables = {
        "users": {"columns": {"email": "hash", "display_name": "mask", "phone": "nullify"}},
        "devices": {"columns": {"push_token": "drop", "platform": {"const": "redacted"}}},
    }
    done = run_cli("run", _plan(tmp_path, demo, target, tables=tables), env=HASH)
    assert done.returncode == 0, done.stderr
    engine = sa.create_engine(target)
    source = sa.create_engine(demo)
    with engine.connect() as conn, source.connect() as src:
        device_columns = [c["name"] for c in sa.inspect(conn).get_columns("devices")]
        assert "push_token" not in device_columns
        assert conn.execute(sa.text("SELECT DISTINCT platform FROM devices")).scalars().all() == ["redacted"]
        for user_id, email, name, phone in conn.execute(sa.text("SELECT id, email, display_name, phone FROM users")):
            original = src.execute(sa.text("SELECT email, display_name FROM users WHERE id = :i"), {"i": user_id}).one()
            assert phone is None
            assert email != original.email and len(email) == 64
            if original.display_name is not None:
                assert len(name) == len(original.display_name) and name != original.display_name
                assert set(name) <= set("xX0 .-_'") | {c for c in original.display_name if not c.isalnum()}
        # The hash is deterministic: the same input gives the same output in every run.
        emails = set(conn.execute(sa.text("SELECT email FROM users")).scalars())
    engine.dispose()
    source.dispose()
    again = f"sqlite:///{tmp_path / 'again.db'}"
    assert run_cli("run", _plan(tmp_path, demo, again, name="again", tables=tables), env=HASH).returncode == 0
    assert set(sa.create_engine(again).connect().execute(sa.text("SELECT email FROM users")).scalars()) == emails


def test_hash_without_a_key_is_refused_before_writing(run_cli, tmp_path: Path, demo: str) -> None:
    target = tmp_path / "us.db"
    tables = {"users": {"columns": {"email": "hash"}}}
    refused = run_cli("run", _plan(tmp_path, demo, f"sqlite:///{target}", tables=tables), env={"MIGRATOR_HASH_KEY": ""})
    assert refused.returncode == 2 and "MIGRATOR_HASH_KEY" in refused.stderr
    assert not target.exists()


def test_source_that_refuses_writes(run_cli, tmp_path: Path, demo: str, pg_url_factory) -> None:
    """A read replica refuses every write: the run must need none (no temporary tables either)."""
    source = pg_url_factory()
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    # Build a PostgreSQL copy of the whole demo to serve as the source, then make it read-only.
    whole = _plan(tmp_path, demo, source, name="whole", tables={"audit_events": "all"})
    whole.write_text(
        whole.read_text().replace(
            '"roots": {"users": "region_id = (SELECT id FROM regions WHERE code = \'US\')"}',
            '"roots": {"users": "1 = 1"}',
        )
    )
    assert run_cli("run", whole).returncode == 0
    database = sa.engine.make_url(source).database
    _execute(source, f"ALTER DATABASE {database} SET default_transaction_read_only = on")
    done = run_cli("run", _plan(tmp_path, source, fresh, name="from-replica"))
    assert done.returncode == 0, done.stderr
    assert _count(fresh, "users") == _count(demo, "users WHERE region_id = 1")
