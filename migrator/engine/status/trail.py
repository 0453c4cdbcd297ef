"""What the audit trail (STATE/audit.jsonl) tells about each run, read while a run may be writing it.

Every part logs its units as they commit: a table's chunk ("unit done"), an object ("object copied",
"object skipped"), the flag file ("flags written", "flags skipped"), a repository's steps
("repository fetched", "... rewritten", "... pushed", "... verified"). Retries, a stop and the end
of the run are logged too. A line being written when we read is simply not there yet (the log's
reader leaves a torn last line out), so the counts here may trail the ledgers by one unit, never lead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrator.audit import audit_log_path, read_lines

_STARTS = ("run started", "run resumed")
REPOSITORY_EVENT = "repository "


@dataclass
class TableTally:
    chunks: int = 0
    rows: int = 0


@dataclass
class RunTrailFacts:
    """One run's events, summed up. `*_since_start` count from its latest start or resume, for the rate."""

    run_id: str
    first_at: str | None = None
    last_at: str | None = None
    started_at: str | None = None  # the latest "run started" or "run resumed"
    ended: dict[str, Any] | None = None  # the "run finished" or "run stopped" event, if it came last
    tables: dict[str, TableTally] = field(default_factory=dict)
    objects: int = 0
    object_bytes: int = 0
    flags: str | None = None  # written | skipped
    repositories: dict[str, str] = field(default_factory=dict)  # name -> last step logged
    retries: list[dict[str, Any]] = field(default_factory=list)
    last_error: str | None = None
    units_since_start: int = 0
    rows_since_start: int = 0
    bytes_since_start: int = 0


def read_trail(state_dir: Path) -> dict[str, RunTrailFacts]:
    """Every run in the log, in the order of their first line."""
    runs: dict[str, RunTrailFacts] = {}
    for line in read_lines(audit_log_path(state_dir)):
        try:
            event = json.loads(line)
        except ValueError:
            continue  # `migrator audit verify` reports a damaged line; status reads around it
        run_id = event.get("run")
        if not isinstance(event, dict) or not isinstance(run_id, str) or not run_id:
            continue
        facts = runs.setdefault(run_id, RunTrailFacts(run_id))
        _add(facts, event)
    return runs


def _add(facts: RunTrailFacts, event: dict[str, Any]) -> None:
    name, at = str(event.get("event", "")), event.get("time")
    facts.first_at = facts.first_at or at
    facts.last_at = at or facts.last_at
    if name in _STARTS:
        facts.started_at, facts.ended = at, None
        facts.units_since_start = facts.rows_since_start = facts.bytes_since_start = 0
    elif name in ("run finished", "run stopped"):
        facts.ended = event
        if name == "run stopped" and event.get("error"):
            facts.last_error = str(event["error"])
    elif name == "unit done" and isinstance(event.get("table"), str):
        tally = facts.tables.setdefault(event["table"], TableTally())
        rows = int(event.get("rows") or 0)
        tally.chunks += 1
        tally.rows += rows
        facts.units_since_start += 1
        facts.rows_since_start += rows
    elif name in ("object copied", "object skipped"):
        size = int(event.get("size") or 0) if name == "object copied" else 0
        facts.objects += 1
        facts.object_bytes += size
        facts.units_since_start += 1
        facts.bytes_since_start += size
    elif name in ("flags written", "flags skipped"):
        facts.flags = name.removeprefix("flags ")
        facts.units_since_start += 1
    elif name.startswith(REPOSITORY_EVENT) and isinstance(event.get("repository"), str):
        facts.repositories[event["repository"]] = name.removeprefix(REPOSITORY_EVENT)
    elif name == "retry":
        error = str(event.get("error", ""))
        retry = {"at": at, "attempt": event.get("attempt"), "what": event.get("what"), "error": error}
        facts.retries.append({k: v for k, v in retry.items() if v is not None})
        facts.last_error = error or facts.last_error
    elif name.endswith("verification") and event.get("ok") is False:
        facts.last_error = f"{name} failed: {len(event.get('failures') or [])} failing checks"
