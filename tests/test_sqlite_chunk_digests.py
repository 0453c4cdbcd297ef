"""SQLite to SQLite digests a chunk at a time (method "sqlite-chunks", stores/sql/sqlite_digest.py):
the copy hashes each chunk's rows whole, in key order, and verification reads the target back between
the chunks' last keys. What it must still see: a changed, missing or extra row, a row whose key
compares with no bound (a NULL in a TEXT primary key), a changed spelling; what it must not see:
rows stored in another physical order. And the orphan count SQLite targets use (a LEFT JOIN)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from migrator.engine.results import TableDigest
from migrator.engine.run import run_plan
from migrator.engine.verify import tables_at_once, verify_plan
from migrator.plan.load import load_plan
from migrator.stores.sql.sqlite_digest import STORED_CHUNKS
from migrator.stores.sql.verify_sql import orphans

SCHEMA = """
CREATE TABLE owners (id INTEGER PRIMARY KEY, region TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE labels (code TEXT PRIMARY KEY, owner_id INTEGER NOT NULL REFERENCES owners(id), note TEXT, weight REAL);
"""


def _source(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA)
        conn.executemany(
            "INSERT INTO owners VALUES (?, ?, ?)", [(i, "eu" if i % 3 else "us", f"o{i}") for i in range(1, 31)]
        )
        # Inserted out of key order, so that the rowids are not the keys' order in any file.
        codes = sorted((f"c{(i * 37) % 101:03d}" for i in range(1, 101)), reverse=True)
        conn.executemany(
            "INSERT INTO labels VALUES (?, ?, ?, ?)",
            [(code, n % 30 + 1, f"note\n{n}" if n % 7 else None, n / 4) for n, code in enumerate(codes)],
        )


def _plan(folder: Path, source: Path, target: Path, chunk_rows: int = 6) -> Path:
    plan = folder / f"{target.stem}.yaml"
    plan.write_text(
        f"""version: 1
name: chunk-digests
source: {{database: "sqlite:///{source}"}}
target: {{database: "sqlite:///{target}", existing: fail}}
state: {folder / (target.stem + "-state")}
data:
  roots:
    owners: "region = 'eu'"
  dangling: drop
  unlisted: fail
  schema: create
  chunk_rows: {chunk_rows}
"""
    )
    return plan


def _copy(folder: Path, name: str, chunk_rows: int) -> tuple[Path, Path]:
    source = folder / "source.db"
    if not source.exists():
        _source(source)
    target = folder / f"{name}.db"
    plan = _plan(folder, source, target, chunk_rows)
    result = run_plan(load_plan(plan), environ={})
    assert result.status == "finished" and result.verification and result.verification["ok"]
    assert {t["method"] for t in result.verification["tables"].values()} == {STORED_CHUNKS}
    return plan, target


@pytest.fixture
def copied(tmp_path: Path) -> tuple[Path, Path]:
    plan, target = _copy(tmp_path, "target", 6)
    with sqlite3.connect(target) as conn:
        chunks = conn.execute("SELECT count(*) FROM _migrator_units WHERE unit LIKE 'table:labels:%'").fetchone()[0]
    assert chunks > 5  # many chunks, so that rows fall between bounds
    return plan, target


def _change(target: Path, *statements: str, parameters: tuple[Any, ...] = ()) -> None:
    with sqlite3.connect(target) as conn:
        for statement in statements:
            conn.execute(statement, parameters if "?" in statement else ())


def _failed(plan: Path) -> list[tuple[str, str, list[str]]]:
    verified = verify_plan(load_plan(plan), environ={})
    assert {t.method for t in verified.tables.values()} == {STORED_CHUNKS}
    return [(c.check, c.table, c.examples) for c in verified.checks if not c.ok]


@pytest.mark.parametrize("chunk_rows", [6, 1000])
def test_rows_stored_in_another_order_still_verify(tmp_path: Path, chunk_rows: int) -> None:
    """The chunks are read in key order, not in the file's: a row deleted and inserted again (a new
    rowid, at the end of the file) is the same row in the same chunk, whether the table is one
    chunk (read whole) or many (read between keys)."""
    plan, target = _copy(tmp_path, "reordered", chunk_rows)
    with sqlite3.connect(target) as conn:
        code, first_rowid = conn.execute("SELECT code, rowid FROM labels ORDER BY code LIMIT 1").fetchone()
        row = conn.execute("SELECT * FROM labels WHERE code = ?", (code,)).fetchone()
        conn.execute("DELETE FROM labels WHERE code = ?", (code,))
        conn.execute("INSERT INTO labels VALUES (?, ?, ?, ?)", row)
        assert conn.execute("SELECT rowid FROM labels WHERE code = ?", (code,)).fetchone()[0] != first_rowid
    verified = verify_plan(load_plan(plan), environ={})
    assert verified.ok
    # The digests themselves match: no walk was needed to find the rows the same.
    assert all("checksum" in c.detail for c in verified.checks if c.table == "labels" and c.check in ("I2", "I3"))


def test_a_changed_missing_or_extra_row_is_named(copied: tuple[Path, Path]) -> None:
    plan, target = copied
    with sqlite3.connect(target) as conn:
        codes = [r[0] for r in conn.execute("SELECT code FROM labels ORDER BY code")]
    changed, missing = codes[8], codes[20]
    _change(target, "UPDATE labels SET note = 'edited' WHERE code = ?", parameters=(changed,))
    _change(target, "DELETE FROM labels WHERE code = ?", parameters=(missing,))
    # An extra row between two chunks' last keys, and one past the last chunk's.
    between = codes[3] + "x"
    _change(target, "INSERT INTO labels VALUES (?, 1, 'extra', 1.5)", parameters=(between,))
    _change(target, "INSERT INTO labels VALUES ('zzz', 1, 'extra', 1.5)")
    failed = _failed(plan)
    assert [(check, table) for check, table, _ in failed] == [("I2", "labels"), ("I3", "labels")]
    assert sorted(failed[0][2]) == sorted([between, "zzz"])
    assert sorted(failed[1][2]) == sorted([f"missing {missing}", f"changed {changed}"])


def test_a_row_whose_key_compares_with_no_bound_is_counted(copied: tuple[Path, Path]) -> None:
    """A TEXT primary key may hold NULL in SQLite: such a row falls in no key range, and the table's
    own count tells that the rows are not the copy's."""
    plan, target = copied
    _change(target, "INSERT INTO labels VALUES (NULL, 1, 'no key', 2.5)")
    failed = _failed(plan)
    assert [table for _, table, _ in failed] and {table for _, table, _ in failed} == {"labels"}


