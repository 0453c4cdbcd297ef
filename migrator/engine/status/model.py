"""What `migrator status` answers: the plan's runs, each with its parts' progress, as plain data.

The shape of `--format json` is `PlanStatus.to_dict()`, after the `format` the CLI puts first
(`migrator.status/1`, docs/reference/outputs/status.schema.json): its version grows when a field is
renamed or removed (fields may be added without a new version)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class UnitProgress:
    """One table, one repository, the flag file: its units done, and planned where that is known."""

    name: str
    state: str  # done | running | pending
    units_done: int
    units_planned: int | None = None
    rows: int | None = None  # tables
    step: str | None = None  # repositories: the last step reached (fetched, rewritten, pushed, verified)


@dataclass
class PartStatus:
    """One part of a run: tables, objects, flags, codebase."""

    part: str
    state: str  # done | running | pending | stopped
    units_done: int
    units_planned: int | None  # None: not known (no count asked, or the source did not answer)
    rows: int | None = None
    objects: int | None = None
    bytes: int | None = None
    units: list[UnitProgress] = field(default_factory=list)

    @property
    def units_pending(self) -> int | None:
        return None if self.units_planned is None else max(self.units_planned - self.units_done, 0)


@dataclass
class RunStatus:
    run_id: str
    # running | finished | resumed-and-finished | copied-but-not-verified | interrupted | failed
    state: str
    started_at: str | None
    last_event_at: str | None
    finished_at: str | None = None
    seconds: float | None = None  # a finished run's duration, as its record says
    parts: list[PartStatus] = field(default_factory=list)
    units_per_second: float | None = None  # a run in progress, since it (re)started
    rows_per_second: float | None = None
    bytes_per_second: float | None = None
    eta_seconds: float | None = None  # a run in progress whose planned units are known
    # A run in progress: how long its trail has been quiet. A run killed with kill -9 logs no stop, and
    # stays "running" in its records; a silence much longer than a unit takes is the sign of it.
    quiet_seconds: float | None = None
    retries: list[dict[str, Any]] = field(default_factory=list)  # {"at", "attempt", "error"}
    last_error: str | None = None

    @property
    def in_progress(self) -> bool:
        return self.state == "running"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for part, source in zip(data["parts"], self.parts, strict=True):
            part["units_pending"] = source.units_pending
        return data


@dataclass
class TargetLedger:
    """Whether the target database's ledger could be read; when not, the state folder answers alone."""

    target: str  # passwords hidden
    reachable: bool
    note: str = ""


@dataclass
class PlanStatus:
    plan: str
    state_dir: str
    runs: list[RunStatus]  # oldest first
    ledger: TargetLedger | None = None  # None: the plan copies no tables
    notes: list[str] = field(default_factory=list)

    @property
    def in_progress(self) -> bool:
        return any(run.in_progress for run in self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "state_dir": self.state_dir,
            "in_progress": self.in_progress,
            "ledger": asdict(self.ledger) if self.ledger else None,
            "runs": [run.to_dict() for run in self.runs],
            "notes": self.notes,
        }
