"""SQLite -> SQLite native schema (issue 12, must-have 3): the target's sqlite_master is the source's.

The builder runs on a real source file made from tests/data/fidelity/sqlite_schema.sql; its
statements run on a fresh target file, the rows are copied with plain SQL through ATTACH, and the
test compares both files' sqlite_master, values (storage class and bytes) and sqlite_sequence.
`region` is not copied; some tests drop `author.secret`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from migrator.stores.sql.connect import open_source
from migrator.stores.sql.literal import execute_literal
from migrator.stores.sql.native_schema import NativeSchema
from migrator.stores.sql.snapshot import snapshot
from migrator.stores.sql.sqlite_native import native_schema

FIXTURE = Path(__file__).parent / "data" / "fidelity" / "sqlite_schema.sql"
COPIED = ["author", "book", "tag", "measure"]

REGION_LEFT_OUT = {
    "foreign key author.region_id references region, which is not copied",
    "foreign key book.fk_book_region references region, which is not copied",
    "index idx_region_name on region is on region, which is not copied",
    "view author_regions names region, which is not copied",
    "trigger author_region on author names region, which is not copied",
}
SECRET_LEFT_OUT = {
    "column author.secret_length names dropped column(s) secret",
    "check author.secret_long names dropped column(s) secret",
    "check on column author.born names dropped column(s) secret",
    "index idx_author_secret on author names dropped column(s) author.secret",
    "view author_secrets names dropped column(s) author.secret",
    "trigger author_secret_trim on author names dropped column(s) author.secret",
}
# What taking the foreign keys to `region` out of the source's text leaves (the test's own edit of
# its own fixture's text, to compare the builder's with).
WITHOUT_REGION = [
    (" REFERENCES region(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED", ""),
    (",\n  CONSTRAINT fk_book_region FOREIGN KEY (region_code) REFERENCES [region] (id)", ""),
]
WITHOUT_SECRET = [
    ("  secret TEXT,\n", ""),
    (" CHECK (born IS NOT NULL OR secret IS NULL)", ""),
    (
        ",\n  secret_length INT AS (length(secret)) STORED,"
        "\n  CONSTRAINT secret_long CHECK (secret IS NULL OR length(secret) > 2)",
        "",
    ),
]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(FIXTURE.read_text(encoding="utf-8"))
    return path


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Connection]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'target.sqlite'}", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.connection.driver_connection.isolation_level = None  # type: ignore[union-attr]  # statements as given
        yield conn
    engine.dispose()


def _build(path: Path, dropped: dict[str, set[str]], tables: list[str] = COPIED) -> NativeSchema:
    # As the run does: in the source's read-only snapshot.
    engine = open_source(make_url(f"sqlite:///{path}"))
    try:
        with snapshot(engine) as conn:
            return native_schema(conn, tables, dropped)
    finally:
        engine.dispose()


def _run(conn: Connection, statements: list[str]) -> None:
    for statement in statements:
        execute_literal(conn, statement)


def _split(source: Path, conn: Connection, dropped: dict[str, set[str]]) -> NativeSchema:
    schema = _build(source, dropped)
    _run(conn, ["BEGIN", *schema.before_load, "COMMIT"])
    conn.exec_driver_sql(f"ATTACH DATABASE '{source}' AS src")
    for table in COPIED:
        # The target's columns: the dropped ones are not there, the generated ones SQLite computes.
        columns = [
            str(name)
            for name, hidden in conn.exec_driver_sql(f"SELECT name, hidden FROM pragma_table_xinfo('{table}')").all()
            if hidden == 0
        ]
        names = ", ".join(f'"{c}"' for c in columns)
        conn.exec_driver_sql(f"INSERT INTO main.{table} ({names}) SELECT {names} FROM src.{table}")
    conn.exec_driver_sql("DETACH DATABASE src")
    _run(conn, ["BEGIN", *schema.after_load, "COMMIT"])
    return schema


def _master(conn: Connection, schema: str = "main") -> dict[tuple[str, str], tuple[str, str | None]]:
    rows = conn.exec_driver_sql(f"SELECT type, name, tbl_name, sql FROM {schema}.sqlite_master").all()
    return {(str(kind), str(name)): (str(table), sql) for kind, name, table, sql in rows}


def _source_master(path: Path) -> dict[tuple[str, str], tuple[str, str | None]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    return {(kind, name): (table, sql) for kind, name, table, sql in rows}


def _edited(sql: str | None, edits: list[tuple[str, str]]) -> str | None:
    assert sql is not None
    for old, new in edits:
        assert old in sql, old
        sql = sql.replace(old, new)
    return sql


def _values(conn: sqlite3.Connection, table: str) -> list[tuple[object, ...]]:
    """Every value's storage class and exact text (quote() shows a blob's bytes and a real's digits)."""
    columns = [row[1] for row in conn.execute(f"SELECT * FROM pragma_table_xinfo('{table}')")]
    picked = ", ".join(f'typeof("{c}"), quote("{c}")' for c in columns)
    return conn.execute(f"SELECT {picked} FROM {table} ORDER BY 1, 2").fetchall()