def test_a_value_stored_otherwise_is_a_changed_value(copied: tuple[Path, Path]) -> None:
    """A TEXT become a BLOB of the same bytes: the same characters, stored otherwise."""
    plan, target = copied
    with sqlite3.connect(target) as conn:
        noted = "SELECT code FROM labels WHERE note IS NOT NULL ORDER BY code LIMIT 1 OFFSET 9"
        code = conn.execute(noted).fetchone()[0]
    _change(target, "UPDATE labels SET note = CAST(note AS BLOB) WHERE code = ?", parameters=(code,))
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT typeof(note) FROM labels WHERE code = ?", (code,)).fetchone()[0] == "blob"
    failed = _failed(plan)
    assert failed == [("I3", "labels", [f"changed {code}"])]


def test_a_receipt_needs_the_ledgers_chunk_bounds(copied: tuple[Path, Path], tmp_path: Path) -> None:
    plan, target = copied
    (receipt,) = (tmp_path / "target-state" / "receipts").glob("*.json")
    assert verify_plan(load_plan(plan), receipt=receipt).ok
    _change(target, "DROP TABLE _migrator_units", "DROP TABLE _migrator_runs", "DROP TABLE _migrator_manifests")
    gone = [c for c in verify_plan(load_plan(plan), receipt=receipt).checks if not c.ok]
    assert gone and all("ledger" in c.detail and "gone" in c.detail for c in gone)


def _orphans_by_hand(conn: sqlite3.Connection, child: str, column: str, parent: str, parent_column: str) -> int:
    parents = {r[0] for r in conn.execute(f"SELECT {parent_column} FROM {parent}")}
    references = [r[0] for r in conn.execute(f"SELECT {column} FROM {child}")]
    return sum(1 for value in references if value is not None and value not in parents)


def test_orphans_on_sqlite_count_each_row_without_a_parent_once(tmp_path: Path) -> None:
    """The LEFT JOIN counts a child row once whether it finds no parent, one, or several (a relation
    on a column that is not unique), skips NULL references, and follows a self-reference."""
    path = tmp_path / "refs.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE parents (id INTEGER PRIMARY KEY, code TEXT);
            CREATE TABLE children (id INTEGER PRIMARY KEY, parent_id INTEGER, code TEXT, up INTEGER);
            """
        )
        conn.executemany("INSERT INTO parents VALUES (?, ?)", [(i, f"p{i % 4}") for i in range(1, 9)])
        conn.executemany(
            "INSERT INTO children VALUES (?, ?, ?, ?)",
            [(i, i % 12 or None, f"p{i % 6}", (i + 5) % 40 or None) for i in range(1, 31)],
        )
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        parents, children = metadata.tables["parents"], metadata.tables["children"]
        with engine.connect() as conn, sqlite3.connect(path) as raw:
            for column, parent, parent_column in (
                ("parent_id", parents, "id"),
                ("code", parents, "code"),  # p0..p3 each on two parents; p4 and p5 on none
                ("up", children, "id"),
            ):
                found, examples = orphans(conn, children, [column], parent, [parent_column])
                expected = _orphans_by_hand(raw, "children", column, parent.name, parent_column)
                assert found == expected and found > 0, column
                assert len(examples) == min(found, 5)
    finally:
        engine.dispose()


def test_tables_are_checked_side_by_side_only_where_the_database_takes_every_digest(
    copied: tuple[Path, Path],
) -> None:
    """Against the run's record, `verify` takes the machine's cores' worth of tables at once where the
    target's database does the digests' work (SQLite spelling its chunks, PostgreSQL's COPY or sums),
    one at a time where any table's rows are hashed in Python (threads under the GIL only slow
    that down); `--workers` bounds it."""

    def digest(method: str) -> TableDigest:
        return TableDigest(1, "0" * 16, method, ["id"], ["id"])

    from_the_database = [digest(STORED_CHUNKS), digest("chunks"), digest("postgresql")]
    assert tables_at_once(from_the_database, 3) == 3
    assert tables_at_once(from_the_database, None) >= 1
    assert tables_at_once([*from_the_database, digest("typemap")], 3) == 1
    assert tables_at_once([digest("python")], None) == 1
    plan, _ = copied
    for workers in (None, 1, 2):
        verified = verify_plan(load_plan(plan), environ={}, workers=workers)
        assert verified.ok and {t.method for t in verified.tables.values()} == {STORED_CHUNKS}
