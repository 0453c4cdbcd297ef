"""The state folder: a record of every run, next to the plan (SPEC §2 `state`)."""

from __future__ import annotations

import json
from pathlib import Path

from migrator.clock import utc_now
from migrator.engine.results import RunResult


def write_run_record(state_dir: Path, result: RunResult, plan_sha256: str) -> Path:
    """One JSON file per run, rewritten as the run moves on; written atomically (rename)."""
    runs = state_dir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    path = runs / f"{result.run_id}.json"
    record = {"plan_sha256": plan_sha256, "recorded_at": utc_now(), **result.to_dict()}
    if result.status == "already-finished" and path.exists():
        return path  # keep the record of the run that did the work
    tmp = path.with_suffix(".tmp")
    # One line, not indented: json's C encoder only writes unindented JSON, and a run of thousands of
    # objects records four checks for each (the indenting Python encoder took a second on them).
    tmp.write_text(json.dumps(record, sort_keys=True, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
