"""`migrator status`: a plan's runs and how far each got, read while another process may be running it.

Nothing here writes. The sources, in the order they are trusted:
  - the target database's ledger (engine/status/ledger.py) for the tables: chunks committed;
  - the state folder: STATE/runs/RUN.json (a run's result, written when it ends),
    STATE/PART/run.json (a part's run and whether it finished), STATE/codebase/NAME/unit.json
    (the step each repository reached);
  - the audit trail STATE/audit.jsonl (engine/status/trail.py): every unit as it commits, the
    retries, the stop or the end of each run, with their times: the rate and the last error;
  - optionally the source, for the planned units behind "pending" and the ETA (engine/status/planned.py).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from migrator.codebase.sync import Mark, UnitFiles
from migrator.engine.status.ledger import LedgerFacts, read_ledger
from migrator.engine.status.model import PartStatus, PlanStatus, RunStatus, TargetLedger, UnitProgress
from migrator.engine.status.planned import PlannedUnits, count_planned
from migrator.engine.status.trail import RunTrailFacts, read_trail
from migrator.plan.load import LoadedPlan

__all__ = ["PlanStatus", "StatusReader", "plan_status"]

_DONE_STEPS = ("pushed", "verified")


def plan_status(loaded: LoadedPlan, *, count: bool = True, now: dt.datetime | None = None) -> PlanStatus:
    """The plan's runs, oldest first. `count` counts the planned units on the source for a run in
    progress (for its pending units and ETA)."""
    return StatusReader(loaded, count=count).read(now)


class StatusReader:
    """Reads the status again and again (`--watch`), counting the planned units on the source once."""

    def __init__(self, loaded: LoadedPlan, *, count: bool = True):
        self.loaded, self.count = loaded, count
        self._planned: PlannedUnits | None = None

    def planned(self) -> PlannedUnits:
        if self._planned is None:
            self._planned = count_planned(self.loaded) if self.count else PlannedUnits()
        return self._planned

    def read(self, now: dt.datetime | None = None) -> PlanStatus:
        return _read(self, now)


def _read(reader: StatusReader, now: dt.datetime | None) -> PlanStatus:
    loaded = reader.loaded
    plan, state = loaded.plan, loaded.state_dir
    status = PlanStatus(plan.name, str(state), [])
    trail = read_trail(state) if state.is_dir() else {}
    records = _run_records(state)
    ledger = read_ledger(loaded) if plan.copies_tables else None
    if ledger is not None:
        status.ledger = TargetLedger(ledger.target, ledger.reachable, ledger.note)
    run_ids = list(dict.fromkeys([*trail, *sorted(records, key=lambda r: str(records[r].get("recorded_at")))]))
    if ledger is not None and ledger.run_id and ledger.run_id not in run_ids:
        run_ids.append(ledger.run_id)  # a run whose trail is gone (a state folder moved or deleted)
    if not run_ids:
        status.notes.append(f"no run of this plan yet (state folder {state})")
        return status
    latest = run_ids[-1]
    planned = PlannedUnits()
    for run_id in run_ids:
        facts = trail.get(run_id, RunTrailFacts(run_id))
        run = _run(facts, records.get(run_id))
        if ledger is not None and ledger.run_id == run_id and run.state == "unknown":
            run.state = "running" if ledger.status == "running" else "finished"
        if run_id == latest and run.in_progress:
            planned = reader.planned()
            status.notes += planned.notes
        current = run_id == latest
        run.parts = _parts(loaded, run, facts, records.get(run_id), ledger, planned if current else None, current)
        if run.in_progress:
            _rate(run, facts, now or dt.datetime.now(dt.UTC))
        status.runs.append(run)
    return status


def _run_records(state: Path) -> dict[str, dict[str, Any]]:
    records = {}
    for file in sorted((state / "runs").glob("*.json")) if (state / "runs").is_dir() else []:
        try:
            record = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # being replaced right now (written aside and renamed), or hand-edited
        if isinstance(record, dict) and isinstance(record.get("run_id"), str):
            records[record["run_id"]] = record
    return records


def _run(facts: RunTrailFacts, record: dict[str, Any] | None) -> RunStatus:
    """The run's state: the trail's last word (a stop or the end) when it has one, else its record."""
    run = RunStatus(facts.run_id, "unknown", facts.first_at, facts.last_at)
    if facts.ended is not None:
        ended = facts.ended
        if ended.get("event") == "run finished":
            run.state, run.finished_at = str(ended.get("status", "finished")), ended.get("time")
            run.seconds = ended.get("seconds")
        else:
            run.state = str(ended.get("reason", "failed"))
    elif facts.started_at is not None:
        run.state = "running"
    elif record is not None:
        run.state = str(record.get("status", "unknown"))
        run.finished_at, run.seconds = record.get("recorded_at"), record.get("seconds")
    run.retries, run.last_error = facts.retries, facts.last_error
    if record is not None and not run.retries:
        run.retries = [{"error": text} for text in record.get("retries") or []]
    return run


def _parts(
    loaded: LoadedPlan,
    run: RunStatus,
    facts: RunTrailFacts,
    record: dict[str, Any] | None,
    ledger: LedgerFacts | None,
    planned: PlannedUnits | None,
    current: bool,
) -> list[PartStatus]:
    plan, finished = loaded.plan, run.state not in ("running", "interrupted", "failed", "unknown")
    parts = []
    if plan.copies_tables:
        parts.append(_tables(run, facts, record, ledger, planned, finished))
    if plan.copies_objects:
        parts.append(_objects(run, facts, record, planned, finished))
    if plan.copies_flags:
        done = 1 if facts.flags or (record and record.get("flags")) else 0
        parts.append(PartStatus("flags", _state(run, done, 1, finished), done, 1))
    if plan.copies_codebase and plan.codebase is not None:
        names = [r.name for r in plan.codebase.repositories]
        parts.append(_codebase(loaded, run, facts, names, current, finished))
    return parts


def _tables(
    run: RunStatus,
    facts: RunTrailFacts,
    record: dict[str, Any] | None,
    ledger: LedgerFacts | None,
    planned: PlannedUnits | None,
    finished: bool,
) -> PartStatus:
    units: dict[str, UnitProgress] = {}
    from_ledger = ledger is not None and ledger.reachable and ledger.run_id == run.run_id
    if record is not None and record.get("tables"):
        for table in record["tables"]:
            units[table["table"]] = UnitProgress(
                table["table"], "done", table["chunks"], table["chunks"], table["rows"]
            )
    elif from_ledger and ledger is not None:
        for name, got in ledger.tables.items():
            state = "done" if got.complete else "running"
            units[name] = UnitProgress(name, state, got.chunks, got.chunks if got.complete else None, got.rows)
    else:
        for name, tally in facts.tables.items():
            units[name] = UnitProgress(name, "running", tally.chunks, None, tally.rows)
    if planned is not None and planned.tables is not None:
        for name, chunks in planned.tables.items():
            unit = units.setdefault(name, UnitProgress(name, "pending", 0, chunks, 0))
            if unit.units_planned is None:
                unit.units_planned = max(chunks, unit.units_done)
    if finished:
        for unit in units.values():
            unit.state, unit.units_planned = "done", unit.units_planned or unit.units_done
    elif run.state != "running":
        for unit in units.values():
            unit.state = "stopped" if unit.state == "running" else unit.state
    if planned is not None and planned.tables is not None:  # in the order the run copies them
        order = {name: index for index, name in enumerate(planned.tables)}
        units = dict(sorted(units.items(), key=lambda item: order.get(item[0], len(order))))
    known = finished or (planned is not None and planned.tables is not None)
    done = sum(u.units_done for u in units.values())
    total = sum(u.units_planned or u.units_done for u in units.values()) if known else None
    rows = sum(u.rows or 0 for u in units.values())
    part = PartStatus("tables", _state(run, done, total, finished), done, total, rows=rows)
    part.units = list(units.values())
    return part


def _objects(
    run: RunStatus, facts: RunTrailFacts, record: dict[str, Any] | None, planned: PlannedUnits | None, finished: bool
) -> PartStatus:
    summary = (record or {}).get("objects") or {}
    done = int(summary.get("objects", facts.objects))
    size = int(summary.get("bytes", facts.object_bytes))
    total = done if finished else (planned.objects if planned is not None else None)
    return PartStatus("objects", _state(run, done, total, finished), done, total, objects=done, bytes=size)


def _codebase(
    loaded: LoadedPlan, run: RunStatus, facts: RunTrailFacts, names: list[str], current: bool, finished: bool
) -> PartStatus:
    units = []
    for name in names:
        step = facts.repositories.get(name)
        if current:  # the mark in the state folder is the latest run's
            step = Mark.read(UnitFiles.of(loaded.state_dir, name).mark).step or step
        state = "done" if step in _DONE_STEPS else ("running" if step else "pending")
        units.append(UnitProgress(name, state, 1 if state == "done" else 0, 1, step=step))
    done = sum(u.units_done for u in units)
    part = PartStatus("codebase", _state(run, done, len(names), finished), done, len(names))
    part.units = units
    return part


def _state(run: RunStatus, done: int, total: int | None, finished: bool) -> str:
    if finished or (total is not None and done >= total and total > 0):
        return "done"
    if run.state != "running":
        return "stopped"
    return "running" if done else "pending"


def _rate(run: RunStatus, facts: RunTrailFacts, now: dt.datetime) -> None:
    """Units, rows and bytes per second since the run (re)started; the ETA from the units pending."""
    if facts.last_at is not None:
        run.quiet_seconds = max((now - dt.datetime.fromisoformat(facts.last_at)).total_seconds(), 0.0)
    if facts.started_at is None:
        return
    elapsed = (now - dt.datetime.fromisoformat(facts.started_at)).total_seconds()
    if elapsed <= 0 or facts.units_since_start == 0:
        return
    run.units_per_second = round(facts.units_since_start / elapsed, 3)
    run.rows_per_second = round(facts.rows_since_start / elapsed, 3)
    run.bytes_per_second = round(facts.bytes_since_start / elapsed, 3)
    pending = [part.units_pending for part in run.parts]
    if all(p is not None for p in pending):
        run.eta_seconds = round(sum(p or 0 for p in pending) / run.units_per_second, 1)
