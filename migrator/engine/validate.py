"""`migrator validate --connect`: every store answers, every name in the plan exists, and nothing
that `run` would refuse (engine/preflight.py)."""

from __future__ import annotations

from migrator.engine import preflight
from migrator.engine.prepare import prepared
from migrator.plan.load import LoadedPlan
from migrator.stores.sql import connect
from migrator.stores.sql.errors import translated


def check_connections(loaded: LoadedPlan) -> list[str]:
    """Each part of the plan asked in turn: one note per store that answered."""
    from migrator.engine.parts.registry import parts_of

    return [note for part in parts_of(loaded.plan) for note in part.check_connections(loaded)]


def check_tables(loaded: LoadedPlan) -> list[str]:
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
        # What `run` would refuse, in its words; a target that does not let us in says why, as `run`
        # would: the driver's reason, password hidden, exit 2.
        with translated("checking the target"):
            preflight.refuse(prep)
    if not connect.target_exists(target):
        notes.append(f"target {connect.redact(target)}: does not exist yet; a run creates it")
    else:
        notes.append(f"target {connect.redact(target)}: answers")
    return notes
