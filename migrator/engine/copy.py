"""Copying one table: its subset streamed from the source in key order, written chunk by chunk,
each chunk committed in the target together with its checkpoint (SPEC §5)."""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from migrator.engine.interrupt import StopFlag
from migrator.engine.observer import Observer
from migrator.engine.prefetch import prefetched
from migrator.engine.prepare import Prepared
from migrator.engine.ranges import CHUNK_STRIDE, KeyRange, ranges_of
from migrator.engine.results import TableCopy
from migrator.engine.target import Target
from migrator.engine.trail import RunTrail
from migrator.engine.transforms import RowTransform
from migrator.engine.unit_commit import commit_once
from migrator.errors import PermanentError
from migrator.stores.sql import ledger
from migrator.stores.sql.cancel import canceller
from migrator.stores.sql.errors import guarded, guarded_iter
from migrator.stores.sql.pgbinary import binary_types, copy_out_binary_chunks
from migrator.stores.sql.pgcopy import (
    CopyChunk,
    chunk_digest,
    copy_in,
    copy_out_chunks,
    copy_out_text,
    is_pg_to_pg,
    key_from,
    key_parser,
    key_range,
    without_fields,
)
from migrator.stores.sql.pgtext import ChunkParser, ParsedChunk, is_pg_to_sqlite, readers_for, sqlite_has_json
from migrator.stores.sql.range_lookups import RangeRead
from migrator.stores.sql.snapshot import estimate_rows, plain_batches, stream, table_sizes
from migrator.stores.sql.sqlite_attach import (
    StageJob,
    Stager,
    attach_copy_applies,
    attached,
    copy_staged,
    ledger_mark,
    source_file,
)
from migrator.stores.sql.subset_sql import TableQuery
from migrator.stores.sql.typemap_digest import TYPEMAP, canonical_rows, source_canonicals
from migrator.stores.sql.verify_sql import BINARY_CHUNKS, TEXT_CHUNKS
from migrator.stores.sql.writer import insert_bound, insert_json, insert_tuples, update_rows, write_rows
from migrator.verify.digest import Digest, combine

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection


@dataclass
class CopyContext:
    """What one worker copies with: its own source connection (in the run's snapshot) and target."""

    prep: Prepared
    source: Connection
    target: Target
    run_id: str
    observer: Observer
    stop: StopFlag
    trail: RunTrail
    stager: Stager | None = None  # SQLite to SQLite: the subsets staged ahead (see staging_ahead)
    attempt: str | None = None  # --executor dask: the client's attempt, which fences its units (ledger.take_over)
    # PostgreSQL to PostgreSQL: each table's column types (OIDs) where it travels in binary, else {}.
    binary_types: dict[str, dict[str, int]] = field(default_factory=dict)

    @cached_property
    def sizes(self) -> dict[str, float]:
        """The source tables' estimated rows, read once per context: the ranges' cut, the units'
        order and each range's reading of its parents (range_rows) all ask for them."""
        return table_sizes(self.source)


@dataclass
class _Chunk:
    """One unit of a table: its rows are written by `write`, inside the unit's transaction, which
    returns the checksum of what it wrote (for the audit trail)."""

    rows: int
    last_key: tuple[Any, ...] | None
    write: Callable[[], str]


def copy_table(ctx: CopyContext, name: str, transform: RowTransform | None) -> TableCopy:
    """The table's ranges one after the other (engine/ranges.py), then its "complete" mark."""
    ctx.stop.check()
    started = time.monotonic()
    conn, plan = ctx.target.conn, ctx.prep.loaded.plan.name
    done = ledger.progress(conn, plan, "table", name)
    conn.commit()
    complete = _complete(ctx, name, done)
    if complete is not None:
        return complete
    job = _attach_job(ctx, name, transform, done)
    if job is not None:
        copied = _copy_attached(ctx, job, done)
        ctx.observer.table_finished(name)
        return _finished(ctx, name, copied, time.monotonic() - started)
    ctx.observer.table_started(name, lambda: expected_rows(ctx, name), done.rows)
    copies = [copy_range(ctx, name, transform, key_range) for key_range in ranges_of(conn, plan, name)]
    guarded(lambda: _mark_complete(ctx, "complete", name), f"finishing {name}")
    ctx.observer.table_finished(name)
    return table_copy(ctx, name, copies, time.monotonic() - started)


