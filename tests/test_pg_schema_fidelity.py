"""PostgreSQL to PostgreSQL with `schema: create`: the target's schema is the source's, made from
pg_dump's own DDL (issue 12, must-have 3). The fixture (tests/data/fidelity/pg_schema.sql) has one
object of each kind, in public and in a second schema, billing; the plan copies every table but
audit_events and billing.drafts, so what touches those is left out.

Checked with the test's own SQL and pg_dump, not with migrator's code."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.plan_files import write_plan

FIXTURE = Path(__file__).parent / "data" / "fidelity" / "pg_schema.sql"
COPIED = ("authors", "books", "events", "book_log", "billing.invoices", "invoices")
SKIPPED = ("audit_events", "billing.drafts")

# pg_dump entries (type, name) that exist in the source only: the skipped table and its own parts ...
SKIPPED_TABLE = {
    ("TABLE", "audit_events"),
    ("SEQUENCE", "audit_events_id_seq"),
    ("SEQUENCE OWNED BY", "audit_events_id_seq"),
    ("DEFAULT", "audit_events id"),
    ("CONSTRAINT", "audit_events audit_events_pkey"),
    ("FK CONSTRAINT", "audit_events audit_events_author_id_fkey"),
    ("TABLE", "drafts"),
    ("FK CONSTRAINT", "drafts drafts_invoice_id_fkey"),
}
# ... and what touches it, which the run leaves out and `migrator plan` lists.
LEFT_OUT = {
    ("VIEW", "recent_audit"),
    ("VIEW", "audit_authors"),
    ("FUNCTION", "audit_author()"),
    ("TRIGGER", "authors authors_audited"),
    ("VIEW", "draft_notes"),
}
_HEADER = re.compile(r"^-- Name: (?P<name>.*); Type: (?P<type>.*); Schema: (?P<schema>.*); Owner: (?P<owner>.*)$")


def _plan(tmp_path: Path, source: str, target: str, name: str = "fidelity") -> Path:
    tables = {**dict.fromkeys(COPIED, "all"), **dict.fromkeys(SKIPPED, "skip")}
    return write_plan(tmp_path, name, source, target, {"tables": tables, "schema": "create"})


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _source(pg_url_factory) -> str:  # type: ignore[no-untyped-def]
    url = pg_url_factory()
    with psycopg.connect(_dsn(url), autocommit=True) as conn:
        conn.execute(FIXTURE.read_text())
    return url


def _copied(run_cli, pg_url_factory, tmp_path: Path, *options: str) -> tuple[str, str, Path]:  # type: ignore[no-untyped-def]
    source, target = _source(pg_url_factory), pg_url_factory()
    plan = _plan(tmp_path, source, target)
    done = run_cli("run", plan, "--format", "json", *options)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "finished"
    assert result["verification"]["ok"], result["verification"]
    return source, target, plan


def _query(url: str, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with psycopg.connect(_dsn(url)) as conn:
        return conn.execute(sql).fetchall()


def _schema_entries(url: str) -> dict[tuple[str, str, str], str]:
    """pg_dump --schema-only, as {(type, schema, name): SQL}: order-free, every entry's text exact."""
    pg_dump = shutil.which("pg_dump")
    assert pg_dump, "pg_dump is needed"
    text = subprocess.run([pg_dump, "--schema-only", _dsn(url)], capture_output=True, text=True, check=True).stdout
    entries: dict[tuple[str, str, str], str] = {}
    key: tuple[str, str, str] | None = None
    for line in text.splitlines():
        if line.startswith("\\"):  # \restrict with a random key, different in every dump
            continue
        header = _HEADER.match(line)
        if header:
            key = (header["type"], header["schema"], header["name"])
            entries[key] = ""
        elif key is not None:
            entries[key] += line + "\n"
    return entries


