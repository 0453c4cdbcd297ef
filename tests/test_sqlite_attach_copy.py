"""SQLite to SQLite inside SQLite (stores/sql/sqlite_attach.py): the same target, ledger and digests
as the row path, for values whose canonical spelling is not SQLite's own (reals, blobs, NULLs,
separators in text), nulled references, and a DATETIME column, which must take the row path."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import migrator.engine.copy as copy_module
from migrator.engine.run import run_plan
from migrator.engine.verify import verify_plan
from migrator.plan.load import load_plan
from migrator.stores.sql.sqlite_digest import sqlite_digest
from migrator.verify.digest import Digest

SCHEMA = """
CREATE TABLE owners (id INTEGER PRIMARY KEY, region TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES owners(id),
    helper_id INTEGER REFERENCES owners(id),
    label TEXT,
    price REAL,
    payload BLOB,
    anything TEXT
);
CREATE TABLE stamped (id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL REFERENCES owners(id), at DATETIME);
"""
ODD_VALUES: list[Any] = [None, 0, -7, 2**62, 1.0, 2.5, -0.1, 1e300, "x\x1fy", "é ☃", b"\x00\xff", "", "0010", "a\x00b"]
PRICES: list[Any] = [None, 0, 3, 1.0, 2.5, -0.1, 1e300, 1e-7, 123456789.125]


def _source(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA)
        conn.executemany(
            "INSERT INTO owners VALUES (?, ?, ?)", [(i, "eu" if i % 3 else "us", f"o{i}") for i in range(1, 31)]
        )
        rows = []
        for i in range(1, 200):
            odd = ODD_VALUES[i % len(ODD_VALUES)]
            price = PRICES[i % len(PRICES)] if i % 2 else float(i) / 4
            payload = bytes([i % 256, 0, 255]) if i % 5 else None
            rows.append(
                (i, i % 30 + 1, (i * 11) % 30 + 1 if i % 4 else None, f"label {i} {odd!s}", price, payload, odd)
            )
        conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        conn.executemany(
            "INSERT INTO stamped VALUES (?, ?, ?)",
            [(i, i % 30 + 1, f"2024-01-0{i % 9 + 1} 10:00:00") for i in range(1, 50)],
        )


def _plan(folder: Path, source: Path, target: Path) -> Path:
    plan = folder / f"{target.stem}.yaml"
    plan.write_text(
        f"""version: 1
name: odd-values
source: {{database: "sqlite:///{source}"}}
target: {{database: "sqlite:///{target}", existing: fail}}
state: {folder / (target.stem + "-state")}
data:
  roots:
    owners: "region = 'eu'"
  relations:
    - {{from: items.helper_id, to: owners.id, dangling: nullify}}
  dangling: drop
  unlisted: fail
  schema: create
  chunk_rows: 7
"""
    )
    return plan


def _ledger(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT unit, rows, last_key, checksum FROM _migrator_units ORDER BY unit COLLATE BINARY"
        ).fetchall()


def _rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        typed = ", ".join(f"{c}, typeof({c})" for c in columns)
        return conn.execute(f"SELECT {typed} FROM {table} ORDER BY id").fetchall()


def test_attached_copy_keeps_every_value_as_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside SQLite every value arrives with its storage class and bytes, a DATETIME's text
    included, which the row path (through SQLAlchemy's types) would re-spell; the chunks are the
    row path's, and their digests are of the stored values, hashed a chunk at a time (method
    "sqlite-chunks")."""
    source = tmp_path / "source.db"
    _source(source)
    fast, rows = tmp_path / "fast.db", tmp_path / "rows.db"

    copied_inside_sqlite: list[str] = []
    real_copy_staged = copy_module.copy_staged

    def spied(conn, staged, table, *args, **kwargs):  # type: ignore[no-untyped-def]
        copied_inside_sqlite.append(table.name)
        return real_copy_staged(conn, staged, table, *args, **kwargs)

    monkeypatch.setattr(copy_module, "copy_staged", spied)
    result = run_plan(load_plan(_plan(tmp_path, source, fast)), environ={})
    assert result.status == "finished" and result.verification and result.verification["ok"]
    assert sorted(copied_inside_sqlite) == ["items", "owners", "stamped"]

    monkeypatch.setattr(copy_module, "attach_copy_applies", lambda *args: False)
    copied_inside_sqlite.clear()
    result = run_plan(load_plan(_plan(tmp_path, source, rows)), environ={})
    assert result.status == "finished" and copied_inside_sqlite == []

    fast_units, row_units = _ledger(fast), _ledger(rows)
    assert len([u for u in fast_units if u[0].startswith("table:items:")]) > 5  # many chunks, not one
    assert [u[:3] for u in fast_units] == [u[:3] for u in row_units]  # the same chunks, ending at the same keys
    assert all(u[3].startswith("sqlite-chunks:") for u in fast_units if u[0].startswith("table:"))
    for table in ("owners", "items"):
        assert _rows(fast, table) == _rows(rows, table)
    with sqlite3.connect(source) as conn:
        stamps = dict(
            conn.execute("SELECT id, at FROM stamped WHERE owner_id IN (SELECT id FROM owners WHERE region = 'eu')")
        )
    kept = dict((row[0], row[4]) for row in _rows(fast, "stamped"))
    assert kept == stamps  # "2024-01-01 10:00:00", not the row path's "2024-01-01 10:00:00.000000"
    assert all(at.endswith(".000000") for _, _, _, _, at, _ in _rows(rows, "stamped"))
    with sqlite3.connect(fast) as conn:
        nulled = conn.execute("SELECT count(*) FROM items WHERE helper_id IS NULL").fetchone()[0]
    assert nulled > 0