def test_target_sqlite_master_is_the_sources_for_every_copied_object(source: Path, target: Connection) -> None:
    schema = _split(source, target, {})
    expected = _source_master(source)
    expected[("table", "author")] = ("author", _edited(expected[("table", "author")][1], WITHOUT_REGION[:1]))
    expected[("table", "book")] = ("book", _edited(expected[("table", "book")][1], WITHOUT_REGION[1:]))
    for left_out in [("table", "region"), ("index", "idx_region_name"), ("view", "author_regions")]:
        del expected[left_out]
    del expected[("trigger", "author_region")]

    assert _master(target) == expected
    assert set(schema.left_out) == REGION_LEFT_OUT and len(schema.left_out) == len(REGION_LEFT_OUT)
    assert schema.generated == {"author": ["name_upper", "secret_length"], "book": ["slug"]}
    # The declared types are the source's, word for word.
    declared = target.exec_driver_sql("SELECT type FROM pragma_table_info('author') WHERE name = 'born'").scalar_one()
    assert declared == "DATETIME"


def test_values_keep_their_storage_class_and_the_counter_is_past_the_copied_keys(
    source: Path, target: Connection, tmp_path: Path
) -> None:
    _split(source, target, {})
    with sqlite3.connect(source) as src, sqlite3.connect(tmp_path / "target.sqlite") as tgt:
        for table in COPIED:
            assert _values(tgt, table) == _values(src, table), table
        assert tgt.execute("SELECT typeof(pages), pages FROM book WHERE id = 2").fetchone() == ("text", "many")
        assert tgt.execute("SELECT born FROM author WHERE id = 1").fetchone() == ("2021-01-01 00:00:00",)
        assert tgt.execute(
            "SELECT slug, name_upper FROM book JOIN author ON author.id = author_id WHERE book.id = 1"
        ).fetchone() == (
            "alpha",
            "ANN",
        )
        assert tgt.execute("SELECT seq FROM sqlite_sequence WHERE name = 'author'").fetchone() == (9,)
        tgt.execute("INSERT INTO author (name) VALUES ('Ed')")
        assert tgt.execute("SELECT max(id) FROM author").fetchone() == (10,)


def test_a_dropped_column_takes_what_names_it_along(source: Path, target: Connection) -> None:
    schema = _split(source, target, {"author": {"secret"}})
    master = _master(target)
    source_author = _source_master(source)[("table", "author")][1]

    assert master[("table", "author")] == ("author", _edited(source_author, WITHOUT_REGION[:1] + WITHOUT_SECRET))
    assert set(schema.left_out) == REGION_LEFT_OUT | SECRET_LEFT_OUT
    assert schema.generated == {"author": ["name_upper"], "book": ["slug"]}
    assert {name for kind, name in master if kind in ("index", "view", "trigger")} == {
        "idx_book_title",
        "idx_book_price",
        "idx_author_lower",
        "book_titles",
        "long_books",
        "book_touch",
        "sqlite_autoindex_book_1",
    }


