"""STATE/PART/run.json: which run a part's work belongs to, and whether that run finished.

Parts whose target is not a database keep this record in the state folder (the tables part has the
target's ledger). It is never trusted alone: a part checks its target before answering "finished"
(the objects still in place, the flag file's digest), since the target may have changed since."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from migrator.audit.durable import write_atomically
from migrator.clock import utc_now

_REQUIRED = {"run_id", "status", "plan_sha256"}


class PartRecord:
    def __init__(self, state_dir: Path, part: str):
        self.path = state_dir / part / "run.json"

    def read(self) -> dict[str, Any] | None:
        """The record, or None when there is none or it is not whole (a hand-edited file)."""
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and record.keys() >= _REQUIRED else None

    def write(self, run_id: str, plan_sha256: str, status: str, **more: Any) -> None:
        """Replaced atomically (written aside, fsynced, renamed): a kill leaves the old one or the new."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"run_id": run_id, "plan_sha256": plan_sha256, "status": status, **more, "at": utc_now()}
        write_atomically(self.path, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