def test_attached_copy_resumes_after_the_last_committed_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run stopped by a failure after some chunks continues where the ledger says, inside SQLite."""
    source = tmp_path / "source.db"
    _source(source)
    target = tmp_path / "resumed.db"
    plan = _plan(tmp_path, source, target)
    real_copy_staged = copy_module.copy_staged

    def failing_after_three(*args, **kwargs):  # type: ignore[no-untyped-def]
        for number, unit in enumerate(real_copy_staged(*args, **kwargs)):
            if number == 3:
                raise KeyboardInterrupt  # not retried: the run stops here, three chunks committed
            yield unit

    monkeypatch.setattr(copy_module, "copy_staged", failing_after_three)
    with pytest.raises(KeyboardInterrupt):
        run_plan(load_plan(plan), environ={})
    committed = _ledger(target)
    assert 0 < len(committed) < 10
    monkeypatch.setattr(copy_module, "copy_staged", real_copy_staged)
    result = run_plan(load_plan(plan), environ={})
    assert result.status == "resumed-and-finished" and result.verification and result.verification["ok"]

    clean = tmp_path / "clean.db"
    uninterrupted = run_plan(load_plan(_plan(tmp_path, source, clean)), environ={})
    # The resumed table's row count is the table's, not only what this run added.
    assert {t.table: t.rows for t in result.tables} == {t.table: t.rows for t in uninterrupted.tables}
    for table in ("owners", "items", "stamped"):
        assert _rows(target, table) == _rows(clean, table)
    assert [u[1:] for u in _ledger(target)] == [u[1:] for u in _ledger(clean)]


def test_scratch_files_go_with_the_run_that_made_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The subsets staged ahead of their copy are scratch files in the run's state folder: none is
    left behind, whether the run finishes or stops part-way while the next table is being staged;
    what a killed run left there (its process gone) goes with the next run."""
    source = tmp_path / "source.db"
    _source(source)
    plan = _plan(tmp_path, source, tmp_path / "stopped.db")
    scratch = load_plan(plan).state_dir / "scratch"
    killed = scratch / "stage-999999999-abc"  # no such process
    killed.mkdir(parents=True)
    (killed / "0-owners.db").write_bytes(b"rows of a run that was killed")
    real_copy_staged = copy_module.copy_staged
    seen: list[list[str]] = []

    def stopping_in_items(conn, staged, table, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(sorted(p.name for p in scratch.rglob("*.db")))
        for number, unit in enumerate(real_copy_staged(conn, staged, table, *args, **kwargs)):
            if table.name == "items" and number == 2:
                raise KeyboardInterrupt
            yield unit

    monkeypatch.setattr(copy_module, "copy_staged", stopping_in_items)
    with pytest.raises(KeyboardInterrupt):
        run_plan(load_plan(plan), environ={})
    # Each subset staged in a file of its own, gone once its table is copied; the killed run's too.
    assert "0-owners.db" in seen[0] and "1-items.db" in seen[1] and "0-owners.db" not in seen[1]
    assert not scratch.exists()

    monkeypatch.setattr(copy_module, "copy_staged", real_copy_staged)
    result = run_plan(load_plan(plan), environ={})
    assert result.status == "resumed-and-finished" and result.verification and result.verification["ok"]
    assert not scratch.exists()


def test_digest_spelled_by_sqlite_is_the_python_digest(tmp_path: Path) -> None:
    """Verification hashes SQLite rows as SQLite spells them; the digest must be `Digest.of` the
    rows as Python reads them, or a run's digests would not compare with a verification's."""
    path = tmp_path / "odd.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE odd (a, b TEXT, c REAL, d BLOB, e INTEGER)")
        prices = (PRICES * 2)[: len(ODD_VALUES)]
        rows = [
            (v, v, w, b"\x01\x00" if i % 2 else None, i)
            for i, (v, w) in enumerate(zip(ODD_VALUES, prices, strict=True))
        ]
        conn.executemany("INSERT INTO odd VALUES (?, ?, ?, ?, ?)", rows)
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            table = sa.Table("odd", sa.MetaData(), autoload_with=conn)
            query = sa.select(table)
            columns = [c.name for c in table.columns]
            expected = Digest.of(tuple(row) for row in conn.execute(query))
            assert expected.rows == len(ODD_VALUES)
            assert sqlite_digest(conn, query, columns) == expected
    finally:
        engine.dispose()