def _complete(ctx: CopyContext, name: str, done: ledger.Progress) -> TableCopy | None:
    """The table's copy as its ledger holds it, when it is complete there (told to the observer)."""
    conn = ctx.target.conn
    complete = ledger.progress(conn, ctx.prep.loaded.plan.name, "complete", name).chunks > 0
    conn.commit()
    if not complete:
        return None
    ctx.observer.table_started(name, lambda: done.rows, done.rows)
    ctx.observer.table_finished(name)
    method, digest = combine(done.checksums, done.rows)
    return TableCopy(name, done.rows, done.chunks, done.chunks, 0.0, method, digest.checksum)


@dataclass(frozen=True)
class RangeCopy:
    """One range's copy: rows committed now, and its chunks committed before."""

    rows: int
    resumed_chunks: int


def begin_table(ctx: CopyContext, name: str) -> None:
    """The observer told that the table's copy starts (its rows in the ledger so far), when its
    ranges are copied one by one as units of their own (`range_unit`)."""
    done = ledger.progress(ctx.target.conn, ctx.prep.loaded.plan.name, "table", name)
    ctx.target.conn.commit()
    ctx.observer.table_started(name, lambda: expected_rows(ctx, name), done.rows)


def range_unit(ctx: CopyContext, name: str, transform: RowTransform | None, key_range: KeyRange) -> RangeCopy:
    """One range of a table as a unit of its own (--workers, Dask): copied, and when it is the
    table's last to be done, the table's "complete" mark. Two ranges ending at once both see each
    other's end once committed, so at least one of them writes the mark (once: commit_once)."""
    ctx.stop.check()
    conn, plan = ctx.target.conn, ctx.prep.loaded.plan.name
    complete = ledger.progress(conn, plan, "complete", name).chunks > 0
    chunks = ledger.progress(conn, plan, "table", name, key_range.chunks).chunks if complete else 0
    conn.commit()
    if complete:
        return RangeCopy(0, chunks)
    copied = copy_range(ctx, name, transform, key_range)
    last = not key_range.ranged or ledger.progress(conn, plan, "range-done", name).chunks == key_range.of
    conn.commit()
    if last:
        guarded(lambda: _mark_complete(ctx, "complete", name), f"finishing {name}")
    return copied


def table_copy(ctx: CopyContext, name: str, copies: list[RangeCopy], seconds: float) -> TableCopy:
    """The table's copy once all its ranges are: its totals and digest as the ledger has them."""
    resumed = sum(c.resumed_chunks for c in copies)
    conn = ctx.target.conn
    finished = ledger.progress(conn, ctx.prep.loaded.plan.name, "table", name)
    conn.commit()
    method, digest = combine(finished.checksums, finished.rows)
    return TableCopy(name, finished.rows, finished.chunks, resumed, round(seconds, 3), method, digest.checksum)


