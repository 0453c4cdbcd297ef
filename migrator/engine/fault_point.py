"""Test-only fault points: a unit paused at the instant a test kills its process.

Tests of exactly-once need a process killed at two instants:

* `fault_point`: a unit's rows written but not yet committed (its claim held, its rows in an open
  transaction). Selected by MIGRATOR_TEST_PAUSE_UNIT naming a plan's unit ("PLAN/table:NAME:N", or
  a shell pattern); the paused process writes its id to PLAN.paused.
* `committed_fault_point`: a worker's task committed in the target but its result not yet returned
  to the client (a worker lost there has its task run again by Dask, which must then be a skip).
  Selected by MIGRATOR_TEST_PAUSE_COMMITTED naming a plan's task ("PLAN/table:NAME:RANGE", or a shell
  pattern); the paused process writes its id to PLAN.committed.

The file is created in the folder MIGRATOR_TEST_PAUSE_READY, and then the process sleeps until it is
killed (or for MIGRATOR_TEST_PAUSE_SECONDS, then goes on). Once per plan, point and folder: when the
file exists already (the unit run again after the kill) it goes on. Nothing else reads these
variables; unset, each point costs one dictionary look-up per unit.
"""

from __future__ import annotations

import fnmatch
import os
import time
from pathlib import Path

PAUSE_VARIABLE = "MIGRATOR_TEST_PAUSE_UNIT"
COMMITTED_VARIABLE = "MIGRATOR_TEST_PAUSE_COMMITTED"
SECONDS_VARIABLE = "MIGRATOR_TEST_PAUSE_SECONDS"  # a pause this long, then on; unset: until killed
READY_VARIABLE = "MIGRATOR_TEST_PAUSE_READY"


def fault_point(plan: str, unit: str) -> None:
    """In a unit's transaction, after its rows are written and before its mark and commit."""
    _pause(PAUSE_VARIABLE, "paused", plan, unit)


def committed_fault_point(plan: str, unit: str) -> None:
    """On a worker, after a task's units committed and before its result goes back to the client."""
    _pause(COMMITTED_VARIABLE, "committed", plan, unit)


def _pause(variable: str, suffix: str, plan: str, unit: str) -> None:
    pattern = os.environ.get(variable)
    ready = os.environ.get(READY_VARIABLE)
    if not pattern or not ready or not fnmatch.fnmatchcase(f"{plan}/{unit}", pattern):
        return
    try:
        with (Path(ready) / f"{plan}.{suffix}").open("x") as file:
            file.write(f"{os.getpid()}\n")
    except FileExistsError:
        return  # paused (and killed) once already
    seconds = os.environ.get(SECONDS_VARIABLE)
    if seconds:
        time.sleep(float(seconds))
        return
    while True:  # until SIGKILL: the test's whole point is a process that never gets past this point
        time.sleep(3600)