TYPED_ROWS: list[tuple[Any, ...]] = [
    ("2021-01-01 00:00:00.000000", "2021-01-01", 1, 1.5, '{"b": 1, "a": [1, 2]}'),
    ("2021-01-01 00:00:00", "0999-12-31", 0, "1.50", "[]"),
    ("2021-01-01 10:11:12.500000", None, None, 3, None),
    ("0001-02-03 04:05:06.000007", "2024-02-29", 1, None, '"x"'),
    ("2021-01-01T10:11:12", "2021-W01-1", 1, -0.25, "null"),  # not SQLAlchemy's own spelling
    (None, None, 0, 10, "1"),
]


def test_digest_of_converted_types_is_the_python_digest(tmp_path: Path) -> None:
    """Columns whose values SQLAlchemy converts (DATETIME, DATE, BOOLEAN, NUMERIC, JSON) are spelled
    as the converted value would be: by SQLite for the common stored forms, through the column's
    own result processor otherwise. Read whole (a table, on two threads) or through a query."""
    path = tmp_path / "typed.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE typed (id INTEGER PRIMARY KEY, at DATETIME, day DATE, yes BOOLEAN, n NUMERIC, j JSON)"
        )
        conn.executemany("INSERT INTO typed (at, day, yes, n, j) VALUES (?, ?, ?, ?, ?)", TYPED_ROWS * 3)
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            table = sa.Table("typed", sa.MetaData(), autoload_with=conn)
            whole = sa.select(table)
            filtered = whole.where(sa.text("id > 2"))  # no bound parameter: a query SQLite spells
            for query in (whole, filtered):
                columns = [c.name for c in query.selected_columns]
                expected = Digest.of(tuple(row) for row in conn.execute(query))
                assert expected.rows in (18, 16)
                assert sqlite_digest(conn, query, columns) == expected
    finally:
        engine.dispose()


def test_verify_sees_a_value_spelled_otherwise(tmp_path: Path) -> None:
    """A DATETIME's text re-spelled in the target (`2024-01-01 10:00:00` → `...10:00:00.000000`, the
    same instant to SQLAlchemy) is a changed value: verify fails, naming the table and the key,
    whether it compares with what the run read or with the source as it is now."""
    source = tmp_path / "source.db"
    _source(source)
    target = tmp_path / "respelled.db"
    plan = _plan(tmp_path, source, target)
    result = run_plan(load_plan(plan), environ={})
    assert result.status == "finished" and result.verification and result.verification["ok"]
    with sqlite3.connect(target) as conn:
        first = conn.execute("SELECT min(id) FROM stamped").fetchone()[0]
        conn.execute("UPDATE stamped SET at = at || '.000000' WHERE id = ?", (first,))
    for against_source in (False, True):
        verified = verify_plan(load_plan(plan), against_source=against_source)
        failed = [c for c in verified.checks if not c.ok]
        assert [(c.check, c.table) for c in failed] == [("I3", "stamped")], against_source
        assert failed[0].examples == [f"changed {first}"], against_source