def copy_range(ctx: CopyContext, name: str, transform: RowTransform | None, key_range: KeyRange) -> RangeCopy:
    """One key range of the table, chunk by chunk, each committed with its mark; from just after its
    last committed chunk when resuming. A table of several ranges marks each range done at its end."""
    prep, target, plan = ctx.prep, ctx.target, ctx.prep.loaded.plan
    ctx.stop.check()
    conn = target.conn
    done = ledger.progress(conn, plan.name, "table", name, key_range.chunks)
    finished = key_range.ranged and bool(
        ledger.progress(conn, plan.name, "range-done", name, (key_range.index, key_range.index + 1)).chunks
    )
    conn.commit()
    if finished:
        return RangeCopy(0, done.chunks)
    query = prep.queries.rows(name)
    sizes = ctx.sizes if key_range.ranged else {}
    statement = range_rows(query, key_range, done.last_key, sizes)
    fast = transform is None and not target.merge and name not in target.deferred and query.order_by
    written = prep.written_columns(name)
    text = None
    if fast and is_pg_to_pg(ctx.source, conn):
        chunks = _copy_chunks(ctx, name, statement, query.order_by)
    elif fast and is_pg_to_sqlite(ctx.source, conn) and (text := _parsed_chunks(ctx, name, statement, written)):
        chunks = text  # it reads ahead by itself where that helps
    else:
        chunks = _row_chunks(ctx, name, statement, query.order_by, transform, written)
    if ctx.source.dialect.name != "sqlite" and text is None:  # a SQLite connection serves only its own thread
        chunks = prefetched(chunks)
    chunk, rows_copied = done.chunks, 0  # chunk: within the range
    first = key_range.first_chunk
    # Closed explicitly: a half-read server-side cursor must not outlive an error.
    with closing(chunks):  # type: ignore[type-var]
        if not query.order_by:
            # No key to continue after: the whole table is one unit, committed once.
            def whole_table() -> tuple[int, str] | None:
                with conn.begin() as transaction:
                    unit_name = f"table:{name}:0"
                    if not ledger.claimed(conn, plan.name, ctx.run_id, unit_name, 0, None, ctx.attempt):
                        transaction.rollback()  # committed by another worker meanwhile
                        return None
                    count, checksums = 0, []
                    for unit in chunks:
                        checksums.append(unit.write())
                        count += unit.rows
                    ctx.stop.check_at_once()
                    method, digest = combine(checksums, count)
                    checksum = f"{method}:{digest.checksum}"
                    ledger.claim(conn, plan.name, ctx.run_id, f"complete:{name}:0", 0, None)
                    ledger.settle(conn, plan.name, unit_name, checksum, rows=count)
                return count, checksum

            whole = guarded(whole_table, f"copying {name} (one unit: the table has no key)")
            if whole is not None:
                rows_copied, checksum = whole
                ctx.trail.event("unit done", table=name, chunk=0, rows=rows_copied, checksum=checksum)
                ctx.observer.rows_copied(name, rows_copied)
            return RangeCopy(rows_copied, done.chunks)
        since = time.monotonic()
        where = {"range": key_range.index} if key_range.ranged else {}
        for unit in guarded_iter(chunks, lambda: f"reading {name} after chunk {first + chunk}"):  # noqa: B023 (the chunk then)
            if chunk >= CHUNK_STRIDE:
                raise PermanentError(f"{name}: more than {CHUNK_STRIDE:,} chunks in one key range")

            def commit_chunk(unit: _Chunk = unit, number: int = first + chunk) -> str | None:
                ctx.stop.check_at_once()
                unit_name = f"table:{name}:{number}"
                return commit_unit(ctx, unit_name, unit.rows, unit.last_key, unit.write, key_range.bounds)

            committed = guarded(commit_chunk, f"writing chunk {first + chunk} of {name}")
            if committed is not None:  # None: another worker committed this unit meanwhile
                ctx.trail.event(
                    "unit done", table=name, chunk=first + chunk, rows=unit.rows, checksum=committed, **where
                )
                ctx.observer.rows_copied(name, unit.rows)
                rows_copied += unit.rows
            chunk += 1
            ctx.stop.chunk_committed(time.monotonic() - since)
            since = time.monotonic()
            ctx.stop.check()
    if key_range.ranged:
        done_unit = f"range-done:{name}:{key_range.index}"
        guarded(lambda: commit_unit(ctx, done_unit, 0, None, lambda: None, key_range.bounds), f"finishing {name}")
    return RangeCopy(rows_copied, done.chunks)


def commit_unit(
    ctx: CopyContext,
    unit: str,
    rows: int,
    last_key: tuple[Any, ...] | None,
    write: Callable[[], str | None],
    bounds: str | None = None,
) -> str | None:
    """The unit's transaction, exactly once (engine/unit_commit.py); None when it was committed
    already. A second Ctrl-C during it rolls it back. `bounds`: its key range's, for its mark."""
    conn, plan = ctx.target.conn, ctx.prep.loaded.plan.name
    return commit_once(conn, plan, ctx.run_id, unit, rows, last_key, write, ctx.stop.check_at_once, ctx.attempt, bounds)


def _finished(ctx: CopyContext, name: str, copied: tuple[int, int, int], seconds: float) -> TableCopy:
    """The table's copy as the ledger now has it: (rows copied now, chunks in all, chunks before)."""
    conn = ctx.target.conn
    finished = ledger.progress(conn, ctx.prep.loaded.plan.name, "table", name)
    conn.commit()
    method, digest = combine(finished.checksums, finished.rows)
    rows_copied, chunks, resumed = copied
    return TableCopy(name, rows_copied, chunks, resumed, round(seconds, 3), method, digest.checksum)


