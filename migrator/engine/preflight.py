"""What `run` refuses about the target, found before anything is written anywhere.

`run` calls `refuse` before it creates the target file, the state folder or a table; `plan` and
`validate --connect` call `refusals` and report the same words, so that a dry run says in advance
what the run would say. `open_target_tables` (engine/target.py) and the ledger check of the run
use the same messages as the guards they keep for a target that changed in between.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrator.engine.prepare import Prepared
from migrator.errors import SafetyError
from migrator.stores.sql import connect, ledger
from migrator.stores.sql.identity import same_database, same_server_database
from migrator.stores.sql.ledger import RunRow
from migrator.stores.sql.target_tables import table_names
from migrator.stores.sql.writer import count_rows

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def refuse(prep: Prepared, *, restarting: bool = False, lock_timeout: float = 60.0) -> None:
    """Raise one SafetyError naming every refusal, if there is any. A target that does not answer
    raises the driver's error, for the caller to report in its own way."""
    found = refusals(prep, restarting=restarting, lock_timeout=lock_timeout)
    if found:
        raise SafetyError("\n".join(found))


def refusals(prep: Prepared, *, restarting: bool = False, lock_timeout: float = 60.0) -> list[str]:
    """Every reason `run` would refuse this target, looked at without writing. `restarting` is
    `run --restart`, which removes an earlier run of the plan, whatever version of it. Counting a
    table's rows waits for a lock held on it at most `lock_timeout` seconds, as the run's writes do:
    the timeout is then a transient error, which the run retries."""
    if same_database(prep.source_url, prep.target_url):
        return [target_is_source(prep)]
    if not connect.target_exists(prep.target_url):
        # A SQLite file that does not exist yet: the run creates it, empty.
        return table_refusals(prep, present=set(), foreign={})
    engine = connect.open_target(prep.target_url, create=False, lock_timeout=lock_timeout)
    try:
        with engine.connect() as conn:
            return refusals_on(prep, conn, restarting=restarting)
    finally:
        engine.dispose()


def refusals_on(prep: Prepared, conn: Connection, *, restarting: bool = False) -> list[str]:
    """`refusals` on a connection to the target the caller has opened already."""
    if same_database(prep.source_url, prep.target_url):
        return [target_is_source(prep)]
    if same_server_database(prep.engine, conn):
        return [
            f"the target is the source: {connect.redact(prep.target_url)} and "
            f"{connect.redact(prep.source_url)} name the same database on the same server"
        ]
    plan = prep.loaded.plan
    found = []
    run = ledger.current_run(conn, plan.name)
    if run is not None and run.plan_sha256 != prep.loaded.sha256 and not restarting:
        found.append(another_version(run, plan.name))
    present = table_names(conn)
    # `fail` is the only mode in which rows already there stop the run.
    foreign = foreign_rows(prep, conn, present) if plan.target.existing == "fail" else {}
    conn.rollback()
    return found + table_refusals(prep, present, foreign)


def foreign_rows(prep: Prepared, conn: Connection, present: set[str]) -> dict[str, int]:
    """The copied tables of the target that hold rows this plan did not write, with their counts."""
    ours = ledger.tables_written(conn, prep.loaded.plan.name)
    counted = {n: count_rows(conn, n) for n in prep.copied_tables if n in present and n not in ours}
    return {n: rows for n, rows in counted.items() if rows}


def target_is_source(prep: Prepared) -> str:
    target = connect.redact(prep.target_url)
    return f"the target is the source ({target}): point target.database at another database"


def another_version(run: RunRow, plan: str) -> str:
    return (
        f"the target holds a {run.status} run of plan {plan} made from another version of the plan file: "
        "continuing would mix two plans; restore the plan file to continue, or run with --restart to remove "
        "what that run wrote and start over"
    )


def table_refusals(prep: Prepared, present: set[str], foreign: dict[str, int]) -> list[str]:
    """The target's tables against the plan: `present` are the tables the target has, `foreign`
    the copied tables holding rows this plan did not write, with their counts."""
    plan = prep.loaded.plan
    found = []
    if plan.data.schema_ == "existing":
        missing = [n for n in prep.copied_tables if n not in present]
        if missing:
            found.append(
                f"data.schema is existing, but the target has no table {', '.join(missing)}: "
                "create them first, or set data.schema: create"
            )
    if foreign and plan.target.existing == "fail":
        listing = ", ".join(f"{name} ({rows} rows)" for name, rows in sorted(foreign.items()))
        found.append(
            f"target tables hold rows this plan did not write: {listing}; set target.existing "
            "to truncate (empty them first) or merge (upsert by primary key)"
        )
    if plan.target.existing == "merge":
        keyless = [n for n in prep.copied_tables if not prep.source.schema.tables[n].primary_key]
        if keyless:
            found.append(
                f"target.existing: merge upserts by primary key, and {', '.join(keyless)} has none: "
                "use truncate, or skip those tables"
            )
    return found
