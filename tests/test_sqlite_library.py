"""SQLite's memory statistics off for the CLI's process (migrator/stores/sql/sqlite_library.py):
without them SQLite counts nothing in `sqlite3_memory_used`, which is how the tests see that the
setting took, in interpreters of their own (this test process started SQLite long ago)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from migrator.engine.results import TableDigest
from migrator.engine.verify import tables_at_once
from migrator.stores.sql import sqlite_library
from migrator.stores.sql.sqlite_digest import STORED_CHUNKS
from tests.entry_probe import run_entry

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="turned off on Linux only")

REPO_ROOT = Path(__file__).resolve().parent.parent
# SQLite's own count of the memory it holds, read through the library the driver uses.
MEMORY_USED = "__import__('ctypes').CDLL(__import__('_sqlite3').__file__).sqlite3_memory_used()"


def _probe(first: str) -> str:
    code = (
        f"{first}\n"
        "import sqlite3\n"
        "db = sqlite3.connect(':memory:')\n"
        "db.execute('CREATE TABLE t (x)')\n"
        "db.executemany('INSERT INTO t VALUES (?)', [(str(n) * 50,) for n in range(2000)])\n"
        f"print({MEMORY_USED})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True, timeout=60
    )
    return done.stdout.strip()


def test_sqlite_counts_no_memory_once_the_statistics_are_off() -> None:
    on = _probe("")
    off = _probe(
        "from migrator.stores.sql.sqlite_library import without_memory_statistics\nassert without_memory_statistics()"
    )
    assert int(on) > 100_000 and int(off) == 0, (on, off)


def test_too_late_once_the_driver_started_sqlite() -> None:
    # This process imported sqlite3 long ago: SQLite has started, and the setting is not made.
    assert "_sqlite3" in sys.modules
    assert sqlite_library.without_memory_statistics() is False


def test_the_cli_turns_them_off_before_anything_starts_sqlite(tmp_path: Path) -> None:
    source = tmp_path / "s.db"
    with sqlite3.connect(source) as db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)")
        db.executemany("INSERT INTO t (x) VALUES (?)", [(str(n) * 50,) for n in range(2000)])
    db.close()
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        f"version: 1\nname: probe\nsource:\n  database: sqlite:///{source}\n"
        f"target:\n  database: sqlite:///{tmp_path / 't.db'}\nstate: {tmp_path / 'state'}\n"
        "data:\n  tables:\n    t: all\n",
        encoding="utf-8",
    )
    apart = "__import__('migrator.stores.sql.sqlite_library').stores.sql.sqlite_library.threads_run_apart()"
    done = run_entry(["plan", str(plan)], {}, report=f"'memory used:', {MEMORY_USED}, {apart}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2,000" in done.stdout  # the dry run read the source through SQLite
    assert done.stdout.strip().endswith("memory used: 0 True"), done.stdout + done.stderr


def test_type_map_digests_on_sqlite_are_taken_side_by_side_only_without_the_statistics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def digest(method: str) -> TableDigest:
        return TableDigest(1, "0" * 16, method, ["id"], ["id"])

    mixed = [digest(STORED_CHUNKS), digest("typemap")]
    monkeypatch.setattr(sqlite_library, "_off", False)
    assert tables_at_once(mixed, 3, "sqlite") == 1
    monkeypatch.setattr(sqlite_library, "_off", True)
    assert tables_at_once(mixed, 3, "sqlite") == 3
    assert tables_at_once(mixed, 3, "postgresql") == 1  # rows hashed in Python there
