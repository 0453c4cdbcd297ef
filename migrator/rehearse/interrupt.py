"""A real interruption: `python -m migrator run` in a child process, killed with SIGKILL once its
audit trail shows K units committed, then run again to the end.

The parent watches STATE/audit.jsonl, where every part records each unit it commits (a table chunk,
an object, the flags file, a repository push), and kills the child as soon as the K-th is there: a
kill between two commits, which is exactly what a crash looks like to the next run. K is drawn from
the seed among the units an uninterrupted run of the same plan committed, never the first nor past
the last, so the kill really is part-way.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The audit events that record one committed unit, per part.
UNIT_EVENTS = frozenset({"unit done", "object copied", "flags written", "repository pushed"})
POLL_SECONDS = 0.001
CHILD_TIMEOUT = 600.0


@dataclass
class Interruption:
    units: int  # units an uninterrupted run commits
    kill_after: int  # K: the unit after which the child is killed
    killed_at: int  # units the audit trail showed when the kill landed
    killed: bool  # the child died of SIGKILL (False: it finished before the kill could land)
    resumed_status: str  # the second run's status: resumed-and-finished when it continued
    resumed_exit: int
    seconds: float
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def committed_units(state: Path) -> int:
    """The units the audit trail of a state folder records as committed."""
    return _count(state / "audit.jsonl", 0)[0]


def choose_unit(units: int, seed: int) -> int:
    """K in 1..units-1, from the seed: at least one unit done, at least one left."""
    return random.Random(f"migrator-interrupt-{seed}").randrange(1, units) if units > 1 else 0


def interrupt_and_resume(plan_file: Path, state: Path, units: int, seed: int) -> Interruption:
    started = time.monotonic()
    kill_after = choose_unit(units, seed)
    if kill_after == 0:
        return Interruption(units, 0, 0, False, "", 0, 0.0, f"{units} unit(s): too few to interrupt part-way")
    command = [sys.executable, "-m", "migrator", "run", str(plan_file), "--format", "json"]
    # The child runs at a lower priority, so that on a busy machine the watching parent still sees
    # the K-th unit promptly and the kill lands close after it.
    child = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ), preexec_fn=_lower_priority
    )
    seen, offset = 0, 0
    audit = state / "audit.jsonl"
    deadline = time.monotonic() + CHILD_TIMEOUT
    while child.poll() is None and seen < kill_after and time.monotonic() < deadline:
        found, offset = _count(audit, offset)
        seen += found
        if seen < kill_after:
            time.sleep(POLL_SECONDS)
    if child.poll() is None:
        child.send_signal(signal.SIGKILL)
    child.wait()
    killed = child.returncode == -signal.SIGKILL
    seen += _count(audit, offset)[0]  # what the child committed before the kill landed
    resumed = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), check=False)
    status = _status(resumed.stdout)
    message = "" if killed else "the run finished before the kill landed"
    if resumed.returncode != 0:
        message = (
            message + "; " if message else ""
        ) + f"the resumed run exited {resumed.returncode}: {resumed.stderr.strip()}"
    return Interruption(
        units, kill_after, seen, killed, status, resumed.returncode, round(time.monotonic() - started, 3), message
    )


def _lower_priority() -> None:
    os.nice(5)


def _count(audit: Path, offset: int) -> tuple[int, int]:
    """Unit events in the complete lines after `offset`, and the offset after them."""
    try:
        with audit.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except FileNotFoundError:
        return 0, offset
    complete = chunk[: chunk.rfind(b"\n") + 1]
    found = 0
    for line in complete.splitlines():
        try:
            if json.loads(line).get("event") in UNIT_EVENTS:
                found += 1
        except ValueError:
            continue
    return found, offset + len(complete)


def _status(stdout: str) -> str:
    try:
        return str(json.loads(stdout).get("status", ""))
    except ValueError:
        return ""