def test_running_the_statements_again_after_a_crash_changes_nothing(source: Path, target: Connection) -> None:
    schema = _split(source, target, {"author": {"secret"}})
    master = _master(target)
    counters = target.exec_driver_sql("SELECT name, seq FROM sqlite_sequence").all()

    _run(target, ["BEGIN", *schema.before_load, *schema.after_load, "COMMIT"])
    _run(target, ["BEGIN", *schema.after_load, "COMMIT"])

    assert _master(target) == master
    assert target.exec_driver_sql("SELECT name, seq FROM sqlite_sequence").all() == counters
    assert target.exec_driver_sql("SELECT count(*) FROM author").scalar_one() == 3


def test_foreign_keys_are_cut_from_the_text_only_at_token_boundaries(tmp_path: Path) -> None:
    """Quotes, comments and strings that look like SQL: only the real clauses to `gone` are taken out."""
    path = tmp_path / "tricky.sqlite"
    sql = (
        'CREATE TABLE "a, (b" (\n'
        "  id INTEGER PRIMARY KEY, -- REFERENCES gone(id), a comment\n"
        "  [x y] TEXT DEFAULT 'REFERENCES gone(id)' CONSTRAINT to_gone REFERENCES gone ON DELETE NO ACTION"
        " MATCH FULL NOT DEFERRABLE NOT NULL,\n"
        '  `z` INTEGER REFERENCES "a, (b"(id) /* REFERENCES gone */ CHECK (z <> 0),\n'
        "  w TEXT CHECK (w <> 'x,y') REFERENCES gone(id) ON UPDATE SET DEFAULT COLLATE BINARY,\n"
        "  FOREIGN KEY (w) REFERENCES gone(id),\n"
        '  FOREIGN KEY (z) REFERENCES "a, (b"(id)\n'
        ")"
    )
    with sqlite3.connect(path) as conn:
        conn.executescript(f"CREATE TABLE gone (id INTEGER PRIMARY KEY);\n{sql};")
    schema = _build(path, {}, ["a, (b"])

    assert schema.before_load == [
        'CREATE TABLE IF NOT EXISTS "a, (b" (\n'
        "  id INTEGER PRIMARY KEY, -- REFERENCES gone(id), a comment\n"
        "  [x y] TEXT DEFAULT 'REFERENCES gone(id)' NOT NULL,\n"
        '  `z` INTEGER REFERENCES "a, (b"(id) /* REFERENCES gone */ CHECK (z <> 0),\n'
        "  w TEXT CHECK (w <> 'x,y') COLLATE BINARY,\n"
        '  FOREIGN KEY (z) REFERENCES "a, (b"(id)\n'
        ")"
    ]
    assert schema.left_out == [
        "foreign key a, (b.x y references gone, which is not copied",
        "foreign key a, (b.w references gone, which is not copied",
        "foreign key a, (b(w) references gone, which is not copied",
    ]
    with sqlite3.connect(tmp_path / "made.sqlite") as made:
        made.execute(schema.before_load[0])
        stored = made.execute("SELECT sql FROM sqlite_master WHERE name = 'a, (b'").fetchone()[0]
    assert "gone" not in stored.replace("REFERENCES gone(id), a comment", "").replace(
        "'REFERENCES gone(id)'", ""
    ).replace("/* REFERENCES gone */", "")


def test_a_foreign_key_to_a_dropped_parent_column_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "parent.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT UNIQUE);\n"
            "CREATE TABLE child (id INTEGER PRIMARY KEY REFERENCES parent(id), code TEXT REFERENCES parent (code),"
            " FOREIGN KEY (code) REFERENCES parent(code) ON DELETE CASCADE);"
        )
    schema = _build(path, {"parent": {"code"}}, ["parent", "child"])

    assert schema.before_load == [
        "CREATE TABLE IF NOT EXISTS parent (id INTEGER PRIMARY KEY)",
        "CREATE TABLE IF NOT EXISTS child (id INTEGER PRIMARY KEY REFERENCES parent(id), code TEXT)",
    ]
    assert schema.left_out == [
        "foreign key child.code references dropped column(s) parent.code",
        "foreign key child(code) references dropped column(s) parent.code",
    ]
