"""SQLite to SQLite inside SQLite: the subset moves by `INSERT ... SELECT`, never through Python rows.

Evaluating a table's subset (its kept sets, its recursive closures) is most of a copy: as long as
SQLite's own `INSERT ... SELECT` of the subset takes. It runs on one core, so the copy splits the
work between two. A `Stager` thread evaluates the subsets one table after the other, in load
order, each into a scratch file of its own (the rows in key order, by rowid); meanwhile the run's
thread copies the tables already staged, chunk by chunk: a reader connection has SQLite spell the
chunk's rows for the digest and Python hashes them whole, while the attaching connection inserts the
chunk before into the target, committed together with its ledger mark, as the row path does.

The attaching connection has an empty in-memory database as main, the source ATTACHed read-only
(a `file:...?mode=ro` URI), then the target. Unqualified names resolve to the database attached
first, so the plan's own fragments (`region_id = (SELECT id FROM regions ...)`) read the source, as
they do on the source connection; everything written names the target. A stager's connection has
its scratch file as main (which holds only `m__rows`) and the source attached.

Values move as SQLite stores them: each keeps its storage class and bytes (a TEXT in an INTEGER
column stays TEXT, a DATETIME's text is not re-parsed), which the row path, through SQLAlchemy's
types, would not promise. So the chunk's digest is of the stored values too (`stored_spelling` in
sqlite_digest.py: method "sqlite-chunks", each chunk's rows in key order hashed whole), and
verification reads the target the same way, chunk by chunk between the recorded last keys: it sees a
value whose spelling changed, not only one whose meaning did.

Wherever both sides are SQLite files (see `attach_copy_applies`), with no upsert and a key to cut
chunks by. Column transforms are functions SQLite calls on the stored values as it stages them.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from migrator.errors import PermanentError
from migrator.stores.sql import ledger
from migrator.stores.sql.literal import literal_sql
from migrator.stores.sql.sqlite_digest import STORED_CHUNKS, chunk_hash, register, stored_lines, stored_spelling

SOURCE, TARGET, STAGE = "m__src", "m__dst", "m__stage"  # the attachments' names: see the docstring
ROWS = "m__rows"
SCRATCH_PAGE = 65_536
AHEAD = 2  # tables staged and not yet copied, at most: each is a scratch file as large as its subset

# While inside, a Ctrl-C reaches the connection through the function given (engine/interrupt.py).
Guard = Callable[[Callable[[], None]], AbstractContextManager[Any]]


def attach_copy_applies(
    source: Connection,
    target: Connection,
    statement: sa.Select,  # type: ignore[type-arg]
    table: sa.Table,
    written: list[str],
    key: tuple[str, ...],
) -> bool:
    """Both sides are SQLite files, the source holds still, and the rows go in as they come out."""
    if source.dialect.name != "sqlite" or target.dialect.name != "sqlite":
        return False
    if _file(source) is None or _file(target) is None or not key or not set(key) <= set(written):
        return False
    # The run's snapshot is the source connection's read transaction: in rollback-journal mode its
    # shared lock keeps every writer out until the run ends, so another connection reads the same
    # rows. In WAL mode a writer may commit meanwhile, and the copying connection, whose reads end
    # with each table, could read rows that the run's snapshot does not hold.
    raw: Any = source.connection.driver_connection
    if str(raw.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return False
    selected = {c.name for c in statement.selected_columns}
    return all(c in selected and c in table.c for c in written)


def _file(conn: Connection) -> str | None:
    """The file of the connection's main database (none for an in-memory or temporary one)."""
    raw: Any = conn.connection.driver_connection  # no SQLAlchemy transaction begins for a look
    files = {name: path for _, name, path in raw.execute("PRAGMA database_list")}
    return files.get("main") or None


def source_file(conn: Connection) -> str:
    path = _file(conn)
    assert path, "attach_copy_applies admits files only"
    return path


@dataclass
class Unit:
    """A chunk committed in the target with its ledger mark."""

    rows: int
    last_key: tuple[Any, ...]
    checksum: str