def _attach_job(ctx: CopyContext, name: str, transform: RowTransform | None, done: ledger.Progress) -> StageJob | None:
    """The table's copy inside SQLite (stores/sql/sqlite_attach.py), where it applies."""
    target, query = ctx.target, ctx.prep.queries.rows(name)
    if target.merge or name in target.deferred or not query.order_by:
        return None
    statement = resume_after(query, done.last_key)
    written = ctx.prep.written_columns(name)
    if not attach_copy_applies(ctx.source, target.conn, statement, target.tables[name], written, query.order_by):
        return None
    return StageJob(name, statement, written, dict(transform.values) if transform else {})


@contextmanager
def staging_ahead(
    ctx: CopyContext, names: list[str], transforms: dict[str, RowTransform | None]
) -> Iterator[CopyContext]:
    """SQLite to SQLite, one table after the other: the subsets of the tables copied inside SQLite
    are evaluated on a thread of their own, ahead of their copy, so that the next table's subset
    is found while this one's chunks are hashed and written (two cores, two jobs)."""
    conn, plan = ctx.target.conn, ctx.prep.loaded.plan
    jobs = []
    for name in names:
        done = ledger.progress(conn, plan.name, "table", name)
        complete = ledger.progress(conn, plan.name, "complete", name).chunks > 0
        conn.commit()
        if not complete and (job := _attach_job(ctx, name, transforms[name], done)) is not None:
            jobs.append(job)
    if not jobs:
        yield ctx
        return
    stager = _stager(ctx, jobs)
    try:
        yield replace(ctx, stager=stager)
    finally:
        stager.close()


def _stager(ctx: CopyContext, jobs: list[StageJob]) -> Stager:
    """Staging of `jobs` in the run's state folder, its reads cancelled by the first Ctrl-C."""
    return Stager(source_file(ctx.source), jobs, _reads(ctx), ctx.prep.loaded.state_dir / "scratch")


def _reads(ctx: CopyContext) -> Any:
    """While inside, the first Ctrl-C cancels the reading connection given (StopFlag.cancellable)."""
    return lambda cancel: ctx.stop.cancellable(cancel, writes=False)


def _copy_attached(ctx: CopyContext, job: StageJob, done: ledger.Progress) -> tuple[int, int, int]:
    """SQLite to SQLite, inside SQLite (stores/sql/sqlite_attach.py): the same units, ledger marks and
    digests as the row path, each chunk committed with its mark by the attaching connection."""
    name, plan = job.name, ctx.prep.loaded.plan
    own = None if ctx.stager is not None and name in ctx.stager else _stager(ctx, [job])
    stager = own or ctx.stager
    assert stager is not None
    try:
        staged = guarded(lambda: stager.take(name), f"selecting the rows of {name}")
        # The progress bar's total is known once the rows are staged: no count of its own.
        ctx.observer.table_started(name, lambda: done.rows + staged.rows, done.rows)
        mark = ledger_mark(plan.name, ctx.run_id, name, done.chunks)
        chunk, rows_copied = done.chunks, done.rows  # as the row path: the table's rows, resumed ones included
        key = ctx.prep.queries.rows(name).order_by
        # A connection of its own, so Ctrl-C must reach it like the run's: the second Ctrl-C stops
        # the chunk being written (rolled back).
        with (
            attached(ctx.source, ctx.target.conn, staged) as conn,
            ctx.stop.cancellable(canceller(conn, writes=True), writes=True),
        ):
            units = copy_staged(conn, staged, ctx.target.tables[name], key, plan.data.chunk_rows, mark, _reads(ctx))
            with closing(units):
                since = time.monotonic()
                for unit in guarded_iter(units, lambda: f"writing chunk {chunk} of {name}"):  # noqa: B023 (the chunk then)
                    ctx.trail.event("unit done", table=name, chunk=chunk, rows=unit.rows, checksum=unit.checksum)
                    ctx.observer.rows_copied(name, unit.rows)
                    chunk += 1
                    rows_copied += unit.rows
                    ctx.stop.chunk_committed(time.monotonic() - since)
                    ctx.stop.check()
                    since = time.monotonic()
        stager.done_with(staged)
    finally:
        if own is not None:
            own.close()
    guarded(lambda: _mark_complete(ctx, "complete", name), f"finishing {name}")
    return rows_copied, chunk, done.chunks