def test_column_transforms_run_inside_sqlite_and_leave_the_other_values_as_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mask, hash, nullify, const and drop are applied by SQLite as it stages the rows, with the
    same results as the row path; the columns without a rule keep their stored values (the
    DATETIME text included), and the run's own verification holds."""
    source = tmp_path / "source.db"
    _source(source)

    def plan_for(target: Path) -> Path:
        plan = _plan(tmp_path, source, target)
        text = plan.read_text().replace(
            "  dangling: drop\n",
            """  tables:
    items:
      columns:
        label: mask
        anything: hash
        price: nullify
    owners:
      columns:
        name: {const: "gone"}
  dangling: drop
""",
        )
        plan.write_text(text)
        return plan

    environ = {"MIGRATOR_HASH_KEY": "attach-transform-key"}
    inside = tmp_path / "inside.db"
    result = run_plan(load_plan(plan_for(inside)), environ=environ)
    assert result.status == "finished" and result.verification and result.verification["ok"]
    monkeypatch.setattr(copy_module, "attach_copy_applies", lambda *args: False)
    rows = tmp_path / "rows.db"
    assert run_plan(load_plan(plan_for(rows)), environ=environ).status == "finished"

    assert _rows(inside, "items") == _rows(rows, "items")
    assert _rows(inside, "owners") == _rows(rows, "owners")
    with sqlite3.connect(inside) as conn:
        labels = [r[0] for r in conn.execute("SELECT label FROM items WHERE label IS NOT NULL LIMIT 3")]
        assert labels and all(set(label) <= set("x0 XéЖ☃\x1f\x00-.,+") for label in labels)
        assert conn.execute("SELECT count(*) FROM items WHERE price IS NOT NULL").fetchone()[0] == 0
        assert {r[0] for r in conn.execute("SELECT name FROM owners")} == {"gone"}
        stamped = conn.execute("SELECT at FROM stamped ORDER BY id").fetchall()
    with sqlite3.connect(source) as conn:
        region_eu = "SELECT id FROM owners WHERE region = 'eu'"
        kept = conn.execute(f"SELECT at FROM stamped WHERE owner_id IN ({region_eu}) ORDER BY id").fetchall()
    assert stamped == kept  # not re-spelled: "2024-01-01 10:00:00", as the source stores it
    assert verify_plan(load_plan(plan_for(inside)), environ=environ).ok
    assert verify_plan(load_plan(plan_for(inside)), environ=environ, against_source=True).ok


@pytest.mark.parametrize(
    ("one", "other"),
    [(5, "5"), (5, 5.0), ("5", 5.0), (b"a", "a"), ("a\x00b", "a\x00c"), (0.1 + 0.2, 0.3), ("", None), ("[1]", b"[1]")],
)
def test_the_stored_digest_tells_storage_classes_and_bytes_apart(tmp_path: Path, one: Any, other: Any) -> None:
    """Values that SQLite stores differently never digest alike: another storage class, another
    byte after a NUL, another double (0.1 + 0.2 is not 0.3)."""
    digests = []
    for number, value in enumerate((one, other, one)):
        path = tmp_path / f"{number}.db"
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v)")
            conn.execute("INSERT INTO t VALUES (1, ?)", (value,))
        engine = sa.create_engine(f"sqlite:///{path}")
        with engine.connect() as conn:
            table = sa.Table("t", sa.MetaData(), autoload_with=conn)
            digests.append(sqlite_digest(conn, sa.select(table), ["id", "v"], stored=True))
        engine.dispose()
    assert digests[0] == digests[2] and digests[0] != digests[1]


def test_digest_of_a_single_integer_column(tmp_path: Path) -> None:
    """A row of one INTEGER column is spelled as text too, read whole or through a query."""
    path = tmp_path / "one.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE one (id INTEGER PRIMARY KEY)")
        conn.executemany("INSERT INTO one VALUES (?)", [(n,) for n in (1, 2, 2**62)])
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            table = sa.Table("one", sa.MetaData(), autoload_with=conn)
            expected = Digest.of(tuple(row) for row in conn.execute(sa.select(table)))
            for query in (sa.select(table), sa.select(table).where(sa.text("id > 0"))):
                assert sqlite_digest(conn, query, ["id"]) == expected
    finally:
        engine.dispose()