def test_target_schema_is_the_source_schema_but_the_skipped_table(run_cli, pg_url_factory, tmp_path: Path) -> None:
    source, target, _plan_file = _copied(run_cli, pg_url_factory, tmp_path)
    expected = {
        key: sql
        for key, sql in _schema_entries(source).items()
        if (key[0], key[2]) not in SKIPPED_TABLE | LEFT_OUT
        and not (key[0] == "COMMENT" and key[2].endswith("audit_events"))
    }
    found = {key: sql for key, sql in _schema_entries(target).items() if "_migrator_" not in key[2]}
    assert len(expected) > 50
    assert set(found) == set(expected)
    for key, sql in expected.items():
        assert found[key] == sql, key
    # The source really had what was left out, and a mix of every kind of object was compared.
    kinds = {t for t, _s, _n in expected}
    assert {"DOMAIN", "TYPE", "COLLATION", "EXTENSION", "SCHEMA", "SEQUENCE", "TABLE ATTACH", "INDEX ATTACH"} <= kinds
    assert {"VIEW", "MATERIALIZED VIEW", "FUNCTION", "TRIGGER", "FK CONSTRAINT", "INDEX", "COMMENT"} <= kinds
    # The second schema, its table, view, index and comments, beside public's table of the same name.
    assert {("SCHEMA", "-", "billing"), ("TABLE", "billing", "invoices"), ("TABLE", "public", "invoices")} <= set(found)
    assert {("VIEW", "billing", "unpaid"), ("INDEX", "billing", "invoices_unpaid")} <= set(found)
    # The run's audit trail says what it left out, as `migrator plan` does.
    events = [json.loads(line) for line in (tmp_path / "state" / "fidelity" / "audit.jsonl").read_text().splitlines()]
    [left_out] = [e["objects"] for e in events if e["event"] == "left out of the schema"]
    assert len(left_out) == len(LEFT_OUT)


def test_rows_values_partitions_and_views_match_the_source(run_cli, pg_url_factory, tmp_path: Path) -> None:
    # Two workers: the tables load side by side, in any order, as the foreign keys come after.
    source, target, _plan_file = _copied(run_cli, pg_url_factory, tmp_path, "--workers", "2")
    for table in COPIED:
        # Every column's text output, the generated weight_g included (computed by the target).
        sql = f"SELECT tableoid::regclass::text, t::text FROM {table} t ORDER BY 2"
        assert _query(target, sql) == _query(source, sql), table
    partitions = "SELECT tableoid::regclass::text, count(*) FROM events GROUP BY 1 ORDER BY 1"
    assert _query(target, partitions) == [("events_2023", 2), ("events_2024", 2)]
    # book_log is filled by a trigger on books: had it fired during the load, there would be 6 rows.
    assert _query(target, "SELECT count(*) FROM book_log") == [(3,)]
    for view in ("author_books", "books_per_author", "billing.unpaid"):
        sql = f"SELECT v::text FROM {view} v ORDER BY 1"
        assert _query(target, sql) == _query(source, sql) != []
    assert _query(target, "SELECT pages_of(1)") == [(1007,)]


def test_counters_are_past_the_copied_keys_and_triggers_run_after(run_cli, pg_url_factory, tmp_path: Path) -> None:
    _source_url, target, _plan_file = _copied(run_cli, pg_url_factory, tmp_path)
    with psycopg.connect(_dsn(target)) as conn:
        author = conn.execute("INSERT INTO authors (name) VALUES ('new') RETURNING id").fetchone()
        book = conn.execute(
            "INSERT INTO books (author_id, title, weight_kg) VALUES (%s, 'new', 1.5) RETURNING id, invoice, weight_g",
            author,
        ).fetchone()
        event = conn.execute("INSERT INTO events (happened) VALUES ('2024-03-03') RETURNING id").fetchone()
        log = conn.execute("SELECT id, book_id, what FROM book_log ORDER BY id DESC LIMIT 1").fetchone()
    assert author == (4,)
    assert book is not None and book[0] == 4 and book[1] == 1003 and str(book[2]) == "1500.00"
    assert event == (5,)
    assert log == (4, 4, "added; new")  # the trigger exists now, and its table's counter is past the keys
    with psycopg.connect(_dsn(target)) as conn:
        invoice = conn.execute("INSERT INTO billing.invoices (author_id, amount) VALUES (4, 1) RETURNING id").fetchone()
    assert invoice == (4,)  # another schema's identity, past its copied keys too


