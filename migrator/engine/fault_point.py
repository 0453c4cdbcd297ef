"""A test-only fault point: a unit paused with its rows written but not yet committed.

Tests of exactly-once need a process killed at that very instant (its claim held, its rows in an
open transaction). When MIGRATOR_TEST_PAUSE_UNIT names a unit ("table:NAME:N", or a shell pattern),
the transaction that writes it creates the file MIGRATOR_TEST_PAUSE_READY (if set) and then sleeps
until it is killed. Nothing else reads these variables; unset, this costs one dictionary look-up.
"""

from __future__ import annotations

import fnmatch
import os
import time
from pathlib import Path

PAUSE_VARIABLE = "MIGRATOR_TEST_PAUSE_UNIT"
READY_VARIABLE = "MIGRATOR_TEST_PAUSE_READY"


def fault_point(unit: str) -> None:
    pattern = os.environ.get(PAUSE_VARIABLE)
    if not pattern or not fnmatch.fnmatchcase(unit, pattern):
        return
    ready = os.environ.get(READY_VARIABLE)
    if ready:
        Path(ready).write_text(f"{os.getpid()}\n")
    while True:  # until SIGKILL: the test's whole point is a process that never gets to commit
        time.sleep(3600)