def _row_chunks(
    ctx: CopyContext,
    name: str,
    statement: sa.Select,  # type: ignore[type-arg]
    order_by: tuple[str, ...],
    transform: RowTransform | None,
    written: list[str],
) -> Iterator[_Chunk]:
    """Rows through Python: for transforms, upserts, deferred keys, and every pair but PG to PG."""
    target = ctx.target
    table = target.tables[name]
    deferred = set(target.deferred.get(name, ()))
    if transform is None and not target.merge and not deferred and target.conn.dialect.name == "sqlite":
        yield from _tuple_chunks(ctx, table, statement, order_by, written)
        return
    columns = set(table.c.keys())
    canonicals = _typemap_canonicals(ctx, table, written)
    for batch in stream(ctx.source, statement, ctx.prep.loaded.plan.data.chunk_rows):
        rows = [dict(r._mapping) for r in batch]
        last_key = tuple(rows[-1][c] for c in order_by) if order_by else None
        if transform is not None:
            rows = [transform(r) for r in rows]
        # The digest is of the rows as the target will finally hold them (deferred keys included).
        values = [tuple(r.get(c) for c in written) for r in rows]
        if canonicals is None:
            checksum = f"python:{Digest.of(values).checksum}"
        else:
            checksum = f"{TYPEMAP}:{Digest.of(canonical_rows(values, canonicals)).checksum}"
        rows = [{k: (None if k in deferred else v) for k, v in r.items() if k in columns} for r in rows]

        def write(rows: list[dict[str, Any]] = rows, checksum: str = checksum) -> str:
            write_rows(target.conn, table, rows, merge=target.merge)
            return checksum

        yield _Chunk(len(rows), last_key, write)


def _tuple_chunks(
    ctx: CopyContext,
    table: sa.Table,
    statement: sa.Select,  # type: ignore[type-arg]
    order_by: tuple[str, ...],
    written: list[str],
) -> Iterator[_Chunk]:
    """Into SQLite, rows as they come, as tuples: no mapping per row, and the driver's own
    executemany (C) rather than SQLAlchemy's per-row parameter processing, which together were half
    of a SQLite-to-SQLite copy."""
    selected = [c.name for c in statement.selected_columns]
    take = operator.itemgetter(*[selected.index(c) for c in written])
    keys = [selected.index(c) for c in order_by]
    chunk_rows = ctx.prep.loaded.plan.data.chunk_rows
    canonicals = _typemap_canonicals(ctx, table, written)
    # Columns the target computes (generated) are read, for the digest, but not written.
    stored = [c for c in written if c in table.c]
    keep = None if len(stored) == len(written) else operator.itemgetter(*[written.index(c) for c in stored])
    for batch in plain_batches(ctx.source, statement, chunk_rows) or stream(ctx.source, statement, chunk_rows):
        rows = [take(r) for r in batch] if len(written) > 1 else [(take(r),) for r in batch]
        last_key = tuple(batch[-1][i] for i in keys) if order_by else None
        if canonicals is None:
            checksum = f"python:{Digest.of(rows).checksum}"
        else:
            checksum = f"{TYPEMAP}:{Digest.of(canonical_rows(rows, canonicals)).checksum}"
        if keep is not None:
            rows = [keep(r) for r in rows] if len(stored) > 1 else [(keep(r),) for r in rows]

        def write(rows: list[tuple[Any, ...]] = rows, checksum: str = checksum) -> str:
            insert_tuples(ctx.target.conn, table, stored, rows)
            return checksum

        yield _Chunk(len(rows), last_key, write)


def _typemap_applies(ctx: CopyContext) -> bool:
    """Across dialects, into the schema the type map designed: digests in its canonical form."""
    return ctx.target.schema is not None and ctx.source.dialect.name != ctx.target.conn.dialect.name


def _typemap_canonicals(
    ctx: CopyContext, table: sa.Table, written: list[str]
) -> list[Callable[[Any], Any] | None] | None:
    if not _typemap_applies(ctx):
        return None
    return source_canonicals(table, written, ctx.target.conn.dialect.name)


