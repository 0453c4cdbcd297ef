"""SQLite spells the rows of a digest (stores/sql/sqlite_digest.py): its digests must be the ones
Python takes of the same rows, batch by batch, whatever the texts hold."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from migrator.stores.sql import sqlite_digest as module
from migrator.stores.sql.sqlite_digest import sqlite_digest
from migrator.stores.sql.typemap_digest import _NORMALISERS, canonical_rows, target_digest, target_kinds, target_query
from migrator.verify.digest import Digest


def _digests(path: Path, table_name: str) -> tuple[Digest | None, Digest]:
    """(spelled by SQLite, taken by Python) of a whole table's rows."""
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            table = sa.Table(table_name, sa.MetaData(), autoload_with=conn)
            query = sa.select(table)
            columns = [c.name for c in table.columns]
            return sqlite_digest(conn, query, columns), Digest.of(tuple(row) for row in conn.execute(query))
    finally:
        engine.dispose()


def test_texts_holding_newlines_are_digested_as_python_digests_them(tmp_path: Path, monkeypatch: Any) -> None:
    """A batch comes from SQLite a row per line; a text with a newline of its own makes more lines
    than rows, and that batch is read again as a JSON array. The other batches keep their lines."""
    monkeypatch.setattr(module, "BATCH", 100)
    path = tmp_path / "lines.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, n INTEGER)")
        rows = [(i, f"note {i}", i % 7 or None) for i in range(1, 351)]
        rows[150] = (151, "two\nlines", 3)  # the second batch
        rows[151] = (152, "\n", None)
        rows[320] = (321, "ends with a newline\n", 1)  # the fourth
        conn.executemany("INSERT INTO notes VALUES (?, ?, ?)", rows)
    spelled, expected = _digests(path, "notes")
    assert expected.rows == 350
    assert spelled == expected


def test_one_empty_text_is_a_row_of_its_own(tmp_path: Path) -> None:
    """A row whose spelling is empty is one line of nothing: hashed, not skipped."""
    path = tmp_path / "empty.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE words (w TEXT)")
        conn.execute("INSERT INTO words VALUES ('')")
    spelled, expected = _digests(path, "words")
    assert expected.rows == 1 and expected.checksum != f"{0:016x}"
    assert spelled == expected


# Texts of a DATETIME or DATE column as a run into SQLite writes them, and others: readable ones,
# and texts of the usual shape that are no date-time (not digits, a month 13, wider digits).
STAMPS = [
    "2021-01-01 00:00:00.000000",
    "2021-01-01 10:11:12.500000",
    "0001-02-03 04:05:06.000007",
    "2021-01-01 10:11:12",
    "2021-01-01T10:11:12",
    "2021-01-01 10:11",
    "2021-13-01 00:00:00.000000",
    "2021-13-01 00:00:00",
    "abcd-ef-gh ij:kl:mn.000000",
    "\uff12\uff10\uff12\uff11-01-01 00:00:00.000000",
    "2021-01-01 00:00:00.000000 ",
    "",
    None,
]
DAYS = ["2021-01-01", "0999-12-31", "2021-02-30", "\uff12\uff10\uff12\uff11-01-01", "2021-W01-1", "", None]


def test_the_type_maps_date_times_are_spelled_as_python_spells_them(tmp_path: Path) -> None:
    """The type map's canonical form of a SQLite DATETIME or DATE column (the instant or day a text
    names): SQLite spells the usual texts itself, Python the rest. Every text Python can read is
    spelled alike; a text it cannot read may be spelled otherwise, but never as a real value is."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'stamps.db'}")
    try:
        with engine.connect() as conn:
            for type_, texts in (("DATETIME", STAMPS), ("DATE", DAYS)):
                by_sqlite, by_python = {}, {}
                for number, text in enumerate(texts):
                    name = f"one_{type_}_{number}"
                    conn.exec_driver_sql(f"CREATE TABLE {name} (v {type_})")
                    conn.exec_driver_sql(f"INSERT INTO {name} VALUES (?)", (text,))
                    table = sa.Table(name, sa.MetaData(), autoload_with=conn)
                    normalisers = [_NORMALISERS.get(k) for k in target_kinds(table, ["v"], "sqlite")]
                    rows = conn.execute(target_query(table, ["v"], [], "sqlite")).all()
                    by_python[text] = Digest.of(canonical_rows(rows, normalisers))
                    by_sqlite[text] = target_digest(conn, table, ["v"])
                readable = [t for t in texts if _readable(t, day=type_ == "DATE")]
                assert 0 < len(readable) < len(texts)
                for text in texts:
                    if text in readable:
                        assert by_sqlite[text] == by_python[text], text
                    else:
                        assert by_sqlite[text] not in {by_python[r] for r in readable}, text
    finally:
        engine.dispose()


def _readable(text: str | None, *, day: bool) -> bool:
    if text is None:
        return True
    try:
        (dt.date if day else dt.datetime).fromisoformat(text)
    except ValueError:
        return False
    return True