@dataclass(frozen=True)
class StageJob:
    """A table's subset to stage: `statement` selects it in key order; `written` its columns;
    `values` the column transforms, each a function of a column's stored value, which SQLite calls
    as it stages the rows (the other columns move untouched)."""

    name: str
    statement: sa.Select  # type: ignore[type-arg]
    written: list[str]
    values: dict[str, Callable[[Any], Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Staged:
    """A table's subset in a scratch file, `rows` rows in key order as rowids 1..rows."""

    name: str
    path: str
    rows: int
    written: list[str]


class Stager:
    """Stages the jobs' subsets on a thread of its own, in the order given, at most AHEAD of the
    tables taken; `take` waits for a table's and raises its error, if staging it failed."""

    def __init__(self, source_path: str, jobs: list[StageJob], guard: Guard, scratch: Path) -> None:
        self._source = source_path
        self._guard = guard
        self._folder = _scratch_folder(scratch)
        self._pending = list(jobs)
        self._futures: dict[str, Future[Staged]] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="migrator-stage")
        self._cancels: list[Callable[[], None]] = []
        self._closed = False
        for _ in range(AHEAD):
            self._submit_next()

    def __contains__(self, name: str) -> bool:
        return name in self._futures or any(job.name == name for job in self._pending)

    def take(self, name: str) -> Staged:
        while name not in self._futures:
            if not self._submit_next():
                raise KeyError(name)
        staged = self._futures.pop(name).result()
        self._submit_next()
        return staged

    def done_with(self, staged: Staged) -> None:
        """The table is copied: its scratch file goes."""
        with suppress(FileNotFoundError):
            os.remove(staged.path)

    def close(self) -> None:
        """Stop the staging in flight (a Ctrl-C's cancel does it), wait for it, delete every file."""
        self._closed = True
        self._pending.clear()
        for cancel in list(self._cancels):
            cancel()
        for future in self._futures.values():
            future.cancel()
        self._pool.shutdown(wait=True)
        shutil.rmtree(self._folder, ignore_errors=True)
        with suppress(OSError):  # the scratch folder itself, once no run has files there
            os.rmdir(os.path.dirname(self._folder))

    def _submit_next(self) -> bool:
        if not self._pending or self._closed:
            return False
        job = self._pending.pop(0)
        path = os.path.join(self._folder, f"{len(self._futures)}-{job.name}.db")
        self._futures[job.name] = self._pool.submit(self._stage, job, path)
        return True

    def _stage(self, job: StageJob, path: str) -> Staged:
        with _connection(path, {SOURCE: _read_only(self._source)}) as conn:
            raw: Any = conn.connection.driver_connection
            self._cancels.append(raw.interrupt)
            try:
                if self._closed:
                    raise PermanentError("staging stopped")
                quoted = conn.dialect.identifier_preparer.quote
                wanted = with_values(raw, job.statement, job.written, job.values)
                run = conn.exec_driver_sql  # errors then come as SQLAlchemy's, which the caller classifies
                # No declared types: the values are kept exactly as the source holds them.
                run(f"CREATE TABLE {ROWS} ({', '.join(quoted(c.name) for c in wanted.selected_columns)})")
                with self._guard(raw.interrupt):
                    run("BEGIN")
                    run(f"INSERT INTO {ROWS} {literal_sql(wanted, conn.dialect)}")
                    run("COMMIT")
                rows = run(f"SELECT max(rowid) FROM {ROWS}").scalar() or 0
                return Staged(job.name, path, int(rows), list(job.written))
            finally:
                self._cancels.remove(raw.interrupt)


def _scratch_folder(scratch: Path) -> str:
    """A folder of this process's own under `scratch` (the run's state folder): the staged rows are
    the source's data, so they stay where the run keeps its files, readable by their owner only, and
    what a killed run left there (its process gone) is deleted by the next."""
    scratch.mkdir(parents=True, exist_ok=True)
    for left in scratch.glob("stage-*"):
        pid = left.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(left, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"stage-{os.getpid()}-", dir=scratch)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def with_values(
    conn: Connection | Any,
    statement: sa.Select,  # type: ignore[type-arg]
    written: list[str],
    values: Mapping[str, Callable[[Any], Any]],
) -> sa.Select:  # type: ignore[type-arg]
    """`statement`'s written columns, each column that has a transform in `values` passed through
    it, as a function registered on the SQLite connection `conn` (a SQLAlchemy connection or a
    sqlite3 one): SQLite calls it on each stored value."""
    raw: Any = conn.connection.driver_connection if isinstance(conn, Connection) else conn
    selected = []
    for column in statement.selected_columns:
        if column.name not in written:
            continue
        value_of = values.get(column.name)
        if value_of is None:
            selected.append(column)
            continue
        function = f"m__value_{len(selected)}"
        raw.create_function(function, 1, value_of, deterministic=True)
        selected.append(getattr(sa.func, function)(column).label(column.name))
    return statement.with_only_columns(*selected)


@contextmanager
def _connection(main: str, attach: dict[str, str], lock_timeout: float = 60.0) -> Iterator[Connection]:
    """A SQLAlchemy connection on one sqlite3 connection: `main` (a file, or ":memory:") and the
    `attach`ed databases (name: URI), each checked to be the file meant."""
    raw = sqlite3.connect(main, timeout=lock_timeout, isolation_level=None, check_same_thread=False, uri=False)
    try:
        if main != ":memory:":
            raw.execute("PRAGMA journal_mode = OFF")  # a scratch file: a failure throws it away
            raw.execute("PRAGMA synchronous = OFF")
            raw.execute(f"PRAGMA page_size = {SCRATCH_PAGE}")  # fewer, larger writes
        for name, uri in attach.items():
            raw.execute(f"ATTACH DATABASE ? AS {name}", (uri,))
        files = {name: path for _, name, path in raw.execute("PRAGMA database_list")}
        for name, uri in attach.items():
            wanted = _path_of(uri)
            if files.get(name) != wanted:  # a build without URI names would open a file named "file:..."
                raise PermanentError(f"SQLite did not open {wanted} by its URI: {files.get(name)}")
        register(raw)
        engine = sa.create_engine("sqlite://", creator=lambda: raw, poolclass=sa.pool.StaticPool)
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()
    finally:
        raw.close()


def _read_only(path: str) -> str:
    return f"file:{quote(path)}?mode=ro"


def _path_of(uri: str) -> str:
    return unquote(uri.removeprefix("file:").split("?", 1)[0]) if uri.startswith("file:") else uri


@contextmanager
def attached(source: Connection, target: Connection, staged: Staged) -> Iterator[Connection]:
    """The copying connection: memory as main, the source (read-only), the target and the table's
    scratch file (read-only) attached. Statements SQLAlchemy compiles for tables without a schema
    (the ledger's) go to the target."""
    source_path, target_path = _file(source), _file(target)
    assert source_path and target_path
    attach = {SOURCE: _read_only(source_path), TARGET: target_path, STAGE: _read_only(staged.path)}
    with _connection(":memory:", attach) as conn:
        yield conn.execution_options(schema_translate_map={None: TARGET})


def copy_staged(
    conn: Connection,
    staged: Staged,
    table: sa.Table,
    key: tuple[str, ...],
    chunk_rows: int,
    mark: Any,
    guard: Guard,
) -> Generator[Unit, None, None]:
    """Copy the staged rows into `table` of the target, `chunk_rows` at a time, each chunk
    committed with `mark(conn, rows, last_key, checksum)` (the ledger's claim and mark, False when
    the unit was committed already: then skipped) in its transaction.

    The chunks' digests are taken on a reader connection of their own, one chunk ahead: SQLite
    spells the rows (without the GIL) and Python hashes the chunk while the chunk before is written."""
    quoted = conn.dialect.identifier_preparer.quote
    names = ", ".join(quoted(c) for c in staged.written)
    run = conn.exec_driver_sql  # errors then come as SQLAlchemy's, which the caller classifies
    target = f"{TARGET}.{quoted(table.name)}"
    bounds = [(start, min(start + chunk_rows, staged.rows)) for start in range(0, staged.rows, chunk_rows)]
    if not bounds:
        return
    with (
        _connection(":memory:", {STAGE: _read_only(staged.path)}) as reader_conn,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="migrator-digest") as reader,
    ):
        raw_reader: Any = reader_conn.connection.driver_connection
        row_text = stored_spelling(quoted(c) for c in staged.written)
        keys = ", ".join(quoted(k) for k in key)

        def digest(start: int, end: int) -> tuple[tuple[Any, ...], str]:
            within = f"rowid > {start} AND rowid <= {end}"
            read = reader_conn.exec_driver_sql
            lines = read(f"SELECT {stored_lines(row_text)} FROM {STAGE}.{ROWS} WHERE {within}").scalar_one()
            last_key = tuple(read(f"SELECT {keys} FROM {STAGE}.{ROWS} WHERE rowid = {end}").one())
            # The chunk's rows are in key order (the staged rowids): hashed whole, as verification
            # reads them back from the target, between the chunks' last keys.
            return last_key, f"{STORED_CHUNKS}:{chunk_hash(lines):016x}"

        with guard(raw_reader.interrupt):
            ahead = reader.submit(digest, *bounds[0])
            for number, (start, end) in enumerate(bounds):
                last_key, checksum = ahead.result()
                if number + 1 < len(bounds):
                    ahead = reader.submit(digest, *bounds[number + 1])  # while this chunk is written
                run("BEGIN IMMEDIATE")
                try:
                    # The claim first (the ledger's fence and row): a unit already committed is skipped.
                    if not mark(conn, end - start, last_key, checksum):
                        run("ROLLBACK")
                        continue
                    within = f"rowid > {start} AND rowid <= {end}"
                    run(f"INSERT INTO {target} ({names}) SELECT {names} FROM {STAGE}.{ROWS} WHERE {within}")
                    run("COMMIT")
                except BaseException:
                    if conn.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
                        run("ROLLBACK")
                    raise
                yield Unit(end - start, last_key, checksum)


def ledger_mark(plan: str, run_id: str, table: str, first_chunk: int) -> Any:
    """`mark` for `copy_staged`: the ledger's unit "table:NAME:N", N counting on from `first_chunk`."""
    chunk = first_chunk

    def mark(conn: Connection, rows: int, last_key: tuple[Any, ...], checksum: str) -> bool:
        nonlocal chunk
        unit = f"table:{table}:{chunk}"
        chunk += 1
        if not ledger.claimed(conn, plan, run_id, unit, rows, last_key):
            return False
        ledger.settle(conn, plan, unit, checksum)  # known before the rows: the whole mark at once
        return True

    return mark
