"""The tables' progress as the target database's ledger holds it (stores/sql/ledger.py).

The ledger is the truth about the tables: a chunk's mark commits in the transaction that writes its
rows, so what it counts is in the target. Read through the stores like the rest of the engine; a
target that does not answer is reported as such, and the status is then told from the state folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrator.engine.plan_urls import urls
from migrator.errors import MigratorError
from migrator.plan.load import LoadedPlan
from migrator.stores.sql import connect, ledger
from migrator.stores.sql.errors import translated


@dataclass
class LedgerTable:
    chunks: int
    rows: int
    complete: bool


@dataclass
class LedgerFacts:
    target: str
    reachable: bool
    note: str = ""
    run_id: str | None = None
    status: str | None = None  # running | finished
    tables: dict[str, LedgerTable] = field(default_factory=dict)


def read_ledger(loaded: LoadedPlan) -> LedgerFacts:
    """The plan's run and its tables' chunks in the target's ledger; never creates the target."""
    _, target_url = urls(loaded)
    shown = connect.redact(target_url)
    if not connect.target_exists(target_url):
        return LedgerFacts(shown, False, "the target database does not exist yet")
    name = loaded.plan.name
    try:
        with translated("reading the target's ledger"):
            engine = connect.open_target(target_url, create=False, lock_timeout=5.0)
            try:
                with engine.connect() as conn:
                    run = ledger.current_run(conn, name)
                    facts = LedgerFacts(shown, True)
                    if run is None:
                        facts.note = "no run of this plan in the target's ledger"
                        return facts
                    facts.run_id, facts.status = run.run_id, run.status
                    for table in sorted(ledger.tables_written(conn, name)):
                        done = ledger.progress(conn, name, "table", table)
                        complete = ledger.progress(conn, name, "complete", table).chunks > 0
                        facts.tables[table] = LedgerTable(done.chunks, done.rows, complete)
                    return facts
            finally:
                engine.dispose()
    except MigratorError as error:
        return LedgerFacts(shown, False, f"the target does not answer: {error}")
