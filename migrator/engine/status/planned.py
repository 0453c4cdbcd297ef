"""How many units a run has to do: counted on the source, as `migrator plan` counts them.

The run does not record its plan of units before it copies (a table's chunks are known only as its
rows stream), so the totals behind the pending counts and the ETA are counted here: each copied
table's subset rows (the dry run's query) divided into `data.chunk_rows` chunks, and the objects the
artifacts selection takes. This reads the source like `migrator plan`, once per `status` (once per
`--watch`), and writes nothing to the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrator.errors import MigratorError
from migrator.plan.load import LoadedPlan

_NOT_COPIED = ("skip", "unlisted")


@dataclass
class PlannedUnits:
    tables: dict[str, int] | None = None  # table -> chunks; None: not counted
    table_rows: dict[str, int] = field(default_factory=dict)
    objects: int | None = None
    object_bytes: int | None = None
    notes: list[str] = field(default_factory=list)


def count_planned(loaded: LoadedPlan) -> PlannedUnits:
    """The planned units of every part that needs counting; a part whose source does not answer is
    left uncounted, with a note."""
    planned = PlannedUnits()
    plan = loaded.plan
    if plan.copies_tables:
        from migrator.engine.dry_run import plan_tables

        try:
            tables = plan_tables(loaded).tables
        except MigratorError as error:
            planned.notes.append(f"the tables' planned chunks are not known: {error}")
        else:
            copied = [t for t in tables if t.kind not in _NOT_COPIED and t.rows is not None]
            planned.tables = {t.table: chunks_for(t.rows or 0, plan.data.chunk_rows) for t in copied}
            planned.table_rows = {t.table: t.rows or 0 for t in copied}
    if plan.copies_objects:
        from migrator.artifacts import plan_objects

        try:
            objects = plan_objects(plan, loaded.base_dir, loaded.state_dir)
        except MigratorError as error:
            planned.notes.append(f"the objects selected are not known: {error}")
        else:
            planned.objects, planned.object_bytes = objects.objects, objects.bytes
    return planned


def chunks_for(rows: int, chunk_rows: int) -> int:
    """A table of N rows is copied in ceil(N / chunk_rows) units."""
    return -(-rows // chunk_rows)