def test_plan_lists_what_is_left_out(run_cli, pg_url_factory, tmp_path: Path) -> None:
    source, target = _source(pg_url_factory), pg_url_factory()
    plan = _plan(tmp_path, source, target)
    shown = run_cli("plan", plan, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["left_out"] == [
        "function public.audit_author() names public.audit_events, which is not copied",
        "trigger authors_audited on public.authors runs public.audit_author(), which is left out because it "
        "needs public.audit_events, which is not copied",
        "view billing.draft_notes reads billing.drafts, which is not copied",
        "view public.audit_authors reads public.recent_audit, which is left out because it needs "
        "public.audit_events, which is not copied",
        "view public.recent_audit reads public.audit_events, which is not copied",
    ]
    text = run_cli("plan", plan)
    assert text.returncode == 0, text.stderr
    assert "left out of the target's schema" in text.stdout
    assert "view public.recent_audit reads public.audit_events, which is not copied" in " ".join(text.stdout.split())


def test_restart_drops_the_schema_and_makes_it_again(run_cli, pg_url_factory, tmp_path: Path) -> None:
    source, target, plan = _copied(run_cli, pg_url_factory, tmp_path)
    before = _schema_entries(target)
    with psycopg.connect(_dsn(target)) as conn:
        conn.execute("INSERT INTO authors (name) VALUES ('written by the new deployment')")
    again = run_cli("run", plan, "--restart", "--format", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "finished"
    assert _schema_entries(target) == before
    sql = "SELECT t::text FROM authors t ORDER BY 1"
    assert _query(target, sql) == _query(source, sql)


@pytest.mark.parametrize("pg_dump", ["missing", "older than the server"])
def test_pg_dump_missing_or_too_old_is_one_clear_error(run_cli, pg_url_factory, tmp_path: Path, pg_dump: str) -> None:
    source, target = _source(pg_url_factory), pg_url_factory()
    plan = _plan(tmp_path, source, target)
    bin_dir = tmp_path / "bin"  # the only directory on the PATH
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(Path(shutil.which("python3") or "python3").resolve())
    expected = "pg_dump and pg_restore, and they are not on the PATH"
    if pg_dump != "missing":
        (bin_dir / "pg_restore").symlink_to(Path(shutil.which("pg_restore") or "pg_restore").resolve())
        old = bin_dir / "pg_dump"
        old.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
        old.chmod(0o755)
        expected = "is pg_dump (PostgreSQL) 9.6.24, older than the source server (PostgreSQL "
    done = run_cli("run", plan, env={"PATH": str(bin_dir)})
    assert done.returncode != 0
    assert expected in " ".join(done.stderr.split())
    assert _query(target, "SELECT count(*) FROM pg_class WHERE relname = 'authors'") == [(0,)]


INHERITANCE = """
CREATE SCHEMA extra;
CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);
CREATE TABLE book_notes (book integer NOT NULL, PRIMARY KEY (id)) INHERITS (notes);
CREATE TABLE author_notes (author text) INHERITS (notes);
CREATE TABLE extra.long_notes (pages integer CHECK (pages > 500)) INHERITS (book_notes);
INSERT INTO notes (body) VALUES ('plain'), ('plain too');
INSERT INTO book_notes (body, book) VALUES ('on a book', 7);
INSERT INTO author_notes (body, author) VALUES ('on an author', 'ursula'), ('no author', NULL);
INSERT INTO extra.long_notes (body, book, pages) VALUES ('long', 8, 900);
"""
HIERARCHY = ("notes", "book_notes", "author_notes", "extra.long_notes")


def _inheriting_source(pg_url_factory) -> str:  # type: ignore[no-untyped-def]
    url = pg_url_factory()
    with psycopg.connect(_dsn(url), autocommit=True) as conn:
        conn.execute(INHERITANCE)
    return url


def test_table_inheritance_is_copied_table_by_table(run_cli, pg_url_factory, tmp_path: Path) -> None:
    """Each table of an INHERITS hierarchy gets its own rows: a parent's rows read with ONLY, so a
    child's row is written once, into the child."""
    source, target = _inheriting_source(pg_url_factory), pg_url_factory()
    plan = write_plan(tmp_path, "inherits", source, target, {"tables": dict.fromkeys(HIERARCHY, "all")})
    done = run_cli("run", plan, "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "finished" and result["verification"]["ok"], result
    for table in HIERARCHY:
        sql = f"SELECT tableoid::regclass::text, t::text FROM {table} t ORDER BY 2"
        assert _query(target, sql) == _query(source, sql), table
    assert _query(target, "SELECT tableoid::regclass::text, count(*) FROM notes GROUP BY 1 ORDER BY 1") == [
        ("author_notes", 2),
        ("book_notes", 1),
        ("extra.long_notes", 1),
        ("notes", 2),
    ]
    expected = _schema_entries(source)
    found = {key: sql for key, sql in _schema_entries(target).items() if "_migrator_" not in key[2]}
    assert found == expected
    with psycopg.connect(_dsn(target)) as conn:  # the shared sequence is past every table's keys
        assert conn.execute("INSERT INTO author_notes (body) VALUES ('new') RETURNING id").fetchone() == (7,)
    # Emptied for another plan that skips a child, the parent loses its own rows only: the skipped
    # child keeps its rows (not the plan's to delete), which verification then reports.
    tables = {**dict.fromkeys(HIERARCHY, "all"), "author_notes": "skip"}
    again = json.loads(write_plan(tmp_path, "again", source, target, {"tables": tables}).read_text())
    again["target"]["existing"] = "truncate"
    path = tmp_path / "again.yaml"
    path.write_text(json.dumps(again))
    done = run_cli("run", path, "--format", "json")
    failed = [c for c in json.loads(done.stdout)["verification"]["checks"] if not c["ok"]]
    assert [(c["table"], c["detail"]) for c in failed] == [("author_notes", "skip table holds 3 rows in the target")]
    assert _query(target, "SELECT id, body FROM author_notes ORDER BY id") == [
        (4, "on an author"),
        (5, "no author"),
        (7, "new"),
    ]
    sql = "SELECT tableoid::regclass::text, t::text FROM ONLY notes t ORDER BY 2"
    assert _query(target, sql) == _query(source, sql)


def test_an_inheritance_hierarchy_into_sqlite_is_one_table_each(run_cli, pg_url_factory, tmp_path: Path) -> None:
    source, target = _inheriting_source(pg_url_factory), tmp_path / "target.db"
    tables = {"notes": "all", "book_notes": "all", "author_notes": "all", "extra.long_notes": "skip"}
    plan = write_plan(tmp_path, "flat", source, f"sqlite:///{target}", {"tables": tables})
    done = run_cli("run", plan, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verification"]["ok"]
    with sqlite3.connect(target) as conn:
        found = {t: conn.execute(f"SELECT id, body FROM {t} ORDER BY id").fetchall() for t in HIERARCHY[:3]}
    assert found == {t: _query(source, f"SELECT id, body FROM ONLY {t} ORDER BY id") for t in HIERARCHY[:3]}
    assert [len(rows) for rows in found.values()] == [2, 1, 2]


def test_a_child_copied_without_its_parent_is_refused(run_cli, pg_url_factory, tmp_path: Path) -> None:
    source, target = _inheriting_source(pg_url_factory), pg_url_factory()
    tables = {"notes": "skip", "book_notes": "all", "author_notes": "skip", "extra.long_notes": "all"}
    plan = write_plan(tmp_path, "orphan", source, target, {"tables": tables, "schema": "create"})
    for command in ("plan", "run"):
        done = run_cli(command, plan)
        assert done.returncode != 0, command
        said = " ".join(done.stderr.split())
        assert "a table is copied without the table it inherits from (book_notes inherits from notes)" in said, said
    assert _query(target, "SELECT count(*) FROM pg_class WHERE relname = 'book_notes'") == [(0,)]


def test_a_dropped_column_goes_with_what_names_it(run_cli, pg_url_factory, tmp_path: Path) -> None:
    source, target = _source(pg_url_factory), pg_url_factory()
    plan = json.loads(_plan(tmp_path, source, target).read_text())
    plan["data"]["tables"]["books"] = {"copy": "all", "columns": {"pages": "drop"}}
    path = tmp_path / "dropped.yaml"
    path.write_text(json.dumps(plan))
    shown = run_cli("plan", path, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    left_out = json.loads(shown.stdout)["left_out"]
    assert "index public.books_long uses column books.pages, which the plan drops" in left_out
    assert (
        "table constraint pages_positive on public.books refers to column books.pages, which the plan drops" in left_out
    )
    done = run_cli("run", path, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verification"]["ok"]
    columns = "SELECT column_name FROM information_schema.columns WHERE table_name = 'books' ORDER BY ordinal_position"
    names = [name for (name,) in _query(target, columns)]
    assert "pages" not in names and "weight_g" in names
    found = {key[2] for key in _schema_entries(target)}
    assert "books_long" not in found and "books_lower_title" in found
    sql = "SELECT id, title, weight_g::text FROM books ORDER BY id"
    assert _query(target, sql) == _query(source, sql)


def test_rows_written_by_insert_keep_identity_always_columns(run_cli, pg_url_factory, tmp_path: Path) -> None:
    """A transform sends a table's rows through INSERT rather than COPY; its GENERATED ALWAYS identity
    still receives the source's ids, and is ALWAYS again after the load."""
    source, target = _source(pg_url_factory), pg_url_factory()
    plan = json.loads(_plan(tmp_path, source, target).read_text())
    plan["data"]["tables"]["events"] = {"copy": "all", "columns": {"note": {"const": "n/a"}}}
    path = tmp_path / "transformed.yaml"
    path.write_text(json.dumps(plan))
    done = run_cli("run", path, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verification"]["ok"]
    sql = "SELECT tableoid::regclass::text, id, happened, book_id FROM events ORDER BY id"
    assert _query(target, sql) == _query(source, sql)
    assert _query(target, "SELECT DISTINCT note FROM events") == [("n/a",)]
    identity = "SELECT attidentity FROM pg_attribute WHERE attrelid = 'events'::regclass AND attname = 'id'"
    assert _query(target, identity) == [("a",)]


def test_dropping_what_a_generated_column_is_computed_from_is_refused(run_cli, pg_url_factory, tmp_path: Path) -> None:
    source, target = _source(pg_url_factory), pg_url_factory()
    plan = json.loads(_plan(tmp_path, source, target).read_text())
    plan["data"]["tables"]["books"] = {"copy": "all", "columns": {"weight_kg": "drop"}}
    path = tmp_path / "orphan.yaml"
    path.write_text(json.dumps(plan))
    for command in ("plan", "run"):
        done = run_cli(command, path)
        assert done.returncode != 0, command
        said = " ".join(done.stderr.split())
        assert (
            "generated columns are computed from columns the plan drops (books.weight_g from books.weight_kg)" in said
        )
    plan["data"]["tables"]["books"]["columns"]["weight_g"] = "drop"
    path.write_text(json.dumps(plan))
    done = run_cli("run", path, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verification"]["ok"]
