"""Copying one table: its subset streamed from the source in key order, written chunk by chunk,
each chunk committed in the target together with its checkpoint (SPEC §5)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa

from migrator.engine.interrupt import StopFlag
from migrator.engine.observer import Observer
from migrator.engine.prepare import Prepared
from migrator.engine.results import TableCopy
from migrator.engine.target import Target
from migrator.engine.transforms import RowTransform
from migrator.errors import PermanentError
from migrator.stores.sql import ledger
from migrator.stores.sql.errors import classify
from migrator.stores.sql.snapshot import stream
from migrator.stores.sql.writer import update_rows, write_rows

T = TypeVar("T")


@dataclass
class CopyContext:
    prep: Prepared
    target: Target
    run_id: str
    observer: Observer
    stop: StopFlag


def copy_table(ctx: CopyContext, name: str, transform: RowTransform | None) -> TableCopy:
    prep, target, plan = ctx.prep, ctx.target, ctx.prep.loaded.plan
    started = time.monotonic()
    conn = target.conn
    done = ledger.progress(conn, plan.name, "table", name)
    complete = ledger.progress(conn, plan.name, "complete", name).chunks > 0
    conn.commit()
    if complete:
        ctx.observer.table_started(name, done.rows, done.rows)
        ctx.observer.table_finished(name)
        return TableCopy(name, done.rows, done.chunks, done.chunks, 0.0)
    query = prep.queries.rows(name)
    total = _guarded(lambda: prep.conn.execute(prep.queries.count(name)).scalar_one(), f"counting {name}")
    ctx.observer.table_started(name, total, done.rows)
    target_table = target.tables[name]
    columns = set(target_table.c.keys())
    deferred = set(target.deferred.get(name, ()))
    chunk, rows_copied = done.chunks, done.rows

    def write(batch: list[sa.Row]) -> tuple[int, tuple[Any, ...] | None]:  # type: ignore[type-arg]
        rows = [dict(r._mapping) for r in batch]
        last_key = tuple(rows[-1][c] for c in query.order_by) if query.order_by else None
        if transform is not None:
            rows = [transform(r) for r in rows]
        rows = [{k: (None if k in deferred else v) for k, v in r.items() if k in columns} for r in rows]
        write_rows(conn, target_table, rows, merge=target.merge)
        return len(rows), last_key

    # Closed explicitly: a half-read server-side cursor must not outlive an error.
    with closing(source_batches(prep, query.rows, name, query.order_by, done.last_key)) as batches:  # type: ignore[type-var]
        if not query.order_by:
            # No key to continue after: the whole table is one unit, committed once.
            def whole_table() -> None:
                nonlocal rows_copied
                with conn.begin():
                    for batch in batches:
                        rows_copied += write(batch)[0]
                    ledger.mark_done(conn, plan.name, ctx.run_id, f"table:{name}:0", rows_copied, None)
                    ledger.mark_done(conn, plan.name, ctx.run_id, f"complete:{name}:0", 0, None)

            _guarded(whole_table, f"copying {name} (one unit: the table has no key)")
            ctx.observer.rows_copied(name, rows_copied)
            chunk = 1
        else:
            for batch in _guarded_iter(batches, f"reading {name} after chunk {chunk}"):

                def commit_chunk(batch: list[sa.Row] = batch, chunk: int = chunk) -> int:  # type: ignore[type-arg]
                    with conn.begin():
                        count, last_key = write(batch)
                        ledger.mark_done(conn, plan.name, ctx.run_id, f"table:{name}:{chunk}", count, last_key)
                    return count

                count = _guarded(commit_chunk, f"writing chunk {chunk} of {name}")
                ctx.observer.rows_copied(name, count)
                chunk += 1
                rows_copied += count
                ctx.stop.check()
            _guarded(lambda: _mark_complete(ctx, "complete", name), f"finishing {name}")
    ctx.observer.table_finished(name)
    return TableCopy(name, rows_copied, chunk, done.chunks, round(time.monotonic() - started, 3))


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
    for batch in _guarded_iter(
        source_batches(prep, query.rows, name, query.order_by, done.last_key), f"reading {name}"
    ):
        rows = [dict(r._mapping) for r in batch]
        updates = [{k: r[k] for k in keys + columns} for r in rows if any(r[c] is not None for c in columns)]

        def commit_fixup(
            rows: list[dict[str, Any]] = rows, updates: list[dict[str, Any]] = updates, chunk: int = chunk
        ) -> None:
            with conn.begin():
                update_rows(conn, ctx.target.tables[name], keys, columns, updates)
                last_key = tuple(rows[-1][c] for c in keys)
                ledger.mark_done(conn, plan.name, ctx.run_id, f"fixup:{name}:{chunk}", len(updates), last_key)

        _guarded(commit_fixup, f"filling in {', '.join(columns)} of {name}, chunk {chunk}")
        chunk += 1
        ctx.stop.check()


def source_batches(
    prep: Prepared,
    statement: sa.Select,  # type: ignore[type-arg]
    name: str,
    order_by: tuple[str, ...],
    after: tuple[Any, ...] | None,
) -> Iterator[list[sa.Row]]:  # type: ignore[type-arg]
    """The subset rows in key order, from just after the last committed key when resuming."""
    if after is not None:
        table = prep.source.table(name)
        keys = [table.c[c] for c in order_by]
        statement = statement.where(sa.tuple_(*keys) > sa.tuple_(*after) if len(keys) > 1 else keys[0] > after[0])
    return stream(prep.conn, statement, prep.loaded.plan.data.chunk_rows)


def _mark_complete(ctx: CopyContext, kind: str, name: str) -> None:
    with ctx.target.conn.begin():
        ledger.mark_done(ctx.target.conn, ctx.prep.loaded.plan.name, ctx.run_id, f"{kind}:{name}:0", 0, None)


def _guarded(action: Callable[[], T], what: str) -> T:
    """Run `action`; a driver error becomes our transient or permanent error, naming `what`."""
    try:
        return action()
    except sa.exc.DBAPIError as exc:
        raise classify(exc, what) from None


def _guarded_iter(items: Iterator[T], what: str) -> Iterator[T]:
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except sa.exc.DBAPIError as exc:
            raise classify(exc, what) from None
        yield item
