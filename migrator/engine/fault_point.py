"""A test-only fault point: a unit paused with its rows written but not yet committed.

Tests of exactly-once need a process killed at that very instant (its claim held, its rows in an
open transaction). When MIGRATOR_TEST_PAUSE_UNIT names a plan's unit ("PLAN/table:NAME:N", or a
shell pattern), the transaction that writes it creates the file PLAN.paused in the folder
MIGRATOR_TEST_PAUSE_READY, holding its process id, and then sleeps until it is killed (or for
MIGRATOR_TEST_PAUSE_SECONDS, then goes on). Once per plan and folder: when the file exists already
(the unit run again after the kill) it goes on. Nothing else reads these variables; unset, this
costs one dictionary look-up per unit.
"""

from __future__ import annotations

import fnmatch
import os
import time
from pathlib import Path

PAUSE_VARIABLE = "MIGRATOR_TEST_PAUSE_UNIT"
SECONDS_VARIABLE = "MIGRATOR_TEST_PAUSE_SECONDS"  # a pause this long, then on; unset: until killed
READY_VARIABLE = "MIGRATOR_TEST_PAUSE_READY"


def fault_point(plan: str, unit: str) -> None:
    pattern = os.environ.get(PAUSE_VARIABLE)
    ready = os.environ.get(READY_VARIABLE)
    if not pattern or not ready or not fnmatch.fnmatchcase(f"{plan}/{unit}", pattern):
        return
    try:
        with (Path(ready) / f"{plan}.paused").open("x") as file:
            file.write(f"{os.getpid()}\n")
    except FileExistsError:
        return  # paused (and killed) once already
    seconds = os.environ.get(SECONDS_VARIABLE)
    if seconds:
        time.sleep(float(seconds))
        return
    while True:  # until SIGKILL: the test's whole point is a process that never gets to commit
        time.sleep(3600)
