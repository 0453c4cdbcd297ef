"""One unit's transaction in the target, exactly once whoever runs it (SPEC §5, issue 17).

Whatever runs units (one thread, `--workers` threads, Dask workers that may run a unit again after
its result was lost, a straggler of a run that was restarted), the target's ledger decides: the
unit's transaction checks the run fence, claims the unit's ledger row, writes the rows, writes the
mark and commits. A claim that finds the row committed means the unit is done: nothing is written.
A claim that finds it held by an open transaction waits for that one's end (its commit: done; its
rollback, or its process killed: this one claims it and commits).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from migrator.engine.fault_point import fault_point
from migrator.stores.sql import ledger

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def commit_once(
    conn: Connection,
    plan: str,
    run_id: str,
    unit: str,
    rows: int,
    last_key: tuple[Any, ...] | None,
    write: Callable[[], str | None],
    before_mark: Callable[[], None] = lambda: None,
    attempt: str | None = None,
    bounds: str | None = None,
) -> str | None:
    """Run `write` (which returns the rows' checksum) in the unit's transaction and commit it with
    its mark; None, with nothing written, when the unit was committed already. `before_mark` may
    raise to roll the unit back (a second Ctrl-C). A unit of another run than the plan's current
    one (or, with `attempt`, of a client another one took the run over from) raises
    ledger.FencedError. `bounds`: the key range the unit is in, for its mark."""
    with conn.begin() as transaction:
        if not ledger.claimed(conn, plan, run_id, unit, rows, last_key, attempt, bounds):
            transaction.rollback()
            return None
        checksum = write()
        fault_point(plan, unit)  # test-only: a process paused here holds the claim and uncommitted rows
        before_mark()
        ledger.settle(conn, plan, unit, checksum)
    return checksum or ""
