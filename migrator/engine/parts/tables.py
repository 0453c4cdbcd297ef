"""The tables part: the rows in scope, copied between SQLite, PostgreSQL and MySQL/MariaDB.

Its work lives in engine/table_run.py (the copy), engine/dry_run.py and engine/verify.py; this is the
face it shows the run loop. Imports are made when a method runs: a plan without tables never loads
SQLAlchemy and the drivers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from migrator.engine.parts.base import PartRun, RunContext

if TYPE_CHECKING:
    from migrator.engine.results import PlanResult, RunResult, VerifyResult
    from migrator.plan.load import LoadedPlan
    from migrator.plan.model import Plan


class TablesPart:
    name = "tables"

    def present(self, plan: Plan) -> bool:
        return plan.copies_tables

    def check_connections(self, loaded: LoadedPlan) -> list[str]:
        from migrator.engine.validate import check_tables

        return check_tables(loaded)

    def dry_run(self, loaded: LoadedPlan, result: PlanResult, workers: int) -> None:
        from migrator.engine.dry_run import plan_tables

        tables = plan_tables(loaded, workers=workers)
        result.source, result.target, result.target_note = tables.source, tables.target, tables.target_note
        result.tables, result.left_out = tables.tables, tables.left_out
        result.refusals += tables.refusals

    def run(self, ctx: RunContext, result: RunResult) -> PartRun:
        from migrator.engine.table_run import run_tables

        copied = run_tables(ctx)
        result.tables, result.dangling, result.skipped_tables = copied.tables, copied.dangling, copied.skipped_tables
        result.verification, result.message = copied.verification, copied.message
        tables = {t.table: {"rows": t.rows, "chunks": t.chunks} for t in copied.tables}
        receipt = {"tables": tables, "dangling": copied.dangling, "skipped_tables": copied.skipped_tables}
        if copied.verification:
            receipt["verification"] = {
                "ok": copied.verification["ok"],
                "tables": copied.verification["tables"],
                "foreign_keys": copied.verification["foreign_keys"],
            }
        verified = copied.verification["ok"] if copied.verification else None
        return PartRun(
            copied.status,
            copied.run_id,
            copied.target,
            receipt=receipt,
            finished={"tables": tables, "verified": verified},
            verified=verified,
        )

    def verify(
        self,
        loaded: LoadedPlan,
        result: VerifyResult,
        *,
        receipt: Path | None,
        workers: int | None,
        against_source: bool,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        from migrator.engine.verify import verify_tables

        tables = verify_tables(loaded, environ=environ, receipt=receipt, workers=workers, against_source=against_source)
        result.target, result.ok, result.reference = tables.target, result.ok and tables.ok, tables.reference
        result.checks, result.tables, result.foreign_keys = tables.checks, tables.tables, tables.foreign_keys