def _copy_chunks(ctx: CopyContext, name: str, statement: sa.Select, order_by: tuple[str, ...]) -> Iterator[_Chunk]:  # type: ignore[type-arg]
    """PostgreSQL to PostgreSQL: COPY tuples, binary where the types allow (pgbinary) and text
    otherwise, cut in chunks, never parsed into rows. The format is decided here, on the calling
    thread: the chunks themselves may be read ahead on another (prefetched)."""
    source_table = ctx.prep.source.table(name)
    output = [c.name for c in statement.selected_columns]
    positions = [output.index(k) for k in order_by]
    chunk_rows = ctx.prep.loaded.plan.data.chunk_rows
    table = ctx.target.tables[name]
    # Columns the target computes (generated) are read, for the digest, but not written.
    computed = {i for i, c in enumerate(output) if c not in table.c}
    written = [c for c in output if c in table.c]
    if not computed and (types := _binary_types(ctx, name, source_table, table, output, order_by)):
        key_types = [types[k] for k in order_by]
        pieces = copy_out_binary_chunks(ctx.source, statement, positions, key_types, chunk_rows)
        return _copied(ctx, table, written, pieces, BINARY_CHUNKS)
    parsers = [key_parser(source_table.c[k].type) for k in order_by]
    pieces = copy_out_chunks(ctx.source, statement, positions, parsers, chunk_rows)
    return _copied(ctx, table, written, pieces, TEXT_CHUNKS, computed)


def _copied(
    ctx: CopyContext,
    table: sa.Table,
    written: list[str],
    pieces: Iterator[CopyChunk],
    method: str,
    computed: set[int] | None = None,
) -> Iterator[_Chunk]:
    """Each piece as a unit that writes it with `COPY ... FROM STDIN` (less the `computed` fields)."""
    with closing(pieces):  # type: ignore[type-var]
        for piece in pieces:
            checksum = f"{method}:{chunk_digest(piece.data, piece.rows).checksum}"

            def write(data: bytes = piece.data, checksum: str = checksum) -> str:
                rows = without_fields(data, computed) if computed else data
                copy_in(ctx.target.conn, table, written, rows, binary=method == BINARY_CHUNKS)
                return checksum

            yield _Chunk(piece.rows, piece.last_key, write)


def _binary_types(
    ctx: CopyContext, name: str, source_table: sa.Table, table: sa.Table, columns: list[str], key: tuple[str, ...]
) -> dict[str, int]:
    """The table's column types (OIDs) when it travels in COPY's binary format, else {}: decided once
    per table and worker, where its types allow (pgbinary), unless chunks of it were committed in
    text before (by a version before the binary format), which would mix two digest methods in one
    table."""
    if name not in ctx.binary_types:
        conn = ctx.target.conn
        types = binary_types(ctx.source, source_table, conn, table, columns, list(key))
        done = ledger.progress(conn, ctx.prep.loaded.plan.name, "table", name)
        conn.commit()
        in_text = any(c.startswith(f"{TEXT_CHUNKS}:") for c in done.checksums)
        ctx.binary_types[name] = types if types is not None and not in_text else {}
    return ctx.binary_types[name]


def _parsed_chunks(
    ctx: CopyContext,
    name: str,
    statement: sa.Select,  # type: ignore[type-arg]
    written: list[str],
) -> Iterator[_Chunk] | None:
    """PostgreSQL to SQLite: COPY text parsed into the values the SELECT path would bind (pgtext);
    None when the source connection's text cannot be read that way."""
    output = [c.name for c in statement.selected_columns]
    order_by = ctx.prep.queries.rows(name).order_by
    source_table, table = ctx.prep.source.table(name), ctx.target.tables[name]
    readers = readers_for(ctx.source, source_table, written, ctx.target.conn, table)
    if readers is None:
        return None
    keys = [output.index(k) for k in order_by]
    parsers = [key_parser(source_table.c[k].type) for k in order_by]
    json_in_target = sqlite_has_json(ctx.target.conn)
    parser = ChunkParser(readers, [output.index(c) for c in written], keys, parsers, json_in_target=json_in_target)
    values, usual_values, functions = parser.json_values, parser.json_usual_values, parser.json_functions
    # The parser's canonical texts are the type map's for a SQLite target (pgtext): no CHAR is padded
    # there, and a date or time is hashed as the value its text names.
    method = TYPEMAP if _typemap_applies(ctx) else "python"
    chunk_rows = ctx.prep.loaded.plan.data.chunk_rows

    def chunks(pieces: Iterator[bytes]) -> Iterator[_Chunk]:
        with closing(pieces):  # type: ignore[type-var]
            for data in pieces:
                piece = parser.parse(data)
                checksum = f"{method}:{piece.digest.checksum}"

                def write(piece: ParsedChunk = piece, checksum: str = checksum) -> str:
                    if piece.as_json is not None:
                        sql = usual_values if piece.usual else values
                        insert_json(ctx.target.conn, table, written, piece.as_json, sql, functions)
                    else:
                        insert_bound(ctx.target.conn, table, written, piece.rows or [])
                    return checksum

                yield _Chunk(piece.count, piece.last_key, write)

    if not parser.text_only:
        # Rows bound one by one: no reading ahead in a thread. SQLite's executemany gives the GIL
        # up around every row it steps and then waits up to a switch interval to get it back
        # from a thread that is parsing: the two threads together were twice as slow as one.
        return chunks(copy_out_text(ctx.source, statement, chunk_rows))
    # One JSON text per chunk, one step in SQLite without the GIL: three threads, each mostly
    # waiting on another process or running without the GIL but one. A reader takes the COPY
    # text off the socket (so that PostgreSQL runs the query on while the chunk before is parsed),
    # a parser turns it into JSON and digests, and this thread has SQLite insert it.
    return prefetched(chunks(prefetched(copy_out_text(ctx.source, statement, chunk_rows))))


