"""`migrator plan`: what a run would do, computed on the source, with nothing written anywhere."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from migrator.engine import preflight
from migrator.engine.prepare import Prepared, prepared
from migrator.engine.results import DanglingCount, PlanResult, TablePlan
from migrator.engine.target import dropped_columns, native_builder
from migrator.errors import MigratorError, StoreUnavailable
from migrator.plan.load import LoadedPlan
from migrator.stores.sql import connect, ledger
from migrator.stores.sql.errors import UNKNOWN_DATABASE, connection_or_refusal, translated
from migrator.stores.sql.identity import same_database
from migrator.stores.sql.ledger import LEDGER_TABLES
from migrator.stores.sql.literal import literal_sql
from migrator.stores.sql.native_schema import left_out
from migrator.stores.sql.snapshot import map_in_snapshot
from migrator.stores.sql.sqlite_kept import evaluated_once
from migrator.stores.sql.subset_sql import SubsetSQL
from migrator.stores.sql.target_tables import table_names
from migrator.stores.sql.verify_sql import count
from migrator.stores.sql.writer import count_rows

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def dry_run(loaded: LoadedPlan, *, workers: int = 1) -> PlanResult:
    """Every part of the plan, each writing its section of the one result."""
    from migrator.engine.parts.registry import parts_of

    result = PlanResult(loaded.plan.name, "", "", [], "")
    for part in parts_of(loaded.plan):
        part.dry_run(loaded, result, workers)
    return result


def plan_tables(loaded: LoadedPlan, *, workers: int = 1) -> PlanResult:
    """The tables part's dry run. `workers` > 1 counts several tables at once, every connection in
    the one snapshot (PostgreSQL)."""
    with translated("the dry run"), prepared(loaded, type_checks_in_counts=True) as prep:
        names = _display_order(prep)
        found: dict[str, list[object]] = {}  # the type checks' values, taken in the counts' scans
        # The look at the target needs nothing of the source's snapshot: it is taken on connections
        # of its own while the source counts, rather than after them.
        with ThreadPoolExecutor(1, thread_name_prefix="migrator-target") as looking:
            target_state = looking.submit(_target_state, prep)
            if prep.conn.dialect.name == "sqlite":
                tables = _sqlite_table_plans(prep, names)
            else:
                tables = map_in_snapshot(
                    prep.engine,
                    prep.conn,
                    names,
                    lambda conn, name: _table_plan(prep, conn, name, prep.queries, found),
                    workers,
                )
            if prep.type_checks is not None:
                prep.refuse_types(found)
            note, existing, refused = target_state.result()
        for table in tables:
            table.target_rows = existing.get(table.table)
        result = PlanResult(
            loaded.plan.name, connect.redact(prep.source_url), connect.redact(prep.target_url), tables, note, refused
        )
        if native_builder(prep) is not None:
            result.left_out = left_out(prep.conn.dialect.name, prep.conn, prep.copied_tables, dropped_columns(prep))
        return result


def _display_order(prep: Prepared) -> list[str]:
    order = {"root": 0, "scoped": 1, "all": 2, "referenced": 3, "skip": 4, "unlisted": 5}
    copied = prep.copied_tables
    names = copied + sorted(set(prep.source.schema.tables) - set(copied))
    return sorted(names, key=lambda n: (order[prep.classes.classes[n]], names.index(n)))


def _sqlite_table_plans(prep: Prepared, names: list[str]) -> list[TablePlan]:
    """SQLite evaluates a CTE in every statement that reads it, and each table's kept set is defined
    from its parents': counted from CTEs, every table re-ran the kept sets of all its ancestors, once
    per count. Here each kept set is evaluated once into a TEMP table (sqlite_kept.py), in dependency
    order, and counted from there. The SQL shown stays the run's, built from CTEs."""
    with evaluated_once(prep.source, prep.classes, prep.loaded.plan.data, prep.conn) as counting:
        return [_table_plan(prep, prep.conn, name, counting) for name in names]


def _table_plan(
    prep: Prepared, conn: Connection, name: str, counting: SubsetSQL, found: dict[str, list[object]] | None = None
) -> TablePlan:
    kind = prep.classes.classes[name]
    result = TablePlan(name, kind, prep.classes.reasons[name])
    rule = prep.loaded.plan.data.rule(name)
    result.transforms = {col: r.action for col, r in rule.columns.items() if r.action != "keep"}
    if not prep.classes.copied(name):
        table = prep.source.table(name)
        result.source_rows = count(conn, table)
        result.rows = 0
        return result
    query = prep.queries.rows(name)
    result.sql = literal_sql(query.rows, conn)
    # Every count of the table in one statement: one scan of it, however many relations it has;
    # the type map's checks of its data are taken in that scan too (prepare.py).
    checks = prep.type_checks.tests(name, qualified=True) if prep.type_checks is not None else []
    counted = counting.counts(name, with_source_rows=True, also=checks).read(conn)
    if found is not None and checks:
        found[name] = list(counted.also)
    result.source_rows, result.rows = counted.source_rows, counted.rows
    result.dangling = [DanglingCount(str(edge.fk), edge.policy, rows) for edge, rows in counted.dangling]
    return result


def _target_state(prep: Prepared) -> tuple[str, dict[str, int], list[str]]:
    """Row counts of the target's tables that the plan would write, and what `run` would refuse
    (engine/preflight.py), looked at without writing."""
    if same_database(prep.source_url, prep.target_url):
        return "the target is the source", {}, preflight.refusals(prep)
    if not connect.target_exists(prep.target_url):
        return "the target database does not exist yet; a run creates it", {}, preflight.refusals(prep)
    engine = connect.open_target(prep.target_url, create=False)
    try:
        conn = connection_or_refusal(engine, "connecting to the target")
        if isinstance(conn, MigratorError):
            # The source is counted all the same; a target that refuses us is what `run` refuses
            # (exit 2), so the dry run ends with it too, after its report.
            refusal = conn
            hint = ""
            if isinstance(refusal, StoreUnavailable) and refusal.kind == UNKNOWN_DATABASE:
                hint = "; create the database first (a run creates a SQLite file, not a server's database)"
            return "the target does not answer", {}, [f"{refusal}{hint}"]
        with conn, translated("looking at the target"):
            refused = preflight.refusals_on(prep, conn)
            present = table_names(conn)
            counts = {name: count_rows(conn, name) for name in prep.copied_tables if name in present}
            ours = _ledger_note(prep, conn) if present & set(LEDGER_TABLES) else ""
    finally:
        engine.dispose()
    if not counts:
        return f"the target has none of the tables to copy yet{ours}", {}, refused
    return f"{len(counts)} of the tables to copy exist in the target already{ours}", counts, refused


def _ledger_note(prep: Prepared, conn: Connection) -> str:
    """What `run` will do with the checkpoints it finds: continue, do nothing, or refuse."""
    run = ledger.current_run(conn, prep.loaded.plan.name)
    if run is None:
        return "; it holds checkpoints of other plans only"
    if run.plan_sha256 != prep.loaded.sha256:
        return (
            f"; it holds a {run.status} run of this plan made from another version of the plan file, "
            "so `run` will refuse until the file is restored or `run --restart` is used"
        )
    if run.status == "finished":
        return "; this plan already ran to the end there, so `run` will do nothing"
    return "; an unfinished run of this plan is there, and `run` will continue it"
