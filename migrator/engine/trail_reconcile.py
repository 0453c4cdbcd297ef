"""The audit trail reconciled with the target's ledger at the end of a table copy (issue 17).

A unit's rows and mark commit in the target first; its "unit done" event is written after, by the
process that drives the run. A process killed in between (a `--workers` run SIGKILLed, a Dask worker
lost before its result came back, a client killed) leaves a committed unit the trail does not name.
The run that finishes the copy (the same run id: a resume) logs each such unit from its mark, once,
with `from_ledger`, so that the trail names every unit the ledger holds for the run, and each once.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from migrator.audit.log import audit_log_path, read_lines
from migrator.engine.ranges import CHUNK_STRIDE, KeyRange
from migrator.stores.sql import ledger

if TYPE_CHECKING:
    from migrator.engine.copy import CopyContext


def log_unlogged_units(ctx: CopyContext, names: list[str], ranges: dict[str, list[KeyRange]]) -> None:
    """Every table unit of this run in the ledger gets its "unit done" in the audit trail."""
    logged = set()
    for line in read_lines(audit_log_path(ctx.trail.state_dir)):
        event = json.loads(line)
        if event.get("run") == ctx.run_id and event.get("event") == "unit done":
            logged.add((event.get("table"), event.get("chunk")))
    conn, plan = ctx.target.conn, ctx.prep.loaded.plan.name
    for name in names:
        for mark in ledger.unit_marks(conn, plan, "table", name):
            if mark.run_id != ctx.run_id or (name, mark.chunk) in logged:
                continue
            where = {"range": mark.chunk // CHUNK_STRIDE} if len(ranges.get(name, ())) > 1 else {}
            ctx.trail.event(
                "unit done",
                table=name,
                chunk=mark.chunk,
                rows=mark.rows,
                checksum=mark.checksum,
                from_ledger=True,
                **where,
            )
    conn.commit()
