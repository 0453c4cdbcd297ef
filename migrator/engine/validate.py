"""`migrator validate --connect`: every store answers, every name in the plan exists, and nothing
that `run` would refuse (engine/preflight.py)."""

from __future__ import annotations

import sqlalchemy as sa

from migrator.engine import preflight
from migrator.engine.prepare import prepared
from migrator.errors import SafetyError
from migrator.plan.load import LoadedPlan
from migrator.stores.sql import connect
from migrator.stores.sql.errors import translated
from migrator.stores.sql.identity import same_database


def check_connections(loaded: LoadedPlan) -> list[str]:
    notes = []
    with (
        translated("checking the source"),
        prepared(loaded) as prep,
    ):  # reflects the source and checks every rule against it
        copied = len(prep.copied_tables)
        notes.append(
            f"source {connect.redact(prep.source_url)}: {len(prep.source.schema.tables)} tables, {copied} to copy"
        )
        target = prep.target_url
        if same_database(prep.source_url, target) or not connect.target_exists(target):
            refused = preflight.refusals(prep)  # nothing to connect to, or the source itself
            if refused:
                raise SafetyError("\n".join(refused))
            notes.append(f"target {connect.redact(target)}: does not exist yet; a run creates it")
            return notes
        engine = connect.open_target(target, create=False)
        try:
            # A refusal says why, as `run` would: the driver's reason, password hidden, exit 2.
            with translated("checking the target"), engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
                refused = preflight.refusals_on(prep, conn)
        finally:
            engine.dispose()
        if refused:
            raise SafetyError("\n".join(refused))
    notes.append(f"target {connect.redact(target)}: answers")
    return notes