def expected_rows(ctx: CopyContext, name: str) -> int:
    """For the progress bar's ETA: the exact count where it is cheap, the planner's estimate where not."""
    prep, source = ctx.prep, ctx.source
    return guarded(
        lambda: estimate_rows(source, prep.queries.count(name), prep.queries.rows(name).rows), f"estimating {name}"
    )


def fill_deferred(ctx: CopyContext, name: str, columns: list[str]) -> None:
    """Set the cycle-closing keys that were loaded as NULL, now that every row they point at is there."""
    prep, conn, plan = ctx.prep, ctx.target.conn, ctx.prep.loaded.plan
    done = ledger.progress(conn, plan.name, "fixup", name)
    complete = ledger.progress(conn, plan.name, "fixup-complete", name).chunks > 0
    conn.commit()
    if complete:
        return
    query = prep.queries.rows(name)
    keys = list(query.order_by)
    if not keys:
        raise PermanentError(f"{name} has no primary key, so its cycle-closing columns cannot be filled in")
    chunk = done.chunks
    statement = resume_after(query, done.last_key)
    with closing(stream(ctx.source, statement, plan.data.chunk_rows)) as batches:  # type: ignore[type-var]
        for batch in guarded_iter(batches, f"reading {name}"):
            rows = [dict(r._mapping) for r in batch]
            updates = [{k: r[k] for k in keys + columns} for r in rows if any(r[c] is not None for c in columns)]

            def commit_fixup(
                rows: list[dict[str, Any]] = rows, updates: list[dict[str, Any]] = updates, chunk: int = chunk
            ) -> None:
                def write() -> None:
                    update_rows(conn, ctx.target.tables[name], keys, columns, updates)

                last_key = tuple(rows[-1][c] for c in keys)
                commit_unit(ctx, f"fixup:{name}:{chunk}", len(updates), last_key, write)

            guarded(commit_fixup, f"filling in {', '.join(columns)} of {name}, chunk {chunk}")
            chunk += 1
            ctx.stop.check()
    guarded(lambda: _mark_complete(ctx, "fixup-complete", name), f"finishing {name}")


def range_rows(
    query: TableQuery, key_range: KeyRange, after: tuple[Any, ...] | None, sizes: Mapping[str, float]
) -> sa.Select:  # type: ignore[type-arg]
    """The subset rows of one key range [lower, upper) in key order, from just after the last
    committed key when resuming. Its parents' kept sets are read for the range alone (bounded, or
    probed), but where they cost no more than the range's share of the table's rows by `sizes`
    (the tables' estimated rows, table_sizes): see stores/sql/range_lookups.py."""
    if not key_range.ranged:
        return resume_after(query, after)
    rows = query.rows
    if query.in_range is not None:
        share = max(0.0, sizes.get(query.table, 0.0)) / key_range.of
        rows = query.in_range(RangeRead(key_range.lower, key_range.upper, share, sizes))
    return rows.where(*key_from(query.key_columns, key_range.lower, after, key_range.upper))


def resume_after(query: TableQuery, after: tuple[Any, ...] | None) -> sa.Select:  # type: ignore[type-arg]
    """The subset rows in key order, from just after the last committed key when resuming."""
    if after is None:
        return query.rows
    return query.rows.where(*key_range(query.key_columns, after, None))


def _mark_complete(ctx: CopyContext, kind: str, name: str) -> None:
    commit_unit(ctx, f"{kind}:{name}:0", 0, None, lambda: None)
